import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

// MARK: - Helpers

/// A fresh directory under the system temp dir, removed when the value is dropped.
private final class PaperTestDirectory {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("arb-paper-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

private func fillModel(full: Int = 100, partial: Int = 0, rest: Int = 0, reject: Int = 0, ambiguous: Int = 0,
                       lateFill: Int = 0, cancelFail: Int = 0, lateFillDelayMax: Int64 = 0, seed: UInt64 = 1) -> PaperFillModel {
    PaperFillModel(fullFillPercent: full, partialFillPercent: partial, restPercent: rest, rejectPercent: reject,
                   ambiguousSubmitPercent: ambiguous, lateFillPercent: lateFill, cancelFailPercent: cancelFail,
                   latencyMillisecondsMin: 0, latencyMillisecondsMax: 0, lateFillDelayMillisecondsMax: lateFillDelayMax,
                   seed: seed)
}

private func makeVenue(_ path: String, name: String = "paper-k", model: PaperFillModel = fillModel(),
                       fee: FeeModel = .free, runSeed: UInt64 = 7, behaviour: PaperBehaviour? = nil) throws -> PaperVenue {
    try PaperVenue(name: name, path: path, fillModel: model, feeModel: fee, runSeed: runSeed, clock: SystemClock(),
                   behaviour: behaviour)
}

private func request(_ id: String, instrument: String = "K-1", side: Side = .buy, ticks: Int64 = 4_500,
                     contracts: Int64 = 10, timeInForce: TimeInForce = .gtc) -> OrderRequest {
    OrderRequest(clientOrderID: id, instrument: instrument, side: side, limitPrice: Price(ticks: ticks)!,
                 quantity: Quantity(contracts: contracts), timeInForce: timeInForce)
}

private func submit(_ venue: PaperVenue, _ request: OrderRequest) async throws -> SubmitAck {
    try await venue.submit(venue.prepare(request))
}

/// The venue error a call throws, or nil if it returns.
private func venueError<T>(_ body: () async throws -> T) async -> VenueError? {
    do {
        _ = try await body()
        return nil
    } catch let error as VenueError {
        return error
    } catch {
        Issue.record("not a VenueError: \(error)")
        return nil
    }
}

/// One `paper_orders` row, read with plain SQL as an auditing tool would.
private struct OrderRow: Equatable {
    var venueOrderID: String
    var status: String
    var quantity: Int64
    var filledQuantity: Int64
    var timeInForce: String
    var reason: String?
    var fate: String
    var cancelAttempts: Int64
}

private func orderRow(_ path: String, _ clientOrderID: String) throws -> OrderRow? {
    let connection = try Connection(path: path, mode: .readOnly)
    return try connection.prepare("""
        SELECT venue_order_id, status, quantity, filled_quantity, time_in_force, reason, fate, cancel_attempts
        FROM paper_orders WHERE client_order_id = ?
        """).queryOne(clientOrderID) {
            OrderRow(venueOrderID: $0.text(0), status: $0.text(1), quantity: $0.int64(2), filledQuantity: $0.int64(3),
                     timeInForce: $0.text(4), reason: $0.optionalText(5), fate: $0.text(6), cancelAttempts: $0.int64(7))
        }
}

private func count(_ path: String, _ sql: String) throws -> Int64 {
    try Connection(path: path, mode: .readOnly).prepare(sql).queryOne { $0.int64(0) } ?? -1
}

private func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// Collects a venue's events as they arrive.
private actor EventLog {
    private(set) var events: [VenueEvent] = []

    func append(_ event: VenueEvent) { events.append(event) }

    static func following(_ venue: PaperVenue) -> EventLog {
        let log = EventLog()
        let stream = venue.events
        Task { for await event in stream { await log.append(event) } }
        return log
    }

    func fills(_ clientOrderID: String) -> [FillReport] {
        events.compactMap { if case .fill(let fill) = $0, fill.clientOrderID == clientOrderID { fill } else { nil } }
    }

    func updates(_ clientOrderID: String) -> [VenueOrder] {
        events.compactMap { if case .orderUpdate(let order) = $0, order.clientOrderID == clientOrderID { order } else { nil } }
    }
}

/// A clock that records every sleep and returns at once, to check the latencies a venue draws.
private actor SleepLog {
    private(set) var milliseconds: [Int64] = []

    func record(_ value: Int64) { milliseconds.append(value) }
}

private struct RecordingClock: TradingClock {
    let log = SleepLog()

    func nowMilliseconds() -> Int64 { SystemClock().nowMilliseconds() }
    func monotonicNanoseconds() -> UInt64 { SystemClock().monotonicNanoseconds() }
    func sleep(milliseconds: Int64) async throws { await log.record(milliseconds) }
}

// MARK: - Tests

@Suite("Paper venue", .exclusive)
struct PaperVenueTests {
    private let directory = PaperTestDirectory()

    struct FateCase: Sendable, CustomTestStringConvertible {
        var fate: PaperFate
        var status: String
        var filledHundredths: Int64
        var refusal: String?
        var testDescription: String { "\(fate) → \(status)" }
    }

    @Test("each scripted fate of a GTC order is committed as its row says, before submit answers",
          arguments: [
              FateCase(fate: .fill, status: "filled", filledHundredths: 1_000, refusal: nil),
              FateCase(fate: .partial(Quantity(contracts: 3)), status: "partially_filled", filledHundredths: 300, refusal: nil),
              FateCase(fate: .rest, status: "open", filledHundredths: 0, refusal: nil),
              FateCase(fate: .reject("no liquidity at limit"), status: "rejected", filledHundredths: 0,
                       refusal: "no liquidity at limit"),
          ])
    func scriptedFates(_ example: FateCase) async throws {
        let path = directory.path("fates.db")
        let venue = try makeVenue(path, fee: .kalshiTaker, behaviour: PaperBehaviour(fateForInstrument: ["K-1": example.fate]))
        let order = request("c1")
        let prepared = venue.prepare(order)
        var ack: SubmitAck?
        let error = await venueError { ack = try await venue.submit(prepared) }

        let row = try #require(try orderRow(path, "c1"), "every order the venue received has a row")
        #expect(row.status == example.status)
        #expect(row.filledQuantity == example.filledHundredths)
        #expect(row.quantity == 1_000)
        #expect(row.venueOrderID == prepared.venueOrderID)
        #expect(try count(path, "SELECT COALESCE(SUM(quantity), 0) FROM paper_fills WHERE client_order_id = 'c1'")
                == example.filledHundredths)
        if let refusal = example.refusal {
            #expect(error == .rejected(reason: refusal))
            #expect(row.reason == refusal)
            #expect(ack == nil)
        } else {
            #expect(error == nil)
            let ack = try #require(ack)
            #expect(ack.order.status.rawValue == example.status)
            #expect(ack.order.venueOrderID == prepared.venueOrderID)
            #expect(ack.fills.map(\.quantity.hundredths).reduce(0, +) == example.filledHundredths)
            for fill in ack.fills {
                #expect(fill.venue == "paper-k")
                #expect(fill.price == order.limitPrice, "a taker fills at its limit")
                #expect(fill.fee == FeeModel.kalshiTaker.fee(price: fill.price, quantity: fill.quantity))
            }
            #expect(try await venue.fills(clientOrderID: "c1") == ack.fills)
        }
        #expect(try await venue.order(clientOrderID: "c1")?.status.rawValue == example.status)
    }

    @Test("a duplicate client order id is refused like a 409 and changes nothing")
    func duplicateRefused() async throws {
        let path = directory.path("dup.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: ["r1": .reject("closed market")]))
        _ = try await submit(venue, request("c1"))
        _ = await venueError { try await submit(venue, request("r1")) }
        let before = (try orderRow(path, "c1"), try orderRow(path, "r1"),
                      try count(path, "SELECT COUNT(*) FROM paper_orders"), try count(path, "SELECT COUNT(*) FROM paper_fills"))

        for id in ["c1", "r1"] {
            let error = await venueError { try await submit(venue, request(id, instrument: "K-2", contracts: 99)) }
            #expect(error == .rejected(reason: "duplicate client_order_id \(id)"))
        }
        let after = (try orderRow(path, "c1"), try orderRow(path, "r1"),
                     try count(path, "SELECT COUNT(*) FROM paper_orders"), try count(path, "SELECT COUNT(*) FROM paper_fills"))
        #expect(before == after)
        #expect(after.2 == 2 && after.3 == 1)
    }

    @Test("fees: an instrument whose market has its own fee (the config's per-event fees) pays that one, the rest the venue's; so does the trader's config")
    func feePerInstrument() async throws {
        let venue = try PaperVenue(name: "paper-p", path: directory.path("fees.db"), fillModel: fillModel(), feeModel: .kalshiTaker,
                                   feeByInstrument: ["FREE-1": .free], runSeed: 7, clock: SystemClock(),
                                   behaviour: PaperBehaviour(fateForClientOrderID: ["free": .fill, "paid": .fill]))
        let free = try await submit(venue, request("free", instrument: "FREE-1"))
        let paid = try await submit(venue, request("paid", instrument: "K-1"))
        #expect(free.fills.map(\.fee) == [.zero])
        #expect(paid.fills.map(\.fee) == [FeeModel.kalshiTaker.fee(price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 10))])
        #expect(paid.fills.first?.fee ?? .zero > .zero)
        // The demo's SENATE market is free at polymarket: its paper venue knows it.
        var demo = TraderConfig.demo()
        demo.databasePath = directory.path("demo.db")
        let venues = try Trader.makeVenues(demo, runSeed: 1, clock: SystemClock())
        let polymarket = try #require(venues["polymarket"] as? PaperVenue)
        await polymarket.setBehaviour(PaperBehaviour(fateForClientOrderID: ["senate": .fill]))
        let senate = try await submit(polymarket, request("senate", instrument: "PM-SENATE-26-R"))
        #expect(senate.fills.map(\.fee) == [.zero])
    }

    @Test("IOC: the unfilled remainder is cancelled at once; what filled stays filled")
    func immediateOrCancel() async throws {
        let path = directory.path("ioc.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: [
            "part": .partial(Quantity(contracts: 4)), "none": .rest, "late": .lateFill(afterMilliseconds: 1), "all": .fill,
            "control": .lateFill(afterMilliseconds: 20),
        ]))
        let log = EventLog.following(venue)
        let part = try await submit(venue, request("part", timeInForce: .ioc))
        #expect(part.order.status == .cancelled)
        #expect(part.order.filledQuantity == Quantity(contracts: 4))
        #expect(part.fills.map(\.quantity) == [Quantity(contracts: 4)])
        #expect(try orderRow(path, "part")?.status == "cancelled")
        #expect(try orderRow(path, "part")?.filledQuantity == 400)

        for id in ["none", "late"] {
            let ack = try await submit(venue, request(id, timeInForce: .ioc))
            #expect(ack.order.status == .cancelled)
            #expect(ack.fills.isEmpty)
        }
        // A resting order whose late fill is due after the IOC's would have been: once it has
        // filled, the IOC's late fill would have too, had the order rested.
        _ = try await submit(venue, request("control"))
        #expect(await waitUntil { await !log.fills("control").isEmpty })
        #expect(try orderRow(path, "late")?.filledQuantity == 0, "an IOC order never rests, so never late-fills")
        #expect(await log.fills("late").isEmpty)
        #expect(try await submit(venue, request("all", timeInForce: .ioc)).order.status == .filled)
    }

    @Test("FOK: all or nothing — a partial fate fills nothing and cancels the order")
    func fillOrKill() async throws {
        let path = directory.path("fok.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: [
            "part": .partial(Quantity(contracts: 9)), "all": .fill,
        ]))
        let part = try await submit(venue, request("part", timeInForce: .fok))
        #expect(part.order.status == .cancelled)
        #expect(part.order.filledQuantity == .zero)
        #expect(part.fills.isEmpty)
        #expect(try orderRow(path, "part")?.filledQuantity == 0)
        #expect(try count(path, "SELECT COUNT(*) FROM paper_fills") == 0)
        let all = try await submit(venue, request("all", timeInForce: .fok))
        #expect(all.order.status == .filled)
        #expect(all.fills.map(\.quantity) == [Quantity(contracts: 10)])
    }

    @Test("GTC late fill: committed to the table and pushed as a fill, then the order update")
    func lateFillArrives() async throws {
        let path = directory.path("late.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: ["g1": .lateFill(afterMilliseconds: 20)]))
        let log = EventLog.following(venue)
        let ack = try await submit(venue, request("g1"))
        #expect(ack.order.status == .open)
        #expect(ack.fills.isEmpty)

        #expect(await waitUntil { await log.updates("g1").last?.status == .filled })
        let fills = await log.fills("g1")
        #expect(fills.count == 1)
        #expect(fills.first?.quantity == Quantity(contracts: 10))
        let events = await log.events
        let fillIndex = events.firstIndex { if case .fill = $0 { true } else { false } }
        let filledIndex = events.firstIndex { if case .orderUpdate(let o) = $0, o.status == .filled { true } else { false } }
        #expect(fillIndex! < filledIndex!, "the fill is pushed before the update that reflects it")
        #expect(try orderRow(path, "g1")?.status == "filled")
        #expect(try orderRow(path, "g1")?.filledQuantity == 1_000)
        #expect(try await venue.fills(clientOrderID: "g1") == fills)
    }

    @Test("a cancelled order's pending late fill never applies")
    func cancelBeatsLateFill() async throws {
        let path = directory.path("cancel.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: [
            "g1": .lateFill(afterMilliseconds: 100), "control": .lateFill(afterMilliseconds: 200),
        ]))
        let log = EventLog.following(venue)
        _ = try await submit(venue, request("g1"))
        _ = try await submit(venue, request("control"))
        let answer = try await venue.cancel(clientOrderID: "g1")
        guard case .cancelled(let order) = answer else {
            Issue.record("expected cancelled, got \(answer)")
            return
        }
        #expect(order.status == .cancelled)
        #expect(order.filledQuantity == .zero)
        // The control's later fill proves the cancelled order's timer has fired meanwhile.
        #expect(await waitUntil { await !log.fills("control").isEmpty })
        #expect(try orderRow(path, "g1")?.status == "cancelled")
        #expect(try orderRow(path, "g1")?.filledQuantity == 0)
        #expect(try await venue.fills(clientOrderID: "g1").isEmpty)
        #expect(await log.fills("g1").isEmpty)
        #expect(await log.updates("g1").last?.status == .cancelled)
    }

    @Test("cancelling a final order answers alreadyDone; an unknown order throws unknownOrder")
    func cancelFinalOrUnknown() async throws {
        let path = directory.path("done.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: [
            "filled": .fill, "killed": .rest, "refused": .reject("halted"),
        ]))
        _ = try await submit(venue, request("filled"))
        _ = try await submit(venue, request("killed", timeInForce: .ioc))
        _ = await venueError { try await submit(venue, request("refused")) }
        for (id, status) in [("filled", VenueOrderStatus.filled), ("killed", .cancelled), ("refused", .rejected)] {
            let answer = try await venue.cancel(clientOrderID: id)
            guard case .alreadyDone(let order) = answer else {
                Issue.record("\(id): expected alreadyDone, got \(answer)")
                continue
            }
            #expect(order.status == status)
            #expect(try orderRow(path, id)?.status == status.rawValue)
        }
        #expect(await venueError { try await venue.cancel(clientOrderID: "nobody") } == .unknownOrder(clientOrderID: "nobody"))
    }

    @Test("a failed cancel leaves the order live: it can still late-fill, and a later cancel attempt is counted")
    func cancelFailure() async throws {
        let path = directory.path("cancelfail.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(
            fateForClientOrderID: ["g1": .lateFill(afterMilliseconds: 100), "g2": .rest], cancelFails: true))
        let log = EventLog.following(venue)
        _ = try await submit(venue, request("g1"))
        _ = try await submit(venue, request("g2"))
        for id in ["g1", "g2"] {
            let answer = try await venue.cancel(clientOrderID: id)
            guard case .failed = answer else {
                Issue.record("\(id): expected failed, got \(answer)")
                continue
            }
            #expect(try orderRow(path, id)?.status == "open")
            #expect(try orderRow(path, id)?.cancelAttempts == 1)
        }
        #expect(await waitUntil { await log.updates("g1").last?.status == .filled })
        #expect(try orderRow(path, "g1")?.status == "filled")

        await venue.setBehaviour(PaperBehaviour(cancelFails: false))
        guard case .cancelled = try await venue.cancel(clientOrderID: "g2") else {
            Issue.record("the second attempt should cancel")
            return
        }
        #expect(try orderRow(path, "g2")?.status == "cancelled")
        #expect(try orderRow(path, "g2")?.cancelAttempts == 2)
    }

    @Test("the fill model's cancel_fail_percent is drawn: 100 always fails, 0 never does")
    func drawnCancelFailure() async throws {
        for (percent, fails) in [(100, true), (0, false)] {
            let venue = try makeVenue(directory.path("drawn-cancel-\(percent).db"),
                                      model: fillModel(full: 0, rest: 100, cancelFail: percent))
            _ = try await submit(venue, request("g1"))
            let answer = try await venue.cancel(clientOrderID: "g1")
            if case .failed = answer { #expect(fails) } else { #expect(!fails, "\(answer)") }
        }
    }

    @Test("ambiguous but placed: submit throws .ambiguous, yet the order is at the venue with its fills")
    func ambiguousPlaced() async throws {
        let path = directory.path("amb.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: [
            "a1": .ambiguousPlaced, "a2": .ambiguousPlacedResting,
        ]))
        let log = EventLog.following(venue)
        let error = await venueError { try await submit(venue, request("a1")) }
        guard case .ambiguous = error else {
            Issue.record("expected ambiguous, got \(String(describing: error))")
            return
        }
        let order = try #require(try await venue.order(clientOrderID: "a1"))
        #expect(order.status == .filled)
        #expect(try await venue.fills(clientOrderID: "a1").count == 1)
        #expect(await waitUntil { await log.fills("a1").count == 1 }, "the lost answer's fill is still pushed")

        guard case .ambiguous = await venueError({ try await submit(venue, request("a2", timeInForce: .ioc)) }) else {
            Issue.record("expected ambiguous")
            return
        }
        #expect(try await venue.order(clientOrderID: "a2")?.status == .cancelled)
        #expect(try orderRow(path, "a2")?.status == "cancelled")
    }

    @Test("ambiguous and never arrived: submit throws .ambiguous and the venue knows nothing")
    func ambiguousNotPlaced() async throws {
        let path = directory.path("lost.db")
        let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: ["n1": .ambiguousNotPlaced]))
        guard case .ambiguous = await venueError({ try await submit(venue, request("n1")) }) else {
            Issue.record("expected ambiguous")
            return
        }
        #expect(try await venue.order(clientOrderID: "n1") == nil)
        #expect(try await venue.fills(clientOrderID: "n1").isEmpty)
        #expect(try count(path, "SELECT COUNT(*) FROM paper_orders") == 0)
        // Nothing was recorded, so the same id is not a duplicate.
        await venue.setBehaviour(nil)
        #expect(try await submit(venue, request("n1")).order.status == .filled)
    }

    @Test("an unreachable venue throws .unavailable on every call, records nothing, and comes back")
    func unreachable() async throws {
        let path = directory.path("down.db")
        let venue = try makeVenue(path)
        _ = try await submit(venue, request("before"))
        await venue.setBehaviour(PaperBehaviour(unreachable: true))
        var errors: [VenueError?] = []
        errors.append(await venueError { try await submit(venue, request("during")) })
        errors.append(await venueError { try await venue.cancel(clientOrderID: "before") })
        errors.append(await venueError { try await venue.order(clientOrderID: "before") })
        errors.append(await venueError { try await venue.fills(clientOrderID: "before") })
        errors.append(await venueError { try await venue.positions() })
        errors.append(await venueError { try await venue.balance() })
        for error in errors {
            guard case .unavailable = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                continue
            }
        }
        #expect(errors.count == 6)
        #expect(try orderRow(path, "during") == nil)

        await venue.setBehaviour(nil)
        #expect(try await venue.order(clientOrderID: "before")?.status == .filled)
        #expect(try await venue.order(clientOrderID: "during") == nil)
    }

    @Test("reopening the file after the venue is dropped shows every order as committed; a resting order stays open")
    func reopenPreservesOrders() async throws {
        let path = directory.path("reopen.db")
        let fates: [String: PaperFate] = [
            "fill": .fill, "part": .partial(Quantity(contracts: 2)), "rest": .rest, "reject": .reject("no"),
            "amb": .ambiguousPlaced, "late": .lateFill(afterMilliseconds: 300),
        ]
        let ids = fates.keys.sorted()
        var orders: [VenueOrder?] = []
        var fills: [[FillReport]] = []
        var positions: [VenuePosition] = []
        var balance = Money.zero
        do {
            let venue = try makeVenue(path, fee: .kalshiTaker, behaviour: PaperBehaviour(fateForClientOrderID: fates))
            for id in ids { _ = await venueError { try await submit(venue, request(id)) } }
            for id in ids {
                orders.append(try await venue.order(clientOrderID: id))
                fills.append(try await venue.fills(clientOrderID: id))
            }
            positions = try await venue.positions()
            balance = try await venue.balance()
        }
        // The first venue is gone, with its pending late fill (as after kill -9).
        let reopened = try makeVenue(path, fee: .kalshiTaker)
        for (index, id) in ids.enumerated() {
            #expect(try await reopened.order(clientOrderID: id) == orders[index], "\(id)")
            #expect(try await reopened.fills(clientOrderID: id) == fills[index], "\(id)")
        }
        #expect(orders.compactMap { $0 }.count == ids.count)
        #expect(try await reopened.positions() == positions)
        #expect(try await reopened.balance() == balance)
        // A late fill due after the lost one, submitted after it: once it has landed, the lost one
        // would have too, had it survived the venue.
        await reopened.setBehaviour(PaperBehaviour(fateForClientOrderID: ["control": .lateFill(afterMilliseconds: 300)]))
        _ = try await submit(reopened, request("control"))
        #expect(try await waitUntil { try await reopened.order(clientOrderID: "control")?.status == .filled })
        #expect(try await reopened.order(clientOrderID: "late")?.status == .open, "a lost late fill never applies")
    }

    @Test("same seeds give the same fate to each client id, whatever order the submits arrive in")
    func seededDeterminism() async throws {
        let model = fillModel(full: 20, partial: 20, rest: 20, reject: 20, ambiguous: 20, lateFill: 50,
                              lateFillDelayMax: 600_000, seed: 11)
        let ids = (0..<40).map { "arb-x-\($0)-a" }

        func outcomes(_ file: String, runSeed: UInt64, ids: [String]) async throws -> [String: String] {
            let path = directory.path(file)
            let venue = try makeVenue(path, model: model, runSeed: runSeed)
            var result: [String: String] = [:]
            for id in ids {
                let error = await venueError { try await submit(venue, request(id)) }
                let row = try orderRow(path, id)
                result[id] = "\(row?.status ?? "absent") \(row?.filledQuantity ?? -1) \(row?.fate ?? "") \(String(describing: error))"
            }
            return result
        }

        let forward = try await outcomes("forward.db", runSeed: 5, ids: ids)
        let backward = try await outcomes("backward.db", runSeed: 5, ids: ids.reversed())
        let otherRun = try await outcomes("other.db", runSeed: 6, ids: ids)
        #expect(forward == backward)
        #expect(forward != otherRun, "the run seed is mixed in")
        let statuses = Set(forward.values.map { $0.split(separator: " ")[0] })
        #expect(statuses.isSuperset(of: ["filled", "partially_filled", "open", "rejected"]), "\(statuses)")
        #expect(forward.values.contains { $0.contains("ambiguous") })
    }

    @Test("a drawn partial fill is strictly between nothing and everything, in whole contracts when the order has more than one",
          arguments: [1, 2, 50, 100, 101, 150, 200, 1_000, 12_345] as [Int64])
    func drawnPartials(_ hundredths: Int64) async throws {
        let path = directory.path("partial-\(hundredths).db")
        let venue = try makeVenue(path, model: fillModel(full: 0, partial: 100))
        for index in 0..<20 {
            let order = OrderRequest(clientOrderID: "p\(index)", instrument: "K-1", side: .buy, limitPrice: Price(ticks: 5_000)!,
                                     quantity: Quantity(hundredths: hundredths)!, timeInForce: .gtc)
            let filled = try await venue.submit(venue.prepare(order)).order.filledQuantity.hundredths
            if hundredths == 1 {
                #expect(filled == 0, "0.01 cannot be split: it rests")
                continue
            }
            #expect(filled > 0 && filled < hundredths)
            if hundredths > 100 { #expect(filled % 100 == 0, "\(filled)") }
        }
    }

    @Test("a file that is not this venue's is refused with a one-line error and left untouched")
    func foreignFileRefused() async throws {
        let text = directory.path("notes.txt")
        try "my notes\n".write(toFile: text, atomically: true, encoding: .utf8)
        let empty = directory.path("empty.db")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let foreign = directory.path("foreign.db")
        do {
            let connection = try Connection(path: foreign, mode: .readWriteCreate)
            try connection.execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine'); PRAGMA application_id = 7")
        }
        let trader = directory.path("arb.db")
        _ = try Store(path: trader)
        let other = directory.path("other-venue.db")
        _ = try makeVenue(other, name: "paper-p")

        let cases: [(String, PaperVenueFileError)] = [
            (text, .notSQLite(path: text)),
            (empty, .empty(path: empty)),
            (foreign, .foreignApplication(path: foreign, applicationID: 7)),
            (trader, .foreignApplication(path: trader, applicationID: DatabaseFile.applicationID)),
            (other, .otherVenue(path: other, found: "paper-p", expected: "paper-k")),
            (directory.path(""), .isDirectory(path: directory.path(""))),
        ]
        for (path, expected) in cases {
            let before = fileBytes(path)
            let hadWAL = FileManager.default.fileExists(atPath: path + "-wal")
            #expect(throws: expected) { _ = try makeVenue(path) }
            #expect(!expected.description.contains("\n"))
            #expect(expected.description.contains(path))
            #expect(fileBytes(path) == before, "\(path) was modified")
            #expect(FileManager.default.fileExists(atPath: path + "-wal") == hadWAL, "\(path) got a WAL")
        }
        #expect(PaperVenueFileError.foreignApplication(path: trader, applicationID: DatabaseFile.applicationID)
            .description.contains("trader's own database"))
    }

    @Test("a new file is created 0600 and marked with the paper venue's application_id")
    func newFileIdentity() throws {
        let path = directory.path("new.db")
        _ = try makeVenue(path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try count(path, "PRAGMA application_id") == 0x4152_5050)
        #expect(try Connection(path: path, mode: .readOnly).prepare("PRAGMA journal_mode").queryOne { $0.text(0) } == "wal")
        #expect(try !FileManager.default.contentsOfDirectory(atPath: directory.url.path).contains { $0.contains("creating") })
    }

    @Test("trade ids never repeat, across a reopen too")
    func tradeIDsUnique() async throws {
        let path = directory.path("trades.db")
        var tradeIDs: [String] = []
        do {
            let venue = try makeVenue(path, behaviour: PaperBehaviour(fateForClientOrderID: [
                "o2": .partial(Quantity(contracts: 3)), "o3": .lateFill(afterMilliseconds: 1),
            ]))
            let log = EventLog.following(venue)
            for id in ["o1", "o2", "o3"] { tradeIDs += try await submit(venue, request(id)).fills.map(\.tradeID) }
            #expect(await waitUntil { await !log.fills("o3").isEmpty })
            tradeIDs += await log.fills("o3").map(\.tradeID)
        }
        let reopened = try makeVenue(path)
        for id in ["o4", "o5"] { tradeIDs += try await submit(reopened, request(id)).fills.map(\.tradeID) }
        #expect(tradeIDs.count == 5)
        #expect(Set(tradeIDs).count == tradeIDs.count, "\(tradeIDs)")
        #expect(try count(path, "SELECT COUNT(DISTINCT trade_id) FROM paper_fills") == 5)
    }

    @Test("prepare is pure: the venue order id depends only on the client order id")
    func prepareIsPure() throws {
        let first = try makeVenue(directory.path("p1.db"))
        let second = try makeVenue(directory.path("p2.db"), runSeed: 99)
        let a = first.prepare(request("arb-1-1-a")).venueOrderID
        #expect(a == second.prepare(request("arb-1-1-a", instrument: "X", contracts: 3)).venueOrderID)
        #expect(a != first.prepare(request("arb-1-1-b")).venueOrderID)
        let id = try #require(a)
        #expect(id.hasPrefix("paper-k-"))
        #expect(id.dropFirst("paper-k-".count).count == 16)
        #expect(id.dropFirst("paper-k-".count).allSatisfy { $0.isHexDigit })
    }

    @Test("positions and balance follow the fills: cost at the limit price, fees taken from the balance; no short sales")
    func positionsAndBalance() async throws {
        let path = directory.path("book.db")
        let venue = try makeVenue(path, fee: .kalshiTaker, behaviour: PaperBehaviour(fateForClientOrderID: ["b2": .rest]))
        _ = try await submit(venue, request("b1", ticks: 4_500, contracts: 10))
        _ = try await submit(venue, request("b2", ticks: 4_000, contracts: 10))
        let sold = try await submit(venue, request("s1", side: .sell, ticks: 5_000, contracts: 4))
        let fee1 = Fees.kalshiTaker(price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 10))
        let fee2 = Fees.kalshiTaker(price: Price(ticks: 5_000)!, quantity: Quantity(contracts: 4))
        #expect(sold.fills.first?.fee == fee2)
        #expect(try await venue.positions() == [
            VenuePosition(instrument: "K-1", quantity: Quantity(contracts: 6), cost: Money(cents: 450 - 200)),
        ])
        #expect(try await venue.balance() == PaperVenue.startingBalance - Money(cents: 450) + Money(cents: 200) - fee1 - fee2)

        let error = await venueError { try await submit(venue, request("s2", side: .sell, contracts: 7)) }
        guard case .rejected = error else {
            Issue.record("selling more than held must be refused, got \(String(describing: error))")
            return
        }
        #expect(try orderRow(path, "s2")?.status == "rejected")
    }

    @Test("a drawn late fill completes a partly filled GTC order with a second, distinct trade")
    func drawnLateFill() async throws {
        let path = directory.path("drawn-late.db")
        let venue = try makeVenue(path, model: fillModel(full: 0, partial: 100, lateFill: 100, lateFillDelayMax: 20))
        let log = EventLog.following(venue)
        let ack = try await submit(venue, request("g1"))
        #expect(ack.order.status == .partiallyFilled)
        #expect(await waitUntil { await log.updates("g1").last?.status == .filled })
        let fills = try await venue.fills(clientOrderID: "g1")
        #expect(fills.count == 2)
        #expect(fills.map(\.quantity.hundredths).reduce(0, +) == 1_000)
        #expect(Set(fills.map(\.tradeID)).count == 2)
        #expect(try orderRow(path, "g1")?.fate.contains("late fill after") == true)
    }

    @Test("concurrent submits are all committed, and of concurrent duplicates exactly one is accepted")
    func concurrentSubmits() async throws {
        let path = directory.path("concurrent.db")
        let venue = try makeVenue(path)
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                // Twenty distinct ids, each sent twice at once.
                group.addTask { (try? await submit(venue, request("c\(index % 20)"))) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 20)
        #expect(try count(path, "SELECT COUNT(*) FROM paper_orders") == 20)
        #expect(try count(path, "SELECT COUNT(*) FROM paper_fills") == 20)
    }

    @Test("every call sleeps a latency within the model's range; a submit's latency depends on its client id only")
    func latencies() async throws {
        var model = fillModel()
        model.latencyMillisecondsMin = 5
        model.latencyMillisecondsMax = 40
        let first = RecordingClock()
        let venue = try PaperVenue(name: "paper-k", path: directory.path("lat1.db"), fillModel: model, feeModel: .free,
                                   runSeed: 3, clock: first)
        #expect(venue.settleWindowMilliseconds == 40)
        _ = try await submit(venue, request("a"))
        _ = try await submit(venue, request("b"))
        _ = try await venue.cancel(clientOrderID: "a")
        _ = try await venue.order(clientOrderID: "b")
        _ = try await venue.fills(clientOrderID: "b")
        _ = try await venue.positions()
        _ = try await venue.balance()
        let sleeps = await first.log.milliseconds
        #expect(sleeps.count == 7)
        #expect(sleeps.allSatisfy { (5...40).contains($0) }, "\(sleeps)")
        #expect(Set(sleeps).count > 1, "latencies are drawn, not constant")

        let second = RecordingClock()
        let other = try PaperVenue(name: "paper-k", path: directory.path("lat2.db"), fillModel: model, feeModel: .free,
                                   runSeed: 3, clock: second)
        _ = try await submit(other, request("b"))
        _ = try await submit(other, request("a"))
        let swapped = await second.log.milliseconds
        #expect(sleeps[0] != sleeps[1], "pick ids whose latencies differ, or the check below proves nothing")
        #expect(swapped == [sleeps[1], sleeps[0]])
    }
}

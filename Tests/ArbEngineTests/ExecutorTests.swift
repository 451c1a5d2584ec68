import ArbTestSupport
import ArbEngine
import Foundation
import Logging
@testable import OrderStateMachine
import Testing

let quietModel = PaperFillModel(
    fullFillPercent: 100, partialFillPercent: 0, restPercent: 0, rejectPercent: 0, ambiguousSubmitPercent: 0,
    lateFillPercent: 0, cancelFailPercent: 0, latencyMillisecondsMin: 0, latencyMillisecondsMax: 0,
    lateFillDelayMillisecondsMax: 1, seed: 1)

/// A trader database, two paper venues with scripted fates, and an executor wired as `arb run` wires them.
final class ExecutorHarness: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let store: Store
    let ledger: Ledger
    let kalshi: PaperVenue
    let polymarket: PaperVenue
    let venueB: any Venue
    let executor: Executor
    let routing: [Task<Void, Never>]

    init(a: PaperFate, b: PaperFate, timeInForce: TimeInForce = .gtc, fillTimeoutMilliseconds: Int64 = 150,
         wrapB: ((PaperVenue, String) -> any Venue)? = nil, bCancelFails: Bool = false,
         unwind: ((Store) -> UnwindContext)? = nil, unwindFates: [String: PaperFate] = [:],
         risk: RiskConfig = RiskConfig(maxExposurePerEvent: Money(cents: 1_000_000), maxExposureTotal: Money(cents: 10_000_000),
                                       maxOneSidedClosesPerDay: 100, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0)
    ) async throws {
        let dbPath = directory.path("arb.db")
        store = try Store(path: dbPath, durability: .normal, alertSinks: ["file"])
        ledger = Ledger(store: store)
        let clock = SystemClock()
        // Unwind orders' fates by their id's suffix (`u1`, `u2`, …), on either venue.
        let databaseID = store.databaseID
        let byClientID = Dictionary(uniqueKeysWithValues: unwindFates.map { ("arb-\(databaseID)-1-\($0.key)", $0.value) })
        kalshi = try PaperVenue(name: "kalshi", path: directory.path("paper-kalshi.db"), fillModel: quietModel,
                                feeModel: .kalshiTaker, runSeed: 1, clock: clock,
                                behaviour: PaperBehaviour(fateForClientOrderID: byClientID, fateForInstrument: ["K-1": a]))
        polymarket = try PaperVenue(name: "polymarket", path: directory.path("paper-polymarket.db"), fillModel: quietModel,
                                    feeModel: .free, runSeed: 1, clock: clock,
                                    behaviour: PaperBehaviour(fateForClientOrderID: byClientID, fateForInstrument: ["P-1": b],
                                                              cancelFails: bCancelFails))
        venueB = wrapB?(polymarket, dbPath) ?? polymarket
        let router = EventRouter()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        executor = Executor(ledger: ledger, venues: ["kalshi": kalshi, "polymarket": venueB], router: router, clock: clock,
                            execution: ExecutionConfig(timeInForce: timeInForce, fillTimeoutMilliseconds: fillTimeoutMilliseconds),
                            risk: risk, faults: FaultPoints(armed: nil), logger: logger, unwind: unwind?(store))
        let venues: [any Venue] = [kalshi, polymarket]
        routing = venues.map { venue in Task { for await event in venue.events { await router.route(event) } } }
    }

    deinit { routing.forEach { $0.cancel() } }

    static func candidate(quantity: Int64 = 10, key: String = "EV") -> Candidate {
        let priceA = Price(ticks: 4_500)!
        let priceB = Price(ticks: 5_000)!
        let size = Quantity(contracts: quantity)
        let new = NewOpportunity(
            eventID: key, legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "K-1", price: priceA),
            legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "P-1", price: priceB),
            edgeBps: 300, quantity: size, expectedFees: .zero, detectedAtMilliseconds: SystemClock().nowMilliseconds())
        let cost = Money(price: priceA, quantity: size) + Money(price: priceB, quantity: size)
        return Candidate(opportunity: new, quoteAgeMilliseconds: 0, isStale: false, cost: cost, fees: .zero,
                         netProfit: Money(micros: size.hundredths * 10_000) - cost)
    }

    func history(_ id: OpportunityID = 1) throws -> OpportunityHistory {
        try #require(try store.history(of: id))
    }

    /// `paper_orders` of one venue: client id → (status, filled hundredths).
    func paperOrders(_ venue: PaperVenue) throws -> [String: (String, Int64)] {
        let connection = try Connection(path: venue.path, mode: .readOnly)
        let rows = try connection.prepare("SELECT client_order_id, status, filled_quantity FROM paper_orders")
            .query { ($0.text(0), ($0.text(1), $0.int64(2))) }
        return Dictionary(uniqueKeysWithValues: rows)
    }
}

@Suite("Executor against the paper venues", .serialized, .exclusive)
struct ExecutorTests {
    @Test("both legs fill: InFlight → LegsPlaced → Filled → Closed(hedged) in one commit, fills recorded")
    func bothFill() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.hedged))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .legsPlaced, .filled, .closed(.hedged)])
        #expect(history.legs.allSatisfy { $0.filledQuantity == Quantity(contracts: 10) && $0.status == .filled })
        #expect(history.fills.count == 2)
        // Kalshi's taker fee at 0.45 × 10: ceil(0.07 × 10 × 0.45 × 0.55 = 0.17325) → $0.18.
        #expect(history.legs[0].fees == Money(cents: 18))
        #expect(history.alerts.isEmpty)
        #expect(try harness.paperOrders(harness.kalshi).values.map(\.0) == ["filled"])
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["filled"])
    }

    @Test("one leg fills and the other is rejected: one-sided, alert in the OneSided commit, closed one_sided")
    func fillAndReject() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("insufficient liquidity"))
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .closed(.oneSided)])
        #expect(history.legs[1].status == .rejected)
        let oneSided = try #require(history.alerts.first { $0.kind == "one_sided" })
        // The alert was written by the OneSided transition itself.
        let oneSidedAt = try #require(history.transitions.first { $0.to == .oneSided }).atMilliseconds
        #expect(oneSided.createdAtMilliseconds == oneSidedAt)
        #expect(oneSided.text.contains("kalshi") && oneSided.text.contains("10.00 contracts"))
        let body = try JSONSerialization.jsonObject(with: Data(oneSided.bodyJSON.utf8)) as? [String: Any]
        #expect(body?["exposure_contracts"] as? String == "10.00")
        #expect((body?["filled_leg"] as? [String: Any])?["venue"] as? String == "kalshi")
        #expect(history.alerts.contains { $0.kind == "one_sided_closed" })
        #expect(try harness.store.oneSidedOpportunities().map(\.id) == [1])
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["rejected"])
    }

    @Test("one leg fills and the other rests: the cancel reaches the venue before OneSided is committed")
    func cancelBeforeCommit() async throws {
        let witness = ForwardingVenue.CancelWitness()
        let harness = try await ExecutorHarness(a: .fill, b: .rest,
                                                wrapB: { ForwardingVenue.watched($0, databasePath: $1, witness: witness) })
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        // At the instant the cancel arrived, the database still said InFlight: no commit stood
        // between the fill and the cancel.
        #expect(await witness.statesAtCancel == ["InFlight"])
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .closed(.oneSided)])
        #expect(history.legs[1].cancelRequested && history.legs[1].cancelResult == .cancelled)
        #expect(history.legs[1].status == .cancelled)
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["cancelled"])
    }

    @Test("partial fills on both legs: only the imbalance is exposed")
    func partialBoth() async throws {
        let harness = try await ExecutorHarness(a: .partial(Quantity(contracts: 6)), b: .partial(Quantity(contracts: 4)))
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        let history = try harness.history()
        #expect(history.legs[0].filledQuantity == Quantity(contracts: 6))
        #expect(history.legs[1].filledQuantity == Quantity(contracts: 4))
        #expect(history.legs.allSatisfy { $0.status == .cancelled })
        let closed = try #require(history.alerts.first { $0.kind == "one_sided_closed" })
        let body = try JSONSerialization.jsonObject(with: Data(closed.bodyJSON.utf8)) as? [String: Any]
        #expect(body?["exposure_contracts"] as? String == "2.00")
        // 2 of the 6 filled contracts at $0.45, plus their share of the $0.11 Kalshi fee
        // (ceil(0.07 × 6 × 0.2475 = 0.10395) → $0.11): 0.90 + 0.11 × 2/6 → 0.936667 rounded up.
        #expect(body?["exposure_usd"] as? String == "0.936667")
    }

    @Test("the cancel fails because the lagging leg filled meanwhile: CancelAttempted → Filled → hedged")
    func lateFillHedges() async throws {
        let harness = try await ExecutorHarness(
            a: .fill, b: .lateFill(afterMilliseconds: 20),
            wrapB: { ForwardingVenue.watched($0, databasePath: $1, cancelDelayMilliseconds: 120) })
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.hedged))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .filled, .closed(.hedged)])
        #expect(history.legs[1].cancelResult == .alreadyDone)
        #expect(history.legs.allSatisfy { $0.filledQuantity == Quantity(contracts: 10) })
        // The exposure alert went out when it was true; nothing claims a one-sided close.
        #expect(history.alerts.map(\.kind) == ["one_sided"])
        #expect(try harness.store.oneSidedOpportunities().isEmpty)
    }

    @Test("nothing fills before the fill timeout: both remainders cancelled, Closed(no_fill)")
    func timeoutNoFill() async throws {
        let harness = try await ExecutorHarness(a: .rest, b: .rest, fillTimeoutMilliseconds: 60)
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.noFill))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .legsPlaced, .cancelAttempted, .closed(.noFill)])
        #expect(try harness.paperOrders(harness.kalshi).values.map(\.0) == ["cancelled"])
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["cancelled"])
    }

    @Test("IOC: one leg fills, the other's remainder is killed by the venue: one-sided with no cancel needed")
    func iocOneSided() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .rest, timeInForce: .ioc)
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        let history = try harness.history()
        #expect(history.legs[1].status == .cancelled && !history.legs[1].cancelRequested)
        #expect(history.transitions.last?.reason.contains("exposed 10.00") == true)
    }

    @Test("the same opportunity detected again while in flight is skipped; the venue gets one order per leg")
    func duplicateWhileInFlight() async throws {
        // A fill timeout far beyond the test: the first execution is ended below by its orders'
        // cancellation at the venues, not by a timer racing the test.
        let harness = try await ExecutorHarness(a: .rest, b: .rest, fillTimeoutMilliseconds: 10_000)
        let candidate = ExecutorHarness.candidate()
        async let first = harness.executor.run(candidate)
        // In flight for certain: both legs acknowledged and resting, LegsPlaced committed.
        #expect(try await waitUntil { try harness.store.opportunity(1)?.state == .legsPlaced })
        let second = await harness.executor.run(candidate)
        #expect(second == .skipped("in flight"))
        // Past the in-memory gate, the database's unique index still says no.
        let direct = try await harness.ledger.begin(candidate.opportunity, plans: [], reason: "again")
        guard case .duplicate(let existing) = direct else {
            Issue.record("a second live opportunity was created: \(direct)")
            return
        }
        #expect(existing == 1)
        for leg in try harness.store.legs(of: 1) {
            _ = try await (leg.venue == harness.kalshi.name ? harness.kalshi : harness.polymarket).cancel(clientOrderID: leg.clientOrderID)
        }
        #expect(await first == .closed(.noFill))
        #expect(try harness.paperOrders(harness.kalshi).count == 1)
        #expect(try harness.paperOrders(harness.polymarket).count == 1)
    }

    @Test("the day's one-sided close limit halts the trader in the database; the next candidate is not sent")
    func oneSidedLimitHalts() async throws {
        let harness = try await ExecutorHarness(
            a: .fill, b: .reject("no"),
            risk: RiskConfig(maxExposurePerEvent: Money(cents: 1_000_000), maxExposureTotal: Money(cents: 10_000_000),
                             maxOneSidedClosesPerDay: 1, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0))
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        #expect(try await waitUntil { try harness.store.haltState().halted })
        #expect(try harness.store.haltState().reason?.contains("1 one-sided closes today") == true)
        #expect(await harness.executor.run(ExecutorHarness.candidate(key: "OTHER")) == .skipped("halted"))
        #expect(try harness.paperOrders(harness.kalshi).count == 1, "nothing was sent after the halt")
    }

    @Test("halted by another connection: the next candidate is not sent, and a refused one is not even recorded")
    func haltedFromOutside() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        // The halt comes from a second connection (as `arbadmin halt` would), after the ledger opened.
        let other = try Store(path: harness.store.path, access: .existing)
        try other.halt(reason: "operator", atMilliseconds: 1)
        #expect(await harness.executor.run(ExecutorHarness.candidate(key: "SENT")) == .skipped("halted"))
        var stale = ExecutorHarness.candidate(key: "STALE")
        stale.isStale = true
        #expect(await harness.executor.run(stale) == .skipped("halted"))
        #expect(try harness.store.connection.prepare("SELECT count(*) FROM opportunities").queryOne { $0.int64(0) } == 0)
        #expect(try harness.paperOrders(harness.kalshi).isEmpty)
        try other.resume(atMilliseconds: 2)
        #expect(await harness.executor.run(ExecutorHarness.candidate(key: "AFTER")) == .closed(.hedged))
    }

    @Test("an opportunity past the event's exposure limit is recorded abandoned and never sent")
    func exposureLimit() async throws {
        let harness = try await ExecutorHarness(
            a: .fill, b: .fill,
            risk: RiskConfig(maxExposurePerEvent: Money(cents: 500), maxExposureTotal: Money(cents: 10_000_000),
                             maxOneSidedClosesPerDay: 10, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0))
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.abandoned))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .closed(.abandoned)])
        #expect(history.transitions.last?.reason.contains("risk: event exposure") == true)
        #expect(history.legs.isEmpty)
        #expect(try harness.paperOrders(harness.kalshi).isEmpty)
    }
}

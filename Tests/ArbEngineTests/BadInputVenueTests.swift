import ArbTestSupport
@testable import ArbEngine
import Foundation
import Logging
@testable import OrderStateMachine
import Synchronization
import Testing

/// An HTTP error as a careless venue adapter might throw it: not a `VenueError` at all.
struct HTTPStatusError: Error, Sendable, CustomStringConvertible {
    var status: Int
    var description: String { "HTTP \(status) Bad Gateway" }
}

/// Venue answers through the real executor, the recovery that follows, and the orphan-fill path:
/// nothing crashes, nothing is taken for a refusal that was not one (DESIGN §4: ambiguous ≠
/// rejected), and the database ends where the venue's truth says.
@Suite("Bad input: venue answers, through the executor", .serialized, .exclusive)
struct BadInputVenueTests {
    static let logger: Logger = {
        var logger = Logger(label: "bad-venue")
        logger.logLevel = .critical
        return logger
    }()

    func invariants(_ harness: ExecutorHarness, requireAllClosed: Bool = true) throws -> [String] {
        // No dispatcher runs here, so alert delivery (the rest of invariant 6) is not demanded.
        try Invariants.check(databasePath: harness.store.path,
                             paperFiles: ["kalshi": harness.kalshi.path, "polymarket": harness.polymarket.path],
                             options: .init(requireAllClosed: requireAllClosed, sinks: []))
    }

    func reconcile(_ harness: ExecutorHarness, polymarket: (any Venue)? = nil) async throws -> ReconcileReport {
        try await Reconciler(ledger: harness.ledger, venues: ["kalshi": harness.kalshi, "polymarket": polymarket ?? harness.polymarket],
                             clock: SystemClock(), logger: Self.logger).run()
    }

    struct LostAnswer: CustomTestStringConvertible, Sendable {
        let name: String
        let error: any Error & Sendable
        var testDescription: String { name }
    }

    static let lostAnswers: [LostAnswer] = [
        LostAnswer(name: "timeout", error: VenueError.ambiguous(reason: "no answer within 5000 ms")),
        LostAnswer(name: "5xx as a VenueError", error: VenueError.ambiguous(reason: "HTTP 503 Service Unavailable")),
        LostAnswer(name: "5xx as a foreign error", error: HTTPStatusError(status: 502)),
        LostAnswer(name: "malformed body", error: VenueError.malformed(reason: "expected '{' at byte 0 of \"<html>\"")),
        LostAnswer(name: "venue unavailable", error: VenueError.unavailable(reason: "connection reset")),
    ]

    @Test("the answer to a submit that filled is lost: looked up by client order id, found filled, hedged — never taken for a refusal",
          arguments: lostAnswers)
    func lostAnswerAfterFill(_ lost: LostAnswer) async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill,
                                                wrapB: { paper, _ in ForwardingVenue.faulty(paper, submit: .afterPlacing(lost.error)) })
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.hedged))
        let history = try harness.history()
        #expect(history.legs.map(\.status) == [.filled, .filled])
        #expect(history.legs.allSatisfy { $0.filledQuantity == Quantity(contracts: 10) })
        #expect(try harness.paperOrders(harness.polymarket).count == 1, "the order was sent once")
        let violations = try invariants(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("the submit never reached the venue and the answer is an error: not found after the settle window, one-sided, alerted",
          arguments: lostAnswers)
    func lostBeforePlacing(_ lost: LostAnswer) async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill,
                                                wrapB: { paper, _ in ForwardingVenue.faulty(paper, submit: .beforePlacing(lost.error)) })
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        let history = try harness.history()
        #expect(history.legs[1].status == .notFound, "leg b: \(history.legs[1].status)")
        #expect(history.alerts.contains { $0.kind == "one_sided" })
        #expect(try harness.paperOrders(harness.polymarket).isEmpty)
        let violations = try invariants(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("lookups fail too (malformed, unknown order, unreachable): left InFlight with the leg unknown and the key blocked; reconcile finishes it once the venue answers",
          arguments: [VenueError.malformed(reason: "truncated JSON"), .unknownOrder(clientOrderID: "?"),
                      .unavailable(reason: "503 for 10 minutes")])
    func lookupFailsToo(_ lookupError: VenueError) async throws {
        let faulty: @Sendable (PaperVenue, String) -> any Venue = { paper, _ in
            ForwardingVenue.faulty(paper, submit: .afterPlacing(VenueError.ambiguous(reason: "timeout")), lookup: lookupError)
        }
        let harness = try await ExecutorHarness(a: .fill, b: .fill, wrapB: faulty)
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .needsRecovery("order status unknown"))
        var history = try harness.history()
        #expect(history.opportunity.state == .inFlight)
        #expect(history.legs[1].status == .unknown)
        #expect(history.legs[0].filledQuantity == Quantity(contracts: 10), "what is known is kept: leg a's fill")
        // The key stays blocked, in memory and in the database.
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .skipped("in flight"))
        guard case .duplicate(1) = try await harness.ledger.begin(ExecutorHarness.candidate().opportunity, plans: [], reason: "again")
        else { Issue.record("a second live opportunity for the same key"); return }

        // Reconcile while the venue still fails: nothing moves, and it says what needs a person.
        let stillDown = try await reconcile(harness, polymarket: harness.venueB)
        #expect(!stillDown.isClean && stillDown.needsAttention.map(\.opportunityID) == [1], "\(stillDown.needsAttention)")
        #expect(try harness.history().opportunity.state == .inFlight)
        // The venue answers again: the truth (placed, filled) is recorded and the opportunity closes.
        let report = try await reconcile(harness)
        #expect(report.isClean, "\(report.needsAttention)")
        history = try harness.history()
        #expect(history.opportunity.state == .closed(.hedged), "\(history.opportunity.state)")
        let violations = try invariants(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("a cancel answered with \"unknown order\" (or a 5xx) for an order that rests: retried, then left for recovery, which cancels it",
          arguments: [VenueError.unknownOrder(clientOrderID: "?"), .ambiguous(reason: "HTTP 500")])
    func cancelUnknownOrder(_ cancelError: VenueError) async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .rest, fillTimeoutMilliseconds: 40,
                                                wrapB: { paper, _ in ForwardingVenue.faulty(paper, cancel: cancelError) })
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .needsRecovery("cancel failed"))
        let history = try harness.history()
        #expect(history.opportunity.state == .cancelAttempted)
        #expect(history.legs[1].cancelRequested && history.legs[1].cancelResult == .unknown)
        #expect(history.alerts.contains { $0.kind == "one_sided" }, "the exposure was alerted when it happened")
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["open"], "the order still rests at the venue")

        let report = try await reconcile(harness)
        #expect(report.isClean, "\(report.needsAttention)")
        #expect(try harness.history().opportunity.state == .closed(.oneSided))
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["cancelled"])
        let violations = try invariants(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    /// An opportunity as a crash (or a venue that stopped answering) leaves it: leg a filled and
    /// recorded; leg b placed, 4 of 10 filled and resting — none of which the database knows.
    func leftInFlightWithUnknownPartialFill() async throws -> ExecutorHarness {
        let faulty: @Sendable (PaperVenue, String) -> any Venue = { paper, _ in
            ForwardingVenue.faulty(paper, submit: .afterPlacing(VenueError.ambiguous(reason: "timeout")),
                        lookup: VenueError.unavailable(reason: "down"))
        }
        let harness = try await ExecutorHarness(a: .fill, b: .partial(Quantity(contracts: 4)), wrapB: faulty)
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .needsRecovery("order status unknown"))
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["partially_filled"])
        #expect(try harness.history().legs[1].filledQuantity == .zero)
        return harness
    }

    @Test("recovery's cancel refused twice, then accepted: retried, and the opportunity closes one-sided with the venue's fills")
    func recoveryRetriesRefusedCancel() async throws {
        let harness = try await leftInFlightWithUnknownPartialFill()
        let report = try await reconcile(harness, polymarket: ForwardingVenue.refusingCancels(harness.polymarket, refusals: 2))
        #expect(report.isClean, "\(report.needsAttention)")
        let history = try harness.history()
        #expect(history.opportunity.state == .closed(.oneSided))
        #expect(history.legs[1].filledQuantity == Quantity(contracts: 4))
        #expect(try harness.paperOrders(harness.polymarket).values.map(\.0) == ["cancelled"])
        let violations = try invariants(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("recovery's cancel always refused: left for a person, but the venue's fills and the exposure alert are recorded")
    func recoveryRecordsExposureWhenCancelRefused() async throws {
        let harness = try await leftInFlightWithUnknownPartialFill()
        let report = try await reconcile(harness, polymarket: ForwardingVenue.refusingCancels(harness.polymarket, refusals: .max))
        #expect(report.needsAttention.map(\.opportunityID) == [1])
        #expect(report.needsAttention.first?.reason.contains("refused the cancel") == true)
        var history = try harness.history()
        #expect(history.opportunity.state == .inFlight, "nothing is closed while the order may still fill")
        #expect(history.legs[1].filledQuantity == Quantity(contracts: 4), "the database knows what the venue filled")
        #expect(history.legs[1].status == .partiallyFilled && history.legs[1].cancelResult == .failed)
        // The executor alerted what it knew (leg a filled, leg b unknown); reconcile alerts the
        // venue's truth under its own key.
        let alert = try #require(history.alerts.first { $0.kind == "one_sided_unresolved" }, "the exposure is alerted")
        #expect(alert.text.contains("6.00"), "\(alert.text)")
        // DESIGN §8 1–4 and 6 hold meanwhile (5 waits for the venue to accept a cancel).
        let meanwhile = try invariants(harness, requireAllClosed: false)
        #expect(meanwhile.isEmpty, "\(meanwhile)")

        // The venue accepts cancels again: the next reconcile finishes it, without a second alert.
        #expect(try await reconcile(harness).isClean)
        history = try harness.history()
        #expect(history.opportunity.state == .closed(.oneSided))
        #expect(history.alerts.filter { $0.kind == "one_sided" }.count == 1)
        let violations = try invariants(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("a fill for an order no leg has, and a fill beyond a leg's size: refused, recorded as critical alerts, nothing crashes")
    func fillsForUnknownOrders() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.hedged))
        let router = EventRouter()
        let orphans = Task { await Trader.handleOrphans(router.orphanEvents, ledger: harness.ledger, logger: Self.logger, clock: SystemClock()) }
        let legA = try harness.history().legs[0]
        let unknown = FillReport(venue: "kalshi", tradeID: "T-GHOST", clientOrderID: "arb-ffffffff-999-a",
                                 price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 3), fee: .zero, filledAtMilliseconds: 1)
        let beyond = FillReport(venue: "kalshi", tradeID: "T-EXTRA", clientOrderID: legA.clientOrderID,
                                price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 1), fee: .zero, filledAtMilliseconds: 2)
        await router.route(.fill(unknown))
        await router.route(.fill(unknown))  // a repeat: one alert (stable key), no crash
        await router.route(.fill(beyond))
        await router.route(.orderUpdate(VenueOrder(clientOrderID: "arb-ffffffff-999-b", venueOrderID: "x", instrument: "P-1", side: .buy,
                                             limitPrice: Price(ticks: 5_000)!, quantity: Quantity(contracts: 1),
                                             filledQuantity: .zero, status: .open)))
        router.finish()
        #expect(await orphans.value.isEmpty, "every fill was recorded")

        let alerts = try harness.store.connection.prepare(
            "SELECT kind, severity, text, opportunity_id FROM alerts WHERE kind = 'late_fill' ORDER BY id"
        ).query { ($0.text(0), $0.text(1), $0.text(2), $0.optionalInt64(3)) }
        #expect(alerts.count == 2, "\(alerts)")
        #expect(alerts.allSatisfy { $0.1 == "critical" })
        #expect(alerts.first?.2.contains("T-GHOST") == true && alerts.first?.2.contains("unknownOrder") == true)
        #expect(alerts.first?.3 == nil, "an unknown order belongs to no opportunity")
        #expect(alerts.last?.2.contains("T-EXTRA") == true && alerts.last?.2.contains("exceedsOrder") == true)
        #expect(alerts.last?.3 == 1)
        let fills = try harness.store.connection.prepare("SELECT count(*) FROM fills WHERE trade_id IN ('T-GHOST', 'T-EXTRA')")
            .queryOne { $0.int64(0) }
        #expect(fills == 0, "a refused fill is not recorded as a fill")
        #expect(try harness.history().legs[0].filledQuantity == Quantity(contracts: 10))
    }

    @Test("a flood of fills no execution owns, far past the queue's room: every one is recorded with its alert, none dropped")
    func orphanFloodLosesNothing() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        let router = EventRouter(orphanCapacity: 4)
        let count = 400
        // The venue side first, with nobody recording yet: it fills the queue's room and must
        // then wait (a dropping queue would race through all of them and lose the rest).
        let venueSide = Task {
            for index in 0..<count {
                await router.route(.fill(FillReport(
                    venue: "kalshi", tradeID: "T-FLOOD-\(index)", clientOrderID: "arb-ffffffff-\(index)-a",
                    price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 1), fee: .zero, filledAtMilliseconds: Int64(index))))
            }
        }
        #expect(await waitUntil { router.orphanEvents.queuedCount == 4 })
        let orphans = Task { await Trader.handleOrphans(router.orphanEvents, ledger: harness.ledger, logger: Self.logger, clock: SystemClock()) }
        await venueSide.value
        router.finish()
        #expect(await orphans.value.isEmpty, "every fill was recorded")
        let recorded = try harness.store.connection.prepare(
            "SELECT count(*) FROM alerts WHERE kind = 'late_fill' AND alert_key LIKE '%T-FLOOD-%'"
        ).queryOne { $0.int64(0) }
        #expect(recorded == Int64(count), "\(count - Int(recorded ?? 0)) of \(count) fills were dropped")
    }

    /// Fails the next `failures` commits of `store` (then lets them through), counting refusals.
    final class RefusingCommits: @unchecked Sendable {
        private let lock = NSLock()
        private var left: Int
        private(set) var refused = 0
        init(_ failures: Int) { left = failures }
        func check() throws {
            try lock.withLock {
                guard left > 0 else { return }
                left -= 1
                refused += 1
                throw SQLiteError(code: ResultCode(rawValue: 10), message: "disk I/O error (injected)", sql: "COMMIT")
            }
        }
    }

    @Test("a late fill the store refuses is tried again until it is recorded; one refused every time fails the run loudly")
    func refusedOrphanFillIsRetried() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.hedged))
        let legA = try harness.history().legs[0]
        func lateFill(_ tradeID: String) -> FillReport {
            FillReport(venue: "kalshi", tradeID: tradeID, clientOrderID: legA.clientOrderID,
                       price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 1), fee: .zero, filledAtMilliseconds: 1)
        }

        // Three refusals, then the disk comes back: the fill is recorded, once.
        let transient = RefusingCommits(3)
        harness.store.commitHook = { try transient.check() }
        let router = EventRouter()
        let orphans = Task { await Trader.handleOrphans(router.orphanEvents, ledger: harness.ledger, logger: Self.logger,
                                                        clock: SystemClock(), retry: RecordRetry(attemptsMax: 5)) }
        await router.route(.fill(lateFill("T-LATE-1")))
        router.finish()
        #expect(await orphans.value.isEmpty)
        #expect(transient.refused == 3)
        // (Leg a is filled in full, so the venue's extra fill is refused as a fill and recorded as
        // a critical alert: either way it leaves a row.)
        #expect(try harness.history().alerts.filter { $0.kind == "late_fill" && $0.text.contains("T-LATE-1") }.count == 1)

        // Refused every time: after the attempts the fill is handed back, not dropped.
        let broken = RefusingCommits(.max)
        harness.store.commitHook = { try broken.check() }
        let secondRouter = EventRouter()
        let secondOrphans = Task { await Trader.handleOrphans(secondRouter.orphanEvents, ledger: harness.ledger, logger: Self.logger,
                                                              clock: SystemClock(), retry: RecordRetry(attemptsMax: 3)) }
        await secondRouter.route(.fill(lateFill("T-LATE-2")))
        secondRouter.finish()
        #expect(await secondOrphans.value.map(\.tradeID) == ["T-LATE-2"])
        #expect(broken.refused == 3)
        harness.store.commitHook = nil
        #expect(try harness.history().alerts.filter { $0.text.contains("T-LATE-2") }.isEmpty)
        #expect(UnrecordedFills(fills: [lateFill("T-LATE-2")]).description.contains("T-LATE-2"))
    }

    @Test("a late fill's alert body is JSON whatever the venue's strings hold")
    func lateFillAlertEscapes() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        let router = EventRouter()
        let orphans = Task { await Trader.handleOrphans(router.orphanEvents, ledger: harness.ledger, logger: Self.logger, clock: SystemClock()) }
        let tradeID = "T-\"quoted\"\\back\nline"
        let clientOrderID = "arb-\"x\"-1-a"
        await router.route(.fill(FillReport(venue: "kalshi", tradeID: tradeID, clientOrderID: clientOrderID,
                                            price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 2), fee: .zero,
                                            filledAtMilliseconds: 1)))
        router.finish()
        #expect(await orphans.value.isEmpty, "every fill was recorded")
        let body = try #require(try harness.store.connection.prepare("SELECT body_json FROM alerts WHERE kind = 'late_fill'")
            .queryOne { $0.text(0) })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "not JSON: \(body)")
        #expect(json["trade_id"] as? String == tradeID)
        #expect(json["client_order_id"] as? String == clientOrderID)
        #expect(json["quantity"] as? String == "2.00")
    }
}

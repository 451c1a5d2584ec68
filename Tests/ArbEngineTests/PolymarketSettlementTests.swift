import ArbEngine
import ArbTestSupport
import Foundation
import Logging
@testable import OrderStateMachine
import PolymarketLoopback
import PolymarketVenue
import Testing

/// The executor with leg A on the Polymarket adapter (loopback CLOB) and leg B on a paper venue
/// that fills, and recovery over the same database.
final class PolymarketSettlementHarness: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let store: Store
    let ledger: Ledger
    let polymarket: PolymarketHarness
    let paper: PaperVenue
    let executor: Executor
    let routing: Task<Void, Never>

    init(settleTimeoutMilliseconds: Int64) async throws {
        store = try Store(path: directory.path("arb.db"), durability: .normal, alertSinks: ["file"])
        ledger = Ledger(store: store)
        polymarket = try await PolymarketHarness(directory: LedgerPolymarketDirectory(slot: LedgerSlot(ledger)))
        paper = try PaperVenue(name: "paper", path: directory.path("paper-paper.db"), fillModel: quietModel, feeModel: .free,
                               runSeed: 1, clock: SystemClock(), behaviour: PaperBehaviour(fateForInstrument: ["P-1": .fill]))
        var logger = Logger(label: "test")
        logger.logLevel = .error
        executor = Executor(ledger: ledger, venues: ["polymarket": polymarket.venue, "paper": paper], router: EventRouter(),
                            clock: SystemClock(),
                            execution: ExecutionConfig(timeInForce: .ioc, fillTimeoutMilliseconds: 300,
                                                       settleTimeoutMilliseconds: settleTimeoutMilliseconds, settlePollMilliseconds: 20),
                            risk: RiskConfig(maxExposurePerEvent: Money(cents: 1_000_000), maxExposureTotal: Money(cents: 10_000_000),
                                             maxOneSidedClosesPerDay: 100, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0),
                            faults: FaultPoints(armed: nil), logger: logger)
        let paper = self.paper
        routing = Task { for await _ in paper.events {} }
    }

    deinit { routing.cancel() }

    static func candidate() -> Candidate {
        let priceA = Price(ticks: 4_700)!
        let priceB = Price(ticks: 5_000)!
        let size = Quantity(contracts: 10)
        let new = NewOpportunity(
            eventID: "EV", legA: LegQuote(venue: "polymarket", outcome: "YES", instrument: polymarketTokenYes, price: priceA),
            legB: LegQuote(venue: "paper", outcome: "NO", instrument: "P-1", price: priceB),
            edgeBps: 300, quantity: size, expectedFees: .zero, detectedAtMilliseconds: SystemClock().nowMilliseconds())
        let cost = Money(price: priceA, quantity: size) + Money(price: priceB, quantity: size)
        return Candidate(opportunity: new, quoteAgeMilliseconds: 0, isStale: false, cost: cost, fees: .zero,
                         netProfit: Money(micros: size.hundredths * 10_000) - cost)
    }

    func reconcile() async throws -> ReconcileReport {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return try await Reconciler(ledger: ledger, venues: ["polymarket": polymarket.venue, "paper": paper], clock: SystemClock(),
                                    logger: logger).run()
    }

    func history() throws -> OpportunityHistory { try #require(try store.history(of: 1)) }
}

@Suite("Provisional fills: the executor waits in Filled, recovery settles", .serialized, .exclusive)
struct PolymarketSettlementTests {
    @Test("confirmed: hedged only after the CLOB confirms the trade")
    func confirmed() async throws {
        let harness = try await PolymarketSettlementHarness(settleTimeoutMilliseconds: 5_000)
        defer { Task { await harness.polymarket.stop() } }
        let outcome = await harness.executor.run(PolymarketSettlementHarness.candidate())
        #expect(outcome == .closed(.hedged))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .legsPlaced, .filled, .closed(.hedged)])
        #expect(history.transitions[3].reason.contains("waiting for provisional fills"))
        #expect(history.fills.allSatisfy { !$0.provisional })
        #expect(harness.polymarket.exchange.trades.map(\.status) == ["CONFIRMED"])
    }

    @Test("unconfirmed past the settle timeout: a warning alert, left Filled; recovery closes hedged once confirmed, not before")
    func recoveryConfirms() async throws {
        let harness = try await PolymarketSettlementHarness(settleTimeoutMilliseconds: 150)
        defer { Task { await harness.polymarket.stop() } }
        harness.polymarket.exchange.autoConfirm = false
        let outcome = await harness.executor.run(PolymarketSettlementHarness.candidate())
        #expect(outcome == .needsRecovery("fills still provisional"))
        #expect(try harness.store.state(of: 1) == .filled)
        #expect(try harness.history().alerts.map(\.kind) == ["fills_provisional"])
        let waiting = try await harness.reconcile()
        #expect(waiting.needsAttention.map(\.reason) == ["fills still provisional at the venue (hedged only once confirmed); reconcile again later"])
        #expect(try harness.store.state(of: 1) == .filled)
        harness.polymarket.exchange.autoConfirm = true
        _ = try await harness.reconcile()  // this read sees MATCHED; the CLOB confirms after it
        let done = try await harness.reconcile()
        #expect(done.isClean && done.closedByOutcome == [.hedged: 1], "\(done)")
        #expect(try harness.history().fills.allSatisfy { !$0.provisional })
        try expectPolymarketAgrees(databasePath: harness.directory.path("arb.db"), exchange: harness.polymarket.exchange)
    }

    @Test("failed while waiting: recovery reverses the fill and closes one-sided with its alert")
    func recoveryReverses() async throws {
        let harness = try await PolymarketSettlementHarness(settleTimeoutMilliseconds: 150)
        defer { Task { await harness.polymarket.stop() } }
        harness.polymarket.exchange.autoConfirm = false
        _ = await harness.executor.run(PolymarketSettlementHarness.candidate())
        #expect(try harness.store.state(of: 1) == .filled)
        harness.polymarket.exchange.failTrades(token: polymarketTokenYes)
        _ = try await harness.reconcile()
        let report = try await harness.reconcile()
        #expect(report.closedByOutcome == [.oneSided: 1], "\(report)")
        let history = try harness.history()
        #expect(history.transitions.map(\.to).suffix(4) == [.filled, .oneSided, .cancelAttempted, .closed(.oneSided)])
        #expect(history.alerts.contains { $0.kind == "one_sided" })
        #expect(history.legs[0].filledQuantity == .zero && history.fills.first { $0.legID == history.legs[0].id }?.reversed == true)
        try expectPolymarketAgrees(databasePath: harness.directory.path("arb.db"), exchange: harness.polymarket.exchange)
        let violations = try Invariants.check(databasePath: harness.directory.path("arb.db"), paperFiles: ["paper": harness.paper.path],
                                              options: .init(requireAllClosed: true, sinks: []))
        #expect(violations.isEmpty, "\(violations)")
    }
}

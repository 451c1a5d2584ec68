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

    init(settleTimeoutMilliseconds: Int64, heartbeatMilliseconds: Int64 = 5_000) async throws {
        store = try Store(path: directory.path("arb.db"), durability: .normal, alertSinks: ["file"])
        ledger = Ledger(store: store)
        polymarket = try await PolymarketHarness(directory: LedgerPolymarketDirectory(slot: LedgerSlot(ledger)),
                                                 heartbeatMilliseconds: heartbeatMilliseconds)
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
    @Test("a trade that fails before arb reads it: the order read back MATCHED, its one trade FAILED at the first read — the leg ends cancelled with nothing filled (not filled with nothing), one-sided, §8 holds")
    func failedBeforeRead() async throws {
        let harness = try await PolymarketSettlementHarness(settleTimeoutMilliseconds: 5_000)
        defer { Task { await harness.polymarket.stop() } }
        harness.polymarket.exchange.failTradesBeforeRead(token: polymarketTokenYes)
        let outcome = await harness.executor.run(PolymarketSettlementHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        let history = try harness.history()
        let leg = try #require(history.legs.first { $0.leg == .a })
        #expect(leg.status == .cancelled && leg.filledQuantity == .zero, "leg a: \(leg.status) with \(leg.filledQuantity)")
        #expect(history.fills.allSatisfy { $0.legID != leg.id })
        #expect(harness.polymarket.exchange.trades.map(\.status) == ["FAILED"])
        let violations = try Invariants.check(databasePath: harness.store.path, paperFiles: ["paper": harness.directory.path("paper-paper.db")],
                                              options: .init(requireAllClosed: true, sinks: []))
        #expect(violations.isEmpty, "\(violations)")
    }

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
        #expect(waiting.needsAttention.map(\.reason) == ["fills still provisional at the venue (closed only once they are certain); reconcile again later"])
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

@Suite("Polymarket heartbeats: the dead-man switch is fed while an order rests", .serialized)
struct PolymarketHeartbeatTests {
    @Test("a resting GTC order starts heartbeats (each carrying the last id), its cancel stops them")
    func fedWhileResting() async throws {
        let harness = try await PolymarketHarness(heartbeatMilliseconds: 20)
        defer { Task { await harness.stop() } }
        harness.exchange.script([.live], token: polymarketTokenYes)
        _ = try await harness.venue.submit(harness.prepare("c-1", timeInForce: .gtc))
        #expect(await waitUntil(timeoutSeconds: 5) { harness.exchange.heartbeatIDs.count >= 3 })
        let ids = harness.exchange.heartbeatIDs
        #expect(ids.first == "" && ids[1] == "hb-1" && ids[2] == "hb-2", "\(ids)")
        _ = try await harness.venue.cancel(clientOrderID: "c-1")
        try await Task.sleep(for: .milliseconds(100))
        let afterCancel = harness.exchange.heartbeatIDs.count
        try await Task.sleep(for: .milliseconds(200))
        #expect(harness.exchange.heartbeatIDs.count == afterCancel, "heartbeats went on with nothing resting")
        // An IOC order never rests: no heartbeat for it.
        let before = harness.exchange.heartbeatIDs.count
        _ = try await harness.venue.submit(harness.prepare("c-2"))
        try await Task.sleep(for: .milliseconds(150))
        #expect(harness.exchange.heartbeatIDs.count == before)
    }

    @Test("heartbeats stop when arb does: the venue cancels the resting order, and recovery finds and records the cancel")
    func stoppedHeartbeats() async throws {
        let settlement = try await PolymarketSettlementHarness(settleTimeoutMilliseconds: 150, heartbeatMilliseconds: 20)
        let exchange = settlement.polymarket.exchange
        defer { Task { await exchange.stop() } }
        exchange.script([.live], token: polymarketTokenYes)
        // A process that placed a resting leg and died before it closed: intent, submit, no more.
        let store = settlement.store
        let now = SystemClock().nowMilliseconds()
        var prepared: PreparedOrder?
        _ = try store.createAndBegin(PolymarketSettlementHarness.candidate().opportunity, reason: "test") { id in
            let request = OrderRequest(clientOrderID: store.clientOrderID(opportunity: id, leg: .a), instrument: polymarketTokenYes,
                                       side: .buy, limitPrice: Price(ticks: 4_700)!, quantity: Quantity(contracts: 10), timeInForce: .gtc)
            prepared = settlement.polymarket.venue.prepare(request)
            return [LegIntent(leg: .a, venue: "polymarket", instrument: polymarketTokenYes, side: .buy, limitPrice: Price(ticks: 4_700)!,
                              quantity: Quantity(contracts: 10), timeInForce: .gtc, clientOrderID: request.clientOrderID,
                              venueOrderID: prepared?.venueOrderID),
                    LegIntent(leg: .b, venue: "paper", instrument: "P-1", side: .buy, limitPrice: Price(ticks: 5_000)!,
                              quantity: Quantity(contracts: 10), timeInForce: .gtc, clientOrderID: store.clientOrderID(opportunity: id, leg: .b))]
        }
        _ = try await settlement.polymarket.venue.submit(try #require(prepared))
        try store.record(TransitionChanges(legUpdates: [
            LegUpdate(clientOrderID: store.clientOrderID(opportunity: 1, leg: .b), status: .rejected, statusReason: "refused")]),
            opportunity: 1, at: now)
        #expect(await waitUntil(timeoutSeconds: 5) { exchange.heartbeatIDs.count >= 2 })
        // "arb dies": a new process has its own venue; the old one's heartbeats stop with it.
        let restarted = try await PolymarketHarness(directory: LedgerPolymarketDirectory(slot: LedgerSlot(settlement.ledger)),
                                                    exchange: exchange)
        settlement.polymarket.stopHeartbeats()
        try await Task.sleep(for: .milliseconds(100))
        #expect(exchange.expireHeartbeats(olderThan: 0.05) == 1)
        var logger = Logger(label: "t")
        logger.logLevel = .error
        let report = try await Reconciler(ledger: settlement.ledger, venues: ["polymarket": restarted.venue, "paper": settlement.paper],
                                          clock: SystemClock(), logger: logger).run()
        #expect(report.isClean && report.closedByOutcome.values.reduce(0, +) == 1, "\(report)")
        let leg = try #require(try store.legs(of: 1).first { $0.venue == "polymarket" })
        #expect(leg.status == .cancelled && leg.filledQuantity == .zero)
        try expectPolymarketAgrees(databasePath: settlement.directory.path("arb.db"), exchange: exchange)
    }
}

import ArbEngine
import ArbTestSupport
import Foundation
import KalshiLoopback
import KalshiVenue
import Logging
@testable import OrderStateMachine
import Synchronization
import Testing

/// The executor wired as `arb run` wires it, with leg A on the Kalshi adapter (loopback exchange)
/// and leg B on a paper venue with a scripted fate.
final class KalshiExecutorHarness: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let store: Store
    let kalshi: KalshiHarness
    let paper: PaperVenue
    let executor: Executor
    let routing: Task<Void, Never>
    var databasePath: String { directory.path("arb.db") }

    init(b: PaperFate, timeInForce: TimeInForce, fillTimeoutMilliseconds: Int64 = 300) async throws {
        let path = directory.path("arb.db")
        store = try Store(path: path, durability: .normal, alertSinks: ["file"])
        let ledger = Ledger(store: store)
        kalshi = try await KalshiHarness(directory: LedgerKalshiDirectory(slot: LedgerSlot(ledger)))
        let clock = SystemClock()
        paper = try PaperVenue(name: "polymarket", path: directory.path("paper-polymarket.db"), fillModel: quietModel,
                               feeModel: .free, runSeed: 1, clock: clock,
                               behaviour: PaperBehaviour(fateForInstrument: ["P-1": b]))
        let router = EventRouter()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        executor = Executor(ledger: ledger, venues: ["kalshi": kalshi.venue, "polymarket": paper], router: router, clock: clock,
                            execution: ExecutionConfig(timeInForce: timeInForce, fillTimeoutMilliseconds: fillTimeoutMilliseconds),
                            risk: RiskConfig(maxExposurePerEvent: Money(cents: 1_000_000), maxExposureTotal: Money(cents: 10_000_000),
                                             maxOneSidedClosesPerDay: 100, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0),
                            faults: FaultPoints(armed: nil), logger: logger)
        let paper = self.paper
        routing = Task { for await event in paper.events { await router.route(event) } }
    }

    deinit { routing.cancel() }

    static func candidate() -> Candidate {
        let priceA = Price(ticks: 4_500)!
        let priceB = Price(ticks: 5_000)!
        let size = Quantity(contracts: 10)
        let new = NewOpportunity(
            eventID: "EV", legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "KXEV:yes", price: priceA),
            legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "P-1", price: priceB),
            edgeBps: 300, quantity: size, expectedFees: .zero, detectedAtMilliseconds: SystemClock().nowMilliseconds())
        let cost = Money(price: priceA, quantity: size) + Money(price: priceB, quantity: size)
        return Candidate(opportunity: new, quoteAgeMilliseconds: 0, isStale: false, cost: cost, fees: .zero,
                         netProfit: Money(micros: size.hundredths * 10_000) - cost)
    }

    func history() throws -> OpportunityHistory { try #require(try store.history(of: 1)) }
}

@Suite("Executor scenarios through the Kalshi adapter", .serialized, .exclusive)
struct KalshiExecutorTests {
    @Test("one-sided: Kalshi fills, the other leg is refused; the alert and the close are written, the database agrees with the exchange")
    func oneSided() async throws {
        let harness = try await KalshiExecutorHarness(b: .reject("insufficient liquidity"), timeInForce: .ioc)
        defer { Task { await harness.kalshi.stop() } }
        let outcome = await harness.executor.run(KalshiExecutorHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .closed(.oneSided)])
        #expect(history.legs[0].filledQuantity == Quantity(contracts: 10) && history.legs[0].status == .filled)
        #expect(history.alerts.contains { $0.kind == "one_sided" })
        try expectKalshiAgrees(databasePath: harness.databasePath, exchange: harness.kalshi.exchange)
    }

    @Test("cancel before write: the other leg fills, the resting Kalshi order's cancel reaches the exchange while the database still says InFlight")
    func cancelBeforeWrite() async throws {
        let harness = try await KalshiExecutorHarness(b: .fill, timeInForce: .gtc)
        defer { Task { await harness.kalshi.stop() } }
        harness.kalshi.exchange.script([.fill(hundredths: 0)])
        let states = Mutex<[String]>([])
        let path = harness.databasePath
        harness.kalshi.exchange.onCancel { _ in
            let state = (try? Store(path: path, access: .readOnly).state(of: 1)).flatMap { $0 }.map { "\($0)" } ?? "none"
            states.withLock { $0.append(state) }
        }
        let outcome = await harness.executor.run(KalshiExecutorHarness.candidate())
        #expect(outcome == .closed(.oneSided))
        #expect(states.withLock { $0 } == ["InFlight"])
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .closed(.oneSided)])
        #expect(history.legs[0].cancelRequested && history.legs[0].cancelResult == .cancelled && history.legs[0].status == .cancelled)
        #expect(harness.kalshi.exchange.orders.map(\.status) == ["canceled"])
        try expectKalshiAgrees(databasePath: harness.databasePath, exchange: harness.kalshi.exchange)
    }

    @Test("late fill: the resting Kalshi order fills before the cancel lands; alreadyDone with its fills, hedged")
    func lateFill() async throws {
        let harness = try await KalshiExecutorHarness(b: .fill, timeInForce: .gtc)
        defer { Task { await harness.kalshi.stop() } }
        harness.kalshi.exchange.script([.fill(hundredths: 0)])
        harness.kalshi.exchange.fillRestingBeforeCancel = true
        let outcome = await harness.executor.run(KalshiExecutorHarness.candidate())
        #expect(outcome == .closed(.hedged))
        let history = try harness.history()
        #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .filled, .closed(.hedged)])
        #expect(history.legs[0].cancelResult == .alreadyDone)
        #expect(history.legs.allSatisfy { $0.filledQuantity == Quantity(contracts: 10) })
        #expect(history.fills.filter { $0.legID == history.legs[0].id }.map(\.fee) == [Money(micros: 1_000 * 170)])
        try expectKalshiAgrees(databasePath: harness.databasePath, exchange: harness.kalshi.exchange)
    }
}

import ArbEngine
import Logging
import OrderStateMachine

/// Configs the benchmarks build in code: N event pairs over a paper `kalshi` and a paper
/// `polymarket`, zero-latency fill models, limits that never refuse.
enum BenchConfig {
    static let kalshiFee = FeeModel.kalshiTaker
    static let polymarketFee = FeeModel.polymarketTaker(rateBps: 300, exponent: 1)

    /// Event `index`: instruments `KX-EV<i>-YES/NO` at kalshi and `PM-EV<i>-YES/NO` at polymarket.
    /// Every fourth event overrides Polymarket's curve with exponent 2 (its fee is per market).
    static func pair(_ index: Int) -> EventPair {
        EventPair(
            eventID: "EV-\(index)", outcomes: ["YES", "NO"],
            instruments: ["kalshi": ["YES": "KX-EV\(index)-YES", "NO": "KX-EV\(index)-NO"],
                          "polymarket": ["YES": "PM-EV\(index)-YES", "NO": "PM-EV\(index)-NO"]],
            fees: index % 4 == 3 ? ["polymarket": .polymarketTaker(rateBps: 200, exponent: 2)] : [:])
    }

    /// Every order fills at submit, with no simulated latency.
    static let zeroLatencyFills = PaperFillModel(
        fullFillPercent: 100, partialFillPercent: 0, restPercent: 0, rejectPercent: 0, ambiguousSubmitPercent: 0,
        lateFillPercent: 0, cancelFailPercent: 0, latencyMillisecondsMin: 0, latencyMillisecondsMax: 0,
        lateFillDelayMillisecondsMax: 1, seed: 7)

    static let risk = RiskConfig(
        maxExposurePerEvent: Money(cents: 100_000_000), maxExposureTotal: Money(cents: 1_000_000_000),
        maxOneSidedClosesPerDay: 1_000_000_000, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0)

    static func trader(events count: Int, databasePath: String, durability: Durability = .full,
                       execution: ExecutionConfig = ExecutionConfig(timeInForce: .ioc, fillTimeoutMilliseconds: 200))
        -> TraderConfig
    {
        let paper = PaperVenueConfig(stateFile: nil, fillModel: zeroLatencyFills)
        return TraderConfig(
            databasePath: databasePath, durability: durability, events: (0..<count).map(pair),
            venues: ["kalshi": VenueConfig(kind: .paper, fee: kalshiFee, paper: paper),
                     "polymarket": VenueConfig(kind: .paper, fee: polymarketFee, paper: paper)],
            detection: DetectionConfig(minEdgeBps: 50, minSize: Quantity(contracts: 1), maxSize: Quantity(contracts: 25),
                                       quoteStalenessMilliseconds: 400),
            execution: execution, risk: risk, alerts: AlertConfig(console: false, filePath: nil, webhookURL: nil))
    }

    static let venueFees: [String: FeeModel] = ["kalshi": kalshiFee, "polymarket": polymarketFee]

    /// The engine logs nothing during a measurement: `arb run`'s own info lines go to standard
    /// error, which here would measure the terminal.
    static let quietLogger = Logger(label: "arb-bench", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// An executor wired as `Trader.run` wires it: one writer actor over the store, one routing task
/// per venue feeding the event router.
final class BenchEngine {
    let ledger: Ledger
    let router = EventRouter()
    let executor: Executor
    private let routing: [Task<Void, Never>]

    /// `commitHook`: the store's, called inside each write transaction just before it commits.
    init(databasePath: String, durability: Durability, venues: [String: any Venue], execution: ExecutionConfig,
         commitHook: (@Sendable () throws -> Void)? = nil) throws {
        // As the trader opens its store (TraderAssembly): checkpoints off the commits.
        let store = try Store(path: databasePath, durability: durability, checkpoints: .background)
        store.commitHook = commitHook
        ledger = Ledger(store: store)
        executor = Executor(ledger: ledger, venues: venues, router: router, clock: SystemClock(), execution: execution,
                            risk: BenchConfig.risk, faults: FaultPoints(armed: nil), logger: BenchConfig.quietLogger)
        let router = self.router
        routing = venues.values.map { venue in Task { for await event in venue.events { await router.route(event) } } }
    }

    deinit {
        routing.forEach { $0.cancel() }
        router.finish()
    }
}

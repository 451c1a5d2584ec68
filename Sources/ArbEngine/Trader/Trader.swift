#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import OrderStateMachine
import ServiceLifecycle
import UnixSignals

/// Where quotes come from.
public enum MarketDataSource: Sendable {
    /// The seeded synthetic generator over the config's events, paced in real time.
    case generator(durationMilliseconds: Int64)
    /// A JSON-lines replay file, as fast as it can be read.
    case replay(path: String)
}

public struct TraderOptions: Sendable {
    public var config: TraderConfig
    public var seed: UInt64
    public var marketData: MarketDataSource
    public var environment: [String: String]
    public var faults: FaultPoints
    /// The built-in demo's opening move (`PaperOpeningScript`): its first opportunity is one-sided.
    public var demoOpening: Bool
    /// Take over a lease whose heartbeat is stale although its holder cannot be proven dead.
    public var forceLease: Bool
    /// The signals that stop the trader gracefully (`arb run`: SIGINT and SIGTERM).
    public var shutdownSignals: [UnixSignal]

    public init(config: TraderConfig, seed: UInt64, marketData: MarketDataSource, environment: [String: String],
                faults: FaultPoints, demoOpening: Bool = false, forceLease: Bool = false,
                shutdownSignals: [UnixSignal] = [.sigint, .sigterm]) {
        self.forceLease = forceLease
        self.shutdownSignals = shutdownSignals
        self.config = config
        self.seed = seed
        self.marketData = marketData
        self.environment = environment
        self.faults = faults
        self.demoOpening = demoOpening
    }
}

/// Operating errors that stop `arb run` before it trades, each one line.
public enum TraderError: Error, Sendable, CustomStringConvertible {
    case leaseHeld(LeaseRefusal)
    case leaseLost(path: String)
    case locked(path: String)

    public var description: String {
        switch self {
        case .leaseHeld(let refusal):
            refusal.description
        case .locked(let path):
            "\(path) is locked by another writer (still locked after the busy timeout); find the process holding it (e.g. `fuser \(path)`) and try again"
        case .leaseLost(let path):
            "the runner lease on \(path) was taken over by another process; stopping"
        }
    }
}

/// `arb run`: recovery first, then detection and execution until the market data ends, the
/// duration passes or a stop signal arrives; then in-flight work finishes and a summary is read
/// back from the database.
public enum Trader {
    static let heartbeatMilliseconds: Int64 = 1_000
    /// A lease whose heartbeat is older than this may be taken over (from another host).
    public static let leaseStaleMilliseconds: Int64 = 15_000

    public static func run(_ options: TraderOptions, stop: StopSignal, clock: any TradingClock = SystemClock(),
                           logger: Logger) async throws -> RunSummary {
        let config = options.config
        let started = clock.nowMilliseconds()
        let sinks = AlertDispatcher.makeSinks(config: config.alerts, alertFilePath: config.alertFilePath,
                                              environment: options.environment)
        try makeParentDirectory(of: config.databasePath)
        let store = try Store(path: config.databasePath, access: .createIfMissing, durability: config.durability,
                              alertSinks: sinks.map(\.name))
        let me = LeaseHolder(owner: "arb run", pid: getpid(), host: hostName(), startedAtMilliseconds: started,
                             heartbeatAtMilliseconds: started)
        let lease: LeaseResult
        do {
            lease = try LeaseStanding.take(store, me: me, force: options.forceLease, now: started)
        } catch let error as SQLiteError where error.isBusy {
            throw TraderError.locked(path: config.databasePath)
        } catch let refusal as LeaseRefusal {
            throw TraderError.leaseHeld(refusal)
        }
        switch lease {
        case .heldBy: preconditionFailure("LeaseStanding.take throws rather than return heldBy")
        case .tookOver(let previous): logger.warning("took over the lease of \(previous) (dead or stale)")
        case .acquired: break
        }
        let firstID = try store.highestOpportunityID()
        let ledger = Ledger(store: store)

        let venues = try makeVenues(config, runSeed: options.seed, clock: clock,
                                    opening: options.demoOpening ? config.venues.keys.sorted().first.map(PaperOpeningScript.init) : nil)
        let router = EventRouter()
        let executor = Executor(ledger: ledger, venues: venues, router: router, clock: clock, execution: config.execution,
                                risk: config.risk, faults: options.faults, logger: logger)

        // The long-running parts as services of one group. On SIGINT/SIGTERM, or when trading
        // ends (its duration, its file, a lost lease), the group shuts them down gracefully in
        // reverse order: trading first (no new opportunities, in-flight ones finish), then alert
        // delivery (drained), the heartbeat, the venues' feeds, and last the recorder of fills
        // no execution owns (it drains its queue).
        let outbox = try StoreAlertOutbox(path: config.databasePath)
        let dispatcher = AlertDispatcher(outbox: outbox, sinks: sinks, clock: clock, logger: logger)
        let trading = TradingService(options: options, ledger: ledger, executor: executor, venues: venues, stop: stop,
                                     clock: clock, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: OrphanRecorderService(router: router, ledger: ledger, clock: clock, logger: logger)),
                .init(service: VenueFeedsService(venues: venues, router: router)),
                .init(service: LeaseHeartbeatService(ledger: ledger, holder: me, databasePath: config.databasePath,
                                                     stop: stop, clock: clock, logger: logger)),
                .init(service: AlertDeliveryService(dispatcher: dispatcher, sinks: sinks)),
                .init(service: trading, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: options.shutdownSignals,
            logger: Logger(label: "arb.services", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await group.run()
        let (summary, recovery) = try trading.result()

        var final = try await ledger.withStore { try RunSummary.read($0, sinceID: firstID) }
        final.quotes = summary.quotes
        final.quotesSkipped = summary.quotesSkipped
        final.candidates = summary.candidates
        final.recovery = recovery
        final.halted = try await ledger.haltState()
        final.elapsedMilliseconds = clock.nowMilliseconds() - started
        // Released on a clean exit only: after a crash or an error the lease is taken over by
        // the pid check (this host) or its stale heartbeat.
        try await ledger.withStore { try $0.releaseLease(pid: me.pid, host: me.host) }
        return final
    }

    /// Recovery before the first new trade (DESIGN §6), then the risk gate from the database.
    static func recover(ledger: Ledger, venues: [String: any Venue], gate: RiskGate, clock: any TradingClock,
                        logger: Logger) async throws -> ReconcileReport {
        let recovery = try await Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger).run()
        logger.info("recovery: \(recovery.examined) non-terminal opportunities examined, \(recovery.actions.count) actions, closed \(recovery.closedByOutcome.map { "\($0.key.rawValue) \($0.value)" }.sorted()), \(recovery.needsAttention.count) need attention")
        for finding in recovery.needsAttention {
            logger.warning("recovery: opportunity \(finding.opportunityID) left in \(finding.state): \(finding.reason)")
        }
        try await restoreRisk(gate, ledger: ledger, now: clock.nowMilliseconds())
        return recovery
    }

    /// The detection loop; executions run concurrently as child tasks and are all finished when
    /// this returns.
    static func trade(_ options: TraderOptions, executor: Executor, venues: [String: any Venue], stop: StopSignal,
                      clock: any TradingClock, logger: Logger, summary: inout RunSummary) async {
        var detector = Detector(config: options.config, venueFees: venues.mapValues(\.feeModel))
        var quotes = 0
        var skipped = 0
        var candidates = 0
        await withDiscardingTaskGroup { executions in
            func consider(_ candidate: Candidate) {
                candidates += 1
                executions.addTask { _ = await executor.run(candidate) }
            }
            switch options.marketData {
            case .generator(let duration):
                var generator = DemoQuoteGenerator(config: options.config, seed: options.seed)
                let end = clock.nowMilliseconds() + duration
                while !stop.isStopped, clock.nowMilliseconds() < end {
                    let now = clock.nowMilliseconds()
                    for _ in 0..<8 {
                        let quote = generator.next(nowMilliseconds: now)
                        quotes += 1
                        if let candidate = detector.update(quote, nowMilliseconds: now) { consider(candidate) }
                    }
                    try? await clock.sleep(milliseconds: 2)
                }
            case .replay(let path):
                do {
                    var reader = try QuoteFileReader(
                        path: path, instrumentsByVenue: options.config.instrumentsByVenue,
                        onSkip: { logger.warning("market data: \(path) \($0)") })
                    while !stop.isStopped, let quote = try reader.next() {
                        quotes += 1
                        if let candidate = detector.update(quote, nowMilliseconds: quote.timestampMilliseconds) {
                            consider(candidate)
                        }
                        if quotes % 256 == 0 { await Task.yield() }
                    }
                    skipped = reader.stats.skippedTotal
                    logger.info("market data: \(reader.stats)")
                } catch {
                    logger.error("\(error)")
                }
            }
            if stop.isStopped { logger.notice("stop requested: no new opportunities; finishing those in flight") }
        }
        summary.quotes = quotes
        summary.quotesSkipped = skipped
        summary.candidates = candidates
    }

    /// A fill for an order no execution owns (a fill after close, an unknown order) is still a
    /// fill: record it, and raise an alert — it changes exposure.
    static func handleOrphans(_ events: OrphanQueue, ledger: Ledger, logger: Logger, clock: any TradingClock) async {
        for await event in events {
            guard case .fill(let fill) = event else { continue }
            let now = clock.nowMilliseconds()
            do {
                let databaseID = ledger.databaseID
                let result = try await ledger.withStore { store in
                    try store.recordUnownedFill(fill, at: now) { result, store in
                        let opportunity = try store.leg(clientOrderID: fill.clientOrderID)?.opportunityID
                        var alerts: [(NewAlert, OpportunityID?)] = [
                            (LateFillAlert.make(databaseID: databaseID, fill: fill, result: result), opportunity)]
                        // A late fill can unbalance the legs: that exposure gets its one-sided alert
                        // too (idempotent by key, so an existing one stands).
                        if result == .recorded, let opportunity, let record = try store.opportunity(opportunity) {
                            let legs = try store.legs(of: opportunity)
                            if legs.count == 2, AlertRule.oneSidedDue(filledA: legs[0].filledQuantity, filledB: legs[1].filledQuantity) {
                                alerts.append((Reconciler.alert(record, legs: legs, databaseID: databaseID, phase: .detected), opportunity))
                            }
                        }
                        return alerts
                    }
                }
                switch result {
                case .duplicate: continue
                case .recorded:
                    logger.critical("late fill \(fill.tradeID) on \(fill.clientOrderID) after its execution ended: \(fill.quantity) @ \(fill.price)")
                case .unknownOrder, .exceedsOrder:
                    logger.critical("fill \(fill.tradeID) for \(fill.clientOrderID) refused: \(result)")
                }
            } catch {
                logger.error("cannot record fill \(fill.tradeID): \(error)")
            }
        }
    }

    /// Exposure and the day's one-sided closes from the database, so a restart keeps its limits.
    static func restoreRisk(_ gate: RiskGate, ledger: Ledger, now: Int64) async throws {
        let day = now / 86_400_000
        let (open, oneSidedToday) = try await ledger.withStore { try $0.riskState(oneSidedSinceMilliseconds: day * 86_400_000) }
        var exposure: [String: Money] = [:]
        var live: [String] = []
        for row in open {
            let opportunity = row.opportunity
            if !opportunity.state.isTerminal {
                // Still open: its whole reservation (both legs at their limits, with fees).
                exposure[opportunity.eventID, default: .zero] += Money(price: opportunity.legA.price, quantity: opportunity.quantity)
                    + Money(price: opportunity.legB.price, quantity: opportunity.quantity) + opportunity.expectedFees
                live.append(opportunity.dedupKey)
            } else {
                exposure[opportunity.eventID, default: .zero] += Exposure(row).atRisk
            }
        }
        gate.restore(exposureByEvent: exposure, liveKeys: live, oneSidedClosesToday: oneSidedToday, day: day)
    }

    /// The venues a config names. `arb run` and `arbadmin reconcile` build them the same way.
    public static func makeVenues(_ config: TraderConfig, runSeed: UInt64, clock: any TradingClock,
                                  opening: PaperOpeningScript? = nil) throws -> [String: any Venue] {
        var venues: [String: any Venue] = [:]
        for (name, venueConfig) in config.venues.sorted(by: { $0.key < $1.key }) {
            switch venueConfig.kind {
            case .paper:
                let path = config.paperStatePath(venue: name)
                try makeParentDirectory(of: path)
                venues[name] = try PaperVenue(name: name, path: path, fillModel: venueConfig.paper.fillModel,
                                              feeModel: venueConfig.fee, runSeed: runSeed, clock: clock,
                                              opening: opening)
            }
        }
        return venues
    }

    static func makeParentDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard !directory.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether a process with this pid exists on this host (signal 0 probes without sending).
    public static func processIsAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}


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

extension TraderOptions {
    /// `arb run`'s flags resolved as every run resolves them: the `--config` file (else the
    /// built-in paper demo, with its opening move), `--db` over the config's database, a replay
    /// file checked readable before any file is created or recovery runs (else generated quotes
    /// for `durationSeconds`, default 5), and `ARB_CRASH_AT` from the environment. A venue that
    /// trades real money (Kalshi's `prod`) needs `live`, so a copied config cannot place
    /// real-money orders by accident. A refusal is one line naming the problem: a usage error.
    public static func resolve(configPath: String?, databasePath: String?, seed: UInt64, durationSeconds: Double?,
                               marketDataPath: String?, forceLease: Bool, live: Bool = false,
                               environment: [String: String]) throws(TraderUsageError) -> TraderOptions {
        let faults: FaultPoints
        switch FaultPoints.fromEnvironment(environment) {
        case .success(let points): faults = points
        case .failure(let error): throw TraderUsageError(description: error.description)
        }
        var config: TraderConfig
        do {
            config = try configPath.map { path throws(ConfigError) in try TraderConfig.load(path: path) } ?? TraderConfig.demo()
        } catch {
            throw TraderUsageError(description: error.description)
        }
        if let databasePath { config.databasePath = databasePath }
        if !live, let (name, venue) = config.venues.sorted(by: { $0.key < $1.key }).first(where: { $0.value.tradesRealMoney }) {
            throw TraderUsageError(description: "venues.\(name) trades real money (\(venue.kind.rawValue) prod); "
                + "add --live to confirm, or use its demo environment")
        }
        if marketDataPath != nil, let (name, venue) = config.venues.sorted(by: { $0.key < $1.key }).first(where: { $0.value.tradesRealMoney }) {
            throw TraderUsageError(description: "venues.\(name) trades real money (\(venue.kind.rawValue) prod) and --market-data "
                + "replays prices it did not give; trade it on its own book (drop --market-data), or replay against its demo")
        }
        if let marketDataPath { try checkReadable(marketData: marketDataPath) }
        let source: MarketDataSource = marketDataPath.map { .replay(path: $0) }
            ?? .generator(durationMilliseconds: Int64((durationSeconds ?? 5) * 1_000))
        return TraderOptions(config: config, seed: seed, marketData: source, environment: environment, faults: faults,
                             demoOpening: configPath == nil, forceLease: forceLease)
    }

    /// A replay file that cannot be opened is refused up front (the trader would otherwise log
    /// it, trade nothing and exit 0). A FIFO or device is not opened here: that open would wait
    /// for a writer, and closing it would cut the stream.
    static func checkReadable(marketData path: String) throws(TraderUsageError) {
        var status = stat()
        if stat(path, &status) == 0 {
            let kind = status.st_mode & S_IFMT
            if kind != S_IFREG && kind != S_IFDIR { return }
        }
        do {
            _ = try QuoteFileReader(path: path)
        } catch {
            throw TraderUsageError(description: "\(error)")
        }
    }
}

/// A flag, file or environment value `arb run` refuses before it opens anything (exit 2).
public struct TraderUsageError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Operating errors that stop `arb run` before it trades, each one line.
public enum TraderError: Error, Sendable, CustomStringConvertible {
    case leaseHeld(LeaseRefusal)
    case leaseLost(path: String)
    case locked(path: String)
    /// A venue disagrees with the config (a market's tick size, neg-risk flag, tokens or fee).
    case venueDisagrees([String])

    public var description: String {
        switch self {
        case .venueDisagrees(let refusals):
            refusals.joined(separator: "; ") + " — fix the config; nothing was traded"
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
        let me = LeaseHolder(owner: "arb run", pid: getpid(), host: hostName(), startedAtMilliseconds: started,
                             heartbeatAtMilliseconds: started)
        var parts = TraderAssembly.Options()
        parts.runSeed = options.seed
        parts.demoOpening = options.demoOpening
        parts.forceLease = options.forceLease
        let assembly: TraderAssembly
        do {
            assembly = try TraderAssembly.open(config: config, holder: me, environment: options.environment, clock: clock,
                                               logger: logger, options: parts)
        } catch let error as SQLiteError where error.isBusy {
            throw TraderError.locked(path: config.databasePath)
        } catch let refusal as LeaseRefusal {
            throw TraderError.leaseHeld(refusal)
        }
        if let previous = assembly.tookOverFrom { logger.warning("took over the lease of \(previous) (dead or stale)") }
        for warning in config.pairingWarnings { logger.warning("\(warning)") }
        let ledger = assembly.ledger
        let executor = Executor(ledger: ledger, venues: assembly.venues, router: assembly.router, clock: clock,
                                execution: config.execution, risk: config.risk, faults: options.faults, logger: logger,
                                unwind: assembly.unwindContext())

        // Trading runs last in the assembly's service group. On SIGINT/SIGTERM, or when it ends
        // (its duration, its file, a lost lease), the group shuts down gracefully in reverse
        // order: trading first (no new opportunities, in-flight ones finish; executions are
        // never cut off half way), then alert delivery (drained), the heartbeat, the venues'
        // feeds, and last the recorder of fills no execution owns (it drains its queue).
        let venues = assembly.venues
        let (summary, recovery) = try await assembly.run(stop: stop, shutdownSignals: options.shutdownSignals) {
            // Each venue agrees with the config (markets, fees) before anything is traded.
            var refusals: [String] = []
            for name in venues.keys.sorted() { refusals += await venues[name]!.startChecks().map { "venues.\(name): \($0)" } }
            if !refusals.isEmpty { throw TraderError.venueDisagrees(refusals) }
            let recovery = try await recover(ledger: ledger, venues: venues, gate: executor.gate, clock: clock, logger: logger)
            if EarlyStopSignals.wasReceived {
                logger.notice("stop requested while starting: recovery done; no new opportunities")
                stop.stop()
            }
            var summary = RunSummary()
            await withGracefulShutdownHandler {
                await trade(options, executor: executor, venues: venues, marks: assembly.marks, ledger: ledger, stop: stop,
                            clock: clock, logger: logger, summary: &summary)
            } onGracefulShutdown: {
                stop.stop()
            }
            return (summary, recovery)
        }

        var final = try await ledger.withStore { [firstID = assembly.firstOpportunityID] in try RunSummary.read($0, sinceID: firstID) }
        final.quotes = summary.quotes
        final.quotesSkipped = summary.quotesSkipped
        final.candidates = summary.candidates
        final.bookFeeds = summary.bookFeeds
        final.recovery = recovery
        final.halted = try await ledger.haltState()
        final.elapsedMilliseconds = clock.nowMilliseconds() - started
        // Released on a clean exit only: after a crash or an error the lease is taken over by
        // the pid check (this host) or its stale heartbeat.
        try await assembly.releaseLease()
        return final
    }

    /// Recovery before the first new trade (DESIGN §6), then the risk gate from the database.
    static func recover(ledger: Ledger, venues: [String: any Venue], gate: RiskGate, clock: any TradingClock,
                        logger: Logger) async throws -> ReconcileReport {
        let recovery = try await Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger,
                                                 concurrency: Reconciler.concurrencyForRuns).run()
        logger.info("recovery: \(recovery.examined) non-terminal opportunities examined, \(recovery.actions.count) actions, closed \(recovery.closedByOutcome.map { "\($0.key.rawValue) \($0.value)" }.sorted()), \(recovery.needsAttention.count) need attention")
        for finding in recovery.needsAttention {
            logger.warning("recovery: opportunity \(finding.opportunityID) left in \(finding.state): \(finding.reason)")
        }
        try await restoreRisk(gate, ledger: ledger, now: clock.nowMilliseconds())
        return recovery
    }

    /// Writes the feeds' state to the database (for `arbadmin status`); a failure is logged, not fatal.
    static func statusPublisher(_ ledger: Ledger, clock: any TradingClock, logger: Logger) -> @Sendable ([BookFeedStatus]) async -> Void {
        { statuses in
            let json = VenueBookFeeds.json(statuses)
            do {
                try await ledger.withStore { try $0.recordBookStatus(json, atMilliseconds: clock.nowMilliseconds()) }
            } catch {
                logger.error("book status not recorded: \(error)")
            }
        }
    }

    /// The detection loop; executions run concurrently as child tasks and are all finished when
    /// this returns.
    static func trade(_ options: TraderOptions, executor: Executor, venues: [String: any Venue], marks: MarkBook? = nil,
                      ledger: Ledger? = nil, stop: StopSignal, clock: any TradingClock, logger: Logger, summary: inout RunSummary) async {
        var detector = Detector(config: options.config, venueFees: venues.mapValues(\.feeModel))
        var feedStatuses: [BookFeedStatus] = []
        var quotes = 0
        var skipped = 0
        var candidates = 0
        await withDiscardingTaskGroup { executions in
            // A candidate's risk gate and begin commit run on this task (`Executor.take`): its
            // hop into the ledger continues on this thread, where a child task's first hop would
            // enqueue the ledger's job and wait for it (10 µs at p50 on arb-bench's
            // detect_to_submit, and a wake that could put another thread on this CPU). The loop
            // reads the next quote a begin commit later; a second candidate's commit would have
            // waited for this one's anyway (one writer). The legs are then sent and driven in an
            // immediate child task, which runs on this thread until its submits first suspend.
            func consider(_ candidate: Candidate) async {
                candidates += 1
                await executor.take(candidate, in: &executions)
            }
            /// One quote as the detector takes it: kept for marking open exposure, then detected on.
            func see(_ quote: Quote, now: Int64) async {
                marks?.record(quote)
                if let candidate = detector.update(quote, nowMilliseconds: now) { await consider(candidate) }
            }
            switch options.marketData {
            case .generator(let duration):
                // The generator invents prices for paper venues only; a real venue's come from
                // its own book feed.
                var generator = DemoQuoteGenerator(config: options.config, seed: options.seed)
                let paper = Set(options.config.venues.filter { $0.value.kind == .paper }.map(\.key))
                let books = VenueBookFeeds(config: options.config, venues: venues, clock: clock, logger: logger)
                // Each second the feeds' state goes to the database for `arbadmin status`.
                let publish = ledger.map { statusPublisher($0, clock: clock, logger: logger) }
                let feeding = Task { await books.run(publish: publish, clock: clock) }
                defer { feeding.cancel() }
                var current = CurrentBookQuotes()
                let end = clock.nowMilliseconds() + duration
                while !stop.isStopped, clock.nowMilliseconds() < end {
                    let now = clock.nowMilliseconds()
                    for _ in 0..<8 {
                        let quote = generator.next(nowMilliseconds: now)
                        guard paper.contains(quote.venue) else { continue }
                        quotes += 1
                        await see(quote, now: now)
                    }
                    for quote in books.drain().flatMap(\.detectorQuotes) {
                        quotes += 1
                        current.record(quote)
                        await see(quote, now: now)
                    }
                    for quote in current.restated(now: now) { await see(quote, now: now) }
                    await books.waitForEvents(orMilliseconds: 2, clock: clock)
                }
                feedStatuses = books.statuses
            case .replay(let path):
                do {
                    var reader = try QuoteFileReader(
                        path: path, instrumentsByVenue: options.config.instrumentsByVenue,
                        onSkip: { logger.warning("market data: \(path) \($0)") })
                    while !stop.isStopped, let quote = try reader.next() {
                        quotes += 1
                        await see(quote, now: quote.timestampMilliseconds)
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
        summary.bookFeeds = feedStatuses
    }

    /// A fill for an order no execution owns (a fill after close, an unknown order) is still a
    /// fill: record it, and raise an alert — it changes exposure. A write the store refuses is
    /// tried again by `retry`; the fills still unrecorded after that are returned (each logged as
    /// critical with everything needed to enter it by hand), and the caller fails the run.
    @discardableResult
    static func handleOrphans(_ events: OrphanQueue, ledger: Ledger, logger: Logger, clock: any TradingClock,
                              retry: RecordRetry = .standard) async -> [FillReport] {
        var unrecorded: [FillReport] = []
        for await event in events {
            guard case .fill(let fill) = event else { continue }
            var attempt = 1
            while true {
                do {
                    try await recordOrphan(fill, ledger: ledger, logger: logger, clock: clock)
                    break
                } catch {
                    guard attempt < retry.attemptsMax else {
                        logger.critical("fill NOT recorded after \(attempt) attempts: trade \(fill.tradeID) at \(fill.venue) on order \(fill.clientOrderID), \(fill.quantity) @ \(fill.price), fee \(fill.fee): \(error)")
                        unrecorded.append(fill)
                        break
                    }
                    logger.error("cannot record fill \(fill.tradeID) (attempt \(attempt) of \(retry.attemptsMax)): \(error)")
                    try? await clock.sleep(milliseconds: retry.delayMilliseconds(afterAttempt: attempt))
                    attempt += 1
                }
            }
        }
        return unrecorded
    }

    private static func recordOrphan(_ fill: FillReport, ledger: Ledger, logger: Logger, clock: any TradingClock) async throws {
        let now = clock.nowMilliseconds()
        let databaseID = ledger.databaseID
        let result = try await ledger.withStore { store in
            try store.recordUnownedFill(fill, at: now) { result, store in
                let opportunity = try store.leg(clientOrderID: fill.clientOrderID)?.opportunityID
                var alerts: [(NewAlert, OpportunityID?)] = [
                    (LateFillAlert.make(databaseID: databaseID, fill: fill, result: result), opportunity)]
                // A late fill can unbalance the legs: that exposure gets its one-sided alert
                // too (idempotent by key, so an existing one stands).
                if result == .recorded || result == .reversed, let opportunity, let record = try store.opportunity(opportunity) {
                    let legs = try store.legs(of: opportunity)
                    if legs.count == 2, AlertRule.oneSidedDue(filledA: legs[0].filledQuantity, filledB: legs[1].filledQuantity) {
                        alerts.append((Reconciler.alert(record, legs: legs, databaseID: databaseID, phase: .detected), opportunity))
                    }
                }
                return alerts
            }
        }
        switch result {
        case .duplicate: break
        case .confirmed:
            logger.info("fill \(fill.tradeID) on \(fill.clientOrderID) confirmed by \(fill.venue)")
        case .reversed:
            logger.critical("fill \(fill.tradeID) on \(fill.clientOrderID) undone by \(fill.venue) (its trade failed) after its execution ended: \(fill.quantity) @ \(fill.price)")
        case .recorded:
            logger.critical("late fill \(fill.tradeID) on \(fill.clientOrderID) after its execution ended: \(fill.quantity) @ \(fill.price)")
        case .unknownOrder, .exceedsOrder:
            logger.critical("fill \(fill.tradeID) for \(fill.clientOrderID) refused: \(result)")
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

    /// The venues a config names (``TraderAssembly`` and `arbadmin reconcile --dry-run` build them here).
    /// The configured venues. A Kalshi venue reads its key id and key file from the config or
    /// `environment`, and finds orders a previous process sent through `ledger`.
    public static func makeVenues(_ config: TraderConfig, runSeed: UInt64, clock: any TradingClock,
                                  opening: PaperOpeningScript? = nil, environment: [String: String] = [:],
                                  ledger: LedgerSlot? = nil,
                                  logger: Logger = Logger(label: "arb.venues", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws -> [String: any Venue] {
        var venues: [String: any Venue] = [:]
        for (name, venueConfig) in config.venues.sorted(by: { $0.key < $1.key }) {
            switch venueConfig.settings {
            case .paper(let paper):
                let path = config.paperStatePath(venue: name)
                try makeParentDirectory(of: path)
                var feeByInstrument: [String: FeeModel] = [:]
                for event in config.events {
                    guard let fee = event.fees[name] else { continue }
                    for instrument in (event.instruments[name] ?? [:]).values { feeByInstrument[instrument] = fee }
                }
                venues[name] = try PaperVenue(name: name, path: path, fillModel: paper.fillModel,
                                              feeModel: venueConfig.fee, feeByInstrument: feeByInstrument, runSeed: runSeed, clock: clock,
                                              opening: opening)
            case .kalshi(let kalshi):
                venues[name] = try KalshiVenueFactory.make(name: name, settings: kalshi, fee: venueConfig.fee, config: config,
                                                           environment: environment, ledger: ledger, clock: clock,
                                                           logger: logger)
            case .polymarket(let polymarket):
                venues[name] = try PolymarketVenueFactory.make(name: name, settings: polymarket, fee: venueConfig.fee,
                                                               config: config, environment: environment, ledger: ledger,
                                                               clock: clock, logger: logger)
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


import Foundation
import Logging
import OrderStateMachine
import ServiceLifecycle
import UnixSignals

/// The trader's parts, wired in one place: the database opened and its runner lease taken, the
/// single writer (`Ledger`), the venues the config names, the router of their events and alert
/// delivery. `arb run`, `arbadmin reconcile` and `arb simulate` each open one and choose what
/// runs on it; none of them builds these parts itself.
///
/// Order matters and is fixed here: the lease is taken before a venue file is opened, so two
/// processes never hold one paper venue; if a later part cannot be opened the lease is released.
public struct TraderAssembly: Sendable {
    /// What differs between the callers; the defaults are `arb run`'s.
    public struct Options: Sendable {
        /// `arb run` creates a missing database; `arbadmin reconcile` only opens an existing one.
        public var access: DatabaseFile.Access = .createIfMissing
        /// The database's and the alert outbox's durability; `nil`: the config's.
        public var durability: Durability?
        /// Where alerts go; `nil`: the config's sinks (console, file, webhook from the environment).
        public var sinks: [any AlertSink]?
        /// Mixed into the paper venues' fill model (only new orders' fates depend on it).
        public var runSeed: UInt64 = 0
        /// The built-in demo's opening move on the first venue.
        public var demoOpening = false
        /// Take over a stale lease whose holder cannot be proven dead (`--force`).
        public var forceLease = false
        /// Whether a pid on this holder's host is alive (the simulator's processes are not real).
        public var isAlive: @Sendable (Int32) -> Bool = { Trader.processIsAlive($0) }
        /// A new database's id (the simulator's is derived from its seed).
        public var newDatabaseID: @Sendable () -> String = { DatabaseFile.randomDatabaseID() }
        /// Runs before each write commits (the simulator's dead process refuses them).
        public var commitHook: (@Sendable () throws -> Void)?

        public init() {}
    }

    /// The venues could not be opened; the lease taken for them was released.
    public struct VenuesUnavailable: Error, Sendable, CustomStringConvertible {
        public let underlying: any Error
        public var description: String { "cannot open the venues: \(underlying)" }
    }

    public let config: TraderConfig
    public let databasePath: String
    public let holder: LeaseHolder
    /// The holder whose lease this one took over (dead, or stale with `forceLease`), if any.
    public let tookOverFrom: LeaseHolder?
    /// The highest opportunity id when the lease was taken: this process's own come after it.
    public let firstOpportunityID: OpportunityID
    public let ledger: Ledger
    public let venues: [String: any Venue]
    public let router: EventRouter
    public let sinks: [any AlertSink]
    public let dispatcher: AlertDispatcher
    /// The latest bids the trader saw, for marking open exposure in reminders.
    public let marks: MarkBook
    public let clock: any TradingClock
    public let logger: Logger

    /// Opens the database at `config.databasePath` (its directory made if missing), takes the
    /// runner lease for `holder` by ``LeaseStanding`` (a refusal throws ``LeaseRefusal``), then
    /// opens the venues and the alert outbox.
    public static func open(config: TraderConfig, holder: LeaseHolder, environment: [String: String],
                            clock: any TradingClock, logger: Logger, options: Options = Options()) throws -> TraderAssembly {
        let path = config.databasePath
        let durability = options.durability ?? config.durability
        let sinks = try options.sinks ?? AlertDispatcher.makeSinks(config: config.alerts, alertFilePath: config.alertFilePath,
                                                               environment: environment)
        if options.access == .createIfMissing { try Trader.makeParentDirectory(of: path) }
        // Checkpoints in the background: the trader's commits are on detect → submit.
        let store = try Store(path: path, access: options.access, durability: durability, alertSinks: sinks.map(\.name),
                              checkpoints: .background, newDatabaseID: options.newDatabaseID)
        store.alertSinkMinimums = Dictionary(uniqueKeysWithValues: sinks.map { ($0.name, $0.minSeverity) })
        if let hook = options.commitHook { store.commitHook = hook }
        let tookOverFrom = try LeaseStanding.take(store, me: holder, force: options.forceLease, now: clock.nowMilliseconds(),
                                                  isAlive: options.isAlive)
        let firstID = try store.highestOpportunityID()
        // The venues find earlier orders through the ledger, which takes the store last.
        let ledgerSlot = LedgerSlot()
        let venues: [String: any Venue]
        do {
            let opening = options.demoOpening ? config.venues.keys.sorted().first.map(PaperOpeningScript.init) : nil
            venues = try Trader.makeVenues(config, runSeed: options.runSeed, clock: clock, opening: opening,
                                           environment: environment, ledger: ledgerSlot, logger: logger)
        } catch {
            try? store.releaseLease(pid: holder.pid, host: holder.host)
            throw VenuesUnavailable(underlying: error)
        }
        let outbox: StoreAlertOutbox
        do {
            outbox = try StoreAlertOutbox(path: path, durability: durability)
        } catch {
            try? store.releaseLease(pid: holder.pid, host: holder.host)
            throw error
        }
        let ledger = Ledger(store: store)
        ledgerSlot.fill(ledger)
        return TraderAssembly(
            config: config, databasePath: path, holder: holder, tookOverFrom: tookOverFrom, firstOpportunityID: firstID,
            ledger: ledger, venues: venues, router: EventRouter(), sinks: sinks,
            dispatcher: AlertDispatcher(outbox: outbox, sinks: sinks, clock: clock, logger: logger,
                                        sinkDownAlertMilliseconds: config.alerts.sinkDownAlertMinutes > 0
                                            ? config.alerts.sinkDownAlertMinutes * 60_000 : nil),
            marks: MarkBook(trustedForMilliseconds: config.detection.quoteStalenessMilliseconds), clock: clock, logger: logger)
    }

    /// Marks an exposure at the trader's latest trusted bid, with the fee model the detector uses
    /// for that event's market at that venue.
    func marker() -> ExposureReminders.Marker {
        let venueFees = venues.mapValues(\.feeModel)
        let eventFees = Dictionary(config.events.map { ($0.eventID, $0.fees) }, uniquingKeysWith: { first, _ in first })
        let marks = self.marks
        return { eventID, exposure, legs, now in
            ExposureMark(exposure: exposure, legs: legs, book: marks,
                         fee: { venue in eventFees[eventID]?[venue] ?? venueFees[venue] ?? .free }, now: now)
        }
    }

    /// What the executor unwinds with (`unwind` in the config): the trader's latest quotes, each
    /// event's other outcome per venue, the fee model per event and venue (the detector's), and
    /// each instrument's price grid (a Polymarket market's tick size; cents at Kalshi; $0.001 on
    /// paper, the demo's grid). Nil when unwinding is off. `unwind` replaces the config's section
    /// (`arbadmin unwind`'s policy and bound).
    func unwindContext(_ unwind: UnwindConfig? = nil) -> UnwindContext? {
        let unwind = unwind ?? config.unwind
        guard unwind.policy != .off else { return nil }
        let venueFees = venues.mapValues(\.feeModel)
        let events = Dictionary(config.events.map { ($0.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        var grids: [String: Int64] = [:]
        for event in config.events {
            for (venue, market) in event.markets {
                for token in (event.instruments[venue] ?? [:]).values { grids["\(venue) \(token)"] = market.tickSize.priceTicks }
            }
        }
        let kinds = config.venues.mapValues(\.kind)
        let gridByInstrument = grids
        return UnwindContext(
            config: unwind, marks: marks,
            oppositeInstrument: { eventID, venue, instrument in
                guard let byOutcome = events[eventID]?.instruments[venue],
                      let held = byOutcome.first(where: { $0.value == instrument })?.key else { return nil }
                return byOutcome.first { $0.key != held }?.value
            },
            fee: { eventID, venue in events[eventID]?.fees[venue] ?? venueFees[venue] ?? .free },
            gridTicks: { venue, instrument in
                if let grid = gridByInstrument["\(venue) \(instrument)"] { return grid }
                return kinds[venue] == .paper ? 10 : 100
            })
    }

    /// Recovery (DESIGN §6) through the one `Reconciler`.
    public func reconcile(dryRun: Bool = false) async throws -> ReconcileReport {
        try await Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger, concurrency: Reconciler.concurrencyForRuns).run(dryRun: dryRun)
    }

    /// The services that keep the parts working, in the order a `ServiceGroup` starts them (and
    /// the reverse of its graceful shutdown): the recorder of fills no execution owns (last to
    /// stop: it drains its queue), the venues' feeds (`feeds: false` leaves the venues' events
    /// unread: reconcile asks the venues itself), the lease heartbeat (a lost lease stops `stop`),
    /// and alert delivery (drained at shutdown). The caller's own service goes after these.
    public func supportServices(stop: StopSignal, feeds: Bool = true) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if feeds {
            services.append(.init(service: OrphanRecorderService(router: router, ledger: ledger, clock: clock, logger: logger)))
            services.append(.init(service: VenueFeedsService(venues: venues, router: router)))
        }
        services.append(.init(service: LeaseHeartbeatService(ledger: ledger, holder: holder, databasePath: databasePath,
                                                             stop: stop, clock: clock, logger: logger)))
        services.append(.init(service: AlertDeliveryService(dispatcher: dispatcher, sinks: sinks)))
        if feeds {
            services.append(.init(service: ExposureReminderService(
                ledger: ledger, intervalMilliseconds: config.alerts.remindEveryMinutes * 60_000, marker: marker(),
                clock: clock, logger: logger)))
        }
        return services
    }

    /// Gives the lease up (a clean exit only: after a crash the next process takes it over).
    public func releaseLease() async throws {
        let holder = self.holder
        try await ledger.withStore { try $0.releaseLease(pid: holder.pid, host: holder.host) }
    }

    /// Runs `work` after the support services under one `ServiceGroup`. When `work` ends, or
    /// one of `shutdownSignals` arrives, the group shuts down gracefully in reverse order (`work`
    /// first: it sees the shutdown through `withGracefulShutdownHandler` and finishes what it
    /// started). Returns what `work` returned, or rethrows what it threw.
    public func run<Value: Sendable>(stop: StopSignal, feeds: Bool = true, shutdownSignals: [UnixSignal],
                                     _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let main = WorkService(work)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: supportServices(stop: stop, feeds: feeds) + [
                .init(service: main, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: shutdownSignals,
            logger: Logger(label: "arb.services", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await group.run()
        return try main.result()
    }
}

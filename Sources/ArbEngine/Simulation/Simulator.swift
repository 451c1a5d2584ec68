import Foundation
import Synchronization
import Logging
import OrderStateMachine

/// What a simulation run did, and the first thing the auditor found wrong, if anything.
public struct SimulationReport: Sendable, Equatable, Codable {
    public var seed: UInt64 = 0
    public var scenarios = 0
    /// Scenarios that ran more than one opportunity at once.
    public var concurrentScenarios = 0
    public var opportunities = 0
    public var feeEaten = 0
    public var outcomes: [String: Int] = [:]
    public var crashes: [String: Int] = [:]
    /// Why executions were left to recovery, each explained by its scenario's plan.
    public var leftForRecovery: [String: Int] = [:]
    /// Candidates a concurrent twin already held (dedup constraint or risk gate).
    public var duplicates = 0
    public var venueOutages = 0
    public var recoveries = 0
    /// Process lifetimes; each after the first took the lease over from a crashed one or
    /// acquired it after a clean release.
    public var worlds = 0
    public var leaseTakeovers = 0
    public var heartbeats = 0
    public var alertsDelivered = 0
    /// Kill mode: trader databases a SIGKILL left with a non-empty WAL, and the opportunities
    /// the next process's recovery found open.
    public var hotWALs = 0
    public var openAfterKill = 0
    /// Unwind orders placed, and candidates skipped because their market was blocked after too
    /// many unwinds that day (each block checked, then lifted as an operator would).
    public var unwindOrders = 0
    public var blockedSkips = 0
    public var marketBlocks = 0
    public var virtualMilliseconds: Int64 = 0
    /// Empty when every invariant held after every step.
    public var violations: [String] = []
    public var failedScenario: Int?

    public var passed: Bool { violations.isEmpty }
}

/// The simulator's child-process mode (`arb simulate --kill-every N`): this process continues a
/// run from its progress file and, from scenario `killFrom` on, dies by SIGKILL at the first
/// armed fault point, leaving hot WAL files for the next process to recover.
public struct SimulationKillMode: Sendable {
    public var killFrom: Int

    public init(killFrom: Int) { self.killFrom = killFrom }

    /// Where a child records the scenarios it finished (written atomically after each one).
    public static func progressPath(directory: String) -> String {
        (directory as NSString).appendingPathComponent("progress.json")
    }

    /// The next scenario to run, from the progress file (0 without one).
    public static func next(directory: String) -> Int { progress(directory: directory)?.next ?? 0 }

    /// The virtual time the last finished scenario ended at, for the next child's clock.
    public static func clockMilliseconds(directory: String) -> Int64? { progress(directory: directory)?.clockMilliseconds }

    static func progress(directory: String) -> Progress? {
        guard let data = FileManager.default.contents(atPath: progressPath(directory: directory)) else { return nil }
        return try? JSONDecoder().decode(Progress.self, from: data)
    }

    struct Progress: Codable {
        var next: Int
        var clockMilliseconds: Int64
        /// The report so far; its virtual milliseconds cover every predecessor.
        var report: SimulationReport
    }
}

/// The moment a simulated process dies: from then on none of its commits lands (its store's
/// commit hook refuses them), as if everything after the crash had never run.
final class WorldLife: Sendable {
    private let state = Mutex<(dead: Bool, point: FaultPoint?, candidate: Int?)>((false, nil, nil))

    func kill(at point: FaultPoint, candidate: Int) {
        state.withLock { if !$0.dead { $0 = (true, point, candidate) } }
    }

    var isDead: Bool { state.withLock { $0.dead } }
    /// The candidate whose fault point killed the world, and where.
    var killer: (point: FaultPoint, candidate: Int)? {
        state.withLock { state in state.point.map { ($0, state.candidate ?? -1) } }
    }

    /// The commit hook of a world's store.
    func refuseCommitsOnceDead() throws {
        if let (point, _) = killer { throw SimulatedCrash(point: point) }
    }
}

/// The deterministic simulator (TigerBeetle-style): one seed generates every scenario's quotes,
/// venue behaviour (full, partial and no fills, rejects, latency, late fills after a cancel,
/// cancel failures, a submit whose answer is lost although the order arrived, a venue down during
/// recovery), crash points and the order in which runnable tasks run. Each scenario runs one to
/// four opportunities at once, on overlapping or shared events, through the real detector,
/// executor, Store, paper venues, alert dispatcher and lease heartbeat on virtual time. A crash
/// stops every commit of the process at that instant; the simulator drops everything in memory,
/// reopens the files (taking the lease over), runs recovery, restores the risk gate from the
/// database, and after every scenario an auditor checks DESIGN §8 and what the plan implies: an
/// execution left to recovery must have a planned cause, and every opportunity's final outcome
/// must be the one its fates determine.
public enum Simulator {
    public static let eventCount = 8
    /// `max_unwinds_per_market_per_day` here: small, so blocks happen.
    static let maxUnwindsPerMarketPerDay = 3
    /// Blocked markets are lifted (as `arbadmin resume --market` would) every this many scenarios.
    static let resumeBlocksEvery = 20
    static let sinkName = "file"
    /// The lease heartbeat's period here: a tenth of the trader's, so the short worlds between
    /// crashes beat too.
    static let heartbeatMilliseconds: Int64 = 100

    /// Runs `scenarios` scenarios in `directory` (which must be empty or absent, unless `kill`
    /// continues a run there). Call it from a task started on the simulation executor
    /// (`Task(executorPreference:)`, not `withTaskExecutorPreference`, whose closure begins on the
    /// caller's thread) with a `VirtualClock` over it.
    ///
    /// `unwindDecide` is the unwind policy's decision (`UnwindPolicy.decide`); a test swaps in a
    /// broken one to prove the auditor catches it.
    public static func run(seed: UInt64, scenarios: Int, directory: String, clock: VirtualClock,
                           logger: Logger, stopAtFirstFailure: Bool = true,
                           kill: SimulationKillMode? = nil,
                           unwindDecide: @escaping UnwindContext.Decide = UnwindPolicy.decide) async throws -> SimulationReport {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var state = RunState(seed: seed, directory: directory, clock: clock, logger: logger, kill: kill)
        state.unwindDecide = unwindDecide
        state.report.seed = seed
        if kill != nil { try state.loadProgress() }
        // A crash in the last scenario still gets its restart and recovery.
        while state.next < scenarios || state.pendingCrash != nil {
            try await state.runWorld(until: scenarios)
            if !state.report.violations.isEmpty && stopAtFirstFailure { break }
        }
        if state.report.violations.isEmpty {
            // The whole history, once more, from scratch: every alert delivered to the sink too.
            let all = try Invariants.check(databasePath: state.databasePath, paperFiles: state.paperFiles,
                                           options: .init(requireAllClosed: true, sinks: [sinkName]))
            state.report.violations += all.map { "final audit: \($0)" }
        }
        // One seed, one run holds only while every job runs on the executor's thread: its start is
        // the one job from elsewhere. More means work began off it, where neither the virtual
        // clock nor the seed's choice of order reaches.
        let foreign = clock.executor.jobsFromOtherThreads
        if foreign > 1 {
            state.report.violations.append("\(foreign - 1) job(s) reached the simulation's executor from another thread: "
                + "work ran outside the virtual clock and the seed's order, so this run is not reproducible")
        }
        state.report.virtualMilliseconds = state.virtualBase + clock.nowMilliseconds() - clock.epochMilliseconds
        return state.report
    }

    static func config(seed: UInt64) -> TraderConfig {
        var events: [EventPair] = []
        for index in 0..<eventCount {
            events.append(EventPair(
                eventID: "SIM-\(index)", outcomes: ["YES", "NO"],
                instruments: ["kalshi": ["YES": "K\(index)-Y", "NO": "K\(index)-N"],
                              "polymarket": ["YES": "P\(index)-Y", "NO": "P\(index)-N"]]))
        }
        let model = PaperFillModel(
            fullFillPercent: 100, partialFillPercent: 0, restPercent: 0, rejectPercent: 0, ambiguousSubmitPercent: 0,
            lateFillPercent: 0, cancelFailPercent: 0, latencyMillisecondsMin: 1, latencyMillisecondsMax: 5,
            lateFillDelayMillisecondsMax: 1, seed: seed)
        let paper = PaperVenueConfig(stateFile: nil, fillModel: model)
        return TraderConfig(
            databasePath: "arb.db", durability: .normal, events: events,
            venues: ["kalshi": VenueConfig(kind: .paper, fee: .kalshiTaker, paper: paper),
                     "polymarket": VenueConfig(kind: .paper, fee: .polymarketTaker(rateBps: 300, exponent: 1), paper: paper)],
            detection: DetectionConfig(minEdgeBps: 20, minSize: Quantity(contracts: 1), maxSize: Quantity(contracts: 40),
                                       quoteStalenessMilliseconds: 1_000),
            execution: ExecutionConfig(timeInForce: .gtc, fillTimeoutMilliseconds: 200),
            risk: RiskConfig(maxExposurePerEvent: Money(cents: 100_000_000), maxExposureTotal: Money(cents: 100_000_000),
                             maxOneSidedClosesPerDay: 1_000_000, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0),
            alerts: AlertConfig(console: false, filePath: nil, webhookURL: nil),
            // Each scenario draws its own policy and bound (`Plan.unwind`); this turns it on.
            unwind: UnwindConfig(policy: .best, maxUnwindsPerMarketPerDay: maxUnwindsPerMarketPerDay))
    }

    /// A (venue, instrument) book the unwind sees during a scenario.
    struct BookDraw {
        var venue: String
        var instrument: String
        var bid: Price?
        var ask: Price?
    }

    /// One opportunity's draws within a scenario.
    struct CandidatePlan {
        var event: Int
        var priceA: Int64
        var priceB: Int64
        var contracts: Int64
        var fateA: PaperFate
        var fateB: PaperFate

        var instrumentA: String { "K\(event)-Y" }
        var instrumentB: String { "P\(event)-N" }

        /// The outcomes the fates allow once every order is final (nil where timing or an
        /// ambiguous answer decides): a one-sided fill may be unwound when unwinding is on.
        func fatesOutcomes(unwinding: Bool) -> Set<CloseOutcome>? {
            guard let outcome = fatesOutcome else { return nil }
            return outcome == .oneSided && unwinding ? [.oneSided, .completed, .flattened] : [outcome]
        }

        /// The outcome the fates determine without unwinding.
        var fatesOutcome: CloseOutcome? {
            switch (fateA, fateB) {
            case (.fill, .fill): return .hedged
            case (.reject, .reject): return .rejected
            case (.fill, .reject), (.reject, .fill), (.fill, .rest), (.rest, .fill): return .oneSided
            case (.rest, .rest), (.rest, .reject), (.reject, .rest): return .noFill
            default: return nil
            }
        }
    }

    /// One scenario's draws.
    struct Plan {
        var candidates: [CandidatePlan] = []
        var cancelFailsA: Bool
        var cancelFailsB: Bool
        var timeInForce: TimeInForce
        var fillTimeoutMilliseconds: Int64
        var crash: FaultPoint?
        var outageDuringRecovery: Bool
        /// This scenario's unwinding (its policy `off` in some), and the books it sees: around
        /// the candidates' prices, some past any bound, some missing.
        var unwind: UnwindConfig
        var books: [BookDraw] = []

        var unwinding: Bool { unwind.policy != .off }
        /// An ambiguous answer at an instrument an unwind may trade may leave it to recovery.
        var hasAmbiguousFate: Bool {
            candidates.contains { [$0.fateA, $0.fateB].contains { fate in
                switch fate {
                case .ambiguousPlaced, .ambiguousPlacedResting, .ambiguousNotPlaced: true
                default: false
                }
            } }
        }

        init(seed: UInt64, index: Int) {
            var random = SeededGenerator.derived(seed: seed, name: "scenario-\(index)")
            func percent() -> Int { Int(random.next() % 100) }
            func between(_ low: Int64, _ high: Int64) -> Int64 { low + Int64(random.next() % UInt64(high - low + 1)) }
            func fate(size: Int64) -> PaperFate {
                switch percent() {
                case 0..<45: return .fill
                case 45..<57: return .partial(Quantity(contracts: max(1, size / 2)))
                case 57..<68: return .rest
                case 68..<76: return .reject("simulated refusal")
                case 76..<81: return .ambiguousPlaced
                case 81..<85: return .ambiguousPlacedResting
                case 85..<89: return .ambiguousNotPlaced
                default: return .lateFill(afterMilliseconds: between(1, 400))
                }
            }
            // Half the scenarios run one opportunity; the rest two to four at once.
            let count = percent() < 50 ? 1 : Int(between(2, 4))
            for _ in 0..<count {
                let event = Int(random.next() % UInt64(Simulator.eventCount))
                let priceA = between(2_000, 7_000)
                // Asks summing to $0.85…$1.00: mostly worth trading, some eaten by fees.
                let priceB = max(100, between(8_500, 9_990) - priceA)
                let size = between(1, 40)
                var plan = CandidatePlan(event: event, priceA: priceA, priceB: priceB, contracts: size,
                                         fateA: fate(size: size), fateB: fate(size: size))
                // A venue gives an instrument one fate per scenario: a twin on the same event shares it.
                if let twin = candidates.first(where: { $0.event == event }) {
                    plan.fateA = twin.fateA
                    plan.fateB = twin.fateB
                    plan.contracts = twin.contracts
                }
                candidates.append(plan)
            }
            cancelFailsA = percent() < 10
            cancelFailsB = percent() < 10
            timeInForce = [.gtc, .gtc, .gtc, .ioc, .fok][Int(random.next() % 5)]
            fillTimeoutMilliseconds = between(20, 300)
            let crash = percent() < 35 ? FaultPoint.simulated[Int(random.next() % UInt64(FaultPoint.simulated.count))] : nil
            self.crash = crash
            outageDuringRecovery = crash != nil && percent() < 25
            let policies: [UnwindConfig.Policy] = [.off, .complete, .flatten, .best, .best]
            unwind = UnwindConfig(policy: policies[Int(random.next() % UInt64(policies.count))],
                                  maxLossPerContract: Money(micros: between(0, 80_000)), maxAttempts: Int(between(1, 4)),
                                  retryMilliseconds: between(1, 60), maxUnwindsPerMarketPerDay: Simulator.maxUnwindsPerMarketPerDay)
            func level(_ center: Int64, _ low: Int64, _ high: Int64) -> Price? {
                percent() < 10 ? nil : Price(ticks: min(9_999, max(1, center + between(low, high))))
            }
            var drawn: Set<Int> = []
            for candidate in candidates where drawn.insert(candidate.event).inserted {
                // Held YES at kalshi: sold back at K-Y's bid, or completed by P-N's or K-N's ask;
                // held NO at polymarket: sold at P-N's bid, or completed by K-Y's or P-Y's ask.
                let (a, b) = (candidate.priceA, candidate.priceB)
                books.append(BookDraw(venue: "kalshi", instrument: candidate.instrumentA, bid: level(a, -700, 100), ask: level(a, -100, 600)))
                books.append(BookDraw(venue: "polymarket", instrument: candidate.instrumentB, bid: level(b, -700, 100),
                                      ask: level(b, -100, 600)))
                books.append(BookDraw(venue: "kalshi", instrument: "K\(candidate.event)-N", bid: nil, ask: level(10_000 - a, -300, 600)))
                books.append(BookDraw(venue: "polymarket", instrument: "P\(candidate.event)-Y", bid: nil, ask: level(10_000 - b, -300, 600)))
            }
        }

        /// A crash point for a scenario the kill mode must end in, when the plan has none.
        static func killPoint(seed: UInt64, index: Int) -> FaultPoint {
            var random = SeededGenerator.derived(seed: seed, name: "kill-\(index)")
            return FaultPoint.simulated[Int(random.next() % UInt64(FaultPoint.simulated.count))]
        }
    }

    /// What a scenario leaves for the next process when it crashed.
    struct PendingCrash {
        var index: Int
        var plan: Plan
        var before: OpportunityID
        var point: FaultPoint
        /// The dedup key of the candidate whose fault point fired, when no twin shares it.
        var killerKey: String?
    }

    /// The simulated process's lifetime and the run's bookkeeping.
    struct RunState {
        let seed: UInt64
        let directory: String
        let clock: VirtualClock
        let logger: Logger
        let config: TraderConfig
        let kill: SimulationKillMode?
        var report = SimulationReport()
        var next = 0
        /// A crash left this scenario to the next process's recovery.
        var pendingCrash: PendingCrash?
        /// The previous world crashed (its lease was not released).
        var previousWorldCrashed = false
        /// Virtual time spent by killed predecessors (kill mode).
        var virtualBase: Int64 = 0
        /// The unwind policy's decision (a test swaps in a broken one).
        var unwindDecide: UnwindContext.Decide = UnwindPolicy.decide

        init(seed: UInt64, directory: String, clock: VirtualClock, logger: Logger, kill: SimulationKillMode?) {
            self.seed = seed
            self.directory = directory
            self.clock = clock
            self.logger = logger
            self.kill = kill
            var config = Simulator.config(seed: seed)
            config.databasePath = (directory as NSString).appendingPathComponent("arb.db")
            self.config = config
        }

        var databasePath: String { config.databasePath }
        var paperFiles: [String: String] {
            ["kalshi": config.paperStatePath(venue: "kalshi"), "polymarket": config.paperStatePath(venue: "polymarket")]
        }

        /// Kill mode: continue from the last finished scenario of a killed predecessor.
        mutating func loadProgress() throws {
            let path = SimulationKillMode.progressPath(directory: directory)
            guard let data = FileManager.default.contents(atPath: path) else { return }
            let progress = try JSONDecoder().decode(SimulationKillMode.Progress.self, from: data)
            next = progress.next
            report = progress.report
            virtualBase = progress.report.virtualMilliseconds
            // The predecessor died without releasing its lease.
            previousWorldCrashed = true
        }

        func saveProgress() throws {
            let path = SimulationKillMode.progressPath(directory: directory)
            var report = self.report
            report.virtualMilliseconds = virtualBase + clock.nowMilliseconds() - clock.epochMilliseconds
            let data = try JSONEncoder().encode(SimulationKillMode.Progress(
                next: next, clockMilliseconds: clock.nowMilliseconds(), report: report))
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }

        /// One process lifetime: open the files, take the lease, recover, run scenarios until one
        /// crashes (or all are done).
        mutating func runWorld(until scenarios: Int) async throws {
            let seed = self.seed
            report.worlds += 1
            let resumedAfterKill = kill != nil && previousWorldCrashed && pendingCrash == nil
            if resumedAfterKill, let size = try? FileManager.default.attributesOfItem(atPath: databasePath + "-wal")[.size] as? Int,
               size > 0 {
                report.hotWALs += 1
            }
            let life = WorldLife()
            let me = LeaseHolder(owner: "arb simulate", pid: Int32(report.worlds), host: "simulation",
                                 startedAtMilliseconds: clock.nowMilliseconds(), heartbeatAtMilliseconds: clock.nowMilliseconds())
            let sink = CountingSink(FileAlertSink(path: (directory as NSString).appendingPathComponent("alerts.jsonl")))
            var parts = TraderAssembly.Options()
            parts.durability = .normal
            parts.sinks = [sink]
            parts.runSeed = seed
            // The simulated predecessor's pid is gone: the one takeover rule, with that liveness.
            parts.isAlive = { [pid = me.pid] in $0 == pid }
            parts.newDatabaseID = { String(String(seed, radix: 16).suffix(8)).leftPadded(to: 8) }
            parts.commitHook = { try life.refuseCommitsOnceDead() }
            let assembly: TraderAssembly
            do {
                assembly = try TraderAssembly.open(config: config, holder: me, environment: [:], clock: clock, logger: logger,
                                                   options: parts)
            } catch let refusal as LeaseRefusal {
                fail(next, "world \(report.worlds) could not take the lease from \(refusal.holder.owner) pid \(refusal.holder.pid)")
                return
            }
            if assembly.tookOverFrom != nil {
                report.leaseTakeovers += 1
                if !previousWorldCrashed { fail(next, "world \(report.worlds) took over a lease its predecessor released") }
            } else if previousWorldCrashed {
                fail(next, "world \(report.worlds) found no lease although its predecessor crashed")
            }
            previousWorldCrashed = false
            // Kill mode: the world count (the lease's pid) must never repeat across children.
            if kill != nil { try saveProgress() }
            let ledger = assembly.ledger
            let venues = assembly.venues
            let router = assembly.router
            let unwindBase = assembly.unwindContext()
            let dispatcher = assembly.dispatcher
            let clock = self.clock
            let logger = self.logger
            let heartbeats = Counter()
            let lostLease = Counter()
            try await withThrowingTaskGroup(of: Void.self) { services in
                for venue in venues.values.sorted(by: { $0.name < $1.name }) {
                    services.addTask { for await event in venue.events { await router.route(event) } }
                }
                // One attempt: a refused write here means the world has died (its commits all fail).
                services.addTask { await Trader.handleOrphans(router.orphanEvents, ledger: ledger, logger: logger, clock: clock, retry: .once) }
                services.addTask { await dispatcher.run(pollMilliseconds: 50) }
                services.addTask {
                    while !Task.isCancelled {
                        do { try await clock.sleep(milliseconds: Simulator.heartbeatMilliseconds) } catch { return }
                        guard !life.isDead else { continue }
                        if let ours = try? await ledger.withStore({
                            try $0.heartbeatLease(pid: me.pid, host: me.host, atMilliseconds: clock.nowMilliseconds())
                        }) {
                            heartbeats.add()
                            if !ours { lostLease.add() }
                        }
                    }
                }
                defer {
                    // The orphan recorder drains what is queued and ends on finish (it does not
                    // stop on cancellation: nothing accepted is dropped).
                    router.finish()
                    services.cancelAll()
                }
                try await recover(ledger: ledger, venues: venues, resumedAfterKill: resumedAfterKill)
                while next < scenarios, report.violations.isEmpty {
                    let crashed = try await scenario(next, ledger: ledger, venues: venues, router: router, unwind: unwindBase,
                                                     life: life)
                    next += 1
                    if kill != nil, !crashed { try saveProgress() }
                    if crashed {
                        previousWorldCrashed = true
                        break
                    }
                }
                if !previousWorldCrashed {
                    // A clean end: every alert out, the lease released.
                    _ = await dispatcher.drain(timeoutMilliseconds: 2_000)
                    try await ledger.withStore { try $0.releaseLease(pid: me.pid, host: me.host) }
                }
            }
            report.heartbeats += heartbeats.value
            report.alertsDelivered += sink.delivered.value
            if lostLease.value > 0 { fail(next, "world \(report.worlds) lost its lease \(lostLease.value) times") }
        }

        /// Recovery at a world's start: after an in-process crash with what its plan implies;
        /// after a SIGKILL (kill mode) over everything, since the plan died with the process.
        mutating func recover(ledger: Ledger, venues: [String: any Venue], resumedAfterKill: Bool) async throws {
            guard let pending = pendingCrash else {
                let result = try await Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger).run()
                if result.examined > 0 { report.recoveries += 1 }
                if resumedAfterKill { report.openAfterKill += result.examined }
                let violations = try Invariants.check(databasePath: databasePath, paperFiles: paperFiles,
                                                      options: .init(requireAllClosed: true, sinks: []))
                for violation in violations { fail(next, "after a restart: \(violation)") }
                return
            }
            pendingCrash = nil
            let reconciler = Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger)
            if pending.plan.outageDuringRecovery, let down = venues[pending.index % 2 == 0 ? "kalshi" : "polymarket"] as? PaperVenue {
                report.venueOutages += 1
                await down.setBehaviour(PaperBehaviour(unreachable: true))
                let blocked = try await reconciler.run()
                report.recoveries += 1
                // Whatever touches the venue that is down must be left where it is, not guessed.
                let open = try await ledger.withStore { try $0.nonTerminalOpportunities().map(\.id) }
                let flagged = Set(blocked.needsAttention.map(\.opportunityID))
                for id in open where !flagged.contains(id) {
                    fail(pending.index, "opportunity \(id) left open by recovery during an outage but not reported")
                }
                await down.setBehaviour(nil)
            }
            _ = try await reconciler.run()
            report.recoveries += 1
            try audit(pending.index, plan: pending.plan, before: pending.before, crash: pending, candidates: [:])
        }

        /// One scenario; true when it crashed (the world must be dropped).
        mutating func scenario(_ index: Int, ledger: Ledger, venues: [String: any Venue], router: EventRouter,
                               unwind unwindBase: UnwindContext?, life: WorldLife) async throws -> Bool {
            report.scenarios += 1
            var plan = Plan(seed: seed, index: index)
            // No unwind loop: a market blocked after too many unwinds today stays blocked (its
            // candidates skipped) until an operator lifts it, as here every few scenarios.
            var blocked = try await ledger.withStore { try $0.blockedMarkets() }
            if index % Simulator.resumeBlocksEvery == 0, !blocked.isEmpty {
                let now = clock.nowMilliseconds()
                let lifted = Array(blocked.keys)
                try await ledger.withStore { store in
                    for eventID in lifted { try store.setMarketBlock(eventID, reason: nil, atMilliseconds: now) }
                }
                blocked = [:]
            }
            var unwind: UnwindContext?
            if var context = unwindBase, plan.unwinding {
                context.config = plan.unwind
                context.decide = unwindDecide
                context.marks = MarkBook(trustedForMilliseconds: config.detection.quoteStalenessMilliseconds)
                let now = clock.nowMilliseconds()
                for book in plan.books {
                    context.marks.record(Quote(timestampMilliseconds: now, venue: book.venue, instrument: book.instrument, bid: book.bid,
                                               bidSize: Quantity(contracts: 100), ask: book.ask, askSize: Quantity(contracts: 100)))
                }
                unwind = context
            }
            let killing = kill.map { index >= $0.killFrom } ?? false
            if killing, plan.crash == nil { plan.crash = Plan.killPoint(seed: seed, index: index) }
            var fatesA: [String: PaperFate] = [:]
            var fatesB: [String: PaperFate] = [:]
            for candidate in plan.candidates {
                fatesA[candidate.instrumentA] = candidate.fateA
                fatesB[candidate.instrumentB] = candidate.fateB
            }
            if let kalshi = venues["kalshi"] as? PaperVenue {
                await kalshi.setBehaviour(PaperBehaviour(fateForInstrument: fatesA, cancelFails: plan.cancelFailsA))
            }
            if let polymarket = venues["polymarket"] as? PaperVenue {
                await polymarket.setBehaviour(PaperBehaviour(fateForInstrument: fatesB, cancelFails: plan.cancelFailsB))
            }
            let before = try await ledger.withStore { try $0.highestOpportunityID() }
            let scenarioStart = clock.nowMilliseconds()
            var detector = Detector(config: config, venueFees: venues.mapValues(\.feeModel))
            var found: [(plan: Int, candidate: Candidate)] = []
            for (number, candidate) in plan.candidates.enumerated() {
                let now = clock.nowMilliseconds()
                let size = Quantity(contracts: candidate.contracts)
                _ = detector.update(Quote(timestampMilliseconds: now, venue: "kalshi", instrument: candidate.instrumentA, bid: nil,
                                          bidSize: .zero, ask: Price(ticks: candidate.priceA), askSize: size), nowMilliseconds: now)
                if let detected = detector.update(
                    Quote(timestampMilliseconds: now, venue: "polymarket", instrument: candidate.instrumentB, bid: nil,
                          bidSize: .zero, ask: Price(ticks: candidate.priceB), askSize: size), nowMilliseconds: now) {
                    found.append((number, detected))
                } else {
                    report.feeEaten += 1
                }
            }
            if found.isEmpty { return false }
            if found.count > 1 { report.concurrentScenarios += 1 }
            report.opportunities += found.count
            let keys = found.map(\.candidate.opportunity.dedupKey)
            func hasTwin(_ key: String) -> Bool { keys.filter { $0 == key }.count > 1 }
            // Each candidate its own executor (so a crash names its candidate), each with its risk
            // gate restored from the database as a restarted trader's is.
            var executors: [Executor] = []
            for (number, _) in found {
                let executor = Executor(
                    ledger: ledger, venues: venues, router: router, clock: clock,
                    execution: ExecutionConfig(timeInForce: plan.timeInForce, fillTimeoutMilliseconds: plan.fillTimeoutMilliseconds),
                    risk: config.risk,
                    faults: FaultPoints(armed: plan.crash, action: killing ? .killProcess : .throwCrash,
                                        onCrash: { life.kill(at: $0, candidate: number) }),
                    logger: logger, unwind: unwind)
                try await Trader.restoreRisk(executor.gate, ledger: ledger, now: clock.nowMilliseconds())
                executors.append(executor)
            }
            let results = await withTaskGroup(of: (Int, ExecutionOutcome).self) { group in
                for (slot, (_, candidate)) in found.enumerated() {
                    let executor = executors[slot]
                    group.addTask { (slot, await executor.run(candidate)) }
                }
                var results: [(Int, ExecutionOutcome)] = []
                for await result in group { results.append(result) }
                return results.sorted { $0.0 < $1.0 }.map(\.1)
            }
            if let (point, killer) = life.killer {
                report.crashes[point.rawValue, default: 0] += 1
                let key = found.first { $0.plan == killer }?.candidate.opportunity.dedupKey
                pendingCrash = PendingCrash(index: index, plan: plan, before: before, point: point,
                                            killerKey: key.flatMap { hasTwin($0) ? nil : $0 })
                return true
            }
            var needsRecovery = false
            for (slot, result) in results.enumerated() {
                let (number, candidate) = found[slot]
                let key = candidate.opportunity.dedupKey
                switch result {
                case .crashed(let point):
                    fail(index, "candidate \(number) reported a crash at \(point.rawValue) the world did not see")
                case .needsRecovery(let why):
                    needsRecovery = true
                    let cause = why.hasPrefix("cancel failed") ? "cancel failed"
                        : why.hasPrefix("unwind order") ? "unwind order's answer lost" : why
                    report.leftForRecovery[cause, default: 0] += 1
                    // Only a planned fault may leave an execution to recovery: a refused cancel,
                    // or an unwind order sent where the venue answers ambiguously.
                    let planned = (cause == "cancel failed" && (plan.cancelFailsA || plan.cancelFailsB))
                        || (cause == "unwind order's answer lost" && plan.unwinding && plan.hasAmbiguousFate)
                    if !planned {
                        fail(index, "candidate \(number) \(key) left for recovery (\(why)) with no planned cause")
                    }
                case .skipped(let why):
                    if hasTwin(key), why == "duplicate" || why == "in flight" {
                        report.duplicates += 1
                    } else if why.hasPrefix("market blocked"), blocked[candidate.opportunity.eventID] != nil || hasTwin(key) {
                        report.blockedSkips += 1
                    } else {
                        fail(index, "candidate \(number) \(key) skipped: \(why)")
                    }
                case .closed(let outcome):
                    if blocked[candidate.opportunity.eventID] != nil {
                        fail(index, "candidate \(number) \(key) executed although its market was blocked")
                    }
                    if !plan.cancelFailsA, !plan.cancelFailsB, let expected = plan.candidates[number].fatesOutcomes(unwinding: plan.unwinding),
                       !expected.contains(outcome) {
                        fail(index, "candidate \(number) expected \(expected.map(\.rawValue).sorted().joined(separator: "/")) from fates \(plan.candidates[number].fateA)/\(plan.candidates[number].fateB), got \(outcome.rawValue)")
                    }
                }
            }
            if needsRecovery {
                let reconciler = Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger)
                var result = try await reconciler.run()
                report.recoveries += 1
                if !result.isClean, plan.cancelFailsA || plan.cancelFailsB {
                    // A venue that refused every cancel starts accepting them again (as after an
                    // operator calls it): recovery must then finish the job.
                    for venue in venues.values { await (venue as? PaperVenue)?.setBehaviour(nil) }
                    result = try await reconciler.run()
                    report.recoveries += 1
                }
            }
            var expected: [String: Set<CloseOutcome>] = [:]
            for (number, candidate) in found where !hasTwin(candidate.opportunity.dedupKey) {
                if let outcomes = plan.candidates[number].fatesOutcomes(unwinding: plan.unwinding) {
                    expected[candidate.opportunity.dedupKey] = outcomes
                }
            }
            try audit(index, plan: plan, before: before, crash: nil, candidates: expected)
            try await auditBlocks(index, ledger: ledger, eventIDs: Set(found.map(\.candidate.opportunity.eventID)),
                                  blockedBefore: Set(blocked.keys), scenarioStart: scenarioStart)
            return false
        }

        /// DESIGN §8 for this scenario's opportunities, plus what the plan implies: the state a
        /// crash must leave, and each opportunity's outcome once recovery is done.
        mutating func audit(_ index: Int, plan: Plan, before: OpportunityID, crash: PendingCrash?,
                            candidates expected: [String: Set<CloseOutcome>]) throws {
            let store = try Store(path: databasePath, access: .readOnly)
            let rows = try store.opportunitySummaries(OpportunityQuery(afterID: before)).reversed().map {
                (id: $0.opportunity.id, outcome: $0.opportunity.state.outcome?.rawValue, key: $0.opportunity.dedupKey)
            }
            for row in rows {
                report.outcomes[row.outcome ?? "open", default: 0] += 1
                report.unwindOrders += try store.unwindOrders(of: row.id).count
            }
            for row in rows {
                if let want = expected[row.key], !want.contains(where: { $0.rawValue == row.outcome }) {
                    fail(index, "opportunity \(row.id) \(row.key) closed \(row.outcome ?? "open") after recovery; its fates give \(want.map(\.rawValue).sorted().joined(separator: "/"))")
                }
            }
            if let crash, let key = crash.killerKey {
                let mine = rows.filter { $0.key == key }
                if crash.point == .afterDetected, let row = mine.first {
                    fail(index, "a crash inside the creating commit left opportunity \(row.id)")
                }
                if crash.point == .afterInflightCommit, let row = mine.first {
                    for (venue, path) in paperFiles {
                        let paper = try Connection(path: path, mode: .readOnly)
                        let sent = try paper.prepare("SELECT count(*) FROM paper_orders WHERE client_order_id LIKE ?")
                            .queryOne("arb-\(store.databaseID)-\(row.id)-%") { $0.int64(0) } ?? 0
                        if sent != 0 { fail(index, "\(venue) received an order although the crash came before any send") }
                    }
                    if row.outcome != CloseOutcome.noFill.rawValue {
                        fail(index, "nothing was sent, yet recovery closed \(row.outcome ?? "nothing") instead of no_fill")
                    }
                }
            }
            let violations = try Invariants.check(
                databasePath: databasePath, paperFiles: paperFiles,
                options: .init(requireAllClosed: true, sinks: [], opportunities: Set(rows.map(\.id))))
            for violation in violations { fail(index, violation) }
        }

        /// No unwind loop: a market that unwound in this scenario and so reached its limit of
        /// unwinds today is blocked by the scenario's end.
        mutating func auditBlocks(_ index: Int, ledger: Ledger, eventIDs: Set<String>, blockedBefore: Set<String>,
                                  scenarioStart: Int64) async throws {
            let now = clock.nowMilliseconds()
            let midnight = now - now % 86_400_000
            for eventID in eventIDs.sorted() {
                let (today, sinceStart, block) = try await ledger.withStore { store in
                    (try store.unwinds(eventID: eventID, since: midnight), try store.unwinds(eventID: eventID, since: scenarioStart),
                     try store.marketBlock(eventID))
                }
                guard sinceStart > 0, today >= Simulator.maxUnwindsPerMarketPerDay else { continue }
                if block == nil {
                    fail(index, "market \(eventID) unwound \(today) times today (limit \(Simulator.maxUnwindsPerMarketPerDay)) and is not blocked")
                } else if !blockedBefore.contains(eventID) {
                    report.marketBlocks += 1
                }
            }
        }

        mutating func fail(_ index: Int, _ message: String) {
            if report.failedScenario == nil { report.failedScenario = index }
            report.violations.append("scenario \(index): \(message)")
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

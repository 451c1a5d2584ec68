import Foundation
import Logging
import OrderStateMachine

/// What a simulation run did, and the first thing the auditor found wrong, if anything.
public struct SimulationReport: Sendable, Equatable {
    public var seed: UInt64 = 0
    public var scenarios = 0
    public var opportunities = 0
    public var feeEaten = 0
    public var outcomes: [String: Int] = [:]
    public var crashes: [String: Int] = [:]
    public var venueOutages = 0
    public var recoveries = 0
    public var virtualMilliseconds: Int64 = 0
    /// Empty when every invariant held after every step.
    public var violations: [String] = []
    public var failedScenario: Int?

    public var passed: Bool { violations.isEmpty }
}

/// The deterministic simulator (TigerBeetle-style): one seed generates every scenario's quotes,
/// venue behaviour (full, partial and no fills, rejects, latency, late fills after a cancel,
/// cancel failures, a submit whose answer is lost although the order arrived, a venue down during
/// recovery) and crash points. It drives the real detector, executor, Store and paper venues on
/// virtual time, "crashes" by dropping everything in memory and reopening the files, runs
/// recovery, and after every scenario an auditor checks DESIGN §8 and its own expectations.
public enum Simulator {
    public static let eventCount = 8

    /// Runs `scenarios` scenarios in `directory` (which must be empty or absent). Call it on the
    /// simulation executor (`withTaskExecutorPreference`) with a `VirtualClock` over it.
    public static func run(seed: UInt64, scenarios: Int, directory: String, clock: VirtualClock,
                           logger: Logger, stopAtFirstFailure: Bool = true) async throws -> SimulationReport {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var state = RunState(seed: seed, directory: directory, clock: clock, logger: logger)
        state.report.seed = seed
        // A crash in the last scenario still gets its restart and recovery.
        while state.next < scenarios || state.pendingCrash != nil {
            try await state.runWorld(until: scenarios)
            if !state.report.violations.isEmpty && stopAtFirstFailure { break }
        }
        if state.report.violations.isEmpty {
            // The whole history, once more, from scratch.
            let all = try Invariants.check(databasePath: state.databasePath, paperFiles: state.paperFiles,
                                           options: .init(requireAllClosed: true, sinks: []))
            state.report.violations += all.map { "final audit: \($0)" }
        }
        state.report.virtualMilliseconds = clock.nowMilliseconds() - clock.epochMilliseconds
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
            alerts: AlertConfig(console: false, filePath: nil, webhookURL: nil))
    }

    /// One scenario's draws.
    struct Plan {
        var event: Int
        var priceA: Int64
        var priceB: Int64
        var contracts: Int64
        var fateA: PaperFate
        var fateB: PaperFate
        var cancelFailsA: Bool
        var cancelFailsB: Bool
        var timeInForce: TimeInForce
        var fillTimeoutMilliseconds: Int64
        var crash: FaultPoint?
        var outageDuringRecovery: Bool

        init(seed: UInt64, index: Int) {
            var random = SeededGenerator.derived(seed: seed, name: "scenario-\(index)")
            func percent() -> Int { Int(random.next() % 100) }
            func between(_ low: Int64, _ high: Int64) -> Int64 { low + Int64(random.next() % UInt64(high - low + 1)) }
            event = Int(random.next() % UInt64(Simulator.eventCount))
            priceA = between(2_000, 7_000)
            // Asks summing to $0.85…$1.00: mostly worth trading, some eaten by fees.
            priceB = max(100, between(8_500, 9_990) - priceA)
            let size = between(1, 40)
            contracts = size
            func fate() -> PaperFate {
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
            fateA = fate()
            fateB = fate()
            cancelFailsA = percent() < 10
            cancelFailsB = percent() < 10
            timeInForce = [.gtc, .gtc, .gtc, .ioc, .fok][Int(random.next() % 5)]
            fillTimeoutMilliseconds = between(20, 300)
            let crash = percent() < 35 ? FaultPoint.allCases[Int(random.next() % UInt64(FaultPoint.allCases.count))] : nil
            self.crash = crash
            outageDuringRecovery = crash != nil && percent() < 25
        }

        /// Whether the outcome follows from the fates alone (no timing, no crash, no ambiguity).
        var expectedOutcome: CloseOutcome? {
            guard crash == nil, !cancelFailsA, !cancelFailsB else { return nil }
            switch (fateA, fateB) {
            case (.fill, .fill): return .hedged
            case (.reject, .reject): return .rejected
            case (.fill, .reject), (.reject, .fill), (.fill, .rest), (.rest, .fill): return .oneSided
            case (.rest, .rest), (.rest, .reject), (.reject, .rest): return .noFill
            default: return nil
            }
        }
    }

    /// The simulated process's lifetime and the run's bookkeeping.
    struct RunState {
        let seed: UInt64
        let directory: String
        let clock: VirtualClock
        let logger: Logger
        let config: TraderConfig
        var report = SimulationReport()
        var next = 0
        /// A crash left this scenario to the next process's recovery.
        var pendingCrash: (index: Int, plan: Plan, before: OpportunityID)?

        init(seed: UInt64, directory: String, clock: VirtualClock, logger: Logger) {
            self.seed = seed
            self.directory = directory
            self.clock = clock
            self.logger = logger
            var config = Simulator.config(seed: seed)
            config.databasePath = (directory as NSString).appendingPathComponent("arb.db")
            self.config = config
        }

        var databasePath: String { config.databasePath }
        var paperFiles: [String: String] {
            ["kalshi": config.paperStatePath(venue: "kalshi"), "polymarket": config.paperStatePath(venue: "polymarket")]
        }

        /// One process lifetime: open the files, recover, run scenarios until one crashes.
        mutating func runWorld(until scenarios: Int) async throws {
            let seed = self.seed
            let store = try Store(path: databasePath, durability: .normal, newDatabaseID: {
                String(String(seed, radix: 16).suffix(8)).leftPadded(to: 8)
            })
            let ledger = Ledger(store: store)
            let venues = try Trader.makeVenues(config, runSeed: seed, clock: clock)
            let router = EventRouter()
            let clock = self.clock
            let logger = self.logger
            try await withThrowingTaskGroup(of: Void.self) { services in
                for venue in venues.values.sorted(by: { $0.name < $1.name }) {
                    services.addTask { for await event in venue.events { await router.route(event) } }
                }
                services.addTask { await Trader.handleOrphans(router.orphanEvents, ledger: ledger, logger: logger, clock: clock) }
                defer { services.cancelAll() }
                try await recoverPendingCrash(ledger: ledger, venues: venues)
                while next < scenarios, report.violations.isEmpty {
                    let crashed = try await scenario(next, ledger: ledger, venues: venues, router: router)
                    next += 1
                    if crashed { break }
                }
            }
            router.finish()
        }

        mutating func recoverPendingCrash(ledger: Ledger, venues: [String: any Venue]) async throws {
            guard let (index, plan, before) = pendingCrash else { return }
            pendingCrash = nil
            let reconciler = Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger)
            if plan.outageDuringRecovery, let down = venues[index % 2 == 0 ? "kalshi" : "polymarket"] as? PaperVenue {
                report.venueOutages += 1
                await down.setBehaviour(PaperBehaviour(unreachable: true))
                let blocked = try await reconciler.run()
                report.recoveries += 1
                // Whatever touches the venue that is down must be left where it is, not guessed.
                let open = try await ledger.withStore { try $0.nonTerminalOpportunities().map(\.id) }
                let flagged = Set(blocked.needsAttention.map(\.opportunityID))
                for id in open where !flagged.contains(id) {
                    fail(index, "opportunity \(id) left open by recovery during an outage but not reported")
                }
                await down.setBehaviour(nil)
            }
            _ = try await reconciler.run()
            report.recoveries += 1
            try audit(index, plan: plan, before: before, ledger: ledger)
        }

        /// One scenario; true when it crashed (the world must be dropped).
        mutating func scenario(_ index: Int, ledger: Ledger, venues: [String: any Venue], router: EventRouter) async throws -> Bool {
            report.scenarios += 1
            let plan = Plan(seed: seed, index: index)
            let instrumentA = "K\(plan.event)-Y"
            let instrumentB = "P\(plan.event)-N"
            if let kalshi = venues["kalshi"] as? PaperVenue {
                await kalshi.setBehaviour(PaperBehaviour(fateForInstrument: [instrumentA: plan.fateA], cancelFails: plan.cancelFailsA))
            }
            if let polymarket = venues["polymarket"] as? PaperVenue {
                await polymarket.setBehaviour(PaperBehaviour(fateForInstrument: [instrumentB: plan.fateB], cancelFails: plan.cancelFailsB))
            }
            let before = try await ledger.withStore {
                try $0.connection.prepare("SELECT coalesce(max(id), 0) FROM opportunities").queryOne { $0.int64(0) } ?? 0
            }
            var detector = Detector(config: config, venueFees: venues.mapValues(\.feeModel))
            let now = clock.nowMilliseconds()
            let size = Quantity(contracts: plan.contracts)
            _ = detector.update(Quote(timestampMilliseconds: now, venue: "kalshi", instrument: instrumentA, bid: nil,
                                      bidSize: .zero, ask: Price(ticks: plan.priceA), askSize: size), nowMilliseconds: now)
            let found = detector.update(Quote(timestampMilliseconds: now, venue: "polymarket", instrument: instrumentB, bid: nil,
                                              bidSize: .zero, ask: Price(ticks: plan.priceB), askSize: size), nowMilliseconds: now)
            guard let candidate = found else {
                report.feeEaten += 1
                return false
            }
            report.opportunities += 1
            let executor = Executor(
                ledger: ledger, venues: venues, router: router, clock: clock,
                execution: ExecutionConfig(timeInForce: plan.timeInForce, fillTimeoutMilliseconds: plan.fillTimeoutMilliseconds),
                risk: config.risk, faults: FaultPoints(armed: plan.crash, action: .throwCrash), logger: logger)
            switch await executor.run(candidate) {
            case .crashed(let point):
                report.crashes[point.rawValue, default: 0] += 1
                pendingCrash = (index, plan, before)
                return true
            case .needsRecovery:
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
            case .closed(let outcome):
                if let expected = plan.expectedOutcome, expected != outcome {
                    fail(index, "expected \(expected.rawValue) from fates \(plan.fateA)/\(plan.fateB), got \(outcome.rawValue)")
                }
            case .skipped(let why):
                fail(index, "candidate skipped: \(why)")
            }
            try audit(index, plan: plan, before: before, ledger: ledger)
            return false
        }

        /// DESIGN §8 for this scenario's opportunity, plus what the plan implies.
        mutating func audit(_ index: Int, plan: Plan, before: OpportunityID, ledger: Ledger) throws {
            let store = try Store(path: databasePath, access: .readOnly)
            let ids = try store.connection.prepare("SELECT id, outcome FROM opportunities WHERE id > ?")
                .query(before) { ($0.int64(0), $0.optionalText(1)) }
            for (_, outcome) in ids { report.outcomes[outcome ?? "open", default: 0] += 1 }
            if plan.crash == .afterDetected, !ids.isEmpty {
                fail(index, "a crash inside the creating commit left opportunity \(ids[0].0)")
            }
            if plan.crash == .afterInflightCommit, let id = ids.first?.0 {
                for (venue, path) in paperFiles {
                    let paper = try Connection(path: path, mode: .readOnly)
                    let sent = try paper.prepare("SELECT count(*) FROM paper_orders WHERE client_order_id LIKE ?")
                        .queryOne("arb-\(store.databaseID)-\(id)-%") { $0.int64(0) } ?? 0
                    if sent != 0 { fail(index, "\(venue) received an order although the crash came before any send") }
                }
                if ids.first?.1 != CloseOutcome.noFill.rawValue {
                    fail(index, "nothing was sent, yet recovery closed \(ids.first?.1 ?? "nothing") instead of no_fill")
                }
            }
            let violations = try Invariants.check(
                databasePath: databasePath, paperFiles: paperFiles,
                options: .init(requireAllClosed: true, sinks: [], opportunities: Set(ids.map(\.0))))
            for violation in violations { fail(index, violation) }
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

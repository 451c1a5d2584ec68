import ArbEngine
import ArgumentParser
import Foundation
import Logging

extension Arb {
    struct Simulate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deterministic simulation: seeded scenarios with crashes and venue faults, audited after every step.",
            discussion: """
                One seed generates every scenario's quotes, venue behaviour and crash points; the real \
                detector, executor, Store and paper venues run on virtual time on one thread, so the same \
                seed always gives the same run. A failure prints the seed and the command that reproduces it.
                """
        )

        @Option(name: .long, help: "The seed.")
        var seed: UInt64 = 1

        @Option(name: .long, help: "How many scenarios.")
        var scenarios: Int = 1_000

        @Option(name: .long, help: "Keep the simulation's files in this directory (default: a temporary one, removed).")
        var directory: String?

        @Option(name: .customLong("kill-every"),
                help: "Run the scenarios in child processes, each killed with SIGKILL at a fault point about every N scenarios (N ≥ 2); the next child recovers the hot WAL and goes on.")
        var killEvery: Int?

        @Option(name: .customLong("child-kill-from"), help: .hidden)
        var childKillFrom: Int?

        @Option(name: .customLong("log-level"), help: "trace … critical (default critical: the simulator's report is the output).")
        var logLevel: String = "critical"

        func validate() throws {
            guard scenarios > 0 && scenarios <= 100_000_000 else {
                throw ValidationError("--scenarios must be between 1 and 100000000")
            }
            if let killEvery, killEvery < 2 {
                throw ValidationError("--kill-every must be at least 2 (a child must finish a scenario before it is killed)")
            }
            if killEvery != nil && childKillFrom != nil {
                throw ValidationError("--child-kill-from is for the children of --kill-every; pass only --kill-every")
            }
            if Logger.Level(rawValue: logLevel) == nil {
                throw ValidationError("--log-level \(logLevel) is not a level; use trace, debug, info, notice, warning, error or critical")
            }
        }

        func run() async throws {
            // Swift seeds its hashing per process; the simulation must not depend on it.
            if ProcessInfo.processInfo.environment["SWIFT_DETERMINISTIC_HASHING"] == nil {
                setenv("SWIFT_DETERMINISTIC_HASHING", "1", 1)
                let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
                execv("/proc/self/exe", arguments)
                fail("cannot re-execute with deterministic hashing: \(String(cString: strerror(errno)))", code: 1)
            }
            let level = Logger.Level(rawValue: logLevel) ?? .critical
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let keep = directory != nil || childKillFrom != nil
            let path = directory ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("arb-simulate-\(seed)-\(getpid())").path
            if childKillFrom == nil, FileManager.default.fileExists(atPath: path),
               !((try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty ?? false) {
                fail("\(path) is not empty: the simulation starts from no files; pass another --directory", code: 2)
            }
            defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }
            let started = Date()
            if let killEvery {
                try runChildren(every: killEvery, directory: path, started: started)
                return
            }
            let report = try await SimulationRun.execute(seed: seed, scenarios: scenarios, directory: path, logger: Logger(label: "arb.simulate"),
                                                         kill: childKillFrom.map(SimulationKillMode.init(killFrom:)))
            let seconds = Date().timeIntervalSince(started)
            let perMinute = Int(Double(report.scenarios) / max(seconds, 0.001) * 60)
            let outcomes = report.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let crashes = report.crashes.values.reduce(0, +)
            // A child of --kill-every ran only the last stretch; its parent prints the whole time.
            let timing = childKillFrom == nil ? " in \(String(format: "%.1f", seconds)) s (\(perMinute)/min)" : ""
            print("simulate: seed \(seed), \(report.scenarios) scenarios\(timing), \(report.virtualMilliseconds / 1000) s virtual")
            if childKillFrom != nil {
                print("  after SIGKILLs: \(report.hotWALs) hot WAL files recovered, \(report.openAfterKill) opportunities found open and finished by recovery")
            }
            print("  opportunities \(report.opportunities) (\(report.feeEaten) quotes eaten by fees): \(outcomes)")
            print("  crashes \(crashes) (\(report.crashes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))), venue outages during recovery \(report.venueOutages), recoveries \(report.recoveries)")
            let left = report.leftForRecovery.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("  concurrent scenarios \(report.concurrentScenarios), duplicates refused \(report.duplicates), left for recovery by plan \(report.leftForRecovery.values.reduce(0, +))\(left.isEmpty ? "" : " (\(left))")")
            print("  unwind orders \(report.unwindOrders), markets blocked after too many unwinds \(report.marketBlocks), candidates skipped on a blocked market \(report.blockedSkips)")
            print("  worlds \(report.worlds) (lease taken over \(report.leaseTakeovers)), heartbeats \(report.heartbeats), alerts delivered \(report.alertsDelivered)")
            if report.passed {
                print("  invariants held after every step")
            } else {
                for violation in report.violations.prefix(20) { print("  VIOLATION \(violation)") }
                print("  reproduce with: arb simulate --seed \(seed) --scenarios \(report.failedScenario.map { $0 + 1 } ?? scenarios)")
                throw ExitCode(1)
            }
        }
    }
}

extension Arb.Simulate {
    /// `--kill-every N`: the run goes on in child processes; each continues from the progress
    /// file, and from N scenarios on dies by SIGKILL at its scenario's fault point. A child that
    /// finishes prints the report (which it carries over from its predecessors).
    func runChildren(every killEvery: Int, directory: String, started: Date) throws {
        var kills = 0
        while true {
            let next = SimulationKillMode.next(directory: directory)
            let arguments = ["simulate", "--seed", "\(seed)", "--scenarios", "\(scenarios)", "--directory", directory,
                             "--log-level", logLevel, "--child-kill-from", "\(next + killEvery - 1)"]
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            child.arguments = arguments
            try child.run()
            child.waitUntilExit()
            if child.terminationReason == .uncaughtSignal, child.terminationStatus == SIGKILL {
                // Each child finishes at least one scenario before it may be killed (N ≥ 2).
                guard SimulationKillMode.next(directory: directory) > next else {
                    fail("a child was killed before it finished a scenario; stopping (rerun with a larger --kill-every)", code: 1)
                }
                kills += 1
                continue
            }
            print("  children killed with SIGKILL \(kills), each followed by recovery and a full audit (\(String(format: "%.1f", Date().timeIntervalSince(started))) s in all)")
            if child.terminationStatus != 0 { throw ExitCode(child.terminationStatus) }
            return
        }
    }
}

/// Runs the simulator on its own single-threaded executor, whose seed chooses the interleaving.
enum SimulationRun {
    static func execute(seed: UInt64, scenarios: Int, directory: String, logger: Logger,
                        kill: SimulationKillMode?) async throws -> SimulationReport {
        let executor = VirtualTimeExecutor(seed: seed)
        // A child continues its predecessor's virtual time.
        let clock = VirtualClock(executor: executor, epochMilliseconds: kill.flatMap { _ in
            SimulationKillMode.clockMilliseconds(directory: directory) } ?? VirtualClock.defaultEpochMilliseconds)
        // A task started on the executor, not `withTaskExecutorPreference`: that closure begins on
        // the caller's pool thread, where its first actor calls (and the child tasks they create)
        // would run outside the virtual clock's view.
        return try await Task(executorPreference: executor) {
            try await onSimulationExecutor(seed: seed, scenarios: scenarios, directory: directory, logger: logger,
                                           clock: clock, kill: kill)
        }.value
    }

    nonisolated static func onSimulationExecutor(seed: UInt64, scenarios: Int, directory: String, logger: Logger,
                                                 clock: VirtualClock, kill: SimulationKillMode?) async throws -> SimulationReport {
        try await Simulator.run(seed: seed, scenarios: scenarios, directory: directory, clock: clock, logger: logger, kill: kill)
    }
}

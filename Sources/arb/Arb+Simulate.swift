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

        @Option(name: .customLong("log-level"), help: "trace … critical (default critical: the simulator's report is the output).")
        var logLevel: String = "critical"

        func validate() throws {
            guard scenarios > 0 && scenarios <= 100_000_000 else {
                throw ValidationError("--scenarios must be between 1 and 100000000")
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
            let keep = directory != nil
            let path = directory ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("arb-simulate-\(seed)-\(getpid())").path
            if FileManager.default.fileExists(atPath: path),
               !((try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty ?? false) {
                fail("\(path) is not empty: the simulation starts from no files; pass another --directory", code: 2)
            }
            defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }
            let started = Date()
            let report = try await SimulationRun.execute(seed: seed, scenarios: scenarios, directory: path,
                                                         logger: Logger(label: "arb.simulate"))
            let seconds = Date().timeIntervalSince(started)
            let perMinute = Int(Double(report.scenarios) / max(seconds, 0.001) * 60)
            let outcomes = report.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let crashes = report.crashes.values.reduce(0, +)
            print("simulate: seed \(seed), \(report.scenarios) scenarios in \(String(format: "%.1f", seconds)) s (\(perMinute)/min), \(report.virtualMilliseconds / 1000) s virtual")
            print("  opportunities \(report.opportunities) (\(report.feeEaten) quotes eaten by fees): \(outcomes)")
            print("  crashes \(crashes) (\(report.crashes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))), venue outages during recovery \(report.venueOutages), recoveries \(report.recoveries)")
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

/// Runs the simulator on its own single-threaded executor.
enum SimulationRun {
    static let executor = SimulationExecutor()

    static func execute(seed: UInt64, scenarios: Int, directory: String, logger: Logger) async throws -> SimulationReport {
        try await withTaskExecutorPreference(executor) {
            try await onSimulationExecutor(seed: seed, scenarios: scenarios, directory: directory, logger: logger)
        }
    }

    nonisolated static func onSimulationExecutor(seed: UInt64, scenarios: Int, directory: String,
                                                 logger: Logger) async throws -> SimulationReport {
        try await Simulator.run(seed: seed, scenarios: scenarios, directory: directory,
                                clock: VirtualClock(executor: executor), logger: logger)
    }
}

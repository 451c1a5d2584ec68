import ArbEngine
import ArgumentParser
import Dispatch
import Foundation
import Logging
import LoopbackExchange

@main
struct Arb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arb",
        abstract: "A cross-venue arbitrage trader for binary prediction markets that never loses track of an order.",
        version: ArbEngineVersion.string,
        subcommands: [Run.self, Simulate.self, Sign.self]
    )

    /// Parses, runs, and maps a usage error to one line and exit 2, as `arb run` refuses a bad
    /// config (ArgumentParser's own is an error, a help line and the whole usage, exit 64);
    /// `--help` and `--version` print as usual.
    static func main() async {
        do {
            var command = try parseAsRoot()
            guard var asynchronous = command as? any AsyncParsableCommand else { return try command.run() }
            try await asynchronous.run()
        } catch {
            // A command's own exit status (a failed simulation, a child's status) stands as it is.
            if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            if code == .validationFailure {
                let problem = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                let subcommand = CommandLine.arguments.dropFirst().first.flatMap { name in
                    configuration.subcommands.first { $0._commandName == name }.map { _ in name }
                }
                fail("\(MessageText.singleLine(problem)); see `arb \(subcommand.map { "\($0) " } ?? "")--help`", code: 2)
            }
            fail(MessageText.singleLine(message(for: error)), code: 1)
        }
    }
}

extension Arb {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trade: recover what a previous run left, then detect and execute until done or stopped.",
            discussion: """
                With no flags, trades the built-in paper demo (seeded synthetic quotes, two paper venues \
                whose files sit beside the database) for 5 seconds and prints a summary. \
                `--demo loopback` instead starts the loopback exchange in this process (a Kalshi and a \
                Polymarket on 127.0.0.1, files loopback-kalshi.db and loopback-polymarket.db beside the \
                database, accounts made for the run) and trades it through the real adapters and \
                websocket book feeds. SIGINT/SIGTERM stop detection, let in-flight opportunities \
                finish, and exit 0.
                """
        )

        @Option(name: .long, help: "A JSON config file (default: the built-in paper demo).")
        var config: String?

        @Option(name: .long, help: "Which built-in demo: paper (the default) or loopback (both real adapters against an in-process exchange).")
        var demo: String?

        @Option(name: .long, help: "With --demo loopback: faults the exchange injects (name=value,...: drop, delay, 5xx, 429, 425, gap, silent; or soak).")
        var faults: String?

        @Option(name: .long, help: "The trader database (default: the config's, else arb.db in the working directory).")
        var db: String?

        @Option(name: .long, help: "Seed for the demo's quotes and the paper venues' fill model.")
        var seed: UInt64 = 1

        @Option(name: .long, help: "Seconds to keep generating demo quotes (default 5).")
        var duration: Double?

        @Option(name: .customLong("market-data"), help: "Replay a JSON-lines quote file instead of generating quotes.")
        var marketData: String?

        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = "info"

        @Flag(name: .long, help: "Take over a lease whose heartbeat is stale although its holder cannot be proven dead (never a live one).")
        var force = false

        @Flag(name: .long, help: "Confirm trading real money: required when a configured venue is a real one's production environment.")
        var live = false

        @Option(name: .customLong("metrics-listen"),
                help: "Serve the trader's live counters as Prometheus text at http://127.0.0.1:PORT/metrics (127.0.0.1:PORT; port 0 picks a free one).")
        var metricsListen: String?

        func validate() throws {
            if Logger.Level(rawValue: logLevel) == nil {
                throw ValidationError("--log-level \(logLevel) is not a level; use trace, debug, info, notice, warning, error or critical")
            }
            if let duration, !(duration > 0 && duration <= 86_400 * 365) {
                throw ValidationError("--duration must be a number of seconds above 0")
            }
            if duration != nil && marketData != nil {
                throw ValidationError("--duration applies to generated quotes; drop it when replaying --market-data")
            }
            if let demo, !["paper", "loopback"].contains(demo) {
                throw ValidationError("--demo \(demo) is not a demo; use paper or loopback")
            }
            if demo != nil && (config != nil || marketData != nil) {
                throw ValidationError("--demo brings its own config and quotes; drop --config and --market-data")
            }
            if let metricsListen, TraderMetricsExport.port(metricsListen) == nil {
                throw ValidationError("--metrics-listen \(metricsListen) is not 127.0.0.1:PORT (the trader serves its metrics on loopback only; `arbadmin serve` can listen elsewhere)")
            }
            if let faults {
                guard demo == "loopback" else { throw ValidationError("--faults applies to --demo loopback; add it, or drop --faults") }
                do { _ = try LoopbackFaults(parsing: faults) } catch { throw ValidationError(error.description) }
            }
        }

        func run() async throws {
            // First: a SIGINT/SIGTERM from here on stops the run gracefully, even before the
            // trader's service group listens.
            EarlyStopSignals.install([.sigint, .sigterm])
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            // Before anything records a metric: each is bound to the backend in place when made.
            var metrics: TraderMetricsExport?
            if let metricsListen, let port = TraderMetricsExport.port(metricsListen) {
                do {
                    metrics = try await TraderMetricsExport.start(port: port)
                } catch {
                    fail("cannot serve metrics on 127.0.0.1:\(port): \(error)", code: 1)
                }
                FileHandle.standardError.write(Data("metrics on \(metrics?.url ?? "")\n".utf8))
            }
            defer { if let metrics { Task { await metrics.stop() } } }
            var exchange: LoopbackExchange?
            if demo == "loopback" {
                exchange = await startLoopback()
            }
            let options: TraderOptions
            do {
                options = try TraderOptions.resolve(
                    configPath: exchange?.configPath ?? config, databasePath: exchange == nil ? db : db ?? "arb.db", seed: seed,
                    durationSeconds: duration, marketDataPath: marketData, forceLease: force, live: live,
                    environment: ProcessInfo.processInfo.environment)
            } catch {
                await exchange?.stop()
                fail(error.description, code: 2)
            }
            do {
                // SIGINT and SIGTERM stop it gracefully: the trader's service group handles them.
                let summary = try await Trader.run(options, stop: StopSignal(), logger: Logger(label: "arb"))
                print(summary.lines.joined(separator: "\n"))
                if let exchange {
                    await exchange.stop()
                    print("  loopback exchange:    \(exchange.counters.summary)")
                    print("  loopback files:       \(exchange.kalshiFile), \(exchange.polymarketFile)")
                }
            } catch {
                await exchange?.stop()
                fail("\(error)", code: 1)
            }
        }

        /// The loopback exchange, in this process, with its files beside the database.
        func startLoopback() async -> LoopbackExchange {
            let database = db ?? "arb.db"
            let slash = database.lastIndex(of: "/")
            let directory = slash.map { $0 == database.startIndex ? "/" : String(database[..<$0]) } ?? "."
            do {
                let faults = try LoopbackFaults(parsing: self.faults ?? "none")
                return try await LoopbackExchange.start(.init(seed: seed, directory: directory, faults: faults))
            } catch {
                fail("cannot start the loopback exchange in \(directory): \(error)", code: 1)
            }
        }
    }
}

/// One line on standard error and the exit code: never a trap or a stack dump.
func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("arb: \(message)\n".utf8))
    exit(code)
}

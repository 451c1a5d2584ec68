import ArgumentParser
import Dispatch
import Foundation
import LoopbackExchange

@main
struct ArbExchange: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arb-exchange",
        abstract: "A Kalshi and a Polymarket on 127.0.0.1 for trading arb end to end without real money.",
        discussion: """
            Serves Kalshi's Trade API v2 and Polymarket's CLOB V2 subsets arb uses (REST and websockets, \
            every signature checked), matching orders with seeded paper venues whose files, \
            loopback-kalshi.db and loopback-polymarket.db, sit in --dir. Makes fresh accounts each start \
            and writes loopback-config.json there: `arb run --config DIR/loopback-config.json` trades it. \
            The first line printed is the two base URLs. Runs until SIGINT or SIGTERM, then prints what it did.
            """
    )

    @Option(name: .long, help: "Seed for the moving books, the fill model and the faults.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Faults to inject: name=value,... (drop, delay, 5xx, 429, 425, gap, silent), \"soak\" or \"none\".")
    var faults: String = "none"

    @Option(name: .long, help: "Where the exchange's files, account keys and trader config go (default: the working directory).")
    var dir: String = "."

    @Option(name: .customLong("kalshi-port"), help: "Kalshi's port (default: one the system picks).")
    var kalshiPort: Int = 0

    @Option(name: .customLong("polymarket-port"), help: "Polymarket's port (default: one the system picks).")
    var polymarketPort: Int = 0

    func validate() throws {
        do { _ = try LoopbackFaults(parsing: faults) } catch { throw ValidationError(error.description) }
        for (name, port) in [("--kalshi-port", kalshiPort), ("--polymarket-port", polymarketPort)] where !(0...65_535).contains(port) {
            throw ValidationError("\(name) \(port) is not a port; use 1 to 65535, or 0 for one the system picks")
        }
    }

    func run() async throws {
        // The stop signals are caught from the first instant, before the banner: whoever started
        // the exchange may send SIGTERM as soon as it has read it (a signal between the banner and
        // installing the handlers used to be ignored, and the exchange ran on).
        let stop = StopSignals()
        let exchange: LoopbackExchange
        do {
            exchange = try await LoopbackExchange.start(.init(seed: seed, directory: dir, faults: try LoopbackFaults(parsing: faults),
                                                              kalshiPort: kalshiPort, polymarketPort: polymarketPort))
        } catch {
            FileHandle.standardError.write(Data("arb-exchange: cannot start: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // Written at once (not buffered): whoever started the exchange reads the URLs from the first line.
        Self.say("\(exchange.banner)\nconfig \(exchange.configPath)\nfaults \(try LoopbackFaults(parsing: faults))")
        await stop.wait()
        await exchange.stop()
        Self.say("stopped: \(exchange.counters.summary)")
    }

    static func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

    /// SIGINT and SIGTERM, caught from its creation on (their default action is set to ignore
    /// first, as a dispatch signal source needs); `wait` returns once either has come, before or
    /// after it is called.
    final class StopSignals: @unchecked Sendable {
        private let lock = NSLock()
        private var received = false
        private var continuation: CheckedContinuation<Void, Never>?
        private var sources: [any DispatchSourceSignal] = []

        init() {
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let queue = DispatchQueue(label: "arb-exchange.signals")
            let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
            for source in sources {
                source.setEventHandler { [weak self] in self?.fire() }
                source.resume()
            }
            lock.withLock { self.sources = sources }
        }

        private func fire() {
            let pending = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                received = true
                defer { continuation = nil }
                return continuation
            }
            pending?.resume()
        }

        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let already = lock.withLock { () -> Bool in
                    if received { return true }
                    self.continuation = continuation
                    return false
                }
                if already { continuation.resume() }
            }
        }
    }
}

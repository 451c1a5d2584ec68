import ArbEngine
import ArgumentParser
import Foundation
import Logging

/// The entry point is synchronous on purpose: `--detector-only N [--trace-malloc]` (the child
/// process whose heap allocations are counted) must not start the concurrency runtime's threads,
/// which valgrind 3.19 cannot run. Everything else runs `ArbBench` on the global executor.
@main
enum BenchMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--detector-only" {
            guard arguments.count >= 2, let updates = Int(arguments[1]), updates > 0 else {
                progress("--detector-only needs a positive number of updates")
                exit(2)
            }
            DetectorThroughput.detectorOnly(updates: updates, traceMalloc: arguments.dropFirst(2).contains("--trace-malloc"))
            return
        }
        if arguments.first == "--books-only" {
            guard arguments.count >= 3, let venue = BookUpdateThroughput.Venue(rawValue: arguments[1]),
                  let messages = Int(arguments[2]), messages > 0 else {
                progress("--books-only needs kalshi or polymarket and a positive number of messages")
                exit(2)
            }
            BookUpdateThroughput.booksOnly(venue, messages: messages, traceMalloc: arguments.dropFirst(3).contains("--trace-malloc"),
                                           slowPath: arguments.dropFirst(3).contains("--slow-path"))
            return
        }
        let finished = DispatchSemaphore(value: 0)
        // Detached: a plain `Task` would inherit the main actor, whose thread waits below.
        Task.detached {
            await ArbBench.main()
            finished.signal()
        }
        finished.wait()
    }
}

struct ArbBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arb-bench",
        abstract: "Measures arb against the machine's own limits: each figure beside a raw baseline from the same run.",
        discussion: """
            Figures: \(Figure.names.joined(separator: ", ")). Run in release: \
            `swift run -c release arb-bench --json` (demo_peak_rss runs the `arb` built beside this binary). Scratch files go to a temporary directory on the same disk as the \
            working directory and are removed at the end.
            """,
        version: ArbEngineVersion.string
    )

    @Flag(help: "Print one JSON object keyed by figure name instead of the table.")
    var json = false

    @Flag(help: "A smoke run (about 15 s): fewer iterations, indicative percentiles only.")
    var quick = false

    @Option(help: "Run only these figures (comma separated).")
    var only: String?

    @Option(help: "Keep scratch files under this directory (must be on the working directory's disk).")
    var scratch: String?

    /// Handled by `BenchMain` before parsing; declared so that `--help` does not reject it.
    @Option(name: .customLong("detector-only"), help: .hidden)
    var detectorOnly: Int?

    /// Handled by `BenchMain` before parsing, like `--detector-only`.
    @Option(name: .customLong("books-only"), help: .hidden)
    var booksOnly: String?

    @Flag(name: .customLong("trace-malloc"), help: .hidden)
    var traceMalloc = false

    func validate() throws {
        if let only {
            let unknown = only.split(separator: ",").map(String.init).filter { !Figure.names.contains($0) }
            if !unknown.isEmpty {
                throw ValidationError("unknown figure \(unknown.joined(separator: ", ")); use any of \(Figure.names.joined(separator: ","))")
            }
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        let size = quick ? RunSize.quick : RunSize.full
        let wanted = Set(only.map { $0.split(separator: ",").map(String.init) } ?? Figure.names)
        let place = try Scratch.make(parent: scratch)
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: place.path) } }
        progress("scratch \(place.path) (\(place.note))")
        let loadAtStart = Scratch.loadAverage()
        progress("load average \(loadAtStart) on \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs")
        let started = monotonicNanoseconds()

        var figures: [Figure] = []
        // First, while this process is small: a forked child can inherit our anonymous pages.
        var demo: DemoPeakRSS.Result?
        if wanted.contains("demo_peak_rss") { demo = try DemoPeakRSS.run(in: place.path, size: size) }
        // detect_to_submit reports the WAL pages of transition_commit's raw commit beside its own.
        var commit: TransitionCommit.Result?
        if wanted.contains("transition_commit") || wanted.contains("detect_to_submit") {
            let result = try TransitionCommit.run(in: place.path, size: size)
            commit = result
            if wanted.contains("transition_commit") { figures.append(.transitionCommit(result, disk: place.disk)) }
        }
        if wanted.contains("detect_to_submit"), let commit {
            figures.append(.detectToSubmit(try await DetectToSubmit.run(in: place.path, size: size), raw: commit.full))
        }
        if wanted.contains("fill_to_cancel") {
            figures.append(.fillToCancel(try await FillToCancel.run(in: place.path, size: size)))
        }
        if wanted.contains("detector_throughput") {
            figures.append(.detectorThroughput(try DetectorThroughput.run(size: size, scratch: place.path)))
        }
        if wanted.contains("recovery_per_opportunity") {
            figures.append(.recovery(try await RecoveryPerOpportunity.run(in: place.path, size: size)))
        }
        if wanted.contains("sign_kalshi") || wanted.contains("sign_polymarket") {
            let signing = try Signing.run(size: size)
            if wanted.contains("sign_kalshi") {
                figures.append(.signing(signing.kalshi, name: "sign_kalshi", what: "KalshiSigner.headers (message, RSA-PSS, base64)",
                                        raw: "libcrypto RSA-PSS alone"))
            }
            if wanted.contains("sign_polymarket") {
                figures.append(.signing(signing.polymarket, name: "sign_polymarket",
                                        what: "PolymarketOrderSigner.sign (amounts, EIP-712, Keccak, secp256k1, hex)",
                                        raw: "secp256k1 sign + one Keccak alone"))
            }
        }
        if wanted.contains("commit_beside_dashboard") {
            figures.append(.commitBesideDashboard(try CommitBesideDashboard.run(in: place.path, size: size)))
        }
        if wanted.contains("book_update_throughput") {
            figures.append(.bookUpdateThroughput(BookUpdateThroughput.run(size: size, scratch: place.path)))
        }
        // Last: it bootstraps a metrics backend (the begin commit's timer) for the rest of the process.
        if wanted.contains("wire_detect_to_request") {
            figures.append(.wireDetectToRequest(try await WireDetectToRequest.run(in: place.path, size: size)))
        }
        if let demo { figures.append(.demoPeakRSS(demo)) }
        let loadAtEnd = Scratch.loadAverage()
        progress(String(format: "done in %.1f s; load average ", Double(monotonicNanoseconds() - started) / 1e9) + loadAtEnd)

        if json {
            print(JSON.object(figures.map { ($0.name, $0.json) }).rendered())
        } else {
            print(Figure.table(figures, quick: quick, disk: place.disk,
                               load: "load average \(loadAtStart) at start, \(loadAtEnd) at end, \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs"))
        }
    }
}

/// Where scratch files go: a fresh directory on the same filesystem as the working directory, so
/// every commit measured lands on the disk the trader would use.
struct Scratch {
    var path: String
    var note: String
    var disk: String

    static func make(parent: String?) throws -> Scratch {
        let cwd = FileManager.default.currentDirectoryPath
        guard let cwdDevice = device(of: cwd) else { throw BenchError("cannot stat \(cwd)") }
        let candidates = parent.map { [$0] }
            ?? [ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp", "\(cwd)/.build", cwd]
        for candidate in candidates where device(of: candidate) == cwdDevice {
            var template = Array("\(candidate)/arb-bench-XXXXXX".utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { continue }
            let path = String(cString: made)
            return Scratch(path: path, note: "same device as \(cwd)", disk: describeDisk(path))
        }
        if let parent { throw BenchError("--scratch \(parent) is not on the working directory's filesystem") }
        throw BenchError("no writable directory on the working directory's filesystem")
    }

    /// The 1, 5 and 15 minute load averages: other work on this machine skews every figure.
    static func loadAverage() -> String {
        readTextFile("/proc/loadavg").split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func device(of path: String) -> UInt? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt(info.st_dev)
    }

    /// "/dev/vda (virtio, rotational=1, write cache: write back), ext4" from /proc and /sys.
    static func describeDisk(_ path: String) -> String {
        var best: (mount: String, device: String, type: String) = ("", "?", "?")
        for line in readTextFile("/proc/mounts").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let mount = String(fields[1])
            if path.hasPrefix(mount), mount.count > best.mount.count { best = (mount, String(fields[0]), String(fields[2])) }
        }
        let name = best.device.split(separator: "/").last.map(String.init) ?? best.device
        let block = "/sys/block/\(name)"
        func read(_ file: String) -> String? {
            let text = readTextFile("\(block)/\(file)").trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        var parts: [String] = []
        if let model = read("device/model") { parts.append(model) }
        if let vendor = read("device/vendor") { parts.append(vendor == "0x1af4" ? "virtio (0x1af4)" : "vendor \(vendor)") }
        if let rotational = read("queue/rotational") { parts.append("rotational=\(rotational)") }
        if let cache = read("queue/write_cache") { parts.append("write cache: \(cache)") }
        return "\(best.device)\(parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))"), \(best.type) on \(best.mount)"
    }
}

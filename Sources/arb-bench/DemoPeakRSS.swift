#if canImport(Glibc)
import Glibc
#endif

/// `demo_peak_rss`: the peak resident memory of the built `arb run` on the built-in demo, read
/// from `wait4`'s `ru_maxrss` of the child. Beside it, the same binary doing nothing
/// (`arb --version`): what the runtime and the linked libraries cost before any trading.
///
/// The child is started with fork + exec, not `posix_spawn` (whose vfork-style child would
/// inherit this process's whole high-water mark), and this figure runs first, while our own
/// anonymous memory — the most a forked child can inherit — is small; it is reported beside.
enum DemoPeakRSS {
    struct Result: Sendable {
        var demoKiB: Int
        var idleKiB: Int
        var seconds: Int
        var arbPath: String
        var summaryLines: Int
        /// Our anonymous RSS when forking: a child's `ru_maxrss` at or below it would be ours.
        var parentAnonymousKiB: Int
    }

    static let targetKiB = 64 * 1_024

    static func run(in directory: String, size: RunSize) throws -> Result {
        let binDirectory = String(executablePath().split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/"))
        let arb = "\(binDirectory)/arb"
        guard access(arb, X_OK) == 0 else {
            throw BenchError("no arb binary beside arb-bench (\(arb)): run `swift build -c release` first")
        }
        let demo = "\(directory)/demo"
        mkdir(demo, 0o700)
        progress("demo_peak_rss: arb run --duration \(size.demoSeconds)")
        let parentAnonymous = ownStatusKiB("RssAnon") ?? 0
        let run = try runChild([arb, "run", "--db", "\(demo)/arb.db", "--duration", String(size.demoSeconds)],
                               stdoutPath: "\(demo)/run.out", stderrPath: "\(demo)/run.err", method: .forkExec)
        guard run.succeeded else {
            throw BenchError("arb run failed (\(run.exitCode.map { "exit \($0)" } ?? "signal \(run.signal ?? 0)")): \(readTextFile("\(demo)/run.err").suffix(400))")
        }
        let idle = try runChild([arb, "--version"], stdoutPath: "\(demo)/version.out", stderrPath: "\(demo)/version.err",
                                method: .forkExec)
        guard idle.succeeded else { throw BenchError("arb --version failed") }
        guard run.maxResidentKiB > parentAnonymous, idle.maxResidentKiB > parentAnonymous else {
            throw BenchError("demo_peak_rss: a child's peak (\(run.maxResidentKiB) KiB) is not above arb-bench's own anonymous RSS (\(parentAnonymous) KiB): it cannot be told apart")
        }
        let lines = readTextFile("\(demo)/run.out").split(separator: "\n").count
        return Result(demoKiB: run.maxResidentKiB, idleKiB: idle.maxResidentKiB, seconds: size.demoSeconds, arbPath: arb,
                      summaryLines: lines, parentAnonymousKiB: parentAnonymous)
    }
}

import ArbDashboard
import Foundation
import OrderStateMachine
import Synchronization

/// `commit_beside_dashboard`: the trader's transition commit while `arbadmin serve` reads the
/// same file (issue 16: "the trader is never blocked"; issue 17 item 6). A reader thread renders
/// the dashboard's page (`Dashboard.renderPage`: the snapshot `/` and every live update read, from
/// a read-only connection of its own) in one of three modes, block by block through one loop of
/// commits so that noise falls on all three alike:
/// - **quiet**: no reader (the baseline);
/// - **polling**: a page every 62.5 ms — what `serve` does for four browsers on `/events` while the
///   trader commits continuously (one `change` per 250 ms poll, one fragment fetch each); the target;
/// - **flat out**: pages back to back, the worst a reader can do (shown, not targeted: on 2
///   cores it also takes a core's worth of CPU).
/// WAL readers take no lock a writer waits for, so only CPU competition should show.
enum CommitBesideDashboard {
    enum Mode: Int, CaseIterable { case quiet, polling, flatOut }

    struct Result: Sendable {
        var quiet: LatencySummary
        var polling: LatencySummary
        var flatOut: LatencySummary
        var pagesPolling: Int
        var pagesFlatOut: Int
        var ratioPolling: Double { polling.p50 / quiet.p50 }
        var ratioFlatOut: Double { flatOut.p50 / quiet.p50 }
        var targetMet: Bool { ratioPolling <= 1.10 }
    }

    static func run(in directory: String, size: RunSize) throws -> Result {
        // Commits half a millisecond apart (a busy trader, not a tight loop), so each block spans
        // enough time for the reader to render pages in it.
        let iterations = size.commitIterationsNormal
        let warmup = size.commitWarmup
        let gapMicroseconds: UInt32 = 500
        let blocks = 12
        let path = "\(directory)/beside-dashboard.db"
        let store = try TransitionCommit.populate(path, durability: .normal, count: warmup + iterations)
        try store.checkpoint()
        progress("commit_beside_dashboard: \(iterations) commits, quiet / a page every 62.5 ms / pages flat out, in turn")

        let shared = ReaderState()
        let reader = Thread {
            var lastPage: UInt64 = 0
            while !shared.stop.load(ordering: .acquiring) {
                let mode = Mode(rawValue: shared.mode.load(ordering: .acquiring)) ?? .quiet
                let due = mode == .flatOut || (mode == .polling && monotonicNanoseconds() - lastPage >= 62_500_000)
                guard due else { usleep(1_000); continue }
                lastPage = monotonicNanoseconds()
                do {
                    _ = try Dashboard.renderPage(databasePath: path, now: wallMilliseconds())
                    shared.pages.withLock { $0[mode.rawValue] += 1 }
                } catch {
                    shared.failure.withLock { $0 = "\(error)" }
                    return
                }
            }
        }
        reader.start()
        defer { shared.stop.store(true, ordering: .releasing) }

        let step = TransitionStep(.riskGatePassed, reason: "bench")
        let now = wallMilliseconds()
        var samples = Mode.allCases.map { _ in Samples(capacity: iterations / 3 + 1) }
        let perBlock = max(1, iterations / blocks)
        for index in 0..<(warmup + iterations) {
            let measured = index - warmup
            let mode = measured < 0 ? Mode.quiet : Mode.allCases[(measured / perBlock) % Mode.allCases.count]
            shared.mode.store(mode.rawValue, ordering: .releasing)
            let id = Int64(index + 1)
            let start = monotonicNanoseconds()
            let result = try store.transition(id, from: .detected, step, at: now)
            let elapsed = monotonicNanoseconds() - start
            guard case .applied(.inFlight) = result else { throw BenchError("transition \(id): \(result)") }
            usleep(gapMicroseconds)
            if measured >= 0 { samples[mode.rawValue].append(elapsed) }
        }
        shared.mode.store(Mode.quiet.rawValue, ordering: .releasing)
        if let error = shared.failure.withLock({ $0 }) { throw BenchError("the dashboard's read failed: \(error)") }
        return Result(quiet: samples[0].summary(), polling: samples[1].summary(), flatOut: samples[2].summary(),
                      pagesPolling: shared.pages.withLock { $0[1] }, pagesFlatOut: shared.pages.withLock { $0[2] })
    }
}

/// What the reader thread and the commit loop share.
final class ReaderState: Sendable {
    let mode = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let pages = Mutex<[Int]>([0, 0, 0])
    let failure = Mutex<String?>(nil)
}

import ArbDashboard
import Foundation
import OrderStateMachine
import Synchronization

/// `commit_beside_dashboard`: the trader's transition commit while `arbadmin serve` reads the
/// same file flat out (issue 16: "the trader is never blocked"). A reader thread renders the
/// dashboard's page from its own read-only connection in a loop — what every page load and every
/// live update costs — during the odd blocks of commits and sleeps during the even ones; the two
/// sets of commits interleave block by block, so noise falls on both alike. WAL readers take no
/// lock a writer waits for, so the ratio should be 1 within noise (the reader's CPU still
/// competes on 2 cores).
enum CommitBesideDashboard {
    struct Result: Sendable {
        var alone: LatencySummary
        var beside: LatencySummary
        var pagesRendered: Int
        var ratioP50: Double { beside.p50 / alone.p50 }
        var ratioP99: Double { beside.p99 / alone.p99 }
        var targetMet: Bool { ratioP50 <= 1.15 }
    }

    static func run(in directory: String, size: RunSize) throws -> Result {
        // Commits half a millisecond apart (a busy trader, not a tight loop), so each block spans
        // enough time for the reader to render many pages.
        let iterations = size.commitIterationsNormal / 5
        let warmup = size.commitWarmup
        let gapMicroseconds: UInt32 = 500
        let blocks = 20
        let path = "\(directory)/beside-dashboard.db"
        let store = try TransitionCommit.populate(path, durability: .normal, count: warmup + iterations)
        try store.checkpoint()
        progress("commit_beside_dashboard: \(iterations) commits, the dashboard reading in every other block")

        let shared = ReaderState()
        let reader = Thread {
            while !shared.stop.load(ordering: .acquiring) {
                guard shared.reading.load(ordering: .acquiring) else { usleep(200); continue }
                do {
                    _ = try Dashboard.renderPage(databasePath: path, now: wallMilliseconds())
                    shared.pages.add(1, ordering: .relaxed)
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
        var alone = Samples(capacity: iterations)
        var beside = Samples(capacity: iterations)
        let perBlock = max(1, iterations / blocks)
        for index in 0..<(warmup + iterations) {
            let measured = index - warmup
            let besideBlock = measured >= 0 && (measured / perBlock) % 2 == 1
            shared.reading.store(besideBlock, ordering: .releasing)
            if measured >= 0 && measured % perBlock == 0 { usleep(2_000) }  // let the reader start or stop
            let id = Int64(index + 1)
            let start = monotonicNanoseconds()
            let result = try store.transition(id, from: .detected, step, at: now)
            let elapsed = monotonicNanoseconds() - start
            guard case .applied(.inFlight) = result else { throw BenchError("transition \(id): \(result)") }
            usleep(gapMicroseconds)
            guard measured >= 0 else { continue }
            if besideBlock { beside.append(elapsed) } else { alone.append(elapsed) }
        }
        shared.reading.store(false, ordering: .releasing)
        if let error = shared.failure.withLock({ $0 }) { throw BenchError("the dashboard's read failed: \(error)") }
        return Result(alone: alone.summary(), beside: beside.summary(), pagesRendered: shared.pages.load(ordering: .relaxed))
    }
}

/// What the reader thread and the commit loop share.
final class ReaderState: Sendable {
    let reading = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let pages = Atomic<Int>(0)
    let failure = Mutex<String?>(nil)
}

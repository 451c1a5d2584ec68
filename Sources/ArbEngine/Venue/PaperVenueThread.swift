import Foundation

/// The thread a paper venue's order book does a submit's work on, when time is real.
///
/// A paper venue stands in for an exchange on another machine; its work (booking the order in its
/// own SQLite file) should not take the CPU from the trader while the trader still has the other
/// leg to send. On a default actor, the first leg's hop into its paper venue wakes a pool thread,
/// and on this two-vCPU machine the woken thread was placed on the trader's own CPU and preempted
/// it at the wake (`sem_post` in the runtime's enqueue) in about 1 % of `detect_to_submit`'s
/// iterations — 100–190 µs before the second submit was even called, which was that figure's p99
/// (BENCHMARKS.md). This thread runs at `SCHED_BATCH`, whose wake-ups never preempt a running
/// thread (the scheduler's rule for batch tasks): it runs on a free CPU, or when the trader's
/// thread next waits.
///
/// Jobs run in the order they came, one at a time. The thread ends when the executor is released
/// (`PaperVenue`'s deinit) and its queue is empty.
final class PaperVenueThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var stopping = false
    private var ran = 0
    private var schedulingPolicy: Int32 = -1

    /// Jobs run so far, and the thread's scheduling policy once it runs (tests).
    var jobsRun: Int { condition.withLock { ran } }
    var policy: Int32 { condition.withLock { schedulingPolicy } }

    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = "arb-paper-\(name)"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread end once its queue is empty.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        let policy = Self.lowerToBatch()
        condition.lock()
        schedulingPolicy = policy
        while true {
            if head < jobs.count {
                let job = jobs[head]
                head += 1
                if head == jobs.count {
                    jobs.removeAll(keepingCapacity: true)
                    head = 0
                }
                condition.unlock()
                job.runSynchronously(on: asUnownedTaskExecutor())
                condition.lock()
                ran += 1
                continue
            }
            if stopping { break }
            condition.wait()
        }
        condition.unlock()
    }

    /// `SCHED_BATCH` (3 on Linux): a lower claim on the CPU, no privilege needed. Where it cannot
    /// be set the thread runs as any other. Returns the policy the thread has.
    private static func lowerToBatch() -> Int32 {
        #if os(Linux)
        var parameter = sched_param()
        parameter.sched_priority = 0
        _ = sched_setscheduler(0, 3, &parameter)
        return sched_getscheduler(0)
        #else
        return -1
        #endif
    }
}

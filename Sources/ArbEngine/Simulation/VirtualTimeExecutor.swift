import Foundation
import OrderStateMachine

/// A single-threaded task executor with virtual time, for the deterministic simulator.
///
/// Every job of the simulation (the executor, the paper venues, the Store's actor — default
/// actors run on a task's preferred executor) runs on one thread, and time moves only when
/// nothing is runnable: then the clock jumps to the earliest sleeper and wakes it. Which runnable
/// job goes next is drawn from the seed, so different seeds explore different interleavings of
/// the same tasks (any order of runnable jobs is one Swift could choose), while one seed always
/// gives the same one; a 200 ms fill timeout costs no real time.
public final class VirtualTimeExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var jobHead = 0
    private struct Sleeper {
        var wakeNanoseconds: UInt64
        var sequence: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }
    private var sleepers: [UInt64: Sleeper] = [:]
    private var cancelledBeforeSleeping: Set<UInt64> = []
    private var nextSequence: UInt64 = 0
    private var now: UInt64 = 0
    private var thread: Thread?
    private var scheduling: SeededGenerator
    /// The executor's own thread, once its loop runs (`pthread_self`: a thread's name is not a
    /// reliable identity here).
    private var loopThread: pthread_t?
    private var foreignJobs = 0

    /// Jobs enqueued from a thread other than the executor's own. A simulation started as a task
    /// on the executor has exactly one (its start); more mean work began elsewhere — outside the
    /// virtual clock's view, and outside the seed's choice of order.
    public var jobsFromOtherThreads: Int {
        condition.lock()
        defer { condition.unlock() }
        return foreignJobs
    }

    /// Virtual nanoseconds since the simulation started.
    public var nanoseconds: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return now
    }

    /// `seed` chooses the order in which runnable jobs run.
    public init(seed: UInt64) {
        scheduling = SeededGenerator.derived(seed: seed, name: "scheduling")
        let thread = Thread { [self] in self.loop() }
        thread.name = "arb-simulation"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let caller = pthread_self()
        condition.lock()
        if loopThread.map({ pthread_equal($0, caller) == 0 }) ?? true { foreignJobs += 1 }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        loopThread = pthread_self()
        while true {
            if jobHead < jobs.count {
                // The seed picks one of the runnable jobs; the rest keep their places.
                let pick = jobHead + Int(scheduling.next() % UInt64(jobs.count - jobHead))
                jobs.swapAt(jobHead, pick)
                let job = jobs[jobHead]
                jobHead += 1
                if jobHead > 1_024 && jobHead * 2 > jobs.count {
                    jobs.removeFirst(jobHead)
                    jobHead = 0
                }
                condition.unlock()
                job.runSynchronously(on: asUnownedTaskExecutor())
                condition.lock()
                continue
            }
            // Nothing runnable: advance time to the earliest sleeper (ties in sleep order).
            if let (id, sleeper) = sleepers.min(by: {
                ($0.value.wakeNanoseconds, $0.value.sequence) < ($1.value.wakeNanoseconds, $1.value.sequence)
            }) {
                sleepers[id] = nil
                now = max(now, sleeper.wakeNanoseconds)
                condition.unlock()
                sleeper.continuation.resume()
                condition.lock()
                continue
            }
            condition.wait()
        }
    }

    // MARK: - Virtual sleeping

    func newSleepID() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextSequence += 1
        return nextSequence
    }

    func sleep(id: UInt64, nanoseconds: UInt64, continuation: CheckedContinuation<Void, any Error>) {
        condition.lock()
        if cancelledBeforeSleeping.remove(id) != nil {
            condition.unlock()
            continuation.resume(throwing: CancellationError())
            return
        }
        sleepers[id] = Sleeper(wakeNanoseconds: now &+ nanoseconds, sequence: id, continuation: continuation)
        condition.signal()
        condition.unlock()
    }

    func cancelSleep(id: UInt64) {
        condition.lock()
        guard let sleeper = sleepers.removeValue(forKey: id) else {
            cancelledBeforeSleeping.insert(id)
            condition.unlock()
            return
        }
        condition.unlock()
        sleeper.continuation.resume(throwing: CancellationError())
    }
}

/// The simulator's clock: virtual wall time that only moves when the simulation is idle.
public struct VirtualClock: TradingClock {
    public let executor: VirtualTimeExecutor
    /// Virtual time zero as Unix milliseconds.
    public let epochMilliseconds: Int64

    /// 2026-01-01T00:00:00Z.
    public static let defaultEpochMilliseconds: Int64 = 1_767_225_600_000

    public init(executor: VirtualTimeExecutor, epochMilliseconds: Int64 = VirtualClock.defaultEpochMilliseconds) {
        self.executor = executor
        self.epochMilliseconds = epochMilliseconds
    }

    public func nowMilliseconds() -> Int64 { epochMilliseconds + Int64(executor.nanoseconds / 1_000_000) }

    public func monotonicNanoseconds() -> UInt64 { executor.nanoseconds }

    public func sleep(milliseconds: Int64) async throws {
        guard milliseconds > 0 else {
            await Task.yield()
            try Task.checkCancellation()
            return
        }
        let id = executor.newSleepID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                executor.sleep(id: id, nanoseconds: UInt64(milliseconds) * 1_000_000, continuation: continuation)
            }
        } onCancel: {
            executor.cancelSleep(id: id)
        }
    }

    public var taskExecutor: (any TaskExecutor)? { executor }
}

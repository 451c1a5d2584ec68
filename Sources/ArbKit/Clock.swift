#if canImport(Glibc)
import Glibc
#endif

/// Time, injected: the trader reads the wall clock and sleeps only through this, so a simulator
/// can run the same code on virtual time.
public protocol TradingClock: Sendable {
    /// Wall-clock time in Unix milliseconds (UTC).
    func nowMilliseconds() -> Int64
    /// A monotonic reading in nanoseconds, for measuring durations.
    func monotonicNanoseconds() -> UInt64
    /// Suspends for `milliseconds` (cancellable).
    func sleep(milliseconds: Int64) async throws
    /// Where work spawned outside structured concurrency (`Task {}`) must run, so a simulator's
    /// single-threaded executor sees every job. nil: the default global executor.
    var taskExecutor: (any TaskExecutor)? { get }
}

extension TradingClock {
    public var taskExecutor: (any TaskExecutor)? { nil }
}

/// The machine's clocks.
public struct SystemClock: TradingClock {
    public init() {}

    public func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    public func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    public func sleep(milliseconds: Int64) async throws {
        guard milliseconds > 0 else { return }
        try await Task.sleep(for: .milliseconds(milliseconds))
    }
}

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

/// splitmix64: small, fast and seedable, so one seed reproduces a whole run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for one named thing (an order, an event) derived from a run's seed, so its
    /// fate does not depend on the order in which concurrent tasks happen to ask.
    public static func derived(seed: UInt64, name: String) -> SeededGenerator {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return SeededGenerator(seed: seed ^ hash)
    }
}

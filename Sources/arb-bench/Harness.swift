#if canImport(Glibc)
import Glibc
#endif

// MARK: - Clock

/// `CLOCK_MONOTONIC` in nanoseconds: never steps with the wall clock, so every interval below is
/// a true duration.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Wall-clock Unix milliseconds, for the timestamps the engine stores (never for measuring).
func wallMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
}

// MARK: - Samples

/// Latencies of one measured loop. Percentiles are read from the sorted array (nearest rank), so
/// p99 of 1,000 samples is the 990th smallest: no interpolation, no histogram buckets.
struct Samples {
    private(set) var nanoseconds: [UInt64] = []

    init(capacity: Int) { nanoseconds.reserveCapacity(capacity) }

    mutating func append(_ value: UInt64) { nanoseconds.append(value) }

    var count: Int { nanoseconds.count }

    func summary() -> LatencySummary { LatencySummary(nanoseconds) }
}

/// p50/p99/mean/min/max of a set of samples, in microseconds.
struct LatencySummary: Sendable {
    var count: Int
    var p50: Double
    var p99: Double
    var mean: Double
    var min: Double
    var max: Double

    init(_ samples: [UInt64]) {
        precondition(!samples.isEmpty, "a latency summary needs at least one sample")
        let sorted = samples.sorted()
        func rank(_ quantile: Double) -> Double {
            // Nearest rank: the smallest sample with at least `quantile` of the samples at or below it.
            let index = Swift.max(0, Int((quantile * Double(sorted.count)).rounded(.up)) - 1)
            return Double(sorted[Swift.min(index, sorted.count - 1)]) / 1_000
        }
        count = sorted.count
        p50 = rank(0.50)
        p99 = rank(0.99)
        mean = Double(sorted.reduce(0, +)) / Double(sorted.count) / 1_000
        min = Double(sorted[0]) / 1_000
        max = Double(sorted[sorted.count - 1]) / 1_000
    }

    var json: JSON {
        .object([("p50_us", .number(p50)), ("p99_us", .number(p99)), ("mean_us", .number(mean)),
                 ("min_us", .number(min)), ("max_us", .number(max)), ("samples", .integer(count))])
    }
}

// MARK: - Sizes

/// How long each figure runs. `quick` is a smoke run (about 15 s): the same code on fewer
/// iterations, so its percentiles are indicative only.
struct RunSize: Sendable {
    var quick: Bool
    var commitWarmup: Int
    var commitIterationsFull: Int
    var commitIterationsNormal: Int
    var fdatasyncIterations: Int
    var detectWarmup: Int
    var detectIterations: Int
    var fillWarmup: Int
    var fillIterations: Int
    var detectorRounds: Int
    var detectorPassesPerRound: Int
    var allocationUpdates: (Int, Int)
    var recoveryOpportunities: Int
    var recoveryBaselineCommits: Int
    var demoSeconds: Int
    var booksRounds: Int
    var booksPassesPerRound: Int
    var booksSlowMessages: Int
    var booksAllocationMessages: Int
    var wireWarmup: Int
    var wireIterations: Int

    static let full = RunSize(
        quick: false, commitWarmup: 50, commitIterationsFull: 2_000, commitIterationsNormal: 10_000,
        fdatasyncIterations: 1_000, detectWarmup: 20, detectIterations: 5_000, fillWarmup: 20, fillIterations: 1_000,
        detectorRounds: 15, detectorPassesPerRound: 8, allocationUpdates: (65_536, 327_680),
        recoveryOpportunities: 10_000, recoveryBaselineCommits: 300, demoSeconds: 5,
        booksRounds: 11, booksPassesPerRound: 4, booksSlowMessages: 16_384, booksAllocationMessages: 32_768,
        wireWarmup: 40, wireIterations: 1_000)

    static let quick = RunSize(
        quick: true, commitWarmup: 10, commitIterationsFull: 150, commitIterationsNormal: 1_000,
        fdatasyncIterations: 50, detectWarmup: 5, detectIterations: 60, fillWarmup: 5, fillIterations: 100,
        detectorRounds: 5, detectorPassesPerRound: 2, allocationUpdates: (65_536, 131_072),
        recoveryOpportunities: 700, recoveryBaselineCommits: 50, demoSeconds: 1,
        booksRounds: 5, booksPassesPerRound: 1, booksSlowMessages: 2_048, booksAllocationMessages: 8_192,
        wireWarmup: 10, wireIterations: 60)
}

/// Progress on standard error, so `--json` output on standard output stays one clean object.
func progress(_ message: String) {
    var line = "arb-bench: \(message)\n"
    line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

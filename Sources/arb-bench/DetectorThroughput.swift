import ArbEngine
import OrderStateMachine
#if canImport(Glibc)
import Glibc
#endif

/// `detector_throughput`: quote updates per second over 1,000 event pairs on one core, and the
/// heap allocations each update makes.
///
/// The quotes come from the demo's seeded generator over a 1,000-event config (so prices walk,
/// spreads vary and profitable, marginal, fee-eaten and stale cases are injected as in `arb run`),
/// generated once into a ring of 65,536 and replayed. The floor beside it applies the same quotes
/// to a flat book array at precomputed slots with the pair's price sum — what any detector must at
/// least do — without the (venue, instrument) lookup, the fees or the candidate.
enum DetectorThroughput {
    static let eventCount = 1_000
    static let ringSize = 1 << 16

    struct Workload {
        var config: TraderConfig
        var quotes: [Quote]
    }

    struct Result: Sendable {
        var updatesPerSecondP50: Double
        var updatesPerSecondMin: Double
        var nanosecondsPerUpdateP50: Double
        var floorUpdatesPerSecondP50: Double
        var floorNanosecondsPerUpdateP50: Double
        var updatesPerRound: Int
        var rounds: Int
        var candidatesPerPass: Int
        var allocations: AllocationCount?
        var allocationNote: String
        var valgrind: JSON
    }

    /// Heap allocations recorded while the detector applied `updates` quotes.
    struct AllocationCount: Sendable {
        var updates: Int
        var allocations: Int
        var command: String
        var perUpdate: Double { Double(allocations) / Double(updates) }
    }

    static func workload() -> Workload {
        let config = BenchConfig.trader(events: eventCount, databasePath: "unused.db")
        var generator = DemoQuoteGenerator(config: config, seed: 42)
        var quotes: [Quote] = []
        quotes.reserveCapacity(ringSize)
        let start: Int64 = 1_750_000_000_000
        // 64 quotes per millisecond: a round over all 4,000 books takes 62 ms, well inside the
        // 400 ms staleness limit, so the generator's stale cases are the only stale quotes.
        for index in 0..<ringSize { quotes.append(generator.next(nowMilliseconds: start + Int64(index / 64))) }
        return Workload(config: config, quotes: quotes)
    }

    /// Applies `count` updates from the ring; returns how many produced a candidate.
    @inline(never)
    static func apply(_ detector: inout Detector, _ quotes: [Quote], count: Int) -> Int {
        var candidates = 0
        var index = 0
        for _ in 0..<count {
            let quote = quotes[index]
            if detector.update(quote, nowMilliseconds: quote.timestampMilliseconds) != nil { candidates &+= 1 }
            index = index == quotes.count - 1 ? 0 : index + 1
        }
        return candidates
    }

    struct FloorBook {
        var askTicks: Int64 = 0
        var askHundredths: Int64 = 0
        var timestampMilliseconds: Int64 = 0
    }

    /// The floor: book write and pair sum at a precomputed slot.
    @inline(never)
    static func applyFloor(_ books: inout ContiguousArray<FloorBook>, _ quotes: [Quote], slots: [Int], count: Int) -> Int {
        var crossed = 0
        var index = 0
        for _ in 0..<count {
            let quote = quotes[index]
            let slot = slots[index]
            books[slot] = FloorBook(askTicks: quote.ask?.ticks ?? 0, askHundredths: quote.askSize.hundredths,
                                    timestampMilliseconds: quote.timestampMilliseconds)
            let within = slot & 3
            let partner = (slot & ~3) + 3 - within
            let a = books[slot]
            let b = books[partner]
            if a.askTicks > 0, b.askTicks > 0, a.askTicks + b.askTicks < Price.ticksPerDollar { crossed &+= 1 }
            index = index == quotes.count - 1 ? 0 : index + 1
        }
        return crossed
    }

    static func run(size: RunSize, scratch: String) throws -> Result {
        progress("detector_throughput: \(eventCount) event pairs, \(size.detectorRounds) rounds")
        let work = workload()
        var detector = Detector(config: work.config, venueFees: BenchConfig.venueFees)
        // The floor's slots, numbered as the detector numbers them.
        var slotByInstrument: [String: Int] = [:]
        for (index, pair) in work.config.events.enumerated() {
            for (venueSlot, venue) in pair.venueNames.enumerated() {
                for (outcomeSlot, outcome) in pair.outcomes.enumerated() {
                    slotByInstrument["\(venue)|\(pair.instruments[venue]![outcome]!)"] = index * 4 + venueSlot * 2 + outcomeSlot
                }
            }
        }
        let slots = work.quotes.map { slotByInstrument["\($0.venue)|\($0.instrument)"]! }
        var books = ContiguousArray(repeating: FloorBook(), count: eventCount * 4)

        let perRound = ringSize * size.detectorPassesPerRound
        let candidatesPerPass = apply(&detector, work.quotes, count: ringSize)  // warm-up
        _ = applyFloor(&books, work.quotes, slots: slots, count: ringSize)
        var detectorRates: [Double] = []
        var floorRates: [Double] = []
        var sink = 0
        for _ in 0..<size.detectorRounds {
            var start = monotonicNanoseconds()
            sink &+= apply(&detector, work.quotes, count: perRound)
            detectorRates.append(Double(perRound) / (Double(monotonicNanoseconds() - start) / 1e9))
            start = monotonicNanoseconds()
            sink &+= applyFloor(&books, work.quotes, slots: slots, count: perRound)
            floorRates.append(Double(perRound) / (Double(monotonicNanoseconds() - start) / 1e9))
        }
        precondition(sink >= 0)
        detectorRates.sort()
        floorRates.sort()
        let median = detectorRates[detectorRates.count / 2]
        let floorMedian = floorRates[floorRates.count / 2]

        let (allocations, note, valgrind) = countAllocations(updates: size.allocationUpdates, scratch: scratch)
        return Result(
            updatesPerSecondP50: median, updatesPerSecondMin: detectorRates[0], nanosecondsPerUpdateP50: 1e9 / median,
            floorUpdatesPerSecondP50: floorMedian, floorNanosecondsPerUpdateP50: 1e9 / floorMedian,
            updatesPerRound: perRound, rounds: size.detectorRounds, candidatesPerPass: candidatesPerPass,
            allocations: allocations, allocationNote: note, valgrind: valgrind)
    }

    /// `arb-bench --detector-only N [--trace-malloc]`: the same workload, one untraced warm-up
    /// pass over the ring, then N updates and nothing else — the process whose allocations are
    /// counted. With `--trace-malloc`, glibc's mtrace(3) records exactly those N updates.
    static func detectorOnly(updates: Int, traceMalloc: Bool) {
        let work = workload()
        var detector = Detector(config: work.config, venueFees: BenchConfig.venueFees)
        _ = apply(&detector, work.quotes, count: ringSize)
        let hooks = traceMalloc ? MallocTrace.hooks() : nil
        if traceMalloc, hooks == nil { progress("--trace-malloc: libc_malloc_debug is not preloaded") }
        // The workload outlives the trace: its deallocation is not the updates' doing.
        let candidates = withExtendedLifetime(work) {
            hooks?.start()
            let candidates = apply(&detector, work.quotes, count: updates)
            hooks?.stop()
            return candidates
        }
        print("updates \(updates) candidates \(candidates) quotes seen \(detector.quotesSeen)")
    }

    /// Counts heap allocations per update in child processes running only the detector loop:
    /// - glibc's mtrace(3) (`libc_malloc_debug` preloaded) logs every malloc, calloc, realloc and
    ///   memalign between `mtrace()` and `muntrace()` — around the N updates alone;
    /// - valgrind's memcheck, where it works, as a cross-check: "total heap usage: X allocs" of
    ///   two runs that differ only in the number of updates.
    static func countAllocations(updates: (Int, Int), scratch: String) -> (AllocationCount?, String, JSON) {
        let executable = executablePath()
        var note = "mtrace unavailable (no libc_malloc_debug.so.0)"
        var count: AllocationCount?
        if let library = MallocTrace.library {
            progress("detector_throughput: counting allocations with mtrace (\(updates.1) updates)")
            let trace = "\(scratch)/mtrace.log"
            let arguments = [executable, "--detector-only", String(updates.1), "--trace-malloc"]
            if let exit = try? runChild(arguments, stdoutPath: "\(scratch)/mtrace.out", stderrPath: "\(scratch)/mtrace.err",
                                        environment: ["LD_PRELOAD=\(library)", "MALLOC_TRACE=\(trace)"]),
               exit.succeeded, let allocs = MallocTrace.allocations(inTrace: trace)
            {
                let command = "LD_PRELOAD=\(library) MALLOC_TRACE=mtrace.log arb-bench --detector-only \(updates.1) --trace-malloc"
                count = AllocationCount(updates: updates.1, allocations: allocs, command: command)
                note = "glibc mtrace(3) around \(updates.1) updates after a warm-up pass: allocation records / updates"
            } else {
                note = "mtrace run failed: allocations not counted"
            }
        }
        return (count, note, valgrindCrossCheck(updates: updates, scratch: scratch, executable: executable))
    }

    static func valgrindCrossCheck(updates: (Int, Int), scratch: String, executable: String) -> JSON {
        guard let valgrind = findOnPath("valgrind") else { return .object([("status", .string("valgrind not on PATH"))]) }
        // valgrind 3.19 cannot read the DWARF 5 the Swift toolchain emits: run a copy without it.
        let copy = "\(scratch)/arb-bench-nodebug"
        guard let objcopy = findOnPath("objcopy"),
              let stripped = try? runChild([objcopy, "--strip-debug", executable, copy], stdoutPath: "/dev/null",
                                           stderrPath: "\(scratch)/objcopy.err"),
              stripped.succeeded
        else { return .object([("status", .string("objcopy --strip-debug failed: valgrind not run"))]) }
        progress("detector_throughput: valgrind cross-check (\(updates.0) and \(updates.1) updates)")
        func allocs(_ count: Int) -> Int? {
            let err = "\(scratch)/valgrind-\(count).err"
            let arguments = [valgrind, "--tool=memcheck", "--undef-value-errors=no", "--leak-check=no", copy,
                             "--detector-only", String(count)]
            guard let exit = try? runChild(arguments, stdoutPath: "\(scratch)/valgrind-\(count).out", stderrPath: err),
                  exit.succeeded
            else { return nil }
            // "==123== total heap usage: 1,234 allocs, 1,200 frees, 56,789 bytes allocated"
            for line in readTextFile(err).split(separator: "\n") {
                guard let range = line.range(of: "total heap usage: ") else { continue }
                return Int(String(line[range.upperBound...].prefix { $0.isNumber || $0 == "," }.filter(\.isNumber)))
            }
            return nil
        }
        guard let first = allocs(updates.0), let second = allocs(updates.1) else {
            return .object([("status", .string("valgrind did not report heap usage"))])
        }
        return .object([
            ("status", .string("ok")),
            ("command", .string("valgrind --tool=memcheck --undef-value-errors=no --leak-check=no arb-bench-nodebug --detector-only N")),
            ("updates", .array([.integer(updates.0), .integer(updates.1)])),
            ("total_allocs", .array([.integer(first), .integer(second)])),
            ("allocations_per_update", .number(Double(second - first) / Double(updates.1 - updates.0))),
        ])
    }
}

/// glibc's malloc tracer, mtrace(3). Since glibc 2.34 it lives in `libc_malloc_debug.so.0`, which
/// must be preloaded; its `mtrace`/`muntrace` are versioned symbols that a plain `dlsym` misses
/// (it finds libc's no-op stubs), hence `dlvsym`.
enum MallocTrace {
    typealias Hook = @convention(c) () -> Void
    typealias VersionedLookup = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>, UnsafePointer<CChar>)
        -> UnsafeMutableRawPointer?

    static let candidates = [
        "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0", "/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0",
        "/lib/aarch64-linux-gnu/libc_malloc_debug.so.0", "/usr/lib/aarch64-linux-gnu/libc_malloc_debug.so.0",
        "/lib64/libc_malloc_debug.so.0", "/usr/lib64/libc_malloc_debug.so.0",
    ]

    static var library: String? { candidates.first { access($0, R_OK) == 0 } }

    static func hooks() -> (start: Hook, stop: Hook)? {
        guard let library = dlopen("libc_malloc_debug.so.0", RTLD_NOW | RTLD_NOLOAD),
              let lookupSymbol = dlsym(dlopen(nil, RTLD_NOW), "dlvsym")
        else { return nil }
        let lookup = unsafeBitCast(lookupSymbol, to: VersionedLookup.self)
        guard let start = lookup(library, "mtrace", "GLIBC_2.2.5"), let stop = lookup(library, "muntrace", "GLIBC_2.2.5")
        else { return nil }
        return (unsafeBitCast(start, to: Hook.self), unsafeBitCast(stop, to: Hook.self))
    }

    /// Allocation records of an mtrace log: `+` (malloc, calloc, memalign) and `>` (the block a
    /// realloc returns). nil when the log does not show a complete trace.
    static func allocations(inTrace path: String) -> Int? {
        let text = readTextFile(path)
        guard text.contains("= Start"), text.contains("= End") else { return nil }
        var count = 0
        for line in text.split(separator: "\n") where line.hasPrefix("@") || line.hasPrefix("+") || line.hasPrefix(">") {
            if line.split(separator: " ").contains(where: { $0 == "+" || $0 == ">" }) { count += 1 }
        }
        return count
    }
}

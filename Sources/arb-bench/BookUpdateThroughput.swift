import ArbKit
import KalshiVenue
import OrderStateMachine
import PolymarketVenue
#if canImport(Glibc)
import Glibc
#endif

/// `book_update_throughput`: Kalshi `orderbook_delta` and Polymarket `price_change` messages —
/// recorded-shape JSON text — parsed, applied to the local books and turned into quotes, on one
/// core; the heap allocations each message makes; and, from the same bytes in the same run, the
/// fast parser alone (the baseline) and the old `JSONSerialization` path (for comparison).
///
/// The text is built once into a ring of byte buffers: 300 Kalshi tickers (one subscription, seq
/// rising by one) and 300 Polymarket tokens (150 markets, both tokens in each `price_change`, as
/// the venue sends them), prices walking within four cents of the top, sizes kept consistent so
/// that no delta takes a level below zero. Every book is seeded from a snapshot (`book`) first,
/// and seeded again, untimed, before each pass over the ring, so every pass replays the same
/// states and Kalshi's seq continues from the snapshots'.
enum BookUpdateThroughput {
    static let marketCount = 300
    static let ringSize = 1 << 15
    static let targetMessagesPerSecond = 500_000.0

    enum Venue: String, CaseIterable, Sendable {
        case kalshi, polymarket
    }

    /// The recorded-shape text of one venue: seeding messages and the ring, in one byte arena.
    struct Workload {
        var venue: Venue
        var arena: [UInt8] = []
        var seeds: [Range<Int>] = []
        var ring: [Range<Int>] = []
        var keys: [String] = []

        mutating func add(_ text: String, seed: Bool) {
            let start = arena.count
            arena.append(contentsOf: text.utf8)
            if seed { seeds.append(start..<arena.count) } else { ring.append(start..<arena.count) }
        }
    }

    struct VenueResult: Sendable {
        var venue: Venue
        var messagesPerSecondP50: Double
        var messagesPerSecondMin: Double
        var parserMessagesPerSecondP50: Double
        var slowMessagesPerSecondP50: Double
        var quotesPerMessage: Double
        var averageMessageBytes: Double
        var allocations: DetectorThroughput.AllocationCount?
        var allocationNote: String
        /// The same count through `JSONSerialization` (the path before), on fewer messages.
        var slowAllocations: DetectorThroughput.AllocationCount?

        var ratio: Double { parserMessagesPerSecondP50 / messagesPerSecondP50 }
        var rateMet: Bool { messagesPerSecondP50 >= BookUpdateThroughput.targetMessagesPerSecond }
        var allocationsMet: Bool { allocations.map { $0.allocations == 0 } ?? false }
    }

    struct Result: Sendable {
        var kalshi: VenueResult
        var polymarket: VenueResult
        var rounds: Int
        var messagesPerRound: Int
        var targetMet: Bool { [kalshi, polymarket].allSatisfy { $0.rateMet && $0.allocationsMet } }
    }

    // MARK: - Workloads

    static func workload(_ venue: Venue) -> Workload {
        switch venue {
        case .kalshi: kalshiWorkload()
        case .polymarket: polymarketWorkload()
        }
    }

    static func hex(_ count: Int, _ generator: inout SeededGenerator) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement(using: &generator)! })
    }

    static func dollars(cents: Int, digits: Int) -> String {
        digits == 4 ? "0." + (cents < 10 ? "0" : "") + "\(cents)00" : "0." + (cents < 10 ? "0" : "") + "\(cents)"
    }

    static func contracts(_ hundredths: Int64) -> String {
        "\(hundredths / 100)." + (hundredths % 100 < 10 ? "0" : "") + "\(hundredths % 100)"
    }

    /// One `orderbook_delta` subscription over 300 tickers: snapshots of ten levels a side, then
    /// deltas within four cents of each side's top, signed so that no level goes below zero.
    static func kalshiWorkload() -> Workload {
        var generator = SeededGenerator(seed: 1_717)
        var work = Workload(venue: .kalshi)
        let series = ["KXBTCD-26DEC0417-T", "KXETHD-26DEC0417-T", "KXHIGHNY-26DEC04-B", "KXINXU-26DEC04H1600-T", "KXFEDDECISION-26DEC-H"]
        var mids: [Int] = []
        var marketIDs: [String] = []
        // Each side's levels as the deltas leave them: [ticker][side][cents] = hundredths.
        var levels: [[[Int: Int64]]] = []
        for index in 0..<marketCount {
            let ticker = series[index % series.count] + "\(90_000 + 25 * index).99"
            work.keys.append(ticker)
            mids.append(Int.random(in: 20...80, using: &generator))
            marketIDs.append(hex(8, &generator) + "-" + hex(4, &generator) + "-" + hex(4, &generator) + "-" + hex(4, &generator) + "-" + hex(12, &generator))
            var sides: [[Int: Int64]] = [[:], [:]]
            var texts: [String] = []
            for side in 0..<2 {
                let top = side == 0 ? mids[index] - 1 : 100 - mids[index] - 1
                var items: [String] = []
                for cents in stride(from: top, to: max(0, top - 10), by: -1) {
                    let size = Int64.random(in: 1...500, using: &generator) * 100
                    sides[side][cents] = size
                    items.append("[\"\(dollars(cents: cents, digits: 4))\",\"\(contracts(size))\"]")
                }
                texts.append("[" + items.joined(separator: ",") + "]")
            }
            levels.append(sides)
            work.add(#"{"type":"orderbook_snapshot","sid":1,"seq":\#(index + 1),"msg":{"market_ticker":"\#(ticker)","market_id":"\#(marketIDs[index])","yes_dollars_fp":\#(texts[0]),"no_dollars_fp":\#(texts[1])}}"#,
                     seed: true)
        }
        for index in 0..<ringSize {
            let market = Int.random(in: 0..<marketCount, using: &generator)
            let side = Int.random(in: 0...1, using: &generator)
            let top = side == 0 ? mids[market] - 1 : 100 - mids[market] - 1
            let cents = top + 1 - Int.random(in: 0...4, using: &generator)
            let resting = levels[market][side][cents] ?? 0
            let change: Int64
            if resting > 0, Bool.random(using: &generator) {
                // Takes some or, one time in four, all of the level.
                change = Int.random(in: 0..<4, using: &generator) == 0 ? -resting : -Int64.random(in: 1...resting, using: &generator)
            } else {
                change = Int64.random(in: 1...20_000, using: &generator)
            }
            levels[market][side][cents] = resting + change
            let changeText = (change < 0 ? "-" : "") + contracts(abs(change))
            work.add(#"{"type":"orderbook_delta","sid":1,"seq":\#(marketCount + index + 1),"msg":{"market_ticker":"\#(work.keys[market])","market_id":"\#(marketIDs[market])","price_dollars":"\#(dollars(cents: cents, digits: 4))","delta_fp":"\#(changeText)","side":"\#(side == 0 ? "yes" : "no")","ts_ms":\#(1_764_000_000_000 + index)}}"#,
                     seed: false)
        }
        return work
    }

    /// 150 markets, two tokens each: `book`s of ten levels a side, then `price_change`s as the
    /// venue sends them — the YES token's level and the NO token's mirror in one message, event
    /// type last — within three cents of the top; one change in six empties its level.
    static func polymarketWorkload() -> Workload {
        var generator = SeededGenerator(seed: 2_727)
        var work = Workload(venue: .polymarket)
        var mids: [Int] = []
        var conditions: [String] = []
        for market in 0..<(marketCount / 2) {
            conditions.append("0x" + hex(64, &generator))
            mids.append(Int.random(in: 20...80, using: &generator))
            for outcome in 0..<2 {
                let token = String(Int.random(in: 1...9, using: &generator)) + String((0..<76).map { _ in "0123456789".randomElement(using: &generator)! })
                work.keys.append(token)
                let mid = outcome == 0 ? mids[market] : 100 - mids[market]
                func side(_ from: Int, _ step: Int, _ generator: inout SeededGenerator) -> String {
                    "[" + (0..<10).map { offset in
                        #"{"price":"\#(dollars(cents: from + step * offset, digits: 2))","size":"\#(Int.random(in: 1...900, using: &generator)).\#(Int.random(in: 10...99, using: &generator))"}"#
                    }.joined(separator: ",") + "]"
                }
                let bids = side(mid - 1, -1, &generator)
                let asks = side(mid + 1, 1, &generator)
                work.add(#"{"event_type":"book","asset_id":"\#(token)","market":"\#(conditions[market])","bids":\#(bids),"asks":\#(asks),"timestamp":"1757908892351","hash":"\#(hex(40, &generator))"}"#,
                         seed: true)
            }
        }
        for index in 0..<ringSize {
            let market = Int.random(in: 0..<(marketCount / 2), using: &generator)
            let buy = Bool.random(using: &generator)
            let offset = Int.random(in: 0...3, using: &generator)
            let cents = buy ? mids[market] - offset : mids[market] + offset
            let size = Int.random(in: 0..<6, using: &generator) == 0
                ? "0" : "\(Int.random(in: 1...2_000, using: &generator)).\(Int.random(in: 0...99, using: &generator))"
            let yes = work.keys[2 * market]
            let no = work.keys[2 * market + 1]
            let bestBid = dollars(cents: mids[market] - 1, digits: 2)
            let bestAsk = dollars(cents: mids[market] + 1, digits: 2)
            let mirrorBid = dollars(cents: 100 - mids[market] - 1, digits: 2)
            let mirrorAsk = dollars(cents: 100 - mids[market] + 1, digits: 2)
            work.add(#"{"market":"\#(conditions[market])","price_changes":[{"asset_id":"\#(yes)","price":"\#(dollars(cents: cents, digits: 2))","size":"\#(size)","side":"\#(buy ? "BUY" : "SELL")","hash":"\#(hex(40, &generator))","best_bid":"\#(bestBid)","best_ask":"\#(bestAsk)"},{"asset_id":"\#(no)","price":"\#(dollars(cents: 100 - cents, digits: 2))","size":"\#(size)","side":"\#(buy ? "SELL" : "BUY")","hash":"\#(hex(40, &generator))","best_bid":"\#(mirrorBid)","best_ask":"\#(mirrorAsk)"}],"timestamp":"\#(1_757_908_892_351 + index)","event_type":"price_change"}"#,
                     seed: false)
        }
        return work
    }

    // MARK: - Loops

    /// Applies the seeding messages (untimed): every book rebuilt, Kalshi's seq where the ring starts.
    static func seed<Books: MeasuredBooks>(_ books: inout Books, _ work: Workload, events: inout [BookFeedEvent]) {
        work.arena.withUnsafeBufferPointer { arena in
            for range in work.seeds {
                books.apply(UnsafeBufferPointer(rebasing: arena[range]), now: 1_764_000_000_000, into: &events)
            }
        }
        events.removeAll(keepingCapacity: true)
    }

    /// Parse, apply, quotes out for `count` messages of the ring; returns the quotes made.
    @inline(never)
    static func applyMessages<Books: MeasuredBooks>(_ books: inout Books, _ work: Workload, count: Int, events: inout [BookFeedEvent]) -> Int {
        var quotes = 0
        work.arena.withUnsafeBufferPointer { arena in
            for index in 0..<count {
                events.removeAll(keepingCapacity: true)
                books.apply(UnsafeBufferPointer(rebasing: arena[work.ring[index]]), now: 1_764_000_000_000 &+ Int64(index >> 6), into: &events)
                quotes &+= events.count
            }
        }
        return quotes
    }

    /// The baseline: the same bytes through the fast parser alone, no book touched.
    @inline(never)
    static func parseMessages<Books: MeasuredBooks>(_ books: inout Books, _ work: Workload, count: Int) -> Int {
        var sum = 0
        work.arena.withUnsafeBufferPointer { arena in
            for index in 0..<count { sum &+= books.parseOnly(UnsafeBufferPointer(rebasing: arena[work.ring[index]])) }
        }
        return sum
    }

    static func run(size: RunSize, scratch: String) -> Result {
        progress("book_update_throughput: \(marketCount) markets a venue, \(size.booksRounds) rounds of \(size.booksPassesPerRound) × \(ringSize) messages")
        let kalshi = measure(workload(.kalshi), size: size, scratch: scratch)
        let polymarket = measure(workload(.polymarket), size: size, scratch: scratch)
        return Result(kalshi: kalshi, polymarket: polymarket, rounds: size.booksRounds, messagesPerRound: ringSize * size.booksPassesPerRound)
    }

    static func measure(_ work: Workload, size: RunSize, scratch: String) -> VenueResult {
        switch work.venue {
        case .kalshi: measure(KalshiBooks(venue: "kalshi", tickers: work.keys), work, size: size, scratch: scratch)
        case .polymarket:
            measure(PolymarketBooks(venue: "polymarket", tokens: work.keys, silenceMilliseconds: 60_000), work, size: size, scratch: scratch)
        }
    }

    static func measure<Books: MeasuredBooks>(_ initial: Books, _ work: Workload, size: RunSize, scratch: String) -> VenueResult {
        var books = initial
        var events: [BookFeedEvent] = []
        events.reserveCapacity(64)
        seed(&books, work, events: &events)
        // Warm-up, and the check that the workload is what it says: every message on the fast
        // path, two quotes out of each.
        let fastBefore = books.fastPathMessages
        let quotesPerPass = applyMessages(&books, work, count: ringSize, events: &events)
        precondition(books.fastPathMessages - fastBefore == ringSize, "\(work.venue): messages left the fast path")
        precondition(quotesPerPass == 2 * ringSize, "\(work.venue): \(quotesPerPass) quotes from \(ringSize) messages")
        precondition(parseMessages(&books, work, count: ringSize) != 0)

        var rates: [Double] = []
        var parserRates: [Double] = []
        var sink = 0
        for _ in 0..<size.booksRounds {
            var applyNanoseconds: UInt64 = 0
            var parseNanoseconds: UInt64 = 0
            for _ in 0..<size.booksPassesPerRound {
                seed(&books, work, events: &events)
                var start = monotonicNanoseconds()
                sink &+= applyMessages(&books, work, count: ringSize, events: &events)
                applyNanoseconds += monotonicNanoseconds() - start
                start = monotonicNanoseconds()
                sink &+= parseMessages(&books, work, count: ringSize)
                parseNanoseconds += monotonicNanoseconds() - start
            }
            let messages = Double(ringSize * size.booksPassesPerRound)
            rates.append(messages / (Double(applyNanoseconds) / 1e9))
            parserRates.append(messages / (Double(parseNanoseconds) / 1e9))
        }

        // The path every message took before: JSONSerialization, fewer messages (it is slow).
        var slowRates: [Double] = []
        var slow = initial
        slow.fastPathEnabled = false
        for _ in 0..<3 {
            seed(&slow, work, events: &events)
            let start = monotonicNanoseconds()
            sink &+= applyMessages(&slow, work, count: size.booksSlowMessages, events: &events)
            slowRates.append(Double(size.booksSlowMessages) / (Double(monotonicNanoseconds() - start) / 1e9))
        }
        precondition(sink != 0)
        rates.sort()
        parserRates.sort()
        slowRates.sort()
        let (allocations, note) = countAllocations(work.venue, messages: size.booksAllocationMessages, slowPath: false, scratch: scratch)
        let (slowAllocations, _) = countAllocations(work.venue, messages: size.booksSlowMessages / 8, slowPath: true, scratch: scratch)
        return VenueResult(
            venue: work.venue, messagesPerSecondP50: rates[rates.count / 2], messagesPerSecondMin: rates[0],
            parserMessagesPerSecondP50: parserRates[parserRates.count / 2], slowMessagesPerSecondP50: slowRates[slowRates.count / 2],
            quotesPerMessage: Double(quotesPerPass) / Double(ringSize),
            averageMessageBytes: Double(work.ring.map(\.count).reduce(0, +)) / Double(ringSize),
            allocations: allocations, allocationNote: note, slowAllocations: slowAllocations)
    }

    // MARK: - Allocations

    /// `arb-bench --books-only kalshi|polymarket N [--trace-malloc] [--slow-path]`: the same
    /// workload, seeded, one untraced warm-up pass, seeded again (untraced), then N messages and
    /// nothing else — the process whose allocations are counted. N is at most one pass over the
    /// ring. `--slow-path` sends every message through `JSONSerialization`.
    static func booksOnly(_ venue: Venue, messages: Int, traceMalloc: Bool, slowPath: Bool) {
        let work = workload(venue)
        func run<Books: MeasuredBooks>(_ initial: Books) {
            var books = initial
            books.fastPathEnabled = !slowPath
            var events: [BookFeedEvent] = []
            events.reserveCapacity(64)
            seed(&books, work, events: &events)
            _ = applyMessages(&books, work, count: ringSize, events: &events)
            seed(&books, work, events: &events)
            let hooks = traceMalloc ? MallocTrace.hooks() : nil
            if traceMalloc, hooks == nil { progress("--trace-malloc: libc_malloc_debug is not preloaded") }
            let fastBefore = books.fastPathMessages
            // The workload outlives the trace: its deallocation is not the messages' doing.
            let quotes = withExtendedLifetime(work) {
                hooks?.start()
                let quotes = applyMessages(&books, work, count: min(messages, ringSize), events: &events)
                hooks?.stop()
                return quotes
            }
            print("messages \(min(messages, ringSize)) quotes \(quotes) fast \(books.fastPathMessages - fastBefore)")
        }
        switch venue {
        case .kalshi: run(KalshiBooks(venue: "kalshi", tickers: work.keys))
        case .polymarket: run(PolymarketBooks(venue: "polymarket", tokens: work.keys, silenceMilliseconds: 60_000))
        }
    }

    /// Counts heap allocations per message in a child process (glibc mtrace(3), as
    /// `detector_throughput` does), around the N messages alone.
    static func countAllocations(_ venue: Venue, messages: Int, slowPath: Bool, scratch: String) -> (DetectorThroughput.AllocationCount?, String) {
        guard let library = MallocTrace.library else { return (nil, "mtrace unavailable (no libc_malloc_debug.so.0)") }
        let count = min(messages, ringSize)
        let path = slowPath ? " --slow-path" : ""
        progress("book_update_throughput: counting \(venue.rawValue)\(path) allocations with mtrace (\(count) messages)")
        let trace = "\(scratch)/mtrace-books-\(venue.rawValue)\(slowPath ? "-slow" : "").log"
        let arguments = [executablePath(), "--books-only", venue.rawValue, String(count), "--trace-malloc"] + (slowPath ? ["--slow-path"] : [])
        guard let exit = try? runChild(arguments, stdoutPath: "\(scratch)/mtrace-books.out", stderrPath: "\(scratch)/mtrace-books.err",
                                       environment: ["LD_PRELOAD=\(library)", "MALLOC_TRACE=\(trace)"]),
              exit.succeeded, let allocations = MallocTrace.allocations(inTrace: trace)
        else { return (nil, "mtrace run failed: allocations not counted") }
        let command = "LD_PRELOAD=\(library) MALLOC_TRACE=mtrace.log arb-bench --books-only \(venue.rawValue) \(count) --trace-malloc\(path)"
        return (DetectorThroughput.AllocationCount(updates: count, allocations: allocations, command: command),
                "glibc mtrace(3) around \(count) messages after a warm-up pass and a fresh seeding: allocation records / messages")
    }
}

/// What the figure needs of either venue's books.
protocol MeasuredBooks {
    var fastPathEnabled: Bool { get set }
    var fastPathMessages: Int { get }
    mutating func apply(_ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent])
    /// The fast parser alone; non-zero for a message it reads.
    mutating func parseOnly(_ text: UnsafeBufferPointer<UInt8>) -> Int
}

extension KalshiBooks: MeasuredBooks {
    mutating func parseOnly(_ text: UnsafeBufferPointer<UInt8>) -> Int { parsedDeltaHundredths(text).map { Int($0) | 1 } ?? 0 }
}

extension PolymarketBooks: MeasuredBooks {
    mutating func parseOnly(_ text: UnsafeBufferPointer<UInt8>) -> Int { parsedChangeCount(text) ?? 0 }
}

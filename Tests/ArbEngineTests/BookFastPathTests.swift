import ArbKit
import Foundation
@testable import KalshiVenue
import OrderStateMachine
@testable import PolymarketVenue
import Testing

/// The books read their hot messages (Kalshi `orderbook_delta`, Polymarket `price_change`) from
/// the bytes and send everything else to `JSONSerialization`. These tests hold the two paths to
/// the same answers: one book with the fast path, one with `fastPathEnabled = false`, fed the same
/// seeded stream — recorded-shape messages and mutations of them — and compared after every message.
@Suite("Book fast path: the same events, quotes, counts and levels as JSONSerialization")
struct BookFastPathTests {
    static let seeds: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8]
    static let messagesPerSeed = 6_000

    @Test("Kalshi: deltas, snapshots, gaps, errors, user_orders and mutated texts", arguments: seeds)
    func kalshi(seed: UInt64) {
        var stream = KalshiStream(seed: seed)
        var fast = KalshiBooks(venue: "kalshi", tickers: KalshiStream.tickers)
        var slow = fast
        slow.fastPathEnabled = false
        var quotes = 0
        for index in 0..<Self.messagesPerSeed {
            let step = stream.next()
            let fastEvents: [BookFeedEvent]
            let slowEvents: [BookFeedEvent]
            switch step {
            case .message(let text):
                fastEvents = fast.apply(text, now: stream.now)
                slowEvents = slow.apply(text, now: stream.now)
            case .disconnect:
                fastEvents = fast.untrustAll(reason: "gone", now: stream.now)
                slowEvents = slow.untrustAll(reason: "gone", now: stream.now)
            case .silenceCheck:
                continue  // Kalshi's books have none (its stream never asks)
            }
            quotes += fastEvents.count { if case .quote = $0 { true } else { false } }
            guard fastEvents == slowEvents, fast.counts == slow.counts, fast.status == slow.status, fast.sides == slow.sides else {
                Issue.record("""
                    seed \(seed), message \(index): the paths disagree (reproduce with seed \(seed))
                    text: \(step.text)
                    fast: \(fastEvents) \(fast.counts)
                    slow: \(slowEvents) \(slow.counts)
                    """)
                return
            }
        }
        // A stream the fast path hardly took, or whose books never quoted, would prove nothing.
        #expect(fast.fastPathMessages > Self.messagesPerSeed / 2, "fast path took \(fast.fastPathMessages)")
        #expect(slow.fastPathMessages == 0)
        #expect(Self.messagesPerSeed - fast.fastPathMessages > Self.messagesPerSeed / 10, "too few texts for the slow path")
        #expect(quotes > Self.messagesPerSeed / 5, "\(quotes) quotes")
        #expect(fast.counts.gaps > 10 && fast.counts.unreadable > 10 && fast.counts.resyncs > 10, "\(fast.counts)")
    }

    @Test("Polymarket: price changes, books, ticks, pongs, silences and mutated texts", arguments: seeds)
    func polymarket(seed: UInt64) {
        var stream = PolymarketStream(seed: seed)
        var fast = PolymarketBooks(venue: "polymarket", tokens: PolymarketStream.tokens, silenceMilliseconds: 5_000)
        var slow = fast
        slow.fastPathEnabled = false
        var quotes = 0
        for index in 0..<Self.messagesPerSeed {
            let step = stream.next()
            let fastEvents: [BookFeedEvent]
            let slowEvents: [BookFeedEvent]
            switch step {
            case .message(let text):
                fastEvents = fast.apply(text, now: stream.now)
                slowEvents = slow.apply(text, now: stream.now)
            case .silenceCheck:
                fastEvents = fast.checkSilence(now: stream.now)
                slowEvents = slow.checkSilence(now: stream.now)
            case .disconnect:
                fastEvents = fast.untrustAll(reason: "gone", now: stream.now)
                slowEvents = slow.untrustAll(reason: "gone", now: stream.now)
            }
            quotes += fastEvents.count { if case .quote = $0 { true } else { false } }
            guard fastEvents == slowEvents, fast.counts == slow.counts, fast.status == slow.status, fast.sides == slow.sides else {
                Issue.record("""
                    seed \(seed), message \(index): the paths disagree (reproduce with seed \(seed))
                    text: \(step.text)
                    fast: \(fastEvents) \(fast.counts)
                    slow: \(slowEvents) \(slow.counts)
                    """)
                return
            }
        }
        #expect(fast.fastPathMessages > Self.messagesPerSeed / 2, "fast path took \(fast.fastPathMessages)")
        #expect(slow.fastPathMessages == 0)
        #expect(quotes > Self.messagesPerSeed / 5, "\(quotes) quotes")
        #expect(fast.counts.gaps > 3 && fast.counts.unreadable > 10 && fast.counts.resyncs > 10, "\(fast.counts)")
    }

    @Test("the recorded shapes (VENUES.md) take the fast path")
    func recordedShapesAreFast() {
        var kalshi = KalshiBooks(venue: "kalshi", tickers: ["KXA"])
        _ = kalshi.apply(BookMessages.kalshiSnapshot("KXA", seq: 1, yes: [("0.3000", "10.00")], no: [("0.6000", "7.00")]), now: 1)
        let delta = kalshi.apply(BookMessages.kalshiDelta("KXA", seq: 2, price: "0.6200", delta: "4.00", side: "no"), now: 2)
        #expect(kalshi.fastPathMessages == 1 && delta.count == 2)
        var polymarket = PolymarketBooks(venue: "polymarket", tokens: ["111"], silenceMilliseconds: 1_000)
        _ = polymarket.apply(BookMessages.polymarketBook("111", bids: [("0.44", "100")], asks: [("0.47", "80")]), now: 1)
        let change = polymarket.apply(BookMessages.polymarketChange([("111", "0.45", "3", "BUY")]), now: 2)
        #expect(polymarket.fastPathMessages == 1 && change.count == 1)
    }

    /// The string reader (eight bytes at a time, then byte by byte) against a plain byte loop,
    /// on texts full of the bytes that end or spoil a string, at every alignment.
    @Test("strings: the word-at-a-time reader stops where a byte-by-byte one does")
    func strings() {
        var generator = SeededGenerator(seed: 23)
        let alphabet: [UInt8] = [0x22, 0x5C, 0x00, 0x01, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xC3, 0xFF, 0x41, 0x30, 0x5B, 0x7B]
        func reference(_ bytes: [UInt8]) -> Range<Int>? {
            guard bytes.first == 0x22 else { return nil }
            for index in 1..<bytes.count {
                if bytes[index] == 0x22 { return 1..<index }
                guard bytes[index] >= 0x20, bytes[index] <= 0x7E, bytes[index] != 0x5C else { return nil }
            }
            return nil
        }
        for _ in 0..<200_000 {
            let length = Int.random(in: 0...40, using: &generator)
            // Mostly plain letters, so long runs reach the word reader; then a few odd bytes.
            var bytes: [UInt8] = [0x22] + (0..<length).map { _ in
                Int.random(in: 0..<8, using: &generator) == 0 ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0x23...0x5B, using: &generator)
            }
            if Bool.random(using: &generator) { bytes.append(0x22) }
            bytes.withUnsafeBufferPointer { buffer in
                var scanner = JSONByteScanner(buffer)
                #expect(scanner.string() == reference(bytes), "\(bytes)")
            }
        }
    }

    /// The fast path's number readers against the `String` ones they stand in for, on short texts
    /// over the characters that matter (digits, dots, signs, exponents, spaces).
    @Test("numbers read from bytes accept and refuse exactly what the String readers do")
    func numbers() {
        var generator = SeededGenerator(seed: 17)
        let alphabet = Array("0000123456789...-+e ")
        for _ in 0..<200_000 {
            let length = Int.random(in: 0...9, using: &generator)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { buffer in
                let range = 0..<buffer.count
                #expect(KalshiBooks.price(buffer, range) == KalshiNumber.price(text), "Kalshi price \(text)")
                #expect(KalshiBooks.signedHundredths(buffer, range) == KalshiBooks.signedHundredths(text as Any), "Kalshi delta \(text)")
                #expect(FixedPointBytes.price(buffer, range) == Price(parsing: text), "price \(text)")
                #expect(PolymarketBooks.quantity(buffer, range) == PolymarketBooks.quantity(text), "Polymarket size \(text)")
            }
        }
    }
}

// MARK: - Streams

/// One step of a stream: a message, or something the feed does between messages.
enum BookStreamStep {
    case message([UInt8])
    case silenceCheck
    case disconnect

    var text: String {
        switch self {
        case .message(let bytes): String(decoding: bytes, as: UTF8.self)
        case .silenceCheck: "(silence check)"
        case .disconnect: "(untrustAll)"
        }
    }
}

/// A JSON text as a tree, so a recorded shape can be reordered, spaced, escaped and broken
/// before it is written.
indirect enum JSONTree {
    case raw(String)
    case object([(String, JSONTree)])
    case array([JSONTree])

    static func string(_ text: String) -> JSONTree { .raw("\"" + text + "\"") }
}

/// What is done to a recorded shape before it is sent: most changes keep it valid JSON of the
/// same meaning (the fast path must still agree), the rest break it (the slow path decides).
struct Mutator {
    var generator: SeededGenerator

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &generator) < percent }
    mutating func pick<T>(_ values: [T]) -> T { values.randomElement(using: &generator)! }

    mutating func render(_ tree: JSONTree, spaced: Bool, shuffled: Bool) -> String {
        func gap(_ mutator: inout Mutator) -> String { spaced && mutator.chance(30) ? mutator.pick([" ", "\n", "\t", "\r\n", "  "]) : "" }
        switch tree {
        case .raw(let text): return text
        case .array(let items):
            return "[" + gap(&self) + items.map { render($0, spaced: spaced, shuffled: shuffled) + gap(&self) }.joined(separator: "," + gap(&self)) + "]"
        case .object(var members):
            if shuffled { members.shuffle(using: &generator) }
            return "{" + gap(&self) + members.map { "\"\($0.0)\"" + gap(&self) + ":" + gap(&self) + render($0.1, spaced: spaced, shuffled: shuffled) + gap(&self) }
                .joined(separator: "," + gap(&self)) + "}"
        }
    }

    /// A value that replaces a field's: other types, escapes, numbers JSON allows but the fast
    /// path leaves to the slow one, numbers JSON forbids.
    mutating func oddValue(for value: JSONTree) -> JSONTree {
        if case .raw(let text) = value, text.hasPrefix("\""), text.count > 2, chance(50) {
            // The same string with one character escaped (same meaning), or a non-ASCII one.
            var characters = Array(text.dropFirst().dropLast())
            let index = Int.random(in: 0..<characters.count, using: &generator)
            let scalar = characters[index].unicodeScalars.first!.value
            let escaped = pick([String(format: "\\u%04x", scalar), String(format: "\\u%04X", scalar), "\\/", "é", "\\\"", "\\n"])
            characters.replaceSubrange(index...index, with: escaped == "\\/" ? Array("\\/") + [characters[index]] : Array(escaped))
            return .raw("\"" + String(characters) + "\"")
        }
        return .raw(pick(["1.0", "01", "-0", "1e0", "2E1", "\"1\"", "true", "false", "null", "{}", "[]", "[1]", "{\"a\":1}",
                          "9223372036854775807", "12345678901234567890", "1234567890123456789", "123456789012345678", "-5", "0",
                          "1.5", "-1.5e3", "\"\"", "\" \"", "\"\\u0000\"", "NaN", "+1", ".5", "0x10"]))
    }

    /// Applies zero or more mutations to an object's members (recursing into nested objects).
    mutating func mutate(_ members: [(String, JSONTree)], depth: Int = 0) -> [(String, JSONTree)] {
        var members = members
        for index in members.indices {
            if case .object(let inner) = members[index].1, depth == 0 {
                members[index].1 = .object(mutate(inner, depth: 1))
            } else if case .array(let items) = members[index].1, depth == 0 {
                members[index].1 = .array(items.map { item in
                    if case .object(let inner) = item { .object(mutate(inner, depth: 1)) } else { item }
                })
            }
        }
        if !members.isEmpty, chance(3) { members.remove(at: Int.random(in: 0..<members.count, using: &generator)) }
        if !members.isEmpty, chance(2) { members.append(pick(members)) }
        if !members.isEmpty, chance(4) {
            let index = Int.random(in: 0..<members.count, using: &generator)
            members[index].1 = oddValue(for: members[index].1)
        }
        if !members.isEmpty, chance(2) {
            // An escaped key: the same name to JSONSerialization, not the fast path's.
            let index = Int.random(in: 0..<members.count, using: &generator)
            let key = members[index].0
            if let first = key.unicodeScalars.first {
                members[index].0 = String(format: "\\u%04x", first.value) + String(key.dropFirst())
            }
        }
        if chance(3) { members.append((pick(["extra", "ts", "market_id", "price", "clob"]), oddValue(for: .raw("0")))) }
        return members
    }

    /// The written text, maybe broken at the byte level.
    mutating func finish(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        if chance(1) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
        if chance(1) { bytes += Array(pick(["x", "}", " ", "\n", "\0", ",", "{}"]).utf8) }
        if chance(1) { bytes = Array(pick([" ", "\n", "\u{FEFF}", "[", "x"]).utf8) + bytes + (chance(50) ? Array("]".utf8) : []) }
        return bytes
    }
}

/// A Kalshi `orderbook_delta` subscription as recorded (VENUES.md), with its troubles: gaps,
/// repeats, a second subscription, unknown tickers, `user_orders`, fills, errors, disconnects.
struct KalshiStream {
    static let tickers = ["KXA", "KXFEDDECISION-26DEC-H25", "KXBTCD-26DEC0417-T95249.99"]
    var mutator: Mutator
    var now: Int64 = 1_764_000_000_000
    var seq: [Int: Int] = [1: 0, 2: 0, 3: 0]

    init(seed: UInt64) { mutator = Mutator(generator: SeededGenerator(seed: seed)) }

    mutating func ticker() -> String {
        // Escaped spellings of a watched ticker: the same name to JSONSerialization, and a trap
        // for a fast path that would compare the raw bytes.
        if mutator.chance(3) { return mutator.pick(["K\\u0058A", "\\u004bXA", "KX\\u0041", "KXA\\u0000"]) }
        return mutator.chance(5) ? mutator.pick(["KXNOTWATCHED", "kxa", "KXA ", "KXÅ", ""]) : mutator.pick(Self.tickers)
    }

    /// Prices near 0.50 in the forms Kalshi sends and a few it does not.
    mutating func price() -> String {
        let ticks = mutator.pick([4_700, 4_800, 4_900, 5_000, 5_100, 5_200, 4_950, 1, 9_999])
        let cents = String(format: "%.2f", Double(ticks) / 10_000)
        let four = String(format: "0.%04d", ticks)
        return mutator.chance(90) ? four
            : mutator.pick([cents, four + "00", four + "01", "." + four.dropFirst(2), "0" + four, "1.0000", "0", "0.0000", "", "-" + four, four + " "])
    }

    mutating func change() -> String {
        let hundredths = Int.random(in: -800...1_000, using: &mutator.generator)
        let text = (hundredths < 0 ? "-" : "") + String(format: "%d.%02d", abs(hundredths) / 100, abs(hundredths) % 100)
        return mutator.chance(92) ? text
            : mutator.pick([text + "0", text + "1", "+" + text, "-" + text, String(hundredths / 100), "-", "", "1e2", " " + text, "0"])
    }

    mutating func header(_ type: String, sid: Int) -> [(String, JSONTree)] {
        var members: [(String, JSONTree)] = [("type", .string(type)), ("sid", .raw(String(sid)))]
        let roll = Int.random(in: 0..<100, using: &mutator.generator)
        let next = roll < 3 ? seq[sid, default: 0] + 2 : roll < 5 ? seq[sid, default: 0] : seq[sid, default: 0] + 1
        seq[sid] = next
        if roll != 99 { members.append(("seq", .raw(String(next)))) }
        return members
    }

    mutating func next() -> BookStreamStep {
        now += Int64.random(in: 0...20, using: &mutator.generator)
        let sid = mutator.chance(85) ? 1 : mutator.chance(70) ? 2 : 3
        let roll = Int.random(in: 0..<1_000, using: &mutator.generator)
        var members: [(String, JSONTree)]
        switch roll {
        case 0..<5: return .disconnect
        case 5..<100:
            func levels(_ mutator: inout Mutator) -> JSONTree {
                .array((0..<Int.random(in: 0...4, using: &mutator.generator)).map { _ in
                    .array([.string(String(format: "0.%04d", mutator.pick([4_700, 4_800, 4_900, 5_000, 5_100, 5_200]))),
                            .string(mutator.pick(["10.00", "5.00", "1.50", "100", "0.01"]))])
                })
            }
            members = header("orderbook_snapshot", sid: sid)
            members.append(("msg", .object([("market_ticker", .string(ticker())), ("market_id", .string("m")),
                                            ("yes_dollars_fp", levels(&mutator)), ("no_dollars_fp", levels(&mutator))])))
        case 100..<110:
            members = [("type", .string("subscribed")), ("id", .raw("3")),
                       ("msg", .object([("channel", .string(mutator.pick(["user_orders", "orderbook_delta"]))), ("sid", .raw("3"))]))]
        case 110..<120:
            members = header("user_order", sid: 3)
            members.append(("msg", .object([("order_id", .string(mutator.pick(["o-1", ""]))), ("status", .string("canceled"))])))
        case 120..<130:
            members = [("type", .string("fill")), ("sid", .raw("9")),
                       ("msg", .object([("trade_id", .string("t-1")), ("order_id", .string("o-1")), ("market_ticker", .string("KXA"))]))]
        case 130..<137:
            members = [("id", .raw("1")), ("type", .string("error")), ("msg", .object([("code", .raw(mutator.pick(["25", "10", "17", "5"]))),
                                                                                     ("msg", .string("ended"))]))]
            if mutator.chance(50) { members.append(("sid", .raw(String(sid)))) }
        case 137..<142:
            return .message(Array(mutator.pick(["not json", "", "{}", "[]", "null", "{\"type\":1}", "PONG"]).utf8))
        default:
            members = header(mutator.chance(99) ? "orderbook_delta" : mutator.pick(["orderbook_deltas", "Orderbook_delta"]), sid: sid)
            members.append(("msg", .object([("market_ticker", .string(ticker())), ("market_id", .string("m")),
                                            ("price_dollars", .string(price())), ("delta_fp", .string(change())),
                                            ("side", .string(mutator.chance(97) ? mutator.pick(["yes", "no"]) : mutator.pick(["YES", "", "both"]))),
                                            ("ts_ms", .raw("1764000000000"))])))
        }
        if mutator.chance(25) { members = mutator.mutate(members) }
        let spaced = mutator.chance(15), shuffled = mutator.chance(15)
        let text = mutator.render(.object(members), spaced: spaced, shuffled: shuffled)
        return .message(mutator.finish(text))
    }
}

/// Polymarket's market channel as recorded (VENUES.md): `price_change`s of one to three
/// entries, `book`s, tick sizes, pongs, arrays of events, silences and disconnects.
struct PolymarketStream {
    static let tokens = ["71321045679252212594626385532706912750332728571942532289631379312455583992563",
                         "52114319501245915516055106046884209969926127482827954674443846427813813222426", "333"]
    var mutator: Mutator
    var now: Int64 = 1_764_000_000_000

    init(seed: UInt64) { mutator = Mutator(generator: SeededGenerator(seed: seed ^ 0x5050)) }

    mutating func token() -> String {
        if mutator.chance(3) { return mutator.pick(["33\\u0033", "\\u0033\\u00333", "333\\u0000"]) }
        return mutator.chance(5) ? mutator.pick(["999", "33", "3333", "", " 333"]) : mutator.pick(Self.tokens)
    }

    mutating func price() -> String {
        let cents = mutator.pick([44, 45, 46, 47, 48, 49, 50])
        let text = String(format: "0.%02d", cents)
        return mutator.chance(92) ? text : mutator.pick([text + "00", text + "001", "." + String(cents), "1", "0", "0.5", "", "1e-1", text + "0"])
    }

    mutating func size() -> String {
        mutator.chance(90) ? mutator.pick(["0", "100", "12.345678", "5", "0.5", "250.25"])
            : mutator.pick(["5.", ".5", "1e3", "-1", "007", "0.0", "", "1.2.3", "99999999999999999999"])
    }

    mutating func side() -> String {
        mutator.chance(97) ? mutator.pick(["BUY", "SELL"]) : mutator.pick(["buy", "", "SELLS"])
    }

    mutating func event() -> [(String, JSONTree)] {
        let roll = Int.random(in: 0..<100, using: &mutator.generator)
        switch roll {
        case 0..<12:
            func levels(_ mutator: inout Mutator) -> JSONTree {
                .array((0..<Int.random(in: 0...3, using: &mutator.generator)).map { _ in
                    .object([("price", .string(String(format: "0.%02d", mutator.pick([44, 45, 46, 47, 48])))),
                              ("size", .string(mutator.pick(["10", "5.5", "100"])))])
                })
            }
            return [("event_type", .string("book")), ("asset_id", .string(token())), ("market", .string("0xabc")),
                    ("bids", levels(&mutator)), ("asks", levels(&mutator)), ("timestamp", .string("1764000000000")), ("hash", .string("0x1"))]
        case 12..<14:
            return [("event_type", .string("tick_size_change")), ("asset_id", .string(token())), ("market", .string("0xabc")),
                    ("old_tick_size", .string("0.01")), ("new_tick_size", .string(mutator.pick(["0.001", "0.01", "x"])))]
        default:
            let changes: [JSONTree] = (0..<Int.random(in: 1...3, using: &mutator.generator)).map { _ in
                .object([("asset_id", .string(token())), ("price", .string(price())), ("size", .string(size())), ("side", .string(side())),
                         ("hash", .string("56621a121a47ed9333273e21c83b660cff37ae50")), ("best_bid", .string("0.45")), ("best_ask", .string("0.47"))])
            }
            // The venue sends `event_type` last.
            return [("market", .string("0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1")),
                    ("price_changes", .array(mutator.chance(2) ? [] : changes)),
                    ("timestamp", .string("1757908892351")),
                    ("event_type", .string(mutator.chance(99) ? "price_change" : "price_changes"))]
        }
    }

    mutating func next() -> BookStreamStep {
        now += mutator.chance(2) ? Int64.random(in: 3_000...9_000, using: &mutator.generator) : Int64.random(in: 0...20, using: &mutator.generator)
        let roll = Int.random(in: 0..<1_000, using: &mutator.generator)
        switch roll {
        case 0..<5: return .disconnect
        case 5..<25:
            // Half of them after a silence longer than the books allow.
            if mutator.chance(50) { now += 6_000 }
            return .silenceCheck
        case 25..<40: return .message(Array(mutator.pick(["PONG", "PONG ", "not json", "", "[]", "{}", "null"]).utf8))
        case 40..<60:
            var events: [JSONTree] = []
            for _ in 0..<Int.random(in: 1...2, using: &mutator.generator) {
                let members = event()
                events.append(.object(mutator.mutate(members)))
            }
            let spaced = mutator.chance(15), shuffled = mutator.chance(15)
            let text = mutator.render(.array(events), spaced: spaced, shuffled: shuffled)
            return .message(mutator.finish(text))
        default:
            var members = event()
            if mutator.chance(25) { members = mutator.mutate(members) }
            let spaced = mutator.chance(15), shuffled = mutator.chance(15)
            let text = mutator.render(.object(members), spaced: spaced, shuffled: shuffled)
            return .message(mutator.finish(text))
        }
    }
}

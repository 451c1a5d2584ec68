import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

/// A temporary file holding `text`, removed when the test ends.
final class MarketDataTempFile {
    let path: String

    init(_ bytes: [UInt8]) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("arb-quotes-\(UUID().uuidString).jsonl").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    convenience init(_ text: String) throws {
        try self.init(Array(text.utf8))
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite("Market data: JSON-lines replay")
struct MarketDataReaderTests {
    static let known: [String: Set<String>] = ["kalshi": ["K-YES", "K-NO"], "polymarket": ["P-YES", "P-NO"]]

    @Test("good lines become exact quotes; each bad line is counted by reason, reported once with its line number, and skipped")
    func mixedFile() throws {
        let longLine = #"{"ts_ms": 1, "pad": ""# + String(repeating: "x", count: QuoteFileReader.maxLineBytes) + #""}"#
        let lines = [
            /* 1 */ #"{"ts_ms": 1000, "venue": "kalshi", "instrument": "K-YES", "bid": "0.44", "bid_size": "120", "ask": "0.46", "ask_size": "80"}"#,
            /* 2 */ "   ",
            /* 3 */ #"{"ts_ms": 1001, "venue": "kalshi","#,
            /* 4 */ #"{"ts_ms": 1002, "venue": "kalshi", "instrument": "K-YES", "bid": "0.44", "bid_size": "1"}"#,
            /* 5 */ #"{"ts_ms": 1003, "venue": "kalshi", "instrument": "K-YES", "bid": null, "ask": "1.0", "ask_size": "1"}"#,
            /* 6 */ #"{"ts_ms": 1004, "venue": "kalshi", "instrument": "K-YES", "bid": 0, "bid_size": 1, "ask": null}"#,
            /* 7 */ #"{"ts_ms": 1005, "venue": "kalshi", "instrument": "K-YES", "bid": null, "ask": "NaN", "ask_size": "1"}"#,
            /* 8 */ #"{"ts_ms": 1006, "venue": "kalshi", "instrument": "K-YES", "bid": null, "ask": NaN, "ask_size": "1"}"#,
            /* 9 */ #"{"ts_ms": 1007, "venue": "kalshi", "instrument": "K-YES", "bid": null, "ask": 1e400, "ask_size": "1"}"#,
            /* 10 */ #"{"ts_ms": 1008, "venue": "kalshi", "instrument": "K-YES", "bid": null, "ask": "0.5", "ask_size": 99999999999999999999999}"#,
            /* 11 */ #"{"ts_ms": 1009, "venue": "kalshi", "instrument": "K-YES", "bid": "0.4", "bid_size": "-5", "ask": null}"#,
            /* 12 */ #"{"ts_ms": 1010, "venue": "kraken", "instrument": "K-YES", "bid": null, "ask": null}"#,
            /* 13 */ #"{"ts_ms": 1011, "venue": "kalshi", "instrument": "P-YES", "bid": null, "ask": null}"#,
            /* 14 */ #"{"ts_ms": 999, "venue": "kalshi", "instrument": "K-NO", "bid": null, "ask": "0.55", "ask_size": "3"}"#,
            /* 15 */ #"{"ts_ms": 1012, "venue": "polymarket", "instrument": "P-NO", "bid": null, "ask": 0.4512, "ask_size": 12.5, "extra": [1, {"x": 2}]}"#,
            /* 16 */ #"{"ts_ms": 1013, "venue": "polymarket", "instrument": "P-NO", "bid": "0.50", "bid_size": "1", "ask": "0.50", "ask_size": "1"}"#,
            /* 17 */ #"{"ts_ms": 1014, "ts_ms": 1015, "venue": "polymarket", "instrument": "P-NO", "bid": null, "ask": null}"#,
            /* 18 */ longLine,
            /* 19 */ #"{"ts_ms": 1016, "venue": "polymarket", "instrument": "P-YES", "bid": "0.00001", "bid_size": "1", "ask": null}"#,
            /* 20 */ #"{"ts_ms": "1017", "venue": "polymarket", "instrument": "P-YES", "bid": null, "ask": null}"#,
            /* 21 */ #"{"ts_ms": 1018, "venue": 7, "instrument": "P-YES", "bid": null, "ask": null}"#,
            /* 22 */ #"[1, 2]"#,
            /* 23 */ #"{"ts_ms": 1019, "venue": "polymarket", "instrument": "P-YES", "bid": "0.3", "bid_size": "0.123", "ask": null}"#,
            /* 24 */ #"{"ts_ms": 1012, "venue": "polymarket", "instrument": "P-YES", "bid": ".3", "bid_size": "0", "ask": "0.9999", "ask_size": 60}"#,
        ]
        // The last line has no newline; CRLF endings are accepted.
        let file = try MarketDataTempFile(lines.joined(separator: "\r\n"))

        var reported: [QuoteLineDiagnostic] = []
        var reader = try QuoteFileReader(path: file.path, instrumentsByVenue: Self.known) { reported.append($0) }
        var quotes: [Quote] = []
        while let quote = try reader.next() { quotes.append(quote) }

        #expect(quotes == [
            Quote(timestampMilliseconds: 1000, venue: "kalshi", instrument: "K-YES", bid: Price(ticks: 4400),
                  bidSize: Quantity(contracts: 120), ask: Price(ticks: 4600), askSize: Quantity(contracts: 80)),
            Quote(timestampMilliseconds: 1012, venue: "polymarket", instrument: "P-NO", bid: nil, bidSize: .zero,
                  ask: Price(ticks: 4512), askSize: Quantity(hundredths: 1250)!),
            Quote(timestampMilliseconds: 1012, venue: "polymarket", instrument: "P-YES", bid: Price(ticks: 3000),
                  bidSize: .zero, ask: Price(ticks: 9999), askSize: Quantity(contracts: 60)),
        ])

        let expectedSkips: [(Int, QuoteSkipReason)] = [
            (3, .notJSON), (4, .missingField), (5, .badPrice), (6, .badPrice), (7, .badPrice), (8, .notJSON),
            (9, .badPrice), (10, .badSize), (11, .badSize), (12, .unknownVenue), (13, .unknownInstrument),
            (14, .timestampBackwards), (16, .crossedBook), (17, .duplicateField), (18, .lineTooLong),
            (19, .badPrice), (20, .badTimestamp), (21, .badIdentifier), (22, .notJSON), (23, .badSize),
        ]
        #expect(reader.diagnostics.map(\.lineNumber) == expectedSkips.map(\.0))
        #expect(reader.diagnostics.map(\.reason) == expectedSkips.map(\.1))
        #expect(reported == reader.diagnostics)  // once each, through the callback too

        let stats = reader.stats
        #expect(stats.total == 23)  // 24 lines, one blank
        #expect(stats.accepted == 3)
        #expect(stats.skippedTotal == 20)
        #expect(stats.skipped(.badPrice) == 5)
        #expect(stats.skipped(.notJSON) == 3)
        #expect(stats.skipped(.badSize) == 3)
        #expect(stats.skipped(.timestampBackwards) == 1)
        #expect(stats.skipped(.lineTooLong) == 1)
        #expect(stats.description.hasPrefix("23 lines: 3 accepted, 20 skipped (not_json 3, line_too_long 1,"))

        for diagnostic in reader.diagnostics {
            #expect(!diagnostic.description.contains("\n"))
            #expect(diagnostic.description.hasPrefix("line \(diagnostic.lineNumber): \(diagnostic.reason.rawValue): "))
        }
        let backwards = try #require(reader.diagnostics.first { $0.reason == .timestampBackwards })
        #expect(backwards.detail.contains("999") && backwards.detail.contains("1000"))
        let nan = try #require(reader.diagnostics.first { $0.lineNumber == 7 })
        #expect(nan.detail.contains(#"ask is "NaN""#))
        let syntax = try #require(reader.diagnostics.first { $0.lineNumber == 3 })
        #expect(syntax.detail.contains("column"))
    }

    @Test("without a known set any venue and instrument is accepted")
    func noKnownSet() throws {
        var decoder = QuoteLineDecoder()
        let result = decoder.decode(line: #"{"ts_ms": 5, "venue": "x", "instrument": "y", "bid": null, "ask": null}"#, lineNumber: 1)
        #expect(result == .quote(Quote(timestampMilliseconds: 5, venue: "x", instrument: "y", bid: nil, bidSize: .zero,
                                       ask: nil, askSize: .zero)))
        #expect(decoder.lastTimestampMilliseconds == 5)
    }

    @Test("a file larger than the read buffer streams line by line across chunk boundaries")
    func largeFile() throws {
        var text = ""
        let count = 20_000
        for index in 0..<count {
            let ask = 1 + index % 9_998
            text += #"{"ts_ms": \#(1_700_000_000_000 + index), "venue": "v", "instrument": "i\#(index % 7)", "#
                + #""bid": null, "ask": "0.\#(String(repeating: "0", count: 4 - String(ask).count))\#(ask)", "ask_size": "\#(index % 100).5"}"#
                + "\n"
        }
        #expect(text.utf8.count > 3 * 64 * 1024)
        let file = try MarketDataTempFile(text)
        var reader = try QuoteFileReader(path: file.path)
        var seen = 0
        var last: Quote?
        while let quote = try reader.next() {
            #expect(quote.ask?.ticks == Int64(1 + seen % 9_998))
            seen += 1
            last = quote
        }
        #expect(seen == count)
        #expect(reader.stats.accepted == count && reader.stats.skippedTotal == 0)
        #expect(last?.timestampMilliseconds == 1_700_000_000_000 + Int64(count - 1))
        #expect(last?.askSize == Quantity(hundredths: Int64((count - 1) % 100) * 100 + 50))
    }

    @Test("a missing file is an error, not an empty replay")
    func missingFile() {
        #expect(throws: MarketDataError(path: "/nonexistent/quotes.jsonl", detail: "does not exist")) {
            _ = try QuoteFileReader(path: "/nonexistent/quotes.jsonl")
        }
    }
}

@Suite("Market data: seeded demo quote generator")
struct GeneratorTests {
    static func run(seed: UInt64, count: Int, start: Int64 = 1_732_500_000_000) -> [Quote] {
        var generator = DemoQuoteGenerator(config: TraderConfig.demo(), seed: seed)
        return (0..<count).map { generator.next(nowMilliseconds: start + Int64($0)) }
    }

    @Test("the same seed gives the same quotes; another seed does not")
    func deterministic() {
        let first = Self.run(seed: 7, count: 5_000)
        #expect(first == Self.run(seed: 7, count: 5_000))
        #expect(first != Self.run(seed: 8, count: 5_000))
    }

    @Test("quotes are valid books on the config's instruments, sized 1…60 contracts")
    func validQuotes() {
        let config = TraderConfig.demo()
        let known = config.instrumentsByVenue
        for quote in Self.run(seed: 3, count: 5_000) {
            #expect(known[quote.venue]?.contains(quote.instrument) == true)
            let ask = quote.ask
            #expect(ask != nil)
            if let bid = quote.bid, let ask { #expect(bid < ask) }
            #expect((100...6_000).contains(quote.askSize.hundredths))
        }
    }

    /// An independent model: the latest quote per instrument, and for the event just quoted both
    /// cross-venue pairs (venue A outcome X with venue B the other outcome), their ask sum, the
    /// edge after fees at the tradable size, and whether both quotes are fresh.
    struct Pair {
        var askSum: Int64
        var netBps: Int64
        var fresh: Bool
        var oneStale: Bool
    }

    @Test("over 20k quotes every case kind appears, each shows what it promises, and normal quotes never cross")
    func injectedCases() throws {
        let config = TraderConfig.demo()
        let staleness = config.detection.quoteStalenessMilliseconds
        var instrumentPlace: [String: (event: Int, venue: Int, outcome: Int)] = [:]
        for (eventIndex, event) in config.events.enumerated() {
            for (venueIndex, venue) in event.venueNames.enumerated() {
                for (outcomeIndex, outcome) in event.outcomes.enumerated() {
                    instrumentPlace[venue + "/" + event.instruments[venue]![outcome]!] = (eventIndex, venueIndex, outcomeIndex)
                }
            }
        }
        var book: [[Quote?]] = Array(repeating: Array(repeating: nil, count: 4), count: config.events.count)

        func pairs(event: Int, now: Int64) -> [Pair] {
            let eventConfig = config.events[event]
            var result: [Pair] = []
            for venueA in 0...1 {
                let outcomeX = 0
                guard let quoteA = book[event][venueA * 2 + outcomeX],
                      let quoteB = book[event][(1 - venueA) * 2 + (1 - outcomeX)],
                      let askA = quoteA.ask, let askB = quoteB.ask
                else { continue }
                let size = min(quoteA.askSize, quoteB.askSize, config.detection.maxSize)
                let feeA = config.feeModel(event: eventConfig, venue: eventConfig.venueNames[venueA])!
                let feeB = config.feeModel(event: eventConfig, venue: eventConfig.venueNames[1 - venueA])!
                let net = size.hundredths * 10_000 - Money(price: askA, quantity: size).micros
                    - Money(price: askB, quantity: size).micros
                    - feeA.fee(price: askA, quantity: size).micros - feeB.fee(price: askB, quantity: size).micros
                let freshA = now - quoteA.timestampMilliseconds <= staleness
                let freshB = now - quoteB.timestampMilliseconds <= staleness
                let hundredths = max(size.hundredths, 1)
                let netBps = net >= 0 ? net / hundredths : -((-net + hundredths - 1) / hundredths)  // floor
                result.append(Pair(askSum: askA.ticks + askB.ticks, netBps: netBps,
                                   fresh: freshA && freshB, oneStale: freshA != freshB))
            }
            return result
        }

        struct Instance {
            var kind: DemoQuoteGenerator.InjectedCase
            var event: String
            var shown = false
            var finished = false
        }
        var instances: [Instance] = []
        var generator = DemoQuoteGenerator(config: config, seed: 20_251_125)
        var previous: DemoQuoteGenerator.InjectedCase?
        let start: Int64 = 1_732_500_000_000
        for call in 0..<20_000 {
            let now = start + Int64(call)
            let quote = generator.next(nowMilliseconds: now)
            let place = try #require(instrumentPlace[quote.venue + "/" + quote.instrument])
            book[place.event][place.venue * 2 + place.outcome] = quote

            let active = generator.activeCase
            if active != previous, previous != nil, !instances.isEmpty { instances[instances.count - 1].finished = true }
            if let active, active != previous {
                instances.append(Instance(kind: active, event: try #require(generator.activeCaseEventID)))
            }
            previous = active

            let eventID = config.events[place.event].eventID
            let eventPairs = pairs(event: place.event, now: now)
            let inCase = active != nil && generator.activeCaseEventID == eventID
            if !inCase {
                // Normal quoting: no cross-venue pair sums below $1.
                for pair in eventPairs {
                    #expect(pair.askSum > 10_000, "call \(call): \(eventID) asks sum \(pair.askSum) outside a case")
                }
            } else if let active {
                // A pair a detector would trade exists only in profitable or marginal cases.
                let tradable = eventPairs.contains { $0.fresh && $0.netBps >= config.detection.minEdgeBps }
                if tradable && active != .profitable && active != .marginal {
                    Issue.record("call \(call): a tradable pair during a \(active) case")
                }
                let shows: Bool
                switch active {
                case .profitable: shows = eventPairs.contains { $0.fresh && $0.askSum <= 9_600 && $0.netBps >= 300 }
                case .marginal: shows = eventPairs.contains { $0.fresh && $0.askSum < 10_000 && (25...100).contains($0.netBps) }
                case .feeEaten: shows = eventPairs.contains { $0.fresh && $0.askSum < 10_000 && $0.netBps < 0 }
                case .stale: shows = eventPairs.contains { $0.oneStale && $0.askSum <= 9_600 }
                }
                if shows { instances[instances.count - 1].shown = true }
            }
        }

        let counts = generator.injectedCases
        #expect(Set(counts.keys) == ["profitable", "marginal", "feeEaten", "stale"])
        for kind in DemoQuoteGenerator.InjectedCase.allCases {
            #expect(counts[kind.rawValue, default: 0] >= 1, "\(kind) never injected: \(counts)")
            #expect(instances.contains { $0.kind == kind && $0.finished }, "no finished \(kind) case")
        }
        #expect(instances.count == counts.values.reduce(0, +))
        for instance in instances where instance.finished {
            #expect(instance.shown, "a \(instance.kind) case on \(instance.event) never showed its pair")
        }
    }
}

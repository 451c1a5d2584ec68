import ArbEngine
import Foundation
import KalshiVenue
import OrderStateMachine
import PolymarketVenue
import Testing

/// Recorded-shape messages (VENUES.md) for the two book feeds.
enum BookMessages {
    static func kalshiSnapshot(_ ticker: String, sid: Int = 1, seq: Int, yes: [(String, String)], no: [(String, String)]) -> [UInt8] {
        func side(_ levels: [(String, String)]) -> String { "[" + levels.map { "[\"\($0.0)\",\"\($0.1)\"]" }.joined(separator: ",") + "]" }
        return Array(#"{"type":"orderbook_snapshot","sid":\#(sid),"seq":\#(seq),"msg":{"market_ticker":"\#(ticker)","market_id":"m","yes_dollars_fp":\#(side(yes)),"no_dollars_fp":\#(side(no))}}"#.utf8)
    }

    static func kalshiDelta(_ ticker: String, sid: Int = 1, seq: Int, price: String, delta: String, side: String) -> [UInt8] {
        Array(#"{"type":"orderbook_delta","sid":\#(sid),"seq":\#(seq),"msg":{"market_ticker":"\#(ticker)","market_id":"m","price_dollars":"\#(price)","delta_fp":"\#(delta)","side":"\#(side)","ts_ms":1764000000000}}"#.utf8)
    }

    static func polymarketBook(_ token: String, bids: [(String, String)], asks: [(String, String)]) -> [UInt8] {
        func side(_ levels: [(String, String)]) -> String { "[" + levels.map { #"{"price":"\#($0.0)","size":"\#($0.1)"}"# }.joined(separator: ",") + "]" }
        return Array(#"{"event_type":"book","asset_id":"\#(token)","market":"0xabc","bids":\#(side(bids)),"asks":\#(side(asks)),"timestamp":"1764000000000","hash":"0x1"}"#.utf8)
    }

    static func polymarketChange(_ changes: [(token: String, price: String, size: String, side: String)]) -> [UInt8] {
        let items = changes.map { #"{"asset_id":"\#($0.token)","price":"\#($0.price)","size":"\#($0.size)","side":"\#($0.side)","hash":"0x2","best_bid":"0","best_ask":"1"}"# }
        return Array(#"{"event_type":"price_change","market":"0xabc","timestamp":"1764000000001","price_changes":[\#(items.joined(separator: ","))]}"#.utf8)
    }
}

func quotes(_ events: [BookFeedEvent]) -> [Quote] { events.compactMap { if case .quote(let quote) = $0 { quote } else { nil } } }
func quote(_ events: [BookFeedEvent], _ instrument: String) -> Quote? { quotes(events).first { $0.instrument == instrument } }
func price(_ text: String) -> Price { Price(parsing: text)! }
func size(_ text: String) -> Quantity { Quantity(parsing: text)! }

@Suite("Live books: Kalshi's snapshot and deltas, with sequence gaps")
struct KalshiBookTests {
    @Test("both sides are bids: YES ask = 1 − best NO bid and the mirror; a delta moves one level; a negative delta empties it")
    func building() throws {
        var books = KalshiBooks(venue: "kalshi", tickers: ["KXA"])
        let first = books.apply(BookMessages.kalshiSnapshot("KXA", seq: 1, yes: [("0.3000", "10.00"), ("0.2900", "5.00")],
                                                            no: [("0.6000", "7.00"), ("0.5500", "3.00")]), now: 100)
        let yes = try #require(quote(first, "KXA:yes"))
        #expect(yes.bid == price("0.30") && yes.bidSize == size("10") && yes.ask == price("0.40") && yes.askSize == size("7"))
        let no = try #require(quote(first, "KXA:no"))
        #expect(no.bid == price("0.60") && no.bidSize == size("7") && no.ask == price("0.70") && no.askSize == size("10"))
        #expect(yes.timestampMilliseconds == 100 && books.isTrusted("KXA"))

        let grown = books.apply(BookMessages.kalshiDelta("KXA", seq: 2, price: "0.6200", delta: "4.00", side: "no"), now: 110)
        #expect(quote(grown, "KXA:yes")?.ask == price("0.38") && quote(grown, "KXA:yes")?.askSize == size("4"))
        // The best NO level emptied by a negative delta: the next level is best again.
        let emptied = books.apply(BookMessages.kalshiDelta("KXA", seq: 3, price: "0.6200", delta: "-4.00", side: "no"), now: 120)
        #expect(quote(emptied, "KXA:yes")?.ask == price("0.40") && quote(emptied, "KXA:yes")?.askSize == size("7"))
        let yesGone = books.apply(BookMessages.kalshiDelta("KXA", seq: 4, price: "0.3000", delta: "-10.00", side: "yes"), now: 130)
        #expect(quote(yesGone, "KXA:yes")?.bid == price("0.29") && quote(yesGone, "KXA:no")?.ask == price("0.71"))
        #expect(books.counts.gaps == 0 && books.counts.messages == 4)
    }

    @Test("a seq gap untrusts the subscription's books: empty quotes once, no quote until a snapshot, then trusted and counted")
    func gap() throws {
        var books = KalshiBooks(venue: "kalshi", tickers: ["KXA", "KXB"])
        _ = books.apply(BookMessages.kalshiSnapshot("KXA", seq: 1, yes: [("0.3000", "10.00")], no: [("0.6000", "7.00")]), now: 1)
        _ = books.apply(BookMessages.kalshiSnapshot("KXB", seq: 2, yes: [("0.1000", "1.00")], no: [("0.8000", "1.00")]), now: 1)
        let gap = books.apply(BookMessages.kalshiDelta("KXA", seq: 4, price: "0.6000", delta: "1.00", side: "no"), now: 2)
        #expect(quotes(gap).isEmpty)
        let untrusted = gap.compactMap { if case .untrusted(let market, let reason, let cleared) = $0 { (market, reason, cleared) } else { nil } }
        #expect(untrusted.map(\.0) == ["KXA", "KXB"])
        #expect(untrusted.first?.1 == "sequence gap on subscription 1: 2 then 4")
        #expect(untrusted.allSatisfy { $0.2.count == 2 && $0.2.allSatisfy { $0.bid == nil && $0.ask == nil } })
        #expect(gap.contains(.needsSnapshot(markets: ["KXA", "KXB"])))
        #expect(!books.isTrusted("KXA") && !books.isTrusted("KXB") && books.counts.gaps == 1)
        // In sequence again, but the books are still wrong: nothing, not even a second untrusted event.
        #expect(books.apply(BookMessages.kalshiDelta("KXA", seq: 5, price: "0.6500", delta: "1.00", side: "no"), now: 3).isEmpty)
        let healed = books.apply(BookMessages.kalshiSnapshot("KXA", seq: 6, yes: [("0.3100", "2.00")], no: [("0.6600", "3.00")]), now: 4)
        #expect(healed.first == .trusted(market: "KXA") && quote(healed, "KXA:yes")?.ask == price("0.34"))
        #expect(books.isTrusted("KXA") && !books.isTrusted("KXB") && books.counts.resyncs == 1)
    }

    @Test("an error 25 ends the subscription; a delta before any snapshot or below an empty level untrusts the book")
    func otherDistrust() {
        var books = KalshiBooks(venue: "kalshi", tickers: ["KXA"])
        let early = books.apply(BookMessages.kalshiDelta("KXA", seq: 1, price: "0.6000", delta: "1.00", side: "no"), now: 1)
        #expect(quotes(early).isEmpty && early.contains(.needsSnapshot(markets: ["KXA"])) && !books.isTrusted("KXA"))
        _ = books.apply(BookMessages.kalshiSnapshot("KXA", seq: 2, yes: [], no: [("0.6000", "1.00")]), now: 2)
        #expect(books.isTrusted("KXA"))
        let below = books.apply(BookMessages.kalshiDelta("KXA", seq: 3, price: "0.6000", delta: "-2.00", side: "no"), now: 3)
        #expect(quotes(below).isEmpty && !books.isTrusted("KXA"))
        _ = books.apply(BookMessages.kalshiSnapshot("KXA", seq: 4, yes: [], no: [("0.6000", "1.00")]), now: 4)
        let error = books.apply(Array(#"{"id":1,"type":"error","msg":{"code":25,"msg":"buffer overflow"}}"#.utf8), now: 5)
        #expect(!books.isTrusted("KXA") && error.contains(.needsSnapshot(markets: ["KXA"])))
        // Already untrusted: a second error asks for the snapshot again but says nothing new.
        let again = books.apply(Array(#"{"id":1,"type":"error","msg":{"code":25,"msg":"buffer overflow"}}"#.utf8), now: 5)
        #expect(again == [.needsSnapshot(markets: ["KXA"])], "\(again)")
        #expect(books.apply(Array("not json".utf8), now: 6).isEmpty && books.counts.unreadable == 1)
        let fill = books.apply(Array(#"{"type":"fill","sid":9,"msg":{"trade_id":"t-1","order_id":"o-1","market_ticker":"KXA","is_taker":true,"side":"yes","yes_price_dollars":"0.4500","count_fp":"3.00","action":"buy","ts_ms":1764000000000}}"#.utf8), now: 7)
        #expect(fill == [.orderFilled(venueOrderID: "o-1", tradeID: "t-1", status: nil)])
    }

    @Test("user_orders: once its subscribed answer names the sid, a message on that sid names the changed order; before it, and after a reconnect, none is read")
    func userOrders() {
        var books = KalshiBooks(venue: "kalshi", tickers: ["KXA"])
        let change = Array(#"{"type":"user_order","sid":3,"msg":{"order_id":"o-7","client_order_id":"arb-x-1-a","ticker":"KXA","status":"canceled","fill_count_fp":"1.00","remaining_count_fp":"0.00"}}"#.utf8)
        #expect(books.apply(change, now: 1).isEmpty, "an order change read before its subscription was named")
        #expect(books.apply(Array(#"{"type":"subscribed","id":3,"msg":{"channel":"user_orders","sid":3}}"#.utf8), now: 2).isEmpty)
        #expect(books.apply(change, now: 3) == [.orderChanged(venueOrderID: "o-7")])
        // Another subscription's message on another sid is not an order change.
        _ = books.apply(Array(#"{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}"#.utf8), now: 4)
        #expect(!books.apply(BookMessages.kalshiSnapshot("KXA", sid: 1, seq: 1, yes: [], no: [("0.6000", "1.00")]), now: 5)
            .contains(.orderChanged(venueOrderID: "o-7")))
        let unreadable = books.counts.unreadable
        #expect(books.apply(Array(#"{"type":"user_order","sid":3,"msg":{"status":"canceled"}}"#.utf8), now: 6).isEmpty
                && books.counts.unreadable == unreadable + 1)
        _ = books.untrustAll(reason: "connection lost", now: 7)
        #expect(books.apply(change, now: 8).isEmpty, "a sid of the old connection read on the new one")
    }
}

@Suite("Live books: Polymarket's book and price changes, with a silent socket")
struct PolymarketBookTests {
    @Test("book replaces, price_change sets absolute sizes and \"0\" removes a level; several events in one message")
    func building() throws {
        var books = PolymarketBooks(venue: "polymarket", tokens: ["111", "222"], silenceMilliseconds: 1_000)
        let first = books.apply(BookMessages.polymarketBook("111", bids: [("0.44", "100"), ("0.43", "50.5")], asks: [("0.47", "80")]), now: 10)
        let top = try #require(quote(first, "111"))
        #expect(top.bid == price("0.44") && top.bidSize == size("100") && top.ask == price("0.47") && top.askSize == size("80"))
        let changed = books.apply(BookMessages.polymarketChange([("111", "0.44", "0", "BUY"), ("111", "0.46", "12.345678", "SELL")]), now: 20)
        #expect(quotes(changed).count == 1)
        #expect(quote(changed, "111")?.bid == price("0.43") && quote(changed, "111")?.bidSize == size("50.5"))
        #expect(quote(changed, "111")?.ask == price("0.46") && quote(changed, "111")?.askSize == size("12.34"))
        let array = "[" + String(decoding: BookMessages.polymarketBook("222", bids: [], asks: [("0.55", "1")]), as: UTF8.self) + ","
            + String(decoding: BookMessages.polymarketChange([("222", "0.55", "3", "SELL")]), as: UTF8.self) + "]"
        let both = quotes(books.apply(Array(array.utf8), now: 30))
        #expect(both.map(\.askSize) == [size("1"), size("3")])
        let tick = books.apply(Array(#"{"event_type":"tick_size_change","asset_id":"111","market":"0xabc","old_tick_size":"0.01","new_tick_size":"0.001"}"#.utf8), now: 31)
        #expect(tick == [.tickSize(market: "111", tick: price("0.001"))])
    }

    @Test("a socket silent past the limit untrusts every book (pongs do not count); a fresh book heals it")
    func silence() {
        var books = PolymarketBooks(venue: "polymarket", tokens: ["111"], silenceMilliseconds: 1_000)
        _ = books.apply(BookMessages.polymarketBook("111", bids: [("0.44", "1")], asks: [("0.47", "1")]), now: 0)
        #expect(books.checkSilence(now: 1_000).isEmpty)
        #expect(books.apply(Array("PONG".utf8), now: 1_500).isEmpty)
        let silent = books.checkSilence(now: 1_001)
        #expect(silent.contains { if case .untrusted(let market, _, let cleared) = $0 { market == "111" && cleared.first?.ask == nil } else { false } })
        #expect(!books.isTrusted("111") && books.counts.gaps == 1)
        #expect(books.checkSilence(now: 5_000).isEmpty, "said once per silence")
        #expect(quotes(books.apply(BookMessages.polymarketChange([("111", "0.40", "5", "SELL")]), now: 5_001)).isEmpty)
        let healed = books.apply(BookMessages.polymarketBook("111", bids: [("0.44", "1")], asks: [("0.46", "1")]), now: 5_002)
        #expect(healed.first == .trusted(market: "111") && quote(healed, "111")?.ask == price("0.46") && books.counts.resyncs == 1)
        let early = PolymarketBooks(venue: "polymarket", tokens: ["333"], silenceMilliseconds: 1)
        var copy = early
        let change = copy.apply(BookMessages.polymarketChange([("333", "0.40", "5", "SELL")]), now: 1)
        #expect(quotes(change).isEmpty && change.contains(.needsSnapshot(markets: ["333"])))
    }
}

@Suite("Live books: the detector never trades on an untrusted book")
struct UntrustedBookDetectorTests {
    static func detector() throws -> Detector {
        let json = minimalConfigJSON
            .replacingOccurrences(of: #"{"YES": "A-Y", "NO": "A-N"}"#, with: #"{"YES": "KXA:yes", "NO": "KXA:no"}"#)
            .replacingOccurrences(of: #""quote_staleness_ms": 1"#, with: #""quote_staleness_ms": 60000"#)
        let config = try TraderConfig.decode(json: json, source: "test")
        return Detector(config: config, venueFees: ["a": .free, "b": .free])
    }

    /// Feeds what the detector must see of `events` (the trader's one rule, `detectorQuotes`).
    static func feed(_ detector: inout Detector, _ events: [BookFeedEvent], now: Int64) -> [Candidate] {
        events.flatMap(\.detectorQuotes).compactMap { detector.update($0, nowMilliseconds: now) }
    }

    @Test("a pair that trades on trusted books produces nothing once the Kalshi book has a gap, and trades again after its snapshot")
    func gapStopsTrading() throws {
        var kalshi = KalshiBooks(venue: "a", tickers: ["KXA"])
        var polymarket = PolymarketBooks(venue: "b", tokens: ["B-Y", "B-N"], silenceMilliseconds: 60_000)
        // YES at a for 0.40 (1 − the 0.60 NO bid) and NO at b for 0.50: 0.90 for a pair that pays 1.
        let snapshot = BookMessages.kalshiSnapshot("KXA", seq: 1, yes: [("0.3000", "10.00")], no: [("0.6000", "10.00")])
        let noAtB = BookMessages.polymarketBook("B-N", bids: [], asks: [("0.50", "100")])

        var trusted = try Self.detector()
        _ = Self.feed(&trusted, kalshi.apply(snapshot, now: 1), now: 1)
        let traded = Self.feed(&trusted, polymarket.apply(noAtB, now: 2), now: 2)
        #expect(traded.count == 1, "the pair must trade on trusted books, or the rest proves nothing")

        var detector = try Self.detector()
        var books = KalshiBooks(venue: "a", tickers: ["KXA"])
        _ = Self.feed(&detector, books.apply(snapshot, now: 1), now: 1)
        _ = Self.feed(&detector, books.apply(BookMessages.kalshiDelta("KXA", seq: 3, price: "0.6000", delta: "5.00", side: "no"), now: 2), now: 2)
        var other = PolymarketBooks(venue: "b", tokens: ["B-Y", "B-N"], silenceMilliseconds: 60_000)
        #expect(Self.feed(&detector, other.apply(noAtB, now: 3), now: 3).isEmpty, "traded on a book with a sequence gap")
        _ = Self.feed(&detector, books.apply(BookMessages.kalshiDelta("KXA", seq: 4, price: "0.6500", delta: "5.00", side: "no"), now: 4), now: 4)
        #expect(Self.feed(&detector, other.apply(noAtB, now: 5), now: 5).isEmpty, "traded on a delta after the gap")
        _ = Self.feed(&detector, books.apply(snapshot, now: 6), now: 6)
        #expect(Self.feed(&detector, other.apply(noAtB, now: 7), now: 7).count == 1)
    }

    @Test("a silent Polymarket socket stops the pair the same way")
    func silenceStopsTrading() throws {
        var detector = try Self.detector()
        var kalshi = KalshiBooks(venue: "a", tickers: ["KXA"])
        var polymarket = PolymarketBooks(venue: "b", tokens: ["B-Y", "B-N"], silenceMilliseconds: 1_000)
        _ = Self.feed(&detector, polymarket.apply(BookMessages.polymarketBook("B-N", bids: [], asks: [("0.50", "100")]), now: 1), now: 1)
        _ = Self.feed(&detector, polymarket.checkSilence(now: 2_000), now: 2_000)
        let snapshot = BookMessages.kalshiSnapshot("KXA", seq: 1, yes: [("0.3000", "10.00")], no: [("0.6000", "10.00")])
        #expect(Self.feed(&detector, kalshi.apply(snapshot, now: 2_001), now: 2_001).isEmpty, "traded on a silent book")
    }
}

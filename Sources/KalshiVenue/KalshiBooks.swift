import ArbKit
import Foundation
import OrderStateMachine

/// Kalshi's order books as the `orderbook_delta` channel builds them (VENUES.md): an
/// `orderbook_snapshot` per ticker, then `orderbook_delta`s (a signed change to one YES or NO
/// bid level). Both sides are bids: the YES ask is 1 − the best NO bid, and the NO ask 1 − the
/// best YES bid. Quotes come out for `TICKER:yes` and `TICKER:no`.
///
/// A book is believed only while every message of its subscription arrived: `seq` rises by one
/// per message of a subscription (`sid`), so a gap untrusts every book of that subscription (the
/// lost message could have been any of theirs). So does an error 10, 17 or 25 (the subscription
/// ended), a delta for a ticker with no snapshot, or a delta that would take a level below zero.
/// An untrusted book sends no quote until a fresh snapshot rebuilds it; the moment it goes, it
/// sends empty quotes so the detector forgets its last prices.
public struct KalshiBooks: Sendable {
    struct Book: Sendable {
        let ticker: String
        /// `TICKER:yes` and `TICKER:no`, built once: a quote names its instrument without a new string.
        let yesInstrument: String
        let noInstrument: String
        var yesBids = BookSide(.bids)
        var noBids = BookSide(.bids)
        var trust = BookTrust()
        var sid: Int64?
        var trusted: Bool { trust.isTrusted }

        init(ticker: String) {
            self.ticker = ticker
            yesInstrument = ticker + ":yes"
            noInstrument = ticker + ":no"
        }
    }

    /// The watched markets' books, one slot each in the order first named: `slots` finds a slot
    /// by ticker, `tickerBytes` by the ticker's bytes in a message, `sortedSlots` lists them in
    /// ticker order (the order events name several books in).
    private var books: [Book] = []
    private let slots: [String: Int]
    private let tickerBytes: ByteKeyTable
    private let sortedSlots: [Int]
    private var lastSeq: [Int64: Int64] = [:]
    /// The `user_orders` subscription, as its `subscribed` answer named it: a message carrying
    /// this sid and an `order_id` says that order changed. Until the answer came, none is read.
    private var userOrdersSid: Int64?
    public private(set) var counts = BookFeedCounts()
    public let venue: String
    /// Messages the fast path read (the rest went through `JSONSerialization`).
    public private(set) var fastPathMessages = 0
    /// False sends every message through `JSONSerialization`, as before the fast path: the
    /// differential test's reference, and arb-bench's comparison.
    public var fastPathEnabled = true

    /// - Parameter tickers: the markets the trader watches; messages for others are ignored.
    public init(venue: String, tickers: [String]) {
        self.venue = venue
        var slots: [String: Int] = [:]
        var names: [String] = []
        for ticker in tickers where slots[ticker] == nil {
            slots[ticker] = names.count
            names.append(ticker)
        }
        books = names.map { Book(ticker: $0) }
        self.slots = slots
        tickerBytes = ByteKeyTable(names.indices.map { (names[$0], $0) })
        sortedSlots = names.indices.sorted { names[$0] < names[$1] }
    }

    /// Every level of every book (YES then NO bids, slot by slot): the differential test
    /// compares the whole books, not only the tops the quotes show.
    var sides: [BookSide] { books.flatMap { [$0.yesBids, $0.noBids] } }

    public func isTrusted(_ ticker: String) -> Bool { slots[ticker].map { books[$0].trusted } ?? false }

    /// Each ticker's book: trusted or not, and when a message last changed it.
    public var status: [MarketBookStatus] {
        sortedSlots.map { MarketBookStatus(market: books[$0].ticker, trusted: books[$0].trusted, updatedAtMilliseconds: books[$0].trust.updatedAtMilliseconds) }
    }

    /// Applies one websocket text message received at `now` (Unix ms, the trader's clock).
    public mutating func apply(_ text: [UInt8], now: Int64) -> [BookFeedEvent] {
        var events: [BookFeedEvent] = []
        text.withUnsafeBufferPointer { apply($0, now: now, into: &events) }
        return events
    }

    /// Applies one message, appending what it tells the trader to `events`. The feed passes the
    /// same buffer for every message: an `orderbook_delta` then costs no heap allocation.
    public mutating func apply(_ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent]) {
        if fastPathEnabled, let delta = fastDelta(text) {
            fastPathMessages += 1
            counts.messages += 1
            guard sequenced(sid: delta.sid, seq: delta.seq, now: now, into: &events), let slot = delta.slot,
                  admitsDelta(slot, now: now, into: &events)
            else { return }
            applyDelta(slot, price: delta.price, change: delta.change, yes: delta.yes, now: now, into: &events)
            return
        }
        events += applySlowly(text, now: now)
    }

    /// The fast path's parse alone, changing nothing (arb-bench's baseline): the delta's signed
    /// hundredths, or nil when the message would go through `JSONSerialization`.
    public func parsedDeltaHundredths(_ text: UnsafeBufferPointer<UInt8>) -> Int64? { fastDelta(text)?.change }

    // MARK: - JSONSerialization (every message the fast path does not take)

    private mutating func applySlowly(_ text: UnsafeBufferPointer<UInt8>, now: Int64) -> [BookFeedEvent] {
        counts.messages += 1
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text))) as? [String: Any],
              let type = object["type"] as? String else {
            counts.unreadable += 1
            return []
        }
        let sid = Self.integer(object["sid"])
        let seq = Self.integer(object["seq"])
        let message = object["msg"] as? [String: Any] ?? [:]
        if let sid, sid == userOrdersSid, type != "subscribed" {
            // One of our orders changed (`user_orders`): say which; its state comes from REST.
            guard let orderID = message["order_id"] as? String, !orderID.isEmpty else {
                counts.unreadable += 1
                return []
            }
            return [.orderChanged(venueOrderID: orderID)]
        }
        switch type {
        case "subscribed":
            if message["channel"] as? String == "user_orders", let sid = Self.integer(message["sid"]) { userOrdersSid = sid }
            return []
        case "orderbook_snapshot":
            return snapshot(message, sid: sid, seq: seq, now: now)
        case "orderbook_delta":
            var events: [BookFeedEvent] = []
            delta(message, sid: sid, seq: seq, now: now, into: &events)
            return events
        case "fill":
            // One of our orders filled (the `fill` channel): say which; the fee comes from REST.
            guard let orderID = message["order_id"] as? String, !orderID.isEmpty,
                  let tradeID = message["trade_id"] as? String, !tradeID.isEmpty else {
                counts.unreadable += 1
                return []
            }
            return [.orderFilled(venueOrderID: orderID, tradeID: tradeID, status: nil)]
        case "error":
            let code = Self.integer(message["code"]) ?? -1
            guard [10, 17, 25].contains(code) else { return [] }
            let affected = sortedSlots.filter { sid == nil || books[$0].sid == sid || books[$0].sid == nil }
            var events: [BookFeedEvent] = []
            for slot in affected { events += untrust(slot, reason: "the venue ended the subscription (error \(code))", now: now) }
            return events + [.needsSnapshot(markets: affected.map { books[$0].ticker })]
        default:
            return []
        }
    }

    private mutating func snapshot(_ message: [String: Any], sid: Int64?, seq: Int64?, now: Int64) -> [BookFeedEvent] {
        guard let ticker = message["market_ticker"] as? String, let slot = slots[ticker] else { return [] }
        guard let yes = Self.levels(message["yes_dollars_fp"]), let no = Self.levels(message["no_dollars_fp"]) else {
            counts.unreadable += 1
            return untrust(slot, reason: "a snapshot that cannot be read", now: now) + [.needsSnapshot(markets: [books[slot].ticker])]
        }
        if let sid, let seq { lastSeq[sid] = seq }
        books[slot].yesBids.removeAll()
        books[slot].noBids.removeAll()
        for (price, size) in yes { books[slot].yesBids.set(price, size: size) }
        for (price, size) in no { books[slot].noBids.set(price, size: size) }
        let healed = books[slot].trust.rebuilt(at: now)
        books[slot].sid = sid ?? books[slot].sid
        var events: [BookFeedEvent] = []
        if healed {
            counts.resyncs += 1
            events.append(.trusted(market: books[slot].ticker))
        }
        quotes(slot, now: now, into: &events)
        return events
    }

    private mutating func delta(_ message: [String: Any], sid: Int64?, seq: Int64?, now: Int64, into events: inout [BookFeedEvent]) {
        if let sid, let seq {
            guard sequenced(sid: sid, seq: seq, now: now, into: &events) else { return }
        }
        guard let ticker = message["market_ticker"] as? String, let slot = slots[ticker],
              admitsDelta(slot, now: now, into: &events)
        else { return }
        guard let priceText = message["price_dollars"] as? String, let price = KalshiNumber.price(priceText),
              let change = Self.signedHundredths(message["delta_fp"]), let side = message["side"] as? String,
              side == "yes" || side == "no" else {
            counts.unreadable += 1
            events += untrust(slot, reason: "a delta that cannot be read", now: now) + [.needsSnapshot(markets: [books[slot].ticker])]
            return
        }
        applyDelta(slot, price: price, change: change, yes: side == "yes", now: now, into: &events)
    }

    // MARK: - A delta, however it was read

    /// Checks a delta's `seq` against its subscription's last. False after a gap: every book of
    /// the subscription is untrusted (the lost message could have been any of theirs).
    /// (A last seq of `Int64.max` has no successor: whatever follows is a gap, not a trap.)
    private mutating func sequenced(sid: Int64, seq: Int64, now: Int64, into events: inout [BookFeedEvent]) -> Bool {
        if let last = lastSeq[sid], last == .max || seq != last + 1 {
            counts.gaps += 1
            lastSeq[sid] = seq
            let affected = sortedSlots.filter { books[$0].sid == sid }
            for slot in affected {
                events += untrust(slot, reason: "sequence gap on subscription \(sid): \(last) then \(seq)", now: now)
            }
            events.append(.needsSnapshot(markets: affected.map { books[$0].ticker }))
            return false
        }
        lastSeq[sid] = seq
        return true
    }

    /// Whether a delta may change the book: only a trusted one. A delta before any snapshot
    /// untrusts it; an untrusted one is already waiting for its snapshot.
    private mutating func admitsDelta(_ slot: Int, now: Int64, into events: inout [BookFeedEvent]) -> Bool {
        switch books[slot].trust.state {
        case .trusted: return true
        case .untrusted: return false
        case .awaitingFirstSnapshot:
            events += untrust(slot, reason: "a delta before any snapshot", now: now) + [.needsSnapshot(markets: [books[slot].ticker])]
            return false
        }
    }

    /// Adds a signed change to one level of a trusted book, in place (a copy of the book would
    /// copy its levels), and sends the two quotes; a level that would go below zero untrusts it.
    private mutating func applyDelta(_ slot: Int, price: Price, change: Int64, yes: Bool, now: Int64, into events: inout [BookFeedEvent]) {
        let applied = yes ? books[slot].yesBids.add(price, hundredths: change) : books[slot].noBids.add(price, hundredths: change)
        guard applied else {
            events += untrust(slot, reason: "a delta of \(change) hundredths at \(price) \(yes ? "yes" : "no") below an empty level", now: now)
                + [.needsSnapshot(markets: [books[slot].ticker])]
            return
        }
        books[slot].trust.changed(at: now)
        quotes(slot, now: now, into: &events)
    }

    /// Every book is untrusted (the connection that kept them current is gone).
    public mutating func untrustAll(reason: String, now: Int64) -> [BookFeedEvent] {
        lastSeq.removeAll()
        // Sids are the connection's: the next one names its own `user_orders` subscription.
        userOrdersSid = nil
        return sortedSlots.flatMap { untrust($0, reason: reason, now: now) }
    }

    /// Marks a book untrusted: one event (its instruments' quotes cleared) when that is news.
    private mutating func untrust(_ slot: Int, reason: String, now: Int64) -> [BookFeedEvent] {
        guard books[slot].trust.distrust() else { return [] }
        let book = books[slot]
        return [.distrusted(venue: venue, market: book.ticker, instruments: [book.yesInstrument, book.noInstrument], reason: reason, now: now)]
    }

    /// The two instruments' quotes from a trusted book.
    private func quotes(_ slot: Int, now: Int64, into events: inout [BookFeedEvent]) {
        guard books[slot].trusted else { return }
        let yes = books[slot].yesBids.best
        let no = books[slot].noBids.best
        events.append(.quote(Quote(timestampMilliseconds: now, venue: venue, instrument: books[slot].yesInstrument, bid: yes?.price,
                                   bidSize: yes?.size ?? .zero, ask: no?.price.complement, askSize: no?.size ?? .zero)))
        events.append(.quote(Quote(timestampMilliseconds: now, venue: venue, instrument: books[slot].noInstrument, bid: no?.price,
                                   bidSize: no?.size ?? .zero, ask: yes?.price.complement, askSize: yes?.size ?? .zero)))
    }

    // MARK: - The fast path: `orderbook_delta` from its bytes

    /// A delta as the fast path read it: every field the slow path would read, already valid.
    struct FastDelta {
        var sid: Int64
        var seq: Int64
        /// nil: a ticker the trader does not watch.
        var slot: Int?
        var price: Price
        var change: Int64
        var yes: Bool
    }

    /// `{"type":"orderbook_delta","sid":…,"seq":…,"msg":{"market_ticker":…,"price_dollars":…,
    /// "delta_fp":…,"side":…, …}}` in any key order, other members plain values. nil for anything
    /// else — another type, a missing or repeated field, an escape, a number the slow path would
    /// have to judge — and for a delta on the `user_orders` sid: the slow path reads those.
    func fastDelta(_ text: UnsafeBufferPointer<UInt8>) -> FastDelta? {
        var scanner = JSONByteScanner(text)
        var isDelta = false
        var sid: Int64?
        var seq: Int64?
        var ticker: Range<Int>?
        var priceText: Range<Int>?
        var changeText: Range<Int>?
        var sideText: Range<Int>?
        guard scanner.consume(UInt8(ascii: "{")), !scanner.consume(UInt8(ascii: "}")) else { return nil }
        repeat {
            guard let key = scanner.key() else { return nil }
            if scanner.text(key, is: "type") {
                guard !isDelta, let type = scanner.string(), scanner.text(type, is: "orderbook_delta") else { return nil }
                isDelta = true
            } else if scanner.text(key, is: "sid") {
                guard sid == nil, let value = scanner.integer() else { return nil }
                sid = value
            } else if scanner.text(key, is: "seq") {
                guard seq == nil, let value = scanner.integer() else { return nil }
                seq = value
            } else if scanner.text(key, is: "msg") {
                guard ticker == nil,
                      let members = scanner.stringMembers(("market_ticker", "price_dollars", "delta_fp", "side"))
                else { return nil }
                (ticker, priceText, changeText, sideText) = members
                // An empty `msg` would leave `ticker` nil: refused below with the other gaps.
                guard ticker != nil else { return nil }
            } else {
                guard scanner.skipPlainValue() else { return nil }
            }
            guard let more = scanner.next(close: UInt8(ascii: "}")) else { return nil }
            if !more { break }
        } while true
        guard scanner.atEnd(), isDelta, let sid, let seq, sid != userOrdersSid, let ticker, let priceText, let changeText, let sideText
        else { return nil }
        let slot = tickerBytes.value(text, ticker)
        guard slot != nil || tickerBytes.isComplete,
              let price = Self.price(text, priceText), let change = Self.signedHundredths(text, changeText)
        else { return nil }
        let yes: Bool
        if scanner.text(sideText, is: "yes") { yes = true } else if scanner.text(sideText, is: "no") { yes = false } else { return nil }
        return FastDelta(sid: sid, seq: seq, slot: slot, price: price, change: change, yes: yes)
    }

    /// `KalshiNumber.price` of the bytes: trailing zeros past 4 decimals dropped, then `Price(parsing:)`.
    static func price(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Price? {
        trimmed(bytes, range, digits: 4).flatMap { FixedPointBytes.price(bytes, $0) }
    }

    /// `signedHundredths` of the bytes: an optional `-`, then `KalshiNumber.quantity`.
    static func signedHundredths(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
        let negative = !range.isEmpty && bytes[range.lowerBound] == UInt8(ascii: "-")
        let digits = negative ? (range.lowerBound + 1)..<range.upperBound : range
        guard let trimmed = trimmed(bytes, digits, digits: 2),
              let hundredths = FixedPointBytes.unsigned(bytes, trimmed, fractionDigits: 2) else { return nil }
        return negative ? -hundredths : hundredths
    }

    /// `KalshiNumber.trimmed` of the bytes: the range that spells the trimmed text (it is always
    /// a prefix of the original), or nil when more than `digits` decimals are not zeros.
    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, digits: Int) -> Range<Int>? {
        guard let dot = range.first(where: { bytes[$0] == UInt8(ascii: ".") }) else { return range }
        var end = range.upperBound
        while end - (dot + 1) > digits, bytes[end - 1] == UInt8(ascii: "0") { end -= 1 }
        guard end - (dot + 1) <= digits else { return nil }
        return end == dot + 1 ? range.lowerBound..<dot : range.lowerBound..<end
    }

    /// A whole JSON number. (On Linux an NSNumber of 0 or 1 answers `is Bool`, so that test
    /// cannot tell a flag from a count: integers are read as `Int` first.)
    static func integer(_ value: Any?) -> Int64? {
        switch value {
        case let value as Int: Int64(value)
        case let value as Int64: value
        case let number as NSNumber where !(number is Bool) && number.doubleValue == Double(number.int64Value): number.int64Value
        default: nil
        }
    }

    /// `[["0.4500","10.00"], …]` (nil or absent is an empty side).
    static func levels(_ value: Any?) -> [(Price, Quantity)]? {
        guard let value, !(value is NSNull) else { return [] }
        guard let items = value as? [Any] else { return nil }
        var out: [(Price, Quantity)] = []
        for item in items {
            guard let pair = item as? [Any], pair.count == 2, let priceText = pair[0] as? String,
                  let price = KalshiNumber.price(priceText), let size = Self.quantity(pair[1]) else { return nil }
            out.append((price, size))
        }
        return out
    }

    static func quantity(_ value: Any?) -> Quantity? {
        if let text = value as? String { return KalshiNumber.quantity(text) }
        if let whole = integer(value), whole >= 0, whole <= Int64.max / 100 { return Quantity(hundredths: whole * 100) }
        return nil
    }

    /// `"-5.00"` / `"3.50"` as signed hundredths.
    static func signedHundredths(_ value: Any?) -> Int64? {
        guard var text = value as? String else { return nil }
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        guard let quantity = KalshiNumber.quantity(text) else { return nil }
        return negative ? -quantity.hundredths : quantity.hundredths
    }
}

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
        var yesBids = BookSide(.bids)
        var noBids = BookSide(.bids)
        var trust = BookTrust()
        var sid: Int64?
        var trusted: Bool { trust.isTrusted }
    }

    private var books: [String: Book] = [:]
    private var lastSeq: [Int64: Int64] = [:]
    /// The `user_orders` subscription, as its `subscribed` answer named it: a message carrying
    /// this sid and an `order_id` says that order changed. Until the answer came, none is read.
    private var userOrdersSid: Int64?
    public private(set) var counts = BookFeedCounts()
    public let venue: String

    /// - Parameter tickers: the markets the trader watches; messages for others are ignored.
    public init(venue: String, tickers: [String]) {
        self.venue = venue
        for ticker in tickers { books[ticker] = Book() }
    }

    public func isTrusted(_ ticker: String) -> Bool { books[ticker]?.trusted ?? false }

    /// Each ticker's book: trusted or not, and when a message last changed it.
    public var status: [MarketBookStatus] {
        books.keys.sorted().map { MarketBookStatus(market: $0, trusted: books[$0]!.trusted, updatedAtMilliseconds: books[$0]!.trust.updatedAtMilliseconds) }
    }

    /// Applies one websocket text message received at `now` (Unix ms, the trader's clock).
    public mutating func apply(_ text: [UInt8], now: Int64) -> [BookFeedEvent] {
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
            return delta(message, sid: sid, seq: seq, now: now)
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
            let affected = books.keys.filter { sid == nil || books[$0]?.sid == sid || books[$0]?.sid == nil }.sorted()
            var events: [BookFeedEvent] = []
            for ticker in affected { events += untrust(ticker, reason: "the venue ended the subscription (error \(code))", now: now) }
            return events + [.needsSnapshot(markets: affected)]
        default:
            return []
        }
    }

    private mutating func snapshot(_ message: [String: Any], sid: Int64?, seq: Int64?, now: Int64) -> [BookFeedEvent] {
        guard let ticker = message["market_ticker"] as? String, var book = books[ticker] else { return [] }
        guard let yes = Self.levels(message["yes_dollars_fp"]), let no = Self.levels(message["no_dollars_fp"]) else {
            counts.unreadable += 1
            return untrust(ticker, reason: "a snapshot that cannot be read", now: now) + [.needsSnapshot(markets: [ticker])]
        }
        if let sid, let seq { lastSeq[sid] = seq }
        book.yesBids.removeAll()
        book.noBids.removeAll()
        for (price, size) in yes { book.yesBids.set(price, size: size) }
        for (price, size) in no { book.noBids.set(price, size: size) }
        let healed = book.trust.rebuilt(at: now)
        book.sid = sid ?? book.sid
        books[ticker] = book
        var events: [BookFeedEvent] = []
        if healed {
            counts.resyncs += 1
            events.append(.trusted(market: ticker))
        }
        return events + quotes(ticker, now: now)
    }

    private mutating func delta(_ message: [String: Any], sid: Int64?, seq: Int64?, now: Int64) -> [BookFeedEvent] {
        if let sid, let seq {
            if let last = lastSeq[sid], seq != last + 1 {
                counts.gaps += 1
                lastSeq[sid] = seq
                let affected = books.keys.filter { books[$0]?.sid == sid }.sorted()
                var events: [BookFeedEvent] = []
                for ticker in affected {
                    events += untrust(ticker, reason: "sequence gap on subscription \(sid): \(last) then \(seq)", now: now)
                }
                return events + [.needsSnapshot(markets: affected)]
            }
            lastSeq[sid] = seq
        }
        guard let ticker = message["market_ticker"] as? String, var book = books[ticker] else { return [] }
        switch book.trust.state {
        case .trusted: break
        case .untrusted: return []  // already waiting for its snapshot
        case .awaitingFirstSnapshot:
            return untrust(ticker, reason: "a delta before any snapshot", now: now) + [.needsSnapshot(markets: [ticker])]
        }
        guard let priceText = message["price_dollars"] as? String, let price = KalshiNumber.price(priceText),
              let change = Self.signedHundredths(message["delta_fp"]), let side = message["side"] as? String,
              side == "yes" || side == "no" else {
            counts.unreadable += 1
            return untrust(ticker, reason: "a delta that cannot be read", now: now) + [.needsSnapshot(markets: [ticker])]
        }
        let applied = side == "yes" ? book.yesBids.add(price, hundredths: change) : book.noBids.add(price, hundredths: change)
        guard applied else {
            return untrust(ticker, reason: "a delta of \(change) hundredths at \(price) \(side) below an empty level", now: now)
                + [.needsSnapshot(markets: [ticker])]
        }
        book.trust.changed(at: now)
        books[ticker] = book
        return quotes(ticker, now: now)
    }

    /// Every book is untrusted (the connection that kept them current is gone).
    public mutating func untrustAll(reason: String, now: Int64) -> [BookFeedEvent] {
        lastSeq.removeAll()
        // Sids are the connection's: the next one names its own `user_orders` subscription.
        userOrdersSid = nil
        return books.keys.sorted().flatMap { untrust($0, reason: reason, now: now) }
    }

    /// Marks a book untrusted: one event (its instruments' quotes cleared) when that is news.
    private mutating func untrust(_ ticker: String, reason: String, now: Int64) -> [BookFeedEvent] {
        guard books[ticker]?.trust.distrust() == true else { return [] }
        return [.distrusted(venue: venue, market: ticker, instruments: [ticker + ":yes", ticker + ":no"], reason: reason, now: now)]
    }

    /// The two instruments' quotes from a trusted book.
    private func quotes(_ ticker: String, now: Int64) -> [BookFeedEvent] {
        guard let book = books[ticker], book.trusted else { return [] }
        let yes = book.yesBids.best
        let no = book.noBids.best
        return [
            .quote(Quote(timestampMilliseconds: now, venue: venue, instrument: ticker + ":yes", bid: yes?.price, bidSize: yes?.size ?? .zero,
                         ask: no?.price.complement, askSize: no?.size ?? .zero)),
            .quote(Quote(timestampMilliseconds: now, venue: venue, instrument: ticker + ":no", bid: no?.price, bidSize: no?.size ?? .zero,
                         ask: yes?.price.complement, askSize: yes?.size ?? .zero)),
        ]
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

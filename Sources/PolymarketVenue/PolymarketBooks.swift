import ArbKit
import Foundation
import OrderStateMachine

/// Polymarket's order books as the market channel builds them (VENUES.md): `book` replaces a
/// token's book, `price_change` sets levels' absolute sizes ("0" removes), `tick_size_change`
/// changes the market's tick. Quotes come out per token id (its YES-price book).
///
/// The channel has no sequence number, and its socket is known to go silent for hours while
/// pings still answer. So a book is believed only while the socket keeps talking: after
/// `silenceMilliseconds` without a market message (pongs do not count) every book is untrusted
/// until a fresh `book` rebuilds it. A `price_change` for a token with no `book` yet, or one that
/// cannot be read, untrusts that token's book too.
public struct PolymarketBooks: Sendable {
    struct Book: Sendable {
        var bids = BookSide(.bids)
        var asks = BookSide(.asks)
        var trust = BookTrust()
    }

    private var books: [String: Book] = [:]
    private var lastMessageAt: Int64?
    public let silenceMilliseconds: Int64
    public private(set) var counts = BookFeedCounts()
    public let venue: String

    /// - Parameter tokens: the token ids the trader watches; messages for others are ignored.
    public init(venue: String, tokens: [String], silenceMilliseconds: Int64) {
        self.venue = venue
        self.silenceMilliseconds = silenceMilliseconds
        for token in tokens { books[token] = Book() }
    }

    public func isTrusted(_ token: String) -> Bool { books[token]?.trust.isTrusted ?? false }

    /// Each token's book: trusted or not, and when a message last changed it.
    public var status: [MarketBookStatus] {
        books.keys.sorted().map {
            MarketBookStatus(market: $0, trusted: books[$0]!.trust.isTrusted, updatedAtMilliseconds: books[$0]!.trust.updatedAtMilliseconds)
        }
    }

    /// Applies one websocket text message (one event object, or an array of them) received at `now`.
    public mutating func apply(_ text: [UInt8], now: Int64) -> [BookFeedEvent] {
        counts.messages += 1
        if text == Array("PONG".utf8) { return [] }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(text)) else {
            counts.unreadable += 1
            return []
        }
        lastMessageAt = now
        let objects = (parsed as? [Any] ?? [parsed]).compactMap { $0 as? [String: Any] }
        var events: [BookFeedEvent] = []
        for object in objects {
            switch object["event_type"] as? String {
            case "book": events += book(object, now: now)
            case "price_change": events += priceChange(object, now: now)
            case "tick_size_change":
                if let token = object["asset_id"] as? String, books[token] != nil,
                   let text = object["new_tick_size"] as? String, let tick = Price(parsing: text) {
                    events.append(.tickSize(market: token, tick: tick))
                }
            default: break
            }
        }
        return events
    }

    /// Untrusts every trusted book when the socket has been silent too long (call it on a timer).
    public mutating func checkSilence(now: Int64) -> [BookFeedEvent] {
        guard let last = lastMessageAt, now - last > silenceMilliseconds else { return [] }
        var events: [BookFeedEvent] = []
        for token in books.keys.sorted() where books[token]?.trust.isTrusted == true {
            events += untrust(token, reason: "no market message for \(now - last) ms (longer than \(silenceMilliseconds) ms)", now: now)
        }
        if !events.isEmpty { counts.gaps += 1 }
        return events.isEmpty ? [] : events + [.needsSnapshot(markets: books.keys.sorted())]
    }

    private mutating func book(_ object: [String: Any], now: Int64) -> [BookFeedEvent] {
        guard let token = object["asset_id"] as? String, var book = books[token] else { return [] }
        guard let bids = Self.levels(object["bids"]), let asks = Self.levels(object["asks"]) else {
            counts.unreadable += 1
            return untrust(token, reason: "a book that cannot be read", now: now) + [.needsSnapshot(markets: [token])]
        }
        book.bids.removeAll()
        book.asks.removeAll()
        for (price, size) in bids { book.bids.set(price, size: size) }
        for (price, size) in asks { book.asks.set(price, size: size) }
        let healed = book.trust.rebuilt(at: now)
        books[token] = book
        if healed { counts.resyncs += 1 }
        return (healed ? [.trusted(market: token)] : []) + quote(token, now: now)
    }

    private mutating func priceChange(_ object: [String: Any], now: Int64) -> [BookFeedEvent] {
        guard let changes = object["price_changes"] as? [Any] else { return [] }
        var touched: [String] = []
        var events: [BookFeedEvent] = []
        for case let change as [String: Any] in changes {
            guard let token = change["asset_id"] as? String, let state = books[token]?.trust.state else { continue }
            switch state {
            case .untrusted: continue
            case .awaitingFirstSnapshot:
                events += untrust(token, reason: "a price change before any book", now: now) + [.needsSnapshot(markets: [token])]
                continue
            case .trusted: break
            }
            guard let priceText = change["price"] as? String, let price = Price(parsing: priceText),
                  let sizeText = change["size"] as? String, let size = Self.quantity(sizeText),
                  let side = change["side"] as? String, side == "BUY" || side == "SELL" else {
                counts.unreadable += 1
                events += untrust(token, reason: "a price change that cannot be read", now: now) + [.needsSnapshot(markets: [token])]
                continue
            }
            if side == "BUY" { books[token]?.bids.set(price, size: size) } else { books[token]?.asks.set(price, size: size) }
            books[token]?.trust.changed(at: now)
            if !touched.contains(token) { touched.append(token) }
        }
        return events + touched.flatMap { quote($0, now: now) }
    }

    /// Every book is untrusted (the connection that kept them current is gone).
    public mutating func untrustAll(reason: String, now: Int64) -> [BookFeedEvent] {
        lastMessageAt = nil
        return books.keys.sorted().flatMap { untrust($0, reason: reason, now: now) }
    }

    private mutating func untrust(_ token: String, reason: String, now: Int64) -> [BookFeedEvent] {
        guard books[token]?.trust.distrust() == true else { return [] }
        return [.distrusted(venue: venue, market: token, instruments: [token], reason: reason, now: now)]
    }

    private func quote(_ token: String, now: Int64) -> [BookFeedEvent] {
        guard let book = books[token], book.trust.isTrusted else { return [] }
        let bid = book.bids.best
        let ask = book.asks.best
        return [.quote(Quote(timestampMilliseconds: now, venue: venue, instrument: token, bid: bid?.price, bidSize: bid?.size ?? .zero,
                             ask: ask?.price, askSize: ask?.size ?? .zero))]
    }

    /// `[{"price": "0.45", "size": "100"}, …]`.
    static func levels(_ value: Any?) -> [(Price, Quantity)]? {
        guard let value, !(value is NSNull) else { return [] }
        guard let items = value as? [Any] else { return nil }
        var out: [(Price, Quantity)] = []
        for case let level as [String: Any] in items {
            guard let priceText = level["price"] as? String, let price = Price(parsing: priceText),
                  let sizeText = level["size"] as? String, let size = quantity(sizeText) else { return nil }
            out.append((price, size))
        }
        return out.count == items.count ? out : nil
    }

    /// Sizes are shares with up to 6 decimals on the CLOB; the book keeps hundredths, so finer
    /// sizes round down (a level is never shown larger than it is).
    static func quantity(_ text: String) -> Quantity? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.allSatisfy({ $0.isASCII && $0.isNumber }), parts.count == 1 || !fraction.isEmpty else { return nil }
        return Quantity(parsing: String(whole) + (fraction.isEmpty ? "" : "." + String(fraction.prefix(2))))
    }
}

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
        let token: String
        var bids = BookSide(.bids)
        var asks = BookSide(.asks)
        var trust = BookTrust()
    }

    /// A `price_change` entry as the fast path read it, already valid. `slot` nil: a token the
    /// trader does not watch.
    struct FastChange: Sendable {
        var slot: Int?
        var price: Price
        var size: Quantity
        var buy: Bool
    }

    /// The watched tokens' books, one slot each in the order first named: `slots` finds a slot
    /// by token id, `tokenBytes` by the id's bytes in a message, `sortedSlots` lists them in
    /// token order (the order events name several books in).
    private var books: [Book] = []
    private let slots: [String: Int]
    private let tokenBytes: ByteKeyTable
    private let sortedSlots: [Int]
    private var lastMessageAt: Int64?
    /// The fast path's buffers, kept between messages so that a `price_change` allocates nothing.
    private var fastChanges: [FastChange] = []
    private var touchedSlots: [Int] = []
    public let silenceMilliseconds: Int64
    public private(set) var counts = BookFeedCounts()
    public let venue: String
    /// Messages the fast path read (the rest went through `JSONSerialization`).
    public private(set) var fastPathMessages = 0
    /// False sends every message through `JSONSerialization`, as before the fast path: the
    /// differential test's reference, and arb-bench's comparison.
    public var fastPathEnabled = true

    /// - Parameter tokens: the token ids the trader watches; messages for others are ignored.
    public init(venue: String, tokens: [String], silenceMilliseconds: Int64) {
        self.venue = venue
        self.silenceMilliseconds = silenceMilliseconds
        var slots: [String: Int] = [:]
        var names: [String] = []
        for token in tokens where slots[token] == nil {
            slots[token] = names.count
            names.append(token)
        }
        books = names.map { Book(token: $0) }
        self.slots = slots
        tokenBytes = ByteKeyTable(names.indices.map { (names[$0], $0) })
        sortedSlots = names.indices.sorted { names[$0] < names[$1] }
    }

    /// Every level of every book (bids then asks, slot by slot): the differential test compares
    /// the whole books, not only the tops the quotes show.
    var sides: [BookSide] { books.flatMap { [$0.bids, $0.asks] } }

    public func isTrusted(_ token: String) -> Bool { slots[token].map { books[$0].trust.isTrusted } ?? false }

    /// Each token's book: trusted or not, and when a message last changed it.
    public var status: [MarketBookStatus] {
        sortedSlots.map {
            MarketBookStatus(market: books[$0].token, trusted: books[$0].trust.isTrusted, updatedAtMilliseconds: books[$0].trust.updatedAtMilliseconds)
        }
    }

    /// Applies one websocket text message (one event object, or an array of them) received at `now`.
    public mutating func apply(_ text: [UInt8], now: Int64) -> [BookFeedEvent] {
        var events: [BookFeedEvent] = []
        text.withUnsafeBufferPointer { apply($0, now: now, into: &events) }
        return events
    }

    /// Applies one message, appending what it tells the trader to `events`. The feed passes the
    /// same buffer for every message: a `price_change` then costs no heap allocation.
    public mutating func apply(_ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent]) {
        guard fastPathEnabled, parseFastChanges(text) else {
            events += applySlowly(text, now: now)
            return
        }
        fastPathMessages += 1
        counts.messages += 1
        lastMessageAt = now
        touchedSlots.removeAll(keepingCapacity: true)
        for index in fastChanges.indices {
            let change = fastChanges[index]
            guard let slot = change.slot, admitsChange(slot, now: now, into: &events) else { continue }
            setLevel(slot, price: change.price, size: change.size, buy: change.buy, now: now)
            if !touchedSlots.contains(slot) { touchedSlots.append(slot) }
        }
        for slot in touchedSlots { quote(slot, now: now, into: &events) }
    }

    /// The fast path's parse alone, changing no book (arb-bench's baseline): how many changes the
    /// `price_change` carries, or nil when the message would go through `JSONSerialization`.
    public mutating func parsedChangeCount(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        parseFastChanges(text) ? fastChanges.count : nil
    }

    // MARK: - JSONSerialization (every message the fast path does not take)

    private mutating func applySlowly(_ text: UnsafeBufferPointer<UInt8>, now: Int64) -> [BookFeedEvent] {
        counts.messages += 1
        if text.elementsEqual("PONG".utf8) { return [] }
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
                if let token = object["asset_id"] as? String, let slot = slots[token],
                   let text = object["new_tick_size"] as? String, let tick = Price(parsing: text) {
                    events.append(.tickSize(market: books[slot].token, tick: tick))
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
        for slot in sortedSlots where books[slot].trust.isTrusted {
            events += untrust(slot, reason: "no market message for \(now - last) ms (longer than \(silenceMilliseconds) ms)", now: now)
        }
        if !events.isEmpty { counts.gaps += 1 }
        return events.isEmpty ? [] : events + [.needsSnapshot(markets: sortedSlots.map { books[$0].token })]
    }

    private mutating func book(_ object: [String: Any], now: Int64) -> [BookFeedEvent] {
        guard let token = object["asset_id"] as? String, let slot = slots[token] else { return [] }
        guard let bids = Self.levels(object["bids"]), let asks = Self.levels(object["asks"]) else {
            counts.unreadable += 1
            return untrust(slot, reason: "a book that cannot be read", now: now) + [.needsSnapshot(markets: [books[slot].token])]
        }
        books[slot].bids.removeAll()
        books[slot].asks.removeAll()
        for (price, size) in bids { books[slot].bids.set(price, size: size) }
        for (price, size) in asks { books[slot].asks.set(price, size: size) }
        let healed = books[slot].trust.rebuilt(at: now)
        if healed { counts.resyncs += 1 }
        var events: [BookFeedEvent] = healed ? [.trusted(market: books[slot].token)] : []
        quote(slot, now: now, into: &events)
        return events
    }

    private mutating func priceChange(_ object: [String: Any], now: Int64) -> [BookFeedEvent] {
        guard let changes = object["price_changes"] as? [Any] else { return [] }
        var touched: [Int] = []
        var events: [BookFeedEvent] = []
        for case let change as [String: Any] in changes {
            guard let token = change["asset_id"] as? String, let slot = slots[token], admitsChange(slot, now: now, into: &events) else { continue }
            guard let priceText = change["price"] as? String, let price = Price(parsing: priceText),
                  let sizeText = change["size"] as? String, let size = Self.quantity(sizeText),
                  let side = change["side"] as? String, side == "BUY" || side == "SELL" else {
                counts.unreadable += 1
                events += untrust(slot, reason: "a price change that cannot be read", now: now) + [.needsSnapshot(markets: [books[slot].token])]
                continue
            }
            setLevel(slot, price: price, size: size, buy: side == "BUY", now: now)
            if !touched.contains(slot) { touched.append(slot) }
        }
        for slot in touched { quote(slot, now: now, into: &events) }
        return events
    }

    // MARK: - A price change, however it was read

    /// Whether a change may touch the book: only a trusted one. A change before any `book`
    /// untrusts it; an untrusted one waits for its `book`.
    private mutating func admitsChange(_ slot: Int, now: Int64, into events: inout [BookFeedEvent]) -> Bool {
        switch books[slot].trust.state {
        case .trusted: return true
        case .untrusted: return false
        case .awaitingFirstSnapshot:
            events += untrust(slot, reason: "a price change before any book", now: now) + [.needsSnapshot(markets: [books[slot].token])]
            return false
        }
    }

    /// Sets one level's absolute size, in place (a copy of the book would copy its levels).
    private mutating func setLevel(_ slot: Int, price: Price, size: Quantity, buy: Bool, now: Int64) {
        if buy { books[slot].bids.set(price, size: size) } else { books[slot].asks.set(price, size: size) }
        books[slot].trust.changed(at: now)
    }

    /// Every book is untrusted (the connection that kept them current is gone).
    public mutating func untrustAll(reason: String, now: Int64) -> [BookFeedEvent] {
        lastMessageAt = nil
        return sortedSlots.flatMap { untrust($0, reason: reason, now: now) }
    }

    private mutating func untrust(_ slot: Int, reason: String, now: Int64) -> [BookFeedEvent] {
        guard books[slot].trust.distrust() else { return [] }
        return [.distrusted(venue: venue, market: books[slot].token, instruments: [books[slot].token], reason: reason, now: now)]
    }

    private func quote(_ slot: Int, now: Int64, into events: inout [BookFeedEvent]) {
        guard books[slot].trust.isTrusted else { return }
        let bid = books[slot].bids.best
        let ask = books[slot].asks.best
        events.append(.quote(Quote(timestampMilliseconds: now, venue: venue, instrument: books[slot].token, bid: bid?.price,
                                   bidSize: bid?.size ?? .zero, ask: ask?.price, askSize: ask?.size ?? .zero)))
    }

    // MARK: - The fast path: `price_change` from its bytes

    /// Reads `{"event_type":"price_change","price_changes":[{"asset_id":…,"price":…,"size":…,
    /// "side":…, …}, …], …}` (any key order, other members plain values) into `fastChanges`. False
    /// for anything else — another event, an array of events, a missing or repeated field, an
    /// escape, a number or side the slow path would have to judge: the slow path reads those.
    private mutating func parseFastChanges(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        fastChanges.removeAll(keepingCapacity: true)
        var scanner = JSONByteScanner(text)
        var isPriceChange = false
        var sawChanges = false
        guard scanner.consume(UInt8(ascii: "{")), !scanner.consume(UInt8(ascii: "}")) else { return false }
        repeat {
            guard let key = scanner.key() else { return false }
            if scanner.text(key, is: "event_type") {
                guard !isPriceChange, let type = scanner.string(), scanner.text(type, is: "price_change") else { return false }
                isPriceChange = true
            } else if scanner.text(key, is: "price_changes") {
                guard !sawChanges, scanner.consume(UInt8(ascii: "[")) else { return false }
                sawChanges = true
                if !scanner.consume(UInt8(ascii: "]")) {
                    repeat {
                        guard let change = fastChange(&scanner) else { return false }
                        fastChanges.append(change)
                        guard let more = scanner.next(close: UInt8(ascii: "]")) else { return false }
                        if !more { break }
                    } while true
                }
            } else {
                guard scanner.skipPlainValue() else { return false }
            }
            guard let more = scanner.next(close: UInt8(ascii: "}")) else { return false }
            if !more { break }
        } while true
        return scanner.atEnd() && isPriceChange && sawChanges
    }

    /// One entry of `price_changes`, every field the slow path reads valid; nil otherwise.
    private func fastChange(_ scanner: inout JSONByteScanner) -> FastChange? {
        guard let (token, priceText, sizeText, sideText) = scanner.stringMembers(("asset_id", "price", "size", "side"))
        else { return nil }
        let bytes = scanner.bytes
        guard let token, let priceText, let sizeText, let sideText else { return nil }
        let slot = tokenBytes.value(bytes, token)
        guard slot != nil || tokenBytes.isComplete, let price = FixedPointBytes.price(bytes, priceText),
              let size = Self.quantity(bytes, sizeText)
        else { return nil }
        let buy: Bool
        if scanner.text(sideText, is: "BUY") { buy = true } else if scanner.text(sideText, is: "SELL") { buy = false } else { return nil }
        return FastChange(slot: slot, price: price, size: size, buy: buy)
    }

    /// `quantity(_:)` of the bytes: whole digits, optionally `.` and at least one digit, the
    /// decimals past two dropped.
    static func quantity(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Quantity? {
        let dot = range.first { bytes[$0] == UInt8(ascii: ".") }
        let whole = range.lowerBound..<(dot ?? range.upperBound)
        guard !whole.isEmpty, whole.allSatisfy({ JSONByteScanner.isDigit(bytes[$0]) }) else { return nil }
        guard let dot else { return FixedPointBytes.unsigned(bytes, whole, fractionDigits: 2).flatMap(Quantity.init(hundredths:)) }
        let fraction = (dot + 1)..<range.upperBound
        guard !fraction.isEmpty, fraction.allSatisfy({ JSONByteScanner.isDigit(bytes[$0]) }) else { return nil }
        let kept = range.lowerBound..<(dot + 1 + min(2, fraction.count))
        return FixedPointBytes.unsigned(bytes, kept, fractionDigits: 2).flatMap(Quantity.init(hundredths:))
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

import ArbKit
import Foundation

/// What the user channel has told us: only counts (no books).
public struct PolymarketUserChannel: Sendable {
    public private(set) var counts = BookFeedCounts()

    public init() {}

    /// Each `trade` event names our orders in it (as taker or maker) with the trade's status.
    public mutating func apply(_ text: [UInt8]) -> [BookFeedEvent] {
        counts.messages += 1
        if text == Array("PONG".utf8) { return [] }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(text)) else {
            counts.unreadable += 1
            return []
        }
        var events: [BookFeedEvent] = []
        for case let object as [String: Any] in (parsed as? [Any] ?? [parsed]) where object["event_type"] as? String == "trade" {
            guard let id = object["id"] as? String, !id.isEmpty, let status = object["status"] as? String else {
                counts.unreadable += 1
                continue
            }
            var orders: [String] = []
            if let taker = object["taker_order_id"] as? String, !taker.isEmpty { orders.append(taker) }
            for case let maker as [String: Any] in object["maker_orders"] as? [Any] ?? [] {
                if let order = maker["order_id"] as? String, !order.isEmpty { orders.append(order) }
            }
            events += orders.map { .orderFilled(venueOrderID: $0, tradeID: id, status: status.uppercased()) }
        }
        return events
    }
}

/// Polymarket's user channel (VENUES.md): authenticated in the subscribe message with the API
/// credentials (over TLS; never logged), the account's trades in the configured markets as their
/// status moves MATCHED → MINED → CONFIRMED (or FAILED). Each is a prompt for the venue to read
/// the order's trades; "PING" every 10 s.
public struct PolymarketUserFeedSpec: BookFeedSpec {
    public let venue: String
    public let url: String
    let credentials: PolymarketCredentials
    let markets: [String]

    /// - Parameters:
    ///   - url: `wss://…/ws/user`.
    ///   - markets: the condition ids the trader trades.
    public init(venue: String, url: String, credentials: PolymarketCredentials, markets: [String]) {
        self.venue = venue
        self.url = url
        self.credentials = credentials
        self.markets = markets
    }

    public var pingText: String? { "PING" }

    public func handshakeHeaders(nowMilliseconds: Int64) throws -> [(name: String, value: String)] { [] }

    public func subscribeMessages() -> [String] {
        [#"{"auth":{"apiKey":"# + JSONText.quoted(credentials.apiKey) + #","secret":"# + JSONText.quoted(credentials.secret)
            + #","passphrase":"# + JSONText.quoted(credentials.passphrase) + #"},"markets":["#
            + markets.map(JSONText.quoted).joined(separator: ",") + #"],"type":"user"}"#]
    }

    public func makeBooks() -> PolymarketUserChannel { PolymarketUserChannel() }

    public func apply(_ books: inout PolymarketUserChannel, _ text: [UInt8], now: Int64) -> [BookFeedEvent] { books.apply(text) }

    public func disconnected(_ books: inout PolymarketUserChannel, reason: String, now: Int64) -> [BookFeedEvent] { [] }

    public func status(_ books: PolymarketUserChannel) -> (counts: BookFeedCounts, markets: [MarketBookStatus]) { (books.counts, []) }
}

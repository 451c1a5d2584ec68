import ArbKit
import Foundation

/// Polymarket's market channel (VENUES.md): no authentication, one subscription for every
/// watched token, "PING" every 10 s, and a silence check each second. There is no snapshot
/// request on the market channel: a fresh `book` comes from a new subscription.
public struct PolymarketBookFeedSpec: BookFeedSpec {
    public let venue: String
    public let url: String
    public let tokens: [String]
    public let silenceMilliseconds: Int64
    public var pingIntervalMilliseconds: Int64 = 10_000

    /// - Parameter url: `wss://…/ws/market`.
    public init(venue: String, url: String, tokens: [String], silenceMilliseconds: Int64) {
        self.venue = venue
        self.url = url
        self.tokens = tokens
        self.silenceMilliseconds = silenceMilliseconds
    }

    public var pingText: String? { "PING" }

    public func handshakeHeaders(nowMilliseconds: Int64) throws -> [(name: String, value: String)] { [] }

    public func subscribeMessages() -> [String] {
        [#"{"assets_ids":["# + tokens.map(JSONText.quoted).joined(separator: ",") + #"],"type":"market"}"#]
    }

    public func makeBooks() -> PolymarketBooks { PolymarketBooks(venue: venue, tokens: tokens, silenceMilliseconds: silenceMilliseconds) }

    public func apply(_ books: inout PolymarketBooks, _ text: [UInt8], now: Int64) -> [BookFeedEvent] { books.apply(text, now: now) }

    public func apply(_ books: inout PolymarketBooks, _ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent]) {
        books.apply(text, now: now, into: &events)
    }

    public func tick(_ books: inout PolymarketBooks, now: Int64) -> [BookFeedEvent] { books.checkSilence(now: now) }

    public func disconnected(_ books: inout PolymarketBooks, reason: String, now: Int64) -> [BookFeedEvent] {
        books.untrustAll(reason: reason, now: now)
    }

    public func status(_ books: PolymarketBooks) -> (counts: BookFeedCounts, markets: [MarketBookStatus]) { (books.counts, books.status) }
}

import ArbKit
import Foundation

/// Kalshi's `orderbook_delta` channel (VENUES.md): the handshake signed like a request
/// (`timestamp + "GET" + /trade-api/ws/v2`), one subscription for every watched ticker, and the
/// account's `fill` and `user_orders` channels on the same socket. A book
/// that needs a snapshot gets it from a new subscription (the documented `get_snapshot` update's
/// exact parameters are not confirmed; resubscribing is).
public struct KalshiBookFeedSpec: BookFeedSpec {
    public let venue: String
    public let url: String
    public let tickers: [String]
    let signer: KalshiSigner

    /// - Parameters:
    ///   - url: `wss://…/trade-api/ws/v2`.
    ///   - tickers: market tickers (instruments are `TICKER:yes|no`).
    public init(venue: String, url: String, tickers: [String], signer: KalshiSigner) {
        self.venue = venue
        self.url = url
        self.tickers = tickers
        self.signer = signer
    }

    /// The path the handshake signs: the URL's path (`/trade-api/ws/v2`).
    var path: String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...])
    }

    public func handshakeHeaders(nowMilliseconds: Int64) throws -> [(name: String, value: String)] {
        try signer.headers(timestampMilliseconds: nowMilliseconds, method: "GET", path: path).pairs.map { (name: $0.0, value: $0.1) }
    }

    public func subscribeMessages() -> [String] {
        // Books for the watched tickers, and our own fills (the `fill` channel is the account's).
        [#"{"id":1,"cmd":"subscribe","params":{"channels":["orderbook_delta"],"market_tickers":["#
            + tickers.map(JSONText.quoted).joined(separator: ",") + "]}}",
         #"{"id":2,"cmd":"subscribe","params":{"channels":["fill"]}}"#,
         #"{"id":3,"cmd":"subscribe","params":{"channels":["user_orders"]}}"#]
    }

    public func makeBooks() -> KalshiBooks { KalshiBooks(venue: venue, tickers: tickers) }

    public func apply(_ books: inout KalshiBooks, _ text: [UInt8], now: Int64) -> [BookFeedEvent] { books.apply(text, now: now) }

    public func apply(_ books: inout KalshiBooks, _ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent]) {
        books.apply(text, now: now, into: &events)
    }

    public func disconnected(_ books: inout KalshiBooks, reason: String, now: Int64) -> [BookFeedEvent] {
        books.untrustAll(reason: reason, now: now)
    }

    public func status(_ books: KalshiBooks) -> (counts: BookFeedCounts, markets: [MarketBookStatus]) { (books.counts, books.status) }
}

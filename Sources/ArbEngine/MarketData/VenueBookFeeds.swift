import KalshiVenue
import Logging
import OrderStateMachine
import PolymarketVenue
import Synchronization

/// The real venues' own books: one websocket feed per Kalshi or Polymarket venue, for the
/// instruments the config's events name there. A real venue's prices come only from here (or a
/// replay file the operator gave): the demo generator quotes paper venues only.
public struct VenueBookFeeds: Sendable {
    public struct Feed: Sendable {
        public let venue: String
        public let run: @Sendable () async -> Void
    }

    public let feeds: [Feed]
    /// Events the feeds emitted, waiting for the detection loop.
    private let inbox = Inbox()

    final class Inbox: Sendable {
        private let events = Mutex<[BookFeedEvent]>([])
        func append(_ event: BookFeedEvent) { events.withLock { $0.append(event) } }
        func drain() -> [BookFeedEvent] { events.withLock { events in defer { events.removeAll(keepingCapacity: true) }; return events } }
    }

    /// Feeds for every venue of the config that has one (paper venues have none).
    public init(config: TraderConfig, venues: [String: any Venue], clock: any TradingClock, logger: Logger) {
        let inbox = self.inbox
        let emit: @Sendable (BookFeedEvent) -> Void = { inbox.append($0) }
        var feeds: [Feed] = []
        for name in venues.keys.sorted() {
            let instruments = config.events.flatMap { $0.instruments[name].map { Array($0.values) } ?? [] }
            if let kalshi = venues[name] as? KalshiVenue {
                let tickers = Array(Set(instruments.map { String($0.split(separator: ":").first ?? "") })).sorted()
                if let spec = kalshi.bookFeedSpec(tickers: tickers) {
                    let feed = WebSocketBookFeed(spec: spec, clock: clock, logger: logger, emit: emit)
                    feeds.append(Feed(venue: name, run: { await feed.run() }))
                }
            } else if let polymarket = venues[name] as? PolymarketVenue, let spec = polymarket.bookFeedSpec() {
                let feed = WebSocketBookFeed(spec: spec, clock: clock, logger: logger, emit: emit)
                feeds.append(Feed(venue: name, run: { await feed.run() }))
            }
        }
        self.feeds = feeds
    }

    /// What the feeds emitted since the last call, in order.
    public func drain() -> [BookFeedEvent] { inbox.drain() }

    /// Runs every feed until the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for feed in feeds { group.addTask { await feed.run() } }
        }
    }
}

/// Policy: a trusted book that has not changed is current — nothing was missed (Kalshi's `seq`,
/// Polymarket's silence rule) — so its last quote is restated as of now every
/// `intervalMilliseconds`, and a quiet book does not age into `quote_staleness_ms`. An untrusted
/// book's quote was cleared (no bid, no ask) and is never restated.
public struct CurrentBookQuotes: Sendable {
    struct Key: Hashable {
        var venue: String
        var instrument: String
    }

    public let intervalMilliseconds: Int64
    private var latest: [Key: Quote] = [:]
    private var restatedAt: Int64?

    public init(intervalMilliseconds: Int64 = 100) { self.intervalMilliseconds = intervalMilliseconds }

    public mutating func record(_ quote: Quote) {
        latest[Key(venue: quote.venue, instrument: quote.instrument)] = quote
    }

    /// The trusted books' quotes stamped `now`, when an interval has passed since the last restatement.
    public mutating func restated(now: Int64) -> [Quote] {
        if let last = restatedAt, now - last < intervalMilliseconds { return [] }
        restatedAt = now
        return latest.values.filter { $0.bid != nil || $0.ask != nil }
            .sorted { ($0.venue, $0.instrument) < ($1.venue, $1.instrument) }
            .map { quote in
                var restated = quote
                restated.timestampMilliseconds = now
                return restated
            }
    }
}

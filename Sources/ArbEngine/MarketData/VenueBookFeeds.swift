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

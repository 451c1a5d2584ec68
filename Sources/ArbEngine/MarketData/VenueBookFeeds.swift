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
        public let run: @Sendable () async -> Void
        public let status: @Sendable () -> BookFeedStatus
    }

    public let feeds: [Feed]
    /// Events the feeds emitted, waiting for the detection loop.
    private let inbox = Inbox()

    final class Inbox: Sendable {
        private struct State {
            var events: [BookFeedEvent] = []
            /// The detection loop, waiting for an event (`wait`).
            var waiter: CheckedContinuation<Void, Never>?
            /// A `wake` that found no one waiting: the next `wait` returns at once. Without it, a
            /// timer that fired before the loop began to wait was lost, and the loop then waited
            /// for the next book message — forever on a quiet feed, deaf to its stop and its
            /// duration (seen: `arb run --duration 2` beside a feed that sent only its snapshots,
            /// under load).
            var woken = false
        }

        private let state = Mutex(State())

        func append(_ event: BookFeedEvent) {
            let waiter = state.withLock { state in
                state.events.append(event)
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }

        func drain() -> [BookFeedEvent] {
            state.withLock { state in defer { state.events.removeAll(keepingCapacity: true) }; return state.events }
        }

        /// Returns as soon as an event is waiting (at once if one already is) or `wake` is called
        /// (at once if it was called while no one waited).
        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    if !state.events.isEmpty || state.woken {
                        state.woken = false
                        return continuation
                    }
                    let previous = state.waiter
                    state.waiter = continuation
                    return previous
                }
                now?.resume()
            }
        }

        func wake() {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter else {
                    state.woken = true
                    return nil
                }
                state.waiter = nil
                return waiter
            }?.resume()
        }
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
                    // Our fills on the same socket go to the venue, which reads them with their fee.
                    let feed = WebSocketBookFeed(spec: spec, clock: clock, logger: logger) { event in
                        switch event {
                        case .orderFilled(let order, let trade, _):
                            Task { await kalshi.fillAnnounced(venueOrderID: order, tradeID: trade) }
                        case .orderChanged(let order):
                            Task { await kalshi.orderAnnounced(venueOrderID: order) }
                        default:
                            emit(event)
                        }
                    }
                    feeds.append(Feed(run: { await feed.run() }, status: { feed.status() }))
                }
            } else if let polymarket = venues[name] as? PolymarketVenue {
                if let spec = polymarket.bookFeedSpec() {
                    // A tick size change reaches the signer before the next order.
                    let feed = WebSocketBookFeed(spec: spec, clock: clock, logger: logger) { event in
                        if case .tickSize(let token, let tick) = event { polymarket.tickChanged(token: token, tick: tick) }
                        emit(event)
                    }
                    feeds.append(Feed(run: { await feed.run() }, status: { feed.status() }))
                }
                // The account's trades, as their status changes, read back by the venue.
                if let spec = polymarket.userFeedSpec() {
                    let feed = WebSocketBookFeed(spec: spec, clock: clock, logger: logger) { event in
                        if case .orderFilled(let order, let trade, let status) = event {
                            Task { await polymarket.tradeAnnounced(orderHash: order, tradeID: trade, status: status ?? "") }
                        }
                    }
                    feeds.append(Feed(run: { await feed.run() }, status: { feed.status() }))
                }
            }
        }
        self.feeds = feeds
    }

    /// What the feeds emitted since the last call, in order.
    public func drain() -> [BookFeedEvent] { inbox.drain() }

    /// Waits until a feed has emitted something or `milliseconds` have passed, whichever is
    /// first: the detection loop sees a book message as it arrives, not on its next tick (the
    /// tick stays, for the demo's generator and the restated quotes). Without feeds, just sleeps.
    public func waitForEvents(orMilliseconds milliseconds: Int64, clock: any TradingClock) async {
        guard !feeds.isEmpty else {
            try? await clock.sleep(milliseconds: milliseconds)
            return
        }
        let inbox = self.inbox
        await withTaskGroup(of: Void.self) { timer in
            timer.addTask {
                // Cancelled: the wait already ended (an event); a wake now would only make the
                // next wait return early.
                guard (try? await clock.sleep(milliseconds: milliseconds)) != nil else { return }
                inbox.wake()
            }
            await inbox.wait()
            timer.cancelAll()
        }
    }

    public var statuses: [BookFeedStatus] { feeds.map { $0.status() } }

    /// Runs every feed until the task is cancelled; `publish` gets their status every second.
    public func run(publish: (@Sendable ([BookFeedStatus]) async -> Void)? = nil, clock: any TradingClock) async {
        guard !feeds.isEmpty else { return }
        await withDiscardingTaskGroup { group in
            for feed in feeds { group.addTask { await feed.run() } }
            if let publish {
                group.addTask {
                    while !Task.isCancelled {
                        await publish(statuses)
                        do { try await clock.sleep(milliseconds: 1_000) } catch { return }
                    }
                }
            }
        }
    }

    /// The statuses as `arbadmin status` reads them back.
    public static func json(_ statuses: [BookFeedStatus]) -> String {
        JSONValue.array(statuses.map { feed in
            .object([
                JSONMember(key: "venue", value: .string(feed.venue)),
                JSONMember(key: "connected", value: .bool(feed.connected)),
                JSONMember(key: "messages", value: .number(String(feed.counts.messages))),
                JSONMember(key: "unreadable", value: .number(String(feed.counts.unreadable))),
                JSONMember(key: "gaps", value: .number(String(feed.counts.gaps))),
                JSONMember(key: "resyncs", value: .number(String(feed.counts.resyncs))),
                JSONMember(key: "markets", value: .array(feed.markets.map { market in
                    .object([
                        JSONMember(key: "market", value: .string(market.market)),
                        JSONMember(key: "trusted", value: .bool(market.trusted)),
                        JSONMember(key: "updated_at_ms", value: market.updatedAtMilliseconds.map { .number(String($0)) } ?? .null),
                    ])
                })),
            ])
        }).compactText
    }

    /// Reads `json` back (nil if it is not what `json(_:)` writes).
    public static func statuses(json: String) -> [BookFeedStatus]? {
        guard case .array(let items)? = try? StrictJSONParser.parse(Array(json.utf8)) else { return nil }
        func field(_ members: [JSONMember], _ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
        func int(_ value: JSONValue?) -> Int? { if case .number(let text)? = value { Int(text) } else { nil } }
        var out: [BookFeedStatus] = []
        for case .object(let members) in items {
            guard case .string(let venue)? = field(members, "venue"), case .bool(let connected)? = field(members, "connected"),
                  case .array(let marketItems)? = field(members, "markets") else { return nil }
            var counts = BookFeedCounts()
            counts.messages = int(field(members, "messages")) ?? 0
            counts.unreadable = int(field(members, "unreadable")) ?? 0
            counts.gaps = int(field(members, "gaps")) ?? 0
            counts.resyncs = int(field(members, "resyncs")) ?? 0
            var markets: [MarketBookStatus] = []
            for case .object(let market) in marketItems {
                guard case .string(let name)? = field(market, "market"), case .bool(let trusted)? = field(market, "trusted") else { return nil }
                let updated: Int64? = if case .number(let text)? = field(market, "updated_at_ms") { Int64(text) } else { nil }
                markets.append(MarketBookStatus(market: name, trusted: trusted, updatedAtMilliseconds: updated))
            }
            out.append(BookFeedStatus(venue: venue, connected: connected, counts: counts, markets: markets))
        }
        return out
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

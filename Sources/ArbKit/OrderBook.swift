import OrderStateMachine

/// One side of a venue's order book: price levels (ticks of $0.0001) to resting size (hundredths
/// of a contract), and the best level kept current. Levels with no size are removed.
public struct BookSide: Sendable, Hashable {
    /// Bids rank the highest price first, asks the lowest.
    public enum Ranking: Sendable, Hashable { case bids, asks }

    public let ranking: Ranking
    public private(set) var levels: [Int64: Int64] = [:]
    public private(set) var bestTicks: Int64?

    public init(_ ranking: Ranking) { self.ranking = ranking }

    /// The best level, if any.
    public var best: (price: Price, size: Quantity)? {
        guard let ticks = bestTicks, let size = levels[ticks] else { return nil }
        return (Price(uncheckedTicks: ticks), Quantity(hundredths: size) ?? .zero)
    }

    public mutating func removeAll() {
        levels.removeAll(keepingCapacity: true)
        bestTicks = nil
    }

    /// Sets a level's size (absolute; zero removes it).
    public mutating func set(_ price: Price, size: Quantity) {
        if size.hundredths == 0 {
            guard levels.removeValue(forKey: price.ticks) != nil else { return }
            if bestTicks == price.ticks { bestTicks = rescan() }
        } else {
            levels[price.ticks] = size.hundredths
            if bestTicks.map({ better(price.ticks, than: $0) }) ?? true { bestTicks = price.ticks }
        }
    }

    /// Adds a signed change to a level. Returns false (and changes nothing) when the level would
    /// go below zero: the book is not the venue's any more.
    public mutating func add(_ price: Price, hundredths delta: Int64) -> Bool {
        let now = (levels[price.ticks] ?? 0) + delta
        guard now >= 0 else { return false }
        set(price, size: Quantity(hundredths: now) ?? .zero)
        return true
    }

    private func better(_ ticks: Int64, than other: Int64) -> Bool {
        ranking == .bids ? ticks > other : ticks < other
    }

    private func rescan() -> Int64? {
        ranking == .bids ? levels.keys.max() : levels.keys.min()
    }
}

/// What a venue's book feed tells the trader after a message.
public enum BookFeedEvent: Sendable, Hashable {
    /// The top of a trusted book changed (or was rebuilt): hand it to the detector.
    case quote(Quote)
    /// A book can no longer be believed (a sequence gap, an error, a silent socket, a change
    /// that does not fit it). `cleared` are quotes with no bid and no ask for its instruments,
    /// so the detector forgets the last prices it had from it; no quote from it follows until
    /// it is rebuilt.
    case untrusted(market: String, reason: String, cleared: [Quote])
    /// A book is whole again (a fresh snapshot after being untrusted).
    case trusted(market: String)
    /// The feed needs a fresh snapshot of these markets (resubscribe or ask for one).
    case needsSnapshot(markets: [String])
    /// The venue changed a market's tick size (Polymarket `tick_size_change`).
    case tickSize(market: String, tick: Price)
    /// The venue says one of our orders filled (Kalshi's `fill` channel), or a trade of one
    /// changed status (Polymarket's user channel: MATCHED, MINED, CONFIRMED, FAILED). The message
    /// is not a fill record (no fee, or no certainty the adapter trusts): the adapter reads the
    /// order's fills from its REST API.
    case orderFilled(venueOrderID: String, tradeID: String, status: String?)
    /// The venue says one of our orders changed (Kalshi's `user_orders` channel). The message is
    /// not the order as the adapter trusts it: the adapter reads the order from its REST API.
    case orderChanged(venueOrderID: String)
}

/// A feed's running counts, for `arbadmin status` and the run summary.
public struct BookFeedCounts: Sendable, Hashable {
    public var messages = 0
    /// Messages that could not be read (logged once each; they change no book).
    public var unreadable = 0
    public var gaps = 0
    public var resyncs = 0
    public init() {}
}

/// Policy: one venue book's trust, the same for every feed. A book is believed from its first
/// snapshot until something says it may be wrong (a gap, a silence, an error, a change that does
/// not fit); then it is untrusted — said once — until a fresh snapshot rebuilds it (a resync).
public struct BookTrust: Sendable, Hashable {
    public enum State: Sendable, Hashable { case awaitingFirstSnapshot, trusted, untrusted }

    public private(set) var state = State.awaitingFirstSnapshot
    /// When a message last changed or rebuilt the book.
    public private(set) var updatedAtMilliseconds: Int64?

    public init() {}

    public var isTrusted: Bool { state == .trusted }

    /// A snapshot rebuilt the book at `now`. True when that heals an untrusted book (a resync).
    public mutating func rebuilt(at now: Int64) -> Bool {
        defer { state = .trusted; updatedAtMilliseconds = now }
        return state == .untrusted
    }

    /// A message changed the trusted book at `now`.
    public mutating func changed(at now: Int64) { updatedAtMilliseconds = now }

    /// The book may be wrong. True when this is news (it was not already untrusted): say it once.
    public mutating func distrust() -> Bool {
        defer { state = .untrusted }
        return state != .untrusted
    }
}

extension BookFeedEvent {
    /// A book just went untrusted: the event, with a quote of no bid and no ask for each of its
    /// instruments so the detector forgets the last prices it had from it.
    public static func distrusted(venue: String, market: String, instruments: [String], reason: String, now: Int64) -> BookFeedEvent {
        .untrusted(market: market, reason: reason, cleared: instruments.map {
            Quote(timestampMilliseconds: now, venue: venue, instrument: $0, bid: nil, bidSize: .zero, ask: nil, askSize: .zero)
        })
    }

    /// What the detector must see of this event: a trusted book's quote, or the empty quotes of
    /// a book that just became untrusted (so its last prices are forgotten). Nothing else.
    public var detectorQuotes: [Quote] {
        switch self {
        case .quote(let quote): [quote]
        case .untrusted(_, _, let cleared): cleared
        case .trusted, .needsSnapshot, .tickSize, .orderFilled, .orderChanged: []
        }
    }
}

/// One market's book as its feed holds it now.
public struct MarketBookStatus: Sendable, Hashable {
    public var market: String
    public var trusted: Bool
    /// When a message last changed or confirmed this book (nil: never).
    public var updatedAtMilliseconds: Int64?

    public init(market: String, trusted: Bool, updatedAtMilliseconds: Int64?) {
        self.market = market
        self.trusted = trusted
        self.updatedAtMilliseconds = updatedAtMilliseconds
    }
}

/// A venue's book feed as it stands: connected or not, its counts, each market's book.
public struct BookFeedStatus: Sendable, Hashable {
    public var venue: String
    public var connected: Bool
    public var counts: BookFeedCounts
    public var markets: [MarketBookStatus]

    public init(venue: String, connected: Bool, counts: BookFeedCounts, markets: [MarketBookStatus]) {
        self.venue = venue
        self.connected = connected
        self.counts = counts
        self.markets = markets
    }
}

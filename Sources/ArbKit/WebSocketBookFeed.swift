import HTTPTypes
import Logging
import NIOCore
import Synchronization
import WSClient

/// What one venue's book feed needs beyond the websocket itself: where to connect and how to
/// sign the handshake, what to subscribe to, how to build books from messages, and how to get
/// fresh snapshots. The books are kept by `WebSocketBookFeed`; this says what to do with them.
public protocol BookFeedSpec: Sendable {
    associatedtype Books: Sendable

    var venue: String { get }
    var url: String { get }
    /// Headers for one connection attempt (Kalshi signs the handshake with the time).
    func handshakeHeaders(nowMilliseconds: Int64) throws -> [(name: String, value: String)]
    /// Sent once per connection, right after it opens.
    func subscribeMessages() -> [String]
    /// Messages that ask for fresh snapshots of `markets` on the open connection; nil
    /// reconnects instead (a new subscription starts with snapshots).
    func snapshotRequests(markets: [String]) -> [String]?
    /// A text to send every `pingIntervalMilliseconds` (Polymarket's "PING"); nil sends none.
    var pingText: String? { get }
    var pingIntervalMilliseconds: Int64 { get }

    func makeBooks() -> Books
    func apply(_ books: inout Books, _ text: [UInt8], now: Int64) -> [BookFeedEvent]
    /// The same, appending to `events`: the feed passes one buffer for every message, so a book
    /// that reads its hot messages without allocating (Kalshi's, Polymarket's) costs none here.
    func apply(_ books: inout Books, _ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent])
    /// Called about once a second while connected (a silence check).
    func tick(_ books: inout Books, now: Int64) -> [BookFeedEvent]
    /// The connection is gone: every book it kept current is untrusted until a new one rebuilds it.
    func disconnected(_ books: inout Books, reason: String, now: Int64) -> [BookFeedEvent]
    /// Each market's book and the feed's counts (for `arbadmin status` and the run summary).
    func status(_ books: Books) -> (counts: BookFeedCounts, markets: [MarketBookStatus])
}

extension BookFeedSpec {
    public var pingText: String? { nil }
    public var pingIntervalMilliseconds: Int64 { 10_000 }
    public func snapshotRequests(markets: [String]) -> [String]? { nil }
    public func tick(_ books: inout Books, now: Int64) -> [BookFeedEvent] { [] }
    public func apply(_ books: inout Books, _ text: UnsafeBufferPointer<UInt8>, now: Int64, into events: inout [BookFeedEvent]) {
        events += apply(&books, Array(text), now: now)
    }
}

/// Keeps one venue's books current over its websocket: connects, subscribes, applies every
/// message, asks for snapshots when a book goes untrusted, and reconnects with a back-off (100 ms
/// doubling to 10 s) when the connection drops or a snapshot can only come from a new
/// subscription. Every `BookFeedEvent` goes to `emit` in order.
public final class WebSocketBookFeed<Spec: BookFeedSpec>: Sendable {
    public let spec: Spec
    private let books: Mutex<Spec.Books>
    private let clock: any TradingClock
    private let logger: Logger
    private let emit: @Sendable (BookFeedEvent) -> Void
    private let connections = Mutex(0)
    private let connected = Mutex(false)

    public init(spec: Spec, clock: any TradingClock, logger: Logger, emit: @escaping @Sendable (BookFeedEvent) -> Void) {
        self.spec = spec
        self.books = Mutex(spec.makeBooks())
        self.clock = clock
        self.logger = logger
        self.emit = emit
    }

    /// Connections opened so far.
    public var connectionCount: Int { connections.withLock { $0 } }

    /// The feed as it stands now.
    public func status() -> BookFeedStatus {
        let (counts, markets) = books.withLock { spec.status($0) }
        return BookFeedStatus(venue: spec.venue, connected: connected.withLock { $0 }, counts: counts, markets: markets)
    }

    struct Reconnect: Error, CustomStringConvertible { var description: String }

    /// How long a closing connection waits for the venue's side of the close.
    static var closeTimeout: Duration { .seconds(1) }

    /// Runs until the task is cancelled.
    public func run() async {
        var failures = 0
        while !Task.isCancelled {
            let reason: String
            do {
                var fields = HTTPFields()
                for header in try spec.handshakeHeaders(nowMilliseconds: clock.nowMilliseconds()) {
                    guard let name = HTTPField.Name(header.name) else { continue }
                    fields.append(HTTPField(name: name, value: header.value))
                }
                // A connection this feed gives up on (a sequence gap, the venue silent) is closed
                // politely but not waited on for long: the books are untrusted until the next
                // one (the library's default waits up to 15 s for the venue to end it).
                let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 22, additionalHeaders: fields,
                                                                 closeTimeout: Self.closeTimeout)
                let opened = connectionCount
                defer { if connectionCount > opened { failures = 0 } }
                try await WebSocketClient.connect(url: spec.url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                    self.connections.withLock { $0 += 1 }
                    self.connected.withLock { $0 = true }
                    defer { self.connected.withLock { $0 = false } }
                    for message in self.spec.subscribeMessages() { try await outbound.writeTextMessage(message) }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await self.tickLoop(outbound) }
                        group.addTask {
                            // One buffer for every message's events, emptied (capacity kept) before each.
                            var events: [BookFeedEvent] = []
                            for try await message in inbound.messages(maxSize: 1 << 22) {
                                guard case .text(var text) = message else { continue }
                                let now = self.clock.nowMilliseconds()
                                events.removeAll(keepingCapacity: true)
                                text.withUTF8 { bytes in self.books.withLock { self.spec.apply(&$0, bytes, now: now, into: &events) } }
                                try await self.handle(events, outbound)
                            }
                            throw Reconnect(description: "the venue closed the connection")
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
                reason = "the connection ended"
            } catch let error as Reconnect {
                reason = error.description
            } catch {
                reason = "\(error)"
            }
            if Task.isCancelled { return }
            failures += 1
            let now = clock.nowMilliseconds()
            for event in books.withLock({ spec.disconnected(&$0, reason: reason, now: now) }) { emit(event) }
            let wait = min(10_000, 100 << min(failures - 1, 7))
            logger.warning("\(spec.venue) book feed: \(reason); reconnecting in \(wait) ms")
            do { try await clock.sleep(milliseconds: Int64(wait)) } catch { return }
        }
    }

    private func handle(_ events: [BookFeedEvent], _ outbound: WebSocketOutboundWriter) async throws {
        for event in events {
            emit(event)
            switch event {
            case .untrusted(let market, let reason, _):
                logger.warning("\(spec.venue) book \(market) untrusted: \(reason)")
            case .trusted(let market):
                logger.notice("\(spec.venue) book \(market) rebuilt from a fresh snapshot")
            case .needsSnapshot(let markets):
                guard let requests = spec.snapshotRequests(markets: markets) else {
                    throw Reconnect(description: "fresh snapshots needed for \(markets.joined(separator: ", "))")
                }
                for request in requests { try await outbound.writeTextMessage(request) }
            case .quote, .tickSize, .orderFilled, .orderChanged:
                break
            }
        }
    }

    private func tickLoop(_ outbound: WebSocketOutboundWriter) async throws {
        var lastPing = clock.nowMilliseconds()
        while !Task.isCancelled {
            try await clock.sleep(milliseconds: min(1_000, spec.pingIntervalMilliseconds))
            let now = clock.nowMilliseconds()
            if let ping = spec.pingText, now - lastPing >= spec.pingIntervalMilliseconds {
                try await outbound.writeTextMessage(ping)
                lastPing = now
            }
            let events = books.withLock { spec.tick(&$0, now: now) }
            try await handle(events, outbound)
        }
    }
}

import ArbEngine
import ArbTestSupport
import Foundation
import KalshiLoopback
import KalshiVenue
import LoopbackHTTP
import Logging
import OrderStateMachine
import PolymarketVenue
import Synchronization
import Testing

/// What a feed emitted, in order, readable from the test.
final class EmittedEvents: Sendable {
    private let events = Mutex<[BookFeedEvent]>([])
    func append(_ event: BookFeedEvent) { events.withLock { $0.append(event) } }
    var all: [BookFeedEvent] { events.withLock { $0 } }
    var quotes: [Quote] { all.flatMap(\.detectorQuotes).filter { $0.bid != nil || $0.ask != nil } }
    func count(where predicate: (BookFeedEvent) -> Bool) -> Int { all.filter(predicate).count }
}

/// What the exchange side saw: connections and the texts each sent.
final class SocketLog: Sendable {
    private let state = Mutex<(connections: [LoopbackWebSocketServer.Connection], texts: [(Int, String)], refused: Int)>(([], [], 0))
    func connected(_ connection: LoopbackWebSocketServer.Connection) { state.withLock { $0.connections.append(connection) } }
    func text(_ connection: LoopbackWebSocketServer.Connection, _ text: String) {
        state.withLock { state in
            let index = state.connections.firstIndex { $0 === connection } ?? -1
            state.texts.append((index, text))
        }
    }
    func refusedOne() { state.withLock { $0.refused += 1 } }
    var connections: [LoopbackWebSocketServer.Connection] { state.withLock { $0.connections } }
    var texts: [(connection: Int, text: String)] { state.withLock { $0.texts.map { (connection: $0.0, text: $0.1) } } }
    var refused: Int { state.withLock { $0.refused } }
}

@Suite("Book feeds over a websocket: subscribe, build, distrust, resubscribe", .serialized)
struct BookFeedTests {
    @Test("Kalshi: a signed handshake, one subscription, quotes from snapshot and deltas; a seq gap resubscribes and the new snapshot heals the book")
    func kalshi() async throws {
        let key = try KalshiTestKey(bits: 2048)
        let directory = TemporaryDirectory()
        let keyPath = directory.path("kalshi.pem")
        try key.writePrivateKey(to: keyPath)
        let log = SocketLog()
        let server = try await LoopbackWebSocketServer.start(
            accept: { path, headers in
                guard let stamp = headers["KALSHI-ACCESS-TIMESTAMP"], let signature = headers["KALSHI-ACCESS-SIGNATURE"],
                      headers["KALSHI-ACCESS-KEY"] == "key-1", key.verifies(signature: signature, message: stamp + "GET" + path) else {
                    log.refusedOne()
                    return false
                }
                return true
            },
            connected: { log.connected($0) },
            text: { connection, text in
                log.text(connection, text)
                guard text.contains(#""channels":["orderbook_delta"]"#) else { return }
                let round = log.connections.count
                connection.send(String(decoding: BookMessages.kalshiSnapshot("KXA", sid: round, seq: 1, yes: [("0.3000", "10.00")],
                                                                              no: [("0.6000", "7.00")]), as: UTF8.self))
                if round == 1 {
                    connection.send(String(decoding: BookMessages.kalshiDelta("KXA", sid: 1, seq: 2, price: "0.6200", delta: "3.00", side: "no"), as: UTF8.self))
                    connection.send(String(decoding: BookMessages.kalshiDelta("KXA", sid: 1, seq: 4, price: "0.6300", delta: "3.00", side: "no"), as: UTF8.self))
                }
            })
        defer { Task { await server.stop() } }
        let signer = KalshiSigner(keyID: "key-1", key: try KalshiSigningKey.load(path: keyPath))
        let emitted = EmittedEvents()
        let feed = WebSocketBookFeed(spec: KalshiBookFeedSpec(venue: "kalshi", url: server.url("/trade-api/ws/v2"), tickers: ["KXA"], signer: signer),
                                     clock: SystemClock(), logger: Logger(label: "test"), emit: { emitted.append($0) })
        let running = Task { await feed.run() }
        defer { running.cancel() }
        #expect(await waitUntil(timeoutSeconds: 10) { emitted.count { $0 == .trusted(market: "KXA") } == 1 }, "\(emitted.all)")
        running.cancel()
        #expect(log.refused == 0 && log.connections.count == 2)
        let subscribes = log.texts.filter { $0.connection == 0 }.map(\.text)
        #expect(subscribes.prefix(2) == [#"{"id":1,"cmd":"subscribe","params":{"channels":["orderbook_delta"],"market_tickers":["KXA"]}}"#,
                                         #"{"id":2,"cmd":"subscribe","params":{"channels":["fill"]}}"#], "\(subscribes)")
        let asks = emitted.quotes.filter { $0.instrument == "KXA:yes" }.map { $0.ask?.description ?? "none" }
        // Snapshot (1 − 0.60), the delta (1 − 0.62), the gap clears it, the new snapshot (1 − 0.60).
        #expect(asks == ["0.4000", "0.3800", "0.4000"], "\(asks)")
        let untrusted = emitted.all.compactMap { if case .untrusted(_, let reason, _) = $0 { reason } else { nil } }
        #expect(untrusted.first == "sequence gap on subscription 1: 2 then 4", "\(untrusted)")
        #expect(!emitted.quotes.contains { $0.ask?.description == "0.3700" }, "the delta after the gap was applied")
    }

    @Test("Kalshi: a refused handshake is retried with a back-off, never trusted")
    func kalshiRefused() async throws {
        let key = try KalshiTestKey(bits: 2048)
        let other = try KalshiTestKey(bits: 2048)
        let directory = TemporaryDirectory()
        let keyPath = directory.path("wrong.pem")
        try other.writePrivateKey(to: keyPath)
        let log = SocketLog()
        let server = try await LoopbackWebSocketServer.start(
            accept: { path, headers in
                let ok = headers["KALSHI-ACCESS-SIGNATURE"].map { key.verifies(signature: $0, message: (headers["KALSHI-ACCESS-TIMESTAMP"] ?? "") + "GET" + path) } ?? false
                if !ok { log.refusedOne() }
                return ok
            },
            connected: { log.connected($0) }, text: { _, _ in })
        defer { Task { await server.stop() } }
        let emitted = EmittedEvents()
        let signer = KalshiSigner(keyID: "key-1", key: try KalshiSigningKey.load(path: keyPath))
        let feed = WebSocketBookFeed(spec: KalshiBookFeedSpec(venue: "kalshi", url: server.url("/trade-api/ws/v2"), tickers: ["KXA"], signer: signer),
                                     clock: SystemClock(), logger: Logger(label: "test"), emit: { emitted.append($0) })
        let running = Task { await feed.run() }
        #expect(await waitUntil(timeoutSeconds: 10) { log.refused >= 3 })
        running.cancel()
        #expect(log.connections.isEmpty && emitted.quotes.isEmpty && feed.connectionCount == 0)
    }

    @Test("a dropped connection untrusts every book at once (empty quotes), and the new subscription's snapshot heals it")
    func dropped() async throws {
        let log = SocketLog()
        let server = try await LoopbackWebSocketServer.start(
            accept: { _, _ in true }, connected: { log.connected($0) },
            text: { connection, text in
                log.text(connection, text)
                connection.send(String(decoding: BookMessages.polymarketBook("111", bids: [("0.44", "10")], asks: [("0.47", "10")]), as: UTF8.self))
                if log.connections.count == 1 { connection.drop() }
            })
        defer { Task { await server.stop() } }
        let emitted = EmittedEvents()
        let spec = PolymarketBookFeedSpec(venue: "polymarket", url: server.url("/ws/market"), tokens: ["111"], silenceMilliseconds: 60_000)
        let feed = WebSocketBookFeed(spec: spec, clock: SystemClock(), logger: Logger(label: "test"), emit: { emitted.append($0) })
        let running = Task { await feed.run() }
        defer { running.cancel() }
        #expect(await waitUntil(timeoutSeconds: 10) { emitted.count { $0 == .trusted(market: "111") } == 1 }, "\(emitted.all)")
        running.cancel()
        let untrusted = emitted.all.compactMap { if case .untrusted(_, _, let cleared) = $0 { cleared } else { nil } }
        #expect(untrusted.count == 1 && untrusted[0].allSatisfy { $0.ask == nil && $0.bid == nil })
        #expect(log.connections.count == 2)
    }

    @Test("Polymarket: one subscription, PING on time, quotes from book and price_change; a silent socket untrusts, resubscribes and a fresh book heals")
    func polymarket() async throws {
        let log = SocketLog()
        let server = try await LoopbackWebSocketServer.start(
            accept: { _, _ in true },
            connected: { log.connected($0) },
            text: { connection, text in
                log.text(connection, text)
                guard text.contains(#""type":"market""#) else { return }
                connection.send(String(decoding: BookMessages.polymarketBook("111", bids: [("0.44", "10")], asks: [("0.47", "10")]), as: UTF8.self))
                if log.connections.count == 1 {
                    connection.send(String(decoding: BookMessages.polymarketChange([("111", "0.46", "5", "SELL")]), as: UTF8.self))
                }
                // Then nothing: the socket goes silent (PINGs get no PONG either).
            })
        defer { Task { await server.stop() } }
        let emitted = EmittedEvents()
        var spec = PolymarketBookFeedSpec(venue: "polymarket", url: server.url("/ws/market"), tokens: ["111"], silenceMilliseconds: 1_500)
        spec.pingIntervalMilliseconds = 500
        let feed = WebSocketBookFeed(spec: spec, clock: SystemClock(), logger: Logger(label: "test"), emit: { emitted.append($0) })
        let running = Task { await feed.run() }
        defer { running.cancel() }
        // Healed: trusted again, and the fresh book's quote out (it follows the `trusted` event).
        #expect(await waitUntil(timeoutSeconds: 15) {
            emitted.count { $0 == .trusted(market: "111") } == 1 && emitted.quotes.count >= 3 && emitted.quotes.last?.ask?.description == "0.4700"
        }, "\(emitted.all)")
        running.cancel()
        let first = log.texts.filter { $0.connection == 0 }.map(\.text)
        #expect(first.first == #"{"assets_ids":["111"],"type":"market"}"#)
        #expect(first.dropFirst().contains("PING"), "no PING within the silence: \(first)")
        #expect(log.connections.count == 2)
        let asks = emitted.quotes.map { $0.ask?.description ?? "none" }
        #expect(asks.prefix(2) == ["0.4700", "0.4600"] && asks.last == "0.4700", "\(asks)")
        #expect(emitted.all.contains { if case .untrusted(_, let reason, _) = $0 { reason.hasPrefix("no market message for") } else { false } })
    }
}

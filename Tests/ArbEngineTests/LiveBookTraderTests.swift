import ArbEngine
import ArbTestSupport
import Foundation
import KalshiLoopback
import LoopbackHTTP
import PolymarketLoopback
import PolymarketVenue
@testable import OrderStateMachine
import Testing

@Suite("A quiet trusted book stays current")
struct CurrentBookQuotesTests {
    @Test("its last quote is restated as of now each interval; a cleared (untrusted) one never is")
    func restates() {
        var current = CurrentBookQuotes(intervalMilliseconds: 100)
        let quote = Quote(timestampMilliseconds: 5, venue: "kalshi", instrument: "KX:yes", bid: Price(ticks: 900), bidSize: Quantity(contracts: 1),
                          ask: Price(ticks: 1_000), askSize: Quantity(contracts: 2))
        current.record(quote)
        let first = current.restated(now: 10)
        #expect(first.count == 1 && first[0].timestampMilliseconds == 10 && first[0].ask == quote.ask && first[0].askSize == quote.askSize)
        #expect(current.restated(now: 109).isEmpty)
        #expect(current.restated(now: 110).map(\.timestampMilliseconds) == [110])
        current.record(Quote(timestampMilliseconds: 120, venue: "kalshi", instrument: "KX:yes", bid: nil, bidSize: .zero, ask: nil, askSize: .zero))
        #expect(current.restated(now: 300).isEmpty, "an untrusted book's quote was restated")
    }
}

@Suite("arb run on a real venue's own book: Kalshi's websocket feed beside a paper venue", .serialized)
struct LiveBookTraderTests {
    /// A Kalshi book server: verifies the handshake's signature and answers each subscription with
    /// a snapshot per ticker (YES bid 0.08, NO bid 0.90: YES asks 0.10).
    static func bookServer(subscriptions: SocketLog) async throws -> LoopbackWebSocketServer {
        try await LoopbackWebSocketServer.start(
            accept: { path, headers in
                guard let stamp = headers["KALSHI-ACCESS-TIMESTAMP"], let signature = headers["KALSHI-ACCESS-SIGNATURE"] else { return false }
                return kalshiTestKey.verifies(signature: signature, message: stamp + "GET" + path)
            },
            connected: { subscriptions.connected($0) },
            text: { connection, text in
                subscriptions.text(connection, text)
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                      let params = object["params"] as? [String: Any], let tickers = params["market_tickers"] as? [String] else { return }
                for (index, ticker) in tickers.enumerated() {
                    connection.send(String(decoding: BookMessages.kalshiSnapshot(ticker, sid: 1, seq: index + 1, yes: [("0.0800", "50.00")],
                                                                                  no: [("0.9000", "50.00")]), as: UTF8.self))
                }
            })
    }

    static func config(exchange: KalshiLoopbackExchange, websocketURL: String?, keyFile: String, events: [String]) -> String {
        let eventJSON = events.map { id in
            #"{"event_id": "\#(id)", "outcomes": ["YES", "NO"], "instruments": {"paper": {"YES": "P-\#(id)-Y", "NO": "P-\#(id)-N"}, "#
                + #""kalshi": {"YES": "KX\#(id):yes", "NO": "KX\#(id):no"}}}"#
        }.joined(separator: ",\n    ")
        let ws = websocketURL.map { #""ws_url": "\#($0)", "# } ?? ""
        return loopbackTradingConfig(events: eventJSON, venues: [
            #""kalshi": {"kind": "kalshi", "environment": "demo", "fee": "kalshi_taker", "base_url": "\#(exchange.baseURL)", \#(ws)"#
                + #""private_key_file": "\#(keyFile)"}"#,
        ]).replacingOccurrences(of: #""quote_staleness_ms": 5000"#, with: #""quote_staleness_ms": 400"#)
    }

    @Test("Kalshi's prices come from its book (every Kalshi leg at the book's 0.10 ask), never from the demo generator; without the feed nothing trades there")
    func tradesOnTheBook() async throws {
        let setup = try await KalshiRunSetup(events: ["E1", "E2"])
        defer { Task { await setup.stop() } }
        let subscriptions = SocketLog()
        let books = try await Self.bookServer(subscriptions: subscriptions)
        defer { Task { await books.stop() } }
        let configPath = setup.directory.path("live.json")
        try Self.config(exchange: setup.exchange, websocketURL: books.url("/trade-api/ws/v2"), keyFile: setup.keyFile, events: ["E1", "E2"])
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let db = setup.directory.path("arb.db")
        let run = try await runBuilt("arb", ["run", "--config", configPath, "--db", db, "--duration", "2", "--log-level", "warning"],
                                     environment: ["KALSHI_API_KEY_ID": "key-9"], timeoutSeconds: 90)
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
        let summaryLine = run.stdout.split(separator: "\n").first { $0.contains("book feed kalshi:") }.map(String.init) ?? ""
        #expect(summaryLine.contains("messages, 2/2 books trusted at the end, 0 gaps, 0 resyncs"), "\(run.stdout)")
        let status = try arbadmin(["status", "--db", db])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("  kalshi: ") && status.stdout.contains("    KXE1: trusted, last message")
                && status.stdout.contains("    KXE2: trusted"), "\(status.stdout)")
        #expect(status.stdout.contains("books       as the trader last wrote them") && status.stdout.contains("no trader is running now"))
        let statusJSON = try arbadmin(["status", "--db", db, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8)) as? [String: Any])
        let feeds = try #require(object["book_feeds"] as? [[String: Any]])
        #expect(feeds.first?["venue"] as? String == "kalshi" && (feeds.first?["markets"] as? [[String: Any]])?.count == 2)
        #expect(run.stderr.contains("event E1: nobody has noted checking that kalshi and paper resolve it alike"), "\(run.stderr.suffix(1_000))")
        #expect(subscriptions.texts.first?.text
                == #"{"id":1,"cmd":"subscribe","params":{"channels":["orderbook_delta"],"market_tickers":["KXE1","KXE2"]}}"#)
        let store = try Store(path: db, access: .readOnly)
        let kalshiLegs = try allOpportunities(store).flatMap { try store.legs(of: $0.id) }.filter { $0.venue == "kalshi" }
        #expect(!kalshiLegs.isEmpty, "nothing traded on the book")
        #expect(kalshiLegs.allSatisfy { $0.limitPrice == Price(ticks: 1_000)! && $0.instrument.hasSuffix(":yes") },
                "a Kalshi leg not at the book's ask: \(kalshiLegs.map { "\($0.instrument) \($0.limitPrice)" })")
        let violations = try Invariants.check(databasePath: db, paperFiles: ["paper": setup.directory.path("paper-paper.db")],
                                              options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
        try expectKalshiAgrees(databasePath: db, exchange: setup.exchange)

        // No websocket URL: no book, so no Kalshi price at all (the generator does not invent one).
        let blind = setup.directory.path("blind.json")
        try Self.config(exchange: setup.exchange, websocketURL: nil, keyFile: setup.keyFile, events: ["E1", "E2"])
            .replacingOccurrences(of: #""environment": "demo","#, with: #""environment": "demo", "ws_url": "ws://127.0.0.1:9/none","#)
            .write(toFile: blind, atomically: true, encoding: .utf8)
        let blindDB = setup.directory.path("blind.db")
        let blindRun = try await runBuilt("arb", ["run", "--config", blind, "--db", blindDB, "--duration", "1", "--log-level", "error"],
                                          environment: ["KALSHI_API_KEY_ID": "key-9"], timeoutSeconds: 90)
        #expect(blindRun.status == 0, "\(blindRun.stderr.suffix(2_000))")
        let blindStore = try Store(path: blindDB, access: .readOnly)
        #expect(try blindStore.highestOpportunityID() == 0, "traded a Kalshi market with no book")
    }

    @Test("Polymarket's prices come from its market channel (ws_url + /ws/market): every Polymarket leg at the book's 0.10 ask")
    func polymarketOnTheBook() async throws {
        let directory = TemporaryDirectory()
        let key = try EthereumKey(hex: polymarketTestWallet)
        let events = [("E1", "1011", "1012")]
        let exchange = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials,
                                                  negRisk: ["1011": false, "1012": false])
        try await exchange.start()
        defer { Task { await exchange.stop() } }
        let subscriptions = SocketLog()
        let books = try await LoopbackWebSocketServer.start(
            accept: { path, _ in path == "/ws/market" || path == "/ws/user" },
            connected: { subscriptions.connected($0) },
            text: { connection, text in
                subscriptions.text(connection, text)
                guard text.contains(#""type":"market""#) else { return }
                connection.send(String(decoding: BookMessages.polymarketBook("1011", bids: [("0.08", "50")], asks: [("0.10", "50")]), as: UTF8.self))
            })
        defer { Task { await books.stop() } }
        let configPath = directory.path("config.json")
        try PolymarketTraderTests.config(baseURL: exchange.baseURL, events: events, extra: #", "ws_url": "\#(books.url("/"))""#)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let db = directory.path("arb.db")
        let run = try await runBuilt("arb", ["run", "--config", configPath, "--db", db, "--duration", "2", "--log-level", "warning"],
                                     environment: PolymarketTraderTests.environment, timeoutSeconds: 90)
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
        let texts = subscriptions.texts.map(\.text)
        #expect(texts.contains(#"{"assets_ids":["1011","1012"],"type":"market"}"#), "\(texts)")
        // The user channel is subscribed with the credentials (over the socket only: never in the log).
        #expect(texts.contains { $0.contains(#""type":"user""#) && $0.contains(polymarketTestCredentials.secret)
                                 && $0.contains(PolymarketTraderTests.conditionID) }, "\(texts)")
        #expect(subscriptions.connections.map(\.path).sorted() == ["/ws/market", "/ws/user"])
        // Each feed is its own line in the summary (and in arbadmin status).
        #expect(run.stdout.contains("book feed polymarket:") && run.stdout.contains("book feed polymarket trades:"), "\(run.stdout)")
        for secret in [polymarketTestCredentials.secret, polymarketTestCredentials.passphrase] {
            #expect(!run.stderr.contains(secret) && !run.stdout.contains(secret), "a secret reached the log")
        }
        let store = try Store(path: db, access: .readOnly)
        let legs = try allOpportunities(store).flatMap { try store.legs(of: $0.id) }.filter { $0.venue == "polymarket" }
        #expect(!legs.isEmpty, "nothing traded on the book: \(run.stderr.suffix(1_000))")
        #expect(legs.allSatisfy { $0.limitPrice == Price(ticks: 1_000)! && $0.instrument == "1011" }, "\(legs.map { "\($0.instrument) \($0.limitPrice)" })")
        let violations = try Invariants.check(databasePath: db, paperFiles: ["paper": directory.path("paper-paper.db")],
                                              options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("pairing risk: a pair with a real venue and no rules_checked_by/at is warned about; a checked pair or a paper-only one is not; a bad note is refused by path")
    func pairingWarnings() throws {
        let checked = #"{"event_id": "E2", "outcomes": ["YES", "NO"], "rules_checked_by": "ana", "rules_checked_at": "2026-12-01", "#
            + #""instruments": {"paper": {"YES": "P2-Y", "NO": "P2-N"}, "kalshi": {"YES": "KXE2:yes", "NO": "KXE2:no"}}}"#
        let unchecked = #"{"event_id": "E1", "outcomes": ["YES", "NO"], "instruments": {"paper": {"YES": "P-Y", "NO": "P-N"}, "kalshi": {"YES": "KXE1:yes", "NO": "KXE1:no"}}}"#
        let kalshi = #""kalshi": {"kind": "kalshi", "environment": "demo", "fee": "kalshi_taker", "private_key_file": "/k"}"#
        let config = try TraderConfig.decode(json: loopbackTradingConfig(events: unchecked + ",\n" + checked, venues: [kalshi]), source: "t")
        #expect(config.pairingWarnings == ["event E1: nobody has noted checking that kalshi and paper resolve it alike; read both rulebooks, "
                                           + "then set rules_checked_by and rules_checked_at on the event"])
        #expect(config.events[1].rulesCheckedBy == "ana" && config.events[1].rulesCheckedAt == "2026-12-01")
        #expect(TraderConfig.demo().pairingWarnings.isEmpty, "the paper demo is warned about")
        let bad = loopbackTradingConfig(events: checked.replacingOccurrences(of: #""ana""#, with: #""""#), venues: [kalshi])
        #expect(configError(bad)?.description.contains("events[0].rules_checked_by is \"\"") == true, "\(configError(bad)?.description ?? "")")
    }

    @Test("--market-data with a venue that trades real money is refused in one line: a replay's prices are not the market's")
    func replayRefusedForRealMoney() async throws {
        let directory = TemporaryDirectory()
        let quotes = directory.path("q.jsonl")
        try "".write(toFile: quotes, atomically: true, encoding: .utf8)
        let config = directory.path("c.json")
        try loopbackTradingConfig(events: #"{"event_id": "E1", "outcomes": ["YES", "NO"], "instruments": {"paper": {"YES": "P-Y", "NO": "P-N"}, "kalshi": {"YES": "KXE1:yes", "NO": "KXE1:no"}}}"#,
                                  venues: [#""kalshi": {"kind": "kalshi", "environment": "prod", "fee": "kalshi_taker", "private_key_file": "/nonexistent"}"#])
            .write(toFile: config, atomically: true, encoding: .utf8)
        let run = try await runBuilt("arb", ["run", "--config", config, "--db", directory.path("a.db"), "--market-data", quotes, "--live"],
                                     timeoutSeconds: 60)
        #expect(run.status == 2 && run.stderr.contains("replays prices it did not give"), "\(run.status) \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.path("a.db")))
    }
}

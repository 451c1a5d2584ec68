import ArbEngine
import ArbTestSupport
import Foundation
import OrderStateMachine
import PolymarketLoopback
import PolymarketVenue
import KalshiLoopback
import Testing

/// The trader database and the loopback CLOB's record agree (DESIGN §8): each Polymarket leg
/// that reached the venue is there under its order hash with the same matched size, and its
/// recorded fills are the CLOB's trades of that order that did not fail.
func expectPolymarketAgrees(databasePath: String, exchange: PolymarketLoopbackExchange,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
    let store = try Store(path: databasePath, access: .readOnly)
    let orders = Dictionary(uniqueKeysWithValues: exchange.orders.map { ($0.hash, $0) })
    var seen = 0
    for opportunity in try allOpportunities(store) {
        let history = try #require(try store.history(of: opportunity.id), sourceLocation: sourceLocation)
        for leg in history.legs where leg.venue == "polymarket" {
            seen += 1
            guard let hash = leg.venueOrderID?.lowercased(), let order = orders[hash] else {
                #expect([LegStatus.rejected, .notFound].contains(leg.status) && leg.filledQuantity.isZero,
                        "leg \(leg.clientOrderID) is \(leg.status) with \(leg.filledQuantity) but the CLOB never saw it",
                        sourceLocation: sourceLocation)
                continue
            }
            #expect(leg.filledQuantity.hundredths == order.matchedHundredths,
                    "leg \(leg.clientOrderID): database \(leg.filledQuantity), CLOB \(order.matchedHundredths)", sourceLocation: sourceLocation)
            let legFills = history.fills.filter { $0.legID == leg.id }
            let recorded = legFills.filter { !$0.reversed }.map { "\($0.tradeID) \($0.quantity.hundredths)" }.sorted()
            let trades = exchange.trades.filter { $0.orderHash == hash && $0.status != "FAILED" }
                .map { "\($0.id) \($0.sizeHundredths)" }.sorted()
            #expect(recorded == trades, "leg \(leg.clientOrderID) fills", sourceLocation: sourceLocation)
            // A failed trade is either never recorded or recorded and reversed; a confirmed one is certain.
            for trade in exchange.trades where trade.orderHash == hash {
                let fill = legFills.first { $0.tradeID == trade.id }
                switch trade.status {
                case "FAILED": #expect(fill == nil || fill?.reversed == true, "trade \(trade.id) failed", sourceLocation: sourceLocation)
                case "CONFIRMED": #expect(fill?.provisional == false, "trade \(trade.id) confirmed", sourceLocation: sourceLocation)
                default: break
                }
            }
        }
    }
    #expect(seen > 0, "no Polymarket leg in the database", sourceLocation: sourceLocation)
}

@Suite("Polymarket: arb run against the loopback CLOB", .serialized)
struct PolymarketTraderTests {
    static let conditionID = "0x" + String(repeating: "5e", count: 32)

    static func config(baseURL: String, events: [(String, String, String)], extra: String = "") -> String {
        let eventJSON = events.map { id, yes, no in
            #"{"event_id": "\#(id)", "outcomes": ["YES", "NO"], "instruments": {"paper": {"YES": "P-\#(id)-Y", "NO": "P-\#(id)-N"}, "#
                + #""polymarket": {"YES": "\#(yes)", "NO": "\#(no)"}}, "#
                + #""markets": {"polymarket": {"condition_id": "\#(conditionID)", "tick_size": "0.01", "neg_risk": false}}}"#
        }.joined(separator: ",\n    ")
        return loopbackTradingConfig(events: eventJSON, venues: [
            #""polymarket": {"kind": "polymarket", "signature_type": "eoa", "base_url": "\#(baseURL)", "#
                + #""fee": {"polymarket_taker": {"rate_bps": 300, "exponent": 1}}\#(extra)}"#,
        ])
    }

    static func quotes(events: [(String, String, String)]) -> String {
        var lines: [String] = []
        for (index, (id, yes, _)) in events.enumerated() {
            let ts = 1_000 + index * 10
            lines.append(#"{"ts_ms": \#(ts), "venue": "polymarket", "instrument": "\#(yes)", "bid": "0.38", "bid_size": "10", "ask": "0.40", "ask_size": "10"}"#)
            lines.append(#"{"ts_ms": \#(ts + 1), "venue": "paper", "instrument": "P-\#(id)-N", "bid": "0.48", "bid_size": "10", "ask": "0.50", "ask_size": "10"}"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static var environment: [String: String] {
        ["POLY_PRIVATE_KEY": polymarketTestWallet, "POLY_API_KEY": polymarketTestCredentials.apiKey,
         "POLY_API_SECRET": polymarketTestCredentials.secret, "POLY_PASSPHRASE": polymarketTestCredentials.passphrase]
    }

    @Test("arb run trades through the Polymarket adapter: matched, refused (one-sided), a lost answer found by hash, 425, a FAILED trade, delayed, unmatched — invariants hold, the database agrees with the CLOB, no secret in the log or the database")
    func tradesAgainstLoopback() async throws {
        let directory = TemporaryDirectory()
        let key = try EthereumKey(hex: polymarketTestWallet)
        let events = (1...7).map { ("E\($0)", "10\($0)1", "10\($0)2") }
        let exchange = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials,
                                                  negRisk: Dictionary(uniqueKeysWithValues: events.flatMap { [($0.1, false), ($0.2, false)] }))
        try await exchange.start()
        defer { Task { await exchange.stop() } }
        exchange.script([.refuse("not enough balance / allowance")], token: "1021")
        exchange.script([.resetAfterPlacing], token: "1031")
        exchange.script([.restarting], token: "1041")
        // E5: both legs fill, then the Polymarket trade FAILS on chain before it is confirmed.
        exchange.failTrades(token: "1051")
        // E6: the market has a matching delay (matched a moment later); E7: nothing to match.
        exchange.script([.delayed], token: "1061")
        exchange.script([.unmatched], token: "1071")
        let configPath = directory.path("config.json")
        try Self.config(baseURL: exchange.baseURL, events: events).write(toFile: configPath, atomically: true, encoding: .utf8)
        let quotes = directory.path("quotes.jsonl")
        try Self.quotes(events: events).write(toFile: quotes, atomically: true, encoding: .utf8)
        let db = directory.path("arb.db")
        let run = try await runBuilt("arb", ["run", "--config", configPath, "--db", db, "--market-data", quotes, "--log-level", "trace"],
                                     environment: Self.environment, timeoutSeconds: 90)
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")

        let violations = try Invariants.check(databasePath: db, paperFiles: ["paper": directory.path("paper-paper.db")],
                                              options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
        try expectPolymarketAgrees(databasePath: db, exchange: exchange)
        let store = try Store(path: db, access: .readOnly)
        // By event (the executions run concurrently: ids follow the order they began in).
        let opportunities = try allOpportunities(store)
        let outcomes = opportunities.map { "\($0.eventID) \($0.state)" }.sorted()
        #expect(outcomes == ["E1 Closed(hedged)", "E2 Closed(one_sided)", "E3 Closed(hedged)", "E4 Closed(one_sided)",
                             "E5 Closed(one_sided)", "E6 Closed(hedged)", "E7 Closed(one_sided)"], "\(outcomes)")
        func id(_ event: String) throws -> OpportunityID { try #require(opportunities.first { $0.eventID == event }).id }
        // E5 looked hedged (Filled, waiting for confirmation), then the failed trade made it one-sided, with its alert.
        let failed = try #require(try store.history(of: try id("E5")))
        #expect(failed.transitions.map(\.to) == [.detected, .inFlight, .legsPlaced, .filled, .oneSided, .cancelAttempted, .closed(.oneSided)]
                || failed.transitions.map(\.to) == [.detected, .inFlight, .filled, .oneSided, .cancelAttempted, .closed(.oneSided)],
                "\(failed.transitions.map { "\($0.to): \($0.reason)" }) \(exchange.requests.map { $0.method + " " + $0.uri })")
        #expect(failed.alerts.contains { $0.kind == "one_sided" })
        let polymarketLeg = try #require(failed.legs.first { $0.venue == "polymarket" })
        #expect(polymarketLeg.filledQuantity == .zero)
        #expect(failed.fills.contains { $0.legID == polymarketLeg.id && $0.reversed })
        // Hedged closes happened only on certain fills.
        for event in ["E1", "E3", "E6"] {
            #expect(try store.history(of: try id(event))?.fills.allSatisfy { !$0.provisional } == true)
        }
        let checked = exchange.requests.allSatisfy { $0.hmacValid && $0.orderSignatureValid != false }
        #expect(checked)
        #expect(exchange.requests.contains { $0.uri.hasPrefix("/data/order/") }, "the lost answer was not looked up by hash")

        let databaseBytes = try Data(contentsOf: URL(fileURLWithPath: db)) + (try? Data(contentsOf: URL(fileURLWithPath: db + "-wal"))).orEmpty
        for secret in [String(polymarketTestWallet.dropFirst(2)), polymarketTestCredentials.secret, polymarketTestCredentials.passphrase] {
            #expect(!run.stderr.contains(secret) && !run.stdout.contains(secret), "a secret reached the log")
            #expect(databaseBytes.range(of: Data(secret.utf8)) == nil, "a secret reached the database")
        }
    }

    @Test("a missing wallet key, a loose key file, missing credentials: one line each naming what to set, nothing sent")
    func refusals() async throws {
        let directory = TemporaryDirectory()
        let configPath = directory.path("config.json")
        let keyFile = directory.path("wallet.key")
        try Data(polymarketTestWallet.utf8).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o644)
        let events = [("E1", "1011", "1012")]
        try Self.config(baseURL: "http://127.0.0.1:9", events: events).write(toFile: configPath, atomically: true, encoding: .utf8)
        let quotes = directory.path("quotes.jsonl")
        try Self.quotes(events: events).write(toFile: quotes, atomically: true, encoding: .utf8)
        let noKey = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("a.db"), "--market-data", quotes])
        #expect(noKey.status != 0 && noKey.stderr.contains("venues.polymarket has no wallet key: set POLY_PRIVATE_KEY"), "\(noKey.stderr)")
        let loose = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("b.db"), "--market-data", quotes],
                                       environment: ["POLY_PRIVATE_KEY_FILE": keyFile])
        #expect(loose.status != 0 && loose.stderr.contains("(mode 644)"), "\(loose.stderr)")
        let noCredentials = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("c.db"), "--market-data", quotes],
                                               environment: ["POLY_PRIVATE_KEY": polymarketTestWallet])
        #expect(noCredentials.status != 0 && noCredentials.stderr.contains("has no API credentials: set POLY_API_KEY, POLY_API_SECRET and POLY_PASSPHRASE"),
                "\(noCredentials.stderr)")
        for output in [noKey, loose, noCredentials] { #expect(!output.stderr.contains(String(polymarketTestWallet.dropFirst(2)))) }
    }

    @Test("venues check: version 2, the balance and the clock skew; wrong credentials FAILED in one line, exit 1")
    func venuesCheck() async throws {
        let directory = TemporaryDirectory()
        let key = try EthereumKey(hex: polymarketTestWallet)
        let exchange = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials, negRisk: [:])
        try await exchange.start()
        defer { Task { await exchange.stop() } }
        let configPath = directory.path("config.json")
        try Self.config(baseURL: exchange.baseURL, events: [("E1", "1011", "1012")]).write(toFile: configPath, atomically: true, encoding: .utf8)
        let ok = try arbadmin(["venues", "check", "--config", configPath], environment: Self.environment)
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        #expect(ok.stdout.contains("polymarket (polymarket, \(exchange.baseURL)): ok, balance $1000.00, clock skew "), "\(ok.stdout)")
        #expect(exchange.requests.map(\.uri).contains("/version") && exchange.requests.allSatisfy(\.hmacValid))
        var wrong = Self.environment
        wrong["POLY_API_SECRET"] = "d3Jvbmctc2VjcmV0"
        let refused = try arbadmin(["venues", "check", "--config", configPath], environment: wrong)
        #expect(refused.status == 1 && refused.stdout.contains("polymarket (polymarket, \(exchange.baseURL)): FAILED — HTTP 401: Polymarket refused the API credentials"),
                "\(refused.stdout)")
        #expect(!refused.stdout.contains("d3Jvbmc") && !ok.stdout.contains(polymarketTestCredentials.secret))

        // Funds: max_size is 10 contracts, up to $9.999 a buy.
        exchange.balanceMicros = 5_000_000
        let poor = try arbadmin(["venues", "check", "--config", configPath], environment: Self.environment)
        #expect(poor.status == 1 && poor.stdout.contains("FAILED — the balance $5.00 cannot pay for detection.max_size (10.00 contracts, up to $9.999)"),
                "\(poor.stdout)")
        exchange.balanceMicros = 1_000_000_000
        exchange.allowanceMicros = 1_000_000
        let unapproved = try arbadmin(["venues", "check", "--config", configPath], environment: Self.environment)
        #expect(unapproved.status == 1 && unapproved.stdout.contains("the exchange allowance $1.00 is below"), "\(unapproved.stdout)")
    }

    @Test("venues setup polymarket: L1-signed create, then derive; the credentials land in a 0600 file that arb then uses; the secret is never printed")
    func setup() async throws {
        let directory = TemporaryDirectory()
        let key = try EthereumKey(hex: polymarketTestWallet)
        let exchange = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials, negRisk: [:])
        try await exchange.start()
        defer { Task { await exchange.stop() } }
        let credentialsFile = directory.path("polymarket-credentials.json")
        let configPath = directory.path("config.json")
        try Self.config(baseURL: exchange.baseURL, events: [("E1", "1011", "1012")], extra: #", "credentials_file": "\#(credentialsFile)""#)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let wallet = ["POLY_PRIVATE_KEY": polymarketTestWallet]
        let first = try arbadmin(["venues", "setup", "polymarket", "--config", configPath], environment: wallet)
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.contains("Polymarket API key \(polymarketTestCredentials.apiKey) stored in \(credentialsFile) (mode 600)"))
        #expect(!first.stdout.contains(polymarketTestCredentials.secret) && !first.stdout.contains(polymarketTestCredentials.passphrase))
        let attributes = try FileManager.default.attributesOfItem(atPath: credentialsFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let authRequests = exchange.requests.filter { $0.uri.hasPrefix("/auth/") }
        #expect(!authRequests.isEmpty && authRequests.allSatisfy { $0.hmacValid })

        let again = try arbadmin(["venues", "setup", "polymarket", "--config", configPath], environment: wallet)
        #expect(again.status == 1 && again.stderr.contains("exists; --replace to write over it"), "\(again.stderr)")
        let derived = try arbadmin(["venues", "setup", "polymarket", "--config", configPath, "--replace"], environment: wallet)
        #expect(derived.status == 0 && exchange.requests.contains { $0.uri == "/auth/derive-api-key" }, "\(derived.stderr)")

        // The stored credentials work: the check signs with them.
        let check = try arbadmin(["venues", "check", "--config", configPath], environment: wallet)
        #expect(check.status == 0 && check.stdout.contains("ok, balance $1000.00"), "\(check.stdout) \(check.stderr)")
    }

    @Test("at start each market is checked against GET /clob-markets: a tick size, neg-risk flag, token or fee the CLOB disagrees with is refused naming both values, nothing traded; an agreeing market trades")
    func marketChecks() async throws {
        let directory = TemporaryDirectory()
        let key = try EthereumKey(hex: polymarketTestWallet)
        let exchange = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials, negRisk: [:])
        try await exchange.start()
        defer { Task { await exchange.stop() } }
        let events = [("E1", "1011", "1012")]
        let configPath = directory.path("config.json")
        try Self.config(baseURL: exchange.baseURL, events: events).write(toFile: configPath, atomically: true, encoding: .utf8)
        let quotes = directory.path("quotes.jsonl")
        try Self.quotes(events: events).write(toFile: quotes, atomically: true, encoding: .utf8)
        let cases: [(String, String)] = [
            (#"{"t":[{"t":"1011"},{"t":"1012"}],"mts":0.001,"nr":false,"fd":{"r":0.03,"e":1}}"#,
             "venues.polymarket: events[0].markets.polymarket.tick_size is 0.01 in the config, 0.001 at the CLOB"),
            (#"{"t":[{"t":"1011"},{"t":"1012"}],"mts":0.01,"nr":true,"fd":{"r":0.03,"e":1}}"#,
             "events[0].markets.polymarket.neg_risk is false in the config, true at the CLOB"),
            (#"{"t":[{"t":"1011"},{"t":"9999"}],"mts":0.01,"nr":false,"fd":{"r":0.03,"e":1}}"#,
             "token 1012 is not a token of market"),
            (#"{"t":[{"t":"1011"},{"t":"1012"}],"mts":0.01,"nr":false,"fd":{"r":0.02,"e":1}}"#,
             "rate 200 bps exponent 1 at the CLOB"),
        ]
        for (index, (answer, message)) in cases.enumerated() {
            exchange.clobMarkets = [Self.conditionID: answer]
            let run = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("r\(index).db"), "--market-data", quotes],
                                         environment: Self.environment)
            #expect(run.status != 0 && run.stderr.contains(message) && run.stderr.contains("nothing was traded"), "\(run.stderr)")
        }
        #expect(!exchange.requests.contains { $0.method == "POST" && $0.uri == "/order" }, "a refused start sent an order")
        exchange.clobMarkets = [Self.conditionID: #"{"t":[{"t":"1011"},{"t":"1012"}],"mts":0.01,"nr":false,"fd":{"r":0.03,"e":1}}"#]
        let agreeing = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("ok.db"), "--market-data", quotes],
                                          environment: Self.environment)
        #expect(agreeing.status == 0, "\(agreeing.stderr.suffix(1_000))")
        #expect(exchange.requests.contains { $0.method == "POST" && $0.uri == "/order" })
    }
}

@Suite("Both real venues and no paper one: Kalshi against Polymarket on loopback", .serialized)
struct RealVenuesTraderTests {
    @Test("arb run with only real venues (no push feed on either) trades until its market data ends: hedged across Kalshi and Polymarket")
    func kalshiAgainstPolymarket() async throws {
        let directory = TemporaryDirectory()
        let kalshi = KalshiLoopbackExchange(key: kalshiTestKey)
        try await kalshi.start()
        let key = try EthereumKey(hex: polymarketTestWallet)
        let polymarket = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials, negRisk: [:])
        try await polymarket.start()
        defer { Task { await kalshi.stop(); await polymarket.stop() } }
        let keyFile = directory.path("kalshi.pem")
        try kalshiTestKey.writePrivateKey(to: keyFile)
        let event = #"{"event_id": "E1", "outcomes": ["YES", "NO"], "instruments": {"kalshi": {"YES": "KXE1:yes", "NO": "KXE1:no"}, "#
            + #""polymarket": {"YES": "2011", "NO": "2012"}}, "markets": {"polymarket": {"condition_id": "\#(PolymarketTraderTests.conditionID)", "#
            + #""tick_size": "0.01", "neg_risk": false}}}"#
        let config = loopbackTradingConfig(events: event, venues: [
            #""kalshi": {"kind": "kalshi", "environment": "demo", "fee": "kalshi_taker", "base_url": "\#(kalshi.baseURL)", "#
                + #""private_key_file": "\#(keyFile)"}"#,
            #""polymarket": {"kind": "polymarket", "signature_type": "eoa", "base_url": "\#(polymarket.baseURL)", "#
                + #""fee": {"polymarket_taker": {"rate_bps": 300, "exponent": 1}}}"#,
        ], paper: false)
        let configPath = directory.path("config.json")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let quotes = directory.path("quotes.jsonl")
        try (#"{"ts_ms": 1000, "venue": "kalshi", "instrument": "KXE1:yes", "bid": "0.38", "bid_size": "10", "ask": "0.40", "ask_size": "10"}"# + "\n"
            + #"{"ts_ms": 1001, "venue": "polymarket", "instrument": "2012", "bid": "0.48", "bid_size": "10", "ask": "0.50", "ask_size": "10"}"# + "\n")
            .write(toFile: quotes, atomically: true, encoding: .utf8)
        let db = directory.path("arb.db")
        var environment = PolymarketTraderTests.environment
        environment["KALSHI_API_KEY_ID"] = "key-1"
        let run = try await runBuilt("arb", ["run", "--config", configPath, "--db", db, "--market-data", quotes], environment: environment,
                                     timeoutSeconds: 60)
        #expect(run.status == 0, "\(run.stderr.suffix(1_500))")
        let store = try Store(path: db, access: .readOnly)
        #expect(try allOpportunities(store).map { "\($0.eventID) \($0.state)" } == ["E1 Closed(hedged)"])
        try expectKalshiAgrees(databasePath: db, exchange: kalshi)
        try expectPolymarketAgrees(databasePath: db, exchange: polymarket)
        let violations = try Invariants.check(databasePath: db, paperFiles: [:], options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
    }
}

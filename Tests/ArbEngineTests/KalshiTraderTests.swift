import ArbEngine
import ArbTestSupport
import Foundation
import KalshiLoopback
import KalshiVenue
import Logging
@testable import OrderStateMachine
import Testing

/// The trader database and the loopback exchange's own record agree (DESIGN §8): every Kalshi leg
/// that reached the venue is there under its client order id with the same venue order id and
/// filled quantity, and its recorded fills are the exchange's fills (trade id, quantity, fee).
func expectKalshiAgrees(databasePath: String, exchange: KalshiLoopbackExchange, venue: String = "kalshi",
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    let store = try Store(path: databasePath, access: .readOnly)
    let orders = Dictionary(uniqueKeysWithValues: exchange.orders.map { ($0.clientOrderID, $0) })
    var seen = 0
    for opportunity in try allOpportunities(store) {
        let history = try #require(try store.history(of: opportunity.id), sourceLocation: sourceLocation)
        for leg in history.legs where leg.venue == venue {
            seen += 1
            guard let order = orders[leg.clientOrderID] else {
                #expect([LegStatus.rejected, .notFound].contains(leg.status) && leg.filledQuantity.isZero,
                        "leg \(leg.clientOrderID) is \(leg.status) with \(leg.filledQuantity) but the exchange never saw it",
                        sourceLocation: sourceLocation)
                continue
            }
            #expect(leg.venueOrderID == order.orderID, "leg \(leg.clientOrderID) venue id", sourceLocation: sourceLocation)
            #expect(leg.filledQuantity.hundredths == order.filledHundredths,
                    "leg \(leg.clientOrderID): database \(leg.filledQuantity), exchange \(order.filledHundredths)",
                    sourceLocation: sourceLocation)
            let recorded = history.fills.filter { $0.legID == leg.id }
                .map { "\($0.tradeID) \($0.quantity.hundredths) \($0.fee.micros)" }.sorted()
            let venueFills = exchange.fills.filter { $0.orderID == order.orderID }
                .map { "\($0.tradeID) \($0.countHundredths) \($0.feeMicros)" }.sorted()
            #expect(recorded == venueFills, "leg \(leg.clientOrderID) fills", sourceLocation: sourceLocation)
        }
    }
    #expect(seen > 0, "no Kalshi leg in the database", sourceLocation: sourceLocation)
    let known = try Set(allOpportunities(store).flatMap { try store.legs(of: $0.id).map(\.clientOrderID) })
    #expect(orders.keys.allSatisfy(known.contains), "the exchange has orders the database does not know",
            sourceLocation: sourceLocation)
}

/// A loopback exchange, a key file for it and a config naming both, in a fresh directory.
final class KalshiRunSetup: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let exchange = KalshiLoopbackExchange(key: kalshiTestKey)
    let keyFile: String
    let configPath: String

    init(events: [String], keyMode: Int = 0o600) async throws {
        try await exchange.start()
        keyFile = directory.path("kalshi.pem")
        try kalshiTestKey.writePrivateKey(to: keyFile, mode: keyMode)
        configPath = directory.path("config.json")
        try writeConfig(events: events)
    }

    func writeConfig(events: [String], keyFile: String? = nil) throws {
        try KalshiTraderTests.config(exchange: exchange, keyFile: keyFile ?? self.keyFile, events: events)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func stop() async { await exchange.stop() }
}

@Suite("Kalshi: arb sign kalshi-order and arb run against the loopback exchange", .serialized)
struct KalshiTraderTests {
    static func signLine(_ keyFile: String, outcome: String, action: String, price: String, tif: String, id: String) -> String {
        #"{"key_id":"key-1","key_file":"\#(keyFile)","timestamp_ms":"1764600000000","order":{"ticker":"KXFED-25DEC","#
            + #""outcome":"\#(outcome)","action":"\#(action)","price":"\#(price)","count":"10.00","time_in_force":"\#(tif)","#
            + #""client_order_id":"\#(id)"}}"#
    }

    @Test("arb sign kalshi-order: every output verifies with the public key and maps each outcome × action onto the YES book")
    func signCommand() async throws {
        let directory = TemporaryDirectory()
        let pkcs1 = try KalshiTestKey(format: .pkcs1)
        let keys = [(directory.path("k8.pem"), kalshiTestKey), (directory.path("k1.pem"), pkcs1)]
        for (path, key) in keys { try key.writePrivateKey(to: path) }
        let cases: [(String, String, String, String, String, String)] = [
            // outcome, action, price, time in force → side, YES price
            ("yes", "buy", "0.4500", "immediate_or_cancel", "bid", "0.4500"),
            ("yes", "sell", "0.0100", "fill_or_kill", "ask", "0.0100"),
            ("no", "buy", "0.4500", "good_till_canceled", "ask", "0.5500"),
            ("no", "sell", "0.9900", "immediate_or_cancel", "bid", "0.0100"),
            ("no", "buy", "0.0001", "immediate_or_cancel", "ask", "0.9999"),
        ]
        var lines: [String] = []
        for (index, item) in cases.enumerated() {
            lines.append(Self.signLine(keys[index % 2].0, outcome: item.0, action: item.1, price: item.2, tif: item.3, id: "c-\(index)"))
        }
        let input = directory.path("in.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let arb = builtProductsDirectory().appendingPathComponent("arb").path
        let result = try await runProductAt("/bin/sh", ["-c", "exec \"$0\" sign kalshi-order < \"$1\"", arb, input],
                                            timeoutSeconds: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let outputs = result.stdout.split(separator: "\n")
        try #require(outputs.count == cases.count)
        for (index, line) in outputs.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["method"] as? String == "POST")
            #expect(object["path"] as? String == "/trade-api/v2/portfolio/events/orders")
            let headers = try #require(object["headers"] as? [String: String])
            #expect(headers["KALSHI-ACCESS-KEY"] == "key-1" && headers["KALSHI-ACCESS-TIMESTAMP"] == "1764600000000")
            let key = keys[index % 2].1
            #expect(key.verifies(signature: headers["KALSHI-ACCESS-SIGNATURE"] ?? "",
                                 message: "1764600000000POST/trade-api/v2/portfolio/events/orders"), "line \(index + 1)")
            let body = try #require(object["body"] as? [String: Any])
            #expect(body["side"] as? String == cases[index].4 && body["price"] as? String == cases[index].5, "line \(index + 1): \(body)")
            #expect(body["ticker"] as? String == "KXFED-25DEC" && body["count"] as? String == "10.00")
            #expect(body["time_in_force"] as? String == cases[index].3 && body["client_order_id"] as? String == "c-\(index)")
            #expect((body["cancel_order_on_pause"] as? Bool) == (cases[index].3 == "good_till_canceled" ? true : nil))
            #expect(!line.contains("PRIVATE KEY"))
        }

        // A bad second line: one line on stderr naming it, non-zero exit, nothing after it printed.
        let bad = [lines[0], #"{"key_id":"key-1","key_file":"x","timestamp_ms":"soon","order":{}}"#, lines[1]]
        try (bad.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let refused = try await runProductAt("/bin/sh", ["-c", "exec \"$0\" sign kalshi-order < \"$1\"", arb, input],
                                             timeoutSeconds: 60)
        #expect(refused.status != 0)
        #expect(refused.stdout.split(separator: "\n").count == 1)
        #expect(refused.stderr == "arb sign kalshi-order: line 2: timestamp_ms is \"soon\"; allowed Unix milliseconds as digits, e.g. \"1764600000000\"\n",
                "\(refused.stderr)")

        // A key file others can read is refused, as ssh does.
        try kalshiTestKey.writePrivateKey(to: directory.path("open.pem"), mode: 0o640)
        try (Self.signLine(directory.path("open.pem"), outcome: "yes", action: "buy", price: "0.45", tif: "fill_or_kill", id: "x") + "\n")
            .write(toFile: input, atomically: true, encoding: .utf8)
        let open = try await runProductAt("/bin/sh", ["-c", "exec \"$0\" sign kalshi-order < \"$1\"", arb, input],
                                          timeoutSeconds: 60)
        #expect(open.status != 0 && open.stdout.isEmpty)
        #expect(open.stderr.contains("line 1: the Kalshi key file") && open.stderr.contains("(mode 640)"), "\(open.stderr)")
    }

    /// A config with a paper venue and a Kalshi venue on the loopback exchange, `events` pairs.
    static func config(exchange: KalshiLoopbackExchange, keyFile: String, events: [String], fillTimeout: Int = 400) -> String {
        let eventJSON = events.map { id in
            #"{"event_id": "\#(id)", "outcomes": ["YES", "NO"], "instruments": {"paper": {"YES": "P-\#(id)-Y", "NO": "P-\#(id)-N"}, "#
                + #""kalshi": {"YES": "KX\#(id):yes", "NO": "KX\#(id):no"}}}"#
        }.joined(separator: ",\n    ")
        return loopbackTradingConfig(events: eventJSON, venues: [
            #""kalshi": {"kind": "kalshi", "environment": "demo", "fee": "kalshi_taker", "base_url": "\#(exchange.baseURL)", "#
                + #""private_key_file": "\#(keyFile)"}"#,
        ], fillTimeout: fillTimeout)
    }

    /// Quotes that make each event a candidate: YES on Kalshi at 0.40 and NO on paper at 0.50.
    static func quotes(events: [String]) -> String {
        var lines: [String] = []
        for (index, id) in events.enumerated() {
            let ts = 1_000 + index * 10
            lines.append(#"{"ts_ms": \#(ts), "venue": "kalshi", "instrument": "KX\#(id):yes", "bid": "0.38", "bid_size": "10", "ask": "0.40", "ask_size": "10"}"#)
            lines.append(#"{"ts_ms": \#(ts + 1), "venue": "paper", "instrument": "P-\#(id)-N", "bid": "0.48", "bid_size": "10", "ask": "0.50", "ask_size": "10"}"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("arb run trades through the Kalshi adapter: hedged, refused (one-sided), and a lost answer found by listing — every invariant holds and the database agrees with the exchange")
    func tradesAgainstLoopback() async throws {
        let events = ["E1", "E2", "E3", "E4"]
        let setup = try await KalshiRunSetup(events: events)
        defer { Task { await setup.stop() } }
        let (directory, exchange, keyFile, configPath) = (setup.directory, setup.exchange, setup.keyFile, setup.configPath)
        exchange.script([.reject(code: "insufficient_balance")], ticker: "KXE2")
        exchange.script([.resetAfterPlacing(hundredths: nil)], ticker: "KXE3")
        exchange.script([.resetBeforePlacing], ticker: "KXE4")
        let quotes = directory.path("quotes.jsonl")
        try Self.quotes(events: events).write(toFile: quotes, atomically: true, encoding: .utf8)
        let db = directory.path("arb.db")
        let run = try await runBuilt("arb", ["run", "--config", configPath, "--db", db, "--market-data", quotes,
                                             "--log-level", "trace"],
                                     environment: ["KALSHI_API_KEY_ID": "secret-key-id-7"], timeoutSeconds: 90)
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")

        let violations = try Invariants.check(databasePath: db, paperFiles: ["paper": directory.path("paper-paper.db")],
                                              options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
        try expectKalshiAgrees(databasePath: db, exchange: exchange)

        let store = try Store(path: db, access: .readOnly)
        let outcomes = try allOpportunities(store).map { "\($0.eventID) \($0.state)" }.sorted()
        #expect(outcomes == ["E1 Closed(hedged)", "E2 Closed(one_sided)", "E3 Closed(hedged)", "E4 Closed(one_sided)"],
                "\(outcomes)")
        let oneSided = try store.oneSidedOpportunities()
        #expect(oneSided.count == 2)
        let allSigned = exchange.requests.allSatisfy { $0.signatureValid }
        #expect(allSigned)
        #expect(exchange.requests.contains { $0.uri.contains("/portfolio/orders?ticker=KXE3") }, "E3's lost answer was not looked up by listing")

        // The key id and the key never reach a log line or the database.
        let pem = try String(contentsOfFile: keyFile, encoding: .utf8).split(separator: "\n")[1]
        let databaseBytes = try Data(contentsOf: URL(fileURLWithPath: db)) + (try? Data(contentsOf: URL(fileURLWithPath: db + "-wal"))).orEmpty
        for secret in ["secret-key-id-7", String(pem)] {
            #expect(!run.stderr.contains(secret) && !run.stdout.contains(secret), "a secret reached the log")
            #expect(databaseBytes.range(of: Data(secret.utf8)) == nil, "a secret reached the database")
        }
    }

    @Test("arb run names a missing key id, an unreadable key file and a group-readable one in one line, exit 2-class, no trade")
    func keyRefusals() async throws {
        let setup = try await KalshiRunSetup(events: ["E1"], keyMode: 0o644)
        defer { Task { await setup.stop() } }
        let (directory, exchange, configPath) = (setup.directory, setup.exchange, setup.configPath)
        let quotes = directory.path("quotes.jsonl")
        try Self.quotes(events: ["E1"]).write(toFile: quotes, atomically: true, encoding: .utf8)
        let noID = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("a.db"), "--market-data", quotes])
        #expect(noID.status != 0 && noID.stderr.contains("venues.kalshi has no API key id: set key_id in the config or KALSHI_API_KEY_ID"),
                "\(noID.stderr)")
        let open = try await runBuilt("arb", ["run", "--config", configPath, "--db", directory.path("b.db"), "--market-data", quotes],
                                      environment: ["KALSHI_API_KEY_ID": "k"])
        #expect(open.status != 0 && open.stderr.contains("(mode 644)") && open.stderr.contains("chmod 600"), "\(open.stderr)")
        #expect(exchange.requests.isEmpty)
        #expect(noID.stderr.split(separator: "\n").filter { $0.contains("key id") }.count == 1)
    }
}

/// A config that trades `events` (their JSON, joined) on a paper venue `paper` that fills every
/// order at once and the given real `venues` (`"name": {…}` members), with detection, execution
/// and risk loose enough that every quoted pair is a candidate.
func loopbackTradingConfig(events: String, venues: [String], fillTimeout: Int = 400, paper: Bool = true) -> String {
    let paperVenue = #""paper": {"kind": "paper", "fee": "free", "paper": {"fill_model": {"#
        + #""full_fill_percent": 100, "partial_fill_percent": 0, "rest_percent": 0, "reject_percent": 0, "#
        + #""ambiguous_submit_percent": 0, "late_fill_percent": 0, "cancel_fail_percent": 0, "#
        + #""latency_ms_min": 0, "latency_ms_max": 0, "late_fill_delay_ms_max": 0}}}"#
    return #"""
    {
      "events": [
        \#(events)
      ],
      "venues": {
        \#(((paper ? [paperVenue] : []) + venues).joined(separator: ",\n    "))
      },
      "detection": {"min_edge_bps": 0, "min_size": 1, "max_size": 10, "quote_staleness_ms": 5000},
      "execution": {"time_in_force": "ioc", "fill_timeout_ms": \#(fillTimeout)},
      "risk": {"max_exposure_per_event_usd": 1000, "max_exposure_total_usd": 10000,
               "max_one_sided_per_day": 100, "cooldown_ms": 0, "one_sided_cooldown_ms": 0}
    }
    """#
}

/// Every opportunity, by id.
func allOpportunities(_ store: Store) throws -> [Opportunity] {
    let highest = try store.highestOpportunityID()
    guard highest > 0 else { return [] }
    return try (1...highest).compactMap { try store.opportunity($0) }
}

extension Optional where Wrapped == Data {
    var orEmpty: Data { self ?? Data() }
}

@Suite("Kalshi: arbadmin venues check and cancel-all", .serialized)
struct KalshiAdminTests {
    @Test("venues check: ok with the balance and clock skew; a refused key, a loose key file and an unreachable venue each FAILED in one line, exit 1")
    func check() async throws {
        let setup = try await KalshiRunSetup(events: ["E1"])
        defer { Task { await setup.stop() } }
        let (directory, exchange, keyFile, config) = (setup.directory, setup.exchange, setup.keyFile, setup.configPath)
        let ok = try arbadmin(["venues", "check", "--config", config], environment: ["KALSHI_API_KEY_ID": "key-9"])
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        #expect(ok.stdout.contains("kalshi (kalshi, demo, \(exchange.baseURL)): ok, balance $1000.00, clock skew "), "\(ok.stdout)")
        #expect(ok.stdout.contains("paper (paper): paper venue, nothing to check"))
        #expect(exchange.requests.count == 1 && exchange.requests[0].signatureValid && exchange.requests[0].uri.hasSuffix("/portfolio/balance"))
        #expect(!ok.stdout.contains("key-9"))

        // The exchange knows another key: refused.
        let other = directory.path("other.pem")
        try KalshiTestKey().writePrivateKey(to: other)
        try setup.writeConfig(events: ["E1"], keyFile: other)
        let refused = try arbadmin(["venues", "check", "--config", config], environment: ["KALSHI_API_KEY_ID": "key-9"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("FAILED — HTTP 401: Kalshi demo refused the API key — is key_id a demo key"), "\(refused.stdout)")

        chmod(other, 0o644)
        let loose = try arbadmin(["venues", "check", "--config", config], environment: ["KALSHI_API_KEY_ID": "key-9"])
        #expect(loose.status == 1 && loose.stdout.contains("FAILED — venues.kalshi: the Kalshi key file \(other) can be read or written by group or others (mode 644)"),
                "\(loose.stdout)")

        let port = try await closedLocalPort()
        let down = KalshiTraderTests.config(exchange: exchange, keyFile: keyFile, events: ["E1"])
            .replacingOccurrences(of: "127.0.0.1:\(exchange.port)", with: "127.0.0.1:\(port)")
        try down.write(toFile: config, atomically: true, encoding: .utf8)
        let unreachable = try arbadmin(["venues", "check", "--config", config, "--json"], environment: ["KALSHI_API_KEY_ID": "key-9"])
        #expect(unreachable.status == 1)
        let checks = try unreachable.jsonArray()
        let kalshi = try #require(checks.first { $0["venue"] as? String == "kalshi" })
        #expect(kalshi["ok"] as? Bool == false && (kalshi["problem"] as? String)?.hasPrefix("unreachable: ") == true, "\(kalshi)")
    }

    @Test("cancel-all: the live Kalshi order is cancelled by its order id and recovery records it; the database agrees with the exchange")
    func cancelAll() async throws {
        let setup = try await KalshiRunSetup(events: ["E1"])
        defer { Task { await setup.stop() } }
        let (directory, exchange, config) = (setup.directory, setup.exchange, setup.configPath)
        let db = directory.path("arb.db")

        // An opportunity whose Kalshi leg rests at the exchange (a trader stopped mid-execution)
        // and whose other leg was refused.
        let store = try Store(path: db, durability: .normal, alertSinks: ["file"])
        let now = SystemClock().nowMilliseconds()
        let new = NewOpportunity(eventID: "E1", legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "KXE1:yes", price: Price(ticks: 4_000)!),
                                 legB: LegQuote(venue: "paper", outcome: "NO", instrument: "P-E1-N", price: Price(ticks: 5_000)!),
                                 edgeBps: 100, quantity: Quantity(contracts: 10), expectedFees: .zero, detectedAtMilliseconds: now)
        _ = try store.createAndBegin(new, reason: "test") { id in
            [LegIntent(leg: .a, venue: "kalshi", instrument: "KXE1:yes", side: .buy, limitPrice: Price(ticks: 4_000)!,
                       quantity: Quantity(contracts: 10), timeInForce: .gtc, clientOrderID: store.clientOrderID(opportunity: id, leg: .a)),
             LegIntent(leg: .b, venue: "paper", instrument: "P-E1-N", side: .buy, limitPrice: Price(ticks: 5_000)!,
                       quantity: Quantity(contracts: 10), timeInForce: .gtc, clientOrderID: store.clientOrderID(opportunity: id, leg: .b))]
        }
        let legs = try store.legs(of: 1)
        let harness = try await KalshiHarness(exchange: exchange)
        exchange.script([.fill(hundredths: 0)])
        let ack = try await harness.venue.submit(PreparedOrder(request: OrderRequest(
            clientOrderID: legs[0].clientOrderID, instrument: "KXE1:yes", side: .buy, limitPrice: Price(ticks: 4_000)!,
            quantity: Quantity(contracts: 10), timeInForce: .gtc), venueOrderID: nil))
        try store.record(TransitionChanges(legUpdates: [
            LegUpdate(clientOrderID: legs[0].clientOrderID, status: .open, venueOrderID: ack.order.venueOrderID),
            LegUpdate(clientOrderID: legs[1].clientOrderID, status: .rejected, statusReason: "refused"),
        ]), opportunity: 1, at: now)

        let result = try arbadmin(["venues", "cancel-all", "--config", config, "--db", db, "--venue", "kalshi"],
                                  environment: ["KALSHI_API_KEY_ID": "key-9"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("opportunity 1 kalshi \(legs[0].clientOrderID): cancelled (filled 0.00 of 10.00)"), "\(result.stdout)")
        #expect(exchange.orders.map(\.status) == ["canceled"])
        let after = try Store(path: db, access: .readOnly)
        let state = try after.state(of: 1)
        #expect(state?.isTerminal == true, "\(String(describing: state))")
        #expect(try after.legs(of: 1)[0].status == .cancelled)
        try expectKalshiAgrees(databasePath: db, exchange: exchange)

        let again = try arbadmin(["venues", "cancel-all", "--config", config, "--db", db])
        #expect(again.status == 0 && again.stdout.contains("no live orders in the database: nothing to cancel"), "\(again.stdout)")
        let unknown = try arbadmin(["venues", "cancel-all", "--config", config, "--db", db, "--venue", "kraken"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no venue \"kraken\" in the config"), "\(unknown.stderr)")
    }
}

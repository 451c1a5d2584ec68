import ArbEngine
import ArbTestSupport
import Foundation
import KalshiVenue
import Logging
import LoopbackExchange
@testable import OrderStateMachine
import PolymarketVenue
import Testing

/// The numbers of one `book feed <name>:` line of a run summary.
func feedLine(_ stdout: String, _ name: String) -> (messages: Int, trusted: String, gaps: Int, resyncs: Int)? {
    guard let line = stdout.split(separator: "\n").first(where: { $0.contains("book feed \(name):") }) else { return nil }
    let words = line.split(separator: " ").map(String.init)
    func before(_ word: String) -> Int? {
        guard let index = words.firstIndex(where: { $0.hasPrefix(word) }), index > 0 else { return nil }
        return Int(words[index - 1].trimmingCharacters(in: .punctuationCharacters))
    }
    guard let messages = before("messages"), let gaps = before("gaps"), let resyncs = before("resyncs"),
          let trusted = words.first(where: { $0.contains("/") }) else { return nil }
    return (messages, trusted, gaps, resyncs)
}

/// Outcomes of every opportunity in the database, counted.
func outcomeCounts(_ databasePath: String) throws -> (hedged: Int, oneSided: Int, open: Int) {
    let store = try Store(path: databasePath, access: .readOnly)
    let states = try allOpportunities(store).map(\.state)
    // One-sided: closed so, or unwound (the demo unwinds).
    let exposed: [OpportunityState] = [.closed(.oneSided), .closed(.completed), .closed(.flattened)]
    return (states.filter { $0 == .closed(.hedged) }.count, states.filter { exposed.contains($0) }.count,
            states.filter { !$0.isTerminal }.count)
}

@Suite("The loopback exchange: both real adapters and both websocket feeds end to end", .serialized, .exclusive)
struct LoopbackExchangeTests {
    @Test("arb run --demo loopback --duration 5 trades both venues over HTTP and websockets; DESIGN §8 holds between arb.db and loopback-*.db, with hedged and one-sided opportunities")
    func demoEndToEnd() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        var summaries: [String] = []
        // Each run recovers what the one before left (the exchange's files persist); the demo's
        // mix makes both outcomes within a few runs — fewer hedged ones on a loaded machine, where
        // the exchange's books move on before a slow order arrives (seen in CI: 7 opportunities
        // over 4 runs, none hedged), so up to 8 runs; the loop stops once both are seen.
        for seed in 1...8 {
            let run = try await runBuilt("arb", ["run", "--demo", "loopback", "--db", db, "--duration", seed == 1 ? "5" : "3",
                                                 "--seed", "\(seed)", "--log-level", "error"], timeoutSeconds: 120)
            #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
            summaries.append(run.stdout)
            let kalshi = try #require(feedLine(run.stdout, "kalshi"), "\(run.stdout)")
            let polymarket = try #require(feedLine(run.stdout, "polymarket"), "\(run.stdout)")
            #expect(kalshi.messages > 50 && kalshi.trusted == "4/4" && polymarket.messages > 50 && polymarket.trusted == "8/8", "\(run.stdout)")
            #expect(run.stdout.contains("loopback exchange:    orders placed") || !run.stdout.contains("opportunities:        0"), "\(run.stdout)")
            let counts = try outcomeCounts(db)
            if counts.hedged > 0 && counts.oneSided > 0 && counts.open == 0 { break }
        }
        let counts = try outcomeCounts(db)
        #expect(counts.hedged >= 1 && counts.oneSided >= 1, "\(summaries.joined(separator: "\n"))")
        #expect(FileManager.default.fileExists(atPath: directory.path("loopback-kalshi.db"))
                && FileManager.default.fileExists(atPath: directory.path("loopback-polymarket.db")))
        let store = try Store(path: db, access: .readOnly)
        let legs = try allOpportunities(store).flatMap { try store.legs(of: $0.id) }
        #expect(Set(legs.map(\.venue)) == ["kalshi", "polymarket"], "both real adapters traded")
        let violations = try Invariants.check(
            databasePath: db, paperFiles: ["kalshi": directory.path("loopback-kalshi.db"), "polymarket": directory.path("loopback-polymarket.db")],
            options: .init(requireAllClosed: counts.open == 0, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
        // arbadmin finds the loopback files beside the database from the config alone.
        let audit = try await runBuilt("arbadmin", ["audit", "--db", db, "--config", directory.path("loopback-config.json")])
        #expect(audit.status == 0 && audit.stdout.contains("all invariants hold"), "\(audit.stdout) \(audit.stderr)")
        // Every Polymarket order in the exchange's file is filed under the hash the leg carries.
        let polymarketLegs = legs.filter { $0.venue == "polymarket" }
        let file = try Connection(path: directory.path("loopback-polymarket.db"), mode: .readOnly)
        let filed = Set(try file.prepare("SELECT client_order_id FROM paper_orders").query { $0.text(0) })
        #expect(!polymarketLegs.isEmpty && polymarketLegs.allSatisfy { leg in
            leg.venueOrderID.map(filed.contains) ?? (leg.status == .rejected || leg.status == .notFound)
        })
        // The audit reads the loopback files: a fill the venue undid in its file is a violation.
        let broken = directory.path("broken")
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path(""))
        where name.hasPrefix("arb.db") || name.hasPrefix("loopback-kalshi.db") || name.hasPrefix("loopback-polymarket.db") || name == "loopback-config.json" {
            try FileManager.default.copyItem(atPath: directory.path(name), toPath: broken + "/" + name)
        }
        let edit = try Connection(path: broken + "/loopback-polymarket.db", mode: .readWrite)
        try edit.execute("UPDATE paper_orders SET filled_quantity = 0, status = 'cancelled' WHERE id = (SELECT min(id) FROM paper_orders WHERE filled_quantity > 0)")
        let brokenAudit = try await runBuilt("arbadmin", ["audit", "--db", broken + "/arb.db", "--config", broken + "/loopback-config.json"])
        #expect(brokenAudit.status != 0 && brokenAudit.stdout.contains("at polymarket"), "\(brokenAudit.stdout)")
    }

    @Test("sequence gaps and a silent market channel are detected and healed: gaps and resyncs counted, every book trusted again")
    func gapsAndSilences() async throws {
        let directory = TemporaryDirectory()
        let run = try await runBuilt("arb", ["run", "--demo", "loopback", "--db", directory.path("arb.db"), "--duration", "5",
                                             "--faults", "gap=3,silent=1500", "--log-level", "error"], timeoutSeconds: 120)
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
        let kalshi = try #require(feedLine(run.stdout, "kalshi"), "\(run.stdout)")
        let polymarket = try #require(feedLine(run.stdout, "polymarket"), "\(run.stdout)")
        #expect(kalshi.gaps >= 1 && kalshi.resyncs >= kalshi.gaps, "\(run.stdout)")
        #expect(polymarket.resyncs >= 1, "the silence was not noticed or not healed: \(run.stdout)")
        #expect(run.stdout.contains("sequence gaps sent") && run.stdout.contains("market channel silences 1"), "\(run.stdout)")
        // Healed: the books the trader watches are trusted again (a gap in the last instant may still be healing).
        #expect(polymarket.trusted == "8/8", "\(run.stdout)")
    }

    @Test("failed=100: every Polymarket trade goes FAILED after matching; the trader undoes each fill, closes nothing hedged on one, and §8 holds against the file that took them back")
    func failedTrades() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        var reversals = 0
        for seed in 1...3 where reversals == 0 {
            let run = try await runBuilt("arb", ["run", "--demo", "loopback", "--db", db, "--duration", "4", "--seed", "\(seed)",
                                                 "--faults", "failed=100", "--log-level", "error"], timeoutSeconds: 120)
            #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
            reversals = Int(try await sqlite(db, "SELECT count(*) FROM fill_reversals", readOnly: true).first ?? "") ?? 0
        }
        #expect(reversals >= 1, "no Polymarket fill in three runs")
        let failed = try await sqlite(directory.path("loopback-polymarket.db"), "SELECT trade_id FROM loopback_failed_trades ORDER BY 1", readOnly: true)
        let undone = try await sqlite(db, "SELECT f.trade_id FROM fill_reversals r JOIN fills f ON f.id = r.fill_id ORDER BY 1", readOnly: true)
        #expect(!undone.isEmpty && Set(undone).isSubset(of: Set(failed)), "undone \(undone), failed at the venue \(failed)")
        // A hedged close stands on certain fills only: none has a Polymarket fill left.
        let hedgedOnPolymarket = try await sqlite(db, """
            SELECT o.id FROM opportunities o JOIN legs l ON l.opportunity_id = o.id AND l.venue = 'polymarket'
            WHERE o.outcome = 'hedged' AND l.filled_quantity > 0
            """, readOnly: true)
        #expect(hedgedOnPolymarket.isEmpty, "\(hedgedOnPolymarket)")
        let violations = try Invariants.check(
            databasePath: db, paperFiles: ["kalshi": directory.path("loopback-kalshi.db"), "polymarket": directory.path("loopback-polymarket.db")],
            options: .init(requireAllClosed: false, sinks: []))
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("the exchange refuses what the venues refuse: a Kalshi request signed by another key and a Polymarket request with another secret get 401; the account's own keys work")
    func refusesBadSignatures() async throws {
        let directory = TemporaryDirectory()
        let exchange = try await LoopbackExchange.start(.init(seed: 9, directory: directory.path("x")))
        var logger = Logger(label: "loopback-test")
        logger.logLevel = .critical
        do {
            let otherKey = directory.path("other.pem")
            try RSAKeyPair().writePrivateKey(to: otherKey)
            func kalshi(_ keyFile: String) throws -> KalshiVenue {
                KalshiVenue(options: .init(name: "kalshi", environment: "demo", baseURL: exchange.kalshiBaseURL,
                                           selfTradePrevention: "taker_at_cross", feeModel: .kalshiTaker),
                            signer: KalshiSigner(keyID: exchange.accounts.kalshiKeyID, key: try KalshiSigningKey.load(path: keyFile)),
                            directory: nil, clock: SystemClock(), logger: logger)
            }
            await #expect(throws: VenueError.self) { _ = try await kalshi(otherKey).balance() }
            #expect(exchange.counters[.refusedSignatures] == 1)
            #expect(try await kalshi(exchange.accounts.kalshiKeyFile).balance() == PaperVenue.startingBalance)

            func polymarket(_ credentials: PolymarketCredentials) throws -> PolymarketVenue {
                try PolymarketVenue(options: .init(name: "polymarket", baseURL: exchange.polymarketBaseURL, feeModel: .free, signatureType: 0,
                                                   funder: nil, markets: [:]),
                                    key: exchange.accounts.wallet, credentials: credentials, directory: nil, clock: SystemClock(), logger: logger)
            }
            let right = exchange.accounts.credentials
            let wrong = PolymarketCredentials(apiKey: right.apiKey, secret: Data("another secret".utf8).base64EncodedString(),
                                              passphrase: right.passphrase)
            await #expect(throws: VenueError.self) { _ = try await polymarket(wrong).balance() }
            #expect(exchange.counters[.refusedSignatures] == 2)
            #expect(try await polymarket(right).balance() == PaperVenue.startingBalance)
            #expect(exchange.counters[.refusedSignatures] == 2)
        } catch {
            await exchange.stop()
            throw error
        }
        await exchange.stop()
    }

    @Test("arb-exchange prints its two base URLs first, writes a trader config, and refuses a bad --faults with one line")
    func standalone() async throws {
        let directory = TemporaryDirectory()
        let bad = try await runBuilt("arb-exchange", ["--faults", "gap=200"])
        #expect(bad.status != 0 && bad.stderr.hasPrefix("Error: --faults gap=200: a percentage is 0 to 100\n"), "\(bad.stderr)")
        let unknown = try await runBuilt("arb-exchange", ["--faults", "jitter=5"])
        #expect(unknown.status != 0 && unknown.stderr.contains("\"jitter\", which is not a fault"), "\(unknown.stderr)")

        let exchange = try startProcess(builtProductsDirectory().appendingPathComponent("arb-exchange").path,
                                        ["--seed", "3", "--dir", directory.path("ex"), "--faults", "soak"])
        let started = await waitUntil(timeoutSeconds: 60) {
            ((try? String(contentsOfFile: exchange.stdoutPath, encoding: .utf8)) ?? "").contains("\nfaults ")
        }
        #expect(started)
        let first = ((try? String(contentsOfFile: exchange.stdoutPath, encoding: .utf8)) ?? "").split(separator: "\n").first.map(String.init) ?? ""
        let words = first.split(separator: " ").map(String.init)
        #expect(words.count == 4 && words[0] == "kalshi" && words[1].hasPrefix("http://127.0.0.1:") && words[1].hasSuffix("/trade-api/v2")
                && words[2] == "polymarket" && words[3].hasPrefix("http://127.0.0.1:"), "\(first)")
        let config = try TraderConfig.load(path: directory.path("ex/loopback-config.json"))
        #expect(config.venues["kalshi"]?.kind == .kalshi && config.venues["polymarket"]?.kind == .polymarket)
        let text = try String(contentsOfFile: directory.path("ex/loopback-config.json"), encoding: .utf8)
        let credentials = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory.path("ex/loopback-polymarket-credentials.json")))) as? [String: String])
        let walletKey = try String(contentsOfFile: directory.path("ex/loopback-polymarket-key"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!text.contains("PRIVATE KEY") && !text.contains(credentials["secret"] ?? "?") && !text.contains(walletKey.dropFirst(2)),
                "a secret in the config")
        for secret in ["loopback-kalshi-key.pem", "loopback-polymarket-key", "loopback-polymarket-credentials.json"] {
            let mode = try FileManager.default.attributesOfItem(atPath: directory.path("ex/" + secret))[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(secret) is \(String(mode ?? 0, radix: 8))")
        }
        kill(exchange.pid, SIGTERM)
        let output = try await exchange.wait(seconds: 30)
        #expect(output.status == 0 && output.stdout.contains("stopped: "), "\(output.stdout) \(output.stderr)")
    }
}

import ArbTestSupport
import Foundation
import OrderStateMachine
import Testing

// The soak's own checks (`Scripts/soak.sh --check DIR`: DESIGN §8 as sqlite3 queries, plus the
// proofs that its run caught the trader with something open) are only worth their green if each
// can go red. One real run's files pass them; each case below breaks one thing in a copy, by hand,
// the way a bug (or a hand-typed statement) could, and the check that guards it must name it.

/// The repository's root (this file is Tests/ArbEngineTests/SoakCheckTests.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// `Scripts/soak.sh --check DIR`.
func soakCheck(_ directory: String) async throws -> ProcessOutput {
    try await runProductAt("/bin/bash", [repositoryRoot + "/Scripts/soak.sh", "--check", directory], timeoutSeconds: 120)
}

/// What the soak appends to `soak-kills` after a kill: one line per opportunity left open,
/// `round|opportunity id|last transition id` (the same query as `record_open` in Scripts/soak.sh).
func recordOpenAfterKill(round: Int, directory: String) async throws -> [String] {
    try await sqlite(directory + "/arb.db", """
        SELECT \(round) || '|' || o.id || '|' || (SELECT coalesce(max(id), 0) FROM transitions)
        FROM opportunities o WHERE o.state <> 'Closed' ORDER BY o.id
        """, readOnly: true)
}

/// A directory as the soak leaves it, from real runs of the built binaries: the demo killed with
/// opportunities in flight (`after-submit-both`: an `InFlight` opportunity whose orders are at
/// both venues), the kill recorded as the soak records it, a restart (its recovery finishes that
/// opportunity), then the soak's reconcile and alert delivery. Built once per test process.
enum SoakFixture {
    static let root: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("arb-soak-fixture-\(UUID().uuidString)").path
        atexit { try? FileManager.default.removeItem(atPath: SoakFixture.root) }
        return path
    }()

    static let directory = Task<String, any Error> {
        let directory = root
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let db = directory + "/arb.db"
        let killed = try await runBuilt("arb", ["run", "--db", db, "--seed", "11", "--duration", "3", "--log-level", "error"],
                                        environment: ["ARB_CRASH_AT": "after-submit-both"], timeoutSeconds: 60)
        guard killed.status == 137 else { throw FixtureError("the killed run exited \(killed.status): \(killed.stderr.suffix(500))") }
        let record = try await recordOpenAfterKill(round: 1, directory: directory)
        guard !record.isEmpty else { throw FixtureError("the kill left nothing open") }
        try Data((record.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/soak-kills"))
        let restarted = try await runBuilt("arb", ["run", "--db", db, "--seed", "12", "--duration", "2", "--log-level", "error"],
                                           timeoutSeconds: 60)
        guard restarted.status == 0 else { throw FixtureError("the restart exited \(restarted.status): \(restarted.stderr.suffix(500))") }
        // The demo trades on the wall clock, so a loaded machine may give two seconds too few
        // fills for the breaks; more runs on the same files add them (each break needs its row).
        var extraSeed = 20
        while try await !missingForBreaks(directory).isEmpty, extraSeed < 26 {
            let more = try await runBuilt("arb", ["run", "--db", db, "--seed", "\(extraSeed)", "--duration", "2", "--log-level", "error"],
                                          timeoutSeconds: 60)
            guard more.status == 0 else { throw FixtureError("run \(extraSeed) exited \(more.status): \(more.stderr.suffix(500))") }
            extraSeed += 1
        }
        for _ in 1...5 {
            let reconciled = try await runBuilt("arbadmin", ["reconcile", "--db", db], timeoutSeconds: 60)
            if reconciled.status == 0 { break }
        }
        // An alert raised by reconcile is delivered by the next trader, as in the soak.
        _ = try await runBuilt("arb", ["run", "--db", db, "--seed", "13", "--duration", "0.3", "--log-level", "error"],
                               timeoutSeconds: 60)
        return directory
    }

    /// What the breaks rely on that these files lack (empty when every break has its row):
    /// without them a break would be a no-op.
    static func missingForBreaks(_ directory: String) async throws -> [String] {
        let facts = try await sqlite(directory + "/arb.db", """
            SELECT (SELECT count(*) FROM opportunities WHERE outcome = 'abandoned' AND id < (SELECT max(id) FROM opportunities)),
                   (SELECT count(*) FROM opportunities WHERE outcome = 'one_sided'),
                   (SELECT count(*) FROM fills),
                   (SELECT count(*) FROM transitions WHERE reason LIKE 'recovery:%'),
                   (SELECT count(*) FROM opportunities o WHERE NOT EXISTS
                      (SELECT 1 FROM transitions t WHERE t.opportunity_id = o.id AND t.reason LIKE 'recovery:%')),
                   (SELECT count(*) FROM unwind_orders WHERE filled_quantity > 0)
            """, readOnly: true)
        let counts = (facts.first ?? "").split(separator: "|").map { Int($0) ?? 0 }
        let names = ["an abandoned opportunity before the last", "a one-sided opportunity", "a fill",
                     "a recovery move", "an opportunity recovery never moved", "an unwind order with fills"]
        var missing = zip(names, counts + Array(repeating: 0, count: max(0, names.count - counts.count)))
            .filter { $0.1 <= 0 }.map(\.0)
        for venue in ["kalshi", "polymarket"] {
            let filled = try await sqlite(directory + "/paper-\(venue).db",
                                          "SELECT count(*) FROM paper_orders WHERE filled_quantity > 0 AND client_order_id GLOB '*-[ab]'",
                                          readOnly: true)
            if (Int(filled.first ?? "") ?? 0) <= 0 { missing.append("a filled leg order at \(venue)") }
        }
        return missing
    }

    /// A fresh copy of the fixture (every case breaks its own).
    static func copy(to destination: TemporaryDirectory) async throws -> String {
        let source = try await directory.value
        let target = destination.path("soak")
        try FileManager.default.copyItem(atPath: source, toPath: target)
        return target
    }
}

@Suite("Soak checks: each fails on a database broken for it", .serialized, .exclusive,
       .enabled(if: SQLiteShellHolder.isAvailable, "needs the sqlite3 shell"))
struct SoakCheckTests {
    /// One deliberate break: SQL run on one of the directory's files (or a file edit), and the
    /// check (its name as `soak: VIOLATION <name>` prints it) that must catch it.
    struct Break: CustomTestStringConvertible, Sendable {
        let check: String
        let file: String
        let sql: String
        var testDescription: String { check }

        init(_ check: String, in file: String = "arb.db", _ sql: String) {
            self.check = check
            self.file = file
            self.sql = sql
        }
    }

    static let breaks: [Break] = [
        Break("integrity of arb.db", """
            INSERT INTO alert_deliveries (alert_id, sink, attempts) VALUES (999999, 'file', 0);
            """),
        Break("integrity of paper-kalshi.db", in: "paper-kalshi.db", """
            INSERT INTO paper_fills (trade_id, client_order_id, price, quantity, fee_micros, filled_at_ms)
            VALUES ('stray-trade', 'no-such-order', 5000, 100, 0, 0);
            """),
        Break("integrity of paper-polymarket.db", in: "paper-polymarket.db", """
            INSERT INTO paper_fills (trade_id, client_order_id, price, quantity, fee_micros, filled_at_ms)
            VALUES ('stray-trade', 'no-such-order', 5000, 100, 0, 0);
            """),
        Break("1: kalshi orders without exactly one leg of kalshi", in: "paper-kalshi.db", """
            CREATE TEMP TABLE copied AS SELECT * FROM paper_orders ORDER BY id LIMIT 1;
            UPDATE copied SET id = (SELECT max(id) + 1 FROM paper_orders), client_order_id = 'stray-order',
                              venue_order_id = 'stray-venue-order';
            INSERT INTO paper_orders SELECT * FROM copied;
            """),
        Break("1: polymarket orders without exactly one leg of polymarket", in: "paper-polymarket.db", """
            CREATE TEMP TABLE copied AS SELECT * FROM paper_orders ORDER BY id LIMIT 1;
            UPDATE copied SET id = (SELECT max(id) + 1 FROM paper_orders), client_order_id = 'stray-order',
                              venue_order_id = 'stray-venue-order';
            INSERT INTO paper_orders SELECT * FROM copied;
            """),
        Break("1: kalshi legs the database says were placed, unknown to kalshi", in: "paper-kalshi.db", """
            DROP TRIGGER paper_orders_keep;
            DROP TRIGGER paper_fills_keep;
            CREATE TEMP TABLE gone AS SELECT client_order_id FROM paper_orders WHERE status <> 'rejected' AND client_order_id GLOB '*-[ab]'
                ORDER BY id LIMIT 1;
            DELETE FROM paper_fills WHERE client_order_id IN (SELECT client_order_id FROM gone);
            DELETE FROM paper_orders WHERE client_order_id IN (SELECT client_order_id FROM gone);
            """),
        Break("1: polymarket legs the database says were placed, unknown to polymarket", in: "paper-polymarket.db", """
            DROP TRIGGER paper_orders_keep;
            DROP TRIGGER paper_fills_keep;
            CREATE TEMP TABLE gone AS SELECT client_order_id FROM paper_orders WHERE status <> 'rejected' AND client_order_id GLOB '*-[ab]'
                ORDER BY id LIMIT 1;
            DELETE FROM paper_fills WHERE client_order_id IN (SELECT client_order_id FROM gone);
            DELETE FROM paper_orders WHERE client_order_id IN (SELECT client_order_id FROM gone);
            """),
        Break("6: kalshi legs whose filled quantity differs from the venue's", in: "paper-kalshi.db", """
            UPDATE paper_orders SET filled_quantity = filled_quantity - 1, status = 'cancelled'
            WHERE id = (SELECT min(id) FROM paper_orders WHERE filled_quantity > 0 AND client_order_id GLOB '*-[ab]');
            """),
        Break("6: polymarket legs whose filled quantity differs from the venue's", in: "paper-polymarket.db", """
            UPDATE paper_orders SET filled_quantity = filled_quantity - 1, status = 'cancelled'
            WHERE id = (SELECT min(id) FROM paper_orders WHERE filled_quantity > 0 AND client_order_id GLOB '*-[ab]');
            """),
        // The schema refuses a second (opportunity, leg) row; a copy of the table without the
        // constraint stands in for a schema that lost it.
        Break("2: more than one order per leg", """
            ALTER TABLE legs RENAME TO legs_defended;
            CREATE TABLE legs AS SELECT * FROM legs_defended;
            INSERT INTO legs SELECT * FROM legs WHERE id = (SELECT min(id) FROM legs);
            """),
        Break("2: client order ids reused or not arb-<database id>-<opportunity>-<leg>", """
            UPDATE settings SET value = 'deadbeef' WHERE key = 'database_id';
            """),
        Break("3: more than one live opportunity per dedup key", """
            DROP INDEX opportunities_live_dedup_key;
            CREATE TEMP TABLE copied AS SELECT * FROM opportunities WHERE id = (SELECT max(id) FROM opportunities);
            UPDATE copied SET id = id + 1, state = 'Detected', outcome = NULL, state_reason = 'detected';
            INSERT INTO opportunities SELECT * FROM copied;
            UPDATE copied SET id = id + 1;
            INSERT INTO opportunities SELECT * FROM copied;
            """),
        Break("4: illegal transitions in the log", """
            INSERT INTO transitions (opportunity_id, from_state, to_state, outcome, at_ms, reason)
            SELECT id, 'Closed', 'Detected', NULL, updated_at_ms, 'reopened' FROM opportunities
            WHERE id = (SELECT min(id) FROM opportunities WHERE state = 'Closed');
            """),
        Break("4: logs that do not chain from Detected", """
            INSERT INTO transitions (opportunity_id, from_state, to_state, outcome, at_ms, reason)
            SELECT id, 'Detected', 'Closed', 'abandoned', updated_at_ms, 'closed twice' FROM opportunities
            WHERE id = (SELECT min(id) FROM opportunities WHERE outcome = 'abandoned');
            """),
        Break("4: current state differs from the last logged", """
            DROP TRIGGER opportunities_legal_transition;
            DROP TRIGGER opportunities_closed_is_final;
            DROP TRIGGER opportunities_log_transition;
            UPDATE opportunities SET outcome = 'rejected' WHERE id = (SELECT min(id) FROM opportunities WHERE outcome = 'abandoned');
            """),
        Break("10: unwinds past their exposure or their loss budget", """
            UPDATE unwind_orders SET filled_cost_micros = filled_cost_micros + 5000000
            WHERE id = (SELECT min(id) FROM unwind_orders WHERE filled_quantity > 0);
            """),
        Break("5: opportunities left non-terminal", """
            CREATE TEMP TABLE copied AS SELECT * FROM opportunities WHERE id = (SELECT max(id) FROM opportunities);
            UPDATE copied SET id = id + 1, state = 'Detected', outcome = NULL, state_reason = 'detected',
                              dedup_key = 'SOAK-CHECK|kalshi:YES|polymarket:NO';
            INSERT INTO opportunities SELECT * FROM copied;
            """),
        Break("6: legs whose fills do not add up", """
            UPDATE legs SET filled_quantity = filled_quantity - 1
            WHERE id = (SELECT min(l.id) FROM legs l WHERE EXISTS (SELECT 1 FROM fills f WHERE f.leg_id = l.id));
            """),
        Break("6: one-sided exposure without a one-sided alert delivered to the file sink", """
            UPDATE alert_deliveries SET delivered_at_ms = NULL
            WHERE sink = 'file' AND alert_id IN (SELECT id FROM alerts WHERE kind LIKE 'one_sided%');
            """),
        Break("9: opportunity ids beyond the reserved mark", """
            UPDATE settings SET value = '1' WHERE key = 'opportunity_ids_reserved';
            """),
        Break("7: transition log ids with gaps (a deleted row)", """
            DROP TRIGGER opportunities_no_delete;
            DROP TRIGGER transitions_no_delete;
            CREATE TEMP TABLE gone AS SELECT min(o.id) AS id FROM opportunities o WHERE o.outcome = 'abandoned'
              AND o.id < (SELECT max(id) FROM opportunities) AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.opportunity_id = o.id);
            DELETE FROM transitions WHERE opportunity_id = (SELECT id FROM gone);
            DELETE FROM opportunities WHERE id = (SELECT id FROM gone);
            """),
        Break("7: opportunities past Detected without both legs", """
            DROP TRIGGER legs_no_delete;
            DELETE FROM legs WHERE id = (SELECT min(l.id) FROM legs l WHERE NOT EXISTS (SELECT 1 FROM fills f WHERE f.leg_id = l.id));
            """),
        // The proofs: a run that proved nothing must not pass.
        Break("proof: an opportunity a kill left open that recovery never moved", in: "soak-kills", """
            SELECT '1|' || min(o.id) || '|0' FROM opportunities o
            WHERE NOT EXISTS (SELECT 1 FROM transitions t WHERE t.opportunity_id = o.id AND t.reason LIKE 'recovery:%');
            """),
        Break("proof: no kill caught an open opportunity", in: "soak-kills", ""),
        Break("proof: no kill record", in: "soak-kills", "-"),
        Break("6: alerts marked delivered to file but missing from data/alerts.log", in: "data/alerts.log", ""),
    ]

    @Test("the unbroken run passes every check, and it has what the breaks need")
    func unbrokenPasses() async throws {
        let scratch = TemporaryDirectory()
        let directory = try await SoakFixture.copy(to: scratch)
        let result = try await soakCheck(directory)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("1 kills caught"), "\(result.stdout)")
        // Each break below relies on one of these existing; without them a break would be a no-op.
        let missing = try await SoakFixture.missingForBreaks(directory)
        #expect(missing.isEmpty, "the run has no \(missing.joined(separator: ", "))")
    }

    @Test("each check fails on a copy broken for it, naming itself", arguments: breaks)
    func brokenFails(_ broken: Break) async throws {
        let scratch = TemporaryDirectory()
        let directory = try await SoakFixture.copy(to: scratch)
        let target = directory + "/" + broken.file
        switch broken.file {
        case "soak-kills":
            if broken.sql == "-" {
                try FileManager.default.removeItem(atPath: target)
            } else if broken.sql.isEmpty {
                try Data().write(to: URL(fileURLWithPath: target))
            } else {
                let line = try await sqlite(directory + "/arb.db", broken.sql, readOnly: true)
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data((line.joined(separator: "\n") + "\n").utf8))
                try handle.close()
            }
        case "data/alerts.log":
            try Data().write(to: URL(fileURLWithPath: target))
        default:
            // A break that changed no row would test the unbroken files.
            let changed = try await sqlite(target, broken.sql + "\nSELECT total_changes();")
            #expect((Int(changed.last ?? "") ?? 0) > 0, "the break changed nothing: \(changed)")
        }
        let result = try await soakCheck(directory)
        #expect(result.status == 1, "\(result.summary)")
        let violations = result.stderr.split(separator: "\n").filter { $0.hasPrefix("soak: VIOLATION ") }
            .map { String($0.dropFirst("soak: VIOLATION ".count)) }
        #expect(violations.contains(broken.check), "caught by \(violations) instead; \(result.stderr.prefix(1_500))")
    }

    @Test("an empty database (a run that created nothing) fails the soak's proof")
    func emptyRunFails() async throws {
        let scratch = TemporaryDirectory()
        let quotes = scratch.path("quotes.jsonl")
        try Data().write(to: URL(fileURLWithPath: quotes))
        let directory = scratch.path("empty")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let run = try await runBuilt("arb", ["run", "--db", directory + "/arb.db", "--market-data", quotes, "--log-level", "error"],
                                     timeoutSeconds: 60)
        #expect(run.status == 0, "\(run.summary)")
        try Data().write(to: URL(fileURLWithPath: directory + "/soak-kills"))
        let result = try await soakCheck(directory)
        #expect(result.status == 1, "\(result.summary)")
        #expect(result.stderr.contains("soak: VIOLATION proof: no opportunity was created and sent (none reached InFlight)"),
                "\(result.stderr)")
        // The invariants alone hold on an empty database: only the proof catches it.
        #expect(!result.stderr.contains("VIOLATION integrity") && !result.stderr.contains("VIOLATION 1:"), "\(result.stderr)")
    }
}

@Suite("The soak's table of legal transitions")
struct SoakLegalTableTests {
    @Test("Scripts/soak.sh lists exactly the machine's transitions (one it lacks turns a legal history into a violation)")
    func sameAsTheMachine() throws {
        let script = try String(contentsOfFile: repositoryRoot + "/Scripts/soak.sh", encoding: .utf8)
        let start = try #require(script.range(of: "legal(from_state, to_state, outcome) AS (VALUES"))
        let end = try #require(script[start.upperBound...].range(of: ")\""))
        var listed: Set<String> = []
        for line in script[start.upperBound..<end.lowerBound].split(separator: "\n") {
            let fields = line.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "(),"))
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "'", with: "") }
            guard fields.count == 3 else { continue }
            listed.insert("\(fields[0])->\(fields[1])\(fields[2] == "NULL" ? "" : "(\(fields[2]))")")
        }
        var machine: Set<String> = ["NULL->Detected"]
        // The log names a `from` state without its outcome (Closed(one_sided) → Unwinding is "Closed").
        for from in OpportunityState.all {
            for to in OpportunityState.all where OpportunityMachine.isLegal(from: from, to: to) {
                machine.insert("\(from.name)->\(to.description)")
            }
        }
        #expect(listed == machine, "missing from the soak: \(machine.subtracting(listed).sorted()); not the machine's: \(listed.subtracting(machine).sorted())")
    }
}

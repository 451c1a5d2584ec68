import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

/// The auditor tested on itself (STYLE: "for every invariant, a deliberately broken state that it
/// must reject"). A history made by the real executor, paper venues and dispatcher passes; then,
/// for every check in `Invariants`, a copy of it broken in exactly one way is rejected with that
/// check's own violation — not merely some violation, so a case fails if its check stops firing.
///
/// The breaks are raw SQL through the `sqlite3` shell, as a buggy writer or a careless person
/// would make them. The trader's history tables refuse most such edits with triggers
/// (append-only transitions, fills and alerts; only legal state changes); where a break needs
/// one gone, its SQL drops it first, in the broken copy only, and says so.
@Suite("Invariants: the auditor passes a real history and rejects every broken one", .serialized, .exclusive)
struct InvariantsTests {
    /// Six executions through the real executor and paper venues (ids in this order), their
    /// alerts delivered to the file sink: 1 hedged; 2 one-sided, b rejected; 3 one-sided, b
    /// rested and was cancelled; 4 one-sided by partial fills (6 vs 4), both remainders
    /// cancelled; 5 no fill, both cancelled; 6 rejected by both venues.
    static let healthy = Task<DatabaseFiles, any Error> {
        try await AdminFixtures.executions([
            .init(event: "EV-HEDGED", a: .fill, b: .fill),
            .init(event: "EV-REJECTED-B", a: .fill, b: .reject("insufficient liquidity")),
            .init(event: "EV-CANCELLED-B", a: .fill, b: .rest),
            .init(event: "EV-PARTIAL", a: .partial(Quantity(contracts: 6)), b: .partial(Quantity(contracts: 4))),
            .init(event: "EV-NOFILL", a: .rest, b: .rest),
            .init(event: "EV-REJECTED", a: .reject("market closed"), b: .reject("market closed")),
        ], into: "invariants")
    }

    /// The strictest audit: after recovery, every alert delivered to the file sink.
    static let strictest = Invariants.Options(requireAllClosed: true, sinks: ["file"])

    static func paperFiles(_ directory: TemporaryDirectory) -> [String: String] {
        ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")]
    }

    /// A fresh copy of the healthy files with `breakage` applied, audited; `{db}` in its SQL and
    /// expected violations stands for the copy's database id.
    func audit(_ breakage: Breakage) async throws -> (violations: [String], expected: [String]) {
        let directory = TemporaryDirectory()
        let db = try await Self.healthy.value.copy(to: directory)
        let databaseID = try readStore(db) { $0.databaseID }
        for (file, sql) in breakage.sql.sorted(by: { $0.key < $1.key }) {
            _ = try await sqlite(directory.path(file), sql.replacingOccurrences(of: "{db}", with: databaseID))
        }
        let violations = try Invariants.check(databasePath: db, paperFiles: Self.paperFiles(directory), options: Self.strictest)
        return (violations, breakage.expected.map { $0.replacingOccurrences(of: "{db}", with: databaseID) })
    }

    func expectRejected(_ breakage: Breakage, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (violations, expected) = try await audit(breakage)
        #expect(!expected.isEmpty, sourceLocation: sourceLocation)
        for line in expected {
            #expect(violations.contains(line), "expected \"\(line)\"; the auditor said \(violations)",
                    sourceLocation: sourceLocation)
        }
    }

    // MARK: - The healthy history

    @Test("a real history (hedged, one-sided with its alerts delivered, no fill, rejected) has no violation")
    func healthyHistoryPasses() async throws {
        let directory = TemporaryDirectory()
        let db = try await Self.healthy.value.copy(to: directory)
        // The fixture is what the cases below assume it is.
        let outcomes = try await sqlite(db, "SELECT id, outcome FROM opportunities ORDER BY id", readOnly: true)
        #expect(outcomes == ["1|hedged", "2|one_sided", "3|one_sided", "4|one_sided", "5|no_fill", "6|rejected"])
        let paths = try await sqlite(db, """
            SELECT group_concat(to_state, ' ') FROM (SELECT opportunity_id, to_state FROM transitions ORDER BY id)
            GROUP BY opportunity_id ORDER BY opportunity_id
            """, readOnly: true)
        #expect(paths == ["Detected InFlight LegsPlaced Filled Closed", "Detected InFlight OneSided CancelAttempted Closed",
                          "Detected InFlight OneSided CancelAttempted Closed", "Detected InFlight OneSided CancelAttempted Closed",
                          "Detected InFlight LegsPlaced CancelAttempted Closed", "Detected InFlight Closed"])
        let alerts = try await sqlite(db, """
            SELECT a.opportunity_id, a.kind, d.sink, d.delivered_at_ms IS NOT NULL
            FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id ORDER BY a.id
            """, readOnly: true)
        #expect(alerts == ["2|one_sided|file|1", "2|one_sided_closed|file|1", "3|one_sided|file|1", "3|one_sided_closed|file|1",
                           "4|one_sided|file|1", "4|one_sided_closed|file|1"])
        let violations = try Invariants.check(databasePath: db, paperFiles: Self.paperFiles(directory), options: Self.strictest)
        #expect(violations.isEmpty, "\(violations)")
    }

    // MARK: - Venue orders against legs (1, 6, 9)

    static let venueOrderBreaks: [Breakage] = [
        Breakage("an order at a venue that no leg names",
                 kalshi: """
                     INSERT INTO paper_orders (client_order_id, venue_order_id, instrument, side, price, quantity,
                         filled_quantity, status, time_in_force, fate, created_at_ms, updated_at_ms)
                     SELECT 'arb-{db}-99-a', 'kalshi-orphan', instrument, side, price, quantity, filled_quantity, status,
                         time_in_force, fate, created_at_ms, updated_at_ms
                     FROM paper_orders WHERE client_order_id = '\(clientOrderID(1, "a"))'
                     """,
                 expect: ["1: kalshi order arb-{db}-99-a maps to 0 legs"]),
        Breakage("an order at the venue its leg does not name",
                 polymarket: """
                     INSERT INTO paper_orders (client_order_id, venue_order_id, instrument, side, price, quantity,
                         filled_quantity, status, time_in_force, fate, created_at_ms, updated_at_ms)
                     SELECT '\(clientOrderID(1, "a"))', 'polymarket-stray', 'K-1', side, 4500, quantity, filled_quantity, status,
                         time_in_force, fate, created_at_ms, updated_at_ms
                     FROM paper_orders WHERE client_order_id = '\(clientOrderID(1, "b"))'
                     """,
                 expect: ["1: polymarket order \(clientOrderID(1, "a")) maps to 1 legs"]),
        // paper_orders refuses DELETE (history): the trigger goes first, in this copy only.
        Breakage("a venue order the database says was placed has vanished",
                 kalshi: """
                     DROP TRIGGER paper_orders_keep;
                     DELETE FROM paper_orders WHERE client_order_id = '\(clientOrderID(5, "a"))';
                     """,
                 expect: ["1: leg \(clientOrderID(5, "a")) is cancelled but kalshi has no such order",
                          "8: opportunity 5 leg a is recorded cancelled but kalshi has no such order"]),
        Breakage("the venue filled less than the leg records",
                 kalshi: "UPDATE paper_orders SET filled_quantity = 500 WHERE client_order_id = '\(clientOrderID(4, "a"))'",
                 expect: ["6: leg \(clientOrderID(4, "a")) filled 600 in the database, 500 at kalshi"]),
        Breakage("the venue rejected an order its leg records as cancelled",
                 polymarket: "UPDATE paper_orders SET status = 'rejected' WHERE client_order_id = '\(clientOrderID(5, "b"))'",
                 expect: ["6: polymarket rejected \(clientOrderID(5, "b")) but the leg says cancelled"]),
        Breakage("the venue's order has another price than its leg",
                 kalshi: "UPDATE paper_orders SET price = 4501 WHERE client_order_id = '\(clientOrderID(1, "a"))'",
                 expect: ["9: kalshi order \(clientOrderID(1, "a")) is buy 1000 K-1 @ 4501, but opportunity 1 leg a is buy 1000 K-1 @ 4500"]),
        Breakage("the venue's order is on another side than its leg",
                 kalshi: "UPDATE paper_orders SET side = 'sell' WHERE client_order_id = '\(clientOrderID(1, "a"))'",
                 expect: ["9: kalshi order \(clientOrderID(1, "a")) is sell 1000 K-1 @ 4500, but opportunity 1 leg a is buy 1000 K-1 @ 4500"]),
        Breakage("the venue's order is for another instrument than its leg",
                 polymarket: "UPDATE paper_orders SET instrument = 'P-2' WHERE client_order_id = '\(clientOrderID(1, "b"))'",
                 expect: ["9: polymarket order \(clientOrderID(1, "b")) is buy 1000 P-2 @ 5000, but opportunity 1 leg b is buy 1000 P-1 @ 5000"]),
        Breakage("the venue's order is for another quantity than its leg",
                 kalshi: "UPDATE paper_orders SET quantity = 900 WHERE client_order_id = '\(clientOrderID(5, "a"))'",
                 expect: ["9: kalshi order \(clientOrderID(5, "a")) is buy 900 K-1 @ 4500, but opportunity 5 leg a is buy 1000 K-1 @ 4500"]),
        // Renamed in both files, so the leg and its order still agree: the one thing wrong is
        // that the id is not the one opportunity 1's leg a is given (what a reused id looks like).
        // The schema's own trigger refuses the change, so it is dropped first, in this copy only.
        Breakage("a leg's client order id is not the one its opportunity and leg give",
                 trader: "DROP TRIGGER legs_keys_are_fixed; UPDATE legs SET client_order_id = 'arb-{db}-7-a' WHERE opportunity_id = 1 AND leg = 'a'",
                 kalshi: "UPDATE paper_orders SET client_order_id = 'arb-{db}-7-a' WHERE client_order_id = '\(clientOrderID(1, "a"))'",
                 expect: ["9: opportunity 1 leg a has client order id arb-{db}-7-a, not \(clientOrderID(1, "a"))"]),
    ]

    @Test("an order and its leg that disagree are reported (1, 6, 9)", arguments: venueOrderBreaks)
    func venueOrders(_ breakage: Breakage) async throws {
        try await expectRejected(breakage)
    }

    // MARK: - One order per leg, one live opportunity per key (2, 3)

    static let uniquenessBreaks: [Breakage] = [
        // legs' UNIQUE (opportunity_id, leg) and UNIQUE client_order_id cannot be dropped: the
        // table is rebuilt without them (CREATE TABLE … AS keeps the columns and rows only), in
        // this copy only. The leg stored twice is one order at the venue with two legs.
        Breakage("a leg stored twice",
                 trader: """
                     CREATE TABLE legs_unconstrained AS SELECT * FROM legs;
                     DROP TABLE legs;
                     CREATE TABLE legs AS SELECT * FROM legs_unconstrained;
                     DROP TABLE legs_unconstrained;
                     INSERT INTO legs SELECT * FROM legs WHERE opportunity_id = 1 AND leg = 'a';
                     """,
                 expect: ["2: opportunity leg 1/a has more than one order",
                          "1: kalshi order \(clientOrderID(1, "a")) maps to 2 legs"]),
        // The partial unique index on live dedup keys is dropped first, in this copy only. Two
        // new rows start in Detected and log themselves (triggers), so they are also left open.
        Breakage("two live opportunities for one key",
                 trader: """
                     DROP INDEX opportunities_live_dedup_key;
                     INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b,
                         instrument_b, edge_bps, price_a, price_b, quantity, created_at_ms, updated_at_ms)
                     SELECT 'EV-TWICE|kalshi:YES|polymarket:NO', 'EV-TWICE', venue_a, outcome_a, instrument_a, venue_b, outcome_b,
                         instrument_b, edge_bps, price_a, price_b, quantity, created_at_ms, updated_at_ms
                     FROM opportunities WHERE id IN (1, 2)
                     """,
                 expect: ["3: more than one live opportunity for EV-TWICE|kalshi:YES|polymarket:NO"]),
    ]

    @Test("a leg with two orders, or a key with two live opportunities, is reported (2, 3)", arguments: uniquenessBreaks)
    func uniqueness(_ breakage: Breakage) async throws {
        try await expectRejected(breakage)
    }

    // MARK: - The transition log (4)

    /// transitions refuses UPDATE and DELETE (append-only): these drop its triggers first.
    static let transitionLogBreaks: [Breakage] = [
        Breakage("the log's first row (Detected) is gone",
                 trader: """
                     DROP TRIGGER transitions_no_delete;
                     DELETE FROM transitions WHERE id = (SELECT min(id) FROM transitions WHERE opportunity_id = 1);
                     """,
                 expect: ["4: opportunity 1 log does not start at Detected"]),
        Breakage("a row in the middle of the log is gone, so it skips a state",
                 trader: """
                     DROP TRIGGER transitions_no_delete;
                     DELETE FROM transitions WHERE opportunity_id = 1 AND to_state = 'LegsPlaced';
                     """,
                 expect: ["4: opportunity 1 logged illegal InFlight → Filled"]),
        Breakage("the log's last row is gone, so it ends before the current state",
                 trader: """
                     DROP TRIGGER transitions_no_delete;
                     DELETE FROM transitions WHERE id = (SELECT max(id) FROM transitions WHERE opportunity_id = 1);
                     """,
                 expect: ["4: opportunity 1 is Closed(hedged) but its log ends at Filled"]),
        Breakage("the log is empty",
                 trader: "DROP TRIGGER transitions_no_delete; DELETE FROM transitions WHERE opportunity_id = 1;",
                 expect: ["4: opportunity 1 log does not start at Detected",
                          "4: opportunity 1 is Closed(hedged) but its log ends at nothing"]),
        // A state the schema does not allow (the log has no CHECK on its names): the auditor
        // reports it; it must not stop on it as the trading path does.
        Breakage("the log names a state that does not exist",
                 trader: """
                     DROP TRIGGER transitions_no_update;
                     UPDATE transitions SET to_state = 'Pending' WHERE opportunity_id = 1 AND to_state = 'LegsPlaced';
                     """,
                 expect: ["4: opportunity 1 logged Pending, which is not a state"]),
        Breakage("the log closes with no outcome",
                 trader: """
                     DROP TRIGGER transitions_no_update;
                     UPDATE transitions SET outcome = NULL WHERE opportunity_id = 1 AND to_state = 'Closed';
                     """,
                 expect: ["4: opportunity 1 logged Closed, which is not a state",
                          "4: opportunity 1 is Closed(hedged) but its log ends at Closed"]),
        Breakage("the log gives a state that is not Closed an outcome",
                 trader: """
                     DROP TRIGGER transitions_no_update;
                     UPDATE transitions SET outcome = 'hedged' WHERE opportunity_id = 1 AND to_state = 'Filled';
                     """,
                 expect: ["4: opportunity 1 logged Filled(hedged), which is not a state"]),
        Breakage("a row's from is not where the log had got to",
                 trader: """
                     DROP TRIGGER transitions_no_update;
                     UPDATE transitions SET from_state = 'Bogus' WHERE opportunity_id = 1 AND to_state = 'LegsPlaced';
                     """,
                 expect: ["4: opportunity 1 logged Bogus → LegsPlaced after InFlight"]),
    ]

    @Test("a log that is corrupt or disagrees with the state is reported, never trapped on (4)", arguments: transitionLogBreaks)
    func transitionLogs(_ breakage: Breakage) async throws {
        try await expectRejected(breakage)
    }

    // MARK: - Left open, exposure alerted and delivered (5, 6)

    static let openAndAlertBreaks: [Breakage] = [
        // A new row starts in Detected and logs itself (triggers): only "left open" is wrong.
        Breakage("an opportunity left open after recovery",
                 trader: """
                     INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b,
                         instrument_b, edge_bps, price_a, price_b, quantity, created_at_ms, updated_at_ms)
                     SELECT 'EV-OPEN|kalshi:YES|polymarket:NO', 'EV-OPEN', venue_a, outcome_a, instrument_a, venue_b, outcome_b,
                         instrument_b, edge_bps, price_a, price_b, quantity, created_at_ms, updated_at_ms
                     FROM opportunities WHERE id = 1
                     """,
                 expect: ["5: opportunity 7 left in Detected"]),
        // alerts refuse DELETE (history): the trigger goes first, in this copy only.
        Breakage("a one-sided exposure has no alert",
                 trader: """
                     DROP TRIGGER alerts_no_delete;
                     DELETE FROM alert_deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE opportunity_id = 3);
                     DELETE FROM alerts WHERE opportunity_id = 3;
                     """,
                 expect: ["6: one-sided opportunity 3 has no alert"]),
        Breakage("a one-sided alert the sink never got",
                 trader: """
                     UPDATE alert_deliveries SET delivered_at_ms = NULL
                     WHERE alert_id = (SELECT id FROM alerts WHERE alert_key = '\(alertKey(3, "one_sided"))')
                     """,
                 expect: ["6: alert \(alertKey(3, "one_sided")) not delivered to file"]),
        Breakage("a one-sided alert never routed to the sink",
                 trader: """
                     DELETE FROM alert_deliveries
                     WHERE alert_id = (SELECT id FROM alerts WHERE alert_key = '\(alertKey(4, "one_sided_closed"))')
                     """,
                 expect: ["6: alert \(alertKey(4, "one_sided_closed")) not delivered to file"]),
    ]

    @Test("an opportunity left open, or an exposure not alerted to every sink, is reported (5, 6)",
          arguments: openAndAlertBreaks)
    func openAndAlerted(_ breakage: Breakage) async throws {
        try await expectRejected(breakage)
    }

    // MARK: - Closed means done at the venue (8)

    /// Rewrites a closed opportunity's outcome, in its row and its log alike, so that its history
    /// stays legal and only the fills disagree. A closed row and the log refuse this (triggers),
    /// so they go first, in this copy only. To `hedged`, the log's CancelAttempted becomes Filled
    /// (the only legal way into Closed(hedged)).
    static func rewriteOutcome(_ id: Int, to outcome: String) -> String {
        """
        DROP TRIGGER opportunities_legal_transition;
        DROP TRIGGER opportunities_log_transition;
        DROP TRIGGER transitions_no_update;
        UPDATE opportunities SET outcome = '\(outcome)' WHERE id = \(id);
        \(outcome == "hedged"
            ? "UPDATE transitions SET to_state = 'Filled' WHERE opportunity_id = \(id) AND to_state = 'CancelAttempted';"
              + " UPDATE transitions SET from_state = 'Filled' WHERE opportunity_id = \(id) AND to_state = 'Closed';"
            : "")
        UPDATE transitions SET outcome = '\(outcome)' WHERE opportunity_id = \(id) AND to_state = 'Closed';
        """
    }

    static let closedBreaks: [Breakage] = [
        Breakage("a closed opportunity's order still rests at its venue",
                 polymarket: "UPDATE paper_orders SET status = 'open' WHERE client_order_id = '\(clientOrderID(5, "b"))'",
                 expect: ["8: opportunity 5 is closed no_fill but polymarket order \(clientOrderID(5, "b")) is still open"]),
        Breakage("a closed opportunity's leg status is not its venue's",
                 trader: "UPDATE legs SET status = 'cancelled' WHERE opportunity_id = 1 AND leg = 'a'",
                 expect: ["8: opportunity 1 leg a is recorded cancelled but kalshi says filled"]),
        Breakage("closed hedged, but the fills are unequal",
                 trader: rewriteOutcome(4, to: "hedged"),
                 expect: [#"8: opportunity 4 closed hedged with fills ["6.00", "4.00"]"#]),
        Breakage("closed no_fill, but something filled",
                 trader: rewriteOutcome(4, to: "no_fill"),
                 expect: [#"8: opportunity 4 closed no_fill with fills ["6.00", "4.00"]"#]),
        Breakage("closed one_sided, but the fills are equal",
                 trader: rewriteOutcome(5, to: "one_sided"),
                 expect: [#"8: opportunity 5 closed one_sided with fills ["0.00", "0.00"]"#]),
    ]

    @Test("a closed opportunity that is not done at its venue, or whose outcome its fills deny, is reported (8)",
          arguments: closedBreaks)
    func closedAtVenue(_ breakage: Breakage) async throws {
        try await expectRejected(breakage)
    }

    // MARK: - A venue without client order ids

    @Test("a venue that files an order under its venue order id (Polymarket at the loopback exchange) maps it to its leg; a refused order its API never answers for may leave the leg not_found")
    func filedUnderVenueOrderID() async throws {
        // Every Polymarket order filed under the venue order id its leg carries: still all hold.
        let rekeyed = try await audit(Breakage(
            "rekeyed", polymarket: "PRAGMA foreign_keys = OFF; UPDATE paper_fills SET client_order_id = "
                + "(SELECT venue_order_id FROM paper_orders o WHERE o.client_order_id = paper_fills.client_order_id); "
                + "UPDATE paper_orders SET client_order_id = venue_order_id", expect: []))
        #expect(rekeyed.violations.isEmpty, "\(rekeyed.violations)")
        // Filed under an id no leg carries: an orphan order, and the leg's order missing.
        let stranger = try await audit(Breakage(
            "stranger", polymarket: "PRAGMA foreign_keys = OFF; UPDATE paper_orders SET client_order_id = 'polymarket-ffff' "
                + "WHERE client_order_id = '\(Self.clientOrderID(1, "b"))'", expect: []))
        #expect(stranger.violations.contains("1: polymarket order polymarket-ffff maps to 0 legs"), "\(stranger.violations)")
        // Refused at the venue, not found by a recovery that asked: agrees. Any other status does not.
        let forgotten = try await audit(Breakage(
            "forgotten", trader: "UPDATE legs SET status = 'not_found' WHERE opportunity_id = 6 AND leg = 'b'", expect: []))
        #expect(forgotten.violations.isEmpty, "\(forgotten.violations)")
        let cancelled = try await audit(Breakage(
            "cancelled", trader: "UPDATE legs SET status = 'not_found' WHERE opportunity_id = 5 AND leg = 'b'", expect: []))
        #expect(cancelled.violations.contains("8: opportunity 5 leg b is recorded not_found but polymarket says cancelled"),
                "\(cancelled.violations)")
    }

    // MARK: - Alerts say what their rows said

    /// `UPDATE alerts SET body_json = …` on opportunity 2's first alert.
    static func rewriteBody(_ body: String) -> String {
        "UPDATE alerts SET body_json = \(body) WHERE alert_key = '\(alertKey(2, "one_sided"))'"
    }

    static let alertBreaks: [Breakage] = [
        Breakage("an alert body that is not JSON",
                 trader: rewriteBody("'one-sided: kalshi K-1 filled 10'"),
                 expect: ["alert: \(alertKey(2, "one_sided")) body is not a JSON object: one-sided: kalshi K-1 filled 10"]),
        Breakage("an alert body cut short",
                 trader: rewriteBody(#"'{"opportunity_id":2,"filled_leg":{"venue":"kal'"#),
                 expect: [#"alert: \#(alertKey(2, "one_sided")) body is not a JSON object: {"opportunity_id":2,"filled_leg":{"venue":"kal"#]),
        Breakage("an alert body that is JSON but not an object",
                 trader: rewriteBody("'[\"one_sided\", 2]'"),
                 expect: [#"alert: \#(alertKey(2, "one_sided")) body is not a JSON object: ["one_sided", 2]"#]),
        Breakage("an empty alert body",
                 trader: rewriteBody("''"),
                 expect: ["alert: \(alertKey(2, "one_sided")) body is not a JSON object: "]),
        Breakage("a one-sided alert with no snapshot of its legs",
                 trader: "UPDATE alerts SET legs_at_commit = NULL WHERE alert_key = '\(alertKey(2, "one_sided"))'",
                 expect: ["alert: \(alertKey(2, "one_sided")) has no snapshot of its legs"]),
        Breakage("a one-sided alert whose snapshot is not JSON",
                 trader: "UPDATE alerts SET legs_at_commit = '[{\"leg\": \"a\"' WHERE alert_key = '\(alertKey(2, "one_sided"))'",
                 expect: ["alert: \(alertKey(2, "one_sided")) has no snapshot of its legs"]),
        Breakage("a one-sided alert naming an order its opportunity does not have",
                 trader: rewriteBody("json_set(body_json, '$.unfilled_leg.client_order_id', 'arb-{db}-9-b')"),
                 expect: ["alert: \(alertKey(2, "one_sided")) unfilled_leg names no leg of its opportunity"]),
        Breakage("a one-sided alert without its filled leg",
                 trader: rewriteBody("json_remove(body_json, '$.filled_leg')"),
                 expect: ["alert: \(alertKey(2, "one_sided")) filled_leg names no leg of its opportunity"]),
        Breakage("a one-sided alert stating another filled size than its row",
                 trader: rewriteBody("json_set(body_json, '$.filled_leg.size', '9.00')"),
                 expect: ["alert: \(alertKey(2, "one_sided")) says \(clientOrderID(2, "a")) filled 9.00, its row said 10.00"]),
        Breakage("a one-sided alert claiming a cancel its row never sent",
                 trader: rewriteBody("json_set(body_json, '$.unfilled_leg.cancel_attempted', json('true'))"),
                 expect: ["alert: \(alertKey(2, "one_sided")) says \(clientOrderID(2, "b")) cancel attempted 1, its row said false"]),
        Breakage("a one-sided alert claiming a cancel succeeded that got no answer",
                 trader: rewriteBody("json_set(body_json, '$.unfilled_leg.cancel_succeeded', json('true'))"),
                 expect: ["alert: \(alertKey(2, "one_sided")) says \(clientOrderID(2, "b")) cancel succeeded 1, its row said no answer"]),
    ]

    @Test("an alert that is not JSON, or says other than its rows said at its commit, is reported, never trapped on",
          arguments: alertBreaks)
    func alertsAgreeWithRows(_ breakage: Breakage) async throws {
        try await expectRejected(breakage)
    }
}

extension InvariantsTests {
    /// A client order id in the healthy history (`{db}`: its database id).
    static func clientOrderID(_ opportunity: Int, _ leg: String) -> String { "arb-{db}-\(opportunity)-\(leg)" }

    /// An alert key in the healthy history.
    static func alertKey(_ opportunity: Int, _ kind: String) -> String { "arb-{db}-\(opportunity)-\(kind)" }
}

/// One deliberate break of the healthy history: SQL for the files it touches, and the violations
/// the auditor must report for it (each word for word).
struct Breakage: Sendable, CustomTestStringConvertible {
    var name: String
    /// SQL by file name in the copied directory.
    var sql: [String: String]
    var expected: [String]

    init(_ name: String, trader: String? = nil, kalshi: String? = nil, polymarket: String? = nil, expect expected: [String]) {
        self.name = name
        var sql: [String: String] = [:]
        sql["arb.db"] = trader
        sql["paper-kalshi.db"] = kalshi
        sql["paper-polymarket.db"] = polymarket
        self.sql = sql
        self.expected = expected
    }

    var testDescription: String { name }
}

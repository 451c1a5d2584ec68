import ArbTestSupport
import Testing
@testable import OrderStateMachine

/// Schema version 6 (issue 17): the begin commit maintains no index of its own, its insert takes
/// the first step itself, and the reads that used to scan every opportunity go through the two
/// partial indexes.
@Suite("The lean begin: version 6's indexes and one-insert begin, and a version 5 file migrated to it")
struct LeanBeginTests {
    let directory = TemporaryDirectory()

    /// Version 5's text of the two triggers version 6 replaces.
    static let version5Triggers = [
        """
        CREATE TRIGGER opportunities_insert_detected
        BEFORE INSERT ON opportunities
        WHEN NEW.state IS NOT 'Detected' OR NEW.outcome IS NOT NULL OR NEW.flattened <> 0
        BEGIN
            SELECT RAISE(ABORT, 'illegal transition: a new opportunity must start in Detected');
        END;
        """,
        """
        CREATE TRIGGER opportunities_log_insert
        AFTER INSERT ON opportunities
        BEGIN
            INSERT INTO transitions (opportunity_id, from_state, to_state, outcome, reason, at_ms)
            VALUES (NEW.id, NULL, NEW.state, NEW.outcome, NEW.state_reason, NEW.updated_at_ms);
        END;
        """,
    ]

    @Test("a version 5 file migrates to 6 (and on): rows kept, the old indexes gone, its schema text the same as a new file's")
    func migration() throws {
        let path = directory.path("v5.db")
        let fresh = try Store(path: directory.path("fresh.db"), durability: .normal)
        let schemaQuery = "SELECT name, sql FROM sqlite_schema WHERE name LIKE 'opportunities%' ORDER BY name"
        let freshSQL = try fresh.connection.prepare(schemaQuery).query { "\($0.text(0)): \($0.text(1))" }
        do {
            // A version 5 file: its indexes and triggers, and rows written the version 5 way.
            let store = try Store(path: path, durability: .normal)
            try store.connection.execute("DROP INDEX opportunities_exposed")
            try store.connection.execute("CREATE INDEX opportunities_by_state ON opportunities (state, id)")
            try store.connection.execute("CREATE INDEX opportunities_by_created ON opportunities (created_at_ms)")
            for trigger in Self.version5Triggers {
                try store.connection.execute("DROP TRIGGER \(trigger.split(separator: "\n")[0].dropFirst("CREATE TRIGGER ".count))")
                try store.connection.execute(trigger)
            }
            try store.connection.execute("PRAGMA user_version = 5")
            #expect(throws: SQLiteError.self) {
                try store.connection.execute("INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, "
                    + "outcome_b, instrument_b, edge_bps, price_a, price_b, quantity, state, created_at_ms, updated_at_ms) "
                    + "VALUES ('k','e','v','o','i','v','o','i',1,1,1,1,'InFlight',0,0)")
            }
            guard case .created = try store.createOpportunity(sampleOpportunity("OLD")) else { Issue.record("not created"); return }
        }
        let store = try Store(path: path, durability: .normal)
        #expect(try store.connection.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == Store.schemaVersion)
        #expect(try store.connection.prepare(schemaQuery).query { "\($0.text(0)): \($0.text(1))" } == freshSQL)
        #expect(try store.nonTerminalOpportunities().map(\.id) == [1])
        guard case .created(let id) = try store.createAndBegin(sampleOpportunity("NEW"), reason: "gate", makeLegs: { sampleLegs(store, $0) })
        else { Issue.record("not created"); return }
        #expect(try store.transitions(of: id).map { "\($0.from?.name ?? "-")>\($0.to.name)" } == ["->Detected", "Detected>InFlight"])
    }

    @Test("the live and the exposed rows are read through their partial indexes, not by a scan of every opportunity")
    func readsUseTheIndexes() throws {
        let store = try Store(path: directory.path("plans.db"), durability: .normal)
        for sql in ["SELECT id FROM opportunities WHERE id IN (\(Store.liveIDs)) ORDER BY id",
                    "SELECT id FROM opportunities WHERE id IN (\(Store.liveIDs) UNION ALL \(Store.exposedClosedIDs)) ORDER BY id"] {
            let plan = try store.connection.prepare("EXPLAIN QUERY PLAN " + sql).query { $0.text(3) }
            #expect(plan.contains("SCAN opportunities USING INDEX opportunities_live_dedup_key"), "\(plan)")
            #expect(!plan.contains("SCAN opportunities"), "\(plan)")
        }
        // And they find what they should: live rows, closed one-sided ones until flattened, nothing else.
        guard case .created(let live) = try store.createOpportunity(sampleOpportunity("LIVE")),
              case .created(let oneSided) = try store.createOpportunity(sampleOpportunity("ONE")),
              case .created(let hedged) = try store.createOpportunity(sampleOpportunity("HEDGED"))
        else { Issue.record("not created"); return }
        let exposed = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent, .closedExposed].map { TransitionStep($0, reason: "p") }
        #expect(try store.advance(oneSided, from: .detected, steps: exposed, at: 2) == .applied(.closed(.oneSided)))
        let filled = [OpportunityEvent.riskGatePassed, .legsAcknowledged, .legsEven, .reconciled].map { TransitionStep($0, reason: "p") }
        #expect(try store.advance(hedged, from: .detected, steps: filled, at: 2) == .applied(.closed(.hedged)))
        #expect(try store.nonTerminalOpportunities().map(\.id) == [live])
        #expect(try store.oneSidedOpportunities().map(\.id) == [oneSided])
        #expect(try store.riskState(oneSidedSinceMilliseconds: 0).open.map(\.opportunity.id) == [live, oneSided])
    }
}

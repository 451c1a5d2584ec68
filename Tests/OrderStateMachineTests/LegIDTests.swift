import ArbTestSupport
import Foundation
import Testing
@testable import OrderStateMachine

/// Schema version 7 (issue 17): a leg's id is its opportunity's id and side, its client order id
/// fixed by the same two, so the begin commit maintains one legs b-tree instead of three.
@Suite("Leg ids from opportunity and side: one b-tree for the legs, and a version 6 file migrated to it")
struct LegIDTests {
    let directory = TemporaryDirectory()

    func begun(_ store: Store, _ key: String) throws -> OpportunityID {
        guard case .created(let id) = try store.createAndBegin(sampleOpportunity(key), reason: "gate", makeLegs: { sampleLegs(store, $0) })
        else { throw StoreError.transitionRefused(.notFound(0)) }
        return id
    }

    func fill(_ store: Store, _ id: OpportunityID, _ leg: LegName, trade: String, contracts: Int64) throws -> FillResult {
        try store.recordFill(FillReport(
            venue: leg == .a ? "kalshi" : "polymarket", tradeID: trade, clientOrderID: store.clientOrderID(opportunity: id, leg: leg),
            price: Price(ticks: 4_500)!, quantity: Quantity(contracts: contracts), fee: Money(cents: 1), filledAtMilliseconds: 5), at: 10)
    }

    @Test("the schema refuses a second order for a side, a client order id that is not its own, and a changed key")
    func schemaRefuses() throws {
        let store = try Store(path: directory.path("keys.db"), durability: .normal)
        let id = try begun(store, "EV")
        #expect(try store.legs(of: id).map(\.id) == [id * 2, id * 2 + 1])
        let insert = """
            INSERT INTO legs (id, opportunity_id, leg, venue, instrument, side, limit_price, quantity, time_in_force,
                client_order_id, updated_at_ms)
            VALUES (?, ?, ?, 'kalshi', 'K', 'buy', 4500, 1000, 'ioc', ?, 0)
            """
        let own = store.clientOrderID(opportunity: id, leg: .a)
        let second = try begun(store, "EV2")
        for (rowID, opportunity, leg, client) in [
            (id * 2, id, "a", own),                                               // the same leg again
            (Int64?.none, id, "a", own),                                          // an id SQLite would choose
            (second * 2 + 5, second, "a", store.clientOrderID(opportunity: second, leg: .a)),  // an id not its own
            (id * 2 + 2, id + 1, "a", "arb-\(store.databaseID)-\(id)-a"),       // another opportunity's client id
            (id * 2 + 2, id + 1, "a", "arb-ffffffff-\(id + 1)-a"),              // another database's
        ] as [(Int64?, Int64, String, String)] {
            #expect(throws: SQLiteError.self, "\(String(describing: rowID)) \(opportunity) \(leg) \(client)") {
                try store.connection.prepare(insert).execute(rowID, opportunity, leg, client)
            }
        }
        for sql in ["UPDATE legs SET client_order_id = 'arb-x-1-a' WHERE id = \(id * 2)",
                    "UPDATE legs SET leg = 'b' WHERE id = \(id * 2)",
                    "UPDATE legs SET opportunity_id = \(second) WHERE id = \(id * 2)",
                    "UPDATE legs SET id = 1000 WHERE id = \(id * 2)"] {
            #expect(throws: SQLiteError.self, "\(sql)") { try store.connection.execute(sql) }
        }
        // What may change still does.
        try store.connection.execute("UPDATE legs SET status = 'open' WHERE id = \(id * 2)")
    }

    @Test("a client order id is parsed into its leg's id; anything not a leg of this database names none")
    func parse() throws {
        let store = try Store(path: directory.path("parse.db"), durability: .normal)
        let db = store.databaseID
        #expect(store.legID(clientOrderID: "arb-\(db)-7-a") == 14)
        #expect(store.legID(clientOrderID: "arb-\(db)-7-b") == 15)
        for other in ["arb-\(db)-7-u1", "arb-\(db)-07-a", "arb-\(db)-7-c", "arb-\(db)--7-a", "arb-\(db)-0-a", "arb-\(db)-7",
                      "arb-\(db)-a", "arb-\(db)-99999999999999999999-a", "arb-\(db)-\(Int64.max)-a", "arb-ffffffff-7-a",
                      "arb-\(db)-+7-a", "", "7-a"] {
            #expect(store.legID(clientOrderID: other) == nil, "\(other)")
        }
        // Through the store's reads and writes: an unwind order's id or a stranger's is no leg.
        let id = try begun(store, "EV")
        #expect(try store.leg(clientOrderID: store.clientOrderID(opportunity: id, leg: .b))?.leg == .b)
        #expect(try store.leg(clientOrderID: "arb-\(db)-\(id)-u1") == nil)
        #expect(try store.leg(clientOrderID: "arb-ffffffff-\(id)-b") == nil)
        #expect(try fill(store, id, .b, trade: "t1", contracts: 3) == .recorded)
        #expect(try store.recordFill(FillReport(
            venue: "polymarket", tradeID: "t2", clientOrderID: "arb-ffffffff-\(id)-b", price: Price(ticks: 4_500)!,
            quantity: Quantity(contracts: 1), fee: .zero, filledAtMilliseconds: 5), at: 10) == .unknownOrder)
    }

    @Test("a begin commit appends at most six WAL pages: the row, its dedup entry, its log rows and their index, the legs")
    func beginPages() throws {
        let store = try Store(path: directory.path("pages.db"), durability: .normal)
        for index in 0..<300 { _ = try begun(store, "WARM-\(index)") }
        var frames: Int64 = 0
        let counted = 100
        for index in 0..<counted {
            try store.checkpoint()
            _ = try begun(store, "EV-\(index)")
            frames += try store.connection.prepare("PRAGMA wal_checkpoint(PASSIVE)").queryOne { $0.int64(1) } ?? 0
        }
        let perBegin = Double(frames) / Double(counted)
        // Version 6 wrote 8.3–8.9 here: two more legs indexes, one of them on text that splits
        // mid-tree. Five b-trees at their right edge, plus the occasional new page.
        #expect(perBegin <= 6.0, "\(perBegin) WAL pages per begin")
    }

    /// Version 6's legs table and the one trigger whose text version 7 changed.
    static let version6Legs = """
        CREATE TABLE legs (
            id                 INTEGER PRIMARY KEY,
            opportunity_id     INTEGER NOT NULL REFERENCES opportunities (id),
            leg                TEXT    NOT NULL CHECK (leg IN ('a', 'b')),
            venue              TEXT    NOT NULL,
            instrument         TEXT    NOT NULL,
            side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
            limit_price        INTEGER NOT NULL CHECK (limit_price > 0 AND limit_price < 10000),
            quantity           INTEGER NOT NULL CHECK (quantity > 0),
            time_in_force      TEXT    NOT NULL CHECK (time_in_force IN ('ioc', 'fok', 'gtc')),
            client_order_id    TEXT    NOT NULL UNIQUE,
            venue_order_id     TEXT,
            status             TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN
                                   ('pending', 'unknown', 'open', 'partially_filled', 'filled',
                                    'cancelled', 'rejected', 'not_found')),
            status_reason      TEXT,
            cancel_requested   INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
            cancel_result      TEXT    CHECK (cancel_result IN ('cancelled', 'already_done', 'failed', 'unknown')),
            filled_quantity    INTEGER NOT NULL DEFAULT 0,
            filled_cost_micros INTEGER NOT NULL DEFAULT 0,
            fees_micros        INTEGER NOT NULL DEFAULT 0,
            average_price      INTEGER GENERATED ALWAYS AS
                                   (CASE WHEN filled_quantity > 0 THEN filled_cost_micros / filled_quantity END) VIRTUAL,
            updated_at_ms      INTEGER NOT NULL,
            UNIQUE (opportunity_id, leg),
            CHECK (filled_quantity >= 0 AND filled_quantity <= quantity)
        )
        """
    static let version6Snapshot = """
        CREATE TRIGGER alerts_snapshot_legs
        AFTER INSERT ON alerts
        WHEN NEW.opportunity_id IS NOT NULL
        BEGIN
            UPDATE alerts SET legs_at_commit = (
                SELECT json_group_array(json_object(
                           'leg', leg, 'client_order_id', client_order_id, 'venue', venue, 'status', status,
                           'filled_quantity', filled_quantity, 'cancel_requested', cancel_requested,
                           'cancel_result', cancel_result))
                  FROM (SELECT * FROM legs WHERE opportunity_id = NEW.opportunity_id ORDER BY leg))
             WHERE id = NEW.id;
        END
        """

    /// Version 7 spelled every CHECK and trigger list of three or more values with OR: the
    /// version 6 text of each (version 7's, version 6's), put back by `downgrade`.
    static let version6Lists: [(String, String)] = [
        ("state = 'Detected' OR state = 'InFlight' OR state = 'LegsPlaced' OR state = 'Filled'\n"
            + "                          OR state = 'OneSided' OR state = 'CancelAttempted' OR state = 'Unwinding' OR state = 'Closed'",
         "state IN ('Detected', 'InFlight', 'LegsPlaced', 'Filled', 'OneSided', 'CancelAttempted', 'Unwinding', 'Closed')"),
        ("(NEW.state = 'Filled' OR NEW.state = 'OneSided' OR NEW.state = 'CancelAttempted')",
         "NEW.state IN ('Filled', 'OneSided', 'CancelAttempted')"),
        ("status = 'pending' OR status = 'unknown' OR status = 'open' OR status = 'partially_filled'\n"
            + "                           OR status = 'filled' OR status = 'cancelled' OR status = 'rejected' OR status = 'not_found'",
         "status IN ('pending', 'unknown', 'open', 'partially_filled', 'filled', 'cancelled', 'rejected', 'not_found')"),
        ("severity = 'info' OR severity = 'warning' OR severity = 'critical'", "severity IN ('info', 'warning', 'critical')"),
    ]

    /// Turns a version 7 file into the version 6 shape: legs numbered as version 6 did (in order
    /// of insert — here the reverse of the derived order, so a migration that kept ids fails),
    /// fills pointing at them, version 6's table and snapshot trigger. `corrupt` runs last.
    func downgrade(_ path: String, corrupt: String? = nil) throws {
        let store = try Store(path: path, durability: .normal)
        let c = store.connection
        try c.execute("PRAGMA foreign_keys = OFF")
        try c.writeTransaction {
            for trigger in ["fills_accumulate_on_leg", "fills_no_update", "fill_reversals_subtract_from_leg", "alerts_snapshot_legs"] {
                try c.execute("DROP TRIGGER \(trigger)")
            }
            try c.execute("PRAGMA legacy_alter_table = ON")
            try c.execute("ALTER TABLE legs RENAME TO legs_v7")
            try c.execute("PRAGMA legacy_alter_table = OFF")
            try c.execute(Self.version6Legs)
            let columns = "opportunity_id, leg, venue, instrument, side, limit_price, quantity, time_in_force, client_order_id, "
                + "venue_order_id, status, status_reason, cancel_requested, cancel_result, filled_quantity, filled_cost_micros, "
                + "fees_micros, updated_at_ms"
            try c.execute("""
                INSERT INTO legs (id, \(columns))
                SELECT row_number() OVER (ORDER BY id DESC), \(columns) FROM legs_v7
                """)
            try c.execute("""
                UPDATE fills SET leg_id = (SELECT l.id FROM legs l JOIN legs_v7 v USING (opportunity_id, leg) WHERE v.id = fills.leg_id)
                """)
            try c.execute("DROP TABLE legs_v7")
            try c.execute(Schema.statement(creating: "legs_no_delete"))
            for trigger in ["fills_accumulate_on_leg", "fills_no_update", "fill_reversals_subtract_from_leg"] {
                try c.execute(Schema.statement(creating: trigger))
            }
            try c.execute(Self.version6Snapshot)
            let schemaVersion = try c.prepare("PRAGMA schema_version").queryOne { $0.int64(0) } ?? 0
            try c.execute("PRAGMA writable_schema = ON")
            for (new, old) in Self.version6Lists {
                try c.prepare("UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE instr(sql, ?) > 0").execute(new, old, new)
                #expect(c.changes == 1, "\(new)")
            }
            try c.execute("PRAGMA schema_version = \(schemaVersion + 1)")
            try c.execute("PRAGMA writable_schema = OFF")
            if let corrupt { try c.execute(corrupt) }
            try c.execute("PRAGMA user_version = 6")
        }
        try c.execute("PRAGMA foreign_keys = ON")
        try store.checkpoint()
    }

    /// Every leg as (opportunity, side, client order id, filled, cost, fees), every fill as
    /// (trade, opportunity, side): what a migration must keep.
    func contents(_ store: Store) throws -> [String] {
        try store.connection.prepare("""
            SELECT opportunity_id || '/' || leg || ' ' || client_order_id || ' ' || filled_quantity || ' '
                   || filled_cost_micros || ' ' || fees_micros || ' ' || status FROM legs ORDER BY opportunity_id, leg
            """).query { $0.text(0) }
        + store.connection.prepare("""
            SELECT f.trade_id || ' → ' || l.opportunity_id || '/' || l.leg FROM fills f JOIN legs l ON l.id = f.leg_id
            ORDER BY f.trade_id
            """).query { $0.text(0) }
    }

    @Test("a version 6 file migrates to 7: legs renumbered, fills follow them, sums and alerts as they were, schema as a new file's")
    func migration() throws {
        let path = directory.path("v6.db")
        let schemaQuery = "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name"
        let fresh = try Store(path: directory.path("fresh.db"), durability: .normal)
        let freshSchema = try fresh.connection.prepare(schemaQuery).query { $0.text(0) }
        var before: [String] = []
        var ids: [OpportunityID] = []
        do {
            let store = try Store(path: path, durability: .normal)
            for key in ["E1", "E2", "E3"] { ids.append(try begun(store, key)) }
            #expect(try fill(store, ids[0], .a, trade: "t1", contracts: 4) == .recorded)
            #expect(try fill(store, ids[0], .b, trade: "t2", contracts: 10) == .recorded)
            #expect(try fill(store, ids[2], .b, trade: "t3", contracts: 2) == .recorded)
            before = try contents(store)
        }
        try downgrade(path)
        do {
            // The version 6 shape really is in place: ids in insert order, reversed here.
            let raw = try Connection(path: path, mode: .readOnly)
            #expect(try raw.prepare("SELECT id FROM legs WHERE opportunity_id = \(ids[0]) AND leg = 'a'").queryOne { $0.int64(0) } == 6)
            #expect(try raw.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == 6)
        }
        // A read-only open does not migrate, and says what to do.
        #expect {
            _ = try Store(path: path, access: .readOnly)
        } throws: { error in
            "\(error)".contains("schema version 6, older than this build's (7)") && "\(error)".contains("arbadmin reconcile")
        }
        let store = try Store(path: path, durability: .normal)
        #expect(try store.connection.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == 7)
        #expect(try store.connection.prepare(schemaQuery).query { $0.text(0) } == freshSchema)
        #expect(try contents(store) == before)
        #expect(try store.connection.prepare("PRAGMA foreign_keys").queryOne { $0.int64(0) } == 1)
        #expect(try store.connection.prepare("PRAGMA integrity_check").query { $0.text(0) } == ["ok"])
        for id in ids { #expect(try store.legs(of: id).map(\.id) == [id * 2, id * 2 + 1]) }
        // Fills after the migration land on the right leg; an alert snapshots the right legs.
        #expect(try fill(store, ids[1], .a, trade: "t4", contracts: 1) == .recorded)
        #expect(try fill(store, ids[0], .a, trade: "t1", contracts: 4) == .duplicate)
        #expect(try store.leg(clientOrderID: store.clientOrderID(opportunity: ids[1], leg: .a))?.filledQuantity == Quantity(contracts: 1))
        try store.connection.writeTransaction {
            try store.insertAlert(NewAlert(key: "k", kind: "test", severity: .info, text: "t", bodyJSON: "{}"), opportunity: ids[0], at: 1)
        }
        let snapshot = try store.connection.prepare("SELECT legs_at_commit FROM alerts WHERE alert_key = 'k'").queryOne { $0.text(0) }
        #expect(snapshot?.contains("\"client_order_id\":\"\(store.clientOrderID(opportunity: ids[0], leg: .a))\"") == true)
        #expect(snapshot?.contains("\"filled_quantity\":1000") == true, "\(snapshot ?? "nil")")
        // And the next begin takes the new, lean path.
        let next = try begun(store, "E4")
        #expect(try store.legs(of: next).map(\.id) == [next * 2, next * 2 + 1])
    }

    @Test("a version 6 file with a leg whose client order id is not its own is refused, one line, and left as it was")
    func migrationRefusesAnOddLeg() throws {
        let path = directory.path("odd.db")
        do {
            let store = try Store(path: path, durability: .normal)
            _ = try begun(store, "E1")
        }
        try downgrade(path, corrupt: "UPDATE legs SET client_order_id = 'hand-typed' WHERE leg = 'b'")
        let bytes = fileContents(path)
        #expect {
            _ = try Store(path: path, durability: .normal)
        } throws: { error in
            let text = "\(error)"
            return text.contains("hand-typed") && text.contains("restore it from a backup") && !text.contains("\n")
        }
        #expect(fileContents(path) == bytes)
        #expect(try Connection(path: path, mode: .readOnly).prepare("PRAGMA user_version").queryOne { $0.int64(0) } == 6)
    }
}

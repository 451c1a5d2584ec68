import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How hard a commit waits for the disk (https://sqlite.org/pragma.html#pragma_synchronous).
public enum Durability: String, Sendable, Hashable, Codable, CaseIterable {
    /// `synchronous=FULL`: a commit survives power loss. The default: a commit that precedes a
    /// send must be on disk before the order leaves.
    case full
    /// `synchronous=NORMAL`: in WAL mode a commit survives a crash of the process but the last
    /// transactions may roll back on power loss.
    case normal
}

/// Why a database file was refused. Each description is one line that names the file, the
/// problem and what to do. A refused file is never written.
public enum DatabaseFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(path: String)
    case isDirectory(path: String)
    case empty(path: String)
    case notSQLite(path: String)
    case foreignApplication(path: String, applicationID: Int32)
    case newerSchema(path: String, found: Int64, supported: Int64)
    /// Opened read-only, so not migrated: this build's queries assume its own schema.
    case olderSchema(path: String, found: Int64, current: Int64)
    case damaged(path: String, detail: String)
    case cannotCreate(path: String, detail: String)
    case cannotOpen(path: String, detail: String)

    public var description: String {
        switch self {
        case .missing(let path):
            "no database at \(path): run `arb run` to create one, or pass --db with the right path"
        case .isDirectory(let path):
            "\(path) is a directory, not a database file: pass --db with a file path"
        case .empty(let path):
            "\(path) is an empty file, not an arb database: remove it or pass --db with another path"
        case .notSQLite(let path):
            "\(path) is not an arb database (not a SQLite file): pass --db with the right path"
        case .foreignApplication(let path, let applicationID):
            applicationID == 0
                ? "\(path) is a SQLite database of another application (no arb application_id): pass --db with an arb database"
                : "\(path) is a SQLite database of another application (application_id \(applicationID)): pass --db with an arb database"
        case .newerSchema(let path, let found, let supported):
            "\(path) has schema version \(found), newer than this build supports (\(supported)): upgrade arb to open it"
        case .olderSchema(let path, let found, let current):
            "\(path) has schema version \(found), older than this build's (\(current)), and a read-only open does not upgrade it: "
                + "run `arbadmin reconcile --db \(path)` (or start the trader on it) once to upgrade it"
        case .damaged(let path, let detail):
            "\(path) is damaged (\(detail)): restore it from a backup; the file was not changed"
        case .cannotCreate(let path, let detail):
            "cannot create database \(path): \(detail)"
        case .cannotOpen(let path, let detail):
            "cannot open database \(path): \(detail)"
        }
    }
}

/// Creating, identifying, migrating and configuring arb's database files (DESIGN §4).
public enum DatabaseFile {
    /// `PRAGMA application_id` of every arb database: "ARB1".
    public static let applicationID: Int32 = 0x4152_4231

    public enum Access: Sendable {
        /// Open an existing database, or create it (atomically) if the path does not exist.
        case createIfMissing
        /// Open an existing database for writing.
        case existing
        /// Open an existing database read-only: nothing is ever written.
        case readOnly
    }

    /// Opens `path` after proving it is ours (``OwnedFile``), migrates an older schema and
    /// applies the connection settings. A file that is not ours, or is newer, is refused before
    /// SQLite writes to it.
    public static func open(
        path: String,
        access: Access,
        durability: Durability = .full,
        busyTimeoutMilliseconds: Int32 = 5_000,
        newDatabaseID: () -> String = { randomDatabaseID() }
    ) throws -> Connection {
        let (connection, version): (Connection, Int64)
        do {
            (connection, version) = try OwnedFile.open(
                path: path, applicationID: applicationID, schemaVersion: Schema.version, access: access,
                busyTimeoutMilliseconds: busyTimeoutMilliseconds, initialize: { try initialize($0, databaseID: newDatabaseID()) })
        } catch {
            throw refusal(error, path: path)
        }
        do {
            if access != .readOnly {
                try connection.execute("PRAGMA journal_mode = WAL")
                try connection.execute("PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
                try connection.execute("PRAGMA foreign_keys = ON")
                if version < Schema.version {
                    try migrate(connection, from: version)
                }
            } else {
                if version < Schema.version {
                    throw DatabaseFileError.olderSchema(path: path, found: version, current: Schema.version)
                }
                try connection.execute("PRAGMA query_only = ON")
            }
        } catch let error as SQLiteError {
            throw refusal(OwnedFile.classify(error), path: path)
        }
        return connection
    }

    /// A refusal in the trader database's words.
    static func refusal(_ refusal: OwnedFileRefusal, path: String) -> DatabaseFileError {
        switch refusal {
        case .missing: .missing(path: path)
        case .isDirectory: .isDirectory(path: path)
        case .empty: .empty(path: path)
        case .notSQLite: .notSQLite(path: path)
        case .foreignApplication(let found): .foreignApplication(path: path, applicationID: found)
        case .newerSchema(let found): .newerSchema(path: path, found: found, supported: Schema.version)
        case .damaged(let detail): .damaged(path: path, detail: detail)
        case .cannotCreate(let detail): .cannotCreate(path: path, detail: detail)
        case .cannotOpen(let detail): .cannotOpen(path: path, detail: detail)
        }
    }

    // MARK: - Creation and migration

    /// A new database's schema, identity and id, in one transaction (``OwnedFile`` makes the
    /// file whole or not at all).
    static func initialize(_ connection: Connection, databaseID: String) throws {
        try connection.execute("PRAGMA foreign_keys = ON")
        try connection.writeTransaction {
            try connection.execute(Schema.sql)
            try connection.execute("PRAGMA application_id = \(applicationID)")
            try connection.execute("PRAGMA user_version = \(Schema.version)")
            try connection.prepare("INSERT INTO settings (key, value, updated_at_ms) VALUES ('database_id', ?, 0)")
                .execute(databaseID)
        }
    }

    /// Schema migrations: `from` is the file's `user_version`, below `Schema.version`.
    /// Each step runs in one transaction with its version bump.
    static func migrate(_ connection: Connection, from version: Int64) throws {
        if version < 1 {
            throw DatabaseFileError.damaged(path: connection.path, detail: "schema version \(version) in an arb file")
        }
        if version < 2 {
            // 2: alerts keep the leg rows as they stood at their commit (schema.sql, alerts_snapshot_legs).
            try connection.writeTransaction {
                try connection.execute("ALTER TABLE alerts ADD COLUMN legs_at_commit TEXT")
                try connection.execute(Schema.statement(creating: "alerts_snapshot_legs"))
                try connection.execute("PRAGMA user_version = 2")
            }
        }
        if version < 3 {
            // 3: provisional fills (Polymarket's MATCHED trades), their reversals, and Filled → OneSided
            // when a reversal leaves the legs unequal.
            try connection.writeTransaction {
                try connection.execute("ALTER TABLE fills ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0 "
                    + "CHECK (provisional IN (0, 1))")
                try connection.execute(Schema.statement(creatingTable: "fill_reversals"))
                for trigger in ["fills_no_update", "opportunities_legal_transition"] {
                    try connection.execute("DROP TRIGGER \(trigger)")
                    try connection.execute(Schema.statement(creating: trigger))
                }
                for trigger in ["fill_reversals_only_provisional", "fill_reversals_subtract_from_leg", "fill_reversals_no_update",
                                "fill_reversals_no_delete"] {
                    try connection.execute(Schema.statement(creating: trigger))
                }
                try connection.execute("PRAGMA user_version = 3")
            }
        }
        if version < 4 {
            // 4: the state Unwinding and the outcomes completed and flattened (an unwound
            // one-sided exposure), and the unwind orders and their fills (new tables). Of the
            // existing tables only CHECK constraints of `opportunities` change, which SQLite
            // allows by rewriting the table's text in sqlite_schema (https://sqlite.org/lang_altertable.html,
            // "Making Other Kinds Of Table Schema Changes": the stored rows need no change); the
            // transition trigger is replaced. The rewrite is checked before the commit.
            try connection.writeTransaction {
                try rewriteCheckConstraints(connection, of: ["opportunities"], migratingTo: 4)
                try connection.execute("DROP TRIGGER opportunities_legal_transition")
                try connection.execute(Schema.statement(creating: "opportunities_legal_transition"))
                // The unwind orders and their fills, new tables.
                try connection.execute(Schema.statement(creatingTable: "unwind_orders"))
                try connection.execute(Schema.statement(creatingTable: "unwind_fills"))
                try connection.execute("CREATE INDEX unwind_fills_by_order ON unwind_fills (unwind_order_id)")
                for trigger in ["unwind_orders_only_unwinding", "unwind_orders_no_delete", "unwind_fills_accumulate",
                                "unwind_fills_reverse", "unwind_fills_no_update", "unwind_fills_no_delete"] {
                    try connection.execute(Schema.statement(creating: trigger))
                }
                try connection.execute("PRAGMA user_version = 4")
            }
        }
        if version < 5 {
            // 5: an operator may reopen a Closed(one_sided) exposure to unwind it (`arbadmin
            // unwind`): the transition trigger gains Closed(one_sided) → Unwinding.
            try connection.writeTransaction {
                try connection.execute("DROP TRIGGER opportunities_legal_transition")
                try connection.execute(Schema.statement(creating: "opportunities_legal_transition"))
                try connection.execute("PRAGMA user_version = 5")
            }
        }
        if version < 6 {
            // 6: a leaner begin commit (issue 17). The insert may take the first step itself
            // (Detected → InFlight, or → Closed abandoned) with both log rows written by the
            // trigger, and the two indexes no query used (`state`, `created_at_ms`) give way to
            // one an insert never touches: the open one-sided exposures.
            try connection.writeTransaction {
                // IF EXISTS: each step leaves the file as schema.sql says, whatever shape it had.
                for index in ["opportunities_by_state", "opportunities_by_created", "opportunities_exposed"] {
                    try connection.execute("DROP INDEX IF EXISTS \(index)")
                }
                try connection.execute(Schema.statement(creatingIndex: "opportunities_exposed"))
                for trigger in ["opportunities_insert_detected", "opportunities_log_insert"] {
                    try connection.execute("DROP TRIGGER \(trigger)")
                    try connection.execute(Schema.statement(creating: trigger))
                }
                try connection.execute("PRAGMA user_version = 6")
            }
        }
        if version < 7 {
            try migrateLegsToDerivedIDs(connection)
        }
    }

    /// Replaces the stored text of `tables` with schema.sql's, where only CHECK constraints
    /// differ — which SQLite allows by rewriting the text in sqlite_schema
    /// (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes":
    /// the stored rows need no change). The rewrite is checked before the caller's commit.
    static func rewriteCheckConstraints(_ connection: Connection, of tables: [String], migratingTo version: Int) throws {
        let schemaVersion = try connection.prepare("PRAGMA schema_version").queryOne { $0.int64(0) } ?? 0
        try connection.execute("PRAGMA writable_schema = ON")
        do {
            for name in tables {
                var table = Schema.statement(creatingTable: name)
                if table.hasSuffix(";") { table.removeLast() }
                try connection.prepare("UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?").execute(table, name)
            }
            try connection.execute("PRAGMA schema_version = \(schemaVersion + 1)")
            try connection.execute("PRAGMA writable_schema = OFF")
        } catch {
            try? connection.execute("PRAGMA writable_schema = OFF")
            throw error
        }
        let check = try connection.prepare("PRAGMA integrity_check").query { $0.text(0) }
        guard check == ["ok"] else {
            throw DatabaseFileError.damaged(
                path: connection.path, detail: "after the version \(version) migration: \(check.joined(separator: "; "))")
        }
    }

    /// 7: a leg's id is its opportunity's id and side, its client order id fixed by the same two
    /// (schema.sql, `legs`), and the two indexes that enforced both are gone. The table is
    /// rebuilt (SQLite's "Making Other Kinds Of Table Schema Changes",
    /// https://sqlite.org/lang_altertable.html: the old table renamed away, the new one created
    /// from schema.sql's text, the rows copied, the old dropped) and the fills' `leg_id`
    /// renumbered, in one transaction with foreign keys off, checked before the commit. A leg
    /// whose client order id is not the one its opportunity and side give is refused: the file
    /// is left as it was. Also: every CHECK and trigger spells a list of three or more values
    /// with OR, not IN (schema.sql's header says why) — the tables' text is rewritten, the
    /// transition trigger replaced.
    static func migrateLegsToDerivedIDs(_ connection: Connection) throws {
        try connection.execute("PRAGMA foreign_keys = OFF")
        defer { try? connection.execute("PRAGMA foreign_keys = ON") }
        try connection.writeTransaction {
            let odd = try connection.prepare("""
                SELECT client_order_id FROM legs
                WHERE client_order_id IS NOT ('arb-' || (SELECT value FROM settings WHERE key = 'database_id')
                                              || '-' || opportunity_id || '-' || leg)
                LIMIT 1
                """).queryOne { $0.text(0) }
            if let odd {
                throw DatabaseFileError.damaged(
                    path: connection.path, detail: "leg client order id \(odd) is not arb-<database id>-<opportunity id>-<leg>")
            }
            // The triggers of other tables that name `legs` go first (the rename would point them
            // at the old table) and come back from schema.sql at the end.
            let triggers = ["fills_accumulate_on_leg", "fills_no_update", "fill_reversals_subtract_from_leg", "alerts_snapshot_legs"]
            for trigger in triggers { try connection.execute("DROP TRIGGER \(trigger)") }
            // legacy_alter_table: the rename must not rewrite the fills' REFERENCES legs (id) to
            // the old table (SQLite ≥ 3.26 does unless this is on).
            try connection.execute("PRAGMA legacy_alter_table = ON")
            defer { try? connection.execute("PRAGMA legacy_alter_table = OFF") }
            try connection.execute("ALTER TABLE legs RENAME TO legs_v6")
            try connection.execute(Schema.statement(creatingTable: "legs"))
            let columns = """
                opportunity_id, leg, venue, instrument, side, limit_price, quantity, time_in_force, client_order_id,
                venue_order_id, status, status_reason, cancel_requested, cancel_result, filled_quantity, filled_cost_micros,
                fees_micros, updated_at_ms
                """
            try connection.execute("""
                INSERT INTO legs (id, \(columns))
                SELECT opportunity_id * 2 + (leg = 'b'), \(columns) FROM legs_v6 ORDER BY opportunity_id, leg
                """)
            try connection.execute("""
                UPDATE fills SET leg_id = (SELECT l.opportunity_id * 2 + (l.leg = 'b') FROM legs_v6 l WHERE l.id = fills.leg_id)
                """)
            try connection.execute("DROP TABLE legs_v6")
            for trigger in ["legs_no_delete", "legs_client_order_id", "legs_keys_are_fixed"] + triggers {
                try connection.execute(Schema.statement(creating: trigger))
            }
            try rewriteCheckConstraints(connection, of: ["opportunities", "unwind_orders", "alerts"], migratingTo: 7)
            try connection.execute("DROP TRIGGER opportunities_legal_transition")
            try connection.execute(Schema.statement(creating: "opportunities_legal_transition"))
            let dangling = try connection.prepare("PRAGMA foreign_key_check").query { $0.text(0) }
            guard dangling.isEmpty else {
                throw DatabaseFileError.damaged(
                    path: connection.path, detail: "after the version 7 migration, rows point at nothing in \(Set(dangling).sorted())")
            }
            try connection.execute("PRAGMA user_version = 7")
        }
    }

    /// Eight hex digits that name a database in client order ids, so two databases never
    /// produce the same id.
    public static func randomDatabaseID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = UInt32.random(in: .min ... .max, using: &generator)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}

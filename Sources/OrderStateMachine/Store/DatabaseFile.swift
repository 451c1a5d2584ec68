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

    /// Opens `path` after proving it is ours, migrates an older schema and applies the connection
    /// settings. A file that is not ours, or is newer, is refused before SQLite writes to it.
    public static func open(
        path: String,
        access: Access,
        durability: Durability = .full,
        busyTimeoutMilliseconds: Int32 = 5_000,
        newDatabaseID: () -> String = { randomDatabaseID() }
    ) throws -> Connection {
        switch try inspect(path: path) {
        case .absent:
            guard access == .createIfMissing else { throw DatabaseFileError.missing(path: path) }
            try create(path: path, databaseID: newDatabaseID())
            // Ours, or (after a lost creation race) the winner's: inspected like any existing file.
            _ = try inspect(path: path)
        case .ours:
            break
        }
        let connection: Connection
        do {
            connection = try Connection(path: path, mode: access == .readOnly ? .readOnly : .readWrite)
            try connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
        } catch let error as SQLiteError {
            throw DatabaseFileError.cannotOpen(path: path, detail: error.message)
        }
        // SQLite opens a file it may not write read-only without a word; the first write would
        // then fail far from here. Refused now, before anything (even a -wal) is created.
        if access != .readOnly && sqlite3_db_readonly(connection.handle, "main") == 1 {
            throw DatabaseFileError.cannotOpen(path: path, detail: "it is read-only for this user, and a writer must write it")
        }
        let version: Int64
        do {
            version = try connection.pragmaInteger("user_version")
        } catch let error as SQLiteError {
            throw classify(error, path: path)
        }
        if version > Schema.version {
            throw DatabaseFileError.newerSchema(path: path, found: version, supported: Schema.version)
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
                try connection.execute("PRAGMA query_only = ON")
            }
        } catch let error as SQLiteError {
            throw classify(error, path: path)
        }
        return connection
    }

    // MARK: - Identity

    enum Inspection { case absent, ours }

    /// Reads the 100-byte SQLite header directly (https://sqlite.org/fileformat.html#the_database_header),
    /// so a foreign file is refused before SQLite opens it — SQLite could otherwise write to it
    /// (a hot journal rollback, a WAL switch).
    static func inspect(path: String) throws -> Inspection {
        let header: SQLiteFileHeader
        do {
            header = try SQLiteFileHeader.read(path: path)
        } catch {
            throw DatabaseFileError.cannotOpen(path: path, detail: error.detail)
        }
        switch header {
        case .absent: return .absent
        case .directory: throw DatabaseFileError.isDirectory(path: path)
        case .empty: throw DatabaseFileError.empty(path: path)
        case .notSQLite: throw DatabaseFileError.notSQLite(path: path)
        case .sqlite(let applicationID, let userVersion):
            guard applicationID == Self.applicationID else {
                throw DatabaseFileError.foreignApplication(path: path, applicationID: applicationID)
            }
            // Checked again through SQLite after opening (a WAL not yet checkpointed may hold a
            // newer value); checking here first means a newer file is refused before SQLite
            // creates its -wal and -shm beside it.
            if userVersion > Schema.version {
                throw DatabaseFileError.newerSchema(path: path, found: userVersion, supported: Schema.version)
            }
            return .ours
        }
    }

    static func classify(_ error: SQLiteError, path: String) -> Error {
        switch error.code.primary {
        case .notADatabase: DatabaseFileError.notSQLite(path: path)
        case .corrupt: DatabaseFileError.damaged(path: path, detail: error.message)
        default: DatabaseFileError.cannotOpen(path: path, detail: error.message)
        }
    }

    // MARK: - Creation and migration

    /// Creates the database whole or not at all (see `SQLiteFileCreation`).
    static func create(path: String, databaseID: String) throws {
        do {
            try SQLiteFileCreation.create(path: path) { connection in
                try connection.execute("PRAGMA foreign_keys = ON")
                try connection.writeTransaction {
                    try connection.execute(Schema.sql)
                    try connection.execute("PRAGMA application_id = \(applicationID)")
                    try connection.execute("PRAGMA user_version = \(Schema.version)")
                    try connection.prepare("INSERT INTO settings (key, value, updated_at_ms) VALUES ('database_id', ?, 0)")
                        .execute(databaseID)
                }
            }
        } catch {
            throw DatabaseFileError.cannotCreate(path: path, detail: error.detail)
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

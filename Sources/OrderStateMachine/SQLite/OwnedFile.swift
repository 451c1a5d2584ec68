import CSQLite

/// Why a file was refused as one of arb's own SQLite files, before its owner puts it in its
/// own words (`DatabaseFileError`, `PaperVenueFileError`). A refused file is never written.
public enum OwnedFileRefusal: Error, Sendable, Equatable {
    case missing
    case isDirectory
    case empty
    case notSQLite
    case foreignApplication(Int32)
    case newerSchema(found: Int64)
    case damaged(String)
    case cannotCreate(String)
    case cannotOpen(String)
}

/// The one routine that identifies, creates and opens arb's own SQLite files — the trader's
/// database and each paper venue's file: the same proof of identity, the same atomic creation,
/// the same refusals, each kind with its own application id and schema version.
public enum OwnedFile {
    /// Opens `path` after proving it is a file of `applicationID` no newer than `schemaVersion`,
    /// creating it first (whole or not at all, by `initialize`) when it is absent and `access`
    /// allows. Identity is read from the header before SQLite touches the file (SQLite could
    /// otherwise write to a foreign one: a hot journal rollback, a WAL switch, a `-wal` beside it),
    /// then again through SQLite (a WAL not yet checkpointed may hold newer values). Returns the
    /// connection and the file's schema version; pragmas and migrations are the caller's.
    public static func open(
        path: String, applicationID: Int32, schemaVersion: Int64, access: DatabaseFile.Access,
        busyTimeoutMilliseconds: Int32, initialize: (Connection) throws -> Void
    ) throws(OwnedFileRefusal) -> (connection: Connection, version: Int64) {
        if try identify(path: path, applicationID: applicationID, schemaVersion: schemaVersion) == .absent {
            guard access == .createIfMissing else { throw .missing }
            do {
                try SQLiteFileCreation.create(path: path, initialize: initialize)
            } catch {
                throw .cannotCreate(error.detail)
            }
            // Ours, or (after a lost creation race) the winner's: identified like any existing file.
            _ = try identify(path: path, applicationID: applicationID, schemaVersion: schemaVersion)
        }
        let connection: Connection
        do {
            connection = try Connection(path: path, mode: access == .readOnly ? .readOnly : .readWrite)
            try connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
        } catch let error as SQLiteError {
            throw .cannotOpen(error.message)
        } catch {
            throw .cannotOpen("\(error)")
        }
        // SQLite opens a file it may not write read-only without a word; the first write would
        // then fail far from here. Refused now, before anything (even a -wal) is created.
        if access != .readOnly && sqlite3_db_readonly(connection.handle, "main") == 1 {
            throw .cannotOpen("it is read-only for this user, and a writer must write it")
        }
        do {
            let found = Int32(truncatingIfNeeded: try connection.pragmaInteger("application_id"))
            guard found == applicationID else { throw OwnedFileRefusal.foreignApplication(found) }
            let version = try connection.pragmaInteger("user_version")
            guard version <= schemaVersion else { throw OwnedFileRefusal.newerSchema(found: version) }
            return (connection, version)
        } catch let refusal as OwnedFileRefusal {
            throw refusal
        } catch let error as SQLiteError {
            throw classify(error)
        } catch {
            throw .cannotOpen("\(error)")
        }
    }

    /// What SQLite said about a file it opened, as a refusal: not a database, damaged, or
    /// otherwise unopenable.
    public static func classify(_ error: SQLiteError) -> OwnedFileRefusal {
        switch error.code.primary {
        case .notADatabase: .notSQLite
        case .corrupt: .damaged(error.message)
        default: .cannotOpen(error.message)
        }
    }

    enum Identity { case absent, ours }

    /// Reads the 100-byte SQLite header directly (https://sqlite.org/fileformat.html#the_database_header).
    static func identify(path: String, applicationID: Int32, schemaVersion: Int64) throws(OwnedFileRefusal) -> Identity {
        let header: SQLiteFileHeader
        do {
            header = try SQLiteFileHeader.read(path: path)
        } catch {
            throw .cannotOpen(error.detail)
        }
        switch header {
        case .absent: return .absent
        case .directory: throw .isDirectory
        case .empty: throw .empty
        case .notSQLite: throw .notSQLite
        case .sqlite(let found, let userVersion):
            guard found == applicationID else { throw .foreignApplication(found) }
            guard userVersion <= schemaVersion else { throw .newerSchema(found: userVersion) }
            return .ours
        }
    }
}

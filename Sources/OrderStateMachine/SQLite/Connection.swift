import CSQLite

/// One SQLite connection. It owns the C handle and closes it in `deinit`; nothing else may close it.
///
/// Not `Sendable`: a connection is used from one isolation domain at a time (the engine wraps the
/// writer in an actor). Opened with `SQLITE_OPEN_NOMUTEX` for that reason.
public final class Connection {
    public enum OpenMode: Sendable {
        /// Read and write an existing file.
        case readWrite
        /// Read and write, creating the file if it does not exist.
        case readWriteCreate
        /// Read only: the file is never written (https://sqlite.org/c3ref/open.html).
        case readOnly
    }

    let handle: OpaquePointer
    public let path: String
    /// The file this connection holds, so a header read never opens (and closing, unlocks) it.
    private let file: FileIdentity?
    private var statementCache: [String: Statement] = [:]
    /// Called inside `writeTransaction` after the body and just before `COMMIT`: the moment a
    /// crash test kills the process to prove a transaction is all or nothing.
    public var willCommit: (() throws -> Void)?

    public init(path: String, mode: OpenMode) throws {
        var flags = SQLITE_OPEN_NOMUTEX
        switch mode {
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard let db else {
            throw SQLiteError(code: ResultCode(rawValue: rc), message: "cannot open \(path)")
        }
        guard rc == SQLITE_OK else {
            let error = SQLiteError.last(db, rc: rc, sql: nil, message: "\(String(cString: sqlite3_errmsg(db))): \(path)")
            sqlite3_close_v2(db)
            throw error
        }
        self.handle = db
        self.path = path
        self.file = FileIdentity(path: path)
        if let file { OpenFiles.shared.opened(file) }
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        // Statements are finalized first (their deinit); close_v2 tolerates any left behind.
        statementCache.removeAll()
        sqlite3_close_v2(handle)
        if let file { OpenFiles.shared.closed(file) }
    }

    // MARK: - Errors

    /// Throws the connection's current error if `rc` is not one of the accepted codes.
    @inline(__always)
    func check(_ rc: Int32, sql: String?) throws {
        if rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE { return }
        throw lastError(rc: rc, sql: sql)
    }

    func lastError(rc: Int32, sql: String?) -> SQLiteError {
        SQLiteError.last(handle, rc: rc, sql: sql)
    }

    // MARK: - Running SQL

    /// Runs one or more statements with no parameters and no results (schema, pragmas).
    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errorMessage)
            throw SQLiteError.last(handle, rc: rc, sql: sql, message: message)
        }
    }

    /// A new prepared statement, owned by the caller.
    public func prepare(_ sql: String) throws -> Statement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw lastError(rc: rc == SQLITE_OK ? SQLITE_MISUSE : rc, sql: sql)
        }
        return Statement(handle: statement, connection: handle, sql: sql)
    }

    /// A prepared statement kept for the life of the connection: the hot path prepares once.
    public func cachedStatement(_ sql: String) throws -> Statement {
        if let statement = statementCache[sql] {
            return statement
        }
        let statement = try prepare(sql)
        statementCache[sql] = statement
        return statement
    }

    /// The value of an integer pragma, e.g. `user_version`.
    public func pragmaInteger(_ name: String) throws -> Int64 {
        let statement = try prepare("PRAGMA \(name)")
        return try statement.queryOne { $0.int64(0) } ?? 0
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    public func setBusyTimeout(milliseconds: Int32) throws {
        try check(sqlite3_busy_timeout(handle, milliseconds), sql: nil)
    }

    // MARK: - Transactions

    /// Runs `body` in a write transaction (https://sqlite.org/lang_transaction.html):
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a conflict shows up here (after the busy
    /// timeout) instead of half way through. Commits when `body` returns; rolls back when it throws
    /// and rethrows the first error.
    public func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        precondition(!isInTransaction, "nested write transaction on \(path)")
        try cachedStatement("BEGIN IMMEDIATE").execute()
        let result: T
        do {
            result = try body()
            try willCommit?()
            try cachedStatement("COMMIT").execute()
        } catch {
            // Some errors (SQLITE_FULL, IOERR, BUSY) already rolled back; the rollback's own error
            // would only hide the first one.
            if isInTransaction { try? cachedStatement("ROLLBACK").execute() }
            throw error
        }
        return result
    }

    /// Runs `body` in a read transaction: one consistent snapshot across several queries.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        precondition(!isInTransaction, "nested read transaction on \(path)")
        try cachedStatement("BEGIN DEFERRED").execute()
        defer { if isInTransaction { try? cachedStatement("COMMIT").execute() } }
        return try body()
    }
}

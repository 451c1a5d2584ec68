import CSQLite

/// The raw baseline: the sqlite3 C API used the way a careful C programmer would — statements
/// prepared once, constant text bound without a copy, nothing between the calls. Whatever our
/// wrapper costs on top of this is the wrapper's overhead.
final class RawConnection {
    let handle: OpaquePointer
    private var statements: [OpaquePointer] = []

    /// Opens `path` (an existing arb database) with the settings `DatabaseFile.open` applies.
    init(path: String, synchronous: String) throws {
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            if let db { sqlite3_close_v2(db) }
            throw BenchError("raw open \(path): \(String(cString: sqlite3_errstr(rc)))")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5_000)
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = \(synchronous)")
        try execute("PRAGMA foreign_keys = ON")
    }

    deinit {
        for statement in statements { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(sql) }
    }

    /// A statement finalized with the connection.
    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(sql) }
        statements.append(statement)
        return statement
    }

    func error(_ sql: String) -> BenchError {
        BenchError("sqlite \(sqlite3_extended_errcode(handle)) \(String(cString: sqlite3_errmsg(handle))): \(sql)")
    }
}

extension StaticString {
    /// A pointer that lives as long as the program: safe to bind with `SQLITE_STATIC` (nil).
    var cString: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import CSQLite

/// A SQLite result code, extended where SQLite gives one (see https://sqlite.org/rescode.html).
///
/// Typed so callers can `catch` a constraint violation by name instead of matching on integers.
public struct ResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The primary code (the low byte of an extended code).
    public var primary: ResultCode { ResultCode(rawValue: rawValue & 0xFF) }

    public static let ok = ResultCode(rawValue: SQLITE_OK)
    public static let error = ResultCode(rawValue: SQLITE_ERROR)
    public static let busy = ResultCode(rawValue: SQLITE_BUSY)
    public static let locked = ResultCode(rawValue: SQLITE_LOCKED)
    public static let readOnly = ResultCode(rawValue: SQLITE_READONLY)
    public static let ioError = ResultCode(rawValue: SQLITE_IOERR)
    public static let corrupt = ResultCode(rawValue: SQLITE_CORRUPT)
    public static let full = ResultCode(rawValue: SQLITE_FULL)
    public static let cantOpen = ResultCode(rawValue: SQLITE_CANTOPEN)
    public static let constraint = ResultCode(rawValue: SQLITE_CONSTRAINT)
    public static let misuse = ResultCode(rawValue: SQLITE_MISUSE)
    public static let notADatabase = ResultCode(rawValue: SQLITE_NOTADB)
    public static let row = ResultCode(rawValue: SQLITE_ROW)
    public static let done = ResultCode(rawValue: SQLITE_DONE)

    // Extended constraint codes we act on.
    public static let constraintUnique = ResultCode(rawValue: 2067)       // SQLITE_CONSTRAINT_UNIQUE
    public static let constraintPrimaryKey = ResultCode(rawValue: 1555)   // SQLITE_CONSTRAINT_PRIMARYKEY
    public static let constraintTrigger = ResultCode(rawValue: 1811)      // SQLITE_CONSTRAINT_TRIGGER
    public static let constraintCheck = ResultCode(rawValue: 275)         // SQLITE_CONSTRAINT_CHECK
    public static let constraintForeignKey = ResultCode(rawValue: 787)    // SQLITE_CONSTRAINT_FOREIGNKEY
    public static let constraintNotNull = ResultCode(rawValue: 1299)      // SQLITE_CONSTRAINT_NOTNULL

    public var description: String {
        let name = String(cString: sqlite3_errstr(rawValue))
        return "\(name) (\(rawValue))"
    }
}

/// An error SQLite reported: the extended result code, SQLite's own message and the SQL that failed.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: ResultCode
    public let message: String
    public let sql: String?

    public init(code: ResultCode, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    public var isConstraintViolation: Bool { code.primary == .constraint }
    public var isBusy: Bool { code.primary == .busy || code.primary == .locked }

    public var description: String {
        var text = "SQLite error \(code): \(message)"
        if let sql { text += " — in: \(sql.split(separator: "\n").joined(separator: " "))" }
        return text
    }
}

extension SQLiteError {
    /// The one place a SQLite failure becomes an error: what SQLite holds for `db` after a call
    /// returned `rc` — the extended code when it belongs to that call (else `rc`), SQLite's
    /// message (or `message`), and the SQL. Callers match errors by `code`, never by message.
    static func last(_ db: OpaquePointer, rc: Int32, sql: String?, message: String? = nil) -> SQLiteError {
        let extended = sqlite3_extended_errcode(db)
        let code = (extended & 0xFF) == (rc & 0xFF) ? extended : rc
        return SQLiteError(code: ResultCode(rawValue: code), message: message ?? String(cString: sqlite3_errmsg(db)), sql: sql)
    }
}

import CSQLite

/// A value that can be bound to a statement parameter.
public protocol SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws
}

extension Int64: SQLBindable {
    public func bind(to statement: Statement, at index: Int32) throws { try statement.bind(self, at: index) }
}

extension Int: SQLBindable {
    public func bind(to statement: Statement, at index: Int32) throws { try statement.bind(Int64(self), at: index) }
}

extension String: SQLBindable {
    public func bind(to statement: Statement, at index: Int32) throws { try statement.bind(self, at: index) }
}

extension Bool: SQLBindable {
    public func bind(to statement: Statement, at index: Int32) throws { try statement.bind(self ? 1 : 0, at: index) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    public func bind(to statement: Statement, at index: Int32) throws {
        switch self {
        case .none: try statement.bindNull(at: index)
        case .some(let value): try value.bind(to: statement, at: index)
        }
    }
}

/// One prepared statement. It owns the C handle and finalizes it in `deinit`.
public final class Statement {
    let handle: OpaquePointer
    /// The connection's handle, for error messages. SQLite keeps the connection alive while a
    /// statement exists (`sqlite3_close_v2` defers), so this never dangles.
    private let connection: OpaquePointer
    public let sql: String

    init(handle: OpaquePointer, connection: OpaquePointer, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    @inline(__always)
    private func check(_ rc: Int32) throws {
        if rc == SQLITE_OK { return }
        throw SQLiteError.last(connection, rc: rc, sql: sql)
    }

    // MARK: - Binding

    public func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    public func bind(_ value: String, at index: Int32) throws {
        try check(sqlite3_bind_text(handle, index, value, -1, arb_sqlite_transient()))
    }

    public func bindNull(at index: Int32) throws {
        try check(sqlite3_bind_null(handle, index))
    }

    /// Resets the statement and binds `values` to parameters 1, 2, … in order.
    public func reset<each V: SQLBindable>(binding values: repeat each V) throws {
        // reset's return code repeats the last step's error, which was already reported.
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        var index: Int32 = 1
        for value in repeat each values {
            try value.bind(to: self, at: index)
            index += 1
        }
    }

    // MARK: - Stepping

    /// Steps once: `true` when a row is available, `false` when done.
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let error = SQLiteError.last(connection, rc: rc, sql: sql)
        sqlite3_reset(handle)
        throw error
    }

    /// Binds `values`, runs the statement to completion and resets it.
    public func execute<each V: SQLBindable>(_ values: repeat each V) throws {
        try reset(binding: repeat each values)
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    /// Binds `values` and maps every result row.
    public func query<each V: SQLBindable, T>(_ values: repeat each V, row transform: (Row) throws -> T) throws -> [T] {
        try reset(binding: repeat each values)
        defer { sqlite3_reset(handle) }
        var rows: [T] = []
        let row = Row(handle: handle)
        while try step() {
            rows.append(try transform(row))
        }
        return rows
    }

    /// Binds `values` and maps the first result row, if any.
    public func queryOne<each V: SQLBindable, T>(_ values: repeat each V, row transform: (Row) throws -> T) throws -> T? {
        try reset(binding: repeat each values)
        defer { sqlite3_reset(handle) }
        guard try step() else { return nil }
        return try transform(Row(handle: handle))
    }
}

/// The current row of a stepping statement. Valid only inside the closure it is passed to.
public struct Row {
    let handle: OpaquePointer

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    public func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    public func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        return String(cString: bytes)
    }

    public func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
}

import CLibSQLite
import Foundation

/// `SQLITE_TRANSIENT`: SQLite copies bound text before the call returns. (Not imported into Swift.)
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin wrapper over one sqlite3 connection with a prepared-statement cache.
///
/// Not thread-safe: the owner serializes every call (see `SQLiteStateStore`). Every SQLite error
/// becomes `StateError.database` carrying `sqlite3_errmsg`.
final class SQLiteDatabase {
    let path: String
    private var handle: OpaquePointer?
    private var cache: [String: SQLiteStatement] = [:]

    /// `:memory:` (or an empty path) opens a private in-memory database.
    init(path: String) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw StateError.database(path: path, operation: "open", message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        for statement in cache.values { statement.finalize() }
        cache.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    private func db(_ operation: String) throws -> OpaquePointer {
        guard let handle else { throw StateError.database(path: path, operation: operation, message: "database is closed") }
        return handle
    }

    func error(_ operation: String) -> StateError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "database is closed"
        return StateError.database(path: path, operation: operation, message: message)
    }

    /// Runs one or more SQL statements that return no rows we need.
    func execute(_ sql: String) throws {
        let db = try db("execute")
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errmsg)
            throw StateError.database(path: path, operation: Self.summary(sql), message: message)
        }
    }

    /// Runs `body` with a cached prepared statement, reset and unbound afterwards.
    func withStatement<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let statement: SQLiteStatement
        if let cached = cache[sql] {
            statement = cached
        } else {
            let db = try db("prepare")
            var raw: OpaquePointer?
            guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil) == SQLITE_OK, let raw else {
                throw error("prepare \(Self.summary(sql))")
            }
            statement = SQLiteStatement(database: self, raw: raw, sql: sql)
            cache[sql] = statement
        }
        defer { statement.reset() }
        return try body(statement)
    }

    /// Runs a statement that returns no rows, binding `values` in order; returns the changed row count.
    @discardableResult
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int {
        try withStatement(sql) { statement in
            try statement.bind(values)
            while try statement.step() {}
            return Int(sqlite3_changes(try db("changes")))
        }
    }

    /// Runs a query and maps every row.
    func query<T>(_ sql: String, _ values: [SQLiteValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> [T] {
        try withStatement(sql) { statement in
            try statement.bind(values)
            var out: [T] = []
            while try statement.step() { out.append(try row(statement)) }
            return out
        }
    }

    var lastInsertRowID: Int64 {
        handle.map { sqlite3_last_insert_rowid($0) } ?? 0
    }

    var isInTransaction: Bool {
        handle.map { sqlite3_get_autocommit($0) == 0 } ?? false
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` when it writes, so the write lock is taken
    /// up front and waits on `busy_timeout` instead of failing on upgrade). Rolls back on error.
    func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    static func summary(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: { $0 == "\n" || $0 == " " }).joined(separator: " ")
        return flat.count > 60 ? String(flat.prefix(60)) + "…" : flat
    }
}

enum SQLiteValue {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    static func int(_ i: Int) -> SQLiteValue { .integer(Int64(i)) }
    static func date(_ d: Date) -> SQLiteValue { .real(d.timeIntervalSince1970) }
    static func optionalText(_ s: String?) -> SQLiteValue { s.map { .text($0) } ?? .null }
    static func optionalDate(_ d: Date?) -> SQLiteValue { d.map { .real($0.timeIntervalSince1970) } ?? .null }
}

/// A prepared statement owned by `SQLiteDatabase`'s cache.
final class SQLiteStatement {
    unowned let database: SQLiteDatabase
    private(set) var raw: OpaquePointer?
    let sql: String

    init(database: SQLiteDatabase, raw: OpaquePointer, sql: String) {
        self.database = database
        self.raw = raw
        self.sql = sql
    }

    func finalize() {
        if let raw { sqlite3_finalize(raw) }
        raw = nil
    }

    func reset() {
        guard let raw else { return }
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    private func stmt() throws -> OpaquePointer {
        guard let raw else {
            throw StateError.database(path: database.path, operation: SQLiteDatabase.summary(sql), message: "statement is finalized")
        }
        return raw
    }

    func bind(_ values: [SQLiteValue]) throws {
        let s = try stmt()
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(s, index)
            case .integer(let v): rc = sqlite3_bind_int64(s, index, v)
            case .real(let v): rc = sqlite3_bind_double(s, index, v)
            case .text(let v): rc = sqlite3_bind_text(s, index, v, -1, sqliteTransient)
            }
            if rc != SQLITE_OK { throw database.error("bind \(index) of \(SQLiteDatabase.summary(sql))") }
        }
    }

    /// Steps once: true when a row is available, false when done.
    func step() throws -> Bool {
        let rc = sqlite3_step(try stmt())
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(SQLiteDatabase.summary(sql))
        }
    }

    // MARK: Columns (0-based)

    func isNull(_ column: Int32) -> Bool {
        guard let raw else { return true }
        return sqlite3_column_type(raw, column) == SQLITE_NULL
    }

    func text(_ column: Int32) -> String? {
        guard let raw, sqlite3_column_type(raw, column) != SQLITE_NULL, let p = sqlite3_column_text(raw, column) else { return nil }
        let count = Int(sqlite3_column_bytes(raw, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }

    func int64(_ column: Int32) -> Int64? {
        guard let raw, sqlite3_column_type(raw, column) != SQLITE_NULL else { return nil }
        return sqlite3_column_int64(raw, column)
    }

    func double(_ column: Int32) -> Double? {
        guard let raw, sqlite3_column_type(raw, column) != SQLITE_NULL else { return nil }
        return sqlite3_column_double(raw, column)
    }

    func date(_ column: Int32) -> Date? {
        double(column).map { Date(timeIntervalSince1970: $0) }
    }

    // Required columns: a NULL (or missing) value is a corrupt database, reported as such.

    func requiredText(_ column: Int32, _ name: String) throws -> String {
        guard let v = text(column) else { throw corrupt(name, "is NULL") }
        return v
    }

    func requiredInt(_ column: Int32, _ name: String) throws -> Int64 {
        guard let v = int64(column) else { throw corrupt(name, "is NULL") }
        return v
    }

    func requiredDate(_ column: Int32, _ name: String) throws -> Date {
        guard let v = date(column) else { throw corrupt(name, "is NULL") }
        return v
    }

    func corrupt(_ column: String, _ problem: String) -> StateError {
        StateError.database(path: database.path, operation: "read \(column)", message: "corrupt state: \(column) \(problem)")
    }
}

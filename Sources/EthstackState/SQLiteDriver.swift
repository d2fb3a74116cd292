import EthstackModel
import CLibSQLite
import EthstackEngine
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `SQLITE_TRANSIENT`: SQLite copies bound text before the call returns. (Not imported into Swift.)
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin wrapper over one sqlite3 connection with a prepared-statement cache.
///
/// Not thread-safe: `SQLiteDriver` runs every call on its connection's queue. Every SQLite error
/// becomes `StateError.database` carrying `sqlite3_errmsg`.
final class SQLiteDatabase: SQLConnection {
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
    func executeScript(_ sql: String) throws {
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
    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int {
        try withStatement(sql) { statement in
            try statement.bind(values)
            while try statement.step() {}
            return Int(sqlite3_changes(try db("changes")))
        }
    }

    /// Runs a query and maps every row.
    func query<T>(_ sql: String, _ values: [SQLValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> [T] {
        try withStatement(sql) { statement in
            try statement.bind(values)
            var out: [T] = []
            while try statement.step() { out.append(try row(statement)) }
            return out
        }
    }

    /// Runs a query and reads every row as values.
    func query(_ sql: String, _ values: [SQLValue]) throws -> [SQLRow] {
        try query(sql, values) { $0.row() }
    }

    var isInTransaction: Bool {
        handle.map { sqlite3_get_autocommit($0) == 0 } ?? false
    }

    static func summary(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: { $0 == "\n" || $0 == " " }).joined(separator: " ")
        return flat.count > 60 ? String(flat.prefix(60)) + "…" : flat
    }
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

    func bind(_ values: [SQLValue]) throws {
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

    /// The current row, every column as the value SQLite holds.
    func row() -> SQLRow {
        guard let raw else { return SQLRow([]) }
        return SQLRow((0..<sqlite3_column_count(raw)).map { column in
            switch sqlite3_column_type(raw, column) {
            case SQLITE_INTEGER: return .integer(sqlite3_column_int64(raw, column))
            case SQLITE_FLOAT: return .real(sqlite3_column_double(raw, column))
            case SQLITE_NULL: return .null
            default: return text(column).map(SQLValue.text) ?? .null
            }
        })
    }

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
}

/// The embedded state database: one SQLite file (WAL mode), one connection on its own queue.
/// Several processes (or stores) may open the same file: SQLite's file locks and `busy_timeout`
/// arbitrate, and a writer waits for them on the connection's queue, not on the Swift pool.
package final class SQLiteDriver: SQLDriver {
    package let location: String
    package var dialect: SQLDialect { .sqlite }
    private let connection: SQLConnectionQueue<SQLiteDatabase>

    /// Opens (creating it and its parent directories if needed) the database at `path`;
    /// `:memory:` opens a private in-memory database. A new file is readable by its owner only.
    package init(path: String, busyTimeoutMilliseconds: Int) async throws {
        location = path
        connection = SQLConnectionQueue(label: "ethstack.state.sqlite")
        try await connection.run { slot in
            let inMemory = path == ":memory:" || path.isEmpty
            var created = false
            if !inMemory {
                let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
                do {
                    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
                } catch {
                    throw StateError.database(path: path, operation: "create directory \(parent.path)", message: "\(error)")
                }
                created = !FileManager.default.fileExists(atPath: path)
            }
            let db = try SQLiteDatabase(path: path)
            // State holds secrets: SQLite gives the -wal and -shm files the same permissions.
            if created { _ = chmod(path, 0o600) }
            try db.executeScript("PRAGMA busy_timeout = \(max(0, busyTimeoutMilliseconds))")
            if !inMemory { try db.executeScript("PRAGMA journal_mode = WAL") }
            try db.executeScript("PRAGMA synchronous = NORMAL")
            try db.executeScript("PRAGMA foreign_keys = ON")
            // Deleted and overwritten content is zeroed, so a value sealed or removed does not
            // linger in free pages of the file.
            try db.executeScript("PRAGMA secure_delete = ON")
            slot = db
        }
    }

    package func run<T: Sendable>(_ kind: SQLTransaction, _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        let location = location
        return try await connection.run { slot in
            guard let db = slot else {
                throw StateError.database(path: location, operation: "query", message: "database is closed")
            }
            // BEGIN IMMEDIATE takes the write lock up front, so a writer waits on busy_timeout
            // instead of failing when it upgrades a read lock.
            switch kind {
            case .none: return try body(db)
            case .read: try db.executeScript("BEGIN DEFERRED")
            case .write: try db.executeScript("BEGIN IMMEDIATE")
            }
            do {
                let result = try body(db)
                try db.executeScript("COMMIT")
                return result
            } catch {
                if db.isInTransaction { try? db.executeScript("ROLLBACK") }
                throw error
            }
        }
    }

    package func close() async {
        _ = try? await connection.run { slot in
            slot?.close()
            slot = nil
        }
    }
}

package extension SQLDialect {
    static let sqlite = SQLDialect(
        migrations: StateMigrations.all,
        prepareMigrations: ["""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY NOT NULL,
                name       TEXT NOT NULL,
                applied_at REAL NOT NULL
            )
            """],
        migrationStatements: { [$0] },
        stackLockSQL: nil,
        forUpdate: "",
        clockSQL: nil)
}

import EthstackModel
import Dispatch
import EthstackEngine
import Foundation

/// What `SQLStateStore` needs from a database: run the store's SQL (written once, with `?`
/// placeholders) inside a transaction, on a connection the driver owns.
///
/// Database calls block (libsqlite3, libpq): a driver runs them on its own serial queue, never on
/// the Swift concurrency pool, and hands the result back to the awaiting task.
package protocol SQLDriver: Sendable {
    /// What errors name: a file path, or a URL with its password redacted.
    var location: String { get }
    var dialect: SQLDialect { get }
    /// Runs `body` on the driver's connection, inside a transaction of `kind`: committed when
    /// `body` returns, rolled back when it throws.
    func run<T: Sendable>(_ kind: SQLTransaction, _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// Closes the connection; later calls fail (SQLite) or reconnect (PostgreSQL).
    func close() async
}

package enum SQLTransaction: Sendable {
    /// Reads that must see one snapshot.
    case read
    /// Writes: the database's write lock is taken up front.
    case write
    /// No transaction (statements such as `CREATE DATABASE`, `PRAGMA`).
    case none
}

/// One connection, used by one `run` body at a time, on the driver's queue.
package protocol SQLConnection: AnyObject {
    /// Runs a statement with `?` placeholders bound to `parameters`; returns the changed row count.
    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue]) throws -> Int
    /// Runs a query with `?` placeholders bound to `parameters`; returns every row.
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow]
    /// Runs SQL text as given, without parameters (migrations, tooling).
    func executeScript(_ sql: String) throws
}

package extension SQLConnection {
    @discardableResult
    func execute(_ sql: String) throws -> Int { try execute(sql, []) }
    func query(_ sql: String) throws -> [SQLRow] { try query(sql, []) }
}

/// Where the SQL the store runs differs between databases. Upserts (`ON CONFLICT … DO UPDATE`) and
/// `RETURNING` are written the same way in both (SQLite ≥ 3.35), so they are not here; the
/// placeholder syntax (`?` against `$1`) is the PostgreSQL driver's business.
package struct SQLDialect: Sendable {
    /// The numbered schema migrations (`state/` or `state/postgres/`).
    package var migrations: [SQLMigration]
    /// Statements run, in the migration transaction, before reading the schema version: they
    /// create `schema_migrations` (PostgreSQL: also its schema, under a migrator's advisory lock).
    package var prepareMigrations: [String]
    /// Splits a migration file into the pieces `executeScript` runs one after another.
    package var migrationStatements: @Sendable (String) -> [String]
    /// Serializes lock attempts on one stack across every client, given `ethstack.lock:<stack>`;
    /// nil where the write transaction already does (SQLite's `BEGIN IMMEDIATE`).
    package var stackLockSQL: String?
    /// Appended to the read of a stack's lock row in a lock attempt.
    package var forUpdate: String
    /// Reads the database server's clock (unix seconds), so lockers on machines whose clocks
    /// disagree agree on expiry; nil: this machine's clock (an embedded database).
    package var clockSQL: String?
}

/// One numbered schema migration, embedded byte for byte from a file under `state/`.
package struct SQLMigration: Sendable {
    /// The number that prefixes the file name (`001_initial.sql` is 1).
    package let version: Int
    /// The file name.
    package let name: String
    package let sql: String
}

/// A parameter or column value.
package enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    package static func int(_ i: Int) -> SQLValue { .integer(Int64(i)) }
    package static func bool(_ b: Bool) -> SQLValue { .integer(b ? 1 : 0) }
    package static func date(_ d: Date) -> SQLValue { .real(d.timeIntervalSince1970) }
    package static func optionalText(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
}

/// A row as the driver read it. PostgreSQL answers in text, SQLite in typed values: the getters
/// accept either. A required column that is NULL or unreadable is a corrupt database, reported as such.
package struct SQLRow: Sendable {
    package var values: [SQLValue]
    package init(_ values: [SQLValue]) { self.values = values }

    private func value(_ column: Int) -> SQLValue { column < values.count ? values[column] : .null }

    package func text(_ column: Int) -> String? {
        switch value(column) {
        case .null: return nil
        case .text(let s): return s
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        }
    }

    package func int64(_ column: Int) -> Int64? {
        switch value(column) {
        case .integer(let i): return i
        case .text(let s): return Int64(s)
        case .real(let d): return Int64(exactly: d)
        case .null: return nil
        }
    }

    package func double(_ column: Int) -> Double? {
        switch value(column) {
        case .real(let d): return d
        case .integer(let i): return Double(i)
        case .text(let s): return Double(s)
        case .null: return nil
        }
    }

    package func date(_ column: Int) -> Date? { double(column).map { Date(timeIntervalSince1970: $0) } }

    package func requiredText(_ column: Int, _ name: String) throws -> String {
        guard let v = text(column) else { throw Self.corrupt(name, "is NULL") }
        return v
    }

    package func requiredInt(_ column: Int, _ name: String) throws -> Int64 {
        guard let v = int64(column) else { throw Self.corrupt(name, "is NULL or not an integer") }
        return v
    }

    package func requiredDate(_ column: Int, _ name: String) throws -> Date {
        guard let v = date(column) else { throw Self.corrupt(name, "is NULL or not a number") }
        return v
    }

    /// SQLite's 0/1 or PostgreSQL's `t`/`f`.
    package func requiredBool(_ column: Int, _ name: String) throws -> Bool {
        switch value(column) {
        case .integer(let i): return i != 0
        case .text(let s) where ["t", "true", "1"].contains(s): return true
        case .text(let s) where ["f", "false", "0"].contains(s): return false
        default: throw Self.corrupt(name, "is not a boolean")
        }
    }

    /// The path is filled in by the store, which knows where the database is.
    package static func corrupt(_ column: String, _ problem: String) -> StateError {
        StateError.database(path: "", operation: "read \(column)", message: "corrupt state: \(column) \(problem)")
    }
}

/// A connection and the serial queue that owns it: every call on the connection runs on that
/// queue (a Dispatch thread, not the Swift pool), one at a time, in arrival order.
package final class SQLConnectionQueue<Connection>: @unchecked Sendable {
    private let queue: DispatchQueue
    /// Touched only on `queue`.
    private var connection: Connection?

    package init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the queue with the connection slot (which `body` may fill, replace or empty).
    package func run<T: Sendable>(_ body: @escaping @Sendable (inout Connection?) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result(catching: { try body(&self.connection) }))
            }
        }
    }
}

import EthstackModel
import CLibPQ
import EthstackEngine
import Foundation

/// The team state database: PostgreSQL through libpq, one connection on its own queue (libpq
/// blocks), text-format parameters and results. Everything lives in the schema `ethstack`, which
/// is the connection's `search_path`, so the store's SQL names tables without it.
///
/// A connection the server dropped while idle (restart, idle timeout, terminated backend) is
/// noticed at `BEGIN`, before anything was written: then the driver reconnects and runs the whole
/// transaction once more. A connection lost later fails the call (its outcome is unknown: the
/// journal covers that case) and the next call reconnects.
package final class PostgresDriver: SQLDriver {
    package let url: PostgresStateURL
    package var location: String { url.redacted }
    package var dialect: SQLDialect { .postgres }
    private let connection = SQLConnectionQueue<PostgresConnection>(label: "ethstack.state.postgres")

    /// Connects on first use.
    package init(url: PostgresStateURL) {
        self.url = url
    }

    package func run<T: Sendable>(_ kind: SQLTransaction, _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        let url = url
        return try await connection.run { slot in
            var attempt = 0
            while true {
                attempt += 1
                let c: PostgresConnection
                if let open = slot, !open.isBroken {
                    c = open
                } else {
                    slot = nil
                    c = try PostgresConnection(url)
                    slot = c
                }
                do {
                    switch kind {
                    case .none: return try body(c)
                    case .read: try c.executeScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    case .write: try c.executeScript("BEGIN")
                    }
                } catch {
                    guard c.isBroken else { throw error }
                    slot = nil
                    if attempt == 1 { continue }
                    throw error
                }
                do {
                    let result = try body(c)
                    try c.executeScript("COMMIT")
                    return result
                } catch {
                    if c.isBroken { slot = nil } else { try? c.executeScript("ROLLBACK") }
                    throw error
                }
            }
        }
    }

    package func close() async {
        _ = try? await connection.run { slot in slot = nil }
    }
}

package extension SQLDialect {
    static let postgres = SQLDialect(
        migrations: PostgresMigrations.all,
        prepareMigrations: [
            // One migrator at a time across every client of this database.
            "SELECT pg_advisory_xact_lock(hashtextextended('ethstack.migrate', 0))",
            // CREATE SCHEMA needs a privilege a user of an existing schema may lack: only when missing.
            """
            DO $$ BEGIN
                IF to_regclass('ethstack.schema_migrations') IS NULL THEN
                    CREATE SCHEMA IF NOT EXISTS ethstack;
                    CREATE TABLE IF NOT EXISTS ethstack.schema_migrations (
                        version    INTEGER PRIMARY KEY,
                        name       TEXT NOT NULL,
                        applied_at DOUBLE PRECISION NOT NULL
                    );
                END IF;
            END $$
            """,
        ],
        migrationStatements: PostgresMigrations.statements,
        stackLockSQL: "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
        forUpdate: " FOR UPDATE",
        clockSQL: "SELECT extract(epoch FROM clock_timestamp())::float8")
}

/// One libpq connection. Not thread-safe: `PostgresDriver` uses it on its queue only.
final class PostgresConnection: SQLConnection {
    private let handle: OpaquePointer
    /// `?`-placeholder SQL rewritten to `$n`, by the text the store wrote.
    private var numbered: [String: String] = [:]

    init(_ url: PostgresStateURL) throws {
        let parameters = url.connectionParameters(libpqVersion: Int(PQlibVersion()))
        let keys = parameters.map { strdup($0.key) }
        let values = parameters.map { strdup($0.value) }
        defer { (keys + values).forEach { free($0) } }
        let keyPointers = keys.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        guard let conn = PQconnectdbParams(keyPointers, valuePointers, 0) else {
            throw StateError.database(path: "", operation: "connect", message: "out of memory")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.errorMessage(conn)
            PQfinish(conn)
            throw StateError.database(path: "", operation: "connect", message: Self.withTLSHint(message))
        }
        // Notices (e.g. "already exists, skipping") are not the user's business.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        handle = conn
    }

    deinit { PQfinish(handle) }

    /// Whether the connection is gone (not merely that a statement failed).
    var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue]) throws -> Int {
        let result = try run(sql, parameters)
        defer { PQclear(result) }
        guard let count = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: count)) ?? 0
    }

    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        let result = try run(sql, parameters)
        defer { PQclear(result) }
        let columns = PQnfields(result)
        return (0..<PQntuples(result)).map { row in
            SQLRow((0..<columns).map { column in
                guard PQgetisnull(result, row, column) == 0, let text = PQgetvalue(result, row, column) else { return .null }
                return .text(String(cString: text))
            })
        }
    }

    /// Runs SQL text with the simple query protocol (several statements allowed, no parameters).
    func executeScript(_ sql: String) throws {
        PQclear(try checked(PQexec(handle, sql), sql))
    }

    private func run(_ sql: String, _ parameters: [SQLValue]) throws -> OpaquePointer {
        let text: String
        if let cached = numbered[sql] {
            text = cached
        } else {
            text = Self.numberPlaceholders(sql)
            numbered[sql] = text
        }
        let strings: [UnsafeMutablePointer<CChar>?] = parameters.map { value in
            switch value {
            case .null: return nil
            case .integer(let i): return strdup(String(i))
            case .real(let d): return strdup(String(d))
            case .text(let s): return strdup(s)
            }
        }
        defer { strings.forEach { free($0) } }
        let pointers = strings.map { $0.map { UnsafePointer($0) } }
        let result = PQexecParams(handle, text, Int32(parameters.count), nil, pointers, nil, nil, 0)
        return try checked(result, sql)
    }

    /// The result when the statement succeeded; else its error, as the server (or libpq) put it.
    private func checked(_ result: OpaquePointer?, _ sql: String) throws -> OpaquePointer {
        guard let result else {
            throw StateError.database(path: "", operation: SQLiteDatabase.summary(sql), message: Self.errorMessage(handle))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return result
        default:
            let message = Self.describe(result) ?? Self.errorMessage(handle)
            PQclear(result)
            throw StateError.database(path: "", operation: SQLiteDatabase.summary(sql), message: message)
        }
    }

    /// `message (detail) [SQLSTATE code]` from a failed result. Never includes the password: the
    /// server does not echo it.
    private static func describe(_ result: OpaquePointer) -> String? {
        func field(_ code: Character) -> String? {
            guard let ascii = code.asciiValue, let p = PQresultErrorField(result, Int32(ascii)) else { return nil }
            return String(cString: p)
        }
        guard var text = field("M") else { return nil }
        if let detail = field("D") { text += " (\(detail))" }
        if let state = field("C") { text += " [SQLSTATE \(state)]" }
        return text
    }

    private static func errorMessage(_ conn: OpaquePointer) -> String {
        guard let p = PQerrorMessage(conn) else { return "unknown libpq error" }
        let text = String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "unknown libpq error" : text.replacingOccurrences(of: "\n", with: "; ")
    }

    /// libpq's message, and what to do about a failed TLS check.
    static func withTLSHint(_ message: String) -> String {
        if message.contains("does not match host name") {
            return message + ". The server's TLS certificate does not name the host in the URL: use the host name the "
                + "certificate was made for, or sslmode=verify-ca with sslrootcert=FILE"
        }
        if message.contains("certificate verify failed") || message.contains("root certificate file") {
            return message + ". The server's TLS certificate is not signed by a CA this machine trusts: give that CA with "
                + "sslrootcert=FILE in the URL (for Amazon RDS, its CA bundle), or sslmode=require to encrypt without checking"
        }
        return message
    }

    /// `?` placeholders as PostgreSQL's `$1, $2, …`; a `?` inside a quoted literal or identifier stays.
    static func numberPlaceholders(_ sql: String) -> String {
        var out = ""
        var count = 0
        var quote: Character?
        for ch in sql {
            if let q = quote {
                if ch == q { quote = nil }
                out.append(ch)
            } else if ch == "'" || ch == "\"" {
                quote = ch
                out.append(ch)
            } else if ch == "?" {
                count += 1
                out += "$\(count)"
            } else {
                out.append(ch)
            }
        }
        return out
    }
}

extension PostgresStateURL {
    /// libpq's connection keywords for this URL (passed as arrays: nothing is quoted, and the
    /// password is never part of a string that could be shown). libpq implements `sslmode` itself,
    /// host-name and IP-address checks included.
    func connectionParameters(libpqVersion: Int) -> [(key: String, value: String)] {
        var parameters: [(key: String, value: String)] = [
            ("host", socketDirectory ?? host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))),
            ("port", String(port)),
            ("user", username),
            ("dbname", database),
            ("sslmode", sslMode.rawValue),
            ("connect_timeout", String(max(2, Int(connectTimeout.rounded(.up))))),
            ("options", "-c search_path=ethstack"),
            ("application_name", "ethstack"),
        ]
        if let password { parameters.append(("password", password)) }
        if let root = sslRootCert ?? defaultRootCertificates(libpqVersion: libpqVersion) {
            parameters.append(("sslrootcert", root))
        }
        return parameters
    }

    /// The system's trusted roots for the modes that check the certificate (libpq's own default,
    /// ~/.postgresql/root.crt, is rarely there): `system` from libpq 16 (verify-full only), else
    /// the distribution's CA bundle.
    private func defaultRootCertificates(libpqVersion: Int) -> String? {
        switch sslMode {
        case .verifyFull where libpqVersion >= 160000:
            return "system"
        case .verifyFull, .verifyCA:
            let candidates = [ProcessInfo.processInfo.environment["SSL_CERT_FILE"], "/etc/ssl/certs/ca-certificates.crt",
                              "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
            return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0) }
        default:
            return nil
        }
    }
}

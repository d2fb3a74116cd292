import EthstackModel
import EthstackEngine
import Foundation

/// A PostgreSQL state location: `postgres://user:password@host:5432/database?sslmode=require`
/// (`postgresql://` too). Its `description` is the redacted form: the password never appears in an
/// error, a log line or a lock listing.
///
/// Query parameters (libpq's names): `sslmode` (`disable`, `allow`, `prefer`, `require`,
/// `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of trusted roots; default the system's),
/// `host` (a Unix socket directory), `user`, `password`, `dbname`, `connect_timeout` (seconds).
///
/// Unlike libpq, whose default `prefer` accepts any certificate, the default sslmode is
/// `verify-full` — TLS, with the certificate checked against the host name — for every host but
/// the loopback one (`localhost`, `127.x`, `::1`) and Unix sockets, which stay `prefer`: the state
/// holds secrets, and a team database is reached over a network.
public struct PostgresStateURL: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// A Unix socket directory (libpq's convention: a host starting with `/`); the socket is
    /// `<dir>/.s.PGSQL.<port>`.
    public var socketDirectory: String?
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCert: String?
    public var connectTimeout: Double
    /// The URL as given, with the password replaced by `***`.
    public let redacted: String

    public var description: String { redacted }

    /// Whether `location` (a `--state` value or `$ETHSTACK_STATE`) names a PostgreSQL database.
    public static func isPostgres(_ location: String) -> Bool {
        let lower = location.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    public init(_ string: String) throws {
        redacted = Self.redact(string)
        guard Self.isPostgres(string), let components = URLComponents(string: string) else {
            throw StateError.database(path: redacted, operation: "parse the state URL",
                                      message: "expected postgres://user:password@host:port/database?sslmode=…")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name.lowercased()] = item.value ?? "" }

        let env = ProcessInfo.processInfo.environment
        username = components.user.flatMap { $0.isEmpty ? nil : $0 } ?? query["user"]
            ?? env["USER"] ?? env["LOGNAME"] ?? "postgres"
        password = components.password ?? query["password"]
        let rawHost = (components.host ?? "").removingPercentEncoding ?? ""
        let hostParameter = query["host"] ?? rawHost
        if hostParameter.hasPrefix("/") {
            socketDirectory = hostParameter
            host = "localhost"
        } else {
            socketDirectory = nil
            host = hostParameter.isEmpty ? "localhost" : hostParameter
        }
        port = components.port ?? query["port"].flatMap(Int.init) ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let name = path.removingPercentEncoding ?? path
        database = !name.isEmpty ? name : (query["dbname"] ?? username)
        let mode = query["sslmode"] ?? (socketDirectory != nil || Self.isLoopback(host) ? "prefer" : "verify-full")
        guard let sslMode = SSLMode(rawValue: mode) else {
            throw StateError.database(path: redacted, operation: "parse the state URL",
                                      message: "unknown sslmode \"\(mode)\" (one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.sslMode = sslMode
        sslRootCert = query["sslrootcert"]
        connectTimeout = query["connect_timeout"].flatMap(Double.init).map { max(1, $0) } ?? 10
    }

    /// Whether `host` names this machine over loopback.
    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// `location` with any password (in the user info or a `password=` parameter) replaced by `***`;
    /// works on strings that are not valid URLs too.
    public static func redact(_ location: String) -> String {
        var text = location
        if let scheme = text.range(of: "://") {
            let authorityStart = scheme.upperBound
            let authorityEnd = text[authorityStart...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? text.endIndex
            let authority = text[authorityStart..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[authority.startIndex..<at]
                if let colon = userInfo.firstIndex(of: ":") {
                    text.replaceSubrange(text.index(after: colon)..<at, with: "***")
                }
            }
        }
        // password=… in the query.
        var out = ""
        var rest = Substring(text)
        while let range = rest.range(of: "password=", options: .caseInsensitive) {
            let before = range.lowerBound == rest.startIndex ? nil : rest[rest.index(before: range.lowerBound)]
            out += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            if before == "?" || before == "&" {
                let end = rest.firstIndex(where: { $0 == "&" || $0 == "#" }) ?? rest.endIndex
                out += "***"
                rest = rest[end...]
            }
        }
        return out + rest
    }
}

import Foundation

/// Where the transport writes debug lines. Secrets are redacted before a line reaches a sink.
public struct HTTPLogSink: Sendable {
    public var write: @Sendable (String) -> Void
    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Writes to standard error.
    public static let standardError = HTTPLogSink { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Standard error when `ETHSTACK_LOG` is `debug` or `trace`; nothing otherwise.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> HTTPLogSink? {
        switch environment["ETHSTACK_LOG"]?.lowercased() {
        case "debug", "trace": return .standardError
        default: return nil
        }
    }
}

/// Redaction of credentials in anything the transport logs or reports.
public enum HTTPRedaction {
    public static let placeholder = "<redacted>"

    /// Header names whose values are secrets, lower-cased.
    static let secretHeaders: Set<String> = [
        "authorization", "proxy-authorization", "x-amz-security-token", "cookie", "set-cookie",
        "x-auth-token", "x-api-key",
    ]
    /// Query parameters whose values are secrets, lower-cased.
    static let secretQueryParameters: Set<String> = [
        "x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature", "token", "access_token",
    ]

    public static func isSecretHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        return secretHeaders.contains(lower) || lower.contains("token") || lower.contains("secret")
            || lower.contains("password")
    }

    public static func redactedHeaderValue(name: String, value: String) -> String {
        isSecretHeader(name) ? placeholder : value
    }

    /// The URL with the values of secret query parameters replaced.
    public static func redactedURL(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return url }
        let base = url[..<q]
        let query = url[url.index(after: q)...]
        let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let eq = pair.firstIndex(of: "=") else { return String(pair) }
            let name = pair[..<eq]
            let decoded = name.removingPercentEncoding ?? String(name)
            let lower = decoded.lowercased()
            if secretQueryParameters.contains(lower) || lower.contains("token") || lower.contains("secret") {
                return "\(name)=\(placeholder)"
            }
            return String(pair)
        }
        return base + "?" + parts.joined(separator: "&")
    }

    public static func urlWithoutQuery(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return url }
        return String(url[..<q])
    }
}

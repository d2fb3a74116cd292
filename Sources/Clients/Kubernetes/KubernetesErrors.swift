import Foundation
import EthstackHTTP
import EthstackModel

/// An error answer of the Kubernetes API, decoded from its `Status` body.
///
/// `reason` is the machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`,
/// `Forbidden`, …), `causes` the field-level details (for an SSA conflict: one cause per field,
/// type `FieldManagerConflict`, message `conflict with "manager": .spec.x`).
public struct KubernetesAPIError: Error, Sendable, CustomStringConvertible {
    public struct Cause: Sendable, Hashable {
        public var type: String
        public var message: String
        public var field: String
    }

    /// The HTTP status code.
    public var code: Int
    public var reason: String
    public var message: String
    public var causes: [Cause]
    /// What was being done (`GET /api/v1/namespaces/x`), without query strings.
    public var operation: String

    public init(code: Int, reason: String, message: String, causes: [Cause] = [], operation: String) {
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes
        self.operation = operation
    }

    /// Decodes a response body; falls back to the HTTP status when it is not a `Status`.
    package init(response: HTTPResponse, operation: String) {
        let status = (try? Value.parseJSON(response.body)) ?? .null
        var causes: [Cause] = []
        for cause in status["details"]?["causes"]?.listValue ?? [] {
            // The API's StatusCause writes its type as `reason`; accept `type` too.
            causes.append(Cause(type: cause["reason"]?.stringValue ?? cause["type"]?.stringValue ?? "", message: cause["message"]?.stringValue ?? "",
                                field: cause["field"]?.stringValue ?? ""))
        }
        let text = response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        self.init(code: response.status,
                  reason: status["reason"]?.stringValue ?? Self.defaultReason(response.status),
                  message: status["message"]?.stringValue ?? (text.isEmpty ? "HTTP \(response.status)" : String(text.prefix(500))),
                  causes: causes, operation: operation)
    }

    static func defaultReason(_ code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "Unknown"
        }
    }

    public var isNotFound: Bool { code == 404 }
    public var isAlreadyExists: Bool { code == 409 && reason == "AlreadyExists" }
    /// A server-side apply conflict with another field manager.
    public var isFieldManagerConflict: Bool {
        code == 409 && (causes.contains { $0.type == "FieldManagerConflict" } || message.contains("Apply failed with"))
    }
    public var retryable: Bool { [429, 500, 502, 503, 504].contains(code) }

    /// The conflicting managers and their fields, from the causes: `[("helm", [".spec.replicas"])]`.
    public var fieldConflicts: [(manager: String, fields: [String])] {
        var order: [String] = []
        var fields: [String: [String]] = [:]
        for cause in causes where cause.type == "FieldManagerConflict" {
            // `conflict with "manager"[ using v1]: .path` or the field in `field`.
            var manager = "another manager"
            if let open = cause.message.firstIndex(of: "\""),
               let close = cause.message[cause.message.index(after: open)...].firstIndex(of: "\"") {
                manager = String(cause.message[cause.message.index(after: open)..<close])
            }
            let field = cause.field.isEmpty
                ? (cause.message.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "")
                : cause.field
            if fields[manager] == nil { order.append(manager) }
            fields[manager, default: []].append(field)
        }
        return order.map { ($0, fields[$0] ?? []) }
    }

    public var description: String {
        var text = "\(operation): \(code) \(reason): \(message)"
        let extra = causes.filter { !message.contains($0.message) }
        if !extra.isEmpty {
            text += " (" + extra.map { $0.field.isEmpty ? $0.message : "\($0.field): \($0.message)" }.joined(separator: "; ") + ")"
        }
        return text
    }
}

/// A failure of the client itself: configuration, transport, unexpected answers, timeouts.
public enum KubernetesClientError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    /// No response (connection refused, TLS failure, timeout of one request).
    case transport(HTTPTransportError)
    /// The apiVersion/kind is served by no API group of the cluster (after a fresh discovery).
    case unknownKind(apiVersion: String, kind: String)
    case invalidResponse(String)
    /// A wait ran out of time; `last` says what was last seen.
    case waitTimedOut(what: String, seconds: Double, last: String)

    public var description: String {
        switch self {
        case .configuration(let m): return m
        case .transport(let e): return "\(e)"
        case .unknownKind(let apiVersion, let kind):
            return "the cluster does not serve kind \(kind) in \(apiVersion) (is its CustomResourceDefinition installed?)"
        case .invalidResponse(let m): return "unexpected answer from the Kubernetes API: \(m)"
        case .waitTimedOut(let what, let seconds, let last):
            return "timed out after \(Value.formatNumber(seconds.rounded()))s waiting for \(what)\(last.isEmpty ? "" : " (last seen: \(last))")"
        }
    }

    public var retryable: Bool {
        if case .transport(let e) = self { return e.retryable }
        return false
    }
}

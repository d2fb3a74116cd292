import Foundation

/// A failure the API answers with a `Status` body, shaped like the real kube-apiserver's.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: KubeJSON?

    public var description: String { "\(code) \(reason): \(message)" }

    var status: KubeJSON {
        var o: [String: KubeJSON] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if let details { o["details"] = details }
        if reason.isEmpty { o["reason"] = nil }
        return .object(o)
    }

    static func details(_ t: ResourceType?, name: String?) -> KubeJSON {
        var d: [String: KubeJSON] = [:]
        if let name, !name.isEmpty { d["name"] = .string(name) }
        if let t {
            if !t.group.isEmpty { d["group"] = .string(t.group) }
            d["kind"] = .string(t.plural)
        }
        return .object(d)
    }

    static func notFound(_ t: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(t.qualifiedName) \"\(name)\" not found", details: details(t, name: name))
    }

    static func namespaceNotFound(_ ns: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "namespaces \"\(ns)\" not found",
                 details: ["name": .string(ns), "kind": "namespaces"])
    }

    static func alreadyExists(_ t: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(t.qualifiedName) \"\(name)\" already exists", details: details(t, name: name))
    }

    static func conflict(_ t: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(t.qualifiedName) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                 details: details(t, name: name))
    }

    static func invalid(_ t: ResourceType, _ name: String, causes: [(field: String, reason: String, message: String)]) -> APIError {
        let summary = causes.map { "\($0.field): \($0.message)" }
        let joined = summary.count == 1 ? summary[0] : "[" + summary.joined(separator: ", ") + "]"
        var d: [String: KubeJSON] = ["kind": .string(t.kind)]
        if !name.isEmpty { d["name"] = .string(name) }
        if !t.group.isEmpty { d["group"] = .string(t.group) }
        d["causes"] = .array(causes.map { ["reason": .string($0.reason), "message": .string($0.message), "field": .string($0.field)] })
        // As the real server's StatusError: the qualified kind, `Kind.group` (`Deployment.apps`).
        let qualifiedKind = t.group.isEmpty ? t.kind : "\(t.kind).\(t.group)"
        return APIError(code: 422, reason: "Invalid", message: "\(qualifiedKind) \"\(name)\" is invalid: \(joined)", details: .object(d))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message, details: nil)
    }

    static func methodNotAllowed() -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource",
                 details: [:])
    }

    static func resourceNotFound() -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource", details: [:])
    }

    static func unsupportedMediaType(_ ct: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                 details: [:])
    }

    static func gone(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message, details: nil)
    }
}

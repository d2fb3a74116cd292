import Foundation

struct APIRequest {
    var method: String
    var path: String
    var query: [String: String]
    var headers: [String: String]  // lower-cased names
    var body: Data

    init(method: String, uri: String, headers: [String: String], body: Data) {
        self.method = method
        self.headers = headers
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts.first ?? "").removingPercentEncoding ?? String(parts.first ?? "")
        var q: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func dec(_ s: Substring) -> String {
                    let plus = s.replacingOccurrences(of: "+", with: " ")
                    return plus.removingPercentEncoding ?? plus
                }
                q[dec(kv[0])] = kv.count > 1 ? dec(kv[1]) : ""
            }
        }
        query = q
    }
}

enum APIResponse {
    case json(Int, KubeJSON)
    case raw(Int, String, Data)
    case watch(ResourceType, WatchFilter, resourceVersion: String?, timeout: Double)
}

/// Maps HTTP requests onto the store, the way the real kube-apiserver's handlers do.
struct Router {
    let store: Store
    let port: Int

    func handle(_ r: APIRequest) -> APIResponse {
        do {
            return try route(r)
        } catch let e as APIError {
            return .json(e.code, e.status)
        } catch {
            return .json(500, APIError(code: 500, reason: "InternalError", message: "\(error)", details: nil).status)
        }
    }

    private func segments(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init)
    }

    func route(_ r: APIRequest) throws -> APIResponse {
        let segs = segments(r.path)
        guard let first = segs.first else {
            return .json(200, ["paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/readyz", "/version"]])
        }
        switch first {
        case "version" where segs.count == 1:
            return .json(200, ["major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "kube-test-server",
                               "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0",
                               "compiler": "gc", "platform": "linux/amd64"])
        case "healthz", "livez", "readyz":
            return .raw(200, "text/plain; charset=utf-8", Data("ok".utf8))
        case "openapi":
            if segs.count == 2 && segs[1] == "v2" {
                // An empty OpenAPI v2 document: protobuf clients (kubectl, helm) decode zero bytes as an
                // empty Document and skip client-side schema validation for every kind.
                if (r.headers["accept"] ?? "").contains("protobuf") {
                    return .raw(200, "application/octet-stream", Data())
                }
                return .json(200, ["swagger": "2.0", "info": ["title": "Kubernetes", "version": "v1.32.0"], "paths": [:], "definitions": [:]])
            }
            return .raw(404, "text/plain; charset=utf-8", Data("404 page not found\n".utf8))
        case "api":
            if segs.count == 1 {
                return .json(200, ["kind": "APIVersions", "versions": ["v1"],
                                   "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string("127.0.0.1:\(port)")]]])
            }
            guard segs[1] == "v1" else { throw notFoundPage() }
            if segs.count == 2 { return .json(200, resourceList(group: "", version: "v1")) }
            return try resource(r, group: "", version: "v1", rest: Array(segs.dropFirst(2)))
        case "apis":
            if segs.count == 1 { return .json(200, groupList()) }
            let group = segs[1]
            let types = store.allTypes().filter { $0.group == group }
            guard !types.isEmpty else { throw notFoundPage() }
            if segs.count == 2 {
                guard let g = groupList()["groups"]?.arrayValue?.first(where: { $0["name"]?.stringValue == group }) else { throw notFoundPage() }
                var o = g
                o["kind"] = "APIGroup"; o["apiVersion"] = "v1"
                return .json(200, o)
            }
            let version = segs[2]
            guard types.contains(where: { $0.version == version }) else { throw notFoundPage() }
            if segs.count == 3 { return .json(200, resourceList(group: group, version: version)) }
            return try resource(r, group: group, version: version, rest: Array(segs.dropFirst(3)))
        default:
            throw notFoundPage()
        }
    }

    private func notFoundPage() -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource", details: [:])
    }

    // MARK: discovery

    func resourceList(group: String, version: String) -> KubeJSON {
        let types = store.allTypes().filter { $0.group == group && $0.version == version }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
                "resources": .array(types.flatMap { $0.discoveryEntries() })]
    }

    func groupList() -> KubeJSON {
        var order: [String] = []
        var versions: [String: [String]] = [:]
        for t in store.allTypes() where !t.group.isEmpty {
            if versions[t.group] == nil { order.append(t.group) }
            if !(versions[t.group] ?? []).contains(t.version) { versions[t.group, default: []].append(t.version) }
        }
        let groups: [KubeJSON] = order.map { g in
            let vs = versions[g] ?? []
            let gvs: [KubeJSON] = vs.map { ["groupVersion": .string("\(g)/\($0)"), "version": .string($0)] }
            return ["name": .string(g), "versions": .array(gvs), "preferredVersion": gvs.first ?? .null]
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    // MARK: resources

    private func resource(_ r: APIRequest, group: String, version: String, rest: [String]) throws -> APIResponse {
        var rest = rest
        var watch = ["true", "1"].contains(r.query["watch"] ?? "")
        if rest.first == "watch" { watch = true; rest.removeFirst() }
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces", let t = store.type(group: group, version: version, plural: rest[2]), t.namespaced {
            namespace = rest[1]
            rest = Array(rest.dropFirst(2))
        }
        guard let plural = rest.first, let t = store.type(group: group, version: version, plural: plural) else { throw notFoundPage() }
        let name = rest.count > 1 ? rest[1] : nil
        let sub = rest.count > 2 ? rest[2] : nil
        if rest.count > 3 { throw notFoundPage() }
        if sub == "scale", let name, let namespace, Router.scalable.contains(t.storageKey) {
            return try scale(r, t, namespace: namespace, name: name)
        }
        if let sub, sub != "status" || !t.hasStatus { throw notFoundPage() }
        if t.namespaced && namespace == nil && name != nil { throw notFoundPage() }
        if !t.namespaced && namespace != nil { throw notFoundPage() }

        let labels = try r.query["labelSelector"].flatMap { $0.isEmpty ? nil : $0 }.map { s -> LabelSelector in
            do { return try LabelSelector(s) } catch let e as PatchError { throw APIError.badRequest(e.message) }
        }
        let fields = try r.query["fieldSelector"].flatMap { $0.isEmpty ? nil : $0 }.map { s -> FieldSelector in
            do { return try FieldSelector(s) } catch let e as PatchError { throw APIError.badRequest(e.message) }
        }
        var ctx = WriteContext()
        ctx.dryRun = r.query["dryRun"] == "All"
        if let dr = r.query["dryRun"], !dr.isEmpty, dr != "All" { throw APIError.badRequest("Invalid dry run value: \(dr)") }
        ctx.force = r.query["force"] == "true"
        ctx.statusScope = sub == "status"
        let ua = r.headers["user-agent"] ?? ""
        ctx.manager = r.query["fieldManager"].flatMap { $0.isEmpty ? nil : $0 }
            ?? String((ua.split(separator: "/").first ?? "unknown").prefix(128))

        switch (r.method, name) {
        case ("GET", nil):
            let filter = WatchFilter(storageKey: t.storageKey, namespace: namespace, labels: labels, fields: fields, apiVersion: t.groupVersion)
            if watch {
                var timeout = Double(r.query["timeoutSeconds"] ?? "") ?? 1800
                if !timeout.isFinite { timeout = 1800 }
                return .watch(t, filter, resourceVersion: r.query["resourceVersion"], timeout: max(0, min(timeout, 3600)))
            }
            let (items, rv) = store.list(t, namespace: namespace, labels: labels, fields: fields)
            if wantsTable(r) { return .json(200, table(items, rv: rv)) }
            return .json(200, ["kind": .string(t.kind + "List"), "apiVersion": .string(t.groupVersion),
                               "metadata": ["resourceVersion": .string(String(rv))], "items": .array(items)])
        case ("GET", let name?):
            if watch { throw APIError.methodNotAllowed() }
            let o = try store.get(t, namespace: namespace, name: name)
            if wantsTable(r) { return .json(200, table([o], rv: store.currentRV())) }
            return .json(200, o)
        case ("POST", nil):
            guard !ctx.statusScope else { throw APIError.methodNotAllowed() }
            let body = try parseBody(r)
            let created = try store.create(t, namespace: namespace, body: body, ctx: ctx)
            return .json(201, created)
        case ("PUT", let name?):
            let body = try parseBody(r)
            return .json(200, try store.update(t, namespace: namespace, name: name, body: body, ctx: ctx))
        case ("PATCH", let name?):
            let ct = (r.headers["content-type"] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            let kind: Store.PatchKind
            switch ct {
            case "application/merge-patch+json": kind = .merge
            case "application/strategic-merge-patch+json":
                kind = t.fromCRD ? .merge : .strategic
                if t.fromCRD {
                    throw APIError(code: 415, reason: "UnsupportedMediaType",
                                   message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                                   details: [:])
                }
            case "application/json-patch+json": kind = .json
            case "application/apply-patch+yaml", "application/apply-patch+json", "application/apply-patch+cbor": kind = .apply
            default: throw APIError.unsupportedMediaType(ct)
            }
            if kind == .apply && (r.query["fieldManager"] ?? "").isEmpty {
                throw APIError.badRequest("PATCH request with apply patch must provide a fieldManager")
            }
            if kind != .apply && r.query["force"] != nil {
                throw APIError.badRequest("force is not allowed for patch types other than apply")
            }
            let body = try parseBody(r, yaml: kind == .apply)
            let existed = store.peek(t, namespace: namespace, name: name) != nil
            let result = try store.patch(t, namespace: namespace, name: name, kind: kind, patch: body, ctx: ctx)
            return .json(existed ? 200 : 201, result)
        case ("DELETE", let name?):
            guard !ctx.statusScope else { throw APIError.methodNotAllowed() }
            var preRV: String?, preUID: String?
            if !r.body.isEmpty, let opts = try? parseBody(r) {
                preRV = opts.at("preconditions.resourceVersion")?.stringValue
                preUID = opts.at("preconditions.uid")?.stringValue
                if opts["dryRun"]?.arrayValue?.contains("All") == true { ctx.dryRun = true }
                if let p = opts["propagationPolicy"]?.stringValue, !["Orphan", "Background", "Foreground"].contains(p) {
                    throw APIError.badRequest("propagationPolicy: Unsupported value: \"\(p)\"")
                }
                if opts["propagationPolicy"]?.stringValue == "Orphan" || opts["orphanDependents"]?.boolValue == true {
                    ctx.orphanDependents = true
                }
            }
            if let p = r.query["propagationPolicy"], !["Orphan", "Background", "Foreground"].contains(p) {
                throw APIError.badRequest("propagationPolicy: Unsupported value: \"\(p)\"")
            }
            if r.query["propagationPolicy"] == "Orphan" { ctx.orphanDependents = true }
            let (obj, gone) = try store.delete(t, namespace: namespace, name: name, ctx: ctx, preconditionRV: preRV, preconditionUID: preUID)
            return .json(gone ? 200 : 202, obj)
        case ("DELETE", nil):
            let items = try store.deleteCollection(t, namespace: namespace, labels: labels, fields: fields, ctx: ctx)
            return .json(200, ["kind": .string(t.kind + "List"), "apiVersion": .string(t.groupVersion),
                               "metadata": ["resourceVersion": .string(String(store.currentRV()))], "items": .array(items)])
        default:
            throw APIError.methodNotAllowed()
        }
    }

    static let scalable: Set<String> = ["apps/deployments", "apps/statefulsets", "apps/replicasets"]

    /// The `scale` subresource (autoscaling/v1 Scale), which `kubectl scale` uses.
    private func scale(_ r: APIRequest, _ t: ResourceType, namespace: String, name: String) throws -> APIResponse {
        func view(_ o: KubeJSON) -> KubeJSON {
            var meta: [String: KubeJSON] = [:]
            for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] { meta[k] = o.at("metadata.\(k)") }
            let labels = (o.at("spec.selector.matchLabels")?.objectValue ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
            return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(meta),
                    "spec": ["replicas": o.at("spec.replicas") ?? 1],
                    "status": ["replicas": o.at("status.replicas") ?? 0, "selector": .string(labels)]]
        }
        let current = try store.get(t, namespace: namespace, name: name)
        var ctx = WriteContext()
        ctx.dryRun = r.query["dryRun"] == "All"
        ctx.manager = r.query["fieldManager"].flatMap { $0.isEmpty ? nil : $0 }
            ?? String(((r.headers["user-agent"] ?? "unknown").split(separator: "/").first ?? "unknown").prefix(128))
        let desired: KubeJSON
        switch r.method {
        case "GET": return .json(200, view(current))
        case "PUT": desired = try parseBody(r)
        case "PATCH":
            let ct = r.headers["content-type"] ?? ""
            let body = try parseBody(r)
            if ct.contains("json-patch") {
                do { desired = try Patch.jsonPatch(view(current), body) } catch let e as PatchError {
                    throw APIError(code: 422, reason: "Invalid", message: e.message, details: nil)
                }
            } else { desired = Patch.merge(view(current), body) }
        default: throw APIError.methodNotAllowed()
        }
        // A negative count is refused by the store's workload validation, as for any other write.
        guard let replicas = desired.at("spec.replicas")?.intValue else {
            throw APIError.invalid(t, name, causes: [("spec.replicas", "FieldValueRequired", "Required value")])
        }
        if let rv = desired.at("metadata.resourceVersion")?.stringValue, rv != current.at("metadata.resourceVersion")?.stringValue {
            throw APIError.conflict(t, name)
        }
        let updated = try store.patch(t, namespace: namespace, name: name, kind: .merge,
                                      patch: ["spec": ["replicas": .int(replicas)]], ctx: ctx)
        return .json(200, view(updated))
    }

    private func parseBody(_ r: APIRequest, yaml: Bool = false) throws -> KubeJSON {
        guard !r.body.isEmpty else { throw APIError.badRequest("the request body is empty") }
        let ct = r.headers["content-type"] ?? ""
        let first = r.body.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) })
        if (yaml || ct.contains("yaml")) && first != UInt8(ascii: "{") && first != UInt8(ascii: "[") {
            do { return try YAMLToJSON.parse(r.body) } catch let e as YAMLToJSON.Failure { throw APIError.badRequest(e.message) }
        }
        if ct.contains("protobuf") {
            do { return try KubeProtobuf.decode(r.body) } catch let e as KubeProtobuf.Unsupported {
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: e.message, details: [:])
            }
        }
        if ct.contains("cbor") {
            throw APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml", details: [:])
        }
        do { return try KubeJSON.parse(r.body) } catch let e as KubeJSON.ParseError {
            throw APIError.badRequest("error decoding request body: \(e.description)")
        }
    }

    // MARK: server-side printing (Table), which kubectl asks for by default

    private func wantsTable(_ r: APIRequest) -> Bool {
        (r.headers["accept"] ?? "").contains("as=Table")
    }

    private func table(_ items: [KubeJSON], rv: Int64) -> KubeJSON {
        let rows: [KubeJSON] = items.map { o in
            var meta: KubeJSON = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"] ?? [:]]
            meta.set(["metadata", "managedFields"], nil)
            return ["cells": [o.at("metadata.name") ?? "", .string(age(o.at("metadata.creationTimestamp")?.stringValue))], "object": meta]
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": ["resourceVersion": .string(String(rv))],
                "columnDefinitions": [
                    ["name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0],
                    ["name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0],
                ],
                "rows": .array(rows)]
    }

    private func age(_ ts: String?) -> String {
        guard let ts, let d = try? Date(ts, strategy: .iso8601) else { return "<unknown>" }
        let s = Int(Date().timeIntervalSince(d))
        if s < 120 { return "\(max(s, 0))s" }
        if s < 7200 { return "\(s / 60)m" }
        return "\(s / 3600)h"
    }
}

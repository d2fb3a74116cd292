import Foundation

/// One step of a field path, as in structured-merge-diff: `f:name`, `k:{"name":"x"}`, `v:"x"`, `i:0`.
enum PathElement: Hashable, Sendable {
    case field(String)
    case key(KubeJSON)  // an object of the key fields
    case value(KubeJSON)
    case index(Int)

    var fieldsV1Key: String {
        switch self {
        case .field(let f): return "f:" + f
        case .key(let k): return "k:" + k.serialized()
        case .value(let v): return "v:" + v.serialized()
        case .index(let i): return "i:\(i)"
        }
    }

    /// How conflict messages print it (fieldpath.Path.String()).
    var display: String {
        switch self {
        case .field(let f): return "." + f
        case .key(let k):
            let parts = (k.objectValue ?? [:]).keys.sorted().map { "\($0)=\(k[$0]?.serialized() ?? "null")" }
            return "[" + parts.joined(separator: ",") + "]"
        case .value(let v): return "[=" + v.serialized() + "]"
        case .index(let i): return "[\(i)]"
        }
    }

    init?(fieldsV1Key s: String) {
        if s.hasPrefix("f:") { self = .field(String(s.dropFirst(2))) }
        else if s.hasPrefix("k:"), let k = try? KubeJSON.parse(String(s.dropFirst(2))) { self = .key(k) }
        else if s.hasPrefix("v:"), let v = try? KubeJSON.parse(String(s.dropFirst(2))) { self = .value(v) }
        else if s.hasPrefix("i:"), let i = Int(s.dropFirst(2)) { self = .index(i) }
        else { return nil }
    }
}

typealias FieldPath = [PathElement]

func displayPath(_ p: FieldPath) -> String { p.map(\.display).joined() }

/// Which lists are associative (merged by key) in built-in types; every other list is atomic.
let associativeListKeys: [String: [String]] = [
    "containers": ["name"], "initContainers": ["name"], "ephemeralContainers": ["name"], "volumes": ["name"],
    "env": ["name"], "volumeMounts": ["mountPath"], "imagePullSecrets": ["name"], "ports": ["containerPort", "port"],
    "ownerReferences": ["uid"], "volumeDevices": ["devicePath"], "conditions": ["type"],
]
let setLists: Set<String> = ["finalizers"]

struct FieldManager {
    /// Whether lists are treated as in built-in schemas (false for custom resources: all lists atomic).
    var builtinSchema: Bool
    var hasStatus: Bool

    static let ignoredMetadata: Set<String> = ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                                               "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"]

    func listKey(_ field: String, _ items: [KubeJSON]) -> String? {
        guard builtinSchema, let candidates = associativeListKeys[field], !items.isEmpty,
              items.allSatisfy({ $0.objectValue != nil }) else { return nil }
        return candidates.first { c in items.allSatisfy { $0[c] != nil } }
    }

    func keyElement(_ item: KubeJSON, _ key: String) -> PathElement {
        .key(.object([key: item[key] ?? .null]))
    }

    /// Top-level children considered for ownership, per write scope.
    func rootChildren(_ obj: KubeJSON, statusScope: Bool) -> [(String, KubeJSON)] {
        guard case .object(let o) = obj else { return [] }
        var out: [(String, KubeJSON)] = []
        for (k, v) in o {
            if k == "apiVersion" || k == "kind" { continue }
            if statusScope != (k == "status") && (hasStatus || statusScope) { continue }
            if k == "metadata", case .object(var m) = v {
                for i in FieldManager.ignoredMetadata { m[i] = nil }
                if m.isEmpty { continue }
                out.append((k, .object(m)))
            } else {
                out.append((k, v))
            }
        }
        return out
    }

    /// The set of fields an applied configuration specifies (leaves, list items, empty maps).
    func appliedSet(_ obj: KubeJSON, statusScope: Bool = false) -> Set<FieldPath> {
        var out = Set<FieldPath>()
        for (k, v) in rootChildren(obj, statusScope: statusScope) { collect(v, [.field(k)], name: k, into: &out, markMaps: false) }
        out.remove([.field("metadata")])  // metadata always exists: never owned as a whole
        return out
    }

    private func collect(_ v: KubeJSON, _ path: FieldPath, name: String, into out: inout Set<FieldPath>, markMaps: Bool) {
        switch v {
        case .object(let o):
            if o.isEmpty || markMaps { out.insert(path) }
            for (k, c) in o { collect(c, path + [.field(k)], name: k, into: &out, markMaps: markMaps) }
        case .array(let a):
            if let key = listKey(name, a) {
                for item in a {
                    let p = path + [keyElement(item, key)]
                    out.insert(p)
                    for (k, c) in item.objectValue ?? [:] { collect(c, p + [.field(k)], name: k, into: &out, markMaps: markMaps) }
                }
            } else if builtinSchema && setLists.contains(name) && a.allSatisfy({ $0.objectValue == nil && $0.arrayValue == nil }) {
                if markMaps { out.insert(path) }
                for item in a { out.insert(path + [.value(item)]) }
            } else {
                out.insert(path)
            }
        default:
            out.insert(path)
        }
    }

    /// Fields added or changed from `old` to `new` (what an Update operation takes ownership of).
    func updatedSet(old: KubeJSON, new: KubeJSON, statusScope: Bool = false) -> Set<FieldPath> {
        var out = Set<FieldPath>()
        let oldChildren = Dictionary(rootChildren(old, statusScope: statusScope), uniquingKeysWith: { a, _ in a })
        for (k, v) in rootChildren(new, statusScope: statusScope) {
            diff(oldChildren[k], v, [.field(k)], name: k, into: &out)
        }
        out.remove([.field("metadata")])
        return out
    }

    private func diff(_ old: KubeJSON?, _ new: KubeJSON, _ path: FieldPath, name: String, into out: inout Set<FieldPath>) {
        guard let old else { collect(new, path, name: name, into: &out, markMaps: true); return }
        switch (old, new) {
        case (.object(let oo), .object(let no)):
            for (k, c) in no { diff(oo[k], c, path + [.field(k)], name: k, into: &out) }
        case (.array(let oa), .array(let na)):
            if let key = listKey(name, na), listKey(name, oa) == key || oa.isEmpty {
                for item in na {
                    let p = path + [keyElement(item, key)]
                    if let prev = oa.first(where: { $0[key] == item[key] }) {
                        for (k, c) in item.objectValue ?? [:] { diff(prev[k], c, p + [.field(k)], name: k, into: &out) }
                    } else {
                        out.insert(p)
                        for (k, c) in item.objectValue ?? [:] { collect(c, p + [.field(k)], name: k, into: &out, markMaps: true) }
                    }
                }
            } else if builtinSchema && setLists.contains(name) {
                for item in na where !oa.contains(item) { out.insert(path + [.value(item)]) }
            } else if oa != na {
                out.insert(path)
            }
        default:
            if old != new { collect(new, path, name: name, into: &out, markMaps: true) }
        }
    }

    // MARK: values at paths

    static func value(_ obj: KubeJSON, _ path: FieldPath) -> KubeJSON? {
        var cur: KubeJSON? = obj
        for e in path {
            guard let c = cur else { return nil }
            switch e {
            case .field(let f): cur = c[f]
            case .key(let k):
                let fields = k.objectValue ?? [:]
                cur = c.arrayValue?.first { item in fields.allSatisfy { item[$0.key] == $0.value } }
            case .value(let v): cur = c.arrayValue?.contains(v) == true ? v : nil
            case .index(let i): cur = (c.arrayValue.flatMap { i >= 0 && i < $0.count ? $0[i] : nil })
            }
        }
        return cur
    }

    static func removing(_ obj: KubeJSON, _ path: ArraySlice<FieldPath.Element>) -> KubeJSON {
        guard let first = path.first else { return obj }
        let last = path.count == 1
        switch (obj, first) {
        case (.object(var o), .field(let f)):
            guard let child = o[f] else { return obj }
            o[f] = last ? nil : removing(child, path.dropFirst())
            return .object(o)
        case (.array(var a), .key(let k)):
            let fields = k.objectValue ?? [:]
            guard let idx = a.firstIndex(where: { item in fields.allSatisfy { item[$0.key] == $0.value } }) else { return obj }
            if last { a.remove(at: idx) } else { a[idx] = removing(a[idx], path.dropFirst()) }
            return .array(a)
        case (.array(let a), .value(let v)):
            return last ? .array(a.filter { $0 != v }) : obj
        case (.array(var a), .index(let i)):
            guard i >= 0, i < a.count else { return obj }
            if last { a.remove(at: i) } else { a[i] = removing(a[i], path.dropFirst()) }
            return .array(a)
        default:
            return obj
        }
    }

    /// Merges an applied configuration into the live object (maps merged, associative lists merged by key).
    func applyMerge(_ live: KubeJSON, _ applied: KubeJSON, name: String = "") -> KubeJSON {
        switch (live, applied) {
        case (.object(var lo), .object(let ao)):
            for (k, v) in ao { lo[k] = lo[k].map { applyMerge($0, v, name: k) } ?? v }
            return .object(lo)
        case (.array(let la), .array(let aa)):
            if let key = listKey(name, aa), listKey(name, la) == key || la.isEmpty {
                var result = la
                for item in aa {
                    if let idx = result.firstIndex(where: { $0[key] == item[key] }) {
                        result[idx] = applyMerge(result[idx], item)
                    } else {
                        result.append(item)
                    }
                }
                return .array(result)
            }
            if builtinSchema && setLists.contains(name) {
                var result = la
                for item in aa where !result.contains(item) { result.append(item) }
                return .array(result)
            }
            return applied
        default:
            return applied
        }
    }
}

// MARK: managedFields entries

struct ManagedEntry {
    var manager: String
    var operation: String
    var apiVersion: String
    var time: String
    var subresource: String?
    var fields: Set<FieldPath>

    init(manager: String, operation: String, apiVersion: String, time: String, subresource: String?, fields: Set<FieldPath>) {
        self.manager = manager; self.operation = operation; self.apiVersion = apiVersion
        self.time = time; self.subresource = subresource; self.fields = fields
    }

    init?(_ j: KubeJSON) {
        guard let m = j["manager"]?.stringValue else { return nil }
        manager = m
        operation = j["operation"]?.stringValue ?? "Update"
        apiVersion = j["apiVersion"]?.stringValue ?? ""
        time = j["time"]?.stringValue ?? ""
        subresource = j["subresource"]?.stringValue
        fields = ManagedEntry.parseFields(j["fieldsV1"] ?? .object([:]), prefix: [])
    }

    static func parseFields(_ j: KubeJSON, prefix: FieldPath) -> Set<FieldPath> {
        var out = Set<FieldPath>()
        for (k, v) in j.objectValue ?? [:] {
            if k == "." { out.insert(prefix); continue }
            guard let e = PathElement(fieldsV1Key: k) else { continue }
            let p = prefix + [e]
            let children = v.objectValue ?? [:]
            if children.isEmpty { out.insert(p) } else { out.formUnion(parseFields(v, prefix: p)) }
        }
        return out
    }

    static func fieldsV1(_ set: Set<FieldPath>) -> KubeJSON {
        final class Node { var member = false; var children: [String: Node] = [:] }
        let root = Node()
        for p in set {
            var n = root
            for e in p {
                let k = e.fieldsV1Key
                if let c = n.children[k] { n = c } else { let c = Node(); n.children[k] = c; n = c }
            }
            n.member = true
        }
        func render(_ n: Node) -> KubeJSON {
            var o: [String: KubeJSON] = [:]
            for (k, c) in n.children { o[k] = render(c) }
            if n.member && !o.isEmpty { o["."] = .object([:]) }
            return .object(o)
        }
        return render(root)
    }

    var json: KubeJSON {
        var o: [String: KubeJSON] = [
            "manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion),
            "time": .string(time), "fieldsType": "FieldsV1", "fieldsV1": ManagedEntry.fieldsV1(fields),
        ]
        if let subresource { o["subresource"] = .string(subresource) }
        return .object(o)
    }

    /// How the real server names a manager in conflict messages.
    var conflictName: String {
        var s = "\"\(manager)\""
        if let subresource { s += " with subresource \"\(subresource)\"" }
        if operation == "Update" { s += " using \(apiVersion)" }
        return s
    }
}

import Foundation

struct PatchError: Error { let message: String }

enum Patch {
    /// RFC 7386 JSON merge patch.
    static func merge(_ target: KubeJSON, _ patch: KubeJSON) -> KubeJSON {
        guard case .object(let p) = patch else { return patch }
        var t = target.objectValue ?? [:]
        for (k, v) in p {
            if v.isNull { t[k] = nil } else { t[k] = merge(t[k] ?? .null, v) }
        }
        return .object(t)
    }

    /// Merge keys the strategic merge patch uses for well-known lists (by field name).
    static let mergeKeys: [String: [String]] = [
        "containers": ["name"], "initContainers": ["name"], "ephemeralContainers": ["name"], "volumes": ["name"],
        "env": ["name"], "volumeMounts": ["mountPath"], "volumeDevices": ["devicePath"], "imagePullSecrets": ["name"],
        "ports": ["containerPort", "port"], "hostAliases": ["ip"], "tolerations": [], "conditions": ["type"],
        "volumeClaimTemplates": [], "args": [], "command": [],
    ]

    /// Strategic merge patch, simplified: a merge patch in which lists of objects with a merge key
    /// (by the list's field name, or "name" when every element has one) are merged element-wise,
    /// and the `$patch`, `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` directives are honoured.
    static func strategic(_ target: KubeJSON, _ patch: KubeJSON) -> KubeJSON {
        guard case .object(var p) = patch else { return patch }
        if p["$patch"]?.stringValue == "replace" { p["$patch"] = nil; return strip(.object(p)) }
        if p["$patch"]?.stringValue == "delete" { return .null }
        var t = target.objectValue ?? [:]
        if let retain = p["$retainKeys"]?.arrayValue?.compactMap({ $0.stringValue }) {
            for k in t.keys where !retain.contains(k) { t[k] = nil }
        }
        for (k, v) in p {
            if k.hasPrefix("$setElementOrder/") || k == "$retainKeys" || k == "$patch" { continue }
            if k.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(k.dropFirst("$deleteFromPrimitiveList/".count))
                if let remove = v.arrayValue, let cur = t[field]?.arrayValue {
                    t[field] = .array(cur.filter { !remove.contains($0) })
                }
                continue
            }
            if v.isNull { t[k] = nil; continue }
            if case .array(let pa) = v, let ta = t[k]?.arrayValue, let keyField = listMergeKey(field: k, pa, ta) {
                var result = ta
                for item in pa {
                    guard case .object(let io) = item else { continue }
                    let kv = io[keyField]
                    if let idx = result.firstIndex(where: { $0[keyField] == kv }) {
                        if io["$patch"]?.stringValue == "delete" { result.remove(at: idx); continue }
                        result[idx] = strategic(result[idx], item)
                    } else if io["$patch"]?.stringValue != "delete" {
                        result.append(strip(item))
                    }
                }
                t[k] = .array(result)
            } else if case .object = v {
                let merged = strategic(t[k] ?? .null, v)
                t[k] = merged.isNull ? nil : merged
            } else {
                t[k] = strip(v)
            }
        }
        return .object(t)
    }

    static func listMergeKey(field: String, _ patch: [KubeJSON], _ target: [KubeJSON]) -> String? {
        let all = patch + target
        guard !all.isEmpty, all.allSatisfy({ $0.objectValue != nil }) else { return nil }
        let candidates = (mergeKeys[field] ?? []) + ["name"]
        for c in candidates where patch.allSatisfy({ $0[c] != nil || $0["$patch"] != nil }) && target.allSatisfy({ $0[c] != nil }) {
            return c
        }
        return nil
    }

    /// Removes strategic-merge directives from a value that is inserted as a whole.
    static func strip(_ v: KubeJSON) -> KubeJSON {
        switch v {
        case .object(let o):
            var r: [String: KubeJSON] = [:]
            for (k, x) in o where !k.hasPrefix("$") { r[k] = strip(x) }
            return .object(r)
        case .array(let a): return .array(a.map(strip))
        default: return v
        }
    }

    // MARK: RFC 6902 JSON patch

    static func jsonPatch(_ target: KubeJSON, _ patch: KubeJSON) throws -> KubeJSON {
        guard let ops = patch.arrayValue else { throw PatchError(message: "json patch must be an array of operations") }
        var doc = target
        for op in ops {
            guard let name = op["op"]?.stringValue, let path = op["path"]?.stringValue else {
                throw PatchError(message: "json patch operation is missing op or path")
            }
            let pointer = try parsePointer(path)
            switch name {
            case "add":
                guard let value = op["value"] else { throw PatchError(message: "missing value for add operation") }
                doc = try add(doc, pointer[...], value)
            case "remove":
                doc = try remove(doc, pointer[...])
            case "replace":
                guard let value = op["value"] else { throw PatchError(message: "missing value for replace operation") }
                _ = try get(doc, pointer[...])
                doc = try remove(doc, pointer[...])
                doc = try add(doc, pointer[...], value)
            case "move", "copy":
                guard let from = op["from"]?.stringValue else { throw PatchError(message: "missing from for \(name) operation") }
                let fp = try parsePointer(from)
                let value = try get(doc, fp[...])
                if name == "move" { doc = try remove(doc, fp[...]) }
                doc = try add(doc, pointer[...], value)
            case "test":
                let value = try get(doc, pointer[...])
                if value != (op["value"] ?? .null) { throw PatchError(message: "testing value \(path) failed") }
            default:
                throw PatchError(message: "Unexpected kind: \(name)")
            }
        }
        return doc
    }

    static func parsePointer(_ s: String) throws -> [String] {
        if s.isEmpty { return [] }
        guard s.hasPrefix("/") else { throw PatchError(message: "JSON pointer must start with /: \(s)") }
        return s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func get(_ doc: KubeJSON, _ path: ArraySlice<String>) throws -> KubeJSON {
        guard let first = path.first else { return doc }
        switch doc {
        case .object(let o):
            guard let v = o[first] else { throw PatchError(message: "path /\(path.joined(separator: "/")) does not exist") }
            return try get(v, path.dropFirst())
        case .array(let a):
            guard let i = Int(first), i >= 0, i < a.count else { throw PatchError(message: "array index \(first) out of bounds") }
            return try get(a[i], path.dropFirst())
        default: throw PatchError(message: "path /\(path.joined(separator: "/")) does not exist")
        }
    }

    static func add(_ doc: KubeJSON, _ path: ArraySlice<String>, _ value: KubeJSON) throws -> KubeJSON {
        guard let first = path.first else { return value }
        let last = path.count == 1
        switch doc {
        case .object(var o):
            if last { o[first] = value } else {
                guard let child = o[first] else { throw PatchError(message: "doc is missing path: /\(path.joined(separator: "/"))") }
                o[first] = try add(child, path.dropFirst(), value)
            }
            return .object(o)
        case .array(var a):
            if last {
                if first == "-" { a.append(value); return .array(a) }
                guard let i = Int(first), i >= 0, i <= a.count else { throw PatchError(message: "array index \(first) out of bounds") }
                a.insert(value, at: i)
            } else {
                guard let i = Int(first), i >= 0, i < a.count else { throw PatchError(message: "array index \(first) out of bounds") }
                a[i] = try add(a[i], path.dropFirst(), value)
            }
            return .array(a)
        default:
            throw PatchError(message: "doc is missing path: /\(path.joined(separator: "/"))")
        }
    }

    static func remove(_ doc: KubeJSON, _ path: ArraySlice<String>) throws -> KubeJSON {
        guard let first = path.first else { return .null }
        let last = path.count == 1
        switch doc {
        case .object(var o):
            guard let child = o[first] else { throw PatchError(message: "unable to remove nonexistent key: \(first): missing value") }
            if last { o[first] = nil } else { o[first] = try remove(child, path.dropFirst()) }
            return .object(o)
        case .array(var a):
            guard let i = Int(first), i >= 0, i < a.count else { throw PatchError(message: "array index \(first) out of bounds") }
            if last { a.remove(at: i) } else { a[i] = try remove(a[i], path.dropFirst()) }
            return .array(a)
        default:
            throw PatchError(message: "doc is missing path: /\(path.joined(separator: "/"))")
        }
    }
}

// MARK: selectors

struct LabelSelector {
    enum Req {
        case eq(String, String), ne(String, String), `in`(String, Set<String>), notIn(String, Set<String>)
        case exists(String), notExists(String)
    }
    var reqs: [Req] = []

    init(_ s: String) throws {
        var rest = Substring(s)
        while true {
            rest = rest.drop(while: { $0 == " " })
            if rest.isEmpty { break }
            var negate = false
            if rest.first == "!" { negate = true; rest = rest.dropFirst() }
            // read key
            let keyEnd = rest.firstIndex(where: { " =!,(".contains($0) }) ?? rest.endIndex
            let key = String(rest[..<keyEnd]).trimmingCharacters(in: .whitespaces)
            rest = rest[keyEnd...].drop(while: { $0 == " " })
            guard !key.isEmpty else { throw PatchError(message: "unable to parse requirement: invalid label key \"\(s)\"") }
            if rest.isEmpty || rest.first == "," {
                reqs.append(negate ? .notExists(key) : .exists(key))
            } else if rest.hasPrefix("!=") || rest.hasPrefix("==") || rest.hasPrefix("=") {
                let ne = rest.hasPrefix("!=")
                rest = rest.dropFirst(rest.hasPrefix("=") && !rest.hasPrefix("==") ? 1 : 2).drop(while: { $0 == " " })
                let vEnd = rest.firstIndex(of: ",") ?? rest.endIndex
                let value = String(rest[..<vEnd]).trimmingCharacters(in: .whitespaces)
                rest = rest[vEnd...]
                reqs.append(ne ? .ne(key, value) : .eq(key, value))
            } else if rest.hasPrefix("in") || rest.hasPrefix("notin") {
                let notIn = rest.hasPrefix("notin")
                rest = rest.dropFirst(notIn ? 5 : 2).drop(while: { $0 == " " })
                guard rest.first == "(", let close = rest.firstIndex(of: ")") else {
                    throw PatchError(message: "unable to parse requirement: found '\(rest)', expected: '('")
                }
                let values = Set(rest[rest.index(after: rest.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                rest = rest[rest.index(after: close)...]
                reqs.append(notIn ? .notIn(key, values) : .in(key, values))
            } else {
                throw PatchError(message: "unable to parse requirement: found '\(rest)', expected: in, notin, =, ==, !=, gt, lt")
            }
            rest = rest.drop(while: { $0 == " " })
            if rest.first == "," { rest = rest.dropFirst() }
        }
    }

    func matches(_ labels: [String: String]) -> Bool {
        reqs.allSatisfy { r in
            switch r {
            case .eq(let k, let v): return labels[k] == v
            case .ne(let k, let v): return labels[k] != v
            case .in(let k, let vs): return labels[k].map { vs.contains($0) } ?? false
            case .notIn(let k, let vs): return labels[k].map { !vs.contains($0) } ?? true
            case .exists(let k): return labels[k] != nil
            case .notExists(let k): return labels[k] == nil
            }
        }
    }
}

struct FieldSelector {
    var reqs: [(field: String, value: String, negate: Bool)] = []

    init(_ s: String) throws {
        for part in s.split(separator: ",") {
            let p = String(part).trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            if let r = p.range(of: "!=") {
                reqs.append((String(p[..<r.lowerBound]), String(p[r.upperBound...]), true))
            } else if let r = p.range(of: "==") ?? p.range(of: "=") {
                reqs.append((String(p[..<r.lowerBound]), String(p[r.upperBound...]), false))
            } else {
                throw PatchError(message: "invalid selector: '\(s)'; can't understand '\(p)'")
            }
        }
    }

    func matches(_ obj: KubeJSON) -> Bool {
        reqs.allSatisfy { r in
            let actual: String
            switch obj.at(r.field) {
            case .string(let s)?: actual = s
            case .bool(let b)?: actual = b ? "true" : "false"
            case .int(let i)?: actual = String(i)
            default: actual = ""
            }
            return (actual == r.value) != r.negate
        }
    }
}

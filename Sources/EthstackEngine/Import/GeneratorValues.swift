import EthstackModel
import EthstackProviderAPI

/// Writes discovered values as stack values: references where a value is another discovered
/// object's id, ARN or (EKS cluster) name; variables where the region or the cluster's name appear;
/// literals otherwise, with a comment where a value looks like an id nothing discovered has.
struct ValueRenderer {
    struct Rendered {
        var value: YAMLOut
        var comments: [String] = []
        var comment: String? { comments.isEmpty ? nil : comments.joined(separator: "\n") }
    }

    struct FamilyRendered {
        var value: YAMLOut
        var comment: String?
        /// Values that differ per instance, for the for_each map: key → entries.
        var perKey: [String: [YAMLOut.Entry]] = [:]
    }

    /// Value → the references it could be (`vpc.id`), with the owning object's type and id.
    let references: [String: [(expression: String, owner: String)]]
    /// Family name → its members' ids in key order (for `name[*].id`).
    let families: [String: [String]]
    let variables: [(name: String, value: String)]

    init(naming: Naming, variables: [(String, String)]) {
        var references: [String: [(String, String)]] = [:]
        var families: [String: [String]] = [:]
        for group in naming.groups {
            for member in group.members {
                let object = member.source.object
                let address = ResourceAddress(name: group.name, key: member.key.map(InstanceKey.key)).description
                let owner = "\(object.type) \(object.id)"
                var seen = Set<String>()
                // An EKS cluster's id is its name: `.name` reads better.
                let attributes = object.type == "aws.eks_cluster" ? ["name", "arn"] : ["id", "arn"]
                for attr in attributes {
                    guard let v = object.attributes[attr]?.stringValue ?? (attr == "id" ? object.id : nil), !v.isEmpty,
                          seen.insert(v).inserted else { continue }
                    references[v, default: []].append(("\(address).\(attr)", owner))
                }
            }
            if group.keyed { families[group.name] = group.members.map { $0.source.object.id } }
        }
        self.references = references
        self.families = families
        // The longer value first, so that a cluster name containing the region is not split.
        self.variables = variables.sorted { $0.1.count > $1.1.count }.map { (name: $0.0, value: $0.1) }
    }

    /// One object's value at `path`.
    func render(_ value: Value, path: String, self object: DiscoveredObject) -> Rendered {
        let own = "\(object.type) \(object.id)"
        switch value.unmarked {
        case .string(let s):
            let candidates = (references[s] ?? []).filter { $0.owner != own && Self.mayRefer(s, at: path) }
            if candidates.count == 1, let only = candidates.first { return Rendered(value: .string("${\(only.expression)}")) }
            if candidates.count > 1 {
                return Rendered(value: YAMLOut.literal(value), comments: [
                    "\(path): \"\(s)\" is ambiguous (\(candidates.map(\.expression).joined(separator: ", "))): kept literal"])
            }
            if Self.looksLikeID(s) {
                return Rendered(value: YAMLOut.literal(value), comments: ["\(path): \(s) was not discovered: kept literal"])
            }
            return Rendered(value: .string(substitute(s)))
        case .list(let items):
            let rendered = items.enumerated().map { render($1, path: "\(path)[\($0)]", self: object) }
            if let families = wholeFamilies(items, path: path) {
                let splats = families.map { "\($0)[*].id" }
                return Rendered(value: .string(splats.count == 1 ? "${\(splats[0])}" : "${concat(\(splats.joined(separator: ", ")))}"))
            }
            return Rendered(value: .list(rendered.map(\.value)), comments: rendered.flatMap(\.comments))
        case .map(let m):
            var entries: [YAMLOut.Entry] = []
            var comments: [String] = []
            for key in m.keys.sorted() {
                let r = render(m[key] ?? .null, path: "\(path).\(key)", self: object)
                entries.append(YAMLOut.Entry(key: key, value: r.value))
                comments += r.comments
            }
            return Rendered(value: .map(entries), comments: comments)
        default:
            return Rendered(value: YAMLOut.literal(value))
        }
    }

    /// Whether a value equal to another object's id or ARN at `path` means that object. Generated
    /// ids and ARNs always do; a name (an EKS cluster's, an IAM role's) only where the attribute
    /// names an object (`cluster_name`, `role_arn`, `subnet_ids`) — a Name tag that happens to
    /// equal the cluster's name is just text.
    static func mayRefer(_ value: String, at path: String) -> Bool {
        if looksLikeID(value) || value.hasPrefix("arn:") { return true }
        let attribute = path.split(separator: ".").last.map { String($0.split(separator: "[").first ?? $0) } ?? path
        return ["_name", "_names", "_id", "_ids", "_arn", "_arns"].contains { attribute.hasSuffix($0) }
    }

    /// The families whose ids a list of ids (`subnet_ids`: a set, as every `_ids` attribute) is,
    /// each family whole: written `fam[*].id`, or `concat(a[*].id, b[*].id)`.
    func wholeFamilies(_ items: [Value], path: String) -> [String]? {
        guard path.hasSuffix("_ids") else { return nil }
        let ids = items.compactMap(\.stringValue)
        guard ids.count == items.count, ids.count > 1, Set(ids).count == ids.count else { return nil }
        let wanted = Set(ids)
        let whole = families.keys.sorted().filter { name in
            let members = Set(families[name] ?? [])
            return !members.isEmpty && members.isSubset(of: wanted)
        }
        var covered = Set<String>()
        for name in whole { covered.formUnion(families[name] ?? []) }
        guard covered == wanted, whole.map({ families[$0]?.count ?? 0 }).reduce(0, +) == ids.count else { return nil }
        return whole
    }

    /// A family's values at `path`: one value when all instances agree; `…${each.key}` when each
    /// is a common prefix and the key; else `${each.value.FIELD}` with the values in for_each.
    func family(_ path: String, values: [Value], keys: [String], members: [DiscoveredObject]) -> FamilyRendered {
        let rendered = zip(values, members).map { render($0, path: path, self: $1) }
        let texts = rendered.map { $0.value.render() }
        if Set(texts).count == 1, let first = rendered.first { return FamilyRendered(value: first.value, comment: first.comment) }
        let maps = values.compactMap { $0.unmarked.mapValue }
        if maps.count == values.count, let keySet = maps.first.map({ Set($0.keys) }), maps.allSatisfy({ Set($0.keys) == keySet }) {
            var entries: [YAMLOut.Entry] = []
            var perKey: [String: [YAMLOut.Entry]] = [:]
            var comments: [String] = []
            for k in keySet.sorted() {
                let inner = family("\(path).\(k)", values: maps.map { $0[k] ?? .null }, keys: keys, members: members)
                entries.append(YAMLOut.Entry(key: k, value: inner.value))
                for (key, extra) in inner.perKey { perKey[key, default: []] += extra }
                if let c = inner.comment { comments.append(c) }
            }
            return FamilyRendered(value: .map(entries), comment: comments.isEmpty ? nil : comments.joined(separator: "\n"), perKey: perKey)
        }
        let strings = values.compactMap { $0.unmarked.stringValue }
        if strings.count == values.count, zip(strings, keys).allSatisfy({ $0.hasSuffix($1) }) {
            let prefixes = Set(zip(strings, keys).map { String($0.dropLast($1.count)) })
            if prefixes.count == 1, let prefix = prefixes.first, !prefix.isEmpty {
                return FamilyRendered(value: .string(substitute(prefix) + "${each.key}"))
            }
        }
        let field = Naming.identifier(path.replacingOccurrences(of: ".", with: "_"))
        var perKey: [String: [YAMLOut.Entry]] = [:]
        for (key, r) in zip(keys, rendered) { perKey[key] = [YAMLOut.Entry(key: field, value: r.value)] }
        return FamilyRendered(value: .string("${each.value.\(field)}"), comment: rendered.compactMap(\.comment).first, perKey: perKey)
    }

    /// `${` escaped, then the variables' values (at word boundaries) as `${var.NAME}`.
    func substitute(_ text: String) -> String {
        var s = text.replacingOccurrences(of: "${", with: "$${")
        for variable in variables where !variable.value.isEmpty {
            s = Self.replaceWords(variable.value, with: "${var.\(variable.name)}", in: s,
                                  // A zone is the region and a letter (us-east-1a).
                                  allowLetterAfter: variable.name == "region")
        }
        return s
    }

    static func replaceWords(_ word: String, with replacement: String, in text: String, allowLetterAfter: Bool) -> String {
        var out = ""
        var rest = Substring(text)
        while let range = rest.range(of: word) {
            let before = range.lowerBound == rest.startIndex ? out.last : rest[rest.index(before: range.lowerBound)]
            let after = range.upperBound == rest.endIndex ? nil : rest[range.upperBound]
            let boundaryBefore = before.map { !($0.isLetter || $0.isNumber) } ?? true
            let boundaryAfter = after.map { !($0.isLetter || $0.isNumber) || (allowLetterAfter && $0.isLetter) } ?? true
            out += rest[..<range.lowerBound]
            out += boundaryBefore && boundaryAfter ? replacement : String(rest[range])
            rest = rest[range.upperBound...]
        }
        return out + rest
    }

    /// An AWS-style id (`vpc-0a1b2c3d`, `subnet-…`) or ARN of an account's object.
    static func looksLikeID(_ s: String) -> Bool {
        if s.hasPrefix("arn:aws") { return !s.hasPrefix("arn:aws:iam::aws:policy/") && !s.contains(":aws:cluster-access-policy/") }
        let parts = s.split(separator: "-", maxSplits: 1)
        guard parts.count == 2 else { return false }
        let prefixes: Set<String> = ["vpc", "subnet", "igw", "rtb", "sg", "nat", "eipalloc", "eni", "i", "vol", "snap", "ami",
                                     "lt", "tgw", "pcx", "vpce", "acl", "eigw", "dopt"]
        return prefixes.contains(String(parts[0])) && parts[1].count >= 8 && parts[1].allSatisfy(\.isHexDigit)
    }
}

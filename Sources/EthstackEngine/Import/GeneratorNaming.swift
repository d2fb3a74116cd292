import EthstackModel
import EthstackProviderAPI

/// Names the resources of a generated stack and forms families: deterministic, readable names
/// (`vpc`, `public_subnet`, `route_table_private`, `iam_role_nodes`) taken from the kind and, where
/// a kind has several objects, from what tells them apart in their Name tag or name.
struct Naming {
    struct Member {
        var key: String?
        var source: StackGenerator.Source
    }

    struct Group {
        var name: String
        var keyed: Bool
        var members: [Member]
    }

    let sources: [StackGenerator.Source]
    let region: String?
    private(set) var groups: [Group] = []

    init(sources: [StackGenerator.Source], region: String?) {
        self.sources = sources
        self.region = region
    }

    mutating func assign() {
        var byType: [String: [StackGenerator.Source]] = [:]
        for s in sources { byType[s.object.type, default: []].append(s) }
        let order = StackGenerator.typeOrder.filter { byType[$0] != nil } + byType.keys.filter { !StackGenerator.typeOrder.contains($0) }.sorted()
        var used = Set<String>()
        for type in order {
            let objects = byType[type] ?? []
            let base = Self.identifier(String(type.split(separator: ".", maxSplits: 1).last ?? Substring(type)))
            var families: [[Member]] = []
            var singles: [StackGenerator.Source] = []
            if type == "aws.subnet" {
                (families, singles) = zoneFamilies(objects)
            } else {
                singles = objects
            }
            // Families: one is `subnet`; several are told apart by public/private, else by their names.
            let familyLabels = Self.labels(families.map { members in
                let publicIP = members.first?.source.object.attributes["map_public_ip_on_launch"]?.boolValue
                return publicIP.map { $0 ? "public" : "private" } ?? ""
            }, fallback: families.map { Self.labelText($0.first?.source.object) })
            for (i, members) in families.enumerated() {
                let name = unique(families.count == 1 && singles.isEmpty ? base : "\(familyLabels[i])_\(base)", &used)
                groups.append(Group(name: name, keyed: true, members: members))
            }
            let singleLabels = Self.labels(singles.map { Self.labelText($0.object) }, fallback: nil)
            for (i, s) in singles.enumerated() {
                if type == "kubernetes.manifest" {
                    // A Kubernetes object is its kind and name: configmap_settings, namespace_apps.
                    let m = s.object.attributes["manifest"]
                    let label = Self.identifier("\(m?["kind"]?.stringValue ?? "object")_\(m?["metadata"]?["name"]?.stringValue ?? "")".lowercased())
                    groups.append(Group(name: unique(label, &used), keyed: false, members: [Member(key: nil, source: s)]))
                    continue
                }
                let name = unique(singles.count == 1 && families.isEmpty ? base : "\(base)_\(singleLabels[i])", &used)
                groups.append(Group(name: name, keyed: false, members: [Member(key: nil, source: s)]))
            }
        }
    }

    /// Subnets of one VPC with the same public-IP setting and tag keys, one per zone, keyed by the
    /// zone's letter: a family. The rest stay single.
    func zoneFamilies(_ objects: [StackGenerator.Source]) -> ([[Member]], [StackGenerator.Source]) {
        guard let region else { return ([], objects) }
        var buckets: [String: [StackGenerator.Source]] = [:]
        for s in objects {
            let a = s.object.attributes
            let signature = [a["vpc_id"]?.stringValue ?? "", a["map_public_ip_on_launch"]?.boolValue == true ? "public" : "private",
                             (a["tags"]?.mapValue?.keys.sorted() ?? []).joined(separator: ",")].joined(separator: "|")
            buckets[signature, default: []].append(s)
        }
        var families: [[Member]] = []
        var singles: [StackGenerator.Source] = []
        for signature in buckets.keys.sorted() {
            let members = buckets[signature] ?? []
            let keys = members.map { s -> String? in
                guard let zone = s.object.attributes["availability_zone"]?.stringValue, zone.hasPrefix(region) else { return nil }
                let key = String(zone.dropFirst(region.count))
                return key.isEmpty ? nil : key
            }
            let distinct = Set(keys.compactMap { $0 })
            if members.count > 1, distinct.count == members.count {
                families.append(zip(keys, members).map { Member(key: $0, source: $1) }.sorted { ($0.key ?? "") < ($1.key ?? "") })
            } else {
                singles += members
            }
        }
        return (families, singles)
    }

    /// What names an object for people: its Name tag, name, bucket, or id.
    static func labelText(_ object: DiscoveredObject?) -> String {
        guard let object else { return "" }
        let a = object.attributes
        return a["tags"]?["Name"]?.stringValue ?? a["name"]?.stringValue ?? a["bucket"]?.stringValue ?? object.id
    }

    /// Labels that tell texts apart: their words without the words all of them share at the start
    /// and at the end. Not distinct (or empty): numbered 1, 2, … in order.
    static func labels(_ texts: [String], fallback: [String]?) -> [String] {
        let words = texts.map { text in
            text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
        }
        var prefix = 0
        var suffix = 0
        if words.count > 1, let shortest = words.map(\.count).min() {
            while prefix < shortest - 1, Set(words.map { $0[prefix] }).count == 1 { prefix += 1 }
            while suffix < shortest - 1 - prefix, Set(words.map { $0[$0.count - 1 - suffix] }).count == 1 { suffix += 1 }
        }
        let labels = words.map { identifier($0.dropFirst(prefix).dropLast(suffix).joined(separator: "_")) }
        if Set(labels).count == labels.count, !labels.contains("") { return labels }
        if let fallback, fallback != texts { return Self.labels(fallback, fallback: nil) }
        return texts.indices.map { String($0 + 1) }
    }

    /// A resource name: letters, digits and `_`, starting with a letter.
    static func identifier(_ text: String) -> String {
        var out = String(text.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while out.contains("__") { out = out.replacingOccurrences(of: "__", with: "_") }
        out = String(out.drop { $0 == "_" })
        while out.hasSuffix("_") { out.removeLast() }
        if let first = out.first, !first.isLetter { out = "r_" + out }
        return out
    }

    private func unique(_ name: String, _ used: inout Set<String>) -> String {
        var candidate = name
        var n = 2
        while used.contains(candidate) {
            candidate = "\(name)_\(n)"
            n += 1
        }
        used.insert(candidate)
        return candidate
    }
}

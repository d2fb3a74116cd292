import EthstackLanguage
import EthstackModel
/// One instance of a declaration, with what `each` and `count.index` mean for it.
public struct InstanceContext: Sendable {
    public var address: ResourceAddress
    public var each: (key: Value, value: Value)?
    public var countIndex: Int?
}

enum InstanceExpansion {
    /// The most instances one resource may have (`count`, or keys of `for_each`): a typo such as a
    /// count of 1e9 is refused at its position instead of exhausting memory.
    static let maxInstances = 10_000

    /// Expands `count` / `for_each` into instances. Both must be known at plan time.
    static func expand(_ decl: ResourceDeclaration, evaluator: Evaluator) throws -> [InstanceContext] {
        if let countNode = decl.count {
            let v = try evaluator.evaluate(countNode)
            if v.containsUnknown {
                throw DiagnosticsError([.error(countNode.location, "\"count\" of \"\(decl.name)\" depends on values known only after apply; use values known at plan time")])
            }
            guard let n = v.intValue ?? v.stringValue.flatMap({ Int($0) }), n >= 0 else {
                throw DiagnosticsError([.error(countNode.location, "\"count\" must be a whole number ≥ 0, found \(v.containsSensitive ? "a sensitive value" : v.unmarked.jsonString())")])
            }
            guard n <= maxInstances else {
                throw DiagnosticsError([.error(countNode.location, "\"count\" is \(n): at most \(maxInstances) instances of one resource")])
            }
            return (0..<n).map { InstanceContext(address: ResourceAddress(name: decl.name, key: .index($0)), each: nil, countIndex: $0) }
        }
        if let forEachNode = decl.forEach {
            let v = try evaluator.evaluate(forEachNode)
            if v.containsUnknown {
                throw DiagnosticsError([.error(forEachNode.location, "\"for_each\" of \"\(decl.name)\" depends on values known only after apply; its keys must be known at plan time")])
            }
            if v.isSensitive {
                throw DiagnosticsError([.error(forEachNode.location, "\"for_each\" cannot use a sensitive value: its keys become addresses shown in the plan")])
            }
            let size = v.unmarked.listValue?.count ?? v.unmarked.mapValue?.count ?? 0
            guard size <= maxInstances else {
                throw DiagnosticsError([.error(forEachNode.location, "\"for_each\" has \(size) elements: at most \(maxInstances) instances of one resource")])
            }
            switch v.unmarked {
            case .map(let m):
                return m.keys.sorted().map {
                    InstanceContext(address: ResourceAddress(name: decl.name, key: .key($0)), each: (.string($0), m[$0]!), countIndex: nil)
                }
            case .list(let items):
                var seen = Set<String>()
                var out: [InstanceContext] = []
                for (i, item) in items.enumerated() {
                    // A key becomes an address, shown in plans, progress and state: never a secret
                    // (as Terraform refuses it).
                    if item.containsSensitive {
                        throw DiagnosticsError([.error(elementLocation(forEachNode, i), "\"for_each\" element \(i) is sensitive: a sensitive value cannot be an instance key, because keys become addresses shown in the plan, progress and state; use a map with non-sensitive keys and put the secret in its values")])
                    }
                    guard let key = item.interpolatedString else {
                        throw DiagnosticsError([.error(forEachNode.location, "\"for_each\" over a list needs strings, found a \(item.typeName); use a map for other values")])
                    }
                    if !seen.insert(key).inserted { continue }
                    out.append(InstanceContext(address: ResourceAddress(name: decl.name, key: .key(key)), each: (.string(key), .string(key)), countIndex: nil))
                }
                return out.sorted { $0.address < $1.address }
            case .null:
                return []
            default:
                throw DiagnosticsError([.error(forEachNode.location, "\"for_each\" must be a map or a list of strings, found \(v.typeName)")])
            }
        }
        return [InstanceContext(address: ResourceAddress(name: decl.name), each: nil, countIndex: nil)]
    }

    /// Where element `i` of a `for_each` list is written, when it is written as a YAML list.
    static func elementLocation(_ node: ConfigNode, _ i: Int) -> SourceLocation {
        if case .list(let items, _) = node, i < items.count { return items[i].location }
        return node.location
    }
}

import EthstackLanguage
import EthstackModel
/// One instance of a declaration, with what `each` and `count.index` mean for it.
public struct InstanceContext: Sendable {
    public var address: ResourceAddress
    public var each: (key: Value, value: Value)?
    public var countIndex: Int?
}

enum InstanceExpansion {
    /// Expands `count` / `for_each` into instances. Both must be known at plan time.
    static func expand(_ decl: ResourceDeclaration, evaluator: Evaluator) throws -> [InstanceContext] {
        if let countNode = decl.count {
            let v = try evaluator.evaluate(countNode)
            if v.containsUnknown {
                throw DiagnosticsError([.error(countNode.location, "\"count\" of \"\(decl.name)\" depends on values known only after apply; use values known at plan time")])
            }
            guard let n = v.intValue ?? v.stringValue.flatMap({ Int($0) }), n >= 0 else {
                throw DiagnosticsError([.error(countNode.location, "\"count\" must be a whole number ≥ 0, found \(v.isSensitive ? "a sensitive value" : v.unmarked.jsonString())")])
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
            switch v.unmarked {
            case .map(let m):
                return m.keys.sorted().map {
                    InstanceContext(address: ResourceAddress(name: decl.name, key: .key($0)), each: (.string($0), m[$0]!), countIndex: nil)
                }
            case .list(let items):
                var seen = Set<String>()
                var out: [InstanceContext] = []
                for item in items {
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
}

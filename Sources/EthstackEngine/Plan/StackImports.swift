import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// One `import:` entry (or one element of its `for_each`), evaluated: the address that adopts the
/// object and the id its provider knows it by.
struct PlannedImport: Sendable {
    var address: ResourceAddress
    var id: String
    var declaration: ResourceDeclaration
    var location: SourceLocation
}

/// The stack's `import:` entries for one plan. Rules (Terraform's, where it has one):
/// - the address must be an instance the stack declares (checked after expansion, in the plan);
/// - an address already in state with the same id is adopted already: the entry does nothing, so
///   a stack keeps its `import:` list after the apply and plans clean;
/// - an address in state with another id is refused, as is an address named twice.
enum StackImports {
    static func expand(_ stack: StackDeclaration, scope: EvaluationScope, prior: StackState,
                       targeted: Set<String>?) throws -> [PlannedImport] {
        var d = DiagnosticCollector()
        var out: [PlannedImport] = []
        var seen: [ResourceAddress: SourceLocation] = [:]
        for entry in stack.imports {
            guard let decl = stack.resource(named: entry.resource) else {
                d.error(entry.resourceLocation, "import: no resource named \"\(entry.resource)\"",
                        hint: didYouMean(entry.resource, in: stack.resources.map(\.name)))
                continue
            }
            if let targeted, !targeted.contains(decl.name) { continue }
            do {
                for each in try elements(entry, scope: scope) {
                    var elementScope = scope
                    elementScope.each = each
                    let evaluator = Evaluator(scope: elementScope)
                    let address = ResourceAddress(name: decl.name, key: try key(entry, evaluator: evaluator))
                    let id = try identifier(entry, evaluator: evaluator, address: address)
                    if let first = seen[address] {
                        d.error(entry.location, "import: \(address) is imported twice (first at \(first.line):\(first.column))")
                        continue
                    }
                    seen[address] = entry.location
                    if let recorded = prior.resources[address] {
                        // Adopted by an earlier apply: the entry may stay in the stack.
                        if recorded.id == id { continue }
                        d.error(entry.location, "import: \(address) is already in state as \(recorded.id), not \(id)",
                                hint: "`ethstack state rm \(address)` first to adopt another object there, or remove the entry")
                        continue
                    }
                    out.append(PlannedImport(address: address, id: id, declaration: decl, location: entry.location))
                }
            } catch let e as DiagnosticsError {
                d.append(contentsOf: e.diagnostics)
            }
        }
        try d.throwIfErrors()
        return out.sorted { $0.address < $1.address }
    }

    /// The `each` of every element of the entry's `for_each` (one nil element without one).
    static func elements(_ entry: ImportDeclaration, scope: EvaluationScope) throws -> [(key: Value, value: Value)?] {
        guard let node = entry.forEach else { return [nil] }
        let v = try Evaluator(scope: scope).evaluate(node)
        if v.containsUnknown {
            throw DiagnosticsError([.error(node.location, "import: \"for_each\" depends on values known only after apply; an import's ids must be known at plan time")])
        }
        if v.containsSensitive {
            throw DiagnosticsError([.error(node.location, "import: \"for_each\" cannot use a sensitive value: its keys become addresses shown in the plan")])
        }
        switch v.unmarked {
        case .map(let m): return m.keys.sorted().map { (key: .string($0), value: m[$0] ?? .null) }
        case .list(let items):
            return try items.map { item in
                guard let s = item.interpolatedString else {
                    throw DiagnosticsError([.error(node.location, "import: \"for_each\" over a list needs strings, found a \(item.typeName); use a map for other values")])
                }
                return (key: .string(s), value: .string(s))
            }
        case .null: return []
        default:
            throw DiagnosticsError([.error(node.location, "import: \"for_each\" must be a map or a list of strings, found \(v.typeName)")])
        }
    }

    static func key(_ entry: ImportDeclaration, evaluator: Evaluator) throws -> InstanceKey? {
        guard let node = entry.key else { return nil }
        let v = try evaluator.evaluate(node)
        if v.containsUnknown || v.containsSensitive {
            throw DiagnosticsError([.error(node.location, "import: the key in \"to\" must be known at plan time and not sensitive")])
        }
        switch v.unmarked {
        case .string(let s): return .key(s)
        case .number(let n) where n >= 0 && n == n.rounded() && n < Double(Int32.max): return .index(Int(n))
        default:
            throw DiagnosticsError([.error(node.location, "import: the key in \"to\" must be a string or a whole number ≥ 0, found a \(v.typeName)")])
        }
    }

    static func identifier(_ entry: ImportDeclaration, evaluator: Evaluator, address: ResourceAddress) throws -> String {
        let v = try evaluator.evaluate(entry.id)
        if v.containsUnknown {
            throw DiagnosticsError([.error(entry.id.location, "import \(address): \"id\" depends on values known only after apply; it must be known at plan time")])
        }
        if v.containsSensitive {
            throw DiagnosticsError([.error(entry.id.location, "import \(address): \"id\" cannot be sensitive: it is recorded in state and shown in the plan")])
        }
        guard let id = v.interpolatedString, !id.isEmpty else {
            throw DiagnosticsError([.error(entry.id.location, "import \(address): \"id\" must be a non-empty string, found \(v.typeName)")])
        }
        return id
    }
}

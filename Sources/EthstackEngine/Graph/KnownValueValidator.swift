import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// What `validate` checks after references: every expression is evaluated with what is known
/// without providers or state — literals, variables given or defaulted (a required variable without
/// a value is unknown) — and resources' attributes unknown. Function errors on known arguments,
/// operators on the wrong types, a `count` or `for_each` that is known and wrong, and a property
/// whose known value does not fit the schema's type are reported, each once, with its position.
/// A resource whose `count` is unknown is evaluated no further (`count.index` has no value then).
public struct KnownValueValidator {
    public let registry: ProviderRegistry

    public init(registry: ProviderRegistry) {
        self.registry = registry
    }

    public func validate(_ stack: StackDeclaration, variables: [String: Value]) throws {
        var d = DiagnosticCollector()
        var seen = Set<String>()
        func record(_ error: Error, at location: SourceLocation?) {
            let diagnostics = (error as? DiagnosticsError)?.diagnostics ?? [.error(location, "\(error)")]
            for diagnostic in diagnostics where seen.insert(diagnostic.description).inserted { d.append(diagnostic) }
        }
        var unknownResources: [String: Value] = [:]
        for r in stack.resources { unknownResources[r.name] = .unknown }
        let scope = EvaluationScope(stack: stack, variables: variables, resources: unknownResources)

        for p in stack.providers {
            guard let config = p.configuration else { continue }
            do { _ = try Evaluator(scope: scope).evaluate(config) } catch { record(error, at: config.location) }
        }
        for r in stack.resources {
            for instance in instances(of: r, in: scope, record: record) {
                var instanceScope = scope
                instanceScope.each = instance.each
                instanceScope.countIndex = instance.countIndex
                let evaluator = Evaluator(scope: instanceScope)
                for entry in r.properties {
                    do {
                        let value = try evaluator.evaluate(entry.value)
                        checkType(value, of: entry, in: r, &d, &seen)
                    } catch {
                        record(error, at: entry.value.location)
                    }
                }
            }
        }
        for o in stack.outputs {
            do { _ = try Evaluator(scope: scope).evaluate(o.value) } catch { record(error, at: o.value.location) }
        }
        try d.throwIfErrors()
    }

    /// The instances whose properties can be evaluated: all of them when `count`/`for_each` is
    /// known, one with an unknown `each` when `for_each` is not, none when `count` is not.
    private func instances(of r: ResourceDeclaration, in scope: EvaluationScope,
                           record: (Error, SourceLocation?) -> Void) -> [InstanceContext] {
        let unknownInstance = InstanceContext(address: ResourceAddress(name: r.name), each: (Value.unknown, Value.unknown), countIndex: nil)
        if let expansion = r.count ?? r.forEach {
            do {
                if try Evaluator(scope: scope).evaluate(expansion).containsUnknown {
                    return r.count == nil ? [unknownInstance] : []
                }
                return try InstanceExpansion.expand(r, evaluator: Evaluator(scope: scope))
            } catch {
                record(error, expansion.location)
                return []
            }
        }
        return [InstanceContext(address: ResourceAddress(name: r.name), each: nil, countIndex: nil)]
    }

    private func checkType(_ value: Value, of entry: ConfigEntry, in r: ResourceDeclaration,
                           _ d: inout DiagnosticCollector, _ seen: inout Set<String>) {
        guard !value.containsUnknown, let attribute = registry.schema(for: r.type)?[entry.key],
              !attribute.type.accepts(value.deepUnmarked) else { return }
        let shown = value.containsSensitive ? "a sensitive \(value.typeName)" : "\(value.typeName) \(value.deepUnmarked.jsonString())"
        let diagnostic = Diagnostic.error(entry.value.location, "property \"\(entry.key)\" of \(r.type) must be a \(attribute.type), found \(shown.prefix(200))")
        if seen.insert(diagnostic.description).inserted { d.append(diagnostic) }
    }
}

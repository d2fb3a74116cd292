import EthstackLanguage
import EthstackModel
import EthstackProviderAPI
/// Checks every reference in a loaded stack: names exist, `each`/`count` are used where they mean
/// something, attributes exist in the referenced type's schema, functions exist. Reports all problems.
public struct StackValidator {
    public let registry: ProviderRegistry
    /// The scope constant expressions are evaluated in: no variables, no resources, the stack's files.
    private var constantScope = EvaluationScope(variables: [:])
    /// The names bound by the for expressions around the expression being checked.
    private var localNames: Set<String> = []

    public init(registry: ProviderRegistry) {
        self.registry = registry
    }

    public func validate(_ stack: StackDeclaration) throws {
        var validator = self
        validator.constantScope = EvaluationScope(stack: stack, variables: [:])
        try validator.run(stack)
    }

    private func run(_ stack: StackDeclaration) throws {
        var d = DiagnosticCollector()
        let resources = Dictionary(stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let variables = Set(stack.variables.map(\.name))
        let providerNames = Set(stack.providers.map(\.name))

        for p in stack.providers where registry.provider(named: p.providerName) == nil {
            d.error(p.location, "unknown provider \"\(p.providerName)\"", hint: didYouMean(p.providerName, in: registry.providers.keys))
        }
        for p in stack.providers {
            guard let config = p.configuration else { continue }
            check(config, context: .provider, resources: resources, variables: variables, &d)
            // Settings the provider does not know are typos, as for resource properties.
            if let plugin = registry.provider(named: p.providerName), !plugin.configurationSchema.isEmpty {
                let known = plugin.configurationSchema.map(\.name)
                for entry in config.entries ?? [] where !known.contains(entry.key) {
                    d.error(entry.keyLocation, "unknown setting \"\(entry.key)\" for provider \(p.providerName)",
                            hint: didYouMean(entry.key, in: known))
                }
            }
        }
        for r in stack.resources {
            let context = Context.resource(hasForEach: r.forEach != nil, hasCount: r.count != nil)
            for entry in r.properties { check(entry.value, context: context, resources: resources, variables: variables, &d) }
            if let fe = r.forEach { check(fe, context: .expansion, resources: resources, variables: variables, &d) }
            if let c = r.count { check(c, context: .expansion, resources: resources, variables: variables, &d) }
            checkConstantExpansion(r, stack: stack, &d)
            if let schema = registry.schema(for: r.type), let provider = registry.provider(named: schema.providerName) {
                d.append(contentsOf: provider.validateResource(ValidateResourceRequest(
                    type: r.type, name: r.name, properties: r.properties, baseDirectory: stack.baseDirectory)))
            }
            for dep in r.dependsOn where resources[dep.name] == nil {
                d.error(dep.location, "depends_on: no resource named \"\(dep.name)\"", hint: didYouMean(dep.name, in: resources.keys))
            }
            if let (name, loc) = r.provider {
                if !providerNames.contains(name) {
                    d.error(loc, "no provider configuration named \"\(name)\"", hint: didYouMean(name, in: providerNames))
                } else if !name.hasPrefix(r.type.split(separator: ".").first.map(String.init) ?? "") {
                    d.error(loc, "provider \"\(name)\" cannot manage \(r.type)")
                }
            }
        }
        for entry in stack.imports { checkImport(entry, resources: resources, variables: variables, &d) }
        for o in stack.outputs {
            check(o.value, context: .output, resources: resources, variables: variables, &d)
        }
        // Checks read recorded state: variables, resources' attributes, and `outputs.NAME`.
        let outputs = Set(stack.outputs.map(\.name))
        for c in stack.checks {
            for entry in c.probe + c.expect {
                check(entry.value, context: .check(outputs: outputs), resources: resources, variables: variables, &d)
            }
        }
        try d.throwIfErrors()
    }


    /// An `import:` entry: `to` names a declared resource, with a key exactly when the resource has
    /// `for_each` or `count`; `each` only with the entry's own `for_each`.
    private func checkImport(_ entry: ImportDeclaration, resources: [String: ResourceDeclaration], variables: Set<String>,
                             _ d: inout DiagnosticCollector) {
        let context = Context.resource(hasForEach: entry.forEach != nil, hasCount: false)
        check(entry.id, context: context, resources: resources, variables: variables, &d)
        if let key = entry.key { check(key, context: context, resources: resources, variables: variables, &d) }
        if let fe = entry.forEach { check(fe, context: .expansion, resources: resources, variables: variables, &d) }
        guard let r = resources[entry.resource] else {
            d.error(entry.resourceLocation, "import: no resource named \"\(entry.resource)\"", hint: didYouMean(entry.resource, in: resources.keys))
            return
        }
        let expanded = r.forEach != nil || r.count != nil
        if expanded && entry.key == nil {
            let form = r.forEach != nil ? "\(r.name)[\"key\"] or \(r.name)[each.key]" : "\(r.name)[0]"
            d.error(entry.resourceLocation, "import: \"\(r.name)\" has \(r.forEach != nil ? "for_each" : "count"): name an instance in \"to\" (\(form))")
        } else if !expanded, entry.key != nil {
            d.error(entry.resourceLocation, "import: \"\(r.name)\" has neither for_each nor count: \"to\" is just \(r.name)")
        } else if entry.forEach != nil, entry.key?.references.isEmpty ?? true {
            d.error(entry.resourceLocation, "import: with for_each, the key in \"to\" must use each (\(r.name)[each.key]), or every element imports to the same instance")
        }
    }

    /// `count` / `for_each` written without references (`count: -2`, `count: abc`, `for_each: 7`):
    /// expanded now, with exactly the plan's rules.
    private func checkConstantExpansion(_ r: ResourceDeclaration, stack: StackDeclaration, _ d: inout DiagnosticCollector) {
        guard (r.count ?? r.forEach)?.isConstant == true else { return }
        do {
            _ = try InstanceExpansion.expand(r, evaluator: Evaluator(scope: EvaluationScope(stack: stack, variables: [:])))
        } catch let e as DiagnosticsError {
            d.append(contentsOf: e.diagnostics)
        } catch {
            d.error((r.count ?? r.forEach)?.location, "\(error)")
        }
    }

    enum Context {
        case resource(hasForEach: Bool, hasCount: Bool)
        case expansion, provider, output
        case check(outputs: Set<String>)

        var isCheck: Bool {
            if case .check = self { return true }
            return false
        }
    }

    private func check(_ node: ConfigNode, context: Context, resources: [String: ResourceDeclaration],
                       variables: Set<String>, _ d: inout DiagnosticCollector) {
        switch node {
        case .literal: return
        case .list(let items, _):
            for i in items { check(i, context: context, resources: resources, variables: variables, &d) }
        case .map(let entries, _):
            for e in entries { check(e.value, context: context, resources: resources, variables: variables, &d) }
        case .template(let t):
            for case .expression(let e) in t.parts {
                check(e, context: context, resources: resources, variables: variables, &d)
            }
        }
    }

    private func check(_ e: EthstackModel.Expression, context: Context, resources: [String: ResourceDeclaration],
                       variables: Set<String>, _ d: inout DiagnosticCollector) {
        switch e {
        case .literal: return
        case .name(let name, _) where localNames.contains(name):
            return
        case .traverse(.name(let name, _), let accessor) where localNames.contains(name):
            if case .index(let i, _) = accessor { check(i, context: context, resources: resources, variables: variables, &d) }
        case .name(let name, let loc):
            checkRoot(name, attribute: nil, attributeLocation: loc, location: loc, context: context,
                      resources: resources, variables: variables, &d)
        case .traverse(let base, let accessor):
            if case .name(let name, let loc) = base {
                if case .attribute(let attr, let attrLoc) = accessor {
                    checkRoot(name, attribute: attr, attributeLocation: attrLoc, location: loc, context: context,
                              resources: resources, variables: variables, &d)
                } else {
                    checkRoot(name, attribute: nil, attributeLocation: loc, location: loc, context: context,
                              resources: resources, variables: variables, &d)
                }
            } else if case .traverse(.name(let name, let loc), .index(_, _)) = base,
                      case .attribute(let attr, let attrLoc) = accessor, let r = resources[name] {
                // name[key].attr
                checkAttribute(attr, of: r, at: attrLoc, &d)
                _ = loc
                check(base, context: context, resources: resources, variables: variables, &d)
                return
            } else {
                check(base, context: context, resources: resources, variables: variables, &d)
            }
            if case .index(let i, _) = accessor { check(i, context: context, resources: resources, variables: variables, &d) }
        case .splat(let base, let accessors, _):
            check(base, context: context, resources: resources, variables: variables, &d)
            if case .name(let name, _) = base, let r = resources[name], case .attribute(let attr, let loc)? = accessors.first {
                checkAttribute(attr, of: r, at: loc, &d)
            }
            for case .index(let i, _) in accessors { check(i, context: context, resources: resources, variables: variables, &d) }
        case .call(let name, let args, let loc):
            let expanding: Bool = { if case .unary("...", _, _)? = args.last { return true }; return false }()
            if let problem = Functions.checkCall(name, argumentCount: args.count, at: loc, expanding: expanding) {
                d.append(problem)
            } else if args.allSatisfy(\.isConstant) {
                // Decidable without providers or state: evaluate it now (its arguments with it).
                do { _ = try Evaluator(scope: constantScope).evaluate(e) } catch let error as DiagnosticsError {
                    d.append(contentsOf: error.diagnostics)
                } catch {
                    d.error(loc, "\(name)(): \(error)")
                }
                return
            }
            for a in args { check(a, context: context, resources: resources, variables: variables, &d) }
        case .list(let items, _):
            for i in items { check(i, context: context, resources: resources, variables: variables, &d) }
        case .map(let pairs, _):
            for p in pairs {
                check(p.key, context: context, resources: resources, variables: variables, &d)
                check(p.value, context: context, resources: resources, variables: variables, &d)
            }
        case .unary(_, let x, _):
            check(x, context: context, resources: resources, variables: variables, &d)
        case .binary(_, let a, let b, _):
            check(a, context: context, resources: resources, variables: variables, &d)
            check(b, context: context, resources: resources, variables: variables, &d)
        case .conditional(let c, let a, let b, _):
            for x in [c, a, b] { check(x, context: context, resources: resources, variables: variables, &d) }
        case .template(let parts, _):
            for case .expression(let x) in parts { check(x, context: context, resources: resources, variables: variables, &d) }
        case .forExpression(let f):
            if e.isConstant {
                // Decidable now (`[for s in ["a"] : upper(s)]`): evaluate it, body and all.
                do { _ = try Evaluator(scope: constantScope).evaluate(e) } catch let error as DiagnosticsError {
                    d.append(contentsOf: error.diagnostics)
                } catch {
                    d.error(f.location, "\(error)")
                }
                return
            }
            check(f.collection, context: context, resources: resources, variables: variables, &d)
            var body = self
            body.localNames.formUnion(f.boundNames)
            for x in f.body { body.check(x, context: context, resources: resources, variables: variables, &d) }
        }
    }

    private func checkRoot(_ name: String, attribute: String?, attributeLocation: SourceLocation, location: SourceLocation,
                           context: Context, resources: [String: ResourceDeclaration], variables: Set<String>,
                           _ d: inout DiagnosticCollector) {
        switch name {
        case "var":
            guard let attribute else { return }
            if !variables.contains(attribute) {
                d.error(attributeLocation, "no variable named \"\(attribute)\"", hint: didYouMean(attribute, in: variables))
            }
        case "each":
            guard case .resource(true, _) = context else {
                d.error(location, "\"each\" is only available in a resource with \"for_each\"")
                return
            }
            if let attribute, attribute != "key", attribute != "value" {
                d.error(attributeLocation, "\"each\" has \"key\" and \"value\", not \"\(attribute)\"",
                        hint: didYouMean(attribute, in: ["key", "value"]))
            }
        case "count":
            guard case .resource(_, true) = context else {
                d.error(location, "\"count.index\" is only available in a resource with \"count\"")
                return
            }
            if let attribute, attribute != "index" {
                d.error(attributeLocation, "\"count\" has only \"index\", not \"\(attribute)\"")
            }
        case "outputs" where context.isCheck:
            guard case .check(let outputs) = context, let attribute else { return }
            if !outputs.contains(attribute) {
                d.error(attributeLocation, "no output named \"\(attribute)\"", hint: didYouMean(attribute, in: outputs))
            }
        default:
            guard let r = resources[name] else {
                var candidates = Array(resources.keys) + ["var", "each", "count"]
                if context.isCheck { candidates.append("outputs") }
                d.error(location, "no resource named \"\(name)\"", hint: didYouMean(name, in: candidates))
                return
            }
            guard let attribute else { return }
            if r.forEach != nil || r.count != nil {
                let form = r.forEach != nil ? "\(name)[\"key\"].\(attribute)" : "\(name)[0].\(attribute)"
                d.error(attributeLocation, "\"\(name)\" has \(r.forEach != nil ? "for_each" : "count"): name an instance (\(form)) or all of them (\(name)[*].\(attribute))")
                return
            }
            checkAttribute(attribute, of: r, at: attributeLocation, &d)
        }
    }

    private func checkAttribute(_ attribute: String, of r: ResourceDeclaration, at loc: SourceLocation, _ d: inout DiagnosticCollector) {
        guard let schema = registry.schema(for: r.type) else { return }
        if schema[attribute] == nil {
            d.error(loc, "\(r.type) \"\(r.name)\" has no attribute \"\(attribute)\"", hint: didYouMean(attribute, in: schema.attributeNames))
        }
    }
}

import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// What resource names mean in expressions, built from recorded state and kept up to date as an
/// apply records results. The one table that plan, apply, journal recovery, import and checks use,
/// so they agree on what `vpc.id` or `subnet["a"].id` is.
package struct ValueTable {
    /// What a declared resource with no recorded instance is.
    package enum Unrecorded: Sendable {
        /// Unknown: nothing says yet how many instances it has (before a plan expands it).
        case unknown
        /// A plan has expanded every resource: a `count`/`for_each` one with no instance is an empty
        /// collection; a single one is unknown.
        case expanded
    }

    let declarations: [String: ResourceDeclaration]
    let stack: StackDeclaration
    let unrecorded: Unrecorded
    var instances: [String: [ResourceAddress: Value]] = [:]
    var cache: [String: Value] = [:]
    var dirty: Set<String> = []
    var forEachCache: [String: [String: Value]] = [:]

    package init(stack: StackDeclaration, prior: StackState, unrecorded: Unrecorded) {
        self.stack = stack
        self.unrecorded = unrecorded
        self.declarations = Dictionary(stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (address, state) in prior.resources { instances[address.name, default: [:]][address] = .map(state.markedAttributes) }
        dirty = Set(stack.resources.map(\.name))
    }

    package mutating func set(_ address: ResourceAddress, _ value: Value) {
        instances[address.name, default: [:]][address] = value
        dirty.insert(address.name)
    }

    package mutating func remove(_ address: ResourceAddress) {
        instances[address.name]?[address] = nil
        dirty.insert(address.name)
    }

    /// Resource name → the value expressions see.
    package mutating func allValues() -> [String: Value] {
        for name in dirty {
            guard let decl = declarations[name] else { continue }
            let list = (instances[name] ?? [:]).map { ($0.key, $0.value) }
            let collection = decl.count != nil || decl.forEach != nil
            cache[name] = list.isEmpty && (unrecorded == .unknown || !collection) ? .unknown : Self.value(of: decl, instances: list)
        }
        dirty.removeAll()
        return cache
    }

    /// The scope expressions are evaluated in: variables and every resource's value.
    package mutating func scope(variables: [String: Value]) -> EvaluationScope {
        EvaluationScope(stack: stack, variables: variables, resources: allValues())
    }

    /// The values of provider configuration `name` (empty for an undeclared default one): the one
    /// evaluation of provider configurations. Values may be unknown; each caller decides what that means.
    package mutating func providerConfiguration(_ name: String, variables: [String: Value]) throws -> [String: Value] {
        try stack.providerConfigurationValues(name, scope: scope(variables: variables))
    }

    package mutating func forEachValue(_ decl: ResourceDeclaration, scope: EvaluationScope) throws -> [String: Value] {
        if let cached = forEachCache[decl.name] { return cached }
        guard let node = decl.forEach else { return [:] }
        let v = try Evaluator(scope: scope).evaluate(node).unmarked
        var out: [String: Value] = [:]
        switch v {
        case .map(let m): out = m
        case .list(let l): for item in l { if let s = item.interpolatedString { out[s] = .string(s) } }
        default: break
        }
        forEachCache[decl.name] = out
        return out
    }

    /// The value a resource name has in expressions, from its instances' attributes.
    package static func value(of decl: ResourceDeclaration, instances: [(ResourceAddress, Value)]) -> Value {
        if decl.count != nil {
            return .list(instances.sorted { $0.0 < $1.0 }.map(\.1))
        }
        if decl.forEach != nil {
            var m: [String: Value] = [:]
            for (address, v) in instances { if case .key(let k)? = address.key { m[k] = v } }
            return .map(m)
        }
        return instances.first?.1 ?? .unknown
    }
}

extension StackDeclaration {
    /// The values of provider configuration `name` in `scope` (empty for an undeclared default one).
    /// Values may be unknown; each caller decides what that means.
    package func providerConfigurationValues(_ name: String, scope: EvaluationScope) throws -> [String: Value] {
        guard let decl = providers.first(where: { $0.name == name }), let config = decl.configuration else { return [:] }
        guard case .map(let m) = try Evaluator(scope: scope).evaluate(config).unmarked else { return [:] }
        return m
    }

    /// Refuses a provider configuration that still has unknown values, at its position.
    package func requireKnownProviderConfiguration(_ name: String, _ values: [String: Value]) throws {
        if values.values.contains(where: \.containsUnknown) {
            throw DiagnosticsError([.error(providers.first { $0.name == name }?.location,
                                           "provider \(name) is configured from values that are still unknown")])
        }
    }
}

extension ResourceState {
    /// An object a provider answered for, as state records it. Apply, journal recovery and import all
    /// record through here, so they agree on what is sensitive: the schema's sensitive attributes and
    /// those `planned` computed from sensitive values.
    package static func recording(address: ResourceAddress, type: String, provider: String, id: String,
                                  attributes: [String: Value], schema: ResourceSchema?, planned: [String: Value] = [:],
                                  dependencies: [ResourceAddress], status: Status = .ready) -> ResourceState {
        var attributes = attributes
        var sensitive: [String] = []
        for attr in schema?.attributes ?? [] where attr.sensitive || (planned[attr.name]?.containsSensitive ?? false) {
            sensitive.append(attr.name)
            if let v = attributes[attr.name] { attributes[attr.name] = v.markedSensitive }
        }
        // What the provider answered with a planned secret in it is a secret too.
        let secrets = Value.sensitiveStrings(in: planned.values)
        for (name, value) in attributes where !sensitive.contains(name) && value.repeatsAny(of: secrets) {
            sensitive.append(name)
            attributes[name] = value.markedSensitive
        }
        return ResourceState(address: address, type: type, provider: provider, id: id, attributes: attributes,
                             sensitiveAttributes: sensitive, dependencies: dependencies, status: status,
                             schemaVersion: schema?.version ?? 1)
    }
}

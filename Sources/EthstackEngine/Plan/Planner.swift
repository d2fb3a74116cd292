import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

public struct PlanOptions: Sendable {
    public var refresh = true
    public var targets: [ResourceAddress] = []
    public var replace: [ResourceAddress] = []
    public var destroy = false
    public var parallelism = 10
    public init() {}
}

/// Makes a plan: refresh the prior state through the providers (in parallel), walk the graph in
/// dependency order expanding and evaluating each instance, and diff it schema-aware.
public struct Planner: Sendable {
    public let stack: StackDeclaration
    public let graph: StackGraph
    public let registry: ProviderRegistry
    public let variables: [String: Value]
    public let prior: StackState
    public let sessions: ProviderSessions
    public let options: PlanOptions

    public init(stack: StackDeclaration, graph: StackGraph, registry: ProviderRegistry, variables: [String: Value],
                prior: StackState, sessions: ProviderSessions, options: PlanOptions) {
        self.stack = stack
        self.graph = graph
        self.registry = registry
        self.variables = variables
        self.prior = prior
        self.sessions = sessions
        self.options = options
    }

    public func plan() async throws -> Plan {
        var diagnostics = DiagnosticCollector()
        var warnings: [String] = []
        let declarations = Dictionary(stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var priorValues = ValueTable(stack: stack, prior: prior, unrecorded: .unknown)
        let priorScope = priorValues.scope(variables: variables)

        let sessions = try await refreshSessions(scope: priorScope, warnings: &warnings)
        let targeted = targetClosure(declarations)
        let imports = options.destroy ? [] : try StackImports.expand(stack, scope: priorScope, prior: prior, targeted: targeted)
        // The refresh and the imports' reads go out together.
        async let refreshing = refresh(sessions: sessions)
        async let importing = readImports(imports, scope: priorScope, sessions: sessions)
        let refreshed = try await refreshing
        let imported = try await importing
        let drift = driftEntries(refreshed)
        if options.destroy {
            return destroyPlan(current: currentObjects(refreshed), drift: drift, warnings: warnings, declarations: declarations)
        }
        let current = currentObjects(refreshed, imported: imported)
        var walk = await planDeclarations(declarations, targeted: targeted, priorScope: priorScope, sessions: sessions,
                                          current: current)
        diagnostics.append(contentsOf: walk.diagnostics.diagnostics)
        markImports(imports, imported: imported, walk: &walk, diagnostics: &diagnostics)
        let forget = planDeletions(declarations, targeted: targeted, configured: walk.configured, current: current,
                                   changes: &walk.changes, diagnostics: &diagnostics)
        let outputChanges = try planOutputs(scope: walk.scope, diagnostics: &diagnostics)
        try diagnostics.throwIfErrors()

        var changes = walk.changes
        changes.sort { $0.address < $1.address }
        for change in changes { warnings += change.warnings.map { "\(change.address): \($0)" } }
        var plan = Plan(stack: stack.name, stackFile: stack.file, stackHash: stack.contentHash, lineage: prior.lineage,
                        serial: prior.serial, destroy: false, variables: variables, changes: changes,
                        outputChanges: outputChanges, drift: drift, recovered: [], warnings: warnings)
        plan.forget = forget
        plan.violations = PlanViolation.find(in: changes, stack: stack)
        return plan
    }

    /// Providers configured from what state knows, for the refresh (none with `--refresh=false`).
    func refreshSessions(scope: EvaluationScope, warnings: inout [String]) async throws -> [String: any ConfiguredProvider] {
        var diagnostics = DiagnosticCollector()
        var sessions: [String: any ConfiguredProvider] = [:]
        let neededConfigurations = Set(prior.resources.values.map(\.provider))
        for name in neededConfigurations.sorted() where options.refresh {
            do {
                let values = try providerConfiguration(name, scope: scope)
                if values.values.contains(where: \.containsUnknown) {
                    warnings.append("provider \(name) is configured from values not known yet: its resources were not refreshed")
                    continue
                }
                sessions[name] = try await self.sessions.session(name, values: values)
            } catch let e as DiagnosticsError {
                diagnostics.append(contentsOf: e.diagnostics)
            }
        }
        try diagnostics.throwIfErrors()
        return sessions
    }

    /// What changed outside ethstack: recorded attributes that differ from the refresh, and
    /// objects that are gone.
    func driftEntries(_ refreshed: [ResourceAddress: ReadResponse?]) -> [DriftEntry] {
        var drift: [DriftEntry] = []
        for address in prior.resources.keys.sorted() {
            guard let before = prior.resources[address], let now = refreshed[address] else { continue }
            if let after = now {
                // Only what a person changed is drift: attributes the stack sets, and observed health.
                // What the server populates (versions, timestamps, the live object) changes by itself.
                let schema = registry.schema(for: before.type)
                let changed = Set(before.attributes.keys).union(after.attributes.keys).filter {
                    (schema?[$0]?.isDriftRelevant ?? true)
                        && !(before.attributes[$0] ?? .null).semanticallyEquals(after.attributes[$0] ?? .null)
                }.sorted()
                if !changed.isEmpty {
                    drift.append(DriftEntry(address: address, type: before.type, kind: .changed, attributes: changed,
                                            before: before.markedAttributes, after: mark(after.attributes, like: before)))
                }
            } else {
                drift.append(DriftEntry(address: address, type: before.type, kind: .deleted, attributes: [],
                                        before: before.markedAttributes, after: nil))
            }
        }
        return drift
    }

    /// What exists now, per refresh (or as recorded, when not refreshed), and the objects that
    /// `import:` entries adopt.
    func currentObjects(_ refreshed: [ResourceAddress: ReadResponse?],
                        imported: [ResourceAddress: ResourceState] = [:]) -> @Sendable (ResourceAddress) -> ResourceState? {
        { [prior] address in
            guard var state = prior.resources[address] else { return imported[address] }
            if let r = refreshed[address] {
                guard let now = r else { return nil }
                state.attributes = now.attributes
                state.id = now.id
            }
            return state
        }
    }

    /// The declarations' share of a plan: their changes, the instances they configure, and the
    /// scope with every planned value (for the outputs).
    struct DeclarationWalk {
        var changes: [ResourceChange] = []
        var configured: Set<ResourceAddress> = []
        var diagnostics = DiagnosticCollector()
        var scope: EvaluationScope
    }

    /// Walks the declarations level by level: a level's providers are configured from what earlier
    /// levels planned, then its declarations — which depend only on earlier levels — are planned
    /// together, so the providers' plan-time calls (a Kubernetes server-side dry run) overlap
    /// instead of queueing.
    func planDeclarations(_ declarations: [String: ResourceDeclaration], targeted: Set<String>?, priorScope: EvaluationScope,
                          sessions initial: [String: any ConfiguredProvider],
                          current: @escaping @Sendable (ResourceAddress) -> ResourceState?) async -> DeclarationWalk {
        // Names not planned yet (untargeted) keep their prior values.
        var walk = DeclarationWalk(scope: priorScope)
        walk.changes.reserveCapacity(prior.resources.count + stack.resources.count)
        var sessions = initial
        var providerKnown: [String: Bool] = [:]
        for level in graph.levels {
            for case .provider(let name) in level {
                // Whether the provider's configuration is known at plan time decides whether it
                // can refine changes now; otherwise its resources are planned from the schema alone.
                do {
                    let values = try providerConfiguration(name, scope: walk.scope)
                    let known = !values.values.contains(where: \.containsUnknown)
                    providerKnown[name] = known
                    if known, sessions[name] == nil, registry.provider(named: String(name.split(separator: ".").first ?? "")) != nil {
                        sessions[name] = try await self.sessions.session(name, values: values)
                    }
                } catch let e as DiagnosticsError {
                    walk.diagnostics.append(contentsOf: e.diagnostics)
                    providerKnown[name] = false
                } catch {
                    walk.diagnostics.error(stack.providers.first { $0.name == name }?.location, "provider \(name): \(error)")
                    providerKnown[name] = false
                }
            }
            var work: [(decl: ResourceDeclaration, schema: ResourceSchema, session: (any ConfiguredProvider)?)] = []
            for case .resource(let name) in level {
                guard let decl = declarations[name], let schema = registry.schema(for: decl.type) else { continue }
                let provider = decl.providerConfigurationName
                work.append((decl, schema, providerKnown[provider] == false ? nil : sessions[provider]))
            }
            if work.count == 1, let only = work.first {
                // Planned in a separate call, so that no copy of the scope outlives it: the update of
                // its resources below then happens in place instead of copying the dictionary.
                let values = await planDeclaration(only.decl, schema: only.schema, scope: walk.scope, targeted: targeted,
                                                   current: current, session: only.session, changes: &walk.changes,
                                                   configured: &walk.configured, diagnostics: &walk.diagnostics)
                walk.scope.resources[only.decl.name] = values.map { ValueTable.value(of: only.decl, instances: $0) } ?? .unknown
                continue
            }
            let results = await planConcurrently(work, scope: walk.scope, targeted: targeted, current: current)
            // Merged in graph order, so the plan and its diagnostics do not depend on timing.
            for (item, result) in zip(work, results) {
                walk.changes += result.changes
                walk.configured.formUnion(result.configured)
                walk.diagnostics.append(contentsOf: result.diagnostics.diagnostics)
                walk.scope.resources[item.decl.name] = result.values.map { ValueTable.value(of: item.decl, instances: $0) } ?? .unknown
            }
        }
        return walk
    }

    /// Instances in state but not in configuration: deleted (or, when already gone, forgotten).
    func planDeletions(_ declarations: [String: ResourceDeclaration], targeted: Set<String>?, configured: Set<ResourceAddress>,
                       current: (ResourceAddress) -> ResourceState?, changes: inout [ResourceChange],
                       diagnostics: inout DiagnosticCollector) -> [ResourceAddress] {
        var forget: [ResourceAddress] = []
        for address in prior.resources.keys.sorted() where !configured.contains(address) {
            guard let state = prior.resources[address] else { continue }
            if let targeted, !targeted.contains(address.name) { continue }
            guard let existing = current(address) else {
                forget.append(address)  // already gone: only the record is left to drop
                continue
            }
            let reason: ChangeReason
            if let decl = declarations[address.name] {
                reason = decl.count != nil ? .deleteBecauseCountIndex : .deleteBecauseEachKey
            } else {
                reason = .deleteBecauseNoResourceConfig
            }
            changes.append(ResourceChange(address: address, type: state.type, provider: state.provider, action: .delete,
                                          reason: reason, before: existing.markedAttributes, after: nil,
                                          dependsOn: state.dependencies.map(\.name), priorID: existing.id,
                                          schemaVersion: state.schemaVersion))
        }
        return forget
    }

    /// The outputs' changes, evaluated with every planned value.
    func planOutputs(scope: EvaluationScope, diagnostics: inout DiagnosticCollector) throws -> [OutputChange] {
        var outputChanges: [OutputChange] = []
        for output in stack.outputs {
            do {
                var value = try Evaluator(scope: scope).evaluate(output.value)
                if output.sensitive { value = value.markedSensitive }
                let before = prior.outputs[output.name]
                let action: ChangeAction
                if let before {
                    action = (!value.containsUnknown && before.value.semanticallyEquals(value)) ? .noop : .update
                } else {
                    action = .create
                }
                outputChanges.append(OutputChange(name: output.name, action: action, before: before?.value,
                                                  after: value, sensitive: output.sensitive || value.containsSensitive))
            } catch let e as DiagnosticsError {
                diagnostics.append(contentsOf: e.diagnostics)
            }
        }
        for (name, before) in prior.outputs where !stack.outputs.contains(where: { $0.name == name }) {
            outputChanges.append(OutputChange(name: name, action: .delete, before: before.value, after: nil, sensitive: before.sensitive))
        }
        return outputChanges.sorted { $0.name < $1.name }
    }

    /// One declaration's share of a plan, when declarations are planned concurrently.
    struct DeclarationResult: Sendable {
        var values: [(ResourceAddress, Value)]?
        var changes: [ResourceChange] = []
        var configured: Set<ResourceAddress> = []
        var diagnostics = DiagnosticCollector()
    }

    /// Plans independent declarations (one level of the graph) against the same scope, at most
    /// `parallelism × 4` at a time (as the refresh); results in the order of `work`.
    func planConcurrently(_ work: [(decl: ResourceDeclaration, schema: ResourceSchema, session: (any ConfiguredProvider)?)],
                          scope: EvaluationScope, targeted: Set<String>?,
                          current: @escaping @Sendable (ResourceAddress) -> ResourceState?) async -> [DeclarationResult] {
        await Self.concurrently(work.count, limit: options.parallelism * 4) { index in
            let item = work[index]
            var result = DeclarationResult()
            result.values = await planDeclaration(item.decl, schema: item.schema, scope: scope, targeted: targeted,
                                                  current: current, session: item.session, changes: &result.changes,
                                                  configured: &result.configured, diagnostics: &result.diagnostics)
            return result
        }
    }

    /// Expands one declaration and plans each instance; nil when its expansion failed.
    func planDeclaration(_ decl: ResourceDeclaration, schema: ResourceSchema, scope: EvaluationScope, targeted: Set<String>?,
                         current: (ResourceAddress) -> ResourceState?, session: (any ConfiguredProvider)?,
                         changes: inout [ResourceChange], configured: inout Set<ResourceAddress>,
                         diagnostics: inout DiagnosticCollector) async -> [(ResourceAddress, Value)]? {
        let instances: [InstanceContext]
        do {
            instances = try InstanceExpansion.expand(decl, evaluator: Evaluator(scope: scope))
        } catch let e as DiagnosticsError {
            diagnostics.append(contentsOf: e.diagnostics)
            return nil
        } catch {
            diagnostics.error(decl.location, "\(error)")
            return nil
        }
        let isTargeted = targeted.map { $0.contains(decl.name) } ?? true
        let dependsOn = graph.dependencies(of: .resource(decl.name)).compactMap { n -> String? in
            if case .resource(let r) = n { return r }
            return nil
        }
        // Each instance's configuration is evaluated in turn; their diffs (which may call the
        // provider) run together, since instances of one declaration never refer to each other.
        var values: [(ResourceAddress, Value)] = []
        values.reserveCapacity(instances.count)
        var diffs: [(slot: Int, address: ResourceAddress, config: [String: Value], existing: ResourceState?)] = []
        for instance in instances {
            configured.insert(instance.address)
            let existing = current(instance.address)
            if !isTargeted {
                if let existing { values.append((instance.address, .map(existing.markedAttributes))) }
                continue
            }
            var instanceScope = scope
            instanceScope.each = instance.each
            instanceScope.countIndex = instance.countIndex
            let evaluator = Evaluator(scope: instanceScope)
            var config: [String: Value] = [:]
            var failed = false
            for property in decl.properties {
                do {
                    config[property.key] = try evaluator.evaluate(property.value)
                } catch let e as DiagnosticsError {
                    diagnostics.append(contentsOf: e.diagnostics)
                    failed = true
                } catch {
                    diagnostics.error(property.value.location, "\(error)")
                    failed = true
                }
            }
            values.append((instance.address, .unknown))
            if !failed { diffs.append((values.count - 1, instance.address, config, existing)) }
        }
        let diffOne = { @Sendable (job: (slot: Int, address: ResourceAddress, config: [String: Value], existing: ResourceState?)) async -> Result<ResourceChange, Error> in
            do {
                return .success(try await diff(decl: decl, schema: schema, address: job.address, config: job.config,
                                               existing: job.existing, priorState: prior.resources[job.address],
                                               session: session, dependsOn: dependsOn))
            } catch {
                return .failure(error)
            }
        }
        var outcomes: [Result<ResourceChange, Error>] = []
        if diffs.count == 1, let only = diffs.first {
            outcomes = [await diffOne(only)]
        } else if diffs.count > 1 {
            let jobs = diffs
            outcomes = await Self.concurrently(jobs.count, limit: options.parallelism * 4) { await diffOne(jobs[$0]) }
        }
        for (job, outcome) in zip(diffs, outcomes) {
            switch outcome {
            case .success(let change):
                changes.append(change)
                values[job.slot].1 = .map(change.after ?? [:])
            case .failure(let error):
                // A provider's message may quote the value it refused: the configuration's secrets are masked.
                let secrets = Value.sensitiveStrings(in: Array(job.config.values) + Array((job.existing?.markedAttributes ?? [:]).values))
                diagnostics.error(decl.location, "\(job.address): \(describe(error).redacting(secrets))")
            }
        }
        return values
    }

    /// Runs `body(0..<count)` with at most `limit` at a time; results in index order.
    static func concurrently<T: Sendable>(_ count: Int, limit: Int, _ body: @escaping @Sendable (Int) async -> T) async -> [T] {
        await withTaskGroup(of: (Int, T).self) { group in
            var results: [T?] = Array(repeating: nil, count: count)
            var next = 0
            func addNext() {
                guard next < count else { return }
                let index = next
                next += 1
                group.addTask { (index, await body(index)) }
            }
            for _ in 0..<max(1, limit) { addNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                addNext()
            }
            return results.compactMap { $0 }
        }
    }

    // MARK: - Diff

    func diff(decl: ResourceDeclaration, schema: ResourceSchema, address: ResourceAddress, config: [String: Value],
              existing: ResourceState?, priorState: ResourceState?, session: (any ConfiguredProvider)?,
              dependsOn: [String]) async throws -> ResourceChange {
        let providerName = decl.providerConfigurationName
        let before = existing?.markedAttributes
        let proposed = Planner.proposedAttributes(schema: schema, lifecycle: decl.lifecycle, config: config, before: before)

        let forcedReplace = options.replace.contains(address)
        let tainted = existing?.status == .tainted

        guard let before, !forcedReplace, !tainted else {
            // Create, or replace of an existing object.
            var planned = proposed
            var warnings: [String] = []
            for attr in schema.attributes where attr.isComputed && config[attr.name] == nil { planned[attr.name] = .unknown }
            if let session {
                let response = try await session.planChange(PlanChangeRequest(type: decl.type, address: address,
                                                                             prior: nil, proposed: planned))
                planned = Planner.remark(response.planned, schema: schema, inputs: planned)
                warnings = response.warnings
            }
            var change: ResourceChange
            if let existing {
                change = ResourceChange(address: address, type: decl.type, provider: providerName, action: .replace,
                                        reason: forcedReplace ? .replaceByRequest : .replaceBecauseTainted,
                                        before: before, after: planned, createBeforeDestroy: decl.lifecycle.createBeforeDestroy,
                                        dependsOn: dependsOn, priorID: existing.id, schemaVersion: schema.version)
            } else {
                change = ResourceChange(address: address, type: decl.type, provider: providerName, action: .create,
                                        reason: priorState != nil ? .createBecauseGoneOutside : nil, before: nil, after: planned,
                                        createBeforeDestroy: decl.lifecycle.createBeforeDestroy, dependsOn: dependsOn,
                                        schemaVersion: schema.version)
            }
            change.warnings = warnings
            return change
        }

        var planned = proposed
        var providerForced: [String] = []
        var replacementReason: String?
        var warnings: [String] = []
        if let session {
            let response = try await session.planChange(PlanChangeRequest(type: decl.type, address: address,
                                                                         prior: before, proposed: proposed))
            planned = Planner.remark(response.planned, schema: schema, inputs: proposed)
            providerForced = response.requiresReplacement
            replacementReason = response.replacementReason
            warnings = response.warnings
        }
        let changed = schema.attributes.filter { attr in
            !(planned[attr.name] ?? .null).semanticallyEquals(before[attr.name] ?? .null)
        }.map(\.name)
        let forcing = Set(changed.filter { schema[$0]?.forcesReplacement == true }).union(providerForced)
        if !forcing.isEmpty {
            // The new object's computed attributes are not known until it exists.
            for attr in schema.attributes where attr.isComputed && config[attr.name] == nil { planned[attr.name] = .unknown }
            var change = ResourceChange(address: address, type: decl.type, provider: providerName, action: .replace,
                                        reason: .replaceBecauseOfAttribute, replacePaths: forcing.sorted(), before: before,
                                        after: planned, createBeforeDestroy: decl.lifecycle.createBeforeDestroy,
                                        dependsOn: dependsOn, priorID: existing?.id, schemaVersion: schema.version)
            change.note = replacementReason
            change.warnings = warnings
            return change
        }
        let action: ChangeAction = changed.isEmpty ? .noop : .update
        var change = ResourceChange(address: address, type: decl.type, provider: providerName, action: action, before: before,
                                    after: action == .noop ? before : planned, createBeforeDestroy: decl.lifecycle.createBeforeDestroy,
                                    dependsOn: dependsOn, priorID: existing?.id, schemaVersion: schema.version)
        change.warnings = warnings
        return change
    }

    /// Configuration with the schema applied: types converted, defaults filled in, computed values
    /// carried over from the prior object (unknown without one), ignore_changes honoured.
    public static func proposedAttributes(schema: ResourceSchema, lifecycle: Lifecycle, config: [String: Value],
                                          before: [String: Value]?) -> [String: Value] {
        var proposed: [String: Value] = [:]
        proposed.reserveCapacity(schema.attributes.count)
        for attr in schema.attributes {
            var value: Value
            if let configured = config[attr.name] {
                value = attr.type.convert(configured)
            } else {
                switch attr.presence {
                case .required: value = .null
                case .optional(let def): value = def ?? .null
                case .computed, .optionalComputed: value = before?[attr.name] ?? .unknown
                }
            }
            // An ignored attribute keeps what the object has — also when it has nothing (an attribute
            // the recorded object lacks, e.g. an adopted enclave whose args Kurtosis did not keep):
            // taking the configured value there would plan a change, even a replacement.
            if let before, lifecycle.ignoreChanges.contains(attr.name) || lifecycle.ignoreChanges.contains("all") {
                value = before[attr.name] ?? .null
            }
            if attr.sensitive { value = value.markedSensitive }
            proposed[attr.name] = value
        }
        return proposed
    }

    /// Restores sensitive marks a provider's response may have dropped.
    /// Marks what the provider returned: attributes its schema calls sensitive, attributes whose
    /// input was sensitive, and any value that repeats a secret of the inputs (a value the provider
    /// derived from one, such as an id made from a sensitive path).
    public static func remark(_ values: [String: Value], schema: ResourceSchema, inputs: [String: Value] = [:]) -> [String: Value] {
        var out = values
        for attr in schema.attributes where attr.sensitive { if let v = out[attr.name] { out[attr.name] = v.markedSensitive } }
        let secrets = Value.sensitiveStrings(in: inputs.values)
        for (name, value) in out where !value.isSensitive {
            if inputs[name]?.containsSensitive == true && !value.containsSensitive && !value.containsUnknown {
                out[name] = value.markedSensitive
            } else {
                out[name] = value.markingRepeats(of: secrets)
            }
        }
        return out
    }

    func mark(_ values: [String: Value], like state: ResourceState) -> [String: Value] {
        var out = values
        for name in state.sensitiveAttributes { if let v = out[name] { out[name] = v.markedSensitive } }
        return out
    }

    // MARK: - Pieces

    func destroyPlan(current: (ResourceAddress) -> ResourceState?, drift: [DriftEntry], warnings: [String],
                     declarations: [String: ResourceDeclaration]) -> Plan {
        var changes: [ResourceChange] = []
        let targeted = targetClosureForDestroy()
        var forget: [ResourceAddress] = []
        for address in prior.resources.keys.sorted() {
            guard let state = prior.resources[address] else { continue }
            if let targeted, !targeted.contains(address.name) { continue }
            guard let existing = current(address) else {
                forget.append(address)
                continue
            }
            changes.append(ResourceChange(address: address, type: state.type, provider: state.provider, action: .delete,
                                          reason: .deleteBecauseDestroy, before: existing.markedAttributes, after: nil,
                                          dependsOn: state.dependencies.map(\.name), priorID: existing.id,
                                          schemaVersion: state.schemaVersion))
        }
        let outputs = prior.outputs.values.sorted { $0.name < $1.name }.map {
            OutputChange(name: $0.name, action: .delete, before: $0.value, after: nil, sensitive: $0.sensitive)
        }
        var plan = Plan(stack: stack.name, stackFile: stack.file, stackHash: stack.contentHash, lineage: prior.lineage,
                        serial: prior.serial, destroy: true, variables: variables, changes: changes, outputChanges: outputs,
                        drift: drift, recovered: [], warnings: warnings)
        plan.forget = forget
        plan.violations = PlanViolation.find(in: changes, stack: stack)
        return plan
    }

    /// The resource names `--target` selects plus everything they depend on; nil = no targeting.
    func targetClosure(_ declarations: [String: ResourceDeclaration]) -> Set<String>? {
        guard !options.targets.isEmpty else { return nil }
        var result = Set<String>()
        var queue = options.targets.map(\.name)
        while let name = queue.popLast() {
            guard result.insert(name).inserted else { continue }
            for dep in graph.dependencies(of: .resource(name)) {
                if case .resource(let r) = dep { queue.append(r) }
            }
        }
        return result
    }

    /// For destroy, `--target` selects the targets and everything that depends on them.
    func targetClosureForDestroy() -> Set<String>? {
        guard !options.targets.isEmpty else { return nil }
        var dependents: [String: [String]] = [:]
        for state in prior.resources.values {
            for dep in state.dependencies { dependents[dep.name, default: []].append(state.address.name) }
        }
        var result = Set<String>()
        var queue = options.targets.map(\.name)
        while let name = queue.popLast() {
            guard result.insert(name).inserted else { continue }
            queue += dependents[name] ?? []
        }
        return result
    }

    /// A provider configuration's values evaluated in `scope` (empty for an undeclared default one).
    func providerConfiguration(_ name: String, scope: EvaluationScope) throws -> [String: Value] {
        try stack.providerConfigurationValues(name, scope: scope)
    }

    func refresh(sessions: [String: any ConfiguredProvider]) async throws -> [ResourceAddress: ReadResponse?] {
        let work = prior.resources.values.filter { sessions[$0.provider] != nil }
        guard !work.isEmpty else { return [:] }
        let outcomes = await Self.concurrently(work.count, limit: options.parallelism * 4) { index -> Result<ReadResponse?, Error> in
            let state = work[index]
            guard let session = sessions[state.provider] else { return .success(nil) }
            do {
                return .success(try await session.read(ReadRequest(type: state.type, address: state.address,
                                                                   id: state.id, prior: state.attributes)))
            } catch {
                return .failure(error)
            }
        }
        var results: [ResourceAddress: ReadResponse?] = [:]
        results.reserveCapacity(work.count)
        var failures: [String] = []
        for (state, outcome) in zip(work, outcomes) {
            switch outcome {
            case .success(let r): results[state.address] = .some(r)
            case .failure(let e): failures.append("refresh \(state.address): \(e)")
            }
        }
        if !failures.isEmpty {
            throw DiagnosticsError(failures.sorted().map { .error(nil, $0) })
        }
        return results
    }
}

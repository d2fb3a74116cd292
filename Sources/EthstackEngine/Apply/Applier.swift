import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// Carries out a plan: walks the apply graph with bounded parallelism, longest remaining path first;
/// records each provider call in the journal before making it, and commits each result in its own
/// transaction the moment the call returns.
public struct Applier: Sendable {
    public struct Context: Sendable {
        public var stack: StackDeclaration
        public var graph: StackGraph
        public var registry: ProviderRegistry
        public var variables: [String: Value]
        public var prior: StackState
        public var store: any StateStore
        public var sessions: ProviderSessions
        public var parallelism: Int
        public var command: String
        public var interrupt: InterruptFlag
        public var observer: ApplyObserver

        public init(stack: StackDeclaration, graph: StackGraph, registry: ProviderRegistry, variables: [String: Value],
                    prior: StackState, store: any StateStore, sessions: ProviderSessions, parallelism: Int,
                    command: String, interrupt: InterruptFlag, observer: @escaping ApplyObserver) {
            self.stack = stack; self.graph = graph; self.registry = registry; self.variables = variables
            self.prior = prior; self.store = store; self.sessions = sessions; self.parallelism = max(1, parallelism)
            self.command = command; self.interrupt = interrupt; self.observer = observer
        }
    }

    public let context: Context
    public init(context: Context) { self.context = context }

    /// What a node's call produced.
    enum Outcome: Sendable {
        case applied(ResourceState)
        case destroyed
        case failed(String)
    }

    struct Launch: Sendable {
        var node: Int
        var kind: ApplyGraph.Kind
        var change: ResourceChange
        var config: [String: Value]
        var providerValues: [String: Value]
        var schema: ResourceSchema?
        var lifecycle: Lifecycle
    }

    public func apply(_ plan: Plan) async throws -> ApplySummary {
        let started = Date()
        let ctx = context
        let stackName = ctx.stack.name
        let (_, serial) = try await ctx.store.beginRun(stack: stackName)
        var summary = ApplySummary()
        summary.destroy = plan.destroy
        // Objects already deleted outside ethstack: only their records are left to drop.
        for address in plan.forget where ctx.prior.resources[address] != nil {
            try await ctx.store.removeResource(stack: stackName, address: address)
        }

        let declarations = Dictionary(ctx.stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var providerDependencies: [String: [String]] = [:]
        for node in ctx.graph.order {
            if case .provider(let name) = node {
                providerDependencies[name] = ctx.graph.dependencies(of: node).compactMap {
                    if case .resource(let r) = $0 { return r }
                    return nil
                }
            }
        }
        let graph = ApplyGraph(plan: plan, providerDependencies: providerDependencies)
        var values = ValueTable(stack: ctx.stack, prior: ctx.prior, unrecorded: .expanded)
        // Deletes configure their provider from what existed before this run: a provider pointed at
        // a cluster that this run destroys (after the objects on it) still reaches that cluster.
        var priorValues = ValueTable(stack: ctx.stack, prior: ctx.prior, unrecorded: .expanded)
        for c in plan.changes {
            // What is being deleted is no longer part of the configuration: expressions don't see it.
            if c.action == .delete { values.remove(c.address) } else if let after = c.after { values.set(c.address, .map(after)) }
        }

        var remaining = graph.nodes.map(\.waitsFor.count)
        var ready = Heap<Int>(priority: { graph.nodes[$0].priority })
        for (i, r) in remaining.enumerated() where r == 0 { ready.push(i) }
        var finished = 0
        var running: [Int: (String, Date)] = [:]
        var blocked = Set<Int>()
        var interruptedReported = false

        func label(_ n: Int) -> (ResourceAddress, String)? {
            guard let ci = graph.nodes[n].change else { return nil }
            let c = plan.changes[ci]
            let action = graph.nodes[n].kind == .destroy ? "delete" : (c.action == .replace ? "create" : c.action.rawValue)
            return (c.address, action)
        }

        /// Marks every node downstream of a failed one as blocked.
        func block(from failed: Int, because reason: String) {
            var queue = graph.nodes[failed].dependents
            while let n = queue.popLast() {
                guard blocked.insert(n).inserted else { continue }
                finished += 1
                if let (address, action) = label(n) {
                    summary.skipped.append(address)
                    ctx.observer(.skipped(address: address, action: action, because: reason))
                }
                queue += graph.nodes[n].dependents
            }
        }

        try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            while finished < graph.nodes.count {
                // Start what is ready, up to the parallelism limit.
                while running.count < ctx.parallelism, !ctx.interrupt.isRaised, let n = ready.pop() {
                    if blocked.contains(n) { continue }
                    let node = graph.nodes[n]
                    guard let ci = node.change else {
                        // A barrier completes at once.
                        finished += 1
                        for d in node.dependents {
                            remaining[d] -= 1
                            if remaining[d] == 0 { ready.push(d) }
                        }
                        continue
                    }
                    let change = plan.changes[ci]
                    let (address, action) = label(n)!
                    // Evaluate here, on the scheduler, with the values of everything finished so far.
                    let prepared: Result<Launch, Error> = Result {
                        try prepare(n, node.kind, change, declarations: declarations, values: &values, priorValues: &priorValues)
                    }
                    switch prepared {
                    case .failure(let error):
                        let message = describe(error)
                        finished += 1
                        summary.failures.append(ApplyFailure(address: address, action: action, message: message))
                        ctx.observer(.errored(address: address, action: action, message: message, elapsed: 0))
                        block(from: n, because: "\(address) failed")
                    case .success(let launch):
                        running[n] = (action, Date())
                        ctx.observer(.started(address: address, action: action))
                        group.addTask { (n, await self.execute(launch, plan: plan)) }
                    }
                }
                if running.isEmpty {
                    if ctx.interrupt.isRaised || finished >= graph.nodes.count { break }
                    if ready.isEmpty {
                        throw DiagnosticsError([.error(nil, "apply cannot continue: \(graph.nodes.count - finished) operations wait on each other (a dependency cycle in the plan)")])
                    }
                    continue
                }
                if ctx.interrupt.isRaised, !interruptedReported {
                    interruptedReported = true
                    ctx.observer(.interrupted(running: running.keys.compactMap { label($0).map { "\($0.0)" } }.sorted()))
                }
                guard let (n, outcome) = try await group.next() else { break }
                let (action, start) = running.removeValue(forKey: n) ?? ("", Date())
                let elapsed = Date().timeIntervalSince(start)
                finished += 1
                guard let ci = graph.nodes[n].change else { continue }
                let change = plan.changes[ci]
                switch outcome {
                case .applied(let state):
                    values.set(change.address, .map(state.markedAttributes))
                    switch change.action {
                    case .create: summary.created += 1
                    case .update: summary.updated += 1
                    case .replace: summary.replaced += 1
                    default: break
                    }
                    ctx.observer(.completed(address: change.address, action: action, id: state.id, elapsed: elapsed))
                case .destroyed:
                    if change.action == .delete {
                        summary.deleted += 1
                        values.remove(change.address)
                    }
                    ctx.observer(.completed(address: change.address, action: action, id: nil, elapsed: elapsed))
                case .failed(let message):
                    summary.failures.append(ApplyFailure(address: change.address, action: action, message: message))
                    ctx.observer(.errored(address: change.address, action: action, message: message, elapsed: elapsed))
                    block(from: n, because: "\(change.address) failed")
                    continue
                }
                for d in graph.nodes[n].dependents {
                    remaining[d] -= 1
                    if remaining[d] == 0 { ready.push(d) }
                }
            }
        }
        summary.interrupted = ctx.interrupt.isRaised && finished < graph.nodes.count

        // Outputs, evaluated from what exists now.
        if !plan.destroy {
            var outputs: [OutputState] = []
            var shown: [String: Value] = [:]
            let scope = EvaluationScope(variables: ctx.variables, resources: values.allValues(), baseDirectory: ctx.stack.baseDirectory)
            for o in ctx.stack.outputs {
                if let v = try? Evaluator(scope: scope).evaluate(o.value), !v.containsUnknown {
                    let value = o.sensitive ? v.markedSensitive : v
                    outputs.append(OutputState(name: o.name, value: value, sensitive: o.sensitive || v.containsSensitive))
                    shown[o.name] = value
                }
            }
            try await ctx.store.setOutputs(stack: stackName, outputs)
            ctx.observer(.outputs(shown))
        } else if summary.succeeded {
            try await ctx.store.setOutputs(stack: stackName, [])
        }
        summary.elapsed = Date().timeIntervalSince(started)
        try await ctx.store.appendHistory(stack: stackName, HistoryEntry(
            serial: serial, who: ProcessInfo.processInfo.environment["USER"] ?? NSUserName(),
            host: ProcessInfo.processInfo.hostName, when: started, command: ctx.command, summary: summary.line))
        ctx.observer(.summary(summary))
        return summary
    }

    /// Evaluates a node's configuration with the values known now (unknowns from the plan filled in).
    func prepare(_ n: Int, _ kind: ApplyGraph.Kind, _ change: ResourceChange, declarations: [String: ResourceDeclaration],
                 values: inout ValueTable, priorValues: inout ValueTable) throws -> Launch {
        let decl = declarations[change.address.name]
        let schema = context.registry.schema(for: change.type)
        let providerValues = kind == .apply ? try providerConfiguration(change.provider, values: &values)
            : try providerConfiguration(change.provider, values: &priorValues)
        guard kind == .apply else {
            return Launch(node: n, kind: kind, change: change, config: [:], providerValues: providerValues, schema: schema,
                          lifecycle: decl?.lifecycle ?? Lifecycle())
        }
        guard let decl, let schema else {
            throw DiagnosticsError([.error(nil, "\(change.address) is not declared in the stack any more; make a new plan")])
        }
        var scope = values.scope(variables: context.variables)
        switch change.address.key {
        case .index(let i)?: scope.countIndex = i
        case .key(let k)?:
            let each = try values.forEachValue(decl, scope: scope)
            scope.each = (.string(k), each[k] ?? .string(k))
        case nil: break
        }
        let evaluator = Evaluator(scope: scope)
        var config: [String: Value] = [:]
        for property in decl.properties { config[property.key] = try evaluator.evaluate(property.value) }
        for (key, value) in config where value.containsUnknown {
            throw DiagnosticsError([.error(decl.properties.first { $0.key == key }?.value.location,
                                           "\(change.address): \"\(key)\" is still unknown when it is needed; what it refers to did not produce a value")])
        }
        return Launch(node: n, kind: kind, change: change, config: config, providerValues: providerValues, schema: schema,
                      lifecycle: decl.lifecycle)
    }

    func providerConfiguration(_ name: String, values: inout ValueTable) throws -> [String: Value] {
        let m = try values.providerConfiguration(name, variables: context.variables)
        try context.stack.requireKnownProviderConfiguration(name, m)
        return m
    }

    /// Makes the provider call of one node and records it: journal row first, result and journal
    /// close in one transaction.
    func execute(_ launch: Launch, plan: Plan) async -> Outcome {
        let ctx = context
        let change = launch.change
        let stackName = ctx.stack.name
        let address = change.address
        let started = Date()
        let actionName = launch.kind == .destroy ? "delete" : (change.action == .replace ? "create" : change.action.rawValue)
        let progress: ProgressReporter = { message in
            ctx.observer(.progress(address: address, action: actionName, message: message, elapsed: Date().timeIntervalSince(started)))
        }
        var journalID: Int64?
        do {
            let session = try await ctx.sessions.session(change.provider, values: launch.providerValues)
            let token = UUID().uuidString.lowercased()
            let mark = ResourceMark(stack: stackName, address: address.description, token: token)
            if launch.kind == .destroy {
                let before = (change.before ?? [:]).mapValues(\.deepUnmarked)
                journalID = try await ctx.store.journalStart(stack: stackName, address: address, type: change.type, provider: change.provider,
                                                       action: "delete", token: token, planned: before)
                try await session.delete(DeleteRequest(type: change.type, address: address.description, id: change.priorID ?? "",
                                                       prior: before, progress: progress))
                // With create_before_destroy the address already holds the new object.
                let remove = change.action == .replace && change.createBeforeDestroy ? nil : address
                try await ctx.store.journalFinish(stack: stackName, journalID: journalID!, outcome: .succeeded, message: nil,
                                            store: nil, remove: remove)
                return .destroyed
            }
            guard let schema = launch.schema else { return .failed("unknown resource type \(change.type)") }
            let existing = change.action == .update ? change.before : nil
            var proposed = Planner.proposedAttributes(schema: schema, lifecycle: launch.lifecycle, config: launch.config, before: existing)
            if existing == nil {
                for attr in schema.attributes where attr.isComputed && launch.config[attr.name] == nil { proposed[attr.name] = .unknown }
            }
            let planned = Planner.remark(try await session.planChange(PlanChangeRequest(
                type: change.type, address: address.description, prior: existing, proposed: proposed, applying: true)).planned,
                schema: schema)
            // Apply does what the plan showed: a value the plan knew must come out the same now
            // (a file read by the stack may have changed since a saved plan was made).
            let drifted = (change.after ?? [:]).filter { name, shown in
                !shown.containsUnknown && !(planned[name] ?? .null).semanticallyEquals(shown)
            }.map(\.key).sorted()
            if !drifted.isEmpty {
                return .failed("the configuration now gives other values than the plan showed for \(drifted.joined(separator: ", ")); make a new plan")
            }
            journalID = try await ctx.store.journalStart(stack: stackName, address: address, type: change.type, provider: change.provider,
                                                   action: actionName, token: token,
                                                   planned: planned.mapValues(\.deepUnmarked))
            let response: ApplyResponse
            if let existing {
                response = try await session.update(UpdateRequest(type: change.type, address: address.description,
                                                                  id: change.priorID ?? "", prior: existing.mapValues(\.deepUnmarked),
                                                                  planned: planned, mark: mark, progress: progress))
            } else {
                response = try await session.create(CreateRequest(type: change.type, address: address.description,
                                                                  planned: planned, mark: mark, progress: progress))
            }
            let state = ResourceState.recording(address: address, type: change.type, provider: change.provider, id: response.id,
                                                attributes: response.attributes, schema: schema, planned: planned,
                                                dependencies: change.dependsOn.map { ResourceAddress(name: $0) })
            try await ctx.store.journalFinish(stack: stackName, journalID: journalID!, outcome: .succeeded, message: nil,
                                        store: state, remove: nil)
            return .applied(state)
        } catch {
            let message = describe(error)
            if let journalID {
                // Cancelled by a second Ctrl-C: leave the row open so the next run looks the object up.
                if error is CancellationError { return .failed("interrupted") }
                try? await ctx.store.journalFinish(stack: stackName, journalID: journalID, outcome: .failed, message: message,
                                             store: nil, remove: nil)
            }
            return .failed(message)
        }
    }
}

func describe(_ error: Error) -> String {
    if let e = error as? DiagnosticsError { return e.description }
    if let e = error as? ProviderError { return e.description }
    if let e = error as? StateError { return e.description }
    if error is CancellationError { return "interrupted" }
    return String(describing: error)
}

/// A binary max-heap by a priority function (the longest remaining path first).
struct Heap<Element> {
    private var items: [Element] = []
    private let priority: (Element) -> Int
    init(priority: @escaping (Element) -> Int) { self.priority = priority }
    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if priority(items[parent]) >= priority(items[i]) { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, priority(items[l]) > priority(items[m]) { m = l }
            if r < items.count, priority(items[r]) > priority(items[m]) { m = r }
            if m == i { break }
            items.swapAt(m, i)
            i = m
        }
        return top
    }
}

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
    let deposed = DeposedRows()
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
        // Before anything is written or called: a plan that breaks prevent_destroy never runs.
        try PlanViolation.refuse(plan, stack: context.stack)
        let started = Date()
        let (_, serial) = try await context.store.beginRun(stack: context.stack.name)
        try await forgetObjectsDeletedOutside(plan)
        let imported = try await adoptImports(plan)
        let deposedFailures = await deleteObjectsDeposedEarlier()
        var walk = ApplyWalk(plan: plan, applier: self)
        try await walk.run()
        var summary = walk.summary
        summary.imported = imported
        summary.failures = deposedFailures + summary.failures
        try await recordOutputs(plan, values: &walk.values, succeeded: summary.succeeded)
        summary.elapsed = Date().timeIntervalSince(started)
        try await recordHistory(serial: serial, started: started, summary: summary)
        context.observer(.summary(summary))
        return summary
    }

    /// Objects already deleted outside ethstack: only their records are left to drop.
    func forgetObjectsDeletedOutside(_ plan: Plan) async throws {
        for address in plan.forget where context.prior.resources[address] != nil {
            try await context.store.removeResource(stack: context.stack.name, address: address)
        }
    }

    /// Objects an interrupted create_before_destroy replacement left behind: their journal rows are
    /// their records; delete them now.
    func deleteObjectsDeposedEarlier() async -> [ApplyFailure] {
        let done = await JournalRecovery.deleteDeposed(store: context.store, stack: context.stack, state: context.prior,
                                                       sessions: context.sessions, variables: context.variables)
        var failures: [ApplyFailure] = []
        for (address, message, failed) in done {
            context.observer(.recovered(address: address, message: message))
            if failed { failures.append(ApplyFailure(address: address, action: .delete, message: message)) }
        }
        return failures
    }

    /// Outputs, evaluated from what exists now; a finished destroy clears them.
    func recordOutputs(_ plan: Plan, values: inout ValueTable, succeeded: Bool) async throws {
        if !plan.destroy {
            var outputs: [OutputState] = []
            var shown: [String: Value] = [:]
            let scope = values.scope(variables: context.variables)
            for o in context.stack.outputs {
                if let v = try? Evaluator(scope: scope).evaluate(o.value), !v.containsUnknown {
                    let value = o.sensitive ? v.markedSensitive : v
                    outputs.append(OutputState(name: o.name, value: value, sensitive: o.sensitive || v.containsSensitive))
                    shown[o.name] = value
                }
            }
            try await context.store.setOutputs(stack: context.stack.name, outputs)
            context.observer(.outputs(shown))
        } else if succeeded {
            try await context.store.setOutputs(stack: context.stack.name, [])
        }
    }

    func recordHistory(serial: Int, started: Date, summary: ApplySummary) async throws {
        try await context.store.appendHistory(stack: context.stack.name, HistoryEntry(
            serial: serial, who: ProcessInfo.processInfo.environment["USER"] ?? NSUserName(),
            host: ProcessInfo.processInfo.hostName, when: started, command: context.command, summary: summary.line))
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
    /// close in one transaction. A row is closed only when the outcome is known: a call whose answer
    /// was lost (timeout, broken connection, a second Ctrl-C) or whose result could not be written
    /// stays open, and the next run asks the provider what became of it.
    func execute(_ launch: Launch, plan: Plan) async -> Outcome {
        let ctx = context
        let change = launch.change
        let stackName = ctx.stack.name
        let address = change.address
        let started = Date()
        let operation = launch.kind == .destroy ? ProviderOperation.delete : ApplyGraph.operation(applying: change)
        let progress: ProgressReporter = { message in
            ctx.observer(.progress(address: address, action: operation, message: message, elapsed: Date().timeIntervalSince(started)))
        }
        var journalID: Int64?
        var answered: ApplyResponse?
        do {
            let session = try await ctx.sessions.session(change.provider, values: launch.providerValues)
            let token = UUID().uuidString.lowercased()
            let mark = ResourceMark(stack: stackName, address: address, token: token)
            if launch.kind == .destroy {
                let before = (change.before ?? [:]).mapValues(\.deepUnmarked)
                // With create_before_destroy the object is deposed: its row was opened before the
                // replacement was made, and is this delete's record.
                if let deposed = await deposed.take(address) {
                    journalID = deposed
                } else {
                    journalID = try await ctx.store.journalStart(stack: stackName, address: address, type: change.type,
                                                                 provider: change.provider, action: .delete, token: token,
                                                                 planned: JournalRecovery.deleteRecord(change.before ?? [:], id: change.priorID, deposed: false))
                }
                try await session.delete(DeleteRequest(type: change.type, address: address, id: change.priorID ?? "",
                                                       prior: before, progress: progress))
                // With create_before_destroy the address already holds the new object.
                let remove = change.action == .replace && change.createBeforeDestroy ? nil : address
                try await ctx.store.journalFinish(stack: stackName, journalID: journalID ?? 0, outcome: .succeeded, message: nil,
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
                type: change.type, address: address, prior: existing, proposed: proposed, applying: true)).planned,
                schema: schema, inputs: proposed)
            // Apply does what the plan showed: a value the plan knew must come out the same now
            // (a file read by the stack may have changed since a saved plan was made).
            let drifted = (change.after ?? [:]).filter { name, shown in
                !shown.containsUnknown && !(planned[name] ?? .null).semanticallyEquals(shown)
            }.map(\.key).sorted()
            if !drifted.isEmpty {
                return .failed("the configuration now gives other values than the plan showed for \(drifted.joined(separator: ", ")); make a new plan")
            }
            if change.action == .replace, change.createBeforeDestroy, let priorID = change.priorID {
                // The old object gets its own record before the address is given to the new one.
                // Marks kept: the store seals what is sensitive.
                let row = try await ctx.store.journalStart(stack: stackName, address: address, type: change.type, provider: change.provider,
                                                           action: .delete, token: UUID().uuidString.lowercased(),
                                                           planned: JournalRecovery.deleteRecord(change.before ?? [:], id: priorID, deposed: true))
                await deposed.put(address, row)
            }
            journalID = try await ctx.store.journalStart(stack: stackName, address: address, type: change.type, provider: change.provider,
                                                   action: operation, token: token,
                                                   planned: planned)
            let response: ApplyResponse
            if let existing {
                response = try await session.update(UpdateRequest(type: change.type, address: address,
                                                                  id: change.priorID ?? "", prior: existing.mapValues(\.deepUnmarked),
                                                                  planned: planned, mark: mark, progress: progress))
            } else {
                response = try await session.create(CreateRequest(type: change.type, address: address,
                                                                  planned: planned, mark: mark, progress: progress))
            }
            answered = response
            let state = ResourceState.recording(address: address, type: change.type, provider: change.provider, id: response.id,
                                                attributes: response.attributes, schema: schema, planned: planned,
                                                dependencies: change.dependsOn.map { ResourceAddress(name: $0) })
            try await ctx.store.journalFinish(stack: stackName, journalID: journalID ?? 0, outcome: .succeeded, message: nil,
                                        store: state, remove: nil)
            return .applied(state)
        } catch {
            return await recordFailure(error, launch: launch, operation: operation, journalID: journalID, answered: answered)
        }
    }

    /// Records a failed call: a partly made object as tainted, a known failure as a closed row, an
    /// unknown outcome as an open row (with its deposed companion) for the next run to look up.
    private func recordFailure(_ error: any Error, launch: Launch, operation: ProviderOperation, journalID: Int64?,
                               answered: ApplyResponse?) async -> Outcome {
        let ctx = context
        let change = launch.change
        let stackName = ctx.stack.name
        // A provider's message may quote the value it refused: the change's secrets are masked.
        var message = describe(error).redacting(Value.sensitiveStrings(
            in: Array(launch.config.values) + Array((change.after ?? [:]).values) + Array((change.before ?? [:]).values)))
        // A run whose lock was lost stops starting work: its writes are refused from now on.
        if case StateError.lockLost = error { ctx.interrupt.raise() }
        guard let journalID else {
            await closeDeposed(change.address, outcome: .abandoned, message: "the replacement was not started: \(message)")
            return .failed(message)
        }
        if let answered {
            // The provider answered but state could not record it: the open row is the only record.
            return .failed("\(answered.id) was made but could not be recorded (\(message)); the next run recovers it from the journal")
        }
        if operation == .create, let partial = (error as? ProviderError)?.partial {
            let tainted = ResourceState.recording(address: change.address, type: change.type, provider: change.provider,
                                                  id: partial.id, attributes: partial.attributes, schema: launch.schema,
                                                  planned: [:], dependencies: change.dependsOn.map { ResourceAddress(name: $0) },
                                                  status: .tainted)
            do {
                try await ctx.store.journalFinish(stack: stackName, journalID: journalID, outcome: .failed, message: message,
                                                  store: tainted, remove: nil)
                // The deposed object's row stays open: the next apply deletes it.
                _ = await deposed.take(change.address)
                message += "; \(partial.id) is recorded as tainted and will be replaced"
            } catch {
                message += "; \(partial.id) could not be recorded (\(describe(error))), its journal row stays open"
            }
            return .failed(message)
        }
        if Self.outcomeUnknown(error) {
            _ = await deposed.take(change.address)
            return .failed(error is CancellationError ? "interrupted" : message + "; the outcome is unknown, the next run looks it up")
        }
        try? await ctx.store.journalFinish(stack: stackName, journalID: journalID, outcome: .failed, message: message,
                                           store: nil, remove: nil)
        await closeDeposed(change.address, outcome: .abandoned, message: "the replacement failed; the object stays: \(message)")
        return .failed(message)
    }

    /// Whether a failed call may still have changed something (the row must stay open).
    static func outcomeUnknown(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if let e = error as? ProviderError { return e.outcomeUnknown }
        if error is DiagnosticsError { return false }
        return true
    }

    private func closeDeposed(_ address: ResourceAddress, outcome: JournalEntry.Outcome, message: String) async {
        guard let row = await deposed.take(address) else { return }
        try? await context.store.closeJournal(id: row, outcome: outcome, message: message)
    }
}

/// Journal rows of deposed objects (create_before_destroy), from the create that deposes each to
/// the delete that removes it.
actor DeposedRows {
    private var rows: [ResourceAddress: Int64] = [:]
    func put(_ address: ResourceAddress, _ row: Int64) { rows[address] = row }
    func take(_ address: ResourceAddress) -> Int64? { rows.removeValue(forKey: address) }
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

import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// One stack, loaded, validated, with its graph and variables: the pipeline's front half, shared by
/// every command. Plan and apply run from here.
public struct StackSession: Sendable {
    public let registry: ProviderRegistry
    public let stack: StackDeclaration
    public let graph: StackGraph
    public let variables: [String: Value]

    /// Loads, validates and builds the graph; every problem in the file is reported at once.
    public static func open(file: String, registry: ProviderRegistry, inputs: VariableInputs,
                            options: StackLoader.Options = StackLoader.Options()) throws -> StackSession {
        var loader = StackLoader(registry: registry)
        loader.options = options
        let stack = try loader.load(file: file)
        try StackValidator(registry: registry).validate(stack)
        let graph = try StackGraph(stack: stack)
        let variables = try VariableValues.resolve(stack.variables, inputs: inputs)
        return StackSession(registry: registry, stack: stack, graph: graph, variables: variables)
    }

    public init(registry: ProviderRegistry, stack: StackDeclaration, graph: StackGraph, variables: [String: Value]) {
        self.registry = registry
        self.stack = stack
        self.graph = graph
        self.variables = variables
    }

    /// Evaluates everything known without providers or state (see `KnownValueValidator`).
    public func validateKnownValues() throws {
        try KnownValueValidator(registry: registry).validate(stack, variables: variables)
    }

    /// The run's provider sessions; `parallelism` bounds each provider's calls in flight.
    public func makeSessions(parallelism: Int = 10) -> ProviderSessions {
        ProviderSessions(registry: registry, stackName: stack.name, baseDirectory: stack.baseDirectory, parallelism: parallelism)
    }

    /// Plans against `state` (recovering what a crashed run left in flight, in memory).
    public func plan(state: StackState, journal: (any StateReader)?, sessions: ProviderSessions,
                     options: PlanOptions) async throws -> (Plan, [JournalRecovery.Resolution]) {
        var prior = state
        var resolutions: [JournalRecovery.Resolution] = []
        if let journal {
            (prior, resolutions) = await JournalRecovery.examine(store: journal, stack: stack, state: state, registry: registry,
                                                                 sessions: sessions, variables: variables)
        }
        var plan = try await Planner(stack: stack, graph: graph, registry: registry, variables: variables, prior: prior,
                                     sessions: sessions, options: options).plan()
        plan.recovered = resolutions.map(\.note)
        // The plan is bound to the state as recorded, so a saved plan goes stale if anything changes it.
        plan.lineage = state.lineage
        plan.serial = state.serial
        return (plan, resolutions)
    }

    /// Refuses a saved plan that no longer matches the stack file or the state.
    public func checkSaved(_ saved: PlanFile.Saved, state: StackState) throws {
        let plan = saved.plan
        if plan.stack != stack.name {
            throw DiagnosticsError([.error(nil, "the saved plan is for stack \"\(plan.stack)\", not \"\(stack.name)\"")])
        }
        if plan.stackHash != stack.contentHash {
            throw DiagnosticsError([.error(nil, "the stack file \(stack.file) changed since the plan was made; make a new plan")])
        }
        if plan.lineage != state.lineage || plan.serial != state.serial {
            let was = plan.lineage == nil ? "an empty state" : "state serial \(plan.serial)"
            let now = state.lineage == nil ? "empty" : "at serial \(state.serial)"
            throw DiagnosticsError([.error(nil, "the saved plan is stale: it was made from \(was), and the state is now \(now) (someone applied since); make a new plan")])
        }
        for (name, hash) in saved.sensitiveVariableHashes {
            guard let v = variables[name] else {
                throw DiagnosticsError([.error(nil, "the saved plan needs the sensitive variable \"\(name)\": set it as when planning")])
            }
            if PlanFile.hash(v) != hash {
                throw DiagnosticsError([.error(nil, "the sensitive variable \"\(name)\" has a different value than when the plan was made")])
            }
        }
        for (name, v) in plan.variables where !(variables[name] ?? .null).semanticallyEquals(v) {
            throw DiagnosticsError([.error(nil, "variable \"\(name)\" differs from the saved plan's value; apply the plan without --var, or make a new plan")])
        }
    }
}

extension StackLoader {
    /// A loader that knows the resource types of `registry`'s providers.
    public init(registry: ProviderRegistry) {
        self.init(schemas: { registry.schema(for: $0) }, knownTypes: registry.resourceTypes)
    }
}

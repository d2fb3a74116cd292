import EthstackModel
import EthstackProviderAPI

/// Adopts existing objects into state: each `ADDRESS=ID` is looked up through its provider
/// (configured from recorded state, as a plan's refresh is), all in parallel, and what is found is
/// recorded. Nothing outside state changes. The caller holds the stack's lock.
public struct Importer: Sendable {
    public struct Request: Sendable {
        public var address: ResourceAddress
        public var id: String
        let declaration: ResourceDeclaration
    }

    /// One object's outcome: what was recorded, or why not.
    public struct Outcome: Sendable {
        public var address: ResourceAddress
        public var recorded: ResourceState?
        public var failure: String?
    }

    public let session: StackSession

    public init(session: StackSession) { self.session = session }

    /// Parses `ADDRESS=ID` arguments against the stack's declarations.
    public func requests(_ pairs: [String]) throws -> [Request] {
        let stack = session.stack
        return try pairs.map { pair in
            guard let eq = pair.firstIndex(of: "="), let address = ResourceAddress(String(pair[..<eq])) else {
                throw DiagnosticsError([.error(nil, "\"\(pair)\": expected ADDRESS=ID")])
            }
            guard let decl = stack.resource(named: address.name) else {
                throw DiagnosticsError([.error(nil, "\(address) is not declared in \(stack.file)",
                                               hint: didYouMean(address.name, in: stack.resources.map(\.name)))])
            }
            return Request(address: address, id: String(pair[pair.index(after: eq)...]), declaration: decl)
        }
    }

    /// Looks every object up in parallel and records each one found the moment it is found;
    /// `progress` hears of each outcome as it comes.
    public func run(_ requests: [Request], store: any StateStore,
                    progress: @escaping @Sendable (Outcome) -> Void = { _ in }) async throws -> [Outcome] {
        let stack = session.stack
        let state = try await store.load(stack: stack.name)
        for r in requests where state.resources[r.address] != nil {
            throw DiagnosticsError([.error(nil, "\(r.address) is already in state; `ethstack state rm \(r.address)` first to import another object there")])
        }
        _ = try await store.beginRun(stack: stack.name)
        var table = ValueTable(stack: stack, prior: state, unrecorded: .unknown)
        var providerValues: [String: [String: Value]] = [:]
        for name in Set(requests.map(\.declaration.providerConfigurationName)).sorted() {
            let values = try table.providerConfiguration(name, variables: session.variables)
            if values.values.contains(where: \.containsUnknown) {
                throw DiagnosticsError([.error(stack.providers.first { $0.name == name }?.location,
                                               "provider \(name) is configured from resources not in state yet; apply those first")])
            }
            providerValues[name] = values
        }
        let sessions = session.makeSessions()
        let registry = session.registry
        let graph = session.graph
        var outcomes: [Outcome] = []
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            for request in requests {
                let decl = request.declaration
                let values = providerValues[decl.providerConfigurationName] ?? [:]
                group.addTask {
                    do {
                        let provider = try await sessions.session(decl.providerConfigurationName, values: values)
                        guard let found = try await provider.importResource(ImportRequest(type: decl.type, address: request.address,
                                                                                          id: request.id)) else {
                            return Outcome(address: request.address, recorded: nil, failure: "\(decl.type) \(request.id) does not exist")
                        }
                        let dependencies = graph.dependencies(of: .resource(decl.name)).compactMap { node -> ResourceAddress? in
                            if case .resource(let r) = node { return ResourceAddress(name: r) }
                            return nil
                        }
                        let recorded = ResourceState.recording(address: request.address, type: decl.type,
                                                               provider: decl.providerConfigurationName, id: found.id,
                                                               attributes: found.attributes, schema: registry.schema(for: decl.type),
                                                               dependencies: dependencies)
                        return Outcome(address: request.address, recorded: recorded, failure: nil)
                    } catch {
                        return Outcome(address: request.address, recorded: nil, failure: describe(error))
                    }
                }
            }
            for try await outcome in group {
                if let recorded = outcome.recorded { try await store.putResource(stack: stack.name, recorded) }
                progress(outcome)
                outcomes.append(outcome)
            }
        }
        return outcomes
    }
}

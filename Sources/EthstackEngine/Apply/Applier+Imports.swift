import EthstackModel
import EthstackProviderAPI

extension Applier {
    /// Records the objects the plan imports, before any other call: each is read again (a saved plan
    /// may be applied later), and all are recorded only when all were found, so a failed import
    /// leaves state as it was. The walk then applies each imported instance's change (usually none)
    /// to the recorded object.
    func adoptImports(_ plan: Plan) async throws -> Int {
        let imports = plan.changes.filter { $0.importID != nil && context.prior.resources[$0.address] == nil }
        guard !imports.isEmpty else { return 0 }
        var values = ValueTable(stack: context.stack, prior: context.prior, unrecorded: .expanded)
        var configurations: [String: [String: Value]] = [:]
        for name in Set(imports.map(\.provider)).sorted() {
            configurations[name] = try providerConfiguration(name, values: &values)
        }
        let ctx = context
        let found = try await withThrowingTaskGroup(of: (ResourceChange, ReadResponse?).self) { group in
            for change in imports {
                let values = configurations[change.provider] ?? [:]
                group.addTask {
                    let session = try await ctx.sessions.session(change.provider, values: values)
                    return (change, try await session.importResource(ImportRequest(type: change.type, address: change.address,
                                                                                   id: change.importID ?? "")))
                }
            }
            var out: [(ResourceChange, ReadResponse?)] = []
            for try await result in group { out.append(result) }
            return out.sorted { $0.0.address < $1.0.address }
        }
        let missing = found.filter { $0.1 == nil }.map { "import \($0.0.address): \($0.0.type) \($0.0.importID ?? "") does not exist any more; make a new plan" }
        if !missing.isEmpty { throw DiagnosticsError(missing.map { .error(nil, $0) }) }
        for case let (change, object?) in found {
            let state = ResourceState.recording(address: change.address, type: change.type, provider: change.provider,
                                                id: object.id, attributes: object.attributes,
                                                schema: context.registry.schema(for: change.type),
                                                dependencies: change.dependsOn.map { ResourceAddress(name: $0) })
            try await context.store.putResource(stack: context.stack.name, state)
            context.observer(.imported(address: change.address, id: object.id))
        }
        return found.count
    }
}

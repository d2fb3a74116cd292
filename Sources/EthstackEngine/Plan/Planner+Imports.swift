import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

extension Planner {
    /// Reads every object the stack's `import:` entries adopt, in parallel, through providers
    /// configured from what state records (as `ethstack import ADDRESS=ID` does): what the plan
    /// then diffs the configuration against, as if it had been recorded.
    func readImports(_ imports: [PlannedImport], scope: EvaluationScope,
                     sessions known: [String: any ConfiguredProvider]) async throws -> [ResourceAddress: ResourceState] {
        guard !imports.isEmpty else { return [:] }
        var d = DiagnosticCollector()
        var sessions = known
        for name in Set(imports.map(\.declaration.providerConfigurationName)).sorted() where sessions[name] == nil {
            let values = try providerConfiguration(name, scope: scope)
            if values.values.contains(where: \.containsUnknown) {
                d.error(stack.providers.first { $0.name == name }?.location ?? imports.first?.location,
                        "import: provider \(name) is configured from resources not in state yet; apply those first, then import")
                continue
            }
            sessions[name] = try await self.sessions.session(name, values: values)
        }
        try d.throwIfErrors()
        let configured = sessions
        let outcomes = await Self.concurrently(imports.count, limit: options.parallelism * 4) { index -> Result<ReadResponse?, Error> in
            let entry = imports[index]
            guard let session = configured[entry.declaration.providerConfigurationName] else { return .success(nil) }
            do {
                return .success(try await session.importResource(ImportRequest(type: entry.declaration.type, address: entry.address,
                                                                               id: entry.id)))
            } catch {
                return .failure(error)
            }
        }
        var out: [ResourceAddress: ResourceState] = [:]
        for (entry, outcome) in zip(imports, outcomes) {
            let decl = entry.declaration
            switch outcome {
            case .success(let found?):
                out[entry.address] = ResourceState.recording(address: entry.address, type: decl.type,
                                                             provider: decl.providerConfigurationName, id: found.id,
                                                             attributes: found.attributes, schema: registry.schema(for: decl.type),
                                                             dependencies: declarationDependencies(decl.name))
            case .success(nil):
                d.error(entry.location, "import \(entry.address): \(decl.type) \(entry.id) does not exist")
            case .failure(let error):
                d.error(entry.location, "import \(entry.address): \(describe(error))")
            }
        }
        try d.throwIfErrors()
        return out
    }

    /// Marks the changes of imported instances, and refuses an import to an instance the stack
    /// does not declare (a key not in the resource's for_each, an index beyond its count).
    func markImports(_ imports: [PlannedImport], imported: [ResourceAddress: ResourceState], walk: inout DeclarationWalk,
                     diagnostics: inout DiagnosticCollector) {
        for i in walk.changes.indices {
            if let object = imported[walk.changes[i].address] { walk.changes[i].importID = object.id }
        }
        for entry in imports where !walk.configured.contains(entry.address) {
            let declared = walk.configured.filter { $0.name == entry.address.name }.sorted().map(\.description)
            let hint = declared.isEmpty ? nil : "it declares \(declared.prefix(5).joined(separator: ", "))\(declared.count > 5 ? ", …" : "")"
            diagnostics.error(entry.location, "import: the stack declares no instance \(entry.address)", hint: hint)
        }
    }

    /// The resources a declaration depends on (references and depends_on), as state records them.
    func declarationDependencies(_ name: String) -> [ResourceAddress] {
        graph.dependencies(of: .resource(name)).compactMap { node -> ResourceAddress? in
            if case .resource(let r) = node { return ResourceAddress(name: r) }
            return nil
        }
    }
}

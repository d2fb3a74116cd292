import ArgumentParser
import EthstackEngine
import Foundation

struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Report what changed outside ethstack since the last apply.",
        discussion: """
        Refreshes every resource in state through its provider and compares it with what state \
        recorded. Changes nothing. Meant for nightly CI.

        Exit codes: 0 no drift, 1 error, 2 drift found.

        Example:
          ethstack drift --stack stacks/ethereum-testnet.yaml --json > drift.json || alert
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let plan: Plan
        do {
            let session = try stackOptions.open()
            let state = try await stateOptions.withStore(for: session.stack.name, create: false) { store in
                try await store?.load(stack: session.stack.name) ?? .empty(session.stack.name)
            }
            (plan, _) = try await session.plan(state: state, journal: nil, sessions: session.makeSessions(), options: PlanOptions())
        } catch {
            throw report(error)
        }
        if output.json {
            let json = try Value.parseJSON(PlanJSON.render(plan))
            printOut(Value.map(["format_version": .string(Plan.formatVersion), "stack": .string(plan.stack),
                                "resource_drift": json["resource_drift"] ?? .list([]),
                                "drift": .bool(!plan.drift.isEmpty)]).jsonString(pretty: true) + "\n")
        } else if plan.drift.isEmpty {
            printOut("No drift: every resource matches what ethstack recorded.\n")
        } else {
            var driftOnly = plan
            driftOnly.changes = []
            driftOnly.outputChanges = []
            let text = PlanRenderer(style: output.style).render(driftOnly)
            printOut(text.components(separatedBy: "No changes.").first ?? text)
            printOut("\(plan.drift.count) resource(s) drifted. `ethstack plan` shows what apply would do about it.\n")
        }
        if !plan.drift.isEmpty { throw ExitCode(2) }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Adopt existing objects into state, several at once.",
        discussion: """
        Each argument is ADDRESS=ID: a resource declared in the stack, and the id its provider knows \
        the object by. All are looked up in parallel and recorded; nothing is changed. A plan \
        afterwards shows how the objects differ from the stack.

        Examples:
          ethstack import vpc=vpc-0a1b2c3d 'subnet["a"]=subnet-11' 'subnet["b"]=subnet-22'
          ethstack import config=/etc/eth/network_params.yaml
        """)

    @Argument(help: "ADDRESS=ID pairs.")
    var pairs: [String]

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var applyOptions: ApplyOptions

    func run() async throws {
        do {
            let session = try stackOptions.open()
            let stack = session.stack
            var requests: [(ResourceAddress, String, ResourceDeclaration)] = []
            for pair in pairs {
                guard let eq = pair.firstIndex(of: "="), let address = ResourceAddress(String(pair[..<eq])) else {
                    throw CLIError("\"\(pair)\": expected ADDRESS=ID")
                }
                guard let decl = stack.resource(named: address.name) else {
                    throw CLIError("\(address) is not declared in \(stack.file)" + (didYouMean(address.name, in: stack.resources.map(\.name)).map { " (\($0))" } ?? ""))
                }
                requests.append((address, String(pair[pair.index(after: eq)...]), decl))
            }
            let timeout = try parseDurationOption(applyOptions.lockTimeout)
            let failures: [String] = try await stateOptions.withStore(for: stack.name, create: true) { store in
                guard let store else { return [] }
                return try await withLock(store, stack.name, "import", timeout: timeout, ttl: 900, onTakeover: { old in
                    printErr("warning: took over the stale lock of \(old.holder) (pid \(old.pid) on \(old.host))\n")
                }) { _ in
                    try await importLocked(store: store, session: session, requests: requests)
                }
            }
            if !failures.isEmpty {
                for f in failures { printErr("error: import \(f)\n") }
                throw ExitCode(1)
            }
            printOut("\nImported \(requests.count) object(s). Run `ethstack plan` to see how they differ from the stack.\n")
        } catch let e as ExitCode {
            throw e
        } catch {
            throw report(error)
        }
    }

    /// Under the stack's lock: looks every object up in parallel and records what was found;
    /// returns the failures.
    private func importLocked(store: any StateStore, session: StackSession,
                              requests: [(ResourceAddress, String, ResourceDeclaration)]) async throws -> [String] {
        let stack = session.stack
        let state = try await store.load(stack: stack.name)
        for (address, _, _) in requests where state.resources[address] != nil {
            throw CLIError("\(address) is already in state; `ethstack state rm \(address)` first to import another object there")
        }
        _ = try await store.beginRun(stack: stack.name)
        let sessions = session.makeSessions()
        let providerValues = try await providerValuesByName(session: session, state: state)
        let registry = session.registry
        var failures: [String] = []
        try await withThrowingTaskGroup(of: (ResourceAddress, Result<ResourceState, Error>).self) { group in
            for (address, id, decl) in requests {
                let values = providerValues[decl.providerConfigurationName] ?? [:]
                group.addTask {
                    do {
                        let provider = try await sessions.session(decl.providerConfigurationName, values: values)
                        guard let found = try await provider.importResource(ImportRequest(type: decl.type, address: address.description, id: id)) else {
                            throw CLIError("\(decl.type) \(id) does not exist")
                        }
                        let schema = registry.schema(for: decl.type)
                        let deps = session.graph.dependencies(of: .resource(decl.name)).compactMap { node -> ResourceAddress? in
                            if case .resource(let r) = node { return ResourceAddress(name: r) }
                            return nil
                        }
                        return (address, .success(ResourceState(address: address, type: decl.type, provider: decl.providerConfigurationName,
                                                                id: found.id, attributes: found.attributes,
                                                                sensitiveAttributes: schema?.attributes.filter(\.sensitive).map(\.name) ?? [],
                                                                dependencies: deps, schemaVersion: schema?.version ?? 1)))
                    } catch {
                        return (address, .failure(error))
                    }
                }
            }
            for try await (address, result) in group {
                switch result {
                case .success(let resource):
                    try await store.putResource(stack: stack.name, resource)
                    printOut("\(address): imported \(resource.id)\n")
                case .failure(let error):
                    failures.append("\(address): \(error)")
                }
            }
        }
        return failures
    }

    func providerValuesByName(session: StackSession, state: StackState) async throws -> [String: [String: Value]] {
        var out: [String: [String: Value]] = [:]
        for p in session.stack.providers {
            guard let config = p.configuration else { continue }
            var resources: [String: Value] = [:]
            for (address, r) in state.resources where address.key == nil { resources[address.name] = .map(r.markedAttributes) }
            for decl in session.stack.resources where resources[decl.name] == nil { resources[decl.name] = .unknown }
            let v = try Evaluator(scope: EvaluationScope(variables: session.variables, resources: resources,
                                                         baseDirectory: session.stack.baseDirectory)).evaluate(config)
            if case .map(let m) = v.unmarked {
                if m.values.contains(where: \.containsUnknown) {
                    throw CLIError("provider \(p.name) is configured from resources not in state yet; apply those first")
                }
                out[p.name] = m
            }
        }
        return out
    }
}

import ArgumentParser
import EthstackEngine
import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

struct DriftCommand: EthstackCommand {
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

    func execute() async throws {
        let session = try stackOptions.open()
        let state = try await stateOptions.withStore(for: session.stack.name, create: false) { store in
            try await store?.load(stack: session.stack.name) ?? .empty(session.stack.name)
        }
        let (plan, _) = try await session.plan(state: state, journal: nil, sessions: session.makeSessions(), options: PlanOptions())
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

struct ImportCommand: EthstackCommand {
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

    func execute() async throws {
        let session = try stackOptions.open()
        let importer = Importer(session: session)
        let requests = try importer.requests(pairs)
        let timeout = try parseDurationOption(applyOptions.lockTimeout)
        let outcomes: [Importer.Outcome] = try await stateOptions.withStore(for: session.stack.name, create: true) { store in
            guard let store else { return [] }
            return try await withLock(store, session.stack.name, "import", timeout: timeout, ttl: 900, onTakeover: { old in
                printErr("warning: took over the stale lock of \(old.holder) (pid \(old.pid) on \(old.host))\n")
            }) { _ in
                try await importer.run(requests, store: store) { outcome in
                    if let recorded = outcome.recorded { printOut("\(outcome.address): imported \(recorded.id)\n") }
                }
            }
        }
        let failures = outcomes.compactMap { o in o.failure.map { "\(o.address): \($0)" } }.sorted()
        if !failures.isEmpty {
            for f in failures { printErr("error: import \(f)\n") }
            throw ExitCode(1)
        }
        printOut("\nImported \(requests.count) object(s). Run `ethstack plan` to see how they differ from the stack.\n")
    }
}

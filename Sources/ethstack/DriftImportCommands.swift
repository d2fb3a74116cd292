import ArgumentParser
import EthstackEngine
import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

struct DriftCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Report what changed outside ethstack (for nightly CI).",
        discussion: """
        Refreshes every recorded resource through its provider and reports, per resource, each \
        attribute path that changed (recorded -> now), objects deleted outside ethstack, and \
        unmanaged objects: with the stack's mark, or inside its VPCs and namespaces, in no state \
        entry. Only \
        what the stack sets counts: server-populated fields never do. Writes no state and takes no \
        lock. Drift a resource expects is declared in the stack (drift: { ignore: [...], reason: ..., \
        until: YYYY-MM-DD }) and listed as ignored. Changes in the stack that were never applied are \
        reported apart: they are not drift.

        Exit codes: 0 no drift, 2 drift, 1 error; 3 with --fail-on-pending when the stack has \
        unapplied changes and nothing drifted.

        Examples:
          ethstack drift --stack stacks/ethereum-testnet.yaml
          ethstack drift --markdown --out drift.md
          ethstack drift --sarif --out drift.sarif
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var output: OutputOptions

    @OptionGroup var reportOptions: ReportOptions

    @Flag(name: .customLong("fail-on-pending"), help: "Exit 3 when the stack has unapplied changes (and nothing drifted).")
    var failOnPending = false

    func validate() throws { try reportOptions.validate(json: output.json) }

    func execute() async throws {
        let session = try stackOptions.open()
        // The one read of state: drift never writes it and takes no lock.
        let state = try await stateOptions.withStore(for: session.stack.name, create: false) { store in
            try await store?.load(stack: session.stack.name) ?? .empty(session.stack.name)
        }
        let sessions = session.makeSessions()
        let (plan, _) = try await session.plan(state: state, journal: nil, sessions: sessions, options: PlanOptions())
        var report = DriftReport(plan: plan, stack: session.stack)
        // Objects with the stack's mark, or inside its VPCs and namespaces, that state does not record.
        let (unmanaged, notes) = try await UnmanagedObjects.find(state: state, sessions: sessions)
        report.unmanaged = unmanaged
        for note in notes { printErr("note: \(note)\n") }
        try reportOptions.emit(output, json: report.json, markdown: { report.markdown() }, sarif: report.sarif, text: report.text)
        if report.hasDrift { throw ExitCode(2) }
        if failOnPending && !report.pendingChanges.isEmpty { throw ExitCode(3) }
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

        With --discover SOURCE --generate FILE it adopts a whole deployment instead: SOURCE is \
        eks:CLUSTER (the cluster, its node groups, add-ons, access entries, IAM roles and its VPC's \
        network) or tag:KEY=VALUE (AWS objects carrying the tag). It writes FILE, a stack that \
        refers between the objects instead of repeating ids, and the state that adopts them, so \
        that `ethstack plan --stack FILE` shows no changes. Discovery only reads.

        Examples:
          ethstack import vpc=vpc-0a1b2c3d 'subnet["a"]=subnet-11' 'subnet["b"]=subnet-22'
          ethstack import config=/etc/eth/network_params.yaml
          ethstack import --discover eks:eth-testnet --generate stacks/adopted.yaml --stack-name adopted
          ethstack import --discover tag:environment=testnet --generate adopted.yaml --region us-east-1
        """)

    @Argument(help: "ADDRESS=ID pairs.")
    var pairs: [String] = []

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var applyOptions: ApplyOptions
    @OptionGroup var discoverOptions: DiscoverOptions

    func validate() throws {
        if discoverOptions.discover != nil {
            if !pairs.isEmpty { throw ValidationError("--discover adopts a whole deployment: give no ADDRESS=ID pairs with it") }
            if discoverOptions.generate == nil { throw ValidationError("--discover needs --generate FILE") }
        } else if pairs.isEmpty {
            throw ValidationError("give ADDRESS=ID pairs, or --discover SOURCE --generate FILE")
        }
    }

    func execute() async throws {
        if discoverOptions.discover != nil {
            return try await DiscoverImport(options: discoverOptions, stateOptions: stateOptions, stackOptions: stackOptions).run()
        }
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

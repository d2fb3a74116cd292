import ArgumentParser
import EthstackEngine
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI
import Foundation

struct DiscoverOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("What to adopt: eks:CLUSTER, tag:KEY=VALUE or context:NAME.", valueName: "source"))
    var discover: String?

    @Option(name: .long, help: ArgumentHelp("The stack file to write (with --discover).", valueName: "file"))
    var generate: String?

    @Option(name: .long, help: "What to discover: aws, cluster or both (default both).")
    var scope: String = "both"

    @Option(name: .long, help: ArgumentHelp("A namespace whose Kubernetes objects to adopt (repeatable).", valueName: "name"))
    var namespace: [String] = []

    @Option(name: .customLong("stack-name"), help: "The generated stack's name (names its state; default: from the source).")
    var stackName: String?

    @Option(name: .long, help: "The AWS region (default: AWS_REGION, AWS_DEFAULT_REGION).")
    var region: String?

    @Flag(name: .long, help: "Overwrite --generate FILE when it exists.")
    var force = false
}

/// `ethstack import --discover SOURCE --generate FILE`: discover, write the stack, adopt into state.
struct DiscoverImport {
    let options: DiscoverOptions
    let stateOptions: StateOptions
    let stackOptions: StackOptions

    func run() async throws {
        guard let sourceText = options.discover, let file = options.generate else { return }
        let source = try Discovery.SourceKind(sourceText)
        guard ["aws", "cluster", "both"].contains(options.scope) else {
            throw CLIError("--scope \(options.scope): expected aws, cluster or both")
        }
        if FileManager.default.fileExists(atPath: file) && !options.force {
            throw CLIError("\(file) exists: choose another --generate FILE, or --force to overwrite it")
        }
        let stackName = options.stackName ?? defaultStackName(source)
        let env = ProcessInfo.processInfo.environment
        let region = options.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"]

        var requests: [(provider: String, session: any ConfiguredProvider, request: DiscoverRequest)] = []
        var notes: [String] = []
        let sessions = ProviderSessions(registry: Providers.registry, stackName: stackName,
                                        baseDirectory: FileManager.default.currentDirectoryPath)
        var providers: [String: [String: String]] = [:]
        if options.scope != "cluster" {
            switch source {
            case .eks(let name):
                requests.append(("aws", try await awsSession(sessions, region), DiscoverRequest(selector: .eksCluster(name))))
            case .tag(let key, let value):
                requests.append(("aws", try await awsSession(sessions, region), DiscoverRequest(selector: .tag(key: key, value: value))))
            case .context:
                break
            }
            if !requests.isEmpty { providers["aws"] = ["region": "${var.region}"] }
        }
        if options.scope != "aws" {
            switch source {
            case .context(let context):
                if options.namespace.isEmpty {
                    notes.append("no --namespace: no Kubernetes objects are adopted")
                } else {
                    let session = try await sessions.session("kubernetes", values: ["context": .string(context)])
                    requests.append(("kubernetes", session, DiscoverRequest(selector: .namespaces(options.namespace))))
                    providers["kubernetes"] = ["context": context]
                    // Helm releases, when helm is installed (the releases' own objects are theirs, not the stack's).
                    if let helm = try? await sessions.session("helm", values: ["context": .string(context)]) {
                        requests.append(("helm", helm, DiscoverRequest(selector: .namespaces(options.namespace))))
                        providers["helm"] = ["context": context]
                    } else {
                        notes.append("helm is not installed: Helm releases are not discovered")
                    }
                    // Kurtosis enclaves among the namespaces (kt-NAME), read through the Kubernetes API.
                    if options.namespace.contains(where: { $0.hasPrefix("kt-") }) {
                        if let kurtosis = try? await sessions.session("kurtosis", values: ["context": .string(context)]) {
                            requests.append(("kurtosis", kurtosis, DiscoverRequest(selector: .namespaces(options.namespace))))
                            providers["kurtosis"] = ["context": context]
                        } else {
                            notes.append("kurtosis is not installed: the enclaves of the kt-* namespaces are not discovered")
                        }
                    }
                }
            case .eks, .tag:
                notes.append("the cluster of \(sourceText) is not looked into yet: discover its Kubernetes objects with --discover context:NAME --namespace NS")
            }
            notes.append("the Kurtosis engine is not discovered: adopt it with an `import:` entry (kurtosis.engine CLUSTER)")
        }
        if requests.isEmpty {
            throw CLIError("nothing to discover for \(sourceText) with --scope \(options.scope)")
        }
        let result = try await Discovery.run(requests)
        var generatorOptions = StackGenerator.Options(stackName: stackName, command: "ethstack import --discover \(sourceText)",
                                                      region: providers["aws"] == nil ? nil : region)
        generatorOptions.providers = providers
        let output = StackGenerator(registry: Providers.registry).generate(result.sources, options: generatorOptions)
        try Data(output.text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)

        // The written stack is loaded as any stack is: what it records must validate.
        var inputs = stackOptions.inputs()
        inputs.assignments = []
        let session = try StackSession.open(file: file, registry: Providers.registry, inputs: inputs)
        try await stateOptions.withStore(for: stackName, create: true) { store in
            guard let store else { return }
            try await withLock(store, stackName, "import", timeout: 0, ttl: 900, onTakeover: { _ in }) { _ in
                try await Importer(session: session).adopt(output.placed, store: store)
            }
        }
        for note in notes + result.notes { printErr("note: \(note)\n") }
        printOut(String(format: "Discovered %d objects (%d API calls, %.2f s); wrote %@ and recorded them in %@.\n",
                        result.sources.count, result.calls, result.seconds, file, stateOptions.path(for: stackName)))
        printOut("Run `ethstack plan --stack \(file)\(stateOptions.state.map { " --state \($0)" } ?? "")`: it shows no changes.\n")
    }

    func awsSession(_ sessions: ProviderSessions, _ region: String?) async throws -> any ConfiguredProvider {
        guard let region else { throw CLIError("no AWS region: pass --region, or set AWS_REGION") }
        return try await sessions.session("aws", values: ["region": .string(region)])
    }

    func defaultStackName(_ source: Discovery.SourceKind) -> String {
        let raw: String
        switch source {
        case .eks(let name), .context(let name): raw = name
        case .tag(_, let value): raw = value
        }
        let cleaned = String(raw.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
        return cleaned.isEmpty ? "adopted" : cleaned
    }
}

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
        var awsFound: Discovery.Result?
        switch source {
        case .eks(let name):
            // The cluster side is reached through the cluster the AWS side finds: AWS first.
            let found = try await Discovery.run([("aws", try await awsSession(sessions, region), DiscoverRequest(selector: .eksCluster(name)))])
            if options.scope != "cluster" {
                awsFound = found
                providers["aws"] = ["region": "${var.region}"]
            }
            if options.scope != "aws" {
                guard let cluster = found.sources.first(where: { $0.object.type == "aws.eks_cluster" })?.object,
                      let endpoint = cluster.attributes["endpoint"]?.stringValue else {
                    throw CLIError("eks:\(name): the cluster has no endpoint yet: its Kubernetes objects cannot be read")
                }
                let connection: [String: Value] = ["host": .string(endpoint), "eks_cluster_name": .string(name),
                                                   "region": region.map(Value.string) ?? .null,
                                                   "cluster_ca_certificate": cluster.attributes["certificate_authority"] ?? .null]
                // In the stack: from the cluster resource when it is adopted too, else as read.
                let block = options.scope == "cluster"
                    ? ["host": endpoint, "eks_cluster_name": name, "region": "${var.region}",
                       "cluster_ca_certificate": cluster.attributes["certificate_authority"]?.stringValue ?? ""]
                    : ["host": "${eks_cluster.endpoint}", "eks_cluster_name": "${eks_cluster.name}", "region": "${var.region}",
                       "cluster_ca_certificate": "${eks_cluster.certificate_authority}"]
                try await clusterRequests(connection: connection, block: block, sessions: sessions, requests: &requests, notes: &notes,
                                          providers: &providers)
            }
        case .tag(let key, let value):
            if options.scope != "cluster" {
                requests.append(("aws", try await awsSession(sessions, region), DiscoverRequest(selector: .tag(key: key, value: value))))
                providers["aws"] = ["region": "${var.region}"]
            }
            if options.scope != "aws" {
                notes.append("the clusters of \(sourceText) are not looked into: discover their objects with eks:CLUSTER or context:NAME --namespace NS")
            }
        case .context(let context):
            if options.scope != "aws" {
                try await clusterRequests(connection: ["context": .string(context)], block: ["context": context], sessions: sessions,
                                          requests: &requests, notes: &notes, providers: &providers)
            }
        }
        if requests.isEmpty && awsFound == nil {
            throw CLIError("nothing to discover for \(sourceText) with --scope \(options.scope)")
        }
        var result = try await Discovery.run(requests)
        if let awsFound {
            result.sources = awsFound.sources + result.sources
            result.notes += awsFound.notes
            result.calls += awsFound.calls
            result.seconds += awsFound.seconds
        }
        var generatorOptions = StackGenerator.Options(stackName: stackName, command: "ethstack import --discover \(sourceText)",
                                                      region: providers.values.contains { $0.values.contains { $0.contains("${var.region}") } } ? region : nil)
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

    /// The cluster side: Kubernetes objects of the namespaces named, their Helm releases, the
    /// Kurtosis enclaves of the kt-* ones; each provider connected with `connection`, and written in
    /// the stack with `block`.
    func clusterRequests(connection: [String: Value], block: [String: String], sessions: ProviderSessions,
                         requests: inout [(provider: String, session: any ConfiguredProvider, request: DiscoverRequest)],
                         notes: inout [String], providers: inout [String: [String: String]]) async throws {
        guard !options.namespace.isEmpty else {
            notes.append("no --namespace: no Kubernetes objects are adopted")
            return
        }
        let selector = DiscoverRequest(selector: .namespaces(options.namespace))
        requests.append(("kubernetes", try await sessions.session("kubernetes", values: connection), selector))
        providers["kubernetes"] = block
        // Helm releases, when helm is installed (the releases' own objects are theirs, not the stack's).
        if let helm = try? await sessions.session("helm", values: connection) {
            requests.append(("helm", helm, selector))
            providers["helm"] = block
        } else {
            notes.append("helm is not installed: Helm releases are not discovered")
        }
        // Kurtosis enclaves among the namespaces (kt-NAME), read through the Kubernetes API.
        if options.namespace.contains(where: { $0.hasPrefix("kt-") }) {
            if let kurtosis = try? await sessions.session("kurtosis", values: connection) {
                requests.append(("kurtosis", kurtosis, selector))
                providers["kurtosis"] = block
            } else {
                notes.append("kurtosis is not installed: the enclaves of the kt-* namespaces are not discovered")
            }
        }
        notes.append("the Kurtosis engine is not discovered: adopt it with an `import:` entry (kurtosis.engine CLUSTER)")
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

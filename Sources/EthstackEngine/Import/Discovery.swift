import Foundation
import EthstackModel
import EthstackProviderAPI

/// `ethstack import --discover`: asks the configured providers for the objects a source picks (all
/// at once), then the generated stack adopts them.
public enum Discovery {
    /// What `--discover` names.
    public enum SourceKind: Sendable, Equatable {
        case eks(String)
        case tag(key: String, value: String)
        case context(String)

        /// Parses `eks:NAME`, `tag:KEY=VALUE`, `context:NAME`.
        public init(_ text: String) throws {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw DiagnosticsError([.error(nil, "--discover \"\(text)\": expected eks:CLUSTER, tag:KEY=VALUE or context:NAME")])
            }
            switch parts[0] {
            case "eks": self = .eks(parts[1])
            case "context": self = .context(parts[1])
            case "tag":
                // The key may hold colons (ethstack:stack); the value follows the last "=".
                guard let eq = parts[1].lastIndex(of: "="), eq != parts[1].startIndex else {
                    throw DiagnosticsError([.error(nil, "--discover \"\(text)\": expected tag:KEY=VALUE")])
                }
                self = .tag(key: String(parts[1][..<eq]), value: String(parts[1][parts[1].index(after: eq)...]))
            default:
                throw DiagnosticsError([.error(nil, "--discover \"\(text)\": unknown source \"\(parts[0])\"",
                                               hint: didYouMean(parts[0], in: ["eks", "tag", "context"]))])
            }
        }
    }

    public struct Result: Sendable {
        public var sources: [StackGenerator.Source]
        public var notes: [String]
        public var calls: Int
        public var seconds: Double
    }

    /// Runs every (provider configuration, request) pair at once and gathers what they found.
    public static func run(_ requests: [(provider: String, session: any ConfiguredProvider, request: DiscoverRequest)]) async throws -> Result {
        let started = Date()
        let answers = try await withThrowingTaskGroup(of: (Int, String, DiscoverResponse).self) { group in
            for (i, r) in requests.enumerated() {
                group.addTask { (i, r.provider, try await r.session.discover(r.request)) }
            }
            var out: [(Int, String, DiscoverResponse)] = []
            for try await a in group { out.append(a) }
            return out.sorted { $0.0 < $1.0 }
        }
        var sources: [StackGenerator.Source] = []
        var seen = Set<String>()
        for (_, provider, response) in answers {
            for object in response.objects where seen.insert("\(object.type) \(object.id)").inserted {
                sources.append(StackGenerator.Source(provider: provider, object: object))
            }
        }
        return Result(sources: sources, notes: answers.flatMap(\.2.notes).sorted(), calls: answers.map(\.2.calls).reduce(0, +),
                      seconds: Date().timeIntervalSince(started))
    }
}

extension Importer {
    /// Records discovered objects at the addresses the generated stack gives them, with the values
    /// discovery read (no second read). The stack's state must be empty: adoption never mixes with
    /// what another run recorded.
    public func adopt(_ placed: [StackGenerator.Placed], store: any StateStore) async throws {
        let stack = session.stack
        let state = try await store.load(stack: stack.name)
        guard state.resources.isEmpty else {
            throw DiagnosticsError([.error(nil, "the state of stack \(stack.name) already records \(state.resources.count) resources: choose another --stack-name or --state")])
        }
        _ = try await store.beginRun(stack: stack.name)
        for p in placed.sorted(by: { $0.address < $1.address }) {
            let dependencies = session.graph.dependencies(of: .resource(p.address.name)).compactMap { node -> ResourceAddress? in
                if case .resource(let r) = node { return ResourceAddress(name: r) }
                return nil
            }
            let recorded = ResourceState.recording(address: p.address, type: p.object.type, provider: p.provider, id: p.object.id,
                                                   attributes: p.object.attributes, schema: session.registry.schema(for: p.object.type),
                                                   dependencies: dependencies)
            try await store.putResource(stack: stack.name, recorded)
        }
    }
}

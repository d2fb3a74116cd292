import EthstackModel
import EthstackProviderAPI

/// An object that carries the stack's mark, or lives inside what the stack owns (its VPCs, its
/// namespaces), that no state entry records: made behind ethstack's back, or left over.
public struct UnmanagedObject: Sendable, Hashable {
    public var type: String
    public var id: String
    /// Why it counts as the stack's: "carries the stack's mark", "inside vpc-…", "in namespace …".
    public var reason: String
}

public enum UnmanagedObjects {
    /// Asks each provider configuration state uses (configured already, by the refresh) for the
    /// objects with the stack's mark and those inside the stack's VPCs and namespaces, in parallel,
    /// and keeps those state does not record. Reads only.
    public static func find(state: StackState, sessions: ProviderSessions) async throws -> (objects: [UnmanagedObject], notes: [String]) {
        var requests: [(session: any ConfiguredProvider, request: DiscoverRequest, reason: String)] = []
        let resources = state.resources.values.sorted { $0.address < $1.address }
        for name in Set(resources.map(\.provider)).sorted() {
            guard let session = await sessions.existingSession(name) else { continue }
            requests.append((session, DiscoverRequest(selector: .stackMark(state.name), readAttributes: false), "carries the stack's mark"))
            let owned = resources.filter { $0.provider == name }
            for vpc in owned where vpc.type == "aws.vpc" {
                requests.append((session, DiscoverRequest(selector: .insideVPC(vpc.id), readAttributes: false), "inside \(vpc.id) (\(vpc.address))"))
            }
            // Namespaces the stack made: kubernetes.manifest ids are v1/Namespace/NAME.
            let namespaces = owned.compactMap { r -> String? in
                guard r.type == "kubernetes.manifest", r.id.hasPrefix("v1/Namespace/") else { return nil }
                return String(r.id.dropFirst("v1/Namespace/".count))
            }
            for ns in namespaces {
                requests.append((session, DiscoverRequest(selector: .namespaces([ns]), readAttributes: false), "in namespace \(ns)"))
            }
        }
        let answers = try await withThrowingTaskGroup(of: (Int, DiscoverResponse).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await r.session.discover(r.request)) } }
            var out: [(Int, DiscoverResponse)] = []
            for try await a in group { out.append(a) }
            return out.sorted { $0.0 < $1.0 }
        }
        let recorded = Set(resources.map { "\($0.type) \($0.id)" })
        var seen = Set<String>()
        var objects: [UnmanagedObject] = []
        for (i, response) in answers {
            for o in response.objects where !recorded.contains("\(o.type) \(o.id)") && seen.insert("\(o.type) \(o.id)").inserted {
                objects.append(UnmanagedObject(type: o.type, id: o.id, reason: requests[i].reason))
            }
        }
        return (objects.sorted { ($0.type, $0.id) < ($1.type, $1.id) }, answers.flatMap(\.1.notes))
    }
}

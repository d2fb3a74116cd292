import Foundation
import EthstackModel

/// API discovery, cached for the life of the client (one run).
///
/// A group/version's resource list (`/api/v1`, `/apis/G/V`) is fetched the first time a kind in it
/// is needed. A miss (the group/version or the kind is not there) drops that entry and asks again
/// once, so a CustomResourceDefinition created earlier in the same run is found. Concurrent
/// callers needing the same group/version share one fetch (a plan checks many objects at once).
actor KubernetesDiscovery {
    typealias Fetch = @Sendable (String) async throws -> Value?

    private let fetch: Fetch
    /// Resources per group/version; nil entry: the group/version is not served.
    private var resources: [KubernetesGroupVersion: [KubernetesResourceInfo]?] = [:]
    private var groups: [String: (preferred: String, versions: [String])]?
    /// Fetches in flight, shared by whoever needs the same group/version meanwhile.
    private var loading: [KubernetesGroupVersion: Task<[KubernetesResourceInfo]?, any Error>] = [:]

    package init(fetch: @escaping Fetch) { self.fetch = fetch }

    /// The resource serving `kind` in `apiVersion`; fetched again once on a miss.
    package func resource(apiVersion: String, kind: String) async throws -> KubernetesResourceInfo {
        let gv = KubernetesGroupVersion(apiVersion)
        if case .some(.some(let list)) = resources[gv], let info = list.first(where: { $0.kind == kind }) {
            return info
        }
        resources[gv] = nil
        let list = try await load(gv)
        if let info = list?.first(where: { $0.kind == kind }) { return info }
        throw KubernetesClientError.unknownKind(apiVersion: apiVersion, kind: kind)
    }

    /// Every resource of a group/version (empty when it is not served).
    package func resources(_ gv: KubernetesGroupVersion) async throws -> [KubernetesResourceInfo] {
        if case .some(.some(let list)) = resources[gv] { return list }
        return try await load(gv) ?? []
    }

    /// The served API groups: name → (preferred version, all versions). Core is `""` → v1.
    func apiGroups(refresh: Bool = false) async throws -> [String: (preferred: String, versions: [String])] {
        if let groups, !refresh { return groups }
        var result: [String: (preferred: String, versions: [String])] = [:]
        if let core = try await fetch("/api") {
            let versions = (core["versions"]?.listValue ?? []).compactMap(\.stringValue)
            result[""] = (versions.first ?? "v1", versions)
        }
        for group in try await fetch("/apis")?["groups"]?.listValue ?? [] {
            guard let name = group["name"]?.stringValue else { continue }
            let versions = (group["versions"]?.listValue ?? []).compactMap { $0["version"]?.stringValue }
            let preferred = group["preferredVersion"]?["version"]?.stringValue ?? versions.first ?? ""
            result[name] = (preferred, versions)
        }
        groups = result
        return result
    }

    /// Forget everything (after creating or deleting CRDs, if a caller wants to be sure).
    func invalidate() {
        resources.removeAll()
        groups = nil
    }

    private func load(_ gv: KubernetesGroupVersion) async throws -> [KubernetesResourceInfo]? {
        if let inFlight = loading[gv] { return try await inFlight.value }
        let fetch = self.fetch
        let task = Task { try await fetch(gv.basePath).map { Self.parse($0, gv) } }
        loading[gv] = task
        defer { loading[gv] = nil }
        let list = try await task.value
        resources[gv] = .some(list)
        return list
    }

    /// A group/version's resource list document as resource infos (subresources folded in).
    private static func parse(_ body: Value, _ gv: KubernetesGroupVersion) -> [KubernetesResourceInfo] {
        var main: [KubernetesResourceInfo] = []
        var subresources: [String: [String]] = [:]
        for r in body["resources"]?.listValue ?? [] {
            guard let name = r["name"]?.stringValue, let kind = r["kind"]?.stringValue else { continue }
            if let slash = name.firstIndex(of: "/") {
                subresources[String(name[..<slash]), default: []].append(String(name[name.index(after: slash)...]))
                continue
            }
            main.append(KubernetesResourceInfo(
                groupVersion: gv, name: name, kind: kind, namespaced: r["namespaced"]?.boolValue ?? false,
                verbs: (r["verbs"]?.listValue ?? []).compactMap(\.stringValue)))
        }
        for i in main.indices { main[i].subresources = subresources[main[i].name] ?? [] }
        return main
    }
}

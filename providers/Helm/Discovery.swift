import EthstackModel
import EthstackProviderAPI

/// Discovery: the Helm releases of the namespaces asked for (`helm list --all`), each read as an
/// import reads it (its values as deployed). Only reads.
extension ConfiguredHelm {
    func discover(_ request: DiscoverRequest) async throws -> DiscoverResponse {
        guard case .namespaces(let namespaces) = request.selector else { return DiscoverResponse(objects: []) }
        var ids: [String] = []
        var calls = 0
        for namespace in namespaces.sorted() {
            let result = try await cli.run(operation: "discover", address: nil, timeout: readTimeout) { _ in
                ["list", "--namespace", namespace, "--all", "-o", "json"]
            }
            calls += 1
            guard result.succeeded else { throw HelmCLI.failure(result, operation: "discover", address: nil) }
            let releases = (try? Value.parseJSON(result.stdout))?.listValue ?? []
            ids += releases.compactMap { $0["name"]?.stringValue }.sorted().map { "\(namespace)/\($0)" }
        }
        var objects: [DiscoveredObject] = []
        for id in ids {
            guard request.readAttributes else {
                objects.append(DiscoveredObject(type: HelmRelease.schema.type, id: id))
                continue
            }
            let address = ResourceAddress(name: "release")
            if let found = try await importResource(ImportRequest(type: HelmRelease.schema.type, address: address, id: id)) {
                calls += 3
                objects.append(DiscoveredObject(type: HelmRelease.schema.type, id: found.id, attributes: found.attributes))
            }
        }
        return DiscoverResponse(objects: objects, calls: calls)
    }
}

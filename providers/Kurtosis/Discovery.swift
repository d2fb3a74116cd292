import EthstackModel
import EthstackProviderAPI

/// Discovery: the enclaves among the namespaces asked for (`kt-<enclave>`), each read as an
/// import reads it. Kurtosis does not keep a run's package, ref and args where they can be read
/// back: what it keeps (the services, their ports and health) is what discovery gives.
extension ConfiguredKurtosis {
    func discover(_ request: DiscoverRequest) async throws -> DiscoverResponse {
        guard case .namespaces(let namespaces) = request.selector else { return DiscoverResponse(objects: []) }
        var objects: [DiscoveredObject] = []
        for namespace in namespaces.sorted() where namespace.hasPrefix("kt-") && namespace.count > 3 {
            let name = String(namespace.dropFirst(3))
            guard let found = try await importResource(ImportRequest(type: KurtosisEnclave.schema.type,
                                                                     address: ResourceAddress(name: "enclave"), id: name)) else { continue }
            var attributes = found.attributes
            // How a run is made (not a property of the enclave): the defaults.
            for key in ["image_download", "timeout"] where attributes[key] == nil {
                attributes[key] = KurtosisEnclave.schema[key]?.defaultValue ?? .null
            }
            // What Kurtosis did not keep is recorded as not known (null; args as no args), not as a default.
            for key in ["package", "ref", "production"] where attributes[key] == nil { attributes[key] = .null }
            if attributes["args"] == nil { attributes["args"] = .map([:]) }
            objects.append(DiscoveredObject(type: KurtosisEnclave.schema.type, id: found.id,
                                            attributes: request.readAttributes ? attributes : [:]))
        }
        return DiscoverResponse(objects: objects, calls: objects.count * 3)
    }
}

import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI
import ProviderSupport

/// The `kubernetes` provider: `kubernetes.manifest` (any apiVersion/kind, CRDs included), applied
/// with server-side apply, with waits for readiness.
///
/// Configuration (`KubernetesConnectionSettings.schema`): `host` + `cluster_ca_certificate` +
/// `token` | `client_certificate` + `client_key` | `eks_cluster_name` (+ `region`), or a kubeconfig
/// (`config_path`, `context`); `insecure`, `namespace`, `request_timeout`. Nothing is contacted
/// until the first call: a provider pointed at a cluster made in the same run is configured the
/// moment the cluster exists.
public struct KubernetesProvider: Provider {
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public var name: String { "kubernetes" }

    public var configurationSchema: [AttributeSchema] { KubernetesConnectionSettings.schema }

    public var resourceSchemas: [ResourceSchema] { [ManifestResource.schema] }

    public func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider {
        let settings = KubernetesConnectionSettings(values: configuration.values, environment: environment,
                                                    baseDirectory: configuration.baseDirectory)
        do {
            let client = try KubernetesClient(connection: try settings.resolve(), maxConcurrentRequests: configuration.parallelism)
            return ConfiguredKubernetes(resources: ManifestResource(client: client, stack: configuration.stackName))
        } catch let error as KubernetesClientError {
            throw ProviderError(.invalidConfiguration, operation: "configure kubernetes", message: error.description)
        }
    }
}

struct ConfiguredKubernetes: ConfiguredProvider {
    let resources: ManifestResource

    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        try await call("read", request.address) { try await resources.read(request) }
    }

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        try await call("plan", request.address) { try await resources.planChange(request) }
    }

    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        try await call("create", request.address) { try await resources.create(request) }
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        try await call("update", request.address) { try await resources.update(request) }
    }

    func delete(_ request: DeleteRequest) async throws {
        try await call("delete", request.address) { try await resources.delete(request) }
    }

    func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        try await call("import", request.address) { try await resources.importObject(request) }
    }

    func find(_ request: FindRequest) async throws -> ReadResponse? {
        try await call("find", request.address) { try await resources.find(request) }
    }

    /// Turns client errors into `ProviderError`s that say what failed and whether a retry helps.
    private func call<T: Sendable>(_ operation: String, _ address: ResourceAddress, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as KubernetesAPIError {
            throw ProviderError.kubernetes(error, operation: operation, address: address, message: Self.message(error))
        } catch {
            throw ProviderError.kubernetes(error, operation: operation, address: address)
        }
    }

    /// An SSA conflict names the other managers and their fields, and how to take them over.
    static func message(_ error: KubernetesAPIError) -> String {
        let conflicts = error.fieldConflicts
        guard error.isFieldManagerConflict, !conflicts.isEmpty else { return error.description }
        let parts = conflicts.map { "field manager \"\($0.manager)\" owns \($0.fields.joined(separator: ", "))" }
        return "server-side apply conflict: \(parts.joined(separator: "; ")). Set force_conflicts: true to take these fields over, or stop setting them"
    }
}

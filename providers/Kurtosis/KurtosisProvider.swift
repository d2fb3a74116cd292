import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI
import EthstackSubprocess
import ProviderSupport

/// `kurtosis.engine` and `kurtosis.enclave`: the `kurtosis` CLI for changes (argument vector, a
/// private KUBECONFIG per call), the Kubernetes API (the engine's `KubernetesClient`) for reading
/// state back. Configuration: the cluster connection settings of the kubernetes provider
/// (`KubernetesConnectionSettings.schema`), `kurtosis_path` and `config_dir`.
public struct KurtosisProvider: Provider {
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public var name: String { "kurtosis" }

    public var configurationSchema: [AttributeSchema] {
        KubernetesConnectionSettings.schema + [
            AttributeSchema("kurtosis_path", .string, .optional(default: nil),
                            description: "The kurtosis executable; default: kurtosis on PATH."),
            AttributeSchema("config_dir", .string, .optional(default: nil),
                            description: "XDG_CONFIG_HOME for kurtosis (holds kurtosis/kurtosis-config.yml); default ~/.ethstack/kurtosis/<stack>."),
        ]
    }

    public var resourceSchemas: [ResourceSchema] { [KurtosisEngine.schema, KurtosisEnclave.schema] }

    public func validateResource(_ request: ValidateResourceRequest) -> [Diagnostic] {
        request.type == "kurtosis.enclave" ? EnclaveArgs.diagnostics(request) : []
    }

    public func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider {
        let executable: String
        do {
            executable = try Subprocess.locate("kurtosis", configured: configuration.values["kurtosis_path"]?.stringValue,
                                               setting: "kurtosis_path")
        } catch let e as SubprocessError {
            throw ProviderError(.invalidConfiguration, operation: "configure kurtosis", message: e.message)
        }
        let access = try ClusterAccess(settings: KubernetesConnectionSettings(
            values: configuration.values, environment: environment, baseDirectory: configuration.baseDirectory), provider: "kurtosis")
        var configDir = configuration.values["config_dir"]?.stringValue
            ?? "\(NSHomeDirectory())/.ethstack/kurtosis/\(configuration.stackName)"
        if !configDir.hasPrefix("/") { configDir = "\(configuration.baseDirectory)/\(configDir)" }
        let client: KubernetesClient
        do {
            client = try KubernetesClient(connection: access.connection, userAgent: "ethstack-kurtosis",
                                          maxConcurrentRequests: configuration.parallelism)
        } catch {
            throw ProviderError.kubernetes(error, operation: "configure kurtosis", address: nil)
        }
        let cli = KurtosisCLI(executable: executable, access: access, configDirectory: configDir,
                              baseDirectory: configuration.baseDirectory)
        return ConfiguredKurtosis(cli: cli, kube: client)
    }
}

/// Runs `kurtosis` with an explicit environment: PATH/HOME, KUBECONFIG (private, per call) and
/// XDG_CONFIG_HOME (where kurtosis-config.yml lives).
struct KurtosisCLI: Sendable {
    let executable: String
    let access: ClusterAccess
    let configDirectory: String
    let baseDirectory: String

    func run(operation: String, address: ResourceAddress, timeout: Double, progress: ProgressReporter? = nil,
             _ build: (PrivateDirectory) throws -> [String]) async throws -> SubprocessResult {
        var env = Subprocess.inheritedEnvironment(["PATH", "HOME", "TMPDIR", "LANG", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                                   "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"])
        env["XDG_CONFIG_HOME"] = configDirectory
        return try await access.run(executable, environment: env, workingDirectory: baseDirectory, timeout: timeout,
                                    progress: progress, operation: operation, address: address, build)
    }

    static func failure(_ r: SubprocessResult, command: String, operation: String, address: ResourceAddress) -> ProviderError {
        let tail = r.tail(8)
        return ProviderError(.failed, operation: operation, address: address,
                             message: "kurtosis \(command) exited with status \(r.status)\(tail.isEmpty ? "" : ":\n\(tail)")")
    }
}

struct ConfiguredKurtosis: ConfiguredProvider {
    let cli: KurtosisCLI
    let kube: KubernetesClient

    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        try await kubernetesCall("read", request.address) {
            switch request.type {
            case "kurtosis.engine": return try await KurtosisEngine.read(request, kube: kube)
            default: return try await KurtosisEnclave.read(request, kube: kube)
            }
        }
    }

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        switch request.type {
        case "kurtosis.engine": return KurtosisEngine.planChange(request)
        default: return try KurtosisEnclave.planChange(request)
        }
    }

    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        try await kubernetesCall("create", request.address) {
            switch request.type {
            case "kurtosis.engine": return try await KurtosisEngine.apply(request.planned, restart: false, address: request.address,
                                                                          stack: request.mark.stack, progress: request.progress,
                                                                          cli: cli, kube: kube)
            default: return try await KurtosisEnclave.create(request, cli: cli, kube: kube)
            }
        }
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        switch request.type {
        case "kurtosis.engine":
            return try await kubernetesCall("update", request.address) {
                try await KurtosisEngine.apply(request.planned, restart: true, address: request.address,
                                               stack: request.mark.stack, progress: request.progress, cli: cli, kube: kube)
            }
        default:
            // Only settings that do not touch the running enclave (image_download, timeout) change in place.
            var attributes = request.planned
            for k in ["namespace", "services", "ports", "status"] { attributes[k] = request.prior[k] ?? .null }
            return ApplyResponse(id: request.id, attributes: attributes)
        }
    }

    func delete(_ request: DeleteRequest) async throws {
        try await kubernetesCall("delete", request.address) {
            switch request.type {
            case "kurtosis.engine": try await KurtosisEngine.delete(request, cli: cli, kube: kube)
            default: try await KurtosisEnclave.delete(request, cli: cli, kube: kube)
            }
        }
    }

    func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        let key = request.type == "kurtosis.engine" ? "cluster" : "name"
        return try await read(ReadRequest(type: request.type, address: request.address, id: request.id,
                                          prior: [key: .string(request.id)]))
    }

    func find(_ request: FindRequest) async throws -> ReadResponse? {
        // Kurtosis names enclaves uniquely per cluster (namespace kt-<name>): the name is the mark.
        let id = request.type == "kurtosis.engine" ? (request.planned["cluster"]?.stringValue ?? "")
            : (request.planned["name"]?.stringValue ?? "")
        if request.type == "kurtosis.engine" {
            // Only an engine this stack started (its namespace carries the stack's annotation).
            let marked = try await kubernetesCall("find", request.address) {
                try await KurtosisEngine.engineNamespace(kube: kube)?.annotations[KurtosisEngine.stackAnnotation] == request.mark.stack
            }
            guard marked else { return nil }
        }
        return try await read(ReadRequest(type: request.type, address: request.address, id: id, prior: request.planned))
    }
}

extension KubernetesObject {
    /// Deleted but not gone yet (finalizers, a namespace emptying itself).
    var isTerminating: Bool { deletionTimestamp != nil || self[path: "status.phase"]?.stringValue == "Terminating" }
}

/// Runs `body`, turning Kubernetes client failures into `ProviderError`s of `operation`.
func kubernetesCall<T: Sendable>(_ operation: String, _ address: ResourceAddress, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw ProviderError.kubernetes(error, operation: operation, address: address)
    }
}

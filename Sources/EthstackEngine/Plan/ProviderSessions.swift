import EthstackModel
import EthstackProviderAPI
/// Configured providers for one run, configured lazily: the first time a configuration is fully
/// known (a provider pointed at a cluster created in the same run is configured once it exists).
public actor ProviderSessions {
    private let registry: ProviderRegistry
    private let stackName: String
    private let baseDirectory: String
    private let parallelism: Int
    private var sessions: [String: any ConfiguredProvider] = [:]
    private var pending: [String: Task<any ConfiguredProvider, Error>] = [:]

    public init(registry: ProviderRegistry, stackName: String, baseDirectory: String, parallelism: Int = 10) {
        self.registry = registry
        self.stackName = stackName
        self.baseDirectory = baseDirectory
        self.parallelism = parallelism
    }

    /// The configured provider for `configurationName` (`aws`, `aws.backup`), configuring it with
    /// `values` the first time. Values must be fully known.
    public func session(_ configurationName: String, values: [String: Value]) async throws -> any ConfiguredProvider {
        if let s = sessions[configurationName] { return s }
        if let task = pending[configurationName] { return try await task.value }
        let pluginName = String(configurationName.split(separator: ".").first ?? "")
        guard let plugin = registry.provider(named: pluginName) else {
            throw ProviderError(.invalidConfiguration, operation: "configure provider \(configurationName)",
                                message: "no provider plugin named \"\(pluginName)\"")
        }
        let configuration = ProviderConfiguration(values: values, stackName: stackName, baseDirectory: baseDirectory,
                                                  parallelism: parallelism)
        let task = Task { try await plugin.configure(configuration) }
        pending[configurationName] = task
        do {
            let session = try await task.value
            sessions[configurationName] = session
            pending[configurationName] = nil
            return session
        } catch {
            pending[configurationName] = nil
            throw error
        }
    }

    public func existingSession(_ configurationName: String) -> (any ConfiguredProvider)? {
        sessions[configurationName]
    }
}

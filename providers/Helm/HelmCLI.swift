import Foundation
import EthstackModel
import EthstackProviderAPI
import EthstackSubprocess
import ProviderSupport

/// Runs `helm` for one provider configuration: argument vector, explicit environment, a private
/// KUBECONFIG per call, secrets redacted from output and errors.
struct HelmCLI: Sendable {
    let executable: String
    let access: ClusterAccess
    let baseDirectory: String

    /// What helm sees of this process's environment; its own home directories when set.
    static let inherited = ["PATH", "HOME", "TMPDIR", "LANG", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                            "http_proxy", "https_proxy", "no_proxy", "HELM_CACHE_HOME", "HELM_CONFIG_HOME",
                            "HELM_DATA_HOME", "HELM_REGISTRY_CONFIG", "HELM_REPOSITORY_CONFIG", "HELM_REPOSITORY_CACHE"]

    /// Runs helm with the arguments `build` returns; `build` may write files (values) into the
    /// call's private directory. The directory, with the kubeconfig, is removed afterwards.
    func run(operation: String, address: ResourceAddress?, timeout: Double, progress: ProgressReporter? = nil,
             _ build: (PrivateDirectory) throws -> [String]) async throws -> SubprocessResult {
        try await access.run(executable, environment: Subprocess.inheritedEnvironment(HelmCLI.inherited),
                             workingDirectory: baseDirectory, timeout: timeout, progress: progress,
                             operation: operation, address: address) { dir in
            var args = try build(dir)
            if let context = access.userContext { args += ["--kube-context", context] }
            return args
        }
    }

    /// Whether helm failed because the release does not exist ("Error: release: not found",
    /// "uninstall: Release not loaded: NAME: release: not found").
    static func releaseNotFound(_ r: SubprocessResult) -> Bool {
        !r.succeeded && r.stderr.contains("release: not found")
    }

    /// A failed helm call as a provider error: exit status and helm's last lines.
    static func failure(_ r: SubprocessResult, operation: String, address: ResourceAddress?) -> ProviderError {
        let tail = r.tail(5)
        let retryable = tail.contains("connection refused") || tail.contains("timeout") || tail.contains("another operation")
        return ProviderError(.failed, operation: operation, address: address,
                             message: "helm exited with status \(r.status)\(tail.isEmpty ? "" : ": \(tail)")", retryable: retryable)
    }
}

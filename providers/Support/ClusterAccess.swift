import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI
import EthstackSubprocess

/// How a CLI-backed provider (`helm`, `kurtosis`) reaches a Kubernetes cluster: the connection
/// settings every Kubernetes provider shares (`KubernetesConnectionSettings`: host, CA, token,
/// client certificate, EKS cluster, kubeconfig and context), resolved once, and a `KUBECONFIG`
/// written for every call into the call's `PrivateDirectory` (0600, removed after the call), so the
/// tools never fall back to the user's current context and no secret appears in argv.
///
/// The user's kubeconfig files are handed over unchanged when no setting overrides them and they
/// need no generated token; otherwise the call gets a kubeconfig made from the resolved
/// connection: server, CA, and a bearer token, a token file, or a client certificate and key.
///
/// An EKS token expires after 15 minutes, and `kurtosis run` of a large enclave or `helm install
/// --wait` of a big chart can take longer. So an EKS call gets its token as a `tokenFile` that
/// ethstack rewrites every `eksTokenRefreshInterval` while the tool runs: client-go (which helm
/// and kurtosis use) re-reads a token file every minute, and a tool never holds an expired token.
public struct ClusterAccess: Sendable {
    /// The resolved connection (for `KubernetesClient`, when the provider reads through the API).
    public let connection: KubernetesConnection
    /// The user's kubeconfig files, when the tool gets them unchanged.
    let userFiles: [String]?
    /// The context to select in the user's files.
    public let userContext: String?
    /// Seconds between rewrites of a running call's EKS token file (tokens are valid for 15 minutes).
    public var eksTokenRefreshInterval: Double = EKSToken.reuseSeconds

    public init(settings: KubernetesConnectionSettings, provider: String) throws {
        do {
            connection = try settings.resolve()
            var passThrough: [String]?
            if settings.kubeconfigIsUnchanged, case .files(let files) = try settings.kubeconfigSource(), !files.isEmpty {
                // An `aws eks get-token` exec entry is replaced by a native token: write that one out.
                if case .eks = connection.auth {} else { passThrough = files }
            }
            userFiles = passThrough
            userContext = passThrough == nil ? nil : settings.values["context"]?.unmarked.interpolatedString.flatMap { $0.isEmpty ? nil : $0 }
        } catch let error as KubernetesClientError {
            throw ProviderError(.invalidConfiguration, operation: "configure \(provider)", message: error.description)
        }
    }

    /// What one call gets: the `KUBECONFIG` value and the secrets to redact from the tool's output.
    public struct CallKubeconfig: Sendable {
        public var path: String
        public var redactions: [String]
        /// The EKS token file the kubeconfig names, which must be kept fresh while the call runs.
        public var eksTokenFile: String?
    }

    static let eksTokenFileName = "eks-token"

    /// Writes the call's kubeconfig into `dir`.
    public func kubeconfig(in dir: PrivateDirectory) throws -> CallKubeconfig {
        var secrets: [String] = []
        switch connection.auth {
        case .bearer(let token): secrets.append(token)
        case .basic(_, let password): secrets.append(password)
        case .none, .tokenFile, .eks: break
        }
        if let userFiles {
            var files = userFiles
            if let userContext {
                // The first file that sets current-context wins when KUBECONFIG lists several, so this
                // selects the context for tools (Kurtosis) that only use the current one.
                files.insert(try dir.write("context", "apiVersion: v1\nkind: Config\ncurrent-context: \(Self.quoted(userContext))\n"), at: 0)
            }
            return CallKubeconfig(path: files.joined(separator: ":"), redactions: secrets)
        }
        var tokenFile: String?
        if case .eks(let source) = connection.auth {
            let token = try Self.eksToken(source)
            secrets.append(token)
            tokenFile = try dir.write(Self.eksTokenFileName, token)
        }
        return CallKubeconfig(path: try dir.write("kubeconfig", Self.kubeconfig(connection, eksTokenFile: tokenFile)),
                              redactions: secrets, eksTokenFile: tokenFile)
    }

    private static func eksToken(_ source: EKSTokenSource) throws -> String {
        do { return try EKSToken.generate(source) } catch {
            throw SubprocessError(.failedToStart, command: "kubeconfig",
                                  message: "cannot make an EKS token for cluster \(source.clusterName): \(error)")
        }
    }

    /// Rewrites the call's EKS token file every `interval` seconds until stopped. A failed rewrite
    /// keeps the previous token (still valid for a while) and is tried again next round. A Dispatch
    /// timer, not a task: it must fire on time even when the Swift pool is busy.
    private static func refreshing(_ source: EKSTokenSource, in dir: PrivateDirectory, every interval: Double) -> TokenFileRefresher {
        TokenFileRefresher(every: interval) {
            guard let token = try? EKSToken.generate(source) else { return }
            _ = try? dir.replace(eksTokenFileName, token)
        }
    }

    /// Runs a tool against the cluster: a private directory for the call (removed afterwards), its
    /// kubeconfig as `KUBECONFIG` (and as `HOME` when `environment` has none), the call's secrets
    /// redacted from output. `build` returns the arguments and may write files (values, args) into
    /// the directory. Failures to start or time out are `ProviderError`s.
    public func run(_ executable: String, environment: [String: String], workingDirectory: String, timeout: Double,
                    progress: ProgressReporter?, operation: String, address: ResourceAddress?,
                    _ build: (PrivateDirectory) throws -> [String]) async throws -> SubprocessResult {
        do {
            let dir = try PrivateDirectory(prefix: "ethstack-\((executable as NSString).lastPathComponent)")
            defer { dir.remove() }
            let kubeconfig = try kubeconfig(in: dir)
            var env = environment
            env["KUBECONFIG"] = kubeconfig.path
            if env["HOME"] == nil { env["HOME"] = dir.path }
            let request = SubprocessRequest(
                executable: executable, arguments: try build(dir), environment: env, workingDirectory: workingDirectory,
                timeout: timeout, progress: progress, redactions: kubeconfig.redactions,
                secretPrefixes: [EKSToken.prefix])
            let refresher: TokenFileRefresher? = if kubeconfig.eksTokenFile != nil, case .eks(let source) = connection.auth {
                Self.refreshing(source, in: dir, every: eksTokenRefreshInterval)
            } else {
                nil
            }
            // The refresher is stopped before the directory is removed (the defer above runs
            // later), so no token file is written into it afterwards.
            defer { refresher?.stop() }
            return try await Subprocess.run(request)
        } catch let e as SubprocessError {
            switch e.kind {
            case .timedOut: throw ProviderError(.timeout, operation: operation, address: address, message: e.message)
            case .notFound, .failedToStart:
                throw ProviderError(.invalidConfiguration, operation: operation, address: address, message: e.message)
            }
        }
    }

    /// A one-context kubeconfig for `connection` (YAML flow maps, strings JSON-quoted).
    package static func kubeconfig(_ connection: KubernetesConnection, eksTokenFile: String?) -> String {
        func pem(_ source: PEMSource?, data: String, file: String) -> String? {
            switch source {
            case nil: return nil
            case .data(let d): return "\(data): \(quoted(d.base64EncodedString()))"
            case .file(let path): return "\(file): \(quoted(path))"
            }
        }
        var cluster = ["server: \(quoted(connection.server))"]
        var user: [String] = []
        // Plain-http servers (test clusters) take no TLS settings, as in `KubernetesTLSFiles`.
        if !connection.isPlainHTTP {
            if connection.insecureSkipTLSVerify {
                cluster.append("insecure-skip-tls-verify: true")
            } else if let ca = pem(connection.certificateAuthority, data: "certificate-authority-data", file: "certificate-authority") {
                cluster.append(ca)
            }
            if let name = connection.tlsServerName { cluster.append("tls-server-name: \(quoted(name))") }
            user += [pem(connection.clientCertificate, data: "client-certificate-data", file: "client-certificate"),
                     pem(connection.clientKey, data: "client-key-data", file: "client-key")].compactMap { $0 }
        }
        switch connection.auth {
        case .none: break
        case .bearer(let token): user.append("token: \(quoted(token))")
        case .eks: user += eksTokenFile.map { ["tokenFile: \(quoted($0))"] } ?? []
        case .tokenFile(let path): user.append("tokenFile: \(quoted(path))")
        case .basic(let name, let password): user += ["username: \(quoted(name))", "password: \(quoted(password))"]
        }
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: ethstack
          cluster: {\(cluster.joined(separator: ", "))}
        users:
        - name: ethstack
          user: {\(user.joined(separator: ", "))}
        contexts:
        - name: ethstack
          context: {cluster: ethstack, user: ethstack, namespace: \(quoted(connection.defaultNamespace))}
        current-context: ethstack

        """
    }

    private static func quoted(_ s: String) -> String {
        var out = ""
        Value.writeJSONString(s, into: &out)
        return out
    }
}

/// Runs `refresh` every `interval` seconds on a queue of its own until `stop()`.
final class TokenFileRefresher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "ethstack.token-file-refresh")
    private let timer: any DispatchSourceTimer

    package init(every interval: Double, _ refresh: @escaping @Sendable () -> Void) {
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler(handler: refresh)
        timer.resume()
    }

    /// When this returns, no refresh is running and none will run.
    package func stop() { queue.sync { timer.cancel() } }
}

import Foundation

/// How a CLI-backed provider (`helm`, `kurtosis`) reaches a Kubernetes cluster: the provider
/// settings `kubeconfig` (a path, or the file's content inline), `context`, or `host` + `token` +
/// `insecure` / `cluster_ca_certificate` (ethstack writes a kubeconfig for them).
///
/// Every call gets its own `KUBECONFIG` in a `PrivateDirectory` (0600, removed after the call), so
/// the tools never fall back to the user's current context and a token never appears in argv.
public struct ClusterAccess: Sendable {
    public var kubeconfigPath: String?
    public var kubeconfigContent: String?
    public var context: String?
    public var host: String?
    public var token: String?
    public var insecure: Bool
    /// PEM, or base64 of PEM (as EKS reports it).
    public var caCertificate: String?

    /// The provider settings this reads, for a provider's `configurationSchema`.
    public static let settings: [AttributeSchema] = [
        AttributeSchema("kubeconfig", .string, .optional(default: nil),
                        description: "A kubeconfig file's path (relative to the stack), or its content inline."),
        AttributeSchema("context", .string, .optional(default: nil), description: "The kubeconfig context to use."),
        AttributeSchema("host", .string, .optional(default: nil), description: "The API server URL (instead of kubeconfig)."),
        AttributeSchema("token", .string, .optional(default: nil), sensitive: true, description: "A bearer token for host."),
        AttributeSchema("insecure", .bool, .optional(default: .bool(false)), description: "Skip TLS verification of host."),
        AttributeSchema("cluster_ca_certificate", .string, .optional(default: nil),
                        description: "The API server's CA certificate (PEM or base64 PEM) for host."),
    ]

    /// Reads the settings from a provider configuration; relative kubeconfig paths are resolved
    /// against the stack's directory.
    public init(configuration: ProviderConfiguration, provider: String) throws {
        let v = configuration.values
        func string(_ k: String) -> String? {
            guard let s = v[k]?.stringValue, !s.isEmpty else { return nil }
            return s
        }
        if let kc = string("kubeconfig") {
            if kc.contains("\n") || kc.hasPrefix("apiVersion") || kc.hasPrefix("{") {
                kubeconfigContent = kc
            } else {
                let expanded = (kc as NSString).expandingTildeInPath
                kubeconfigPath = expanded.hasPrefix("/") ? expanded : "\(configuration.baseDirectory)/\(expanded)"
            }
        }
        context = string("context")
        host = string("host")
        token = string("token")
        insecure = v["insecure"]?.boolValue ?? false
        caCertificate = string("cluster_ca_certificate")
        if host != nil && (kubeconfigPath != nil || kubeconfigContent != nil) {
            throw ProviderError(.invalidConfiguration, operation: "configure \(provider)",
                                message: "set either kubeconfig (with context) or host (with token), not both")
        }
        if host == nil && kubeconfigPath == nil && kubeconfigContent == nil {
            let env = ProcessInfo.processInfo.environment["KUBECONFIG"]
            let fallback = env.flatMap { $0.split(separator: ":").first.map(String.init) }
                ?? "\(NSHomeDirectory())/.kube/config"
            kubeconfigPath = fallback
        }
    }

    /// Secrets that must never appear in output or errors.
    public var redactions: [String] { [token].compactMap { $0 } }

    /// Writes what the call needs into `dir` and returns the `KUBECONFIG` value.
    public func kubeconfig(in dir: PrivateDirectory) throws -> String {
        if let host {
            return try dir.write("kubeconfig", generatedKubeconfig(host: host))
        }
        var files: [String] = []
        if let context {
            // The first file that sets current-context wins when KUBECONFIG lists several, so this
            // selects the context for tools (Kurtosis) that only use the current one.
            files.append(try dir.write("context", "apiVersion: v1\nkind: Config\ncurrent-context: \(jsonString(context))\n"))
        }
        if let kubeconfigContent {
            files.append(try dir.write("kubeconfig", kubeconfigContent))
        } else if let kubeconfigPath {
            files.append(kubeconfigPath)
        }
        return files.joined(separator: ":")
    }

    func generatedKubeconfig(host: String) -> String {
        var cluster = "server: \(jsonString(host))"
        if insecure {
            cluster += ", insecure-skip-tls-verify: true"
        } else if let ca = caCertificate {
            let b64 = ca.contains("-----BEGIN") ? Data(ca.utf8).base64EncodedString() : ca.filter { !$0.isWhitespace }
            cluster += ", certificate-authority-data: \(jsonString(b64))"
        }
        let user = token.map { "token: \(jsonString($0))" } ?? ""
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: ethstack
          cluster: {\(cluster)}
        users:
        - name: ethstack
          user: {\(user)}
        contexts:
        - name: ethstack
          context: {cluster: ethstack, user: ethstack}
        current-context: ethstack

        """
    }

    /// Where the Kubernetes API is and how to authenticate, for providers that read through it.
    public struct Endpoint: Sendable {
        public var server: String
        public var token: String?
        public var insecure: Bool
        /// PEM text of the CA, when given.
        public var caPEM: String?
    }

    /// Resolves the API endpoint from host/token or from the kubeconfig (current or chosen context;
    /// bearer tokens only — client certificates are not supported here).
    public func endpoint() throws -> Endpoint {
        if let host {
            var pem = caCertificate
            if let ca = caCertificate, !ca.contains("-----BEGIN"),
               let d = Data(base64Encoded: ca.filter { !$0.isWhitespace }) { pem = String(decoding: d, as: UTF8.self) }
            return Endpoint(server: host, token: token, insecure: insecure, caPEM: insecure ? nil : pem)
        }
        let text: String
        let file: String
        if let kubeconfigContent {
            text = kubeconfigContent; file = "<kubeconfig>"
        } else if let kubeconfigPath, let data = FileManager.default.contents(atPath: kubeconfigPath) {
            text = String(decoding: data, as: UTF8.self); file = kubeconfigPath
        } else {
            throw ProviderError(.invalidConfiguration, operation: "configure",
                                message: "kubeconfig \(kubeconfigPath ?? "") cannot be read")
        }
        guard let root = try YAMLParser.parse(text, file: file).first?.value.mapValue else {
            throw ProviderError(.invalidConfiguration, operation: "configure", message: "\(file) is not a kubeconfig (no map)")
        }
        func named(_ list: String, _ name: String?) -> [String: Value]? {
            guard let name else { return nil }
            return root[list]?.listValue?.first { $0["name"]?.stringValue == name }?.mapValue
        }
        let contextName = context ?? root["current-context"]?.stringValue
        guard let ctx = named("contexts", contextName)?["context"]?.mapValue else {
            throw ProviderError(.invalidConfiguration, operation: "configure",
                                message: "\(file) has no context \"\(contextName ?? "")\"")
        }
        guard let cluster = named("clusters", ctx["cluster"]?.stringValue)?["cluster"]?.mapValue,
              let server = cluster["server"]?.stringValue else {
            throw ProviderError(.invalidConfiguration, operation: "configure",
                                message: "\(file): context \"\(contextName ?? "")\" names no cluster with a server")
        }
        let user = named("users", ctx["user"]?.stringValue)?["user"]?.mapValue
        var pem: String?
        if let data = cluster["certificate-authority-data"]?.stringValue, let d = Data(base64Encoded: data) {
            pem = String(decoding: d, as: UTF8.self)
        } else if let path = cluster["certificate-authority"]?.stringValue, let d = FileManager.default.contents(atPath: path) {
            pem = String(decoding: d, as: UTF8.self)
        }
        return Endpoint(server: server, token: user?["token"]?.stringValue,
                        insecure: cluster["insecure-skip-tls-verify"]?.boolValue ?? false, caPEM: pem)
    }

    private func jsonString(_ s: String) -> String {
        var out = ""
        Value.writeJSONString(s, into: &out)
        return out
    }
}

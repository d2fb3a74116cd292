import Foundation
import EthstackAWSClient
import EthstackModel

/// The provider settings that say how to reach a cluster, shared by every provider that talks to
/// Kubernetes, so a stack configures them the same way everywhere:
///
/// - explicit: `host` + `cluster_ca_certificate` (PEM or base64 PEM) + `token`, or
///   `client_certificate` + `client_key`; or `host` + `eks_cluster_name` (+ `region`): an EKS token
///   generated natively with AWS credentials from the standard chain;
/// - otherwise a kubeconfig: `config_path` (or `KUBECONFIG`, or `~/.kube/config`) and `context`;
///   `kubeconfig` is accepted too: a path (as `config_path`) or a kubeconfig's content inline.
///
/// `insecure` skips TLS verification (only when set). A plain `http://` host ignores CA settings.
public struct KubernetesConnectionSettings: Sendable {
    public var values: [String: Value]
    public var environment: [String: String]
    /// Relative `config_path`s resolve against it.
    public var baseDirectory: String

    public init(values: [String: Value], environment: [String: String] = ProcessInfo.processInfo.environment,
                baseDirectory: String = FileManager.default.currentDirectoryPath) {
        self.values = values
        self.environment = environment
        self.baseDirectory = baseDirectory
    }

    private func string(_ key: String) -> String? {
        guard let s = values[key]?.unmarked.interpolatedString, !s.isEmpty else { return nil }
        return s
    }

    /// Where the kubeconfig comes from when there is no `host`.
    public enum KubeconfigSource: Sendable, Equatable {
        /// Files, as `KUBECONFIG` lists them (only those that exist; empty when none does).
        case files([String])
        /// A kubeconfig given inline (`kubeconfig: |`).
        case inline(String)
    }

    /// The kubeconfig these settings read: nil when `host` is set (no kubeconfig is read).
    public func kubeconfigSource() throws -> KubeconfigSource? {
        guard string("host") == nil else { return nil }
        var configured = string("config_path")
        if let kubeconfig = string("kubeconfig") {
            if kubeconfig.contains("\n") || kubeconfig.hasPrefix("apiVersion") || kubeconfig.hasPrefix("{") {
                return .inline(kubeconfig)
            }
            if configured != nil {
                throw KubernetesClientError.configuration("set either config_path or kubeconfig, not both")
            }
            configured = kubeconfig
        }
        return .files(KubeConfig.searchPaths(environment: kubeconfigEnvironment(configured))
            .filter { FileManager.default.fileExists(atPath: $0) })
    }

    /// The environment with `KUBECONFIG` set to the configured paths, resolved against `baseDirectory`.
    private func kubeconfigEnvironment(_ configured: String?) -> [String: String] {
        var env = environment
        if let paths = configured {
            env["KUBECONFIG"] = paths.split(separator: ":").map { KubeConfig.resolve(String($0), in: baseDirectory) }
                .joined(separator: ":")
        }
        return env
    }

    /// True when the connection is the kubeconfig's as written: no setting overrides its server,
    /// credentials or TLS settings (tools may then be given the user's files unchanged).
    public var kubeconfigIsUnchanged: Bool {
        string("host") == nil && values["insecure"]?.boolValue != true
            && ["token", "eks_cluster_name", "client_certificate", "client_key", "cluster_ca_certificate"].allSatisfy { string($0) == nil }
    }

    /// The connection these settings describe. Errors are `KubernetesClientError.configuration`
    /// and never contain tokens or keys.
    public func resolve() throws -> KubernetesConnection {
        var connection: KubernetesConnection
        if case .inline(let text) = try kubeconfigSource() {
            connection = try KubeConfig.parse(text, path: "\(baseDirectory)/kubeconfig (inline)", environment: environment)
                .connection(context: string("context"))
            try override(&connection)
        } else if let host = string("host") {
            let server = host.contains("://") ? host : "https://\(host)"
            var auth = KubernetesAuth.none
            if let token = string("token") {
                auth = .bearer(token)
            } else if let cluster = string("eks_cluster_name") {
                auth = .eks(try eksSource(cluster))
            }
            connection = KubernetesConnection(
                server: server,
                certificateAuthority: string("cluster_ca_certificate").map(PEMSource.inline),
                clientCertificate: string("client_certificate").map(PEMSource.inline),
                clientKey: string("client_key").map(PEMSource.inline),
                auth: auth)
        } else {
            let env = kubeconfigEnvironment(string("config_path") ?? string("kubeconfig"))
            connection = try KubeConfig.load(environment: env).connection(context: string("context"))
            try override(&connection)
        }
        if values["insecure"]?.boolValue == true { connection.insecureSkipTLSVerify = true }
        if let ns = string("namespace") { connection.defaultNamespace = ns }
        if let t = values["request_timeout"]?.numberValue, t > 0 { connection.requestTimeout = t }
        return connection
    }

    /// What explicit settings change in a kubeconfig's connection.
    private func override(_ connection: inout KubernetesConnection) throws {
        if let token = string("token") { connection.auth = .bearer(token) }
        if let cluster = string("eks_cluster_name") { connection.auth = .eks(try eksSource(cluster)) }
        if let ca = string("cluster_ca_certificate") { connection.certificateAuthority = .inline(ca) }
        if let certificate = string("client_certificate") { connection.clientCertificate = .inline(certificate) }
        if let key = string("client_key") { connection.clientKey = .inline(key) }
    }

    func eksSource(_ cluster: String) throws -> EKSTokenSource {
        let resolved: AWSCredentialChain.Resolved
        do {
            resolved = try AWSCredentialChain(environment: environment).resolve(profile: string("aws_profile"), region: string("region"))
        } catch {
            throw KubernetesClientError.configuration("EKS token for cluster \(cluster): \(error)")
        }
        guard let region = resolved.region else {
            throw KubernetesClientError.configuration("EKS token for cluster \(cluster): no AWS region (set `region` or AWS_REGION)")
        }
        return EKSTokenSource(clusterName: cluster, region: region, credentials: resolved.credentials,
                              stsEndpoint: environment["AWS_ENDPOINT_URL_STS"])
    }
}

import Foundation
import EthstackAWSClient

/// Where a Kubernetes API server is and how to authenticate to it: the result of reading a
/// kubeconfig (`KubeConfig`), explicit provider settings, or an EKS cluster
/// (`KubernetesConnectionSettings.resolve`). Hand it to `KubernetesClient`.
///
/// Secrets (token, key) are never part of `description`.
public struct KubernetesConnection: Sendable, CustomStringConvertible {
    /// `https://host[:port]` (or `http://` for test servers), without a trailing slash.
    public var server: String
    /// The CA bundle to trust, as PEM text or a file. Ignored for `http://` servers.
    public var certificateAuthority: PEMSource?
    /// Client certificate and key for mutual TLS.
    public var clientCertificate: PEMSource?
    public var clientKey: PEMSource?
    public var auth: KubernetesAuth
    /// Skip TLS verification: only when a kubeconfig or the user says so explicitly.
    public var insecureSkipTLSVerify: Bool
    /// The context's namespace (kubeconfig), used when an object has none. Default "default".
    public var defaultNamespace: String
    /// `Host`-header name to send for TLS (kubeconfig `tls-server-name`); informational for now.
    public var tlsServerName: String?
    /// Seconds a single request may take.
    public var requestTimeout: Double

    public init(server: String, certificateAuthority: PEMSource? = nil, clientCertificate: PEMSource? = nil,
                clientKey: PEMSource? = nil, auth: KubernetesAuth = .none, insecureSkipTLSVerify: Bool = false,
                defaultNamespace: String = "default", tlsServerName: String? = nil, requestTimeout: Double = 60) {
        var s = server
        while s.hasSuffix("/") { s.removeLast() }
        self.server = s
        self.certificateAuthority = certificateAuthority
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.auth = auth
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.defaultNamespace = defaultNamespace
        self.tlsServerName = tlsServerName
        self.requestTimeout = requestTimeout
    }

    public var isPlainHTTP: Bool { server.lowercased().hasPrefix("http://") }

    public var description: String {
        "KubernetesConnection(\(server), auth: \(auth.kindName)\(insecureSkipTLSVerify ? ", insecure" : ""))"
    }
}

/// PEM data given inline or as a file path (kubeconfig `*-data` vs path keys).
public enum PEMSource: Sendable, Hashable {
    case data(Data)
    case file(String)

    /// Inline text that may be PEM or base64 of PEM (EKS `certificateAuthority.data`, kubeconfig `*-data`).
    public static func inline(_ text: String) -> PEMSource {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.contains("-----BEGIN") { return .data(Data(trimmed.utf8)) }
        if let decoded = Data(base64Encoded: trimmed, options: .ignoreUnknownCharacters) { return .data(decoded) }
        return .data(Data(trimmed.utf8))
    }
}

/// How requests authenticate (besides a client certificate).
public enum KubernetesAuth: Sendable {
    case none
    /// A static bearer token.
    case bearer(String)
    /// A bearer token read from a file on each refresh (service-account tokens rotate).
    case tokenFile(String)
    /// HTTP basic auth (old kubeconfigs).
    case basic(username: String, password: String)
    /// A token for an EKS cluster, generated natively from a presigned STS GetCallerIdentity URL.
    case eks(EKSTokenSource)

    package var kindName: String {
        switch self {
        case .none: return "none"
        case .bearer: return "bearer token"
        case .tokenFile: return "token file"
        case .basic: return "basic"
        case .eks(let s): return "EKS token for \(s.clusterName)"
        }
    }
}

/// What an EKS token is generated from.
public struct EKSTokenSource: Sendable {
    public var clusterName: String
    public var region: String
    public var credentials: AWSCredentials
    /// STS endpoint to presign against; default `https://sts.REGION.amazonaws.com`.
    public var stsEndpoint: String?

    public init(clusterName: String, region: String, credentials: AWSCredentials, stsEndpoint: String? = nil) {
        self.clusterName = clusterName
        self.region = region
        self.credentials = credentials
        self.stsEndpoint = stsEndpoint
    }
}

/// Files libcurl reads certificates and keys from: inline PEM data is written to 0600 temporary
/// files that live as long as this object.
package final class KubernetesTLSFiles: Sendable {
    let caPath: String?
    let certificatePath: String?
    let keyPath: String?
    private let temporaryDirectory: String?

    package init(_ connection: KubernetesConnection) throws {
        var tempDir: String?
        func path(_ source: PEMSource?, _ name: String) throws -> String? {
            switch source {
            case nil: return nil
            case .file(let p): return p
            case .data(let d):
                if tempDir == nil {
                    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-kube-\(UUID().uuidString)").path
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])
                    tempDir = dir
                }
                let p = "\(tempDir ?? "")/\(name)"
                guard FileManager.default.createFile(atPath: p, contents: d, attributes: [.posixPermissions: 0o600]) else {
                    throw KubernetesClientError.configuration("cannot write a temporary \(name) file")
                }
                return p
            }
        }
        caPath = connection.isPlainHTTP ? nil : try path(connection.certificateAuthority, "ca.pem")
        certificatePath = connection.isPlainHTTP ? nil : try path(connection.clientCertificate, "client.pem")
        keyPath = connection.isPlainHTTP ? nil : try path(connection.clientKey, "client-key.pem")
        temporaryDirectory = tempDir
    }

    deinit {
        if let temporaryDirectory { try? FileManager.default.removeItem(atPath: temporaryDirectory) }
    }
}

import Foundation
import EthstackAWSClient
import EthstackModel
import EthstackYAML

/// A kubeconfig, as kubectl reads it: the files of `KUBECONFIG` (colon-separated, the first file to
/// define a cluster, user or context wins, as does the first `current-context`), or `~/.kube/config`.
///
///     let config = try KubeConfig.load(environment: ProcessInfo.processInfo.environment)
///     let connection = try config.connection(context: "prod")   // nil: current-context
///
/// Supported: `certificate-authority[-data]`, `client-certificate[-data]`, `client-key[-data]`,
/// `token`, `tokenFile`, `username`/`password`, `insecure-skip-tls-verify`, `tls-server-name`,
/// the context's `namespace`. An `exec` credential plugin that runs `aws eks get-token` is
/// recognised and replaced by a native EKS token; other exec plugins are refused. Relative paths
/// are resolved against the directory of the file that names them.
public struct KubeConfig: Sendable {
    struct Named: Sendable {
        package var values: [String: Value]
        /// The directory of the file it came from.
        package var directory: String
    }

    var clusters: [String: Named] = [:]
    var users: [String: Named] = [:]
    package var contexts: [String: [String: Value]] = [:]
    public private(set) var currentContext: String?
    /// The files read, in order.
    public private(set) var files: [String] = []
    /// The environment AWS credentials come from (for `aws eks get-token` exec entries).
    package var environment: [String: String] = [:]

    /// Reads `KUBECONFIG` (or `~/.kube/config`). Missing files in `KUBECONFIG` are skipped, as kubectl does.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeConfig {
        let paths = searchPaths(environment: environment)
        var config = try load(paths: paths.filter { FileManager.default.fileExists(atPath: $0) })
        config.environment = environment
        if config.files.isEmpty {
            throw KubernetesClientError.configuration("no kubeconfig found (looked at \(paths.joined(separator: ", ")))")
        }
        return config
    }

    /// The files `load(environment:)` looks at: the entries of `KUBECONFIG`, or `~/.kube/config`.
    public static func searchPaths(environment: [String: String]) -> [String] {
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            return list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        return ["\(environment["HOME"] ?? NSHomeDirectory())/.kube/config"]
    }

    /// Reads and merges the given files (first definition wins).
    public static func load(paths: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeConfig {
        var config = KubeConfig()
        config.environment = environment
        for path in paths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw KubernetesClientError.configuration("cannot read kubeconfig \(path)")
            }
            try config.merge(text: text, path: path)
        }
        return config
    }

    /// Parses one kubeconfig document given as text (`path` names it in errors and anchors relative paths).
    public static func parse(_ text: String, path: String = "kubeconfig",
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeConfig {
        var config = KubeConfig()
        config.environment = environment
        try config.merge(text: text, path: path)
        return config
    }

    package mutating func merge(text: String, path: String) throws {
        let document: Value
        do {
            document = try YAMLParser.parse(text, file: path).first?.value ?? .map([:])
        } catch {
            throw KubernetesClientError.configuration("kubeconfig \(path) is not valid YAML")
        }
        let directory = (path as NSString).deletingLastPathComponent
        files.append(path)
        for entry in document["clusters"]?.listValue ?? [] {
            if let name = entry["name"]?.stringValue, clusters[name] == nil {
                clusters[name] = Named(values: entry["cluster"]?.mapValue ?? [:], directory: directory)
            }
        }
        for entry in document["users"]?.listValue ?? [] {
            if let name = entry["name"]?.stringValue, users[name] == nil {
                users[name] = Named(values: entry["user"]?.mapValue ?? [:], directory: directory)
            }
        }
        for entry in document["contexts"]?.listValue ?? [] {
            if let name = entry["name"]?.stringValue, contexts[name] == nil {
                contexts[name] = entry["context"]?.mapValue ?? [:]
            }
        }
        if currentContext == nil, let current = document["current-context"]?.stringValue, !current.isEmpty {
            currentContext = current
        }
    }

    public var contextNames: [String] { contexts.keys.sorted() }

    /// The connection of `context` (nil: `current-context`).
    public func connection(context requested: String? = nil) throws -> KubernetesConnection {
        guard let contextName = requested ?? currentContext else {
            throw KubernetesClientError.configuration("the kubeconfig has no current-context; set `context`")
        }
        guard let context = contexts[contextName] else {
            let known = contextNames.isEmpty ? "" : " (known: \(contextNames.joined(separator: ", ")))"
            throw KubernetesClientError.configuration("context \"\(contextName)\" is not in the kubeconfig\(known)")
        }
        guard let clusterName = context["cluster"]?.stringValue, let cluster = clusters[clusterName] else {
            throw KubernetesClientError.configuration("context \"\(contextName)\" names a cluster that is not in the kubeconfig")
        }
        guard let server = cluster.values["server"]?.stringValue, !server.isEmpty else {
            throw KubernetesClientError.configuration("cluster \"\(clusterName)\" has no server")
        }
        let user = context["user"]?.stringValue.flatMap { users[$0] } ?? Named(values: [:], directory: cluster.directory)

        func pem(_ named: Named, data: String, file: String) -> PEMSource? {
            if let d = named.values[data]?.stringValue, !d.isEmpty { return .inline(d) }
            if let f = named.values[file]?.stringValue, !f.isEmpty { return .file(Self.resolve(f, in: named.directory)) }
            return nil
        }

        var auth = KubernetesAuth.none
        if let token = user.values["token"]?.stringValue, !token.isEmpty {
            auth = .bearer(token)
        } else if let file = user.values["tokenFile"]?.stringValue, !file.isEmpty {
            auth = .tokenFile(Self.resolve(file, in: user.directory))
        } else if let name = user.values["username"]?.stringValue, let password = user.values["password"]?.stringValue {
            auth = .basic(username: name, password: password)
        } else if let exec = user.values["exec"] {
            auth = try execAuth(exec, userDescription: context["user"]?.stringValue ?? "")
        }
        let insecure = cluster.values["insecure-skip-tls-verify"]?.boolValue
            ?? (cluster.values["insecure-skip-tls-verify"]?.stringValue == "true")
        return KubernetesConnection(
            server: server,
            certificateAuthority: pem(cluster, data: "certificate-authority-data", file: "certificate-authority"),
            clientCertificate: pem(user, data: "client-certificate-data", file: "client-certificate"),
            clientKey: pem(user, data: "client-key-data", file: "client-key"),
            auth: auth, insecureSkipTLSVerify: insecure,
            defaultNamespace: context["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default",
            tlsServerName: cluster.values["tls-server-name"]?.stringValue)
    }

    /// `aws eks get-token --cluster-name X [--region R]` (or `aws-iam-authenticator token -i X`),
    /// replaced by a natively generated token. Anything else is refused: ethstack runs no command
    /// from a kubeconfig.
    func execAuth(_ exec: Value, userDescription: String) throws -> KubernetesAuth {
        let command = exec["command"]?.stringValue ?? ""
        let args = (exec["args"]?.listValue ?? []).compactMap(\.stringValue)
        var env = environment
        for e in exec["env"]?.listValue ?? [] {
            if let n = e["name"]?.stringValue, let v = e["value"]?.stringValue { env[n] = v }
        }
        func option(_ names: String...) -> String? {
            for (i, a) in args.enumerated() {
                for n in names {
                    if a == n, i + 1 < args.count { return args[i + 1] }
                    if a.hasPrefix(n + "=") { return String(a.dropFirst(n.count + 1)) }
                }
            }
            return nil
        }
        let base = (command as NSString).lastPathComponent
        let cluster: String?
        if base == "aws", args.contains("get-token") {
            cluster = option("--cluster-name", "--cluster-id")
        } else if base == "aws-iam-authenticator" {
            cluster = option("-i", "--cluster-id")
        } else {
            cluster = nil
        }
        guard let cluster else {
            throw KubernetesClientError.configuration(
                "user \"\(userDescription)\" uses an exec credential plugin (\(base)); ethstack runs no commands from a kubeconfig: use a token, client certificate or `eks_cluster_name`")
        }
        let resolved: AWSCredentialChain.Resolved
        do {
            resolved = try AWSCredentialChain(environment: env).resolve(profile: option("--profile") ?? env["AWS_PROFILE"],
                                                                       region: option("--region"))
        } catch {
            throw KubernetesClientError.configuration("EKS token for cluster \(cluster): \(error)")
        }
        guard let region = resolved.region else {
            throw KubernetesClientError.configuration("EKS token for cluster \(cluster): no AWS region")
        }
        return .eks(EKSTokenSource(clusterName: cluster, region: region, credentials: resolved.credentials))
    }

    package static func resolve(_ path: String, in directory: String) -> String {
        if path.hasPrefix("/") || directory.isEmpty { return path }
        if path.hasPrefix("~/") { return NSHomeDirectory() + path.dropFirst() }
        return "\(directory)/\(path)"
    }
}

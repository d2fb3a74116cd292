import Foundation
import HelmProvider
import KubeTestServer
import KurtosisProvider
import Testing
@testable import EthstackEngine
@testable import EthstackAWSClient
@testable import EthstackKubernetesClient
@testable import EthstackModel
@testable import EthstackProviderAPI
@testable import ProviderSupport

/// Helm and Kurtosis take the kubernetes provider's connection settings (`host` + `token`, an EKS
/// cluster, client certificates, a kubeconfig and context) and hand the CLI a private KUBECONFIG
/// made from the resolved connection, removed after the call.
@Suite(.serialized) struct HelmKurtosisClusterAccessTests {
    static let awsEnvironment = ["AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret",
                                 "HOME": "/nonexistent"]
    static let caPEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"

    /// Configures helm with `values`, makes one call (a read), and returns what helm saw and the error.
    static func oneHelmCall(_ values: [String: Value], environment: [String: String] = [:],
                            ws: Workspace) async throws -> (log: String, kubeconfig: String, error: String) {
        // A script in the repository, not one written now: executing a file another thread may
        // still hold open for writing (a fork in a parallel test) fails with ETXTBSY.
        let helm = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/helm-recorder").path
        let log = "\(ws.dir)/helm.log"
        var values = values
        values["helm_path"] = .string(helm)
        let provider = try await HelmProvider(environment: environment).configure(
            ProviderConfiguration(values: values, stackName: "access", baseDirectory: ws.dir))
        var message = ""
        do {
            _ = try await provider.read(ReadRequest(type: "helm.release", address: "app", id: "apps/app", prior: [:]))
            Issue.record("the fake helm fails; read should have thrown")
        } catch {
            message = "\(error)"
        }
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let path = try #require(text.split(separator: "\n").first { $0.hasPrefix("KUBECONFIG=") }?.dropFirst("KUBECONFIG=".count))
        return (text, String(path), message)
    }

    /// The kubeconfig the CLI got, parsed back.
    static func connection(fromLog log: String) throws -> KubernetesConnection {
        let start = try #require(log.range(of: "apiVersion: v1"))
        let end = ["TOKENFILE ", "ARG "].compactMap { log.range(of: $0, range: start.upperBound..<log.endIndex)?.lowerBound }.min()
            ?? log.endIndex
        return try KubeConfig.parse(String(log[start.lowerBound..<end]), environment: [:]).connection()
    }

    @Test func helmWithHostAndTokenGetsThemInAPrivateKubeconfig() async throws {
        let ws = Workspace()
        let (log, path, error) = try await Self.oneHelmCall([
            "host": "https://kube.example.test:6443", "token": .sensitive("tok-s3cret-42"),
            "cluster_ca_certificate": .string(Self.caPEM),
        ], ws: ws)
        let connection = try Self.connection(fromLog: log)
        #expect(connection.server == "https://kube.example.test:6443")
        guard case .bearer(let token) = connection.auth else { Issue.record("expected a bearer token: \(connection)"); return }
        #expect(token == "tok-s3cret-42")
        #expect(connection.certificateAuthority == .data(Data(Self.caPEM.utf8)))
        #expect(log.contains("MODE \(path) 600"))
        #expect(!FileManager.default.fileExists(atPath: path), "the kubeconfig outlived the call")
        #expect(!FileManager.default.fileExists(atPath: (path as NSString).deletingLastPathComponent))
        // Never on the command line, never in the error (helm printed it: redacted).
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("ARG") && $0.contains("tok-s3cret-42") })
        #expect(error.contains("helm exited with status 3") && !error.contains("tok-s3cret-42"), "\(error)")
    }

    @Test func helmWithAnEKSClusterGetsAGeneratedToken() async throws {
        let ws = Workspace()
        let (log, path, error) = try await Self.oneHelmCall([
            "host": "https://ABC.gr7.eu-west-3.eks.amazonaws.com", "eks_cluster_name": "testnet", "region": "eu-west-3",
            "cluster_ca_certificate": .string(Data(Self.caPEM.utf8).base64EncodedString()),
        ], environment: Self.awsEnvironment, ws: ws)
        let connection = try Self.connection(fromLog: log)
        #expect(connection.server == "https://ABC.gr7.eu-west-3.eks.amazonaws.com")
        #expect(connection.certificateAuthority == .data(Data(Self.caPEM.utf8)))
        // The token comes as a file the tool re-reads (so it can be refreshed), private to the call.
        guard case .tokenFile(let file) = connection.auth else { Issue.record("expected a token file: \(connection)"); return }
        #expect(log.contains("TOKENFILE \(file) 600"))
        let token = try Self.token(fromLog: log)
        let url = try Self.presignedURL(token)
        #expect(url.hasPrefix("https://sts.eu-west-3.amazonaws.com/?") && url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"))
        #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: file))
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("ARG") && $0.contains(token) })
        #expect(!error.contains(token), "\(error)")
    }

    @Test func helmWithAKubeconfigAndContextGetsTheUsersFileUnchanged() async throws {
        let ws = Workspace()
        let user = ws.write("kube/config", """
        apiVersion: v1
        kind: Config
        clusters: [{name: a, cluster: {server: "https://a.example.test"}}, {name: b, cluster: {server: "https://b.example.test"}}]
        users: [{name: u, user: {token: user-tok}}]
        contexts: [{name: a, context: {cluster: a, user: u}}, {name: b, context: {cluster: b, user: u}}]
        current-context: a
        """)
        let (log, path, error) = try await Self.oneHelmCall(["config_path": "kube/config", "context": "b"], ws: ws)
        let files = path.split(separator: ":").map(String.init)
        #expect(files.count == 2 && files.last == user, "\(files)")
        #expect(log.contains("current-context: \"b\""))
        #expect(log.contains("ARG --kube-context\nARG b"))
        #expect(FileManager.default.fileExists(atPath: user))
        #expect(!FileManager.default.fileExists(atPath: files[0]))
        #expect(!error.contains("user-tok"), "\(error)")

        // An `aws eks get-token` exec entry is not handed to helm: it gets the native token instead.
        let other = Workspace()
        other.write("kube/eks", """
        apiVersion: v1
        kind: Config
        clusters: [{name: e, cluster: {server: "https://e.example.test"}}]
        users: [{name: e, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws,
                 args: [eks, get-token, --cluster-name, testnet, --region, us-east-1]}}}]
        contexts: [{name: e, context: {cluster: e, user: e}}]
        current-context: e
        """)
        let eks = try await Self.oneHelmCall(["kubeconfig": "kube/eks"], environment: Self.awsEnvironment, ws: other)
        #expect(!eks.kubeconfig.contains(":") && !FileManager.default.fileExists(atPath: eks.kubeconfig))
        let connection = try Self.connection(fromLog: eks.log)
        #expect(connection.server == "https://e.example.test")
        guard case .tokenFile = connection.auth else { Issue.record("expected the generated token's file"); return }
        let token = try Self.token(fromLog: eks.log)
        #expect(token.hasPrefix(EKSToken.prefix))
        #expect(!eks.error.contains(token))
    }

    @Test func generatedKubeconfigCarriesClientCertificates() throws {
        let connection = KubernetesConnection(server: "https://kube.example.test", certificateAuthority: .data(Data(Self.caPEM.utf8)),
                                              clientCertificate: .data(Data("CERT-PEM".utf8)), clientKey: .file("/keys/client.key"),
                                              defaultNamespace: "apps")
        let text = ClusterAccess.kubeconfig(connection, eksTokenFile: nil)
        let back = try KubeConfig.parse(text, environment: [:]).connection()
        #expect(back.server == connection.server && back.defaultNamespace == "apps")
        #expect(back.certificateAuthority == connection.certificateAuthority)
        #expect(back.clientCertificate == connection.clientCertificate && back.clientKey == connection.clientKey)
        if case .none = back.auth {} else { Issue.record("no token expected") }
        // Plain-http test servers get no TLS settings (EKS test clusters carry random text as CA).
        let source = EKSTokenSource(clusterName: "c", region: "us-east-1", credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"))
        let plain = ClusterAccess.kubeconfig(KubernetesConnection(server: "http://127.0.0.1:1", certificateAuthority: .data(Data("x".utf8)),
                                                                  auth: .eks(source)), eksTokenFile: "/run/t")
        #expect(!plain.contains("certificate-authority") && plain.contains("tokenFile: \"/run/t\""))
    }

    /// A tool that runs longer than a token lives keeps working: its token file is rewritten with a
    /// new token while it runs (client-go re-reads it), and every token stays out of its output.
    @Test func aLongCallsEKSTokenFileIsRefreshedWhileItRuns() async throws {
        let ws = Workspace()
        let settings = KubernetesConnectionSettings(values: [
            "host": "https://ABC.gr7.eu-west-3.eks.amazonaws.com", "eks_cluster_name": "testnet", "region": "eu-west-3",
        ], environment: Self.awsEnvironment, baseDirectory: ws.dir)
        var access = try ClusterAccess(settings: settings, provider: "helm")
        access.eksTokenRefreshInterval = 0.3
        // Copies the token file as it is at the start and again after the refresh interval has
        // passed a few times, and prints the file (which ethstack must redact).
        let script = """
        t=$(sed -n 's/.*tokenFile: "\\([^"]*\\)".*/\\1/p' "$KUBECONFIG")
        cp "$t" first; sleep 2; cp "$t" second; echo "path=$t"; cat "$t"
        """
        let result = try await access.run("/bin/sh", environment: [:], workingDirectory: ws.dir, timeout: 30, progress: nil,
                                          operation: "test", address: nil) { _ in ["-c", script] }
        let first = try String(contentsOfFile: "\(ws.dir)/first", encoding: .utf8)
        let second = try String(contentsOfFile: "\(ws.dir)/second", encoding: .utf8)
        #expect(first.hasPrefix(EKSToken.prefix) && second.hasPrefix(EKSToken.prefix))
        #expect(first != second, "the token file was not refreshed")
        let signedAt = { (token: String) in try Self.presignedURL(token).components(separatedBy: "X-Amz-Date=").last?.prefix(16) }
        #expect(try signedAt(second) ?? "" > signedAt(first) ?? "", "the second token is not newer")
        #expect(!result.stdout.contains(EKSToken.prefix) && result.stdout.contains("(sensitive value)"), "\(result.stdout)")
        // The file went with the call's directory, and nothing was written into it afterwards.
        let path = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("path=") }?.dropFirst(5))
        try await Task.sleep(for: .seconds(1))
        #expect(!FileManager.default.fileExists(atPath: (String(path) as NSString).deletingLastPathComponent))
    }

    /// Kurtosis (the stand-in) and its reads through the shared client, configured with host +
    /// token and with an EKS cluster name, against the API test server.
    @Test(.timeLimit(.minutes(5)), arguments: ["token", "eks"])
    func kurtosisWithHostAndTokenOrEKS(_ auth: String) async throws {
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let ws = Workspace(providers: [KurtosisProvider(environment: Self.awsEnvironment)])
        let configDir = "\(ws.dir)/kt"
        let credentials = auth == "token" ? "token: kt-s3cret-token" : "eks_cluster_name: testnet, region: eu-west-3"
        ws.write("stack.yaml", """
        stack: access
        providers:
          kurtosis: { host: "\(server.url)", \(credentials), kurtosis_path: "\(CLITools.kurtosisStandin)", config_dir: "\(configDir)" }
        resources:
          engine: { type: kurtosis.engine }
          net:
            type: kurtosis.enclave
            depends_on: [engine]
            properties: { name: net, args: { participants: [ { el_type: reth, cl_type: lighthouse } ] } }
        """)
        let applied = try await ws.apply()
        #expect(applied.succeeded && applied.created == 2, "\(applied.failures)")
        let state = try await ws.state("access")
        #expect(state.resources[("net" as ResourceAddress)]?.attributes["status"] == "running")
        #expect(state.resources[("engine" as ResourceAddress)]?.attributes["status"] == "running")

        let lines = try String(contentsOfFile: "\(configDir)/kurtosis/standin-kubeconfig.log", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)  // cluster set, engine start, run
        for line in lines {
            let record = try Value.parseJSON(Data(line.utf8))
            #expect(record["server"]?.stringValue == server.url)
            let token = try #require(record["token"]?.stringValue)
            if auth == "token" { #expect(token == "kt-s3cret-token") } else { #expect(token.hasPrefix(EKSToken.prefix)) }
            #expect(record["modes"]?.listValue?.map(\.stringValue) == ["0o600"])
            let path = try #require(record["kubeconfig"]?.stringValue)
            #expect(!FileManager.default.fileExists(atPath: path), "the kubeconfig outlived the call")
        }
        let argv = try String(contentsOfFile: "\(configDir)/kurtosis/standin-argv.log", encoding: .utf8)
        #expect(!argv.contains("kt-s3cret-token") && !argv.contains(EKSToken.prefix))

        let destroyed = try await ws.apply(destroy: true)
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        #expect(server.object(resource: "namespaces", name: "kt-net") == nil)
    }

    /// The token the tool read from its token file.
    static func token(fromLog log: String) throws -> String {
        String(try #require(log.split(separator: "\n").first { $0.hasPrefix("TOKEN ") }).dropFirst("TOKEN ".count))
    }

    static func presignedURL(_ token: String) throws -> String {
        #expect(token.hasPrefix(EKSToken.prefix))
        var b64 = String(token.dropFirst(EKSToken.prefix.count)).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return String(decoding: try #require(Data(base64Encoded: b64)), as: UTF8.self)
    }
}

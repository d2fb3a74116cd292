import Foundation
import Synchronization
import KubeTestServer
import Testing
@testable import EthstackEngine
@testable import EthstackAWSClient
@testable import EthstackKubernetesClient
@testable import EthstackModel

/// The engine's Kubernetes client against the Kubernetes API test server.
@Suite("Kubernetes client", .timeLimit(.minutes(5)))
struct KubernetesClientTests {
    /// Many lookups at once (a plan checking many objects) share one discovery fetch per
    /// group/version, and a kind that is not served is still looked up again on the next miss.
    @Test func concurrentLookupsShareOneDiscoveryFetch() async throws {
        let fetched = Mutex<[String]>([])
        let discovery = KubernetesDiscovery { path in
            fetched.withLock { $0.append(path) }
            try await Task.sleep(for: .milliseconds(100))
            guard path == "/api/v1" else { return nil }
            return ["resources": [["name": "configmaps", "kind": "ConfigMap", "namespaced": true, "verbs": ["get"]]]]
        }
        let kinds = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await discovery.resource(apiVersion: "v1", kind: "ConfigMap").name } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(kinds == Array(repeating: "configmaps", count: 20))
        #expect(fetched.withLock { $0 } == ["/api/v1"])
        // Cached afterwards; a kind the list lacks is asked for again (a CRD may have arrived).
        _ = try await discovery.resource(apiVersion: "v1", kind: "ConfigMap")
        await #expect(throws: KubernetesClientError.self) { try await discovery.resource(apiVersion: "v1", kind: "Widget") }
        #expect(fetched.withLock { $0 } == ["/api/v1", "/api/v1"])
    }

    static func client(_ server: KubeTestServer) throws -> KubernetesClient {
        try KubernetesClient(connection: KubernetesConnection(server: server.url, auth: .bearer("secret-token-123")))
    }

    @Test func discoveryMapsKindsToPathsAndScope() async throws {
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let client = try Self.client(server)
        let deployments = try await client.resource(apiVersion: "apps/v1", kind: "Deployment")
        #expect(deployments.name == "deployments" && deployments.namespaced)
        #expect(deployments.objectPath(namespace: "a", name: "b") == "/apis/apps/v1/namespaces/a/deployments/b")
        let sc = try await client.resource(apiVersion: "storage.k8s.io/v1", kind: "StorageClass")
        #expect(!sc.namespaced && sc.objectPath(namespace: "x", name: "gp3") == "/apis/storage.k8s.io/v1/storageclasses/gp3")
        let ns = try await client.resource(apiVersion: "v1", kind: "Namespace")
        #expect(ns.collectionPath(namespace: nil) == "/api/v1/namespaces")
        await #expect(throws: KubernetesClientError.self) {
            _ = try await client.resource(apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor")
        }
        let groups = try await client.apiGroups()
        #expect(groups["apps"]?.preferred == "v1")
        #expect(try await client.serverVersion().hasPrefix("v1."))
    }

    @Test func crdCreatedInTheRunIsDiscoveredAfterAMiss() async throws {
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let client = try Self.client(server)
        await #expect(throws: KubernetesClientError.self) {
            _ = try await client.resource(apiVersion: "example.com/v1", kind: "Widget")
        }
        let crd: Value = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "widgets.example.com"],
            "spec": [
                "group": "example.com", "scope": "Namespaced",
                "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"],
                "versions": [["name": "v1", "served": true, "storage": true,
                              "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]],
            ],
        ]
        _ = try await client.apply(crd)
        let info = try await client.resource(apiVersion: "example.com/v1", kind: "Widget")
        #expect(info.name == "widgets" && info.namespaced)
    }

    @Test func applyGetListDeleteAndConflicts() async throws {
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let client = try Self.client(server)
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "demo"]])
        let cm: Value = ["apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": ["name": "settings", "namespace": "demo", "labels": ["app": "x"]],
                         "data": ["key": "one"]]
        let applied = try await client.apply(cm, fieldManager: "ethstack")
        #expect(applied.uid != nil && applied.namespace == "demo")
        let got = try await client.get(apiVersion: "v1", kind: "ConfigMap", namespace: "demo", name: "settings")
        #expect(got?[path: "data.key"]?.stringValue == "one")
        #expect(try await client.get(apiVersion: "v1", kind: "ConfigMap", namespace: "demo", name: "nope") == nil)
        let listed = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "demo", labelSelector: "app=x")
        #expect(listed.map(\.name) == ["settings"] && listed.first?.kind == "ConfigMap")

        // Another manager applying a different value conflicts: the error names it and the field.
        var other = cm
        if case .map(var m) = other { m["data"] = ["key": "two"]; other = .map(m) }
        do {
            _ = try await client.apply(other, fieldManager: "someone-else")
            Issue.record("expected a conflict")
        } catch let error as KubernetesAPIError {
            #expect(error.isFieldManagerConflict)
            #expect(error.fieldConflicts.first?.manager == "ethstack")
            #expect(error.fieldConflicts.first?.fields.contains { $0.contains("data.key") } == true)
        }
        let forced = try await client.apply(other, fieldManager: "someone-else", force: true)
        #expect(forced[path: "data.key"]?.stringValue == "two")

        #expect(try await client.delete(apiVersion: "v1", kind: "ConfigMap", namespace: "demo", name: "settings", propagationPolicy: "Background"))
        #expect(try await client.delete(apiVersion: "v1", kind: "ConfigMap", namespace: "demo", name: "settings") == false)

        // A namespace takes a while to go: waitUntilGone polls.
        #expect(try await client.delete(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "demo"))
        try await client.waitUntilGone(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "demo", timeout: 10)
        #expect(try await client.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "demo") == nil)
    }

    @Test func statusErrorsAreDecodedAndWaitsTimeOut() async throws {
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let client = try Self.client(server)
        do {
            _ = try await client.create(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "x", "namespace": "missing"]])
            Issue.record("expected NotFound")
        } catch let error as KubernetesAPIError {
            #expect(error.code == 404 && error.reason == "NotFound")
            #expect(error.message.contains("missing"))
            #expect(!error.description.contains("secret-token-123"))
        }
        do {
            _ = try await client.wait(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "never", what: "namespace never",
                                      timeout: 0.3) { $0 == nil ? .waiting("not there") : .done }
            Issue.record("expected a timeout")
        } catch let error as KubernetesClientError {
            #expect(error.description.contains("timed out") && error.description.contains("not there"))
        }
    }

    @Test func kubeconfigContextsTokensAndInlineCertificates() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubecfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = Data("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()
        try """
        apiVersion: v1
        kind: Config
        current-context: first
        clusters:
        - name: one
          cluster: {server: "https://one.example:6443", certificate-authority-data: "\(ca)"}
        - name: two
          cluster: {server: "https://two.example", insecure-skip-tls-verify: true, certificate-authority: ca.pem}
        users:
        - name: alice
          user: {token: abc}
        - name: bob
          user: {client-certificate-data: "\(ca)", client-key: keys/bob.key}
        - name: eks
          user:
            exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token, --cluster-name, prod, --region, eu-west-1]}
        contexts:
        - name: first
          context: {cluster: one, user: alice, namespace: apps}
        - name: second
          context: {cluster: two, user: bob}
        - name: third
          context: {cluster: one, user: eks}
        """.write(toFile: "\(dir)/a", atomically: true, encoding: .utf8)
        try """
        apiVersion: v1
        kind: Config
        current-context: second
        clusters:
        - name: one
          cluster: {server: "https://ignored.example"}
        contexts: []
        users: []
        """.write(toFile: "\(dir)/b", atomically: true, encoding: .utf8)
        let env = ["KUBECONFIG": "\(dir)/a:\(dir)/missing:\(dir)/b", "HOME": dir,
                   "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"]
        let config = try KubeConfig.load(environment: env)
        let first = try config.connection()
        #expect(first.server == "https://one.example:6443" && first.defaultNamespace == "apps")
        if case .bearer(let t) = first.auth { #expect(t == "abc") } else { Issue.record("expected a bearer token") }
        if case .data(let d)? = first.certificateAuthority { #expect(String(decoding: d, as: UTF8.self).hasPrefix("-----BEGIN")) }
        else { Issue.record("expected inline CA data") }
        #expect(!first.description.contains("abc"))

        let second = try config.connection(context: "second")
        #expect(second.insecureSkipTLSVerify && second.certificateAuthority == .file("\(dir)/ca.pem"))
        #expect(second.clientKey == .file("\(dir)/keys/bob.key"))

        let third = try config.connection(context: "third")
        guard case .eks(let source) = third.auth else { Issue.record("expected an EKS token"); return }
        #expect(source.clusterName == "prod" && source.region == "eu-west-1")

        #expect(throws: KubernetesClientError.self) { _ = try config.connection(context: "nope") }

        // Inline certificates become 0600 temporary files for libcurl.
        let files = try KubernetesTLSFiles(first)
        let path = try #require(files.caPath)
        let perms = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(perms == 0o600)
    }

    @Test func eksTokenIsAPresignedSTSURL() throws {
        let source = EKSTokenSource(clusterName: "eth-testnet", region: "us-east-1",
                                    credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret"))
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let token = try EKSToken.generate(source, date: date)
        #expect(token.hasPrefix("k8s-aws-v1."))
        let encoded = String(token.dropFirst("k8s-aws-v1.".count))
        #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
        var b64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let url = String(decoding: try #require(Data(base64Encoded: b64)), as: UTF8.self)
        #expect(url.hasPrefix("https://sts.us-east-1.amazonaws.com/?"))
        #expect(url.contains("Action=GetCallerIdentity") && url.contains("X-Amz-Expires=60"))
        #expect(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"))
        #expect(url.contains("X-Amz-Signature="))
    }

    @Test func connectionSettingsFromProviderValues() throws {
        let explicit = try KubernetesConnectionSettings(values: [
            "host": "http://127.0.0.1:1234", "cluster_ca_certificate": "bm90IGEgY2VydA==", "token": .sensitive("t"),
        ], environment: [:]).resolve()
        #expect(explicit.server == "http://127.0.0.1:1234" && explicit.isPlainHTTP)
        // A plain-http host ignores CA data (EKS test clusters carry random text there).
        let files = try KubernetesTLSFiles(explicit)
        #expect(files.caPath == nil)

        let eks = try KubernetesConnectionSettings(values: ["host": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
                                                            "eks_cluster_name": "c1", "region": "us-east-1"],
                                                   environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "HOME": "/nonexistent"]).resolve()
        guard case .eks(let s) = eks.auth else { Issue.record("expected EKS auth"); return }
        #expect(s.clusterName == "c1" && s.region == "us-east-1")
    }
}

import Foundation
import KubeTestServer
@testable import KubernetesProvider
import Testing
@testable import EthstackEngine
@testable import EthstackModel

/// Support for the `kubernetes.manifest` tests: the in-process Kubernetes API test server and a
/// workspace whose registry includes the Kubernetes provider.
enum KubeStack {
    /// `stacks/manifests` of this repository: the tests apply the files the real stacks use.
    static let manifests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("stacks/manifests").path

    static func server(standardCRDs: Bool = true) async throws -> KubeTestServer {
        var options = KubeTestServer.Options()
        options.standardCRDs = standardCRDs
        return try await KubeTestServer.start(port: 0, options: options)
    }

    /// A workspace holding a copy of stacks/manifests (templatefile() reads only under the stack's directory).
    static func workspace() -> Workspace {
        let ws = Workspace(providers: [KubernetesProvider(environment: ["HOME": "/nonexistent"])])
        try? FileManager.default.copyItem(atPath: manifests, toPath: "\(ws.dir)/manifests")
        return ws
    }

    /// A resource applying `file` from stacks/manifests, with `${namespace}` and `${grafana_host}` filled in.
    static func manifest(_ name: String, _ file: String, dependsOn: [String] = [], extra: String = "") -> String {
        """
          \(name):
            type: kubernetes.manifest
        \(dependsOn.isEmpty ? "" : "    depends_on: [\(dependsOn.joined(separator: ", "))]\n")\
            properties:
              manifest: '${yamldecode(templatefile("manifests/\(file)", { namespace = var.namespace, grafana_host = var.grafana_host }))}'
        \(extra)
        """
    }

    /// The seed's Kubernetes objects as one stack.
    static func seedStack(_ server: KubeTestServer, extraProperties: [String: String] = [:]) -> String {
        func extra(_ name: String) -> String { extraProperties[name].map { "      \($0)" } ?? "" }
        let ns = ["namespace"]
        return """
        stack: kube-seed
        variables:
          namespace: { type: string, default: eth-testnet }
          grafana_host: { type: string, default: grafana.testnet.example.com }
        providers:
          kubernetes: { host: "\(server.url)", token: "not-a-real-token" }
        resources:
        \(manifest("fast_ssd", "storageclass-fast-ssd.yaml"))
        \(manifest("snapshot_class", "volumesnapshotclass.yaml"))
        \(manifest("namespace", "namespace.yaml", extra: "      wait: { phase: Active }"))
          quota:
            type: kubernetes.manifest
            depends_on: [namespace]
            properties:
              manifest:
                apiVersion: v1
                kind: ResourceQuota
                metadata: { name: testnet-quota, namespace: "${var.namespace}" }
                spec: { hard: { requests.cpu: "48", limits.cpu: "86000m", persistentvolumeclaims: "40" } }
        \(extra("quota"))
        \(manifest("limits", "limitrange.yaml", dependsOn: ns))
        \(manifest("deny_all", "networkpolicy-default-deny.yaml", dependsOn: ns))
        \(manifest("allow_testnet", "networkpolicy-allow-testnet.yaml", dependsOn: ns))
        \(manifest("el_rpc", "service-el-rpc.yaml", dependsOn: ns, extra: "      wait: { load_balancer: true, timeout: 30s }"))
        \(manifest("el_ws", "service-el-ws.yaml", dependsOn: ns, extra: "      wait: { load_balancer: true, timeout: 30s }"))
        \(manifest("grafana_ingress", "ingress-grafana.yaml", dependsOn: ns))
        \(manifest("el_monitor", "servicemonitor-el.yaml", dependsOn: ns))
        \(manifest("alerts", "prometheusrule-testnet.yaml", dependsOn: ns))
        \(manifest("el_snapshot", "volumesnapshot-el.yaml", dependsOn: ns + ["snapshot_class"]))
        \(manifest("snapshots_cron", "cronjob-snapshots.yaml", dependsOn: ns))
        outputs:
          rpc_url: { value: "http://${el_rpc.load_balancer_hostname}:8545" }
        """
    }

    static func kubectl(_ server: KubeTestServer, _ args: [String]) async throws -> KTS.ProcessResult {
        let home = try KTS.tempDir("kubectl-home")
        defer { try? FileManager.default.removeItem(atPath: home) }
        return try await KTS.run(KTS.kubectl, ["--server", server.url] + args, env: KTS.baseEnv(home: home), timeout: 30)
    }
}

@Suite("Kubernetes manifests", .serialized, .timeLimit(.minutes(5)))
struct KubernetesManifestTests {
    /// Declarations that do not depend on each other are planned together, so their dry runs
    /// overlap: a plan against a distant cluster does not pay one round trip per object in turn.
    /// The same holds for the instances of one declaration (`count`, `for_each`).
    @Test(arguments: ["declarations", "count"])
    func independentObjectsAreCheckedConcurrently(_ shape: String) async throws {
        var options = KubeTestServer.Options()
        options.responseDelay = 0.3
        let server = try await KubeTestServer.start(port: 0, options: options)
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        var stack = "stack: overlap\nproviders:\n  kubernetes: { host: \"\(server.url)\", token: t }\nresources:\n"
        if shape == "count" {
            stack += "  cm: { type: kubernetes.manifest, count: 12, properties: { manifest: { apiVersion: v1, kind: ConfigMap, metadata: { name: \"cm-${count.index}\", namespace: default } } } }\n"
        } else {
            for i in 0..<12 {
                stack += "  cm\(i): { type: kubernetes.manifest, properties: { manifest: { apiVersion: v1, kind: ConfigMap, metadata: { name: cm-\(i), namespace: default } } } }\n"
            }
        }
        ws.write("stack.yaml", stack)
        let plan = try await ws.plan()
        #expect(plan.changes.count == 12 && plan.changes.allSatisfy { $0.action == .create } && plan.warnings.isEmpty)
        #expect(server.peakConcurrentRequests > 1, "the dry runs went one at a time")
        #expect(server.peakConcurrentRequests <= 10)
        // An apply (which plans first, in a session of its own) checks each object once, in its
        // plan, then sends it once: no second dry run just before the apply call.
        let before = server.requestCount
        let applied = try await ws.apply()
        #expect(applied.succeeded && applied.created == 12, "\(applied.failures)")
        #expect(server.requestCount - before == 1 + 12 + 12, "discovery, the plan's dry runs, the applies")

        // --parallelism bounds the calls in flight.
        let narrow = try await KubeTestServer.start(port: 0, options: options)
        defer { narrow.shutdown() }
        ws.write("stack.yaml", stack.replacingOccurrences(of: server.url, with: narrow.url))
        var two = PlanOptions()
        two.parallelism = 2
        #expect(try await ws.plan(options: two).changes.count == 12)
        #expect(narrow.peakConcurrentRequests == 2)
    }

    /// A cluster that does not answer does not stop a plan of creates: one warning, and the other
    /// changes do not wait for the same timeout again.
    @Test func anUnreachableServerLeavesOneWarning() async throws {
        let ws = KubeStack.workspace()
        let cm = { (name: String) in "{ apiVersion: v1, kind: ConfigMap, metadata: { name: \(name), namespace: default } }" }
        ws.write("stack.yaml", """
        stack: offline
        providers:
          kubernetes: { host: "http://127.0.0.1:1", token: "not-a-real-token" }
        resources:
          a: { type: kubernetes.manifest, properties: { manifest: \(cm("a")) } }
          b: { type: kubernetes.manifest, properties: { manifest: \(cm("b")) } }
        """)
        let plan = try await ws.plan()
        #expect(plan.changes.map(\.action) == [.create, .create])
        #expect(plan.warnings.count == 1 && plan.warnings.first?.contains("the API server could not check this change") == true,
                "\(plan.warnings)")
        #expect(!plan.warnings.joined().contains("not-a-real-token"))
    }

    /// The plan asks the API server (server-side apply, dryRun=All) what it would do with each
    /// change: a field it cannot change in place makes the plan a replacement that says why; an
    /// object it finds invalid fails the plan with its message, before anything is changed.
    @Test func planAsksTheServerAboutEachChange() async throws {
        let server = try await KubeStack.server()
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        func stack(iops: String = "3000", replicas: Int = 1, tier: String = "a") -> String {
            """
            stack: dry-run
            providers:
              kubernetes: { host: "\(server.url)", token: "not-a-real-token" }
            resources:
              fast_ssd:
                type: kubernetes.manifest
                properties:
                  manifest:
                    apiVersion: storage.k8s.io/v1
                    kind: StorageClass
                    metadata: { name: fast-ssd }
                    provisioner: ebs.csi.aws.com
                    parameters: { type: gp3, iops: "\(iops)" }
              web:
                type: kubernetes.manifest
                properties:
                  manifest:
                    apiVersion: apps/v1
                    kind: Deployment
                    metadata: { name: web, namespace: default }
                    spec:
                      replicas: \(replicas)
                      selector: { matchLabels: { app: web, tier: \(tier) } }
                      template:
                        metadata: { labels: { app: web, tier: \(tier) } }
                        spec: { containers: [ { name: web, image: "nginx:1.27" } ] }
            """
        }
        ws.write("stack.yaml", stack())
        let created = try await ws.apply()
        #expect(created.succeeded && created.created == 2, "\(created.failures)")
        let firstUID = server.object(group: "storage.k8s.io", resource: "storageclasses", name: "fast-ssd")?.at("metadata.uid")

        // StorageClass parameters cannot change in place: a replacement, with the server's reason.
        ws.write("stack.yaml", stack(iops: "4000"))
        let plan = try await ws.plan()
        let sc = try #require(plan.changes.first { $0.address.description == "fast_ssd" })
        #expect(sc.action == .replace && sc.replacePaths == ["manifest"])
        #expect(sc.note?.contains("cannot change parameters in place") == true
                && sc.note?.contains("updates to parameters are forbidden") == true, "\(sc.note ?? "no note")")
        #expect(plan.changes.first { $0.address.description == "web" }?.action == .noop)
        let rendered = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(rendered.contains("updates to parameters are forbidden"), "\(rendered)")
        let json = try Value.parseJSON(Data(PlanJSON.render(plan).utf8))
        let scJSON = json["resource_changes"]?.listValue?.first { $0["address"] == "fast_ssd" }
        #expect(scJSON?["action_reason_detail"]?.stringValue?.contains("cannot change parameters in place") == true)
        // The dry run stored nothing.
        #expect(server.object(group: "storage.k8s.io", resource: "storageclasses", name: "fast-ssd")?.at("parameters.iops") == "3000")
        let replaced = try await ws.apply()
        #expect(replaced.succeeded, "\(replaced.failures)")
        let now = try #require(server.object(group: "storage.k8s.io", resource: "storageclasses", name: "fast-ssd"))
        #expect(now.at("parameters.iops") == "4000" && now.at("metadata.uid") != firstUID)

        // A Deployment's selector is immutable too; its replicas are not.
        ws.write("stack.yaml", stack(iops: "4000", replicas: 3, tier: "b"))
        let selector = try await ws.plan()
        let web = try #require(selector.changes.first { $0.address.description == "web" })
        #expect(web.action == .replace && web.note?.contains("spec.selector") == true, "\(web.note ?? "no note")")
        ws.write("stack.yaml", stack(iops: "4000", replicas: 3))
        #expect(try await ws.plan().changes.first { $0.address.description == "web" }?.action == .update)

        // --replace with a change the server refuses in place: the old object goes first, so what
        // the server says of it is no warning.
        ws.write("stack.yaml", stack(iops: "5000", replicas: 3))
        var forced = PlanOptions()
        forced.replace = [try #require(ResourceAddress("fast_ssd"))]
        let replacing = try await ws.plan(options: forced)
        #expect(replacing.changes.first { $0.address.description == "fast_ssd" }?.action == .replace)
        #expect(replacing.warnings.isEmpty, "\(replacing.warnings)")

        // An object the server refuses: the plan fails with the server's message, nothing changes.
        ws.write("stack.yaml", stack(iops: "4000", replicas: -1))
        await #expect {
            _ = try await ws.plan()
        } throws: { error in
            let text = "\(error)"
            return text.contains("web") && text.contains("spec.replicas") && text.contains("must be greater than or equal to 0")
        }
        #expect(server.object(group: "apps", resource: "deployments", namespace: "default", name: "web")?.at("spec.replicas") == 1)
    }

    @Test func seedObjectsApplyThenPlanEmptyDriftConflictAndDestroy() async throws {
        let server = try await KubeStack.server()
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        ws.write("stack.yaml", KubeStack.seedStack(server))

        // Plan from empty: every object a create.
        let first = try await ws.plan()
        #expect(first.changes.count == 14 && first.changes.allSatisfy { $0.action == .create })

        let summary = try await ws.apply()
        #expect(summary.succeeded, "\(summary.failures)")
        #expect(summary.created == 14)
        #expect(server.object(group: "storage.k8s.io", resource: "storageclasses", name: "fast-ssd")?.at("parameters.type")?.stringValue == "gp3")
        #expect(server.object(group: "snapshot.storage.k8s.io", resource: "volumesnapshotclasses", name: "ebs-snapshots") != nil)
        for (group, resource, name) in [("", "resourcequotas", "testnet-quota"), ("", "limitranges", "testnet-defaults"),
                                        ("networking.k8s.io", "networkpolicies", "default-deny-ingress"),
                                        ("networking.k8s.io", "networkpolicies", "allow-testnet"), ("", "services", "el-rpc"),
                                        ("", "services", "el-ws"), ("networking.k8s.io", "ingresses", "grafana"),
                                        ("monitoring.coreos.com", "servicemonitors", "execution-clients"),
                                        ("monitoring.coreos.com", "prometheusrules", "testnet-alerts"),
                                        ("snapshot.storage.k8s.io", "volumesnapshots", "data-el-1-reth-lighthouse-initial"), ("batch", "cronjobs", "el-snapshots")] {
            #expect(server.object(group: group, resource: resource, namespace: "eth-testnet", name: name) != nil, "\(resource)/\(name)")
        }
        // Marked with the stack and address; selecting the enclave's pods; TLS on the Ingress.
        let rpc = try #require(server.object(resource: "services", namespace: "eth-testnet", name: "el-rpc"))
        #expect(rpc["metadata"]?["labels"]?["ethstack.io/stack"]?.stringValue == "kube-seed")
        #expect(rpc["metadata"]?["annotations"]?["ethstack.io/address"]?.stringValue == "el_rpc")
        #expect(rpc["spec"]?["selector"]?["kurtosistech.com/id"]?.stringValue == "el-1-reth-lighthouse")
        let ingress = try #require(server.object(group: "networking.k8s.io", resource: "ingresses", namespace: "eth-testnet", name: "grafana"))
        #expect(ingress["spec"]?["tls"]?.arrayValue?.first?["secretName"]?.stringValue == "grafana-tls")

        // Computed attributes in state: the load balancer's hostname, id, uid.
        let state = try await ws.state("kube-seed")
        let rpcState = try #require(state.resources[ResourceAddress(name: "el_rpc")])
        #expect(rpcState.id == "v1/Service/eth-testnet/el-rpc")
        #expect(rpcState.attributes["load_balancer_hostname"]?.stringValue?.hasSuffix(".lb.kube-test-server.local") == true)
        #expect(rpcState.attributes["uid"]?.stringValue?.isEmpty == false)
        #expect(state.resources[ResourceAddress(name: "fast_ssd")]?.id == "storage.k8s.io/v1/StorageClass/fast-ssd")

        // A second plan is empty: no changes, no drift (status and defaults are not ethstack's fields).
        let second = try await ws.plan()
        #expect(!second.hasResourceChanges, "\(second.changes.filter { $0.action != .noop }.map(\.address))")
        #expect(second.drift.isEmpty, "\(second.drift.map { "\($0.address): \($0.attributes)" })")

        // Someone else edits a field ethstack manages: drift, and an update back.
        let patched = try await KubeStack.kubectl(server, [
            "patch", "resourcequota", "testnet-quota", "-n", "eth-testnet", "--type", "merge",
            "--field-manager", "someone-else", "-p", #"{"spec":{"hard":{"requests.cpu":"99"}}}"#])
        #expect(patched.status == 0, "\(patched.stderr)")
        // A field nobody in the stack sets is not drift.
        let labelled = try await KubeStack.kubectl(server, ["label", "service", "el-ws", "-n", "eth-testnet", "team=platform"])
        #expect(labelled.status == 0, "\(labelled.stderr)")
        let drifted = try await ws.plan()
        #expect(drifted.drift.map(\.address.description) == ["quota"])
        #expect(drifted.drift.first?.attributes.contains("manifest") == true)
        #expect(drifted.changes.filter { $0.action != .noop }.map(\.address.description) == ["quota"])
        #expect(drifted.changes.first { $0.address.description == "quota" }?.action == .update)
        // The drift report names the one field a person changed, once; nothing the server
        // populates (resourceVersion, managedFields, the live object) is drift.
        let report = DriftReport(plan: drifted, stack: try ws.session().stack)
        let paths = report.findings.flatMap(\.changes).map(\.path)
        #expect(paths == ["manifest.spec.hard.requests.cpu"], "\(paths)")
        #expect(!report.text(style: TextStyle(color: false)).contains("resourceVersion"))

        // The plan already knows, from the server's dry run, that applying it back will conflict.
        #expect(drifted.warnings.contains { $0.hasPrefix("quota: the apply will fail: server-side apply conflict") && $0.contains("someone-else") },
                "\(drifted.warnings)")

        // Applying it back conflicts with the other manager: the error names it and the field.
        let conflicted = try await ws.apply()
        let failure = try #require(conflicted.failures.first)
        #expect(failure.address.description == "quota")
        #expect(failure.message.contains("someone-else"), "\(failure.message)")
        #expect(failure.message.contains("requests.cpu"), "\(failure.message)")
        #expect(failure.message.contains("force_conflicts"))
        #expect(!failure.message.contains("not-a-real-token"))

        // force_conflicts takes the field back.
        ws.write("stack.yaml", KubeStack.seedStack(server, extraProperties: ["quota": "force_conflicts: true"]))
        let forced = try await ws.apply()
        #expect(forced.succeeded, "\(forced.failures)")
        #expect(server.object(resource: "resourcequotas", namespace: "eth-testnet", name: "testnet-quota")?
            .at("spec.hard")?["requests.cpu"]?.stringValue == "48")
        let clean = try await ws.plan()
        #expect(!clean.hasResourceChanges && clean.drift.isEmpty, "\(clean.drift.map(\.address))")

        // Destroy removes everything, waiting for the namespace to go.
        let destroyed = try await ws.apply(destroy: true)
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        #expect(destroyed.deleted == 14)
        #expect(server.object(resource: "namespaces", name: "eth-testnet") == nil)
        #expect(server.objects(resource: "services", namespace: "eth-testnet").isEmpty)
        #expect(server.object(group: "storage.k8s.io", resource: "storageclasses", name: "fast-ssd") == nil)
        #expect(server.object(group: "snapshot.storage.k8s.io", resource: "volumesnapshotclasses", name: "ebs-snapshots") == nil)
        #expect(try await ws.state("kube-seed").resources.isEmpty)
    }
}

/// The API server returns a Secret's `stringData` as base64 `data`: read back through a manifest
/// that wrote `stringData`, it is the same Secret (the seed's grafana_auth drifted on every plan).
@Suite struct SecretStringDataTests {
    @Test func liveDataReadsAsTheManifestsStringData() throws {
        let manifest: Value = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "auth"], "stringData": ["auth": "admin:x"]]
        let live: Value = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "auth", "uid": "u"], "type": "Opaque",
                           "data": ["auth": .string(Data("admin:x".utf8).base64EncodedString())]]
        let projected = FieldProjection.project(FieldProjection.secretStringData(live, for: manifest, kind: "Secret"), over: manifest)
        #expect(projected.semanticallyEquals(manifest), "\(projected)")
        // A changed value is still a change.
        let changed: Value = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "auth"],
                              "data": ["auth": .string(Data("admin:y".utf8).base64EncodedString())]]
        let drifted = FieldProjection.project(FieldProjection.secretStringData(changed, for: manifest, kind: "Secret"), over: manifest)
        #expect(!drifted.semanticallyEquals(manifest))
        // Other kinds are untouched.
        #expect(FieldProjection.secretStringData(live, for: manifest, kind: "ConfigMap") == live)
    }
}

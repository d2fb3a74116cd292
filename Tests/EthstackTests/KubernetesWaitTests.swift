import Foundation
import Synchronization
import KubeTestServer
import KubernetesProvider
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackProviderAPI

/// Waits, CRDs made in the same apply, replacement, import and find-by-mark.
@Suite("Kubernetes waits and lifecycle", .timeLimit(.minutes(5)))
struct KubernetesWaitTests {
    static func header(_ server: KubeTestServer) -> String {
        """
        stack: kube-waits
        providers:
          kubernetes: { host: "\(server.url)" }
        resources:
          ns:
            type: kubernetes.manifest
            properties:
              manifest: { apiVersion: v1, kind: Namespace, metadata: { name: apps } }
        """
    }

    @Test func rolloutConditionPhaseAndCRDInOneApply() async throws {
        var options = KubeTestServer.Options()
        // The Deployment becomes ready when the test says so (below), once ethstack has reported
        // waiting for it — not after a delay a loaded machine could outrun.
        options.workloadReadyDelay = 600
        options.volumeBindDelay = 0.5
        let server = try await KubeTestServer.start(port: 0, options: options)
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        ws.write("stack.yaml", Self.header(server) + """

          web:
            type: kubernetes.manifest
            properties:
              manifest:
                apiVersion: apps/v1
                kind: Deployment
                metadata: { name: web, namespace: "${ns.manifest.metadata.name}" }
                spec:
                  replicas: 2
                  selector: { matchLabels: { app: web } }
                  template:
                    metadata: { labels: { app: web } }
                    spec: { containers: [{ name: web, image: nginx }] }
              wait: { rollout: true, timeout: 20s }
          data:
            type: kubernetes.manifest
            properties:
              manifest:
                apiVersion: v1
                kind: PersistentVolumeClaim
                metadata: { name: data, namespace: "${ns.manifest.metadata.name}" }
                spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
              wait: { fields: { status.phase: Bound }, timeout: 20s }
          crd:
            type: kubernetes.manifest
            properties:
              manifest:
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata: { name: widgets.example.com }
                spec:
                  group: example.com
                  scope: Namespaced
                  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
                  versions:
                    - name: v1
                      served: true
                      storage: true
                      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
              wait: { condition: Established, timeout: 20s }
          widget:
            type: kubernetes.manifest
            depends_on: [crd]
            properties:
              manifest:
                apiVersion: example.com/v1
                kind: Widget
                metadata: { name: w1, namespace: "${ns.manifest.metadata.name}" }
                spec: { size: 3 }
        """)
        let log = KubeEventLog()
        let readied = Mutex(false)
        let summary = try await ws.apply { event in
            log.record(event)
            guard case .progress(let address, _, let message, _) = event, address.description == "web",
                  message.hasPrefix("waiting for Deployment apps/web"),
                  readied.withLock({ done in defer { done = true }; return !done }) else { return }
            // What the deployment controller reports when the rollout is done.
            Task {
                _ = try? await KTS.request(server, "PATCH", "/apis/apps/v1/namespaces/apps/deployments/web/status",
                                           raw: #"{"status":{"observedGeneration":1,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2}}"#,
                                           contentType: "application/merge-patch+json")
            }
        }
        #expect(summary.succeeded, "\(summary.failures)")
        #expect(summary.created == 5)
        let web = try #require(server.object(group: "apps", resource: "deployments", namespace: "apps", name: "web"))
        #expect(web.at("status.readyReplicas")?.intValue == 2)
        // Progress was reported while waiting.
        #expect(log.lines.contains { $0.hasPrefix("progress web: waiting for Deployment apps/web") }, "\(log.lines)")
        let state = try await ws.state("kube-waits")
        #expect(state.resources[ResourceAddress(name: "data")]?.attributes["object"]?["status"]?["phase"]?.stringValue == "Bound")
        #expect(server.object(group: "example.com", resource: "widgets", namespace: "apps", name: "w1") != nil)
        #expect(state.resources[ResourceAddress(name: "widget")]?.id == "example.com/v1/Widget/apps/w1")

        let again = try await ws.plan()
        #expect(!again.hasResourceChanges && again.drift.isEmpty, "\(again.drift.map(\.address))")

        let destroyed = try await ws.apply(destroy: true)
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        #expect(server.object(resource: "namespaces", name: "apps") == nil)
    }

    @Test func waitTimesOutWithWhatIsMissing() async throws {
        var options = KubeTestServer.Options()
        options.simulateControllers = false
        let server = try await KubeTestServer.start(port: 0, options: options)
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        ws.write("stack.yaml", Self.header(server) + """

          lb:
            type: kubernetes.manifest
            properties:
              manifest:
                apiVersion: v1
                kind: Service
                metadata: { name: lb, namespace: "${ns.manifest.metadata.name}" }
                spec: { type: LoadBalancer, ports: [{ port: 80 }] }
              wait: { load_balancer: true, timeout: 1s }
        """)
        let summary = try await ws.apply()
        let failure = try #require(summary.failures.first)
        #expect(failure.address.description == "lb")
        #expect(failure.message.contains("timed out") && failure.message.contains("no load balancer address"), "\(failure.message)")
    }

    @Test func renameReplacesImportAndFind() async throws {
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        func stack(_ name: String, data: String) -> String {
            Self.header(server) + """

              settings:
                type: kubernetes.manifest
                properties:
                  manifest:
                    apiVersion: v1
                    kind: ConfigMap
                    metadata: { name: \(name), namespace: "${ns.manifest.metadata.name}" }
                    data: { mode: \(data) }
            """
        }
        ws.write("stack.yaml", stack("one", data: "a"))
        #expect(try await ws.apply().succeeded)

        // A data change is an update in place; a rename replaces.
        ws.write("stack.yaml", stack("one", data: "b"))
        let update = try await ws.plan()
        #expect(update.changes.first { $0.address.description == "settings" }?.action == .update)
        ws.write("stack.yaml", stack("two", data: "b"))
        let rename = try await ws.plan()
        let change = try #require(rename.changes.first { $0.address.description == "settings" })
        #expect(change.action == .replace)
        #expect(change.replacePaths == ["manifest"])
        #expect(try await ws.apply().succeeded)
        #expect(server.object(resource: "configmaps", namespace: "apps", name: "one") == nil)
        #expect(server.object(resource: "configmaps", namespace: "apps", name: "two")?.at("data.mode")?.stringValue == "b")

        // Import by id, and find by mark, through the configured provider.
        let provider = try await KubernetesProvider(environment: [:]).configure(ProviderConfiguration(
            values: ["host": .string(server.url)], stackName: "kube-waits", baseDirectory: ws.dir))
        let imported = try #require(try await provider.importResource(ImportRequest(type: "kubernetes.manifest", address: "x",
                                                                                  id: "v1/ConfigMap/apps/two")))
        #expect(imported.id == "v1/ConfigMap/apps/two")
        #expect(imported.attributes["manifest"]?["data"]?["mode"]?.stringValue == "b")
        #expect(imported.attributes["manifest"]?["metadata"]?["uid"] == nil)
        let ns = try #require(try await provider.importResource(ImportRequest(type: "kubernetes.manifest", address: "x", id: "v1/Namespace/apps")))
        #expect(ns.id == "v1/Namespace/apps")
        #expect(try await provider.importResource(ImportRequest(type: "kubernetes.manifest", address: "x", id: "v1/ConfigMap/apps/none")) == nil)
        let found = try await provider.find(FindRequest(
            type: "kubernetes.manifest", address: "settings", mark: ResourceMark(stack: "kube-waits", address: "settings", token: "t"),
            planned: ["manifest": ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "two", "namespace": "apps"]]]))
        #expect(found?.id == "v1/ConfigMap/apps/two")
        let notOurs = try await provider.find(FindRequest(
            type: "kubernetes.manifest", address: "other", mark: ResourceMark(stack: "kube-waits", address: "other", token: "t"),
            planned: ["manifest": ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "two", "namespace": "apps"]]]))
        #expect(notOurs == nil)
    }
}

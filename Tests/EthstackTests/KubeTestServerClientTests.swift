import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KubeTestServer
import Testing

/// The Kubernetes API test server against the real clients: /usr/bin/kubectl and helm v3.19.
@Suite(.serialized, .timeLimit(.minutes(5))) struct KubeTestServerClientTests {
    static let manifests = """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: app-config
      namespace: kt-a
      labels: {app: web, tier: front}
    data:
      key: one
      other: two
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: kt-a
      labels: {app: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: nginx
            image: nginx:1.27
            ports: [{containerPort: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      namespace: kt-a
      labels: {app: web}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80, targetPort: 80}]
    """

    struct Kubectl {
        let server: KubeTestServer
        let home: String
        func callAsFunction(_ args: String...) async throws -> KTS.ProcessResult {
            try await KTS.run(KTS.kubectl, ["--server", server.url, "--cache-dir", home + "/cache"] + args,
                              env: KTS.baseEnv(home: home), timeout: 60)
        }
    }

    @Test func kubectlCreateApplyGetDiffDelete() async throws {
        guard FileManager.default.isExecutableFile(atPath: KTS.kubectl) else {
            Issue.record("kubectl not found at \(KTS.kubectl)"); return
        }
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        let dir = try KTS.tempDir("kts-kubectl")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let k = Kubectl(server: s, home: dir)

        let ns = try await k("create", "namespace", "kt-a")
        #expect(ns.status == 0, "\(ns.stderr)")
        #expect(ns.stdout.contains("namespace/kt-a created"))
        let dup = try await k("create", "namespace", "kt-a")
        #expect(dup.status == 1 && dup.stderr.contains(#"namespaces "kt-a" already exists"#))

        try KTS.write(Self.manifests, to: dir + "/app.yaml")
        let applied = try await k("apply", "--server-side", "-f", dir + "/app.yaml")
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("configmap/app-config serverside-applied"))
        #expect(applied.stdout.contains("deployment.apps/web serverside-applied"))
        #expect(applied.stdout.contains("service/web serverside-applied"))

        let got = try await k("get", "configmap", "app-config", "-n", "kt-a", "-o", "json", "--show-managed-fields")
        let cm = try KubeJSON.parse(got.stdout)
        #expect(cm["data"] == ["key": "one", "other": "two"])
        #expect(cm.at("metadata.labels") == ["app": "web", "tier": "front"])
        #expect(cm.at("metadata.managedFields")?.arrayValue?.first?["manager"] == "kubectl")
        #expect(cm == s.object(resource: "configmaps", namespace: "kt-a", name: "app-config"))
        let dep = try KubeJSON.parse(try await k("get", "deployment", "web", "-n", "kt-a", "-o", "json").stdout)
        #expect(dep.at("spec.template.spec.containers")?.arrayValue?.first?["image"] == "nginx:1.27")

        // Waiters against the simulated controllers.
        let rollout = try await k("rollout", "status", "deployment/web", "-n", "kt-a", "--timeout=20s")
        #expect(rollout.status == 0, "\(rollout.stdout) \(rollout.stderr)")
        let lb = try await k("wait", "service/web", "-n", "kt-a", "--for=jsonpath={.status.loadBalancer.ingress[0].hostname}", "--timeout=20s")
        #expect(lb.status == 0, "\(lb.stderr)")

        // A second field manager changing an owned field: kubectl reports the conflict.
        try KTS.write("""
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: app-config, namespace: kt-a}
        data: {key: changed}
        """, to: dir + "/cm2.yaml")
        let conflict = try await k("apply", "--server-side", "--field-manager=other", "-f", dir + "/cm2.yaml")
        #expect(conflict.status != 0)
        #expect(conflict.stderr.contains(#"Apply failed with 1 conflict: conflict with "kubectl": .data.key"#), "\(conflict.stderr)")
        // diff (server-side dry run) shows the change and exits 1; nothing is stored.
        let diff = try await k("diff", "--server-side", "--force-conflicts", "--field-manager=other", "-f", dir + "/cm2.yaml")
        #expect(diff.status == 1, "\(diff.stderr)")
        #expect(diff.stdout.contains("-  key: one") && diff.stdout.contains("+  key: changed"), "\(diff.stdout)")
        let plainDiff = try await k("diff", "-f", dir + "/app.yaml")
        #expect(plainDiff.status <= 1, "\(plainDiff.stderr)")
        #expect(s.object(resource: "configmaps", namespace: "kt-a", name: "app-config")?.at("data.key") == "one")
        let forced = try await k("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", dir + "/cm2.yaml")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(s.object(resource: "configmaps", namespace: "kt-a", name: "app-config")?.at("data.key") == "changed")

        // The scale subresource and client-side apply (strategic merge patch with last-applied).
        let scaled = try await k("scale", "deployment", "web", "-n", "kt-a", "--replicas=4")
        #expect(scaled.status == 0, "\(scaled.stderr)")
        #expect(s.object(group: "apps", resource: "deployments", namespace: "kt-a", name: "web")?.at("spec.replicas") == 4)
        try KTS.write(Self.manifests.replacingOccurrences(of: "other: two", with: "other: three"), to: dir + "/app3.yaml")
        let csa = try await k("apply", "-f", dir + "/app3.yaml", "--force-conflicts=false")
        #expect(csa.status == 0 && csa.stdout.contains("configmap/app-config configured"), "\(csa.stdout) \(csa.stderr)")
        #expect(s.object(resource: "configmaps", namespace: "kt-a", name: "app-config")?.at("data.other") == "three")

        // Fields the API server refuses to change in place: kubectl shows the server's Invalid
        // answer, for a server-side apply, its dry run (diff) and a patch alike; nothing changes.
        let deployment = Self.manifests.components(separatedBy: "---\n")[1]
        try KTS.write(deployment.replacingOccurrences(of: "matchLabels: {app: web}", with: "matchLabels: {app: web, v: \"2\"}")
            .replacingOccurrences(of: "metadata: {labels: {app: web}}", with: "metadata: {labels: {app: web, v: \"2\"}}"),
                      to: dir + "/selector.yaml")
        let selector = try await k("apply", "--server-side", "-f", dir + "/selector.yaml")
        #expect(selector.status != 0)
        #expect(selector.stderr.contains(#"The Deployment "web" is invalid: spec.selector: Invalid value: "#)
                && selector.stderr.contains("field is immutable"), "\(selector.stderr)")
        let selectorDiff = try await k("diff", "--server-side", "-f", dir + "/selector.yaml")
        #expect(selectorDiff.status > 1 && selectorDiff.stderr.contains("field is immutable"), "\(selectorDiff.stderr)")
        try KTS.write("""
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata: {name: fast-ssd}
        provisioner: ebs.csi.aws.com
        parameters: {type: gp3, iops: "3000"}
        """, to: dir + "/sc.yaml")
        #expect(try await k("apply", "--server-side", "-f", dir + "/sc.yaml").status == 0)
        let iops = try await k("patch", "storageclass", "fast-ssd", "--type", "merge", "-p", #"{"parameters":{"iops":"4000"}}"#)
        #expect(iops.status != 0)
        #expect(iops.stderr.contains(#"The StorageClass "fast-ssd" is invalid: parameters: Forbidden: updates to parameters are forbidden."#),
                "\(iops.stderr)")
        #expect(s.object(group: "storage.k8s.io", resource: "storageclasses", name: "fast-ssd")?.at("parameters.iops") == "3000")
        let labelled = try await k("label", "storageclass", "fast-ssd", "tier=fast")
        #expect(labelled.status == 0, "metadata stays mutable: \(labelled.stderr)")

        // Label selectors.
        let sel = try await k("get", "configmaps,services", "-n", "kt-a", "-l", "app=web,tier in (front)", "-o", "name")
        #expect(sel.stdout.split(separator: "\n") == ["configmap/app-config"], "\(sel.stdout) \(sel.stderr)")
        let all = try await k("get", "all", "-n", "kt-a", "-l", "app=web", "-o", "name")
        #expect(all.stdout.contains("service/web") && all.stdout.contains("deployment.apps/web"), "\(all.stdout) \(all.stderr)")
        let table = try await k("get", "configmaps", "-n", "kt-a")
        #expect(table.status == 0 && table.stdout.contains("app-config"))

        // The Deployment's ReplicaSet: kubectl sees it, and --cascade=orphan leaves it behind.
        let rs = try await k("get", "replicasets", "-n", "kt-a", "-l", "app=web", "-o", "name")
        #expect(rs.status == 0 && rs.stdout.hasPrefix("replicaset.apps/web-"), "\(rs.stdout) \(rs.stderr)")
        let orphaned = try await k("delete", "deployment", "web", "-n", "kt-a", "--cascade=orphan")
        #expect(orphaned.status == 0, "\(orphaned.stderr)")
        #expect(!s.objects(group: "apps", resource: "replicasets", namespace: "kt-a").isEmpty)

        // delete, then get: NotFound with exit code 1.
        let del = try await k("delete", "configmap", "app-config", "-n", "kt-a")
        #expect(del.status == 0 && del.stdout.contains(#"configmap "app-config" deleted"#), "\(del.stderr)")
        let after = try await k("get", "configmap", "app-config", "-n", "kt-a")
        #expect(after.status == 1)
        #expect(after.stderr.contains(#"Error from server (NotFound): configmaps "app-config" not found"#))

        // Namespace deletion: kubectl waits until it is gone.
        let delNS = try await k("delete", "namespace", "kt-a", "--timeout=20s")
        #expect(delNS.status == 0, "\(delNS.stderr)")
        #expect(s.object(resource: "namespaces", name: "kt-a") == nil)
        #expect(s.objects(group: "apps", resource: "deployments", namespace: "kt-a").isEmpty)
    }

    @Test func kubectlCustomResources() async throws {
        guard FileManager.default.isExecutableFile(atPath: KTS.kubectl) else {
            Issue.record("kubectl not found at \(KTS.kubectl)"); return
        }
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        let dir = try KTS.tempDir("kts-crd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let k = Kubectl(server: s, home: dir)
        try KTS.write("""
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList, shortNames: [wd]}
          versions:
          - name: v1
            served: true
            storage: true
            subresources: {status: {}}
            schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
        """, to: dir + "/crd.yaml")
        try KTS.write("""
        apiVersion: example.com/v1
        kind: Widget
        metadata: {name: w1, namespace: default, labels: {color: blue}}
        spec: {size: 3, tags: [a, b]}
        """, to: dir + "/cr.yaml")
        let crd = try await k("create", "-f", dir + "/crd.yaml")
        #expect(crd.status == 0, "\(crd.stderr)")
        let est = try await k("wait", "--for", "condition=established", "crd/widgets.example.com", "--timeout=10s")
        #expect(est.status == 0, "\(est.stderr)")
        let cr = try await k("create", "-f", dir + "/cr.yaml")
        #expect(cr.status == 0 && cr.stdout.contains("widget.example.com/w1 created"), "\(cr.stderr)")
        let got = try KubeJSON.parse(try await k("get", "wd", "w1", "-o", "json").stdout)
        #expect(got.at("spec.tags") == ["a", "b"] && got.at("metadata.generation") == 1)
        let applied = try await k("apply", "--server-side", "-f", dir + "/cr.yaml")
        #expect(applied.status == 0, "\(applied.stderr)")
        let patched = try await k("patch", "widget", "w1", "--type=merge", "-p", #"{"spec":{"size":4}}"#)
        #expect(patched.status == 0, "\(patched.stderr)")
        #expect(s.object(group: "example.com", resource: "widgets", namespace: "default", name: "w1")?.at("metadata.generation") == 2)
        let status = try await k("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", #"{"status":{"ready":true}}"#)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(s.object(group: "example.com", resource: "widgets", namespace: "default", name: "w1")?.at("status.ready") == true)
        let del = try await k("delete", "-f", dir + "/crd.yaml")
        #expect(del.status == 0, "\(del.stderr)")
        #expect(s.objects(group: "example.com", resource: "widgets").isEmpty)
    }

    @Test func helmInstallUpgradeStatusUninstall() async throws {
        guard let helm = KTS.helmPath() else {
            // CI installs it with Tests/Support/install-helm.sh (see .ci/run).
            Issue.record("helm not found (ETHSTACK_HELM, PATH, /opt/ethstack-tools/bin/helm): run Tests/Support/install-helm.sh")
            return
        }
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        let dir = try KTS.tempDir("kts-helm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = KTS.baseEnv(home: dir)
        env["KUBECONFIG"] = try KTS.kubeconfig(s, in: dir)
        env["HELM_CACHE_HOME"] = dir + "/cache"
        env["HELM_CONFIG_HOME"] = dir + "/config"
        env["HELM_DATA_HOME"] = dir + "/data"
        func h(_ args: String...) async throws -> KTS.ProcessResult {
            try await KTS.run(helm, args, env: env, cwd: dir, timeout: 90)
        }
        let created = try await h("create", "mychart")
        #expect(created.status == 0, "\(created.stderr)")
        let install = try await h("install", "rel", dir + "/mychart", "-n", "apps", "--create-namespace")
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stdout.contains("STATUS: deployed"))
        let deployment = try #require(s.object(group: "apps", resource: "deployments", namespace: "apps", name: "rel-mychart"))
        #expect(deployment.at("spec.replicas") == 1)
        #expect(deployment.at("metadata.labels.app.kubernetes.io/managed-by") == nil)  // dotted key, read below
        #expect(deployment.at("metadata.labels")?["app.kubernetes.io/managed-by"] == "Helm")
        #expect(s.object(resource: "services", namespace: "apps", name: "rel-mychart") != nil)
        #expect(s.object(resource: "serviceaccounts", namespace: "apps", name: "rel-mychart") != nil)

        // --wait: helm finds the Deployment's new ReplicaSet (by ownerReference and pod template)
        // and waits until it is ready, as against a real cluster.
        let upgrade = try await h("upgrade", "rel", dir + "/mychart", "-n", "apps", "--set", "replicaCount=3", "--set", "image.tag=1.27.0",
                                  "--wait", "--timeout", "60s")
        #expect(upgrade.status == 0, "\(upgrade.stderr)")
        let upgraded = try #require(s.object(group: "apps", resource: "deployments", namespace: "apps", name: "rel-mychart"))
        #expect(upgraded.at("spec.replicas") == 3)
        let replicaSets = s.objects(group: "apps", resource: "replicasets", namespace: "apps")
        #expect(replicaSets.count == 2, "one per pod template: \(replicaSets.map { $0.at("metadata.name") ?? .null })")
        #expect(replicaSets.allSatisfy { $0.at("metadata.ownerReferences")?.arrayValue?.first?["uid"] == upgraded.at("metadata.uid") })
        #expect(replicaSets.map { $0.at("spec.replicas")?.intValue ?? -1 }.sorted() == [0, 3])
        let containers = upgraded.at("spec.template.spec.containers")?.arrayValue ?? []
        #expect(containers.count == 1 && containers.first?["image"] == "nginx:1.27.0" && containers.first?["ports"] != nil)

        let status = try await h("status", "rel", "-n", "apps", "-o", "json")
        #expect(status.status == 0, "\(status.stderr)")
        let st = try KubeJSON.parse(status.stdout)
        #expect(st["version"] == 2 && st.at("info.status") == "deployed" && st["name"] == "rel")
        let releases = s.objects(resource: "secrets", namespace: "apps").filter { $0["type"] == "helm.sh/release.v1" }
        #expect(releases.count == 2)
        #expect(releases.contains { $0.at("metadata.labels.status") == "superseded" })

        let list = try await h("list", "-A", "-o", "json")
        #expect((try? KubeJSON.parse(list.stdout))?.arrayValue?.first?["name"] == "rel", "\(list.stdout) \(list.stderr)")
        let uninstall = try await h("uninstall", "rel", "-n", "apps")
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(s.objects(group: "apps", resource: "deployments", namespace: "apps").isEmpty)
        #expect(s.objects(group: "apps", resource: "replicasets", namespace: "apps").isEmpty, "the garbage collector removes them")
        #expect(s.objects(resource: "secrets", namespace: "apps").isEmpty)
        let gone = try await h("status", "rel", "-n", "apps")
        #expect(gone.status != 0 && gone.stderr.contains("release: not found"))
    }

    /// The `kube-test-server` executable (built next to the test bundle by `swift test`).
    @Test func executableServesKubectl() async throws {
        let buildDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [buildDir.appendingPathComponent("kube-test-server").path,
                          buildDir.deletingLastPathComponent().appendingPathComponent("kube-test-server").path,
                          FileManager.default.currentDirectoryPath + "/.build/debug/kube-test-server"]
        guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("kube-test-server executable not found in \(candidates)"); return
        }
        let dir = try KTS.tempDir("kts-exe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The executable binds port 0 itself and prints the port it got: picking a free port
        // here and handing it over would race with every other test binding ports meanwhile.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["--port", "0", "--with-standard-crds"]
        let out = Pipe()
        p.standardOutput = out
        let errPath = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        defer { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        let (reported, firstLine) = await AWSTestServers.reportedPort(of: p, out: out)
        let stderrText = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        let port = try #require(reported, "kube-test-server printed \(firstLine.debugDescription); stderr: \(stderrText)")
        #expect(port > 0)
        let r = try await KTS.run(KTS.kubectl, ["--server", "http://127.0.0.1:\(port)", "--cache-dir", dir + "/cache",
                                                "get", "crd", "servicemonitors.monitoring.coreos.com", "-o", "name"],
                                  env: KTS.baseEnv(home: dir), timeout: 30)
        #expect(r.status == 0 && r.stdout.contains("servicemonitors.monitoring.coreos.com"), "\(r.stderr)")
        p.terminate()
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal, "kube-test-server exited on its own: \(p.terminationStatus)")
    }
}

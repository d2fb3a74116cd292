import Foundation
import KubeTestServer
import Testing

/// The test server's simulated cluster against the real API server's behaviour: volume binding by
/// StorageClass, ResourceQuota and LimitRange admission, pods that start (or fail as scripted).
@Suite(.serialized, .timeLimit(.minutes(5))) struct KubeTestServerClusterTests {
    static func namespace(_ s: KubeTestServer, _ name: String) async throws {
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]).code == 201)
    }

    static func storageClass(_ name: String, binding: String, reclaim: String) -> KubeJSON {
        ["apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": ["name": .string(name)], "provisioner": "ebs.csi.aws.com",
         "reclaimPolicy": .string(reclaim), "volumeBindingMode": .string(binding)]
    }

    static func claim(_ name: String, storageClass: String? = nil, size: String = "1Gi") -> KubeJSON {
        var c: KubeJSON = ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": .string(name)],
                           "spec": ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": .string(size)]]]]
        if let storageClass { c.set(["spec", "storageClassName"], .string(storageClass)) }
        return c
    }

    static func pod(_ name: String, claim: String? = nil, limits: KubeJSON? = nil, requests: KubeJSON? = nil) -> KubeJSON {
        var container: KubeJSON = ["name": "app", "image": "busybox"]
        if let limits { container.set(["resources", "limits"], limits) }
        if let requests { container.set(["resources", "requests"], requests) }
        var p: KubeJSON = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name)], "spec": ["containers": [container]]]
        if let claim { p.set(["spec", "volumes"], [["name": "data", "persistentVolumeClaim": ["claimName": .string(claim)]]]) }
        return p
    }

    /// A server and the real kubectl for it, with a fresh home; nil (an issue recorded) without kubectl.
    static func serverWithKubectl(_ prefix: String) async throws -> (KubeTestServer, KubeTestServerClientTests.Kubectl)? {
        guard FileManager.default.isExecutableFile(atPath: KTS.kubectl) else { Issue.record("kubectl not found at \(KTS.kubectl)"); return nil }
        let s = try await KubeTestServer.start(port: 0)
        return (s, KubeTestServerClientTests.Kubectl(server: s, home: try KTS.tempDir(prefix)))
    }

    @Test func claimsBindThroughTheirStorageClass() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        try await Self.namespace(s, "kt-v")
        func phase(_ name: String) -> KubeJSON? { s.object(resource: "persistentvolumeclaims", namespace: "kt-v", name: name)?.at("status.phase") }
        let claims = "/api/v1/namespaces/kt-v/persistentvolumeclaims"
        for sc in [Self.storageClass("fast", binding: "Immediate", reclaim: "Delete"), Self.storageClass("later", binding: "WaitForFirstConsumer", reclaim: "Retain")] {
            #expect(try await KTS.request(s, "POST", "/apis/storage.k8s.io/v1/storageclasses", body: sc).code == 201)
        }
        #expect(try await KTS.request(s, "POST", claims, body: Self.claim("orphan", storageClass: "nope")).code == 201)
        #expect(try await KTS.request(s, "POST", claims, body: Self.claim("waiting", storageClass: "later")).code == 201)
        #expect(try await KTS.request(s, "POST", claims, body: Self.claim("data", storageClass: "fast", size: "20Gi")).code == 201)
        // No class named: the default one (`standard`, pre-installed) is written in at admission.
        let plain = try await KTS.request(s, "POST", claims, body: Self.claim("plain"))
        #expect(plain.json?.at("spec.storageClassName") == "standard")

        #expect(try await KTS.eventually { phase("data") == "Bound" && phase("plain") == "Bound" })
        let data = try #require(s.object(resource: "persistentvolumeclaims", namespace: "kt-v", name: "data"))
        let volumeName = try #require(data.at("spec.volumeName")?.stringValue)
        #expect(data.at("status.capacity.storage") == "20Gi")
        #expect(data.at("metadata.annotations")?["pv.kubernetes.io/bind-completed"] == "yes")
        let pv = try #require(s.object(resource: "persistentvolumes", name: volumeName))
        #expect(pv.at("status.phase") == "Bound" && pv.at("spec.storageClassName") == "fast" && pv.at("spec.capacity.storage") == "20Gi")
        #expect(pv.at("spec.claimRef.name") == "data" && pv.at("spec.claimRef.uid") == data.at("metadata.uid"))
        #expect(pv.at("spec.persistentVolumeReclaimPolicy") == "Delete" && pv.at("spec.csi.driver") == "ebs.csi.aws.com")
        // A class that does not exist, or waits for a consumer that does not exist yet: Pending.
        #expect(phase("orphan") == "Pending" && phase("waiting") == "Pending")

        // A pod mounting the WaitForFirstConsumer claim binds it, then runs.
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-v/pods", body: Self.pod("consumer", claim: "waiting")).code == 201)
        #expect(try await KTS.eventually {
            phase("waiting") == "Bound" && s.object(resource: "pods", namespace: "kt-v", name: "consumer")?.at("status.phase") == "Running"
        })
        // A pod mounting a claim that does not exist is unschedulable until the claim appears and binds.
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-v/pods", body: Self.pod("early", claim: "late")).code == 201)
        #expect(try await KTS.eventually {
            let c = s.object(resource: "pods", namespace: "kt-v", name: "early")?.at("status.conditions")?.arrayValue?.first
            return c?["type"] == "PodScheduled" && c?["status"] == "False" && c?["reason"] == "Unschedulable"
                && c?["message"]?.stringValue?.hasPrefix(#"0/1 nodes are available: persistentvolumeclaim "late" not found."#) == true
        })
        #expect(s.object(resource: "pods", namespace: "kt-v", name: "early")?.at("status.phase") == "Pending")
        #expect(try await KTS.request(s, "POST", claims, body: Self.claim("late", storageClass: "fast")).code == 201)
        #expect(try await KTS.eventually { s.object(resource: "pods", namespace: "kt-v", name: "early")?.at("status.phase") == "Running" })
        // The missing class appears: its claim binds (the controller's resync).
        #expect(try await KTS.request(s, "POST", "/apis/storage.k8s.io/v1/storageclasses",
                                      body: Self.storageClass("nope", binding: "Immediate", reclaim: "Delete")).code == 201)
        #expect(try await KTS.eventually { phase("orphan") == "Bound" })

        // Reclaim: Delete removes the volume with its claim, Retain keeps it Released.
        let retained = try #require(s.object(resource: "persistentvolumeclaims", namespace: "kt-v", name: "waiting")?.at("spec.volumeName")?.stringValue)
        #expect(try await KTS.request(s, "DELETE", claims + "/data").code == 200)
        #expect(try await KTS.request(s, "DELETE", claims + "/waiting").code == 200)
        #expect(try await KTS.eventually { try await KTS.request(s, "GET", "/api/v1/persistentvolumes/\(volumeName)").code == 404 })
        #expect(try await KTS.eventually { s.object(resource: "persistentvolumes", name: retained)?.at("status.phase") == "Released" })
    }

    @Test func kubectlWaitsForABoundClaim() async throws {
        guard let (s, k) = try await Self.serverWithKubectl("kts-volumes") else { return }
        defer { s.shutdown(); try? FileManager.default.removeItem(atPath: k.home) }
        let dir = k.home
        try KTS.write("""
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata: {name: fast-ssd}
        provisioner: ebs.csi.aws.com
        reclaimPolicy: Retain
        volumeBindingMode: WaitForFirstConsumer
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: chain, namespace: default}
        spec: {storageClassName: fast-ssd, accessModes: [ReadWriteOnce], resources: {requests: {storage: 100Gi}}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: geth, namespace: default}
        spec:
          containers: [{name: geth, image: ethereum/client-go}]
          volumes: [{name: chain, persistentVolumeClaim: {claimName: chain}}]
        """, to: dir + "/claim.yaml")
        let applied = try await k("apply", "-f", dir + "/claim.yaml")
        #expect(applied.status == 0, "\(applied.stderr)")
        let waited = try await k("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/chain", "--timeout=20s")
        #expect(waited.status == 0, "\(waited.stdout) \(waited.stderr)")
        let ready = try await k("wait", "--for=condition=Ready", "pod/geth", "--timeout=20s")
        #expect(ready.status == 0, "\(ready.stdout) \(ready.stderr)")
        let volume = try await k("get", "pvc", "chain", "-o", "jsonpath={.spec.volumeName} {.status.capacity.storage}")
        let volumeName = String(volume.stdout.split(separator: " ").first ?? "")
        #expect(volumeName.hasPrefix("pvc-") && volume.stdout.hasSuffix(" 100Gi"), "\(volume.stdout) \(volume.stderr)")
        let pv = try await k("get", "pv", volumeName, "-o", "jsonpath={.status.phase} {.spec.persistentVolumeReclaimPolicy}")
        #expect(pv.stdout == "Bound Retain", "\(pv.stdout) \(pv.stderr)")
    }

    @Test func resourceQuotaRefusesWhatWouldExceedIt() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        try await Self.namespace(s, "kt-q")
        let pods = "/api/v1/namespaces/kt-q/pods"
        let quota: KubeJSON = ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "compute"],
                               "spec": ["hard": ["limits.cpu": "2", "limits.memory": "2Gi", "requests.cpu": "1", "requests.memory": "1Gi",
                                                 "pods": "3", "persistentvolumeclaims": "1", "requests.storage": "5Gi"]]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-q/resourcequotas", body: quota).code == 201)
        func used(_ key: String) -> KubeJSON? { s.object(resource: "resourcequotas", namespace: "kt-q", name: "compute")?.at("status.used")?[key] }
        #expect(try await KTS.eventually { used("pods") == "0" && used("limits.memory") == "0" })
        #expect(s.object(resource: "resourcequotas", namespace: "kt-q", name: "compute")?.at("status.hard") == quota.at("spec.hard"))

        // A constrained resource a container does not state: refused, naming what is missing.
        let bare = try await KTS.request(s, "POST", pods, body: Self.pod("bare"))
        #expect(bare.code == 403)
        #expect(bare.json == ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                              "message": #"pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: app; limits.memory for: app; requests.cpu for: app; requests.memory for: app"#,
                              "reason": "Forbidden", "details": ["name": "bare", "kind": "pods"], "code": 403])

        let first = try await KTS.request(s, "POST", pods, body: Self.pod("first", limits: ["cpu": "1500m", "memory": "1Gi"],
                                                                             requests: ["cpu": "500m", "memory": "512Mi"]))
        #expect(first.code == 201, "\(first.text)")
        #expect(try await KTS.eventually { used("pods") == "1" && used("limits.cpu") == "1500m" && used("requests.memory") == "512Mi" })
        // Over the limit: the real message, for a dry run too; nothing stored, nothing counted.
        let second = Self.pod("second", limits: ["cpu": "1", "memory": "512Mi"], requests: ["cpu": "250m", "memory": "256Mi"])
        for query in ["", "?dryRun=All"] {
            let over = try await KTS.request(s, "POST", pods + query, body: second)
            #expect(over.code == 403 && over.json?["reason"] == "Forbidden")
            #expect(over.json?["message"] == #"pods "second" is forbidden: exceeded quota: compute, requested: limits.cpu=1, used: limits.cpu=1500m, limited: limits.cpu=2"#,
                    "\(over.text)")
        }
        #expect(s.object(resource: "pods", namespace: "kt-q", name: "second") == nil && used("pods") == "1")
        // Limits alone: requests default to them (and count).
        let limitsOnly = try await KTS.request(s, "POST", pods, body: Self.pod("small", limits: ["cpu": "250m", "memory": "256Mi"]))
        #expect(limitsOnly.code == 201 && limitsOnly.json?.at("spec.containers")?.arrayValue?.first?.at("resources.requests.cpu") == "250m")
        #expect(try await KTS.eventually { used("requests.cpu") == "750m" && used("limits.memory") == "1280Mi" })
        // Deleting frees what it used.
        #expect(try await KTS.request(s, "DELETE", pods + "/first").code == 200)
        #expect(try await KTS.eventually { used("pods") == "1" && used("limits.cpu") == "250m" })

        // Claims: counted, and their storage.
        let claims = "/api/v1/namespaces/kt-q/persistentvolumeclaims"
        #expect(try await KTS.request(s, "POST", claims, body: Self.claim("one", size: "5Gi")).code == 201)
        let two = try await KTS.request(s, "POST", claims, body: Self.claim("two", size: "1Gi"))
        #expect(two.code == 403)
        #expect(two.json?["message"] == #"persistentvolumeclaims "two" is forbidden: exceeded quota: compute, requested: persistentvolumeclaims=1,requests.storage=1Gi, used: persistentvolumeclaims=1,requests.storage=5Gi, limited: persistentvolumeclaims=1,requests.storage=5Gi"#,
                "\(two.text)")
    }

    @Test func objectCountQuotas() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        try await Self.namespace(s, "kt-c")
        let quota: KubeJSON = ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "objects"],
                               "spec": ["hard": ["count/configmaps": "1", "count/deployments.apps": "0"]]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-c/resourcequotas", body: quota).code == 201)
        let cm: (String) -> KubeJSON = { ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string($0)]] }
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-c/configmaps", body: cm("a")).code == 201)
        let b = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-c/configmaps", body: cm("b"))
        #expect(b.code == 403 && b.json?["message"] == #"configmaps "b" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1"#,
                "\(b.text)")
        let deployment: KubeJSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
                                    "spec": ["selector": ["matchLabels": ["app": "web"]],
                                             "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "web", "image": "nginx"]]]]]]
        let web = try await KTS.request(s, "POST", "/apis/apps/v1/namespaces/kt-c/deployments", body: deployment)
        #expect(web.code == 403 && web.json?["details"] == ["name": "web", "group": "apps", "kind": "deployments"])
        #expect(web.json?["message"] == #"deployments.apps "web" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=0, limited: count/deployments.apps=0"#,
                "\(web.text)")
        #expect(s.object(resource: "resourcequotas", namespace: "kt-c", name: "objects")?.at("status.used") == ["count/configmaps": "1", "count/deployments.apps": "0"])
    }

    @Test func limitRangeDefaultsLetPodsThroughAQuota() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        try await Self.namespace(s, "kt-l")
        let quota: KubeJSON = ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "compute"],
                               "spec": ["hard": ["limits.cpu": "4", "limits.memory": "8Gi", "requests.cpu": "2", "requests.memory": "4Gi"]]]
        let limits: KubeJSON = ["apiVersion": "v1", "kind": "LimitRange", "metadata": ["name": "defaults"],
                                "spec": ["limits": [["type": "Container", "default": ["cpu": "2", "memory": "4Gi"],
                                                     "defaultRequest": ["cpu": "500m", "memory": "1Gi"]]]]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-l/resourcequotas", body: quota).code == 201)
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-l/limitranges", body: limits).code == 201)
        let created = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-l/pods", body: Self.pod("el-1"))
        #expect(created.code == 201, "\(created.text)")
        let resources = created.json?.at("spec.containers")?.arrayValue?.first?["resources"]
        #expect(resources == ["limits": ["cpu": "2", "memory": "4Gi"], "requests": ["cpu": "500m", "memory": "1Gi"]])
        #expect(created.json?.at("metadata.annotations")?["kubernetes.io/limit-ranger"]
                == "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app")
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-l/pods", body: Self.pod("el-2")).code == 201)
        let third = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-l/pods", body: Self.pod("el-3"))
        #expect(third.json?["message"] == #"pods "el-3" is forbidden: exceeded quota: compute, requested: limits.cpu=2,limits.memory=4Gi, used: limits.cpu=4,limits.memory=8Gi, limited: limits.cpu=4,limits.memory=8Gi"#,
                "\(third.text)")
    }

    @Test func kubectlShowsTheQuotaRefusal() async throws {
        guard let (s, k) = try await Self.serverWithKubectl("kts-quota") else { return }
        defer { s.shutdown(); try? FileManager.default.removeItem(atPath: k.home) }
        let dir = k.home
        try KTS.write("""
        apiVersion: v1
        kind: ResourceQuota
        metadata: {name: small, namespace: default}
        spec: {hard: {limits.cpu: "1", pods: "5"}}
        """, to: dir + "/quota.yaml")
        try KTS.write("""
        apiVersion: v1
        kind: Pod
        metadata: {name: big, namespace: default}
        spec: {containers: [{name: reth, image: reth, resources: {limits: {cpu: "4"}}}]}
        """, to: dir + "/pod.yaml")
        #expect(try await k("apply", "-f", dir + "/quota.yaml").status == 0)
        let refused = try await k("apply", "-f", dir + "/pod.yaml")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(#"Error from server (Forbidden): error when creating ""# + dir + #"/pod.yaml": pods "big" is forbidden: exceeded quota: small, requested: limits.cpu=4, used: limits.cpu=0, limited: limits.cpu=1"#),
                "\(refused.stderr)")
        let used = try await k("get", "quota", "small", "-o", "jsonpath={.status.used.limits\\.cpu}/{.status.hard.limits\\.cpu}")
        #expect(used.stdout == "0/1", "\(used.stdout) \(used.stderr)")
    }

    @Test func deploymentPodsMeetTheQuotaToo() async throws {
        guard let (s, k) = try await Self.serverWithKubectl("kts-rs") else { return }
        defer { s.shutdown(); try? FileManager.default.removeItem(atPath: k.home) }
        try await Self.namespace(s, "kt-d")
        let quota: KubeJSON = ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "compute"], "spec": ["hard": ["pods": "2"]]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-d/resourcequotas", body: quota).code == 201)
        try KTS.write("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: kt-d}
        spec:
          replicas: 3
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: nginx, image: nginx}]}
        """, to: k.home + "/web.yaml")
        #expect(try await k("apply", "-f", k.home + "/web.yaml").status == 0)
        // The ReplicaSet's pods go through admission: two fit, the third is refused, and the
        // Deployment says so as the real controllers do.
        func failure() -> String? {
            s.object(group: "apps", resource: "deployments", namespace: "kt-d", name: "web")?.at("status.conditions")?.arrayValue?
                .first { $0["type"] == "ReplicaFailure" }?["message"]?.stringValue
        }
        #expect(try await KTS.eventually { failure() != nil })
        let message = try #require(failure())
        #expect(message.hasPrefix(#"pods "web-"#) && message.hasSuffix(#"" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"#), "\(message)")
        let deployment = try #require(s.object(group: "apps", resource: "deployments", namespace: "kt-d", name: "web"))
        #expect(deployment.at("status.readyReplicas") == 2)
        let pods = s.objects(resource: "pods", namespace: "kt-d")
        #expect(pods.count == 2 && pods.allSatisfy { $0.at("metadata.labels")?["app"] == "web" && $0.at("metadata.ownerReferences")?.arrayValue?.first?["kind"] == "ReplicaSet" })
        #expect(try await KTS.eventually { s.objects(resource: "pods", namespace: "kt-d").allSatisfy { $0.at("status.phase") == "Running" } })
        let shown = try await k("get", "deployment", "web", "-n", "kt-d", "-o", #"jsonpath={.status.conditions[?(@.type=="ReplicaFailure")].reason}"#)
        #expect(shown.stdout == "FailedCreate", "\(shown.stdout) \(shown.stderr)")
        // Deleting the Deployment takes its ReplicaSet and pods with it, and frees the quota.
        #expect(try await k("delete", "deployment", "web", "-n", "kt-d").status == 0)
        #expect(try await KTS.eventually {
            s.objects(resource: "pods", namespace: "kt-d").isEmpty
                && s.object(resource: "resourcequotas", namespace: "kt-d", name: "compute")?.at("status.used.pods") == "0"
        })
    }

    @Test func barePodsRunWithTheirOwnIPUnlessScripted() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        s.scriptPods(namePrefix: "crash-", namespace: "default", .crashLoopBackOff(exitCode: 137))
        s.scriptPods(namePrefix: "broken-", .failed(exitCode: 2))
        s.scriptPods(namePrefix: "stuck-", .unschedulable(message: "0/1 nodes are available: 1 Insufficient cpu."))
        for name in ["el-1", "cl-1", "crash-1", "broken-1", "stuck-1"] {
            #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/default/pods", body: Self.pod(name)).code == 201)
        }
        func pod(_ name: String) -> KubeJSON? { s.object(resource: "pods", name: name) }
        func condition(_ name: String, _ type: String) -> KubeJSON? {
            pod(name)?.at("status.conditions")?.arrayValue?.first { $0["type"]?.stringValue == type }?["status"]
        }
        #expect(try await KTS.eventually {
            pod("el-1")?.at("status.phase") == "Running" && pod("cl-1")?.at("status.phase") == "Running"
                && pod("crash-1")?.at("status.containerStatuses") != nil && pod("broken-1")?.at("status.phase") == "Failed"
                && condition("stuck-1", "PodScheduled") == "False"
        })
        let ips = ["el-1", "cl-1"].compactMap { pod($0)?.at("status.podIP")?.stringValue }
        #expect(ips.count == 2 && Set(ips).count == 2 && ips.allSatisfy { $0.hasPrefix("10.244.") }, "\(ips)")
        #expect(condition("el-1", "Ready") == "True" && pod("el-1")?.at("status.containerStatuses")?.arrayValue?.first?.at("state.running") != nil)
        #expect(pod("crash-1")?.at("status.phase") == "Running" && condition("crash-1", "Ready") == "False")
        #expect(pod("crash-1")?.at("status.containerStatuses")?.arrayValue?.first?.at("state.waiting.reason") == "CrashLoopBackOff")
        #expect(pod("crash-1")?.at("status.containerStatuses")?.arrayValue?.first?.at("lastState.terminated.exitCode") == 137)
        #expect(pod("broken-1")?.at("status.containerStatuses")?.arrayValue?.first?.at("state.terminated.exitCode") == 2)
        #expect(pod("stuck-1")?.at("status.phase") == "Pending" && pod("stuck-1")?.at("status.podIP") == nil)

        // Marked Running by someone else (the Kurtosis stand-in does), the pod still gets its IP.
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/default/pods", body: Self.pod("vc-1")).code == 201)
        let running = try await KTS.request(s, "PATCH", "/api/v1/namespaces/default/pods/vc-1/status",
                                            body: ["status": ["phase": "Running", "conditions": [["type": "Ready", "status": "True"]]]],
                                            contentType: "application/merge-patch+json")
        #expect(running.code == 200)
        #expect(try await KTS.eventually { pod("vc-1")?.at("status.podIP")?.stringValue?.hasPrefix("10.244.") == true })
    }
}

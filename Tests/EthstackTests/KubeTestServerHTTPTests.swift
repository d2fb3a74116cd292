import Foundation
import KubeTestServer
import Testing
import EthstackEngine

/// The Kubernetes API test server over plain HTTP: discovery, Status bodies, SSA, status, watch.
@Suite(.serialized, .timeLimit(.minutes(5))) struct KubeTestServerHTTPTests {
    @Test func discovery() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        let api = try await KTS.request(s, "GET", "/api")
        #expect(api.json?["versions"] == ["v1"])
        let v1 = try #require(try await KTS.request(s, "GET", "/api/v1").json)
        #expect(v1["groupVersion"] == "v1")
        let names = v1["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("pods") && names.contains("pods/status") && names.contains("namespaces"))
        let ns = v1["resources"]?.arrayValue?.first { $0["name"] == "namespaces" }
        #expect(ns?["namespaced"] == false && ns?["kind"] == "Namespace" && ns?["shortNames"] == ["ns"])
        let apis = try #require(try await KTS.request(s, "GET", "/apis").json)
        let groups = apis["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        for g in ["apps", "batch", "networking.k8s.io", "storage.k8s.io", "rbac.authorization.k8s.io", "policy", "apiextensions.k8s.io"] {
            #expect(groups.contains(g), "missing group \(g)")
        }
        let sc = try await KTS.request(s, "GET", "/apis/storage.k8s.io/v1").json
        #expect(sc?["resources"]?.arrayValue?.first { $0["name"] == "storageclasses" }?["namespaced"] == false)
        #expect(try await KTS.request(s, "GET", "/version").json?["gitVersion"] == "v1.32.0")
        #expect(try await KTS.request(s, "GET", "/apis/monitoring.coreos.com/v1").code == 404)

        // A CRD makes its group appear and its resource servable; deleting it takes both away.
        for crd in StandardCRDs.all { try s.create(crd) }
        let mon = try await KTS.request(s, "GET", "/apis/monitoring.coreos.com/v1").json
        #expect(mon?["resources"]?.arrayValue?.contains { $0["kind"] == "ServiceMonitor" } == true)
        let sm: KubeJSON = ["apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": ["name": "m"],
                            "spec": ["endpoints": [["port": "metrics"]]]]
        #expect(try await KTS.request(s, "POST", "/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors", body: sm).code == 201)
        let vsc: KubeJSON = ["apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass", "metadata": ["name": "csi"],
                             "driver": "ebs.csi.aws.com", "deletionPolicy": "Delete"]
        #expect(try await KTS.request(s, "POST", "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses", body: vsc).code == 201)
        #expect(try await KTS.request(s, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com").code == 200)
        #expect(try await KTS.request(s, "GET", "/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors").code == 404)
    }

    @Test func errorStatusBodies() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        let missing = try await KTS.request(s, "GET", "/api/v1/namespaces/default/pods/x")
        #expect(missing.code == 404)
        #expect(missing.json == ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                 "message": "pods \"x\" not found", "reason": "NotFound",
                                 "details": ["name": "x", "kind": "pods"], "code": 404])
        let dep = try await KTS.request(s, "GET", "/apis/apps/v1/namespaces/default/deployments/web")
        #expect(dep.json?["message"] == "deployments.apps \"web\" not found")
        #expect(dep.json?["details"] == ["name": "web", "group": "apps", "kind": "deployments"])

        let ns: KubeJSON = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "kt-a"]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces", body: ns).code == 201)
        let again = try await KTS.request(s, "POST", "/api/v1/namespaces", body: ns)
        #expect(again.code == 409)
        #expect(again.json?["reason"] == "AlreadyExists" && again.json?["message"] == "namespaces \"kt-a\" already exists")

        let cm: KubeJSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["k": "v"]]
        let noNS = try await KTS.request(s, "POST", "/api/v1/namespaces/nope/configmaps", body: cm)
        #expect(noNS.code == 404 && noNS.json?["message"] == "namespaces \"nope\" not found")
        #expect(noNS.json?["details"] == ["name": "nope", "kind": "namespaces"])

        let created = try #require(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-a/configmaps", body: cm).json)
        let rv = try #require(created.at("metadata.resourceVersion")?.stringValue)
        #expect(created.at("metadata.uid")?.stringValue?.count == 36)
        #expect(created.at("metadata.creationTimestamp") != nil && created.at("metadata.namespace") == "kt-a")
        var updated = created
        updated["data"] = ["k": "v2"]
        #expect(try await KTS.request(s, "PUT", "/api/v1/namespaces/kt-a/configmaps/c", body: updated).code == 200)
        let stale = try await KTS.request(s, "PUT", "/api/v1/namespaces/kt-a/configmaps/c", body: updated)  // same old rv
        #expect(stale.code == 409 && stale.json?["reason"] == "Conflict")
        #expect(stale.json?["message"] == "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again")
        #expect(rv != (try await KTS.request(s, "GET", "/api/v1/namespaces/kt-a/configmaps/c").json?.at("metadata.resourceVersion")?.stringValue))

        let bad: KubeJSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "Bad_Name"]]
        let invalid = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-a/configmaps", body: bad)
        #expect(invalid.code == 422 && invalid.json?["reason"] == "Invalid")
        #expect(invalid.json?["message"]?.stringValue?.hasPrefix("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\"") == true)
        #expect(invalid.json?.at("details.causes")?.arrayValue?.first?["field"] == "metadata.name")

        let garbage = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-a/configmaps", raw: "{not json")
        #expect(garbage.code == 400 && garbage.json?["reason"] == "BadRequest")
        let notObject = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-a/configmaps", raw: "[1,2]")
        #expect(notObject.code == 400)
        let wrongPatch = try await KTS.request(s, "PATCH", "/api/v1/namespaces/kt-a/configmaps/c", raw: "{}", contentType: "text/plain")
        #expect(wrongPatch.code == 415)
        let method = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-a/configmaps/c", body: cm)
        #expect(method.code == 405 && method.json?["reason"] == "MethodNotAllowed")
        #expect(try await KTS.request(s, "GET", "/api/v1/namespaces/kt-a/widgets").code == 404)
        let badSel = try await KTS.request(s, "GET", "/api/v1/configmaps?labelSelector=a%20in%20b")
        #expect(badSel.code == 400)
        let mismatch = try await KTS.request(s, "PUT", "/api/v1/namespaces/kt-a/configmaps/other", body: cm)
        #expect(mismatch.code == 404)
        let jsonPatchFail = try await KTS.request(s, "PATCH", "/api/v1/namespaces/kt-a/configmaps/c",
                                                  raw: #"[{"op":"remove","path":"/data/missing"}]"#, contentType: "application/json-patch+json")
        #expect(jsonPatchFail.code == 422)
    }

    @Test func listSelectorsAndPatches() async throws {
        let s = try await KubeTestServer.start(port: 0)
        defer { s.shutdown() }
        for (name, labels) in [("a", ["app": "web", "tier": "front"]), ("b", ["app": "db"]), ("c", [:])] as [(String, [String: String])] {
            let cm: KubeJSON = ["apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": ["name": .string(name), "labels": .object(labels.mapValues { .string($0) })]]
            #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/default/configmaps", body: cm).code == 201)
        }
        func names(_ query: String) async throws -> [String] {
            let l = try await KTS.request(s, "GET", "/api/v1/configmaps?" + query).json
            return l?["items"]?.arrayValue?.compactMap { $0.at("metadata.name")?.stringValue } ?? []
        }
        #expect(try await names("labelSelector=app%3Dweb") == ["a"])
        #expect(try await names("labelSelector=app!%3Dweb") == ["b", "c"])
        #expect(try await names("labelSelector=app+in+(web,db)") == ["a", "b"])
        #expect(try await names("labelSelector=app+notin+(web)") == ["b", "c"])
        #expect(try await names("labelSelector=tier") == ["a"])
        #expect(try await names("labelSelector=!app") == ["c"])
        #expect(try await names("fieldSelector=metadata.name%3Db") == ["b"])
        #expect(try await names("fieldSelector=metadata.namespace%3Dkube-system").isEmpty)

        let merge = try await KTS.request(s, "PATCH", "/api/v1/namespaces/default/configmaps/a?fieldManager=patcher",
                                          raw: #"{"data":{"x":"1"},"metadata":{"labels":{"tier":null}}}"#, contentType: "application/merge-patch+json")
        #expect(merge.code == 200 && merge.json?.at("data.x") == "1" && merge.json?.at("metadata.labels.tier") == nil)
        #expect(merge.json?.at("metadata.managedFields")?.arrayValue?.contains { $0["manager"] == "patcher" && $0["operation"] == "Update" } == true)
        let jp = try await KTS.request(s, "PATCH", "/api/v1/namespaces/default/configmaps/a",
                                       raw: #"[{"op":"add","path":"/data/y","value":"2"},{"op":"replace","path":"/data/x","value":"3"}]"#,
                                       contentType: "application/json-patch+json")
        #expect(jp.json?["data"] == ["x": "3", "y": "2"])
        #expect(jp.json?.at("metadata.managedFields")?.arrayValue?.contains { $0["manager"] == "ethstack-tests" } == true)

        // Strategic merge patch merges containers by name.
        let dep: KubeJSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
                             "spec": ["replicas": 1, "selector": ["matchLabels": ["app": "web"]],
                                      "template": ["metadata": ["labels": ["app": "web"]],
                                                   "spec": ["containers": [["name": "a", "image": "a:1"], ["name": "b", "image": "b:1"]]]]]]
        #expect(try await KTS.request(s, "POST", "/apis/apps/v1/namespaces/default/deployments", body: dep).code == 201)
        let smp = try await KTS.request(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
                                        raw: #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"name":"b","image":"b:2"}]}}}}"#,
                                        contentType: "application/strategic-merge-patch+json")
        #expect(smp.json?.at("spec.template.spec.containers") == [["name": "a", "image": "a:1"], ["name": "b", "image": "b:2"]])
        #expect(smp.json?.at("metadata.generation") == 2)

        // dryRun=All answers without storing.
        let dry = try await KTS.request(s, "PATCH", "/api/v1/namespaces/default/configmaps/b?dryRun=All",
                                        raw: #"{"data":{"dry":"yes"}}"#, contentType: "application/merge-patch+json")
        #expect(dry.json?.at("data.dry") == "yes")
        #expect(s.object(resource: "configmaps", namespace: "default", name: "b")?.at("data.dry") == nil)
        let dryCreate: KubeJSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "ghost"]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", body: dryCreate).code == 201)
        #expect(s.object(resource: "configmaps", namespace: "default", name: "ghost") == nil)
        #expect(try await KTS.request(s, "DELETE", "/api/v1/namespaces/default/configmaps/b?dryRun=All").code == 200)
        #expect(s.object(resource: "configmaps", namespace: "default", name: "b") != nil)
        let gone = try await KTS.request(s, "DELETE", "/api/v1/namespaces/default/configmaps/b?propagationPolicy=Background")
        #expect(gone.code == 200 && gone.json?.at("metadata.name") == "b")
        #expect(try await KTS.request(s, "GET", "/api/v1/namespaces/default/configmaps/b").code == 404)
    }

    @Test func serverSideApply() async throws {
        // No simulated controllers: a Deployment's status update would bump its resourceVersion.
        var options = KubeTestServer.Options()
        options.simulateControllers = false
        let s = try await KubeTestServer.start(port: 0, options: options)
        defer { s.shutdown() }
        let path = "/api/v1/namespaces/default/configmaps/app"
        let apply = "application/apply-patch+yaml"
        let first = try await KTS.request(s, "PATCH", path + "?fieldManager=ethstack",
                                          raw: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels: {app: web}\ndata:\n  key: one\n  other: \"2\"\n",
                                          contentType: apply)
        #expect(first.code == 201 || first.code == 200)
        let mf = try #require(first.json?.at("metadata.managedFields")?.arrayValue?.first)
        #expect(mf["manager"] == "ethstack" && mf["operation"] == "Apply" && mf["fieldsType"] == "FieldsV1")
        #expect(mf["fieldsV1"] == ["f:data": ["f:key": [:], "f:other": [:]], "f:metadata": ["f:labels": ["f:app": [:]]]])
        #expect(first.json?.at("data.other") == "2")

        // Another manager changing an owned field: conflict, shaped like the real server's.
        let conflicting = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app"},"data":{"key":"two"}}"#
        let c = try await KTS.request(s, "PATCH", path + "?fieldManager=other", raw: conflicting, contentType: apply)
        #expect(c.code == 409 && c.json?["reason"] == "Conflict")
        #expect(c.json?["message"] == "Apply failed with 1 conflict: conflict with \"ethstack\": .data.key")
        #expect(c.json?.at("details.causes") == [["reason": "FieldManagerConflict", "message": "conflict with \"ethstack\"", "field": ".data.key"]])
        // Same value: shared ownership, no conflict.
        let same = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app"},"data":{"key":"one"}}"#
        #expect(try await KTS.request(s, "PATCH", path + "?fieldManager=other", raw: same, contentType: apply).code == 200)
        // force=true takes ownership.
        let forced = try await KTS.request(s, "PATCH", path + "?fieldManager=other&force=true", raw: conflicting, contentType: apply)
        #expect(forced.code == 200 && forced.json?.at("data.key") == "two")
        let entries = forced.json?.at("metadata.managedFields")?.arrayValue ?? []
        #expect(entries.first { $0["manager"] == "ethstack" }?["fieldsV1"] == ["f:data": ["f:other": [:]], "f:metadata": ["f:labels": ["f:app": [:]]]])

        // An Update by a client-side manager, then an apply conflicting with it names the apiVersion.
        let upd = try await KTS.request(s, "PATCH", path + "?fieldManager=kubectl-client-side-apply",
                                        raw: #"{"data":{"other":"3"}}"#, contentType: "application/merge-patch+json")
        #expect(upd.json?.at("metadata.managedFields")?.arrayValue?.contains { $0["manager"] == "kubectl-client-side-apply" && $0["operation"] == "Update" && $0["fieldsV1"] == ["f:data": ["f:other": [:]]] } == true)
        let c2 = try await KTS.request(s, "PATCH", path + "?fieldManager=ethstack",
                                       raw: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app","labels":{"app":"web"}},"data":{"other":"4"}}"#,
                                       contentType: apply)
        #expect(c2.code == 409)
        #expect(c2.json?["message"] == "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.other")

        // A manager that stops applying a field it alone owns removes it.
        let drop = try await KTS.request(s, "PATCH", path + "?fieldManager=ethstack&force=true",
                                         raw: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app"},"data":{"other":"4"}}"#, contentType: apply)
        #expect(drop.code == 200 && drop.json?.at("metadata.labels.app") == nil && drop.json?.at("data.other") == "4")
        #expect(drop.json?.at("data.key") == "two")  // still owned by "other"

        // Apply into a namespace that does not exist; apply of a Deployment keys containers by name.
        let nsMissing = try await KTS.request(s, "PATCH", "/api/v1/namespaces/nope/configmaps/x?fieldManager=e",
                                              raw: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#, contentType: apply)
        #expect(nsMissing.code == 404 && nsMissing.json?["message"] == "namespaces \"nope\" not found")
        let noManager = try await KTS.request(s, "PATCH", path, raw: same, contentType: apply)
        #expect(noManager.code == 400)
        let dep = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1"}]}}}}"#
        let d = try await KTS.request(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=ethstack&dryRun=All", raw: dep, contentType: apply)
        #expect(d.code == 201 || d.code == 200)
        #expect(s.object(group: "apps", resource: "deployments", namespace: "default", name: "web") == nil)
        let d2 = try await KTS.request(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=ethstack", raw: dep, contentType: apply)
        let fields = d2.json?.at("metadata.managedFields")?.arrayValue?.first?["fieldsV1"]
        #expect(fields?.at("f:spec.f:template.f:spec.f:containers")?[#"k:{"name":"nginx"}"#] == [".": [:], "f:image": [:], "f:name": [:]])
        #expect(d2.json?.at("metadata.generation") == 1)
        let d3 = try await KTS.request(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=ethstack",
                                       raw: dep.replacingOccurrences(of: "nginx:1", with: "nginx:2"), contentType: apply)
        #expect(d3.json?.at("metadata.generation") == 2)
        // Re-applying the same configuration is a no-op that keeps the resourceVersion.
        let d4 = try await KTS.request(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=ethstack",
                                       raw: dep.replacingOccurrences(of: "nginx:1", with: "nginx:2"), contentType: apply)
        #expect(d4.json?.at("metadata.resourceVersion") == d3.json?.at("metadata.resourceVersion"))
    }

    @Test func statusSubresourceAndControllers() async throws {
        var opts = KubeTestServer.Options()
        opts.simulateControllers = false
        let s = try await KubeTestServer.start(port: 0, options: opts)
        defer { s.shutdown() }
        let base = "/apis/apps/v1/namespaces/default/deployments"
        let dep: KubeJSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
                             "spec": ["replicas": 2, "selector": ["matchLabels": ["app": "web"]],
                                      "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "i"]]]]],
                             "status": ["readyReplicas": 9]]
        let created = try #require(try await KTS.request(s, "POST", base, body: dep).json)
        #expect(created["status"] == nil && created.at("metadata.generation") == 1)
        var st = created
        st["status"] = ["readyReplicas": 2, "observedGeneration": 1]
        st.set(["spec", "replicas"], .int(5))
        let afterStatus = try #require(try await KTS.request(s, "PUT", base + "/web/status", body: st).json)
        #expect(afterStatus.at("status.readyReplicas") == 2 && afterStatus.at("spec.replicas") == 2)
        var main = afterStatus
        main["status"] = ["readyReplicas": 0]
        main.set(["spec", "replicas"], .int(3))
        let afterMain = try #require(try await KTS.request(s, "PUT", base + "/web", body: main).json)
        #expect(afterMain.at("status.readyReplicas") == 2 && afterMain.at("spec.replicas") == 3 && afterMain.at("metadata.generation") == 2)
        let patched = try await KTS.request(s, "PATCH", base + "/web/status", raw: #"{"status":{"availableReplicas":3},"spec":{"replicas":7}}"#,
                                            contentType: "application/merge-patch+json")
        #expect(patched.json?.at("status.availableReplicas") == 3 && patched.json?.at("spec.replicas") == 3)

        // Hooks: a test can set status and edit objects directly.
        try s.setStatus(group: "apps", resource: "deployments", namespace: "default", name: "web", status: ["readyReplicas": 3])
        #expect(s.object(group: "apps", resource: "deployments", namespace: "default", name: "web")?.at("status.readyReplicas") == 3)
        try s.modify(resource: "namespaces", name: "default") { $0.set(["metadata", "labels", "team"], "eth") }
        #expect(s.objects(resource: "namespaces").contains { $0.at("metadata.labels.team") == "eth" })
    }

    @Test func simulatedControllersAndNamespaceDeletion() async throws {
        // A namespace that stays Terminating long enough for the create below, even on a loaded machine.
        var options = KubeTestServer.Options()
        options.namespaceDeletionDelay = 2
        let s = try await KubeTestServer.start(port: 0, options: options)
        defer { s.shutdown() }
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "kt-x"]]).code == 201)
        let svc: KubeJSON = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "rpc"],
                             "spec": ["type": "LoadBalancer", "selector": ["app": "el"], "ports": [["port": 8545]]]]
        let created = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-x/services", body: svc)
        #expect(created.json?.at("status.loadBalancer.ingress") == nil)
        #expect(created.json?.at("spec.clusterIP")?.stringValue != nil)
        #expect(try await KTS.eventually {
            s.object(resource: "services", namespace: "kt-x", name: "rpc")?.at("status.loadBalancer.ingress")?.arrayValue?.first?["hostname"] != nil
        })
        let pvc: KubeJSON = ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": "data"],
                             "spec": ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": "1Gi"]]]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/kt-x/persistentvolumeclaims", body: pvc).code == 201)
        #expect(try await KTS.eventually { s.object(resource: "persistentvolumeclaims", namespace: "kt-x", name: "data")?.at("status.phase") == "Bound" })

        let del = try await KTS.request(s, "DELETE", "/api/v1/namespaces/kt-x")
        #expect(del.code == 202 && del.json?.at("status.phase") == "Terminating" && del.json?.at("metadata.deletionTimestamp") != nil)
        let cm: KubeJSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "late"]]
        let late = try await KTS.request(s, "POST", "/api/v1/namespaces/kt-x/configmaps", body: cm)
        #expect(late.code == 403 && late.json?["reason"] == "Forbidden")
        #expect(try await KTS.eventually { try await KTS.request(s, "GET", "/api/v1/namespaces/kt-x").code == 404 })
        #expect(s.objects(resource: "services", namespace: "kt-x").isEmpty)
    }

    @Test func watchStreamsEvents() async throws {
        let s = try await KubeTestServer.start(port: 0)
        let start = s.resourceVersion
        let cm: KubeJSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "w", "labels": ["x": "1"]]]
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces/default/configmaps", body: cm).code == 201)
        #expect(try await KTS.request(s, "PATCH", "/api/v1/namespaces/default/configmaps/w", raw: #"{"data":{"a":"b"}}"#,
                                      contentType: "application/merge-patch+json").code == 200)
        #expect(try await KTS.request(s, "DELETE", "/api/v1/namespaces/default/configmaps/w").code == 200)
        let w = try await KTS.request(s, "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=\(start)&timeoutSeconds=1&labelSelector=x%3D1")
        let events = w.text.split(separator: "\n").compactMap { try? KubeJSON.parse(String($0)) }
        #expect(events.map { $0["type"]?.stringValue ?? "" } == ["ADDED", "MODIFIED", "DELETED"])
        #expect(events.last?.at("object.metadata.name") == "w")

        // Without a resourceVersion: synthetic ADDED for what exists, then live events.
        #expect(try await KTS.eventually(timeout: 30) { s.openWatches == 0 })
        let live = Task { try await KTS.request(s, "GET", "/api/v1/watch/namespaces?timeoutSeconds=2", timeout: 30) }
        #expect(try await KTS.eventually(timeout: 30) { s.openWatches == 1 })
        #expect(try await KTS.request(s, "POST", "/api/v1/namespaces", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "late"]]).code == 201)
        let liveEvents = try await live.value.text.split(separator: "\n").compactMap { try? KubeJSON.parse(String($0)) }
        #expect(liveEvents.filter { $0["type"] == "ADDED" }.count == 5)
        #expect(liveEvents.last?.at("object.metadata.name") == "late")

        // A watch ends when the server shuts down.
        #expect(try await KTS.eventually(timeout: 30) { s.openWatches == 0 })
        let long = Task { try? await KTS.request(s, "GET", "/api/v1/pods?watch=1&timeoutSeconds=600", timeout: 30) }
        #expect(try await KTS.eventually(timeout: 30) { s.openWatches == 1 })
        let t0 = Date()
        s.shutdown()
        _ = await long.value
        #expect(Date().timeIntervalSince(t0) < 10)
    }
}

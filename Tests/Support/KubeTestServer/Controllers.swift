// Simulated controllers: the garbage collector, namespace deletion, load balancers, workload
// readiness, the deployment controller's ReplicaSets and their pods (volumes: Volumes.swift; pod
// start-up: Pods.swift).
import Foundation

extension Store {
    // MARK: garbage collector and namespace deletion

    /// The garbage collector: objects whose ownerReferences name a deleted owner go too (and
    /// theirs, in turn) — a Deployment's ReplicaSets, a release's objects' children.
    func collectGarbage(owner uid: String) {
        var dependents: [(String, String?, String)] = []
        for (key, bucket) in objects {
            for (_, o) in bucket where (o.at("metadata.ownerReferences")?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid }) {
                dependents.append((key, o.at("metadata.namespace")?.stringValue, o.at("metadata.name")?.stringValue ?? ""))
            }
        }
        for (key, namespace, name) in dependents.sorted(by: { ($0.0, $0.2) < ($1.0, $1.2) }) { removeLocked(key, namespace, name) }
    }

    func finalizeNamespace(_ name: String) {
        lock.withLock {
            guard !stopped, let ns = objects["/namespaces"]?[Store.objKey(nil, name)], ns.at("metadata.deletionTimestamp") != nil else { return }
            for key in objects.keys.sorted() {
                for (_, o) in (objects[key] ?? [:]).sorted(by: { $0.key < $1.key }) where o.at("metadata.namespace")?.stringValue == name {
                    removeLocked(key, name, o.at("metadata.name")?.stringValue ?? "")
                }
            }
            removeLocked("/namespaces", nil, name)
        }
    }

    // MARK: simulated controllers

    func scheduleControllers(_ t: ResourceType, _ obj: KubeJSON) {
        guard options.simulateControllers else { return }
        let ns = obj.at("metadata.namespace")?.stringValue
        let name = obj.at("metadata.name")?.stringValue ?? ""
        let uid = obj.at("metadata.uid")?.stringValue
        var delay: Double?
        switch (t.group, t.plural) {
        case ("", "services"):
            if obj.at("spec.type")?.stringValue == "LoadBalancer", (obj.at("status.loadBalancer.ingress")?.arrayValue ?? []).isEmpty {
                delay = options.loadBalancerDelay
            }
        case ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets"), ("apps", "daemonsets"):
            if obj.at("status.observedGeneration")?.intValue != obj.at("metadata.generation")?.intValue { delay = options.workloadReadyDelay }
        case ("", "persistentvolumeclaims"):
            if obj.at("status.phase")?.stringValue != "Bound" { delay = options.volumeBindDelay }
        case ("", "pods"):
            if Store.podNeedsStart(obj) { schedulePodStart(obj) }
        case ("storage.k8s.io", "storageclasses"):
            DispatchQueue.global().asyncAfter(deadline: .now() + options.volumeBindDelay) { [weak self] in self?.bindClaims(ofClass: name) }
        default: break
        }
        guard let delay else { return }
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            self?.runController(t, namespace: ns, name: name, uid: uid)
        }
    }

    /// What the deployment controller keeps for a Deployment: a ReplicaSet per pod template,
    /// named `<deployment>-<hash>`, labelled and selected with `pod-template-hash`, controlled by
    /// the Deployment (ownerReference), the current one scaled to the desired replicas and ready,
    /// older ones scaled to zero. (`helm --wait` and `kubectl rollout status` look for it.) Returns
    /// the current ReplicaSet's name, its pods and the API's refusal of one (a quota).
    func reconcileReplicaSet(of deployment: KubeJSON) -> (name: String, pods: Int, failure: String?)? {
        guard let t = BuiltinTypes.all.first(where: { $0.group == "apps" && $0.plural == "replicasets" }),
              let namespace = deployment.at("metadata.namespace")?.stringValue,
              let name = deployment.at("metadata.name")?.stringValue,
              let uid = deployment.at("metadata.uid")?.stringValue else { return nil }
        let template = deployment.at("spec.template") ?? [:]
        let hash = Store.podTemplateHash(template)
        let replicas = deployment.at("spec.replicas") ?? 1
        var labelled = template
        labelled.set(["metadata", "labels", "pod-template-hash"], .string(hash))
        var selector = deployment.at("spec.selector") ?? [:]
        selector.set(["matchLabels", "pod-template-hash"], .string(hash))
        let owner: KubeJSON = ["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(name), "uid": .string(uid),
                               "controller": true, "blockOwnerDeletion": true]
        let current = "\(name)-\(hash)"
        return lock.withLock { () -> (name: String, pods: Int, failure: String?)? in
            guard !stopped else { return nil }
            for (_, rs) in objects[t.storageKey] ?? [:] where rs.at("metadata.namespace")?.stringValue == namespace
                && (rs.at("metadata.ownerReferences")?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid })
                && rs.at("metadata.name")?.stringValue != current {
                var old = rs
                old.set(["spec", "replicas"], 0)
                old["status"] = ["replicas": 0, "observedGeneration": old.at("metadata.generation") ?? 1]
                _ = try? updateLocked(t, namespace: namespace, name: old.at("metadata.name")?.stringValue ?? "", old: rs,
                                      proposed: old, ctx: WriteContext(manager: "kube-test-server-controller"))
                _ = scalePods(of: rs, to: 0)
            }
            let body: KubeJSON = [
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": ["name": .string(current), "namespace": .string(namespace),
                             "labels": labelled.at("metadata.labels") ?? [:], "ownerReferences": [owner]],
                "spec": ["replicas": replicas, "selector": selector, "template": labelled],
            ]
            let stored: KubeJSON?
            if let existing = objects[t.storageKey]?[Store.objKey(namespace, current)] {
                var updated = existing
                updated.set(["spec", "replicas"], replicas)
                stored = try? updateLocked(t, namespace: namespace, name: current, old: existing, proposed: updated,
                                           ctx: WriteContext(manager: "kube-test-server-controller"))
            } else {
                stored = try? createLocked(t, namespace: namespace, body: body, ctx: WriteContext(manager: "kube-test-server-controller"))
            }
            guard let stored else { return nil }
            let (pods, failure) = scalePods(of: stored, to: Int(replicas.intValue ?? 1))
            var ready = stored
            ready["status"] = Store.replicaSetStatus(pods: pods, failure: failure, generation: stored.at("metadata.generation") ?? 1)
            _ = try? updateLocked(t, namespace: namespace, name: current, old: stored, proposed: ready,
                                  ctx: WriteContext(manager: "kube-test-server-controller", statusScope: true))
            return (current, pods, failure)
        }
    }

    static func replicaSetStatus(pods: Int, failure: String?, generation: KubeJSON) -> KubeJSON {
        let n = KubeJSON.int(Int64(pods))
        var status: KubeJSON = ["replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n, "availableReplicas": n, "observedGeneration": generation]
        if let failure { status["conditions"] = [Store.replicaFailure(failure)] }
        return status
    }

    /// The condition a ReplicaSet (and its Deployment) shows when the API refuses one of its pods.
    static func replicaFailure(_ message: String) -> KubeJSON {
        ["type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": .string(message),
         "lastTransitionTime": .string(nowRFC3339())]
    }

    /// The ReplicaSet controller's part: `count` pods for `rs` (`<rs>-<suffix>`, labels and spec from
    /// its template, controlled by it), made through the API like any others — so a quota can refuse
    /// one, which stops it there. Returns how many it has and the refusal.
    func scalePods(of rs: KubeJSON, to count: Int) -> (pods: Int, failure: String?) {
        guard let namespace = rs.at("metadata.namespace")?.stringValue, let rsName = rs.at("metadata.name")?.stringValue,
              let uid = rs.at("metadata.uid")?.stringValue else { return (0, nil) }
        var pods = (objects["/pods"] ?? [:]).values.filter { p in
            p.at("metadata.namespace")?.stringValue == namespace
                && (p.at("metadata.ownerReferences")?.arrayValue ?? []).contains { $0["uid"]?.stringValue == uid }
        }.compactMap { $0.at("metadata.name")?.stringValue }.sorted()
        while pods.count > count { removeLocked("/pods", namespace, pods.removeLast()) }
        let template = rs.at("spec.template") ?? [:]
        let owner: KubeJSON = ["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string(rsName), "uid": .string(uid),
                               "controller": true, "blockOwnerDeletion": true]
        while pods.count < count {
            var metadata = template["metadata"]?.objectValue ?? [:]
            let name = "\(rsName)-\(randomSuffix(5))"
            metadata["name"] = .string(name)
            metadata["generateName"] = .string("\(rsName)-")
            metadata["ownerReferences"] = [owner]
            let body: KubeJSON = ["apiVersion": "v1", "kind": "Pod", "metadata": .object(metadata), "spec": template["spec"] ?? [:]]
            do {
                _ = try createLocked(BuiltinTypes.named("/pods"), namespace: namespace, body: body,
                                     ctx: WriteContext(manager: "kube-test-server-controller"))
                pods.append(name)
            } catch let e as APIError {
                return (pods.count, e.message)
            } catch {
                return (pods.count, "\(error)")
            }
        }
        return (pods.count, nil)
    }

    /// A short, stable digest of a pod template (the real controller uses FNV-32a and a safe encoding).
    static func podTemplateHash(_ template: KubeJSON) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in template.serialized().utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var out = ""
        var n = hash
        repeat { out.append(alphabet[Int(n % UInt32(alphabet.count))]); n /= UInt32(alphabet.count) } while n > 0
        return out
    }

    func runController(_ t: ResourceType, namespace: String?, name: String, uid: String?) {
        if t.storageKey == "/persistentvolumeclaims" { return bindClaim(namespace: namespace, name: name, uid: uid) }
        guard let obj = lock.withLock({ stopped ? nil : objects[t.storageKey]?[Store.objKey(namespace, name)] }),
              obj.at("metadata.uid")?.stringValue == uid else { return }
        var status = obj["status"]?.objectValue ?? [:]
        switch (t.group, t.plural) {
        case ("", "services"):
            let host = options.loadBalancerHostname ?? "\(name)-\(namespace ?? "default").lb.kube-test-server.local"
            status["loadBalancer"] = ["ingress": [["hostname": .string(host)]]]
        case ("apps", "daemonsets"):
            status["observedGeneration"] = obj.at("metadata.generation") ?? 1
            for f in ["desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled", "numberAvailable"] { status[f] = 1 }
        case ("apps", "replicasets"):
            // A Deployment's ReplicaSets are kept by the deployment controller (reconcileReplicaSet).
            if (obj.at("metadata.ownerReferences")?.arrayValue ?? []).contains(where: { $0["kind"] == "Deployment" }) { return }
            let (pods, failure) = lock.withLock { stopped ? (0, nil) : scalePods(of: obj, to: Int(obj.at("spec.replicas")?.intValue ?? 1)) }
            status = Store.replicaSetStatus(pods: pods, failure: failure, generation: obj.at("metadata.generation") ?? 1).objectValue ?? [:]
        case ("apps", _):
            let replicas = obj.at("spec.replicas") ?? 1
            let rs = t.plural == "deployments" ? reconcileReplicaSet(of: obj) : nil
            let ready = rs.map { KubeJSON.int(Int64($0.pods)) } ?? replicas
            status["observedGeneration"] = obj.at("metadata.generation") ?? 1
            status["replicas"] = ready
            for f in ["readyReplicas", "updatedReplicas", "availableReplicas"] { status[f] = ready }
            if t.plural == "statefulsets" {
                status["currentReplicas"] = replicas
                status["currentRevision"] = .string("\(name)-1")
                status["updateRevision"] = .string("\(name)-1")
            }
            if t.plural == "deployments", let rs, let failure = rs.failure {
                let wanted = Int(replicas.intValue ?? 1), now = KubeJSON.string(nowRFC3339())
                let available = rs.pods >= wanted - wanted / 4  // the default maxUnavailable, 25% rounded down
                status["conditions"] = [
                    available
                        ? ["type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now]
                        : ["type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now],
                    ["type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": .string("ReplicaSet \"\(rs.name)\" is progressing."), "lastUpdateTime": now, "lastTransitionTime": now],
                    Store.replicaFailure(failure),
                ]
            } else if t.plural == "deployments" {
                let now = KubeJSON.string(nowRFC3339())
                status["conditions"] = [
                    ["type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now],
                    ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": .string("ReplicaSet \"\(name)\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now],
                ]
            }
        default: return
        }
        _ = try? setStatus(t, namespace: namespace, name: name, status: .object(status), manager: "kube-test-server-controller")
    }
}

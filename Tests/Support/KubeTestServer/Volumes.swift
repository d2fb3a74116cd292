// Volumes: the DefaultStorageClass admission, the PV controller's provisioning and binding
// (Immediate, or WaitForFirstConsumer once a pod mounts the claim) and the reclaim on claim deletion.
import Foundation

extension Store {
    static let defaultClassAnnotations = ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]

    /// The class `Options.defaultStorageClass` pre-installs: like minikube's, default and Immediate.
    static let standardStorageClass: KubeJSON = [
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": ["name": "standard", "annotations": ["storageclass.kubernetes.io/is-default-class": "true"]],
        "provisioner": "kube-test-server.local/hostpath", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
    ]

    /// The DefaultStorageClass admission plugin: a claim that names no class (an explicit "" is a
    /// choice, kept) gets the default one — the newest when several claim to be it.
    func applyDefaultStorageClass(_ claim: KubeJSON) -> KubeJSON {
        guard claim.at("spec.storageClassName") == nil else { return claim }
        let defaults = (objects["storage.k8s.io/storageclasses"] ?? [:]).values.filter { sc in
            Store.defaultClassAnnotations.contains { sc.at("metadata.annotations")?[$0]?.stringValue == "true" }
        }
        let newest = defaults.max { a, b in
            let (ta, tb) = (a.at("metadata.creationTimestamp")?.stringValue ?? "", b.at("metadata.creationTimestamp")?.stringValue ?? "")
            return ta != tb ? ta < tb : (a.at("metadata.name")?.stringValue ?? "") > (b.at("metadata.name")?.stringValue ?? "")
        }
        guard let name = newest?.at("metadata.name") else { return claim }
        var claim = claim
        claim.set(["spec", "storageClassName"], name)
        return claim
    }

    /// The PV controller's pass over one claim (lock not held).
    func bindClaim(namespace: String?, name: String, uid: String?) {
        lock.withLock {
            guard !stopped, let claim = objects["/persistentvolumeclaims"]?[Store.objKey(namespace, name)],
                  claim.at("metadata.uid")?.stringValue == uid else { return }
            bindClaimLocked(claim)
        }
    }

    /// Claims still Pending for a class that has just appeared get another pass (the real
    /// controller's periodic resync).
    func bindClaims(ofClass className: String) {
        lock.withLock {
            guard !stopped else { return }
            for (_, claim) in (objects["/persistentvolumeclaims"] ?? [:]).sorted(by: { $0.key < $1.key })
            where claim.at("spec.storageClassName")?.stringValue == className { bindClaimLocked(claim) }
        }
    }

    /// Provisions a PersistentVolume for a Pending claim and binds the two — unless its class does
    /// not exist (it stays Pending), or the class waits for a first consumer and no pod mounts it yet.
    /// Returns whether the claim is Bound.
    @discardableResult
    func bindClaimLocked(_ claim: KubeJSON) -> Bool {
        if claim.at("status.phase")?.stringValue == "Bound" { return true }
        guard claim.at("metadata.deletionTimestamp") == nil,
              let namespace = claim.at("metadata.namespace")?.stringValue, let name = claim.at("metadata.name")?.stringValue,
              let uid = claim.at("metadata.uid")?.stringValue,
              let className = claim.at("spec.storageClassName")?.stringValue, !className.isEmpty,
              let sc = objects["storage.k8s.io/storageclasses"]?[Store.objKey(nil, className)] else { return false }
        if sc["volumeBindingMode"]?.stringValue == "WaitForFirstConsumer" && consumers(ofClaim: name, namespace: namespace).isEmpty { return false }
        let pvType = BuiltinTypes.named("/persistentvolumes"), pvcType = BuiltinTypes.named("/persistentvolumeclaims")
        let controller = WriteContext(manager: "kube-test-server-controller")
        let provisioner = sc["provisioner"] ?? "kube-test-server.local/hostpath"
        let volumeName = claim.at("spec.volumeName")?.stringValue ?? "pvc-\(uid)"
        let storage = claim.at("spec.resources.requests.storage") ?? "1Gi"
        let accessModes = claim.at("spec.accessModes") ?? ["ReadWriteOnce"]
        let volume: KubeJSON = [
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": ["name": .string(volumeName), "annotations": ["pv.kubernetes.io/provisioned-by": provisioner]],
            "spec": ["capacity": ["storage": storage], "accessModes": accessModes,
                     "persistentVolumeReclaimPolicy": sc["reclaimPolicy"] ?? "Delete", "storageClassName": .string(className),
                     "volumeMode": claim.at("spec.volumeMode") ?? "Filesystem",
                     "claimRef": ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": .string(namespace),
                                  "name": .string(name), "uid": .string(uid)],
                     "csi": ["driver": provisioner, "volumeHandle": .string(volumeName), "fsType": "ext4"]],
        ]
        guard let pv = objects[pvType.storageKey]?[Store.objKey(nil, volumeName)]
                ?? (try? createLocked(pvType, namespace: nil, body: volume, ctx: controller)) else { return false }
        var boundPV = pv
        boundPV["status"] = ["phase": "Bound"]
        _ = try? updateLocked(pvType, namespace: nil, name: volumeName, old: pv, proposed: boundPV,
                              ctx: WriteContext(manager: controller.manager, statusScope: true))

        var spec = claim
        spec.set(["spec", "volumeName"], .string(volumeName))
        for (k, v) in ["pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                       "volume.kubernetes.io/storage-provisioner": provisioner] as [String: KubeJSON] {
            spec.set(["metadata", "annotations", k], v)
        }
        guard let named = try? updateLocked(pvcType, namespace: namespace, name: name, old: claim, proposed: spec, ctx: controller) else { return false }
        var bound = named
        bound["status"] = ["phase": "Bound", "accessModes": accessModes, "capacity": ["storage": storage]]
        _ = try? updateLocked(pvcType, namespace: namespace, name: name, old: named, proposed: bound,
                              ctx: WriteContext(manager: controller.manager, statusScope: true))
        // Pods the scheduler held back for this claim try again.
        for pod in consumers(ofClaim: name, namespace: namespace) where pod.at("status.phase")?.stringValue == "Pending" {
            schedulePodStart(pod, retry: true)
        }
        return true
    }

    /// Pods of `namespace`, not finished, that mount the claim.
    func consumers(ofClaim claim: String, namespace: String) -> [KubeJSON] {
        (objects["/pods"] ?? [:]).sorted { $0.key < $1.key }.map(\.value).filter { pod in
            pod.at("metadata.namespace")?.stringValue == namespace
                && !["Succeeded", "Failed"].contains(pod.at("status.phase")?.stringValue ?? "")
                && Store.claimNames(pod).contains(claim)
        }
    }

    static func claimNames(_ pod: KubeJSON) -> [String] {
        (pod.at("spec.volumes")?.arrayValue ?? []).compactMap { $0.at("persistentVolumeClaim.claimName")?.stringValue }
    }

    /// What happens to a deleted claim's volume: its reclaim policy Delete removes it, Retain keeps
    /// it `Released`.
    func reclaimVolume(of claim: KubeJSON) {
        guard options.simulateControllers, let uid = claim.at("metadata.uid")?.stringValue else { return }
        let pvType = BuiltinTypes.named("/persistentvolumes")
        for (_, pv) in objects[pvType.storageKey] ?? [:] where pv.at("spec.claimRef.uid")?.stringValue == uid {
            let name = pv.at("metadata.name")?.stringValue ?? ""
            if pv.at("spec.persistentVolumeReclaimPolicy")?.stringValue == "Delete" {
                removeLocked(pvType.storageKey, nil, name)
            } else {
                var released = pv
                released["status"] = ["phase": "Released"]
                _ = try? updateLocked(pvType, namespace: nil, name: name, old: pv, proposed: released,
                                      ctx: WriteContext(manager: "kube-test-server-controller", statusScope: true))
            }
        }
    }
}

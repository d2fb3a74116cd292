// Pod start-up as the scheduler and kubelet would do it: held Pending while a claim it mounts is
// missing or unbound, otherwise Running with an IP — or what a test scripted (crash loop, failure).
import Foundation

/// What the simulated kubelet makes of a pod (`KubeTestServer.scriptPods`).
public enum PodOutcome: Sendable, Equatable {
    /// Scheduled, containers started and ready (the default).
    case running
    /// Started, but every container keeps exiting with `exitCode`: Running, not Ready, `CrashLoopBackOff`.
    case crashLoopBackOff(exitCode: Int = 1)
    /// Every container exited with `exitCode` and the pod is `Failed`.
    case failed(exitCode: Int = 1)
    /// The scheduler finds no node: Pending, `PodScheduled` False with this message.
    case unschedulable(message: String)
}

extension Store {
    /// Runs the scheduler/kubelet pass for a pod after `workloadReadyDelay`; `retry` for one found
    /// unschedulable before, whose cause may be gone.
    func schedulePodStart(_ pod: KubeJSON, retry: Bool = false) {
        guard options.simulateControllers else { return }
        let namespace = pod.at("metadata.namespace")?.stringValue, name = pod.at("metadata.name")?.stringValue ?? ""
        let uid = pod.at("metadata.uid")?.stringValue
        DispatchQueue.global().asyncAfter(deadline: .now() + options.workloadReadyDelay) { [weak self] in
            self?.startPod(namespace: namespace, name: name, uid: uid, retry: retry)
        }
    }

    /// Whether a committed pod is for the scheduler/kubelet: still Pending and not already found
    /// unschedulable (a bound claim wakes those), or marked Running by someone without an IP.
    static func podNeedsStart(_ pod: KubeJSON) -> Bool {
        let unschedulable = (pod.at("status.conditions")?.arrayValue ?? []).contains {
            $0["type"] == "PodScheduled" && $0["status"] == "False"
        }
        switch pod.at("status.phase")?.stringValue {
        case "Pending": return !unschedulable
        case "Running": return pod.at("status.podIP") == nil
        default: return false
        }
    }

    func startPod(namespace: String?, name: String, uid: String?, retry: Bool) {
        lock.withLock {
            guard !stopped, let pod = objects["/pods"]?[Store.objKey(namespace, name)], pod.at("metadata.uid")?.stringValue == uid,
                  pod.at("metadata.deletionTimestamp") == nil,
                  Store.podNeedsStart(pod) || (retry && pod.at("status.phase")?.stringValue == "Pending") else { return }
            var proposed = pod
            if pod.at("status.phase")?.stringValue == "Running" {
                // Someone else runs this pod's status (a test, the Kurtosis stand-in): only what it left out.
                let started = podStatus(pod, .running)
                for f in ["podIP", "podIPs", "hostIP", "hostIPs", "startTime", "containerStatuses"] where pod.at("status.\(f)") == nil {
                    proposed.set(["status", f], started[f])
                }
            } else {
                let outcome = unboundClaimMessage(pod).map { PodOutcome.unschedulable(message: $0) } ?? podScript(for: pod)
                proposed["status"] = podStatus(pod, outcome)
            }
            _ = try? updateLocked(BuiltinTypes.named("/pods"), namespace: namespace, name: name, old: pod, proposed: proposed,
                                  ctx: WriteContext(manager: "kube-test-server-controller", statusScope: true))
        }
    }

    /// The scheduler's volume check: a claim that does not exist, or that is not Bound and cannot be
    /// bound now (WaitForFirstConsumer claims are bound here, this pod being their consumer).
    func unboundClaimMessage(_ pod: KubeJSON) -> String? {
        let namespace = pod.at("metadata.namespace")?.stringValue
        let preemption = " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        for claimName in Store.claimNames(pod) {
            guard let claim = objects["/persistentvolumeclaims"]?[Store.objKey(namespace, claimName)] else {
                return "0/1 nodes are available: persistentvolumeclaim \"\(claimName)\" not found." + preemption
            }
            if !bindClaimLocked(claim) { return "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims." + preemption }
        }
        return nil
    }

    func podScript(for pod: KubeJSON) -> PodOutcome {
        let namespace = pod.at("metadata.namespace")?.stringValue, name = pod.at("metadata.name")?.stringValue ?? ""
        return podScripts.last { ($0.namespace == nil || $0.namespace == namespace) && name.hasPrefix($0.prefix) }?.outcome ?? .running
    }

    /// The status the kubelet reports for `outcome`, keeping what the pod's status already says
    /// beyond it.
    func podStatus(_ pod: KubeJSON, _ outcome: PodOutcome) -> KubeJSON {
        var status = pod["status"]?.objectValue ?? [:]
        let now = KubeJSON.string(nowRFC3339())
        func condition(_ type: String, _ ok: Bool, reason: String? = nil, message: String? = nil) -> KubeJSON {
            var c: [String: KubeJSON] = ["type": .string(type), "status": ok ? "True" : "False", "lastProbeTime": .null, "lastTransitionTime": now]
            if let reason { c["reason"] = .string(reason) }
            if let message { c["message"] = .string(message) }
            return .object(c)
        }
        if case .unschedulable(let message) = outcome {
            status["phase"] = "Pending"
            status["conditions"] = [condition("PodScheduled", false, reason: "Unschedulable", message: message)]
            return .object(status)
        }
        podIPCounter += 1
        let ip = KubeJSON.string("10.244.\(podIPCounter / 250).\(podIPCounter % 250 + 1)")
        status["podIP"] = ip
        status["podIPs"] = [["ip": ip]]
        status["hostIP"] = "172.18.0.2"
        status["hostIPs"] = [["ip": "172.18.0.2"]]
        status["startTime"] = now
        let ready = outcome == .running
        var failed = false
        if case .failed = outcome { failed = true }
        status["phase"] = failed ? "Failed" : "Running"
        let notReady = "containers with unready status: [" + containerNames(pod).joined(separator: " ") + "]"
        func readiness(_ type: String) -> KubeJSON {
            ready ? condition(type, true) : failed ? condition(type, false, reason: "PodFailed")
                : condition(type, false, reason: "ContainersNotReady", message: notReady)
        }
        status["conditions"] = [condition("PodReadyToStartContainers", !failed), condition("Initialized", true),
                                readiness("Ready"), readiness("ContainersReady"), condition("PodScheduled", true)]
        let podRef = "\(pod.at("metadata.name")?.stringValue ?? "")_\(pod.at("metadata.namespace")?.stringValue ?? "")(\(pod.at("metadata.uid")?.stringValue ?? ""))"
        status["containerStatuses"] = .array((pod.at("spec.containers")?.arrayValue ?? []).map { c in
            let name = c["name"] ?? "", image = c["image"] ?? ""
            var s: [String: KubeJSON] = ["name": name, "image": image, "imageID": "", "ready": .bool(ready), "started": .bool(ready),
                                         "containerID": .string("containerd://" + Store.podTemplateHash(c) + Store.podTemplateHash(pod["metadata"] ?? [:]))]
            switch outcome {
            case .crashLoopBackOff(let code):
                s["restartCount"] = 1
                s["state"] = ["waiting": ["reason": "CrashLoopBackOff",
                                          "message": .string("back-off 10s restarting failed container=\(name.stringValue ?? "") pod=\(podRef)")]]
                s["lastState"] = ["terminated": ["exitCode": .int(Int64(code)), "reason": "Error", "startedAt": now, "finishedAt": now]]
            case .failed(let code):
                s["restartCount"] = 0
                s["state"] = ["terminated": ["exitCode": .int(Int64(code)), "reason": "Error", "startedAt": now, "finishedAt": now]]
            default:
                s["restartCount"] = 0
                s["state"] = ["running": ["startedAt": now]]
            }
            return .object(s)
        })
        return .object(status)
    }

    func containerNames(_ pod: KubeJSON) -> [String] {
        (pod.at("spec.containers")?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }
}

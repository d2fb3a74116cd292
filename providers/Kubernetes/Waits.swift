import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI

/// The `wait` property of a `kubernetes.manifest`: what must be true of the object before its
/// create or update counts as done. Every wait is a poll with backoff, bounded by `timeout`.
///
/// - `rollout: true` — Deployment/StatefulSet/DaemonSet: `observedGeneration ≥ generation`, and
///   updated, ready and available replicas (DaemonSet: scheduled/updated/ready/available) equal to
///   the desired count.
/// - `condition: Ready` (or `{ type: Ready, status: "True" }`) — a `status.conditions` entry.
/// - `phase: Bound` — `status.phase` (a PVC, a Namespace, a Pod).
/// - `fields: { "status.phase": Bound, "status.loadBalancer.ingress.0.hostname": "*" }` — dotted
///   paths; `*` means any non-empty value.
/// - `load_balancer: true` — a Service of type LoadBalancer has an ingress hostname or IP.
/// - `timeout: 10m` (default), as `90s`, `1m30s`, `500ms` or a number of seconds.
struct WaitSpec: Sendable {
    static let defaultTimeout: Double = 600

    var rollout = false
    var conditions: [(type: String, status: String)] = []
    var fields: [(path: String, value: String)] = []
    var loadBalancer = false
    var timeout: Double = defaultTimeout

    var isEmpty: Bool { !rollout && conditions.isEmpty && fields.isEmpty && !loadBalancer }

    init(_ value: Value, address: ResourceAddress) throws {
        let v = value.deepUnmarked
        if v.isNull { return }
        guard let map = v.mapValue else {
            throw Self.invalid(address, "wait must be a map (rollout, condition, phase, fields, load_balancer, timeout)")
        }
        for (key, item) in map {
            switch key {
            case "rollout": rollout = item.boolValue ?? (item.stringValue == "true")
            case "load_balancer": loadBalancer = item.boolValue ?? (item.stringValue == "true")
            case "condition", "conditions":
                for c in item.listValue ?? [item] {
                    if let type = c.stringValue {
                        conditions.append((type, "True"))
                    } else if let type = c["type"]?.stringValue {
                        conditions.append((type, c["status"]?.interpolatedString ?? "True"))
                    } else {
                        throw Self.invalid(address, "wait.condition is a condition type (Ready) or { type, status }")
                    }
                }
            case "phase":
                guard let phase = item.interpolatedString else { throw Self.invalid(address, "wait.phase is a string") }
                fields.append(("status.phase", phase))
            case "fields":
                guard let entries = item.mapValue else { throw Self.invalid(address, "wait.fields is a map of path → value") }
                for (path, expected) in entries.sorted(by: { $0.key < $1.key }) {
                    guard let text = expected.interpolatedString else {
                        throw Self.invalid(address, "wait.fields.\(path) must be a string, number or bool")
                    }
                    fields.append((path, text))
                }
            case "timeout":
                guard let seconds = Self.seconds(item) else {
                    throw Self.invalid(address, "wait.timeout is a duration such as 10m, 90s or 1m30s")
                }
                timeout = seconds
            default:
                throw Self.invalid(address, "wait has no setting \"\(key)\" (rollout, condition, phase, fields, load_balancer, timeout)")
            }
        }
    }

    static func invalid(_ address: ResourceAddress, _ message: String) -> ProviderError {
        ProviderError(.invalidInput, operation: "plan", address: address, message: message)
    }

    /// `10m`, `1m30s`, `500ms`, `2h`, or a number of seconds.
    static func seconds(_ value: Value) -> Double? {
        if let n = value.numberValue { return n >= 0 ? n : nil }
        guard let text = value.stringValue?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let n = Double(text) { return n }
        var total = 0.0
        var number = ""
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isNumber || c == "." { number.append(c); i += 1; continue }
            guard let n = Double(number) else { return nil }
            number = ""
            if c == "m", i + 1 < chars.count, chars[i + 1] == "s" { total += n / 1000; i += 2; continue }
            switch c {
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            default: return nil
            }
            i += 1
        }
        return number.isEmpty ? total : nil
    }

    /// Waits until the object satisfies every condition; returns the last object seen (nil: no wait).
    func wait(for object: KubernetesObject, client: KubernetesClient, progress: @escaping ProgressReporter) async throws -> KubernetesObject? {
        guard !isEmpty else { return nil }
        let spec = self
        let what = "\(object.kind) \(object.displayName) (\(describe))"
        let result = try await client.wait(apiVersion: object.apiVersion, kind: object.kind, namespace: object.namespace,
                                           name: object.name, what: what, timeout: timeout, progress: progress) { live in
            guard let live else { return .waiting("not found") }
            return spec.check(live)
        }
        return result
    }

    var describe: String {
        var parts: [String] = []
        if rollout { parts.append("rollout") }
        for c in conditions { parts.append("condition \(c.type)=\(c.status)") }
        for f in fields { parts.append("\(f.path)=\(f.value)") }
        if loadBalancer { parts.append("load balancer address") }
        return parts.joined(separator: ", ")
    }

    /// Whether `live` is there yet, and if not, what is missing.
    func check(_ live: KubernetesObject) -> KubernetesClient.WaitCheck {
        var missing: [String] = []
        if rollout, let text = Self.rolloutMissing(live) { missing.append(text) }
        for c in conditions {
            let found = live.condition(c.type)
            if found?.status != c.status {
                missing.append("condition \(c.type) is \(found?.status ?? "absent")\(found?.message.map { ": \($0)" } ?? "")")
            }
        }
        for f in fields {
            let value = live[path: f.path]?.interpolatedString ?? ""
            let ok = f.value == "*" ? !value.isEmpty : value == f.value
            if !ok { missing.append("\(f.path) is \(value.isEmpty ? "unset" : value)") }
        }
        if loadBalancer {
            let ingress = live[path: "status.loadBalancer.ingress.0"]
            let address = ingress?["hostname"]?.stringValue ?? ingress?["ip"]?.stringValue ?? ""
            if address.isEmpty { missing.append("no load balancer address yet") }
        }
        return missing.isEmpty ? .done : .waiting(missing.joined(separator: "; "))
    }

    static func rolloutMissing(_ live: KubernetesObject) -> String? {
        let generation = live.generation ?? 0
        let observed = live[path: "status.observedGeneration"]?.intValue ?? 0
        if observed < generation { return "generation \(generation) not observed yet (observed \(observed))" }
        func n(_ path: String) -> Int { live[path: path]?.intValue ?? 0 }
        switch live.kind {
        case "DaemonSet":
            let desired = n("status.desiredNumberScheduled")
            let updated = n("status.updatedNumberScheduled"), ready = n("status.numberReady"), available = n("status.numberAvailable")
            if updated < desired || ready < desired || available < desired {
                return "\(ready)/\(desired) ready, \(updated) updated, \(available) available"
            }
            return nil
        case "Deployment", "StatefulSet", "ReplicaSet":
            let desired = live[path: "spec.replicas"]?.intValue ?? 1
            let updated = n(live.kind == "StatefulSet" ? "status.updatedReplicas" : "status.updatedReplicas")
            let ready = n("status.readyReplicas")
            let available = live.kind == "StatefulSet" ? (live[path: "status.availableReplicas"]?.intValue ?? ready) : n("status.availableReplicas")
            if updated < desired || ready < desired || available < desired {
                return "\(ready)/\(desired) ready, \(updated) updated, \(available) available"
            }
            return nil
        default:
            return nil
        }
    }
}

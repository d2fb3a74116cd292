// Quota admission: LimitRange container defaults (the LimitRanger plugin), the ResourceQuota check
// with the real server's 403 messages, and the quota controller's status.hard/status.used.
import Foundation

extension Store {
    /// The mutating and validating admission a new namespaced object meets after defaulting:
    /// LimitRange defaults for a Pod, the default StorageClass for a claim, then every quota of
    /// the namespace. Runs for dry runs too, as the real chain does.
    func admitCreate(_ t: ResourceType, _ obj: KubeJSON, namespace: String?, name: String) throws -> KubeJSON {
        guard t.namespaced, let namespace else { return obj }
        var obj = obj
        if t.storageKey == "/pods" { obj = applyLimitRangeDefaults(obj, namespace: namespace) }
        if t.storageKey == "/persistentvolumeclaims" { obj = applyDefaultStorageClass(obj) }
        try checkQuotas(t, obj, namespace: namespace, name: name)
        return obj
    }

    // MARK: LimitRanger

    /// Fills each container's missing limits from `default` and missing requests from
    /// `defaultRequest` (or `default`) of the namespace's Container LimitRanges, and records what
    /// it set in the `kubernetes.io/limit-ranger` annotation, as the LimitRanger plugin does.
    func applyLimitRangeDefaults(_ pod: KubeJSON, namespace: String) -> KubeJSON {
        var limits: [String: KubeJSON] = [:], requests: [String: KubeJSON] = [:]
        for (_, range) in (objects["/limitranges"] ?? [:]).sorted(by: { $0.key < $1.key })
        where range.at("metadata.namespace")?.stringValue == namespace {
            for item in range.at("spec.limits")?.arrayValue ?? [] where item["type"]?.stringValue == "Container" {
                let defaults = item["default"]?.objectValue ?? [:]
                for (k, v) in defaults where limits[k] == nil { limits[k] = v }
                for (k, v) in defaults.merging(item["defaultRequest"]?.objectValue ?? [:], uniquingKeysWith: { $1 }) where requests[k] == nil {
                    requests[k] = v
                }
            }
        }
        guard !limits.isEmpty || !requests.isEmpty else { return pod }
        var pod = pod
        var notes: [String] = []
        for (list, what) in [("containers", "container"), ("initContainers", "init container")] {
            guard var containers = pod.at("spec.\(list)")?.arrayValue else { continue }
            for i in containers.indices {
                let container = containers[i]["name"]?.stringValue ?? ""
                var setRequests: [String] = [], setLimits: [String] = []
                for (k, v) in requests where containers[i].at("resources.requests.\(k)") == nil {
                    containers[i].set(["resources", "requests", k], v); setRequests.append(k)
                }
                for (k, v) in limits where containers[i].at("resources.limits.\(k)") == nil {
                    containers[i].set(["resources", "limits", k], v); setLimits.append(k)
                }
                if !setRequests.isEmpty { notes.append(setRequests.sorted().joined(separator: ", ") + " request for \(what) \(container)") }
                if !setLimits.isEmpty { notes.append(setLimits.sorted().joined(separator: ", ") + " limit for \(what) \(container)") }
            }
            pod.set(["spec", list], .array(containers))
        }
        if !notes.isEmpty {
            pod.set(["metadata", "annotations", "kubernetes.io/limit-ranger"], .string("LimitRanger plugin set: " + notes.joined(separator: "; ")))
        }
        return pod
    }

    // MARK: ResourceQuota

    /// The resources whose request or limit every container must state when a quota constrains them.
    static let computeResources: Set<String> = ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]

    /// What one object counts against a quota: object counts (`pods`, `count/configmaps`,
    /// `count/deployments.apps`…), a pod's compute requests and limits (init containers counted as
    /// the real evaluator does), a claim's storage, per StorageClass too. Finished pods count nothing.
    static func quotaUsage(_ t: ResourceType, _ obj: KubeJSON, hard: [String]) -> [String: Quantity] {
        if t.storageKey == "/pods", ["Succeeded", "Failed"].contains(obj.at("status.phase")?.stringValue ?? "") { return [:] }
        var usage: [String: Quantity] = [:]
        let one = Quantity(millis: 1000)
        for key in hard where countedStorageKey(key) == t.storageKey { usage[key] = one }
        if t.storageKey == "/pods" {
            func total(_ list: String, _ field: String) -> Quantity {
                (obj.at("spec.\(list)")?.arrayValue ?? []).reduce(Quantity.zero) { $0 + (Quantity($1.at("resources.\(field)")) ?? .zero) }
            }
            func largest(_ field: String) -> Quantity {
                (obj.at("spec.initContainers")?.arrayValue ?? []).map { Quantity($0.at("resources.\(field)")) ?? .zero }.max() ?? .zero
            }
            for field in ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"] {
                usage[field] = max(total("containers", field), largest(field))
            }
            usage["cpu"] = usage["requests.cpu"]
            usage["memory"] = usage["requests.memory"]
        }
        if t.storageKey == "/persistentvolumeclaims" {
            let storage = Quantity(obj.at("spec.resources.requests.storage")) ?? .zero
            usage["requests.storage"] = storage
            if let sc = obj.at("spec.storageClassName")?.stringValue, !sc.isEmpty {
                usage["\(sc).storageclass.storage.k8s.io/requests.storage"] = storage
                usage["\(sc).storageclass.storage.k8s.io/persistentvolumeclaims"] = one
            }
        }
        return usage
    }

    /// Which objects a quota's object-count resource counts: `pods`, `services`… (core), or
    /// `count/<resource>[.<group>]`.
    static func countedStorageKey(_ resource: String) -> String? {
        let legacy = ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas"]
        if legacy.contains(resource) { return "/\(resource)" }
        guard resource.hasPrefix("count/") else { return nil }
        let name = resource.dropFirst("count/".count)
        guard let dot = name.firstIndex(of: ".") else { return "/\(name)" }
        return "\(name[name.index(after: dot)...])/\(name[..<dot])"
    }

    /// The quotas of a namespace, by name.
    func quotas(in namespace: String) -> [KubeJSON] {
        (objects["/resourcequotas"] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
            .filter { $0.at("metadata.namespace")?.stringValue == namespace }
    }

    /// A quota's limits: `status.hard` once the controller has filled it, else `spec.hard`.
    static func hardLimits(_ quota: KubeJSON) -> [String: Quantity] {
        let hard = quota.at("status.hard")?.objectValue ?? quota.at("spec.hard")?.objectValue ?? [:]
        return hard.compactMapValues { Quantity($0) }
    }

    /// What the namespace uses now of each of `resources`.
    func quotaUsed(namespace: String, resources: [String]) -> [String: Quantity] {
        var used: [String: Quantity] = [:]
        for key in resources { used[key] = .zero }
        for t in allTypesLocked() where t.namespaced {
            for (_, o) in objects[t.storageKey] ?? [:] where o.at("metadata.namespace")?.stringValue == namespace {
                for (k, q) in Store.quotaUsage(t, o, hard: resources) where used[k] != nil { used[k] = used[k]! + q }
            }
        }
        return used
    }

    /// The ResourceQuota admission check: 403 when a constrained compute resource is not stated by
    /// every container, or when the object would take the namespace past a quota's hard limit.
    func checkQuotas(_ t: ResourceType, _ obj: KubeJSON, namespace: String, name: String) throws {
        func forbidden(_ why: String) -> APIError {
            APIError(code: 403, reason: "Forbidden", message: "\(t.qualifiedName) \"\(name)\" is forbidden: \(why)",
                     details: APIError.details(t, name: name))
        }
        for quota in quotas(in: namespace) {
            let quotaName = quota.at("metadata.name")?.stringValue ?? ""
            let hard = Store.hardLimits(quota)
            let tracked = hard.keys.sorted()
            if t.storageKey == "/pods", let missing = Store.missingComputeResources(obj, required: Set(tracked).intersection(Store.computeResources)) {
                throw forbidden("failed quota: \(quotaName): must specify \(missing)")
            }
            let requested = Store.quotaUsage(t, obj, hard: tracked).filter { hard[$0.key] != nil && $0.value != .zero }
            if requested.isEmpty { continue }
            let used = quotaUsed(namespace: namespace, resources: tracked)
            let exceeded = requested.keys.filter { (used[$0] ?? .zero) + requested[$0]! > hard[$0]! }.sorted()
            if exceeded.isEmpty { continue }
            func show(_ values: [String: Quantity]) -> String { exceeded.map { "\($0)=\(values[$0] ?? .zero)" }.joined(separator: ",") }
            throw forbidden("exceeded quota: \(quotaName), requested: \(show(requested)), used: \(show(used)), limited: \(show(hard))")
        }
    }

    /// "limits.cpu for: app,sidecar; limits.memory for: app" — the compute resources a container
    /// leaves unstated though a quota constrains them (nil when every container states them).
    static func missingComputeResources(_ pod: KubeJSON, required: Set<String>) -> String? {
        guard !required.isEmpty else { return nil }
        var missing: [String: Set<String>] = [:]
        for c in (pod.at("spec.containers")?.arrayValue ?? []) + (pod.at("spec.initContainers")?.arrayValue ?? []) {
            var stated: Set<String> = []
            for r in ["cpu", "memory"] {
                if c.at("resources.requests.\(r)") != nil { stated.formUnion([r, "requests.\(r)"]) }
                if c.at("resources.limits.\(r)") != nil { stated.insert("limits.\(r)") }
            }
            for r in required.subtracting(stated) { missing[r, default: []].insert(c["name"]?.stringValue ?? "") }
        }
        guard !missing.isEmpty else { return nil }
        return missing.keys.sorted().map { "\($0) for: " + missing[$0]!.sorted().joined(separator: ",") }.joined(separator: "; ")
    }

    /// The quota controller: `status.hard` mirrors `spec.hard` and `status.used` counts what the
    /// namespace holds, rewritten (through the status subresource) whenever either changes.
    func refreshQuotas(namespace: String) {
        guard let t = BuiltinTypes.all.first(where: { $0.storageKey == "/resourcequotas" }) else { return }
        for quota in quotas(in: namespace) {
            let hard = quota.at("spec.hard")?.objectValue ?? [:]
            let used = quotaUsed(namespace: namespace, resources: Array(hard.keys))
            let status: KubeJSON = ["hard": .object(hard.mapValues { v in Quantity(v).map { .string($0.description) } ?? v }),
                                    "used": .object(used.mapValues { .string($0.description) })]
            guard quota["status"] != status, let name = quota.at("metadata.name")?.stringValue else { continue }
            var proposed = quota
            proposed["status"] = status
            _ = try? updateLocked(t, namespace: namespace, name: name, old: quota, proposed: proposed,
                                  ctx: WriteContext(manager: "kube-test-server-controller", statusScope: true))
        }
    }

    /// Whether a committed write can change what the quotas of its namespace count.
    func affectsQuotas(_ storageKey: String, namespace: String, statusWrite: Bool) -> Bool {
        if storageKey == "/resourcequotas" && statusWrite { return false }
        return objects["/resourcequotas"]?.values.contains { $0.at("metadata.namespace")?.stringValue == namespace } == true
    }
}

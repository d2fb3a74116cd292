import Foundation

/// One served resource: group/version/plural and what discovery says about it.
public struct ResourceType: Sendable, Hashable {
    public var group: String
    public var version: String
    public var plural: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var hasStatus: Bool
    /// Whether metadata.generation is maintained (bumped when anything but metadata/status changes).
    public var hasGeneration: Bool
    public var fromCRD: Bool = false

    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// "deployments.apps" / "pods": how error messages name the resource.
    public var qualifiedName: String { group.isEmpty ? plural : "\(plural).\(group)" }
    /// Key under which objects of this resource are stored (independent of version).
    public var storageKey: String { "\(group)/\(plural)" }

    static let allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    func discoveryEntries() -> [KubeJSON] {
        var e: [String: KubeJSON] = [
            "name": .string(plural), "singularName": .string(singular), "namespaced": .bool(namespaced),
            "kind": .string(kind), "verbs": .array(ResourceType.allVerbs.map { .string($0) }),
        ]
        if !shortNames.isEmpty { e["shortNames"] = .array(shortNames.map { .string($0) }) }
        let all: Set<String> = ["pods", "services", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs",
                                "horizontalpodautoscalers"]
        if !fromCRD && all.contains(plural) { e["categories"] = ["all"] }
        var out: [KubeJSON] = [.object(e)]
        if hasStatus {
            out.append([
                "name": .string("\(plural)/status"), "singularName": "", "namespaced": .bool(namespaced),
                "kind": .string(kind), "verbs": ["get", "patch", "update"],
            ])
        }
        if ["apps/deployments", "apps/statefulsets", "apps/replicasets"].contains(storageKey) {
            out.append([
                "name": .string("\(plural)/scale"), "singularName": "", "namespaced": true, "group": "autoscaling",
                "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
            ])
        }
        return out
    }
}

enum BuiltinTypes {
    /// The built-in resource stored under `storageKey` ("/pods", "apps/deployments").
    static func named(_ storageKey: String) -> ResourceType {
        guard let t = all.first(where: { $0.storageKey == storageKey }) else { preconditionFailure("no built-in resource \(storageKey)") }
        return t
    }

    static func t(_ g: String, _ v: String, _ plural: String, _ kind: String, namespaced: Bool = true,
                  short: [String] = [], status: Bool = false, generation: Bool? = nil) -> ResourceType {
        ResourceType(group: g, version: v, plural: plural, singular: kind.lowercased(), kind: kind, namespaced: namespaced,
                     shortNames: short, hasStatus: status, hasGeneration: generation ?? !g.isEmpty)
    }

    static let all: [ResourceType] = [
        t("", "v1", "namespaces", "Namespace", namespaced: false, short: ["ns"], status: true),
        t("", "v1", "pods", "Pod", short: ["po"], status: true),
        t("", "v1", "services", "Service", short: ["svc"], status: true),
        t("", "v1", "configmaps", "ConfigMap", short: ["cm"]),
        t("", "v1", "secrets", "Secret"),
        t("", "v1", "serviceaccounts", "ServiceAccount", short: ["sa"]),
        t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short: ["pvc"], status: true),
        t("", "v1", "persistentvolumes", "PersistentVolume", namespaced: false, short: ["pv"], status: true),
        t("", "v1", "resourcequotas", "ResourceQuota", short: ["quota"], status: true),
        t("", "v1", "limitranges", "LimitRange", short: ["limits"]),
        t("", "v1", "events", "Event", short: ["ev"]),
        t("", "v1", "endpoints", "Endpoints", short: ["ep"]),
        t("", "v1", "nodes", "Node", namespaced: false, short: ["no"], status: true),
        t("apps", "v1", "deployments", "Deployment", short: ["deploy"], status: true),
        t("apps", "v1", "statefulsets", "StatefulSet", short: ["sts"], status: true),
        t("apps", "v1", "daemonsets", "DaemonSet", short: ["ds"], status: true),
        t("apps", "v1", "replicasets", "ReplicaSet", short: ["rs"], status: true),
        t("batch", "v1", "jobs", "Job", status: true),
        t("batch", "v1", "cronjobs", "CronJob", short: ["cj"], status: true),
        t("networking.k8s.io", "v1", "ingresses", "Ingress", short: ["ing"], status: true),
        t("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short: ["netpol"]),
        t("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced: false),
        t("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced: false, short: ["sc"], generation: false),
        t("rbac.authorization.k8s.io", "v1", "roles", "Role", generation: false),
        t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", generation: false),
        t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced: false, generation: false),
        t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced: false, generation: false),
        t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short: ["pdb"], status: true),
        t("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced: false,
          short: ["crd", "crds"], status: true),
        t("coordination.k8s.io", "v1", "leases", "Lease", generation: false),
        t("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short: ["hpa"], status: true),
    ]

    /// Preferred group order in /apis, like the real server's.
    static let groupOrder = ["apps", "batch", "networking.k8s.io", "storage.k8s.io", "rbac.authorization.k8s.io",
                             "policy", "apiextensions.k8s.io", "coordination.k8s.io", "autoscaling"]
}

/// CRDs some ethstack stacks rely on (prometheus-operator and external-snapshotter), usable with
/// `Options.standardCRDs` or `KubeTestServer.createObject`.
public enum StandardCRDs {
    static func crd(group: String, plural: String, kind: String, short: [String] = [], namespaced: Bool = true,
                    status: Bool = false) -> KubeJSON {
        var version: KubeJSON = [
            "name": "v1", "served": true, "storage": true,
            "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]],
        ]
        if status { version["subresources"] = ["status": [:]] }
        return [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": .string("\(plural).\(group)")],
            "spec": [
                "group": .string(group), "scope": namespaced ? "Namespaced" : "Cluster",
                "names": ["plural": .string(plural), "singular": .string(kind.lowercased()), "kind": .string(kind),
                          "listKind": .string(kind + "List"), "shortNames": .array(short.map { .string($0) })],
                "versions": [version],
            ],
        ]
    }

    public static let all: [KubeJSON] = [
        crd(group: "monitoring.coreos.com", plural: "servicemonitors", kind: "ServiceMonitor", short: ["smon"]),
        crd(group: "monitoring.coreos.com", plural: "podmonitors", kind: "PodMonitor", short: ["pmon"]),
        crd(group: "monitoring.coreos.com", plural: "prometheusrules", kind: "PrometheusRule", short: ["promrule"]),
        crd(group: "snapshot.storage.k8s.io", plural: "volumesnapshots", kind: "VolumeSnapshot", short: ["vs"], status: true),
        crd(group: "snapshot.storage.k8s.io", plural: "volumesnapshotclasses", kind: "VolumeSnapshotClass",
            short: ["vsclass", "vsclasses"], namespaced: false),
        crd(group: "snapshot.storage.k8s.io", plural: "volumesnapshotcontents", kind: "VolumeSnapshotContent",
            short: ["vsc", "vscs"], namespaced: false, status: true),
    ]
}

/// Types a CRD object declares (one per served version).
func typesFromCRD(_ crd: KubeJSON) -> [ResourceType] {
    guard let spec = crd["spec"], let group = spec["group"]?.stringValue, let names = spec["names"],
          let plural = names["plural"]?.stringValue, let kind = names["kind"]?.stringValue else { return [] }
    let singular = names["singular"]?.stringValue ?? kind.lowercased()
    let short = names["shortNames"]?.arrayValue?.compactMap { $0.stringValue } ?? []
    let namespaced = spec["scope"]?.stringValue != "Cluster"
    var out: [ResourceType] = []
    for v in spec["versions"]?.arrayValue ?? [] {
        guard let name = v["name"]?.stringValue, v["served"]?.boolValue != false else { continue }
        var t = ResourceType(group: group, version: name, plural: plural, singular: singular, kind: kind,
                             namespaced: namespaced, shortNames: short, hasStatus: v["subresources"]?["status"] != nil,
                             hasGeneration: true)
        t.fromCRD = true
        out.append(t)
    }
    return out
}

import Foundation
import EthstackModel

/// A Kubernetes object as untyped JSON (a `Value` map), with accessors for the fields every
/// object has. Numbers are `Double`s, as everywhere in `Value`; JSON encoding writes integers
/// without a decimal point.
public struct KubernetesObject: Sendable, Hashable {
    public var value: Value

    public init(_ value: Value) { self.value = value }

    public var apiVersion: String { value["apiVersion"]?.stringValue ?? "" }
    public var kind: String { value["kind"]?.stringValue ?? "" }
    public var metadata: [String: Value] { value["metadata"]?.mapValue ?? [:] }
    public var name: String { metadata["name"]?.stringValue ?? "" }
    /// nil for cluster-scoped objects (and namespaced ones that do not say).
    public var namespace: String? { metadata["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
    public var uid: String? { metadata["uid"]?.stringValue }
    public var resourceVersion: String? { metadata["resourceVersion"]?.stringValue }
    public var generation: Int? { metadata["generation"]?.intValue }
    public var labels: [String: String] { Self.strings(metadata["labels"]) }
    public var annotations: [String: String] { Self.strings(metadata["annotations"]) }
    /// Set when the object is being deleted (finalizers still pending, namespace terminating).
    public var deletionTimestamp: String? { metadata["deletionTimestamp"]?.stringValue }
    public var status: Value? { value["status"] }

    /// The value at a dotted path (`status.phase`, `spec.replicas`); list items by index (`ports.0.port`).
    public subscript(path path: String) -> Value? { Self.lookup(value, path: path) }

    /// The `status.conditions` entry of that type.
    public func condition(_ type: String) -> (status: String, reason: String?, message: String?)? {
        for c in value["status"]?["conditions"]?.listValue ?? [] where c["type"]?.stringValue == type {
            return (c["status"]?.stringValue ?? "", c["reason"]?.stringValue, c["message"]?.stringValue)
        }
        return nil
    }

    /// `group` of the apiVersion (`""` for the core group `v1`).
    public var group: String { KubernetesGroupVersion(apiVersion).group }

    /// `namespace/name` or `name`.
    public var displayName: String { namespace.map { "\($0)/\(name)" } ?? name }

    public static func lookup(_ value: Value, path: String) -> Value? {
        var current: Value? = value
        for part in path.split(separator: ".", omittingEmptySubsequences: true) {
            guard let c = current else { return nil }
            if let map = c.mapValue {
                current = map[String(part)]
            } else if let list = c.listValue, let i = Int(part), i >= 0, i < list.count {
                current = list[i]
            } else {
                return nil
            }
        }
        return current
    }

    package static func strings(_ value: Value?) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in value?.mapValue ?? [:] { if let s = v.interpolatedString { out[k] = s } }
        return out
    }
}

/// `apps/v1` → group `apps`, version `v1`; `v1` → group "", version `v1`.
public struct KubernetesGroupVersion: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String

    public init(_ apiVersion: String) {
        if let slash = apiVersion.lastIndex(of: "/") {
            group = String(apiVersion[..<slash])
            version = String(apiVersion[apiVersion.index(after: slash)...])
        } else {
            group = ""
            version = apiVersion
        }
    }

    public init(group: String, version: String) { self.group = group; self.version = version }

    public var description: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` or `/apis/GROUP/VERSION`.
    public var basePath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }
}

/// One REST resource of the API, as discovery describes it.
public struct KubernetesResourceInfo: Sendable, Hashable {
    public var groupVersion: KubernetesGroupVersion
    /// The plural resource name in the URL (`deployments`).
    public var name: String
    public var kind: String
    public var namespaced: Bool
    public var verbs: [String]
    public var subresources: [String]

    public init(groupVersion: KubernetesGroupVersion, name: String, kind: String, namespaced: Bool,
                verbs: [String] = [], subresources: [String] = []) {
        self.groupVersion = groupVersion; self.name = name; self.kind = kind; self.namespaced = namespaced
        self.verbs = verbs; self.subresources = subresources
    }

    public var apiVersion: String { groupVersion.description }

    /// The collection path (`…/namespaces/NS/RESOURCE`, or `…/RESOURCE` for cluster-scoped or all namespaces).
    public func collectionPath(namespace: String?) -> String {
        let base = groupVersion.basePath
        if namespaced, let namespace, !namespace.isEmpty {
            return "\(base)/namespaces/\(KubernetesClient.escape(namespace))/\(name)"
        }
        return "\(base)/\(name)"
    }

    /// The object path; `namespace` is ignored for cluster-scoped resources.
    public func objectPath(namespace: String?, name objectName: String) -> String {
        "\(collectionPath(namespace: namespaced ? namespace : nil))/\(KubernetesClient.escape(objectName))"
    }
}

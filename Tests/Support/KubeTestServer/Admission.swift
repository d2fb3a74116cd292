// Admission: what the real server checks and fills in before storing — the namespace lifecycle,
// names, kind-specific defaults, CRDs, workload validation and fields immutable after creation.
import Foundation

extension Store {
    func checkNamespace(_ t: ResourceType, _ namespace: String?, name: String) throws {
        guard t.namespaced, let ns = namespace else { return }
        guard let nsObj = objects["/namespaces"]?[Store.objKey(nil, ns)] else { throw APIError.namespaceNotFound(ns) }
        if nsObj.at("metadata.deletionTimestamp") != nil {
            throw APIError(code: 403, reason: "Forbidden",
                           message: "\(t.qualifiedName) \"\(name)\" is forbidden: unable to create new content in namespace \(ns) because it is being terminated",
                           details: ["name": .string(name), "kind": .string(t.plural),
                                     "causes": [["reason": "NamespaceTerminating", "message": .string("namespace \(ns) is being terminated"), "field": "metadata.namespace"]]])
        }
    }

    static func validateName(_ t: ResourceType, _ name: String) throws {
        let label = t.plural == "namespaces"
        let maxLen = label ? 63 : 253
        let allowed = name.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" || (!label && $0 == ".") }
        let edgesOK = name.first.map { $0.isLetter || $0.isNumber } == true && name.last.map { $0.isLetter || $0.isNumber } == true
        if name.isEmpty {
            throw APIError.invalid(t, name, causes: [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")])
        }
        if !allowed || !edgesOK || name.count > maxLen {
            let what = label
                ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            throw APIError.invalid(t, name, causes: [("metadata.name", "FieldValueInvalid", "Invalid value: \"\(name)\": \(what)")])
        }
    }

    /// Kind-specific defaulting the real API server does and clients rely on.
    func applyDefaults(_ t: ResourceType, _ o: KubeJSON, old: KubeJSON?) -> KubeJSON {
        var o = o
        switch (t.group, t.plural) {
        case ("", "namespaces"):
            let name = o.at("metadata.name")?.stringValue ?? ""
            o.set(["metadata", "labels", "kubernetes.io/metadata.name"], .string(name))
            if o.at("spec.finalizers") == nil { o.set(["spec", "finalizers"], ["kubernetes"]) }
            if o.at("status.phase") == nil { o.set(["status", "phase"], "Active") }
        case ("", "secrets"):
            if o["type"] == nil { o["type"] = "Opaque" }
            if let sd = o["stringData"]?.objectValue {
                var data = o["data"]?.objectValue ?? [:]
                for (k, v) in sd { data[k] = .string(Data((v.stringValue ?? "").utf8).base64EncodedString()) }
                o["data"] = .object(data)
                o["stringData"] = nil
            }
        case ("", "services"):
            if o.at("spec.type") == nil { o.set(["spec", "type"], "ClusterIP") }
            if o.at("spec.sessionAffinity") == nil { o.set(["spec", "sessionAffinity"], "None") }
            let type = o.at("spec.type")?.stringValue
            if type != "ExternalName" && o.at("spec.clusterIP") == nil {
                if let oldIP = old?.at("spec.clusterIP") { o.set(["spec", "clusterIP"], oldIP) } else {
                    ipCounter += 1
                    let ip = "10.96.\(ipCounter / 250).\(ipCounter % 250 + 1)"
                    o.set(["spec", "clusterIP"], .string(ip))
                    o.set(["spec", "clusterIPs"], [.string(ip)])
                }
            }
            if var ports = o.at("spec.ports")?.arrayValue {
                for i in ports.indices {
                    if ports[i]["protocol"] == nil { ports[i]["protocol"] = "TCP" }
                    if ports[i]["targetPort"] == nil, let p = ports[i]["port"] { ports[i]["targetPort"] = p }
                    if (type == "LoadBalancer" || type == "NodePort") && ports[i]["nodePort"] == nil {
                        ports[i]["nodePort"] = .int(Int64(30000 + (ipCounter * 7 + i) % 2767))
                    }
                }
                o.set(["spec", "ports"], .array(ports))
            }
            if o["status"] == nil { o["status"] = ["loadBalancer": [:]] }
        case ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets"):
            if o.at("spec.replicas") == nil { o.set(["spec", "replicas"], 1) }
        case ("", "persistentvolumeclaims"):
            if o.at("status.phase") == nil { o.set(["status", "phase"], "Pending") }
        case ("", "pods"):
            if o.at("status.phase") == nil { o.set(["status", "phase"], "Pending") }
            for list in ["containers", "initContainers"] {  // a container's requests default to its limits
                guard var containers = o.at("spec.\(list)")?.arrayValue else { continue }
                for i in containers.indices {
                    for (k, v) in containers[i].at("resources.limits")?.objectValue ?? [:] where containers[i].at("resources.requests.\(k)") == nil {
                        containers[i].set(["resources", "requests", k], v)
                    }
                }
                o.set(["spec", list], .array(containers))
            }
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            let names = o.at("spec.names") ?? [:]
            var storedVersions: [KubeJSON] = []
            for v in o.at("spec.versions")?.arrayValue ?? [] where v["storage"]?.boolValue == true { if let n = v["name"] { storedVersions.append(n) } }
            let now = KubeJSON.string(nowRFC3339())
            o["status"] = [
                "acceptedNames": names, "storedVersions": .array(storedVersions),
                "conditions": [
                    ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now],
                    ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now],
                ],
            ]
        default: break
        }
        return o
    }

    func validateCRD(_ obj: KubeJSON, name: String) throws {
        let t = crdType
        guard let group = obj.at("spec.group")?.stringValue, let plural = obj.at("spec.names.plural")?.stringValue,
              obj.at("spec.names.kind")?.stringValue != nil else {
            throw APIError.invalid(t, name, causes: [("spec.names.kind", "FieldValueRequired", "Required value")])
        }
        if name != "\(plural).\(group)" {
            throw APIError.invalid(t, name, causes: [("metadata.name", "FieldValueInvalid", "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group")])
        }
        if (obj.at("spec.versions")?.arrayValue ?? []).isEmpty {
            throw APIError.invalid(t, name, causes: [("spec.versions", "FieldValueInvalid", "Invalid value: []: must have exactly one version marked as storage version")])
        }
    }

    /// The apps/v1 workload checks of the real server that a stack can trip over: negative
    /// replicas, and a selector that does not select the pod template's labels.
    static func validateWorkload(_ t: ResourceType, _ obj: KubeJSON, name: String) throws {
        guard t.group == "apps", ["deployments", "statefulsets", "replicasets", "daemonsets"].contains(t.plural) else { return }
        var causes: [(field: String, reason: String, message: String)] = []
        if let replicas = obj.at("spec.replicas")?.intValue, replicas < 0 {
            causes.append(("spec.replicas", "FieldValueInvalid", "Invalid value: \(replicas): must be greater than or equal to 0"))
        }
        let selector = obj.at("spec.selector.matchLabels")?.objectValue ?? [:]
        let labels = obj.at("spec.template.metadata.labels")?.objectValue ?? [:]
        if !selector.allSatisfy({ labels[$0.key] == $0.value }) {
            causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                           "Invalid value: \(KubeJSON.object(labels).serialized()): `selector` does not match template `labels`"))
        }
        if !causes.isEmpty { throw APIError.invalid(t, name, causes: causes) }
    }

    /// What the real API server refuses to change on an existing object, with its messages and
    /// causes (the update validation of storage/v1, apps/v1, batch/v1 and core/v1): an update, a
    /// patch and a server-side apply, dry run or not, all meet it.
    func validateImmutableFields(_ t: ResourceType, name: String, old: KubeJSON, new: KubeJSON) throws {
        var causes: [(field: String, reason: String, message: String)] = []
        func same(_ path: String) -> Bool { old.at(path) == new.at(path) }
        func immutable(_ path: String) {
            if !same(path) {
                causes.append((path, "FieldValueInvalid", "Invalid value: \((new.at(path) ?? .null).serialized()): field is immutable"))
            }
        }
        func spec(_ o: KubeJSON, without keys: [String]) -> KubeJSON {
            var spec = o["spec"]?.objectValue ?? [:]
            for k in keys { spec[k] = nil }
            return .object(spec)
        }
        switch (t.group, t.plural) {
        case ("storage.k8s.io", "storageclasses"):
            for f in ["parameters", "provisioner", "reclaimPolicy"] where !same(f) {
                causes.append((f, "FieldValueForbidden", "Forbidden: updates to \(f) are forbidden."))
            }
            immutable("volumeBindingMode")
        case ("apps", "deployments"), ("apps", "replicasets"), ("apps", "daemonsets"):
            immutable("spec.selector")
        case ("apps", "statefulsets"):
            let mutable = ["replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"]
            if spec(old, without: mutable) != spec(new, without: mutable) {
                causes.append(("spec", "FieldValueForbidden", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
            }
        case ("batch", "jobs"):
            immutable("spec.selector")
            immutable("spec.template")
        case ("", "persistentvolumeclaims"):
            // Requests may grow; a volumeName may be set once (binding).
            func fixed(_ o: KubeJSON) -> KubeJSON? {
                var o = o
                o.set(["spec", "resources", "requests"], nil)
                if (old.at("spec.volumeName")?.stringValue ?? "").isEmpty { o.set(["spec", "volumeName"], nil) }
                return o["spec"]
            }
            if fixed(old) != fixed(new) {
                causes.append(("spec", "FieldValueForbidden", "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
            }
        case ("", "services"):
            if let ip = old.at("spec.clusterIP")?.stringValue, !ip.isEmpty, !same("spec.clusterIP") { immutable("spec.clusterIP") }
        case ("", "configmaps"), ("", "secrets"):
            guard old["immutable"]?.boolValue == true else { break }
            for f in ["data", "binaryData", "immutable"] where !same(f) {
                causes.append((f, "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set"))
            }
        default: break
        }
        if !causes.isEmpty { throw APIError.invalid(t, name, causes: causes) }
    }
}

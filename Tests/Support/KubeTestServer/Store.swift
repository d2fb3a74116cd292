import Foundation

/// How a write was asked for.
struct WriteContext {
    var dryRun = false
    var manager = "unknown"
    var force = false
    var statusScope = false
    /// A delete with propagationPolicy=Orphan: dependents keep living.
    var orphanDependents = false
}

enum WatchEventType: String { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED" }

struct WatchFilter {
    var storageKey: String
    var namespace: String?
    var labels: LabelSelector?
    var fields: FieldSelector?
    var apiVersion: String

    func matches(_ key: String, _ obj: KubeJSON) -> Bool {
        guard key == storageKey else { return false }
        if let namespace, obj.at("metadata.namespace")?.stringValue != namespace { return false }
        if let labels, !labels.matches(labelsOf(obj)) { return false }
        if let fields, !fields.matches(obj) { return false }
        return true
    }
}

func labelsOf(_ obj: KubeJSON) -> [String: String] {
    var out: [String: String] = [:]
    for (k, v) in obj.at("metadata.labels")?.objectValue ?? [:] { if let s = v.stringValue { out[k] = s } }
    return out
}

func nowRFC3339() -> String { Date().formatted(.iso8601) }

/// The object store: every resource, the resourceVersion counter, the event history and the watchers.
/// Lock-protected; callers never hold the lock across I/O (watch sinks only enqueue).
final class Store: @unchecked Sendable {
    let options: KubeTestServer.Options
    private let lock = NSLock()
    private var objects: [String: [String: KubeJSON]] = [:]  // storageKey -> "ns/name" -> object
    private var crdTypes: [String: [ResourceType]] = [:]  // CRD name -> types
    private var rv: Int64 = 1
    private var history: [(rv: Int64, key: String, type: WatchEventType, object: KubeJSON)] = []
    private var historyStart: Int64 = 1
    private var watchers: [Int: (filter: WatchFilter, sink: @Sendable (Data) -> Void)] = [:]
    private var nextWatcher = 0
    private var stopped = false
    private var ipCounter = 10

    init(options: KubeTestServer.Options) {
        self.options = options
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let t = BuiltinTypes.all[0]
            _ = try? createLocked(t, namespace: nil, body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]],
                                  ctx: WriteContext(manager: "kube-apiserver"))
        }
        if options.standardCRDs {
            for crd in StandardCRDs.all { _ = try? createLocked(crdType, namespace: nil, body: crd, ctx: WriteContext(manager: "kube-test-server")) }
        }
    }

    func stop() { lock.withLock { stopped = true; watchers.removeAll() } }

    /// How many watches are open (tests wait on it instead of sleeping).
    var watcherCount: Int { lock.withLock { watchers.count } }

    /// Requests being answered now (watches aside), and the most there were at once.
    private var inFlight = 0
    var peakInFlight: Int { lock.withLock { peak } }
    private var peak = 0
    func requestStarted() { lock.withLock { inFlight += 1; answered += 1; peak = max(peak, inFlight) } }
    /// Requests answered so far (watches aside).
    var answeredCount: Int { lock.withLock { answered } }
    private var answered = 0
    func requestFinished() { lock.withLock { inFlight -= 1 } }

    var crdType: ResourceType { BuiltinTypes.all.first { $0.plural == "customresourcedefinitions" }! }

    // MARK: types

    func allTypes() -> [ResourceType] {
        lock.withLock { allTypesLocked() }
    }

    private func allTypesLocked() -> [ResourceType] {
        var out = BuiltinTypes.all
        for name in crdTypes.keys.sorted() { out.append(contentsOf: crdTypes[name] ?? []) }
        return out
    }

    func type(group: String, version: String, plural: String) -> ResourceType? {
        lock.withLock { allTypesLocked().first { $0.group == group && $0.version == version && $0.plural == plural } }
    }

    func type(apiVersion: String, kind: String) -> ResourceType? {
        let parts = apiVersion.split(separator: "/").map(String.init)
        let (g, v) = parts.count == 2 ? (parts[0], parts[1]) : ("", apiVersion)
        return lock.withLock { allTypesLocked().first { $0.group == g && $0.version == v && $0.kind == kind } }
    }

    // MARK: reads

    static func objKey(_ ns: String?, _ name: String) -> String { "\(ns ?? "")/\(name)" }

    func get(_ t: ResourceType, namespace: String?, name: String) throws -> KubeJSON {
        try lock.withLock {
            guard let o = objects[t.storageKey]?[Store.objKey(namespace, name)] else { throw APIError.notFound(t, name) }
            return versioned(o, t)
        }
    }

    func peek(_ t: ResourceType, namespace: String?, name: String) -> KubeJSON? {
        lock.withLock { objects[t.storageKey]?[Store.objKey(namespace, name)] }
    }

    func list(_ t: ResourceType, namespace: String?, labels: LabelSelector?, fields: FieldSelector?) -> (items: [KubeJSON], rv: Int64) {
        lock.withLock {
            let filter = WatchFilter(storageKey: t.storageKey, namespace: namespace, labels: labels, fields: fields, apiVersion: t.groupVersion)
            let items = (objects[t.storageKey] ?? [:]).sorted { $0.key < $1.key }.map(\.value).filter { filter.matches(t.storageKey, $0) }
            return (items.map { versioned($0, t) }, rv)
        }
    }

    func currentRV() -> Int64 { lock.withLock { rv } }

    private func versioned(_ o: KubeJSON, _ t: ResourceType) -> KubeJSON {
        var o = o
        if o["apiVersion"]?.stringValue != t.groupVersion { o["apiVersion"] = .string(t.groupVersion) }
        return o
    }

    // MARK: watch

    /// Registers a watcher; returns its id and the events to send first (synthetic ADDED for the
    /// current state when no resourceVersion is given, or history after the given one).
    func watch(_ t: ResourceType, filter: WatchFilter, resourceVersion: String?, sink: @escaping @Sendable (Data) -> Void) throws -> (Int, [Data]) {
        try lock.withLock {
            var initial: [Data] = []
            if let rvString = resourceVersion, !rvString.isEmpty, rvString != "0" {
                guard let from = Int64(rvString) else { throw APIError.badRequest("invalid resource version: \(rvString)") }
                if from < historyStart - 1 {
                    throw APIError.gone("too old resource version: \(from) (\(historyStart))")
                }
                for h in history where h.rv > from && filter.matches(h.key, h.object) {
                    initial.append(Store.event(h.type, versioned(h.object, t)))
                }
            } else {
                for (_, o) in (objects[t.storageKey] ?? [:]).sorted(by: { $0.key < $1.key }) where filter.matches(t.storageKey, o) {
                    initial.append(Store.event(.added, versioned(o, t)))
                }
            }
            nextWatcher += 1
            if !stopped { watchers[nextWatcher] = (filter, sink) }
            return (nextWatcher, initial)
        }
    }

    func unwatch(_ id: Int) { lock.withLock { _ = watchers.removeValue(forKey: id) } }

    static func event(_ type: WatchEventType, _ obj: KubeJSON) -> Data {
        Data(("{\"type\":\"\(type.rawValue)\",\"object\":" + obj.serialized() + "}\n").utf8)
    }

    private func emit(_ type: WatchEventType, _ key: String, _ obj: KubeJSON) {
        let objRV = Int64(obj.at("metadata.resourceVersion")?.stringValue ?? "") ?? rv
        history.append((objRV, key, type, obj))
        if history.count > options.watchHistory {
            history.removeFirst(history.count - options.watchHistory)
            historyStart = history.first?.rv ?? rv
        }
        for (_, w) in watchers where w.filter.matches(key, obj) {
            var o = obj
            o["apiVersion"] = .string(w.filter.apiVersion)
            w.sink(Store.event(type, o))
        }
    }

    // MARK: writes

    func create(_ t: ResourceType, namespace: String?, body: KubeJSON, ctx: WriteContext) throws -> KubeJSON {
        try lock.withLock { try createLocked(t, namespace: namespace, body: body, ctx: ctx) }
    }

    private func checkNamespace(_ t: ResourceType, _ namespace: String?, name: String) throws {
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

    /// Checks and normalizes a request body for `t` (kind, apiVersion, namespace).
    private func normalizeBody(_ t: ResourceType, namespace: String?, body: KubeJSON) throws -> KubeJSON {
        guard case .object = body else { throw APIError.badRequest("the object provided is not a JSON object") }
        var b = body
        if let k = b["kind"]?.stringValue, !k.isEmpty, k != t.kind {
            throw APIError.badRequest("the API version in the data (\(b["apiVersion"]?.stringValue ?? "")) does not match the expected API version (\(t.groupVersion))")
        }
        if let av = b["apiVersion"]?.stringValue, !av.isEmpty, av != t.groupVersion,
           !(t.fromCRD && av.hasPrefix(t.group + "/")) {
            throw APIError.badRequest("the API version in the data (\(av)) does not match the expected API version (\(t.groupVersion))")
        }
        b["kind"] = .string(t.kind)
        b["apiVersion"] = .string(t.groupVersion)
        if b["metadata"]?.objectValue == nil { b["metadata"] = .object([:]) }
        if t.namespaced {
            if let bodyNS = b.at("metadata.namespace")?.stringValue, !bodyNS.isEmpty, bodyNS != namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            b.set(["metadata", "namespace"], namespace.map { .string($0) })
        } else {
            b.set(["metadata", "namespace"], nil)
        }
        return b
    }

    private func randomSuffix(_ n: Int) -> String {
        let chars = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<n).map { _ in chars.randomElement() ?? "x" })
    }

    private func createLocked(_ t: ResourceType, namespace: String?, body: KubeJSON, ctx: WriteContext,
                              managed: [ManagedEntry]? = nil) throws -> KubeJSON {
        var obj = try normalizeBody(t, namespace: namespace, body: body)
        var name = obj.at("metadata.name")?.stringValue ?? ""
        if name.isEmpty, let gen = obj.at("metadata.generateName")?.stringValue, !gen.isEmpty {
            name = gen + randomSuffix(5)
            obj.set(["metadata", "name"], .string(name))
        }
        try Store.validateName(t, name)
        try checkNamespace(t, namespace, name: name)
        if objects[t.storageKey]?[Store.objKey(namespace, name)] != nil { throw APIError.alreadyExists(t, name) }
        if t.plural == "customresourcedefinitions" { try validateCRD(obj, name: name) }
        try Store.validateWorkload(t, obj, name: name)

        obj.set(["metadata", "uid"], .string(UUID().uuidString.lowercased()))
        obj.set(["metadata", "creationTimestamp"], .string(nowRFC3339()))
        for f in ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] { obj.set(["metadata", f], nil) }
        if t.hasStatus && !(t.plural == "customresourcedefinitions") { obj["status"] = nil }
        if t.hasGeneration { obj.set(["metadata", "generation"], .int(1)) } else { obj.set(["metadata", "generation"], nil) }
        obj = applyDefaults(t, obj, old: nil)
        let entries = managed ?? updateManaged([], t: t, old: .object([:]), new: obj, ctx: ctx)
        return commit(t, namespace: namespace, name: name, old: nil, new: obj, entries: entries, ctx: ctx)
    }

    /// Kind-specific defaulting the real API server does and clients rely on.
    private func applyDefaults(_ t: ResourceType, _ o: KubeJSON, old: KubeJSON?) -> KubeJSON {
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

    private func validateCRD(_ obj: KubeJSON, name: String) throws {
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
    private func validateImmutableFields(_ t: ResourceType, name: String, old: KubeJSON, new: KubeJSON) throws {
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

    /// Stores (unless dry run), bumps resourceVersion/generation, writes managedFields, emits the event.
    private func commit(_ t: ResourceType, namespace: String?, name: String, old: KubeJSON?, new: KubeJSON,
                        entries: [ManagedEntry], ctx: WriteContext) -> KubeJSON {
        var obj = new
        if let old, t.hasGeneration {
            let gen = old.at("metadata.generation")?.intValue ?? 1
            obj.set(["metadata", "generation"], .int(specChanged(old, obj) ? gen + 1 : gen))
        }
        let pruned = entries.compactMap { e -> ManagedEntry? in
            var e = e
            e.fields = e.fields.filter { FieldManager.value(obj, $0) != nil }
            return e.fields.isEmpty ? nil : e
        }
        obj.set(["metadata", "managedFields"], pruned.isEmpty ? nil : .array(pruned.map(\.json)))
        if let old, Store.comparable(old) == Store.comparable(obj) {
            return old  // no-op write: the real server keeps the resourceVersion
        }
        let newRV = ctx.dryRun ? rv : rv + 1
        obj.set(["metadata", "resourceVersion"], .string(String(ctx.dryRun && old != nil ? (old?.at("metadata.resourceVersion")?.stringValue.flatMap { Int64($0) } ?? rv) : newRV)))
        if ctx.dryRun { return obj }
        // Finalization: an object being deleted whose finalizers are all gone disappears.
        if old != nil, obj.at("metadata.deletionTimestamp") != nil, t.plural != "namespaces",
           (obj.at("metadata.finalizers")?.arrayValue ?? []).isEmpty {
            rv = newRV
            objects[t.storageKey]?[Store.objKey(namespace, name)] = nil
            emit(.deleted, t.storageKey, obj)
            return obj
        }
        rv = newRV
        objects[t.storageKey, default: [:]][Store.objKey(namespace, name)] = obj
        emit(old == nil ? .added : .modified, t.storageKey, obj)
        if t.plural == "customresourcedefinitions" && t.group == "apiextensions.k8s.io" {
            crdTypes[name] = typesFromCRD(obj)
        }
        scheduleControllers(t, obj)
        return obj
    }

    /// An object without what changes on every write (resourceVersion, managedFields times).
    private static func comparable(_ o: KubeJSON) -> KubeJSON {
        var o = o
        o.set(["metadata", "resourceVersion"], nil)
        if let mf = o.at("metadata.managedFields")?.arrayValue {
            o.set(["metadata", "managedFields"], .array(mf.map { var e = $0; e["time"] = nil; return e }))
        }
        return o
    }

    private func specChanged(_ a: KubeJSON, _ b: KubeJSON) -> Bool {
        var a = a.objectValue ?? [:], b = b.objectValue ?? [:]
        for k in ["metadata", "status", "apiVersion", "kind"] { a[k] = nil; b[k] = nil }
        return a != b
    }

    private func fieldManager(_ t: ResourceType) -> FieldManager {
        FieldManager(builtinSchema: !t.fromCRD, hasStatus: t.hasStatus)
    }

    private func existingEntries(_ o: KubeJSON?) -> [ManagedEntry] {
        (o?.at("metadata.managedFields")?.arrayValue ?? []).compactMap(ManagedEntry.init)
    }

    /// managedFields after an Update operation by ctx.manager.
    private func updateManaged(_ entries: [ManagedEntry], t: ResourceType, old: KubeJSON, new: KubeJSON, ctx: WriteContext) -> [ManagedEntry] {
        let fm = fieldManager(t)
        let changed = fm.updatedSet(old: old, new: new, statusScope: ctx.statusScope)
        var out = entries
        let sub = ctx.statusScope ? "status" : nil
        for i in out.indices where !(out[i].manager == ctx.manager && out[i].operation == "Update" && out[i].subresource == sub) {
            out[i].fields.subtract(changed)
        }
        if let i = out.firstIndex(where: { $0.manager == ctx.manager && $0.operation == "Update" && $0.subresource == sub }) {
            if !changed.isEmpty { out[i].fields.formUnion(changed); out[i].time = nowRFC3339(); out[i].apiVersion = t.groupVersion }
        } else if !changed.isEmpty {
            out.append(ManagedEntry(manager: ctx.manager, operation: "Update", apiVersion: t.groupVersion, time: nowRFC3339(),
                                    subresource: sub, fields: changed))
        }
        return out
    }

    func update(_ t: ResourceType, namespace: String?, name: String, body: KubeJSON, ctx: WriteContext) throws -> KubeJSON {
        try lock.withLock {
            guard let old = objects[t.storageKey]?[Store.objKey(namespace, name)] else { throw APIError.notFound(t, name) }
            var b = try normalizeBody(t, namespace: namespace, body: body)
            let bodyName = b.at("metadata.name")?.stringValue ?? ""
            if bodyName.isEmpty { b.set(["metadata", "name"], .string(name)) } else if bodyName != name {
                throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            if let brv = b.at("metadata.resourceVersion")?.stringValue, !brv.isEmpty,
               brv != old.at("metadata.resourceVersion")?.stringValue {
                throw APIError.conflict(t, name)
            }
            return try updateLocked(t, namespace: namespace, name: name, old: old, proposed: b, ctx: ctx)
        }
    }

    private func updateLocked(_ t: ResourceType, namespace: String?, name: String, old: KubeJSON, proposed: KubeJSON,
                              ctx: WriteContext, managed: [ManagedEntry]? = nil) throws -> KubeJSON {
        var new: KubeJSON
        if ctx.statusScope {
            new = old
            new["status"] = proposed["status"]
        } else {
            new = proposed
            if t.hasStatus { new["status"] = old["status"] }
            for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "managedFields"] {
                new.set(["metadata", f], old.at("metadata.\(f)"))
            }
            if t.plural == "customresourcedefinitions" { try validateCRD(new, name: name) }
        }
        new.set(["metadata", "resourceVersion"], old.at("metadata.resourceVersion"))
        new = applyDefaults(t, new, old: old)
        if !ctx.statusScope {
            try Store.validateWorkload(t, new, name: name)
            try validateImmutableFields(t, name: name, old: old, new: new)
        }
        let entries = managed ?? updateManaged(existingEntries(old), t: t, old: old, new: new, ctx: ctx)
        return commit(t, namespace: namespace, name: name, old: old, new: new, entries: entries, ctx: ctx)
    }

    enum PatchKind { case merge, strategic, json, apply }

    func patch(_ t: ResourceType, namespace: String?, name: String, kind: PatchKind, patch: KubeJSON, ctx: WriteContext) throws -> KubeJSON {
        try lock.withLock {
            if kind == .apply { return try applyLocked(t, namespace: namespace, name: name, config: patch, ctx: ctx) }
            guard let old = objects[t.storageKey]?[Store.objKey(namespace, name)] else { throw APIError.notFound(t, name) }
            let patched: KubeJSON
            do {
                switch kind {
                case .merge: patched = Patch.merge(old, patch)
                case .strategic: patched = Patch.strategic(old, patch)
                case .json: patched = try Patch.jsonPatch(old, patch)
                case .apply: patched = old
                }
            } catch let e as PatchError {
                throw APIError(code: 422, reason: "Invalid", message: e.message, details: nil)
            }
            guard patched.objectValue != nil else { throw APIError.badRequest("the patch did not produce an object") }
            if let prv = patched.at("metadata.resourceVersion")?.stringValue, prv != old.at("metadata.resourceVersion")?.stringValue {
                throw APIError.conflict(t, name)
            }
            if let pn = patched.at("metadata.name")?.stringValue, pn != name {
                throw APIError.badRequest("the name of the object (\(pn)) does not match the name on the URL (\(name))")
            }
            let b = try normalizeBody(t, namespace: namespace, body: patched)
            return try updateLocked(t, namespace: namespace, name: name, old: old, proposed: b, ctx: ctx)
        }
    }

    // MARK: server-side apply

    private func applyLocked(_ t: ResourceType, namespace: String?, name: String, config: KubeJSON, ctx: WriteContext) throws -> KubeJSON {
        guard case .object = config else { throw APIError.badRequest("the body of an apply request must be an object") }
        if config["apiVersion"]?.stringValue?.isEmpty ?? true || config["kind"]?.stringValue?.isEmpty ?? true {
            throw APIError.badRequest("apiVersion and kind must be set in an apply configuration")
        }
        var applied = try normalizeBody(t, namespace: namespace, body: config)
        if let n = applied.at("metadata.name")?.stringValue, n != name {
            throw APIError.badRequest("the name of the object (\(n)) does not match the name on the URL (\(name))")
        }
        applied.set(["metadata", "name"], .string(name))
        let fm = fieldManager(t)
        let old = objects[t.storageKey]?[Store.objKey(namespace, name)]
        if old == nil { try checkNamespace(t, namespace, name: name) }
        if let old, let arv = applied.at("metadata.resourceVersion")?.stringValue, arv != old.at("metadata.resourceVersion")?.stringValue {
            throw APIError.conflict(t, name)
        }
        if ctx.statusScope {
            applied = ["status": applied["status"] ?? [:]]
        } else if t.hasStatus {
            applied["status"] = nil
        }
        let newSet = fm.appliedSet(applied, statusScope: ctx.statusScope)
        var entries = existingEntries(old)
        let sub: String? = ctx.statusScope ? "status" : nil
        let mine = entries.firstIndex { $0.manager == ctx.manager && $0.operation == "Apply" && $0.subresource == sub }
        let live = old ?? .object([:])

        // Conflicts: a field another manager owns, set here to a different value.
        var conflicts: [(entry: Int, path: FieldPath)] = []
        for (i, e) in entries.enumerated() where i != mine {
            for p in e.fields.intersection(newSet) {
                let lv = FieldManager.value(live, p), av = FieldManager.value(applied, p)
                if case .object = av ?? .null { continue }
                if lv != nil && lv != av { conflicts.append((i, p)) }
            }
        }
        if !conflicts.isEmpty {
            if !ctx.force { throw applyConflictError(conflicts.map { (entries[$0.entry], $0.path) }) }
            for c in conflicts { entries[c.entry].fields.remove(c.path) }
        }

        // Merge, then remove what this manager applied before, no longer applies, and nobody else owns.
        let base = old.map { o -> KubeJSON in var o = o; if ctx.statusScope == false, t.hasStatus { o["status"] = nil }; return o } ?? .object([:])
        var result = fm.applyMerge(base, applied)
        if let mine {
            let others = entries.enumerated().filter { $0.offset != mine }.reduce(into: Set<FieldPath>()) { $0.formUnion($1.element.fields) }
            for p in entries[mine].fields.subtracting(newSet).subtracting(others).sorted(by: { $0.count > $1.count }) {
                result = FieldManager.removing(result, p[...])
            }
        }
        if t.hasStatus && !ctx.statusScope { result["status"] = old?["status"] }
        if ctx.statusScope, let old { var r = old; r["status"] = result["status"]; result = r }

        let entry = ManagedEntry(manager: ctx.manager, operation: "Apply", apiVersion: t.groupVersion, time: nowRFC3339(),
                                 subresource: sub, fields: newSet)
        if let mine { entries[mine] = entry } else { entries.append(entry) }

        if let old {
            var proposed = result
            proposed.set(["metadata", "managedFields"], nil)
            return try updateLocked(t, namespace: namespace, name: name, old: old, proposed: proposed, ctx: ctx, managed: entries)
        }
        return try createLocked(t, namespace: namespace, body: result, ctx: ctx, managed: entries)
    }

    private func applyConflictError(_ conflicts: [(ManagedEntry, FieldPath)]) -> APIError {
        var byManager: [String: [FieldPath]] = [:]
        for (e, p) in conflicts { byManager[e.conflictName, default: []].append(p) }
        let parts = byManager.keys.sorted().map { m -> String in
            let paths = (byManager[m] ?? []).map(displayPath).sorted()
            if paths.count == 1 { return "conflict with \(m): \(paths[0])" }
            return "conflicts with \(m):" + paths.map { "\n- \($0)" }.joined()
        }
        let n = conflicts.count
        let message = "Apply failed with \(n) conflict\(n == 1 ? "" : "s"): " + parts.joined(separator: "\n")
        let causes: [KubeJSON] = conflicts.map { e, p in
            ["reason": "FieldManagerConflict", "message": .string("conflict with \(e.conflictName)"), "field": .string(displayPath(p))]
        }
        return APIError(code: 409, reason: "Conflict", message: message, details: ["causes": .array(causes)])
    }

    // MARK: delete

    /// Deletes; returns the object and whether it is already gone (false: pending finalizers/termination).
    func delete(_ t: ResourceType, namespace: String?, name: String, ctx: WriteContext, preconditionRV: String? = nil,
                preconditionUID: String? = nil) throws -> (KubeJSON, Bool) {
        try lock.withLock { try deleteLocked(t, namespace: namespace, name: name, ctx: ctx, preconditionRV: preconditionRV, preconditionUID: preconditionUID) }
    }

    private func deleteLocked(_ t: ResourceType, namespace: String?, name: String, ctx: WriteContext, preconditionRV: String? = nil,
                              preconditionUID: String? = nil) throws -> (KubeJSON, Bool) {
        guard var obj = objects[t.storageKey]?[Store.objKey(namespace, name)] else { throw APIError.notFound(t, name) }
        if let p = preconditionRV, p != obj.at("metadata.resourceVersion")?.stringValue { throw APIError.conflict(t, name) }
        if let p = preconditionUID, p != obj.at("metadata.uid")?.stringValue { throw APIError.conflict(t, name) }
        let pending = t.plural == "namespaces" && t.group.isEmpty || !(obj.at("metadata.finalizers")?.arrayValue ?? []).isEmpty
        if pending {
            if obj.at("metadata.deletionTimestamp") != nil { return (versioned(obj, t), false) }
            obj.set(["metadata", "deletionTimestamp"], .string(nowRFC3339()))
            obj.set(["metadata", "deletionGracePeriodSeconds"], .int(0))
            if t.plural == "namespaces" { obj.set(["status", "phase"], "Terminating") }
            if ctx.dryRun { return (obj, false) }
            rv += 1
            obj.set(["metadata", "resourceVersion"], .string(String(rv)))
            objects[t.storageKey]?[Store.objKey(namespace, name)] = obj
            emit(.modified, t.storageKey, obj)
            if t.plural == "namespaces" {
                let delay = options.namespaceDeletionDelay
                DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in self?.finalizeNamespace(name) }
            }
            return (versioned(obj, t), false)
        }
        if ctx.dryRun { return (versioned(obj, t), true) }
        removeLocked(t.storageKey, namespace, name, orphanDependents: ctx.orphanDependents)
        if t.plural == "customresourcedefinitions" && t.group == "apiextensions.k8s.io" {
            if let group = obj.at("spec.group")?.stringValue, let plural = obj.at("spec.names.plural")?.stringValue {
                for (_, o) in objects["\(group)/\(plural)"] ?? [:] {
                    removeLocked("\(group)/\(plural)", o.at("metadata.namespace")?.stringValue, o.at("metadata.name")?.stringValue ?? "")
                }
            }
            crdTypes[name] = nil
        }
        obj.set(["metadata", "resourceVersion"], .string(String(rv)))
        return (versioned(obj, t), true)
    }

    private func removeLocked(_ key: String, _ namespace: String?, _ name: String, orphanDependents: Bool = false) {
        guard var obj = objects[key]?[Store.objKey(namespace, name)] else { return }
        objects[key]?[Store.objKey(namespace, name)] = nil
        rv += 1
        obj.set(["metadata", "resourceVersion"], .string(String(rv)))
        emit(.deleted, key, obj)
        if !orphanDependents, let uid = obj.at("metadata.uid")?.stringValue { collectGarbage(owner: uid) }
    }

    /// The garbage collector: objects whose ownerReferences name a deleted owner go too (and
    /// theirs, in turn) — a Deployment's ReplicaSets, a release's objects' children.
    private func collectGarbage(owner uid: String) {
        var dependents: [(String, String?, String)] = []
        for (key, bucket) in objects {
            for (_, o) in bucket where (o.at("metadata.ownerReferences")?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid }) {
                dependents.append((key, o.at("metadata.namespace")?.stringValue, o.at("metadata.name")?.stringValue ?? ""))
            }
        }
        for (key, namespace, name) in dependents.sorted(by: { ($0.0, $0.2) < ($1.0, $1.2) }) { removeLocked(key, namespace, name) }
    }

    func deleteCollection(_ t: ResourceType, namespace: String?, labels: LabelSelector?, fields: FieldSelector?, ctx: WriteContext) throws -> [KubeJSON] {
        let items = list(t, namespace: namespace, labels: labels, fields: fields).items
        var out: [KubeJSON] = []
        for i in items {
            if let n = i.at("metadata.name")?.stringValue,
               let (o, _) = try? delete(t, namespace: i.at("metadata.namespace")?.stringValue, name: n, ctx: ctx) { out.append(o) }
        }
        return out
    }

    private func finalizeNamespace(_ name: String) {
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

    // MARK: direct edits (test hooks) and simulated controllers

    /// Replaces an object's status as a controller would (status subresource write by `manager`).
    func setStatus(_ t: ResourceType, namespace: String?, name: String, status: KubeJSON, manager: String) throws -> KubeJSON {
        try lock.withLock {
            guard let old = objects[t.storageKey]?[Store.objKey(namespace, name)] else { throw APIError.notFound(t, name) }
            var new = old
            new["status"] = status
            return try updateLocked(t, namespace: namespace, name: name, old: old, proposed: new,
                                    ctx: WriteContext(manager: manager, statusScope: true))
        }
    }

    /// Mutates a stored object in place (as an Update by `manager`).
    func mutate(_ t: ResourceType, namespace: String?, name: String, manager: String, _ body: (inout KubeJSON) -> Void) throws -> KubeJSON {
        try lock.withLock {
            guard let old = objects[t.storageKey]?[Store.objKey(namespace, name)] else { throw APIError.notFound(t, name) }
            var new = old
            body(&new)
            var ctx = WriteContext(manager: manager)
            if t.hasStatus && new["status"] != old["status"] {
                var st = old
                st["status"] = new["status"]
                ctx.statusScope = true
                let updated = try updateLocked(t, namespace: namespace, name: name, old: old, proposed: st, ctx: ctx)
                ctx.statusScope = false
                new.set(["metadata", "resourceVersion"], updated.at("metadata.resourceVersion"))
                new["status"] = updated["status"]
                return try updateLocked(t, namespace: namespace, name: name, old: updated, proposed: new, ctx: ctx)
            }
            return try updateLocked(t, namespace: namespace, name: name, old: old, proposed: new, ctx: ctx)
        }
    }

    private func scheduleControllers(_ t: ResourceType, _ obj: KubeJSON) {
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
            if obj.at("status.phase")?.stringValue == "Pending" { delay = options.workloadReadyDelay }
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
    /// older ones scaled to zero. (`helm --wait` and `kubectl rollout status` look for it.)
    private func reconcileReplicaSet(of deployment: KubeJSON) {
        guard let t = BuiltinTypes.all.first(where: { $0.group == "apps" && $0.plural == "replicasets" }),
              let namespace = deployment.at("metadata.namespace")?.stringValue,
              let name = deployment.at("metadata.name")?.stringValue,
              let uid = deployment.at("metadata.uid")?.stringValue else { return }
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
        lock.withLock {
            guard !stopped else { return }
            for (_, rs) in objects[t.storageKey] ?? [:] where rs.at("metadata.namespace")?.stringValue == namespace
                && (rs.at("metadata.ownerReferences")?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid })
                && rs.at("metadata.name")?.stringValue != current {
                var old = rs
                old.set(["spec", "replicas"], 0)
                old["status"] = ["replicas": 0, "observedGeneration": old.at("metadata.generation") ?? 1]
                _ = try? updateLocked(t, namespace: namespace, name: old.at("metadata.name")?.stringValue ?? "", old: rs,
                                      proposed: old, ctx: WriteContext(manager: "kube-test-server-controller"))
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
            guard let stored else { return }
            let status: KubeJSON = ["replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                                    "availableReplicas": replicas, "observedGeneration": stored.at("metadata.generation") ?? 1]
            var ready = stored
            ready["status"] = status
            _ = try? updateLocked(t, namespace: namespace, name: current, old: stored, proposed: ready,
                                  ctx: WriteContext(manager: "kube-test-server-controller", statusScope: true))
        }
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

    private func runController(_ t: ResourceType, namespace: String?, name: String, uid: String?) {
        guard let obj = lock.withLock({ stopped ? nil : objects[t.storageKey]?[Store.objKey(namespace, name)] }),
              obj.at("metadata.uid")?.stringValue == uid else { return }
        var status = obj["status"]?.objectValue ?? [:]
        switch (t.group, t.plural) {
        case ("", "services"):
            let host = "\(name)-\(namespace ?? "default").lb.kube-test-server.local"
            status["loadBalancer"] = ["ingress": [["hostname": .string(host)]]]
        case ("apps", "daemonsets"):
            status["observedGeneration"] = obj.at("metadata.generation") ?? 1
            for f in ["desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled", "numberAvailable"] { status[f] = 1 }
        case ("apps", _):
            let replicas = obj.at("spec.replicas") ?? 1
            status["observedGeneration"] = obj.at("metadata.generation") ?? 1
            for f in ["replicas", "readyReplicas", "updatedReplicas", "availableReplicas"] { status[f] = replicas }
            if t.plural == "statefulsets" {
                status["currentReplicas"] = replicas
                status["currentRevision"] = .string("\(name)-1")
                status["updateRevision"] = .string("\(name)-1")
            }
            if t.plural == "deployments" {
                let now = KubeJSON.string(nowRFC3339())
                status["conditions"] = [
                    ["type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now],
                    ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": .string("ReplicaSet \"\(name)\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now],
                ]
            }
        case ("", "persistentvolumeclaims"):
            status["phase"] = "Bound"
            status["accessModes"] = obj.at("spec.accessModes") ?? ["ReadWriteOnce"]
            if let storage = obj.at("spec.resources.requests.storage") { status["capacity"] = ["storage": storage] }
        case ("", "pods"):
            status["phase"] = "Running"
            status["podIP"] = "10.244.0.10"
            status["conditions"] = [["type": "Ready", "status": "True"], ["type": "ContainersReady", "status": "True"]]
        default: return
        }
        _ = try? setStatus(t, namespace: namespace, name: name, status: .object(status), manager: "kube-test-server-controller")
        if t.group == "apps" && t.plural == "deployments" { reconcileReplicaSet(of: obj) }
        if t.plural == "persistentvolumeclaims" {
            _ = try? mutate(t, namespace: namespace, name: name, manager: "kube-test-server-controller") { o in
                if o.at("spec.volumeName") == nil { o.set(["spec", "volumeName"], .string("pvc-\(uid ?? name)")) }
            }
        }
    }
}

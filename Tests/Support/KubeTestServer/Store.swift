// The object store's data and its reads: every object, the resourceVersion counter, the served types.
// Writes, watches, admission, apply and controllers are extensions in their own files.
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

func nowRFC3339() -> String { Date().formatted(.iso8601) }

/// The object store: every resource, the resourceVersion counter, the event history and the watchers.
/// Lock-protected; callers never hold the lock across I/O (watch sinks only enqueue).
final class Store: @unchecked Sendable {
    let options: KubeTestServer.Options
    let lock = NSLock()
    var objects: [String: [String: KubeJSON]] = [:]  // storageKey -> "ns/name" -> object
    var crdTypes: [String: [ResourceType]] = [:]  // CRD name -> types
    var rv: Int64 = 1
    var history: [(rv: Int64, key: String, type: WatchEventType, object: KubeJSON)] = []
    var historyStart: Int64 = 1
    var watchers: [Int: (filter: WatchFilter, sink: @Sendable (Data) -> Void)] = [:]
    var nextWatcher = 0
    var stopped = false
    var ipCounter = 10
    var podIPCounter = 9
    /// Outcomes tests scripted for pods, by namespace (nil: any) and name prefix; the last match wins.
    var podScripts: [(namespace: String?, prefix: String, outcome: PodOutcome)] = []

    init(options: KubeTestServer.Options) {
        self.options = options
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let t = BuiltinTypes.all[0]
            _ = try? createLocked(t, namespace: nil, body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]],
                                  ctx: WriteContext(manager: "kube-apiserver"))
        }
        if options.defaultStorageClass {
            _ = try? createLocked(BuiltinTypes.named("storage.k8s.io/storageclasses"), namespace: nil, body: Store.standardStorageClass,
                                  ctx: WriteContext(manager: "kube-test-server"))
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

    func allTypesLocked() -> [ResourceType] {
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

    func versioned(_ o: KubeJSON, _ t: ResourceType) -> KubeJSON {
        var o = o
        if o["apiVersion"]?.stringValue != t.groupVersion { o["apiVersion"] = .string(t.groupVersion) }
        return o
    }

}

// Watches: the event history, the open watchers and what each is sent.
import Foundation

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

extension Store {
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

    func emit(_ type: WatchEventType, _ key: String, _ obj: KubeJSON) {
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

}

// Server-side apply and managedFields bookkeeping for every write (FieldManager.swift holds the field sets).
import Foundation

extension Store {
    // MARK: server-side apply

    func applyLocked(_ t: ResourceType, namespace: String?, name: String, config: KubeJSON, ctx: WriteContext) throws -> KubeJSON {
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

    func applyConflictError(_ conflicts: [(ManagedEntry, FieldPath)]) -> APIError {
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

    func fieldManager(_ t: ResourceType) -> FieldManager {
        FieldManager(builtinSchema: !t.fromCRD, hasStatus: t.hasStatus)
    }

    func existingEntries(_ o: KubeJSON?) -> [ManagedEntry] {
        (o?.at("metadata.managedFields")?.arrayValue ?? []).compactMap(ManagedEntry.init)
    }

    /// managedFields after an Update operation by ctx.manager.
    func updateManaged(_ entries: [ManagedEntry], t: ResourceType, old: KubeJSON, new: KubeJSON, ctx: WriteContext) -> [ManagedEntry] {
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
}

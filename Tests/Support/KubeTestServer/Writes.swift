// Writes: create, update, patch, delete and the commit that stores them (resourceVersion,
// generation, managedFields, events); the test hooks setStatus and mutate.
import Foundation

extension Store {
    // MARK: writes

    func create(_ t: ResourceType, namespace: String?, body: KubeJSON, ctx: WriteContext) throws -> KubeJSON {
        try lock.withLock { try createLocked(t, namespace: namespace, body: body, ctx: ctx) }
    }

    /// Checks and normalizes a request body for `t` (kind, apiVersion, namespace).
    func normalizeBody(_ t: ResourceType, namespace: String?, body: KubeJSON) throws -> KubeJSON {
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

    func randomSuffix(_ n: Int) -> String {
        let chars = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<n).map { _ in chars.randomElement() ?? "x" })
    }

    func createLocked(_ t: ResourceType, namespace: String?, body: KubeJSON, ctx: WriteContext,
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
        obj = try admitCreate(t, obj, namespace: namespace, name: name)
        let entries = managed ?? updateManaged([], t: t, old: .object([:]), new: obj, ctx: ctx)
        return commit(t, namespace: namespace, name: name, old: nil, new: obj, entries: entries, ctx: ctx)
    }

    /// Stores (unless dry run), bumps resourceVersion/generation, writes managedFields, emits the event.
    func commit(_ t: ResourceType, namespace: String?, name: String, old: KubeJSON?, new: KubeJSON,
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
            removed(t.storageKey, obj)
            return obj
        }
        rv = newRV
        objects[t.storageKey, default: [:]][Store.objKey(namespace, name)] = obj
        emit(old == nil ? .added : .modified, t.storageKey, obj)
        if t.plural == "customresourcedefinitions" && t.group == "apiextensions.k8s.io" {
            crdTypes[name] = typesFromCRD(obj)
        }
        scheduleControllers(t, obj)
        if let namespace, affectsQuotas(t.storageKey, namespace: namespace, statusWrite: ctx.statusScope) { refreshQuotas(namespace: namespace) }
        return obj
    }

    /// An object without what changes on every write (resourceVersion, managedFields times).
    static func comparable(_ o: KubeJSON) -> KubeJSON {
        var o = o
        o.set(["metadata", "resourceVersion"], nil)
        if let mf = o.at("metadata.managedFields")?.arrayValue {
            o.set(["metadata", "managedFields"], .array(mf.map { var e = $0; e["time"] = nil; return e }))
        }
        return o
    }

    func specChanged(_ a: KubeJSON, _ b: KubeJSON) -> Bool {
        var a = a.objectValue ?? [:], b = b.objectValue ?? [:]
        for k in ["metadata", "status", "apiVersion", "kind"] { a[k] = nil; b[k] = nil }
        return a != b
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

    func updateLocked(_ t: ResourceType, namespace: String?, name: String, old: KubeJSON, proposed: KubeJSON,
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

    // MARK: delete

    /// Deletes; returns the object and whether it is already gone (false: pending finalizers/termination).
    func delete(_ t: ResourceType, namespace: String?, name: String, ctx: WriteContext, preconditionRV: String? = nil,
                preconditionUID: String? = nil) throws -> (KubeJSON, Bool) {
        try lock.withLock { try deleteLocked(t, namespace: namespace, name: name, ctx: ctx, preconditionRV: preconditionRV, preconditionUID: preconditionUID) }
    }

    func deleteLocked(_ t: ResourceType, namespace: String?, name: String, ctx: WriteContext, preconditionRV: String? = nil,
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

    func removeLocked(_ key: String, _ namespace: String?, _ name: String, orphanDependents: Bool = false) {
        guard var obj = objects[key]?[Store.objKey(namespace, name)] else { return }
        objects[key]?[Store.objKey(namespace, name)] = nil
        rv += 1
        obj.set(["metadata", "resourceVersion"], .string(String(rv)))
        emit(.deleted, key, obj)
        if !orphanDependents, let uid = obj.at("metadata.uid")?.stringValue { collectGarbage(owner: uid) }
        removed(key, obj)
    }

    /// What the controllers do once an object is gone: a claim's volume is reclaimed, the
    /// namespace's quotas count one less.
    func removed(_ key: String, _ obj: KubeJSON) {
        if key == "/persistentvolumeclaims" { reclaimVolume(of: obj) }
        if let namespace = obj.at("metadata.namespace")?.stringValue, affectsQuotas(key, namespace: namespace, statusWrite: false) {
            refreshQuotas(namespace: namespace)
        }
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

    // MARK: direct edits (test hooks)

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
}

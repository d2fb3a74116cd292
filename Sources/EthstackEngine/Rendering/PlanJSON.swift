import EthstackModel
/// The machine-readable plan (`ethstack plan --json`). Versioned: `format_version` changes its
/// major number when a field changes meaning. Documented in README.md, "JSON plan format".
/// Sensitive values are written as null with `*_sensitive` marking where they were; unknown values
/// as null with `after_unknown` marking them.
public enum PlanJSON {
    public static let version = "0.1.0"

    public static func render(_ plan: Plan) -> String { value(plan).jsonString(pretty: true) }

    /// The plan as a JSON value, for outputs that add sections to it (lint, cost).
    public static func value(_ plan: Plan) -> Value {
        var root: [String: Value] = [
            "format_version": .string(Plan.formatVersion),
            "ethstack_version": .string(version),
            "stack": .string(plan.stack),
            "destroy": .bool(plan.destroy),
            "state": .map(["lineage": plan.lineage.map(Value.string) ?? .null, "serial": .number(Double(plan.serial))]),
        ]
        root["resource_changes"] = .list(plan.changes.map(change))
        var outputs: [String: Value] = [:]
        for o in plan.outputChanges {
            outputs[o.name] = .map([
                "actions": .list(actions(o.action, createBeforeDestroy: false)),
                "before": o.sensitive ? .null : scrub(o.before ?? .null),
                "after": o.sensitive ? .null : scrub(o.after ?? .null),
                "after_unknown": .bool(o.after?.containsUnknown ?? false),
                "sensitive": .bool(o.sensitive),
            ])
        }
        root["output_changes"] = .map(outputs)
        root["resource_drift"] = .list(plan.drift.map { d in
            .map([
                "address": .string(d.address.description),
                "type": .string(d.type),
                "kind": .string(d.kind.rawValue),
                "attributes": .list(d.attributes.map(Value.string)),
                "before": scrub(.map(d.before)),
                "after": d.after.map { scrub(.map($0)) } ?? .null,
            ])
        })
        root["summary"] = .map(["import": .number(Double(plan.toImport)), "add": .number(Double(plan.toAdd)), "change": .number(Double(plan.toChange)),
                                "destroy": .number(Double(plan.toDestroy))])
        root["warnings"] = .list(plan.warnings.map(Value.string))
        root["violations"] = .list(plan.violations.map {
            .map(["address": .string($0.address.description), "action": .string($0.action.rawValue),
                  "rule": .string($0.rule.rawValue), "message": .string($0.message)])
        })
        return Value.map(root)
    }

    static func actions(_ action: ChangeAction, createBeforeDestroy: Bool) -> [Value] {
        switch action {
        case .create: return ["create"]
        case .update: return ["update"]
        case .delete: return ["delete"]
        case .noop: return ["no-op"]
        case .replace: return createBeforeDestroy ? ["create", "delete"] : ["delete", "create"]
        }
    }

    static func change(_ c: ResourceChange) -> Value {
        var change: [String: Value] = [
            "actions": .list(actions(c.action, createBeforeDestroy: c.createBeforeDestroy)),
            "before": c.before.map { scrub(.map($0)) } ?? .null,
            "after": c.after.map { scrub(.map($0)) } ?? .null,
            "after_unknown": c.after.map { unknownMask(.map($0)) } ?? .map([:]),
            "before_sensitive": c.before.map { sensitiveMask(.map($0)) } ?? .bool(false),
            "after_sensitive": c.after.map { sensitiveMask(.map($0)) } ?? .bool(false),
        ]
        // As Terraform: an object an `import:` entry adopts carries `importing.id`.
        if let id = c.importID { change["importing"] = .map(["id": .string(id)]) }
        if !c.replacePaths.isEmpty { change["replace_paths"] = .list(c.replacePaths.map { .list([.string($0)]) }) }
        var out: [String: Value] = [
            "address": .string(c.address.description),
            "name": .string(c.address.name),
            "type": .string(c.type),
            "provider": .string(c.provider),
            "change": .map(change),
        ]
        if let key = c.address.key { out["index"] = key.value }
        if let reason = c.reason { out["action_reason"] = .string(reason.rawValue) }
        // The provider's own words on a replacement ("the API server cannot change parameters in place: …").
        if let note = c.note { out["action_reason_detail"] = .string(note) }
        return .map(out)
    }

    /// The value with sensitive parts and unknowns replaced by null.
    public static func scrub(_ v: Value) -> Value {
        switch v {
        case .sensitive, .unknown: return .null
        case .list(let l): return .list(l.map(scrub))
        case .map(let m): return .map(m.mapValues(scrub))
        default: return v
        }
    }

    static func unknownMask(_ v: Value) -> Value {
        switch v {
        case .unknown: return .bool(true)
        case .sensitive(let inner): return unknownMask(inner)
        case .list(let l): return .list(l.map(unknownMask))
        case .map(let m):
            var out: [String: Value] = [:]
            for (k, x) in m where x.containsUnknown { out[k] = unknownMask(x) }
            return .map(out)
        default: return .bool(false)
        }
    }

    static func sensitiveMask(_ v: Value) -> Value {
        switch v {
        case .sensitive: return .bool(true)
        case .list(let l): return .list(l.map(sensitiveMask))
        case .map(let m):
            var out: [String: Value] = [:]
            for (k, x) in m where x.containsSensitive { out[k] = sensitiveMask(x) }
            return .map(out)
        default: return .bool(false)
        }
    }
}

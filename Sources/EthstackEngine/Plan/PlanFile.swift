import Crypto
import Foundation
import EthstackModel

/// A saved plan (`ethstack plan --out F`): the plan bound to the stack file's hash and to the
/// lineage and serial of the state it was made from. Sensitive variable values are not written:
/// only their hashes, and `apply F` needs them supplied again.
public enum PlanFile {
    public static let kind = "ethstack-plan"

    public static func write(_ plan: Plan, targets: [ResourceAddress], replace: [ResourceAddress], to path: String) throws {
        var variables: [String: Value] = [:]
        var sensitiveHashes: [String: Value] = [:]
        for (name, v) in plan.variables {
            if v.containsSensitive { sensitiveHashes[name] = .string(hash(v)) } else { variables[name] = v }
        }
        let root: Value = .map([
            "kind": .string(kind),
            "format_version": .string(Plan.formatVersion),
            "stack": .string(plan.stack),
            "stack_file": .string(plan.stackFile),
            "stack_hash": .string(plan.stackHash),
            "lineage": plan.lineage.map(Value.string) ?? .null,
            "serial": .number(Double(plan.serial)),
            "destroy": .bool(plan.destroy),
            "variables": .map(variables.mapValues(tag)),
            "sensitive_variable_hashes": .map(sensitiveHashes),
            "targets": .list(targets.map { .string($0.description) }),
            "replace": .list(replace.map { .string($0.description) }),
            "changes": .list(plan.changes.map(encode)),
            "forget": .list(plan.forget.map { .string($0.description) }),
            "violations": .list(plan.violations.map { v in
                .map(["address": .string(v.address.description), "action": .string(v.action.rawValue),
                      "rule": .string(v.rule.rawValue)])
            }),
        ])
        let data = Data(root.jsonString(pretty: true).utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw DiagnosticsError([.error(nil, "cannot write plan file \(path): \(String(cString: strerror(errno)))")]) }
        defer { close(fd) }
        let ok = data.withUnsafeBytes { buffer in
            Foundation.write(fd, buffer.baseAddress, buffer.count) == buffer.count
        }
        if !ok { throw DiagnosticsError([.error(nil, "cannot write plan file \(path): \(String(cString: strerror(errno)))")]) }
    }

    public struct Saved: Sendable {
        public var plan: Plan
        public var sensitiveVariableHashes: [String: String]
        public var targets: [ResourceAddress]
        public var replace: [ResourceAddress]
    }

    public static func read(_ path: String) throws -> Saved {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticsError([.error(nil, "cannot read plan file \(path)")])
        }
        guard let root = try? Value.parseJSON(data), root["kind"]?.stringValue == kind else {
            throw DiagnosticsError([.error(nil, "\(path) is not an ethstack plan file")])
        }
        guard root["format_version"]?.stringValue == Plan.formatVersion else {
            throw DiagnosticsError([.error(nil, "\(path) has plan format \(root["format_version"]?.stringValue ?? "?"); this ethstack reads \(Plan.formatVersion)")])
        }
        func bad(_ what: String) -> DiagnosticsError { DiagnosticsError([.error(nil, "\(path): invalid plan file (\(what))")]) }
        guard let stack = root["stack"]?.stringValue, let stackFile = root["stack_file"]?.stringValue,
              let stackHash = root["stack_hash"]?.stringValue, let serial = root["serial"]?.intValue,
              let changeList = root["changes"]?.listValue else { throw bad("missing fields") }
        var changes: [ResourceChange] = []
        for c in changeList {
            guard let change = decode(c) else { throw bad("a change cannot be read") }
            changes.append(change)
        }
        var plan = Plan(stack: stack, stackFile: stackFile, stackHash: stackHash, lineage: root["lineage"]?.stringValue,
                        serial: serial, destroy: root["destroy"]?.boolValue ?? false,
                        variables: (root["variables"]?.mapValue ?? [:]).mapValues(untag), changes: changes,
                        outputChanges: [], drift: [], recovered: [], warnings: [])
        plan.forget = (root["forget"]?.listValue ?? []).compactMap { $0.stringValue.flatMap(ResourceAddress.init) }
        for v in root["violations"]?.listValue ?? [] {
            // A rule this ethstack does not know still forbids the plan: refuse rather than drop it.
            guard let a = v["address"]?.stringValue, let address = ResourceAddress(a),
                  let action = v["action"]?.stringValue.flatMap(ChangeAction.init(rawValue:)),
                  let rule = v["rule"]?.stringValue.flatMap(PlanViolation.Rule.init(rawValue:)) else {
                throw bad("a violation cannot be read: \(v.jsonString())")
            }
            plan.violations.append(PlanViolation(address: address, action: action, rule: rule))
        }
        return Saved(plan: plan,
                     sensitiveVariableHashes: (root["sensitive_variable_hashes"]?.mapValue ?? [:]).compactMapValues(\.stringValue),
                     targets: (root["targets"]?.listValue ?? []).compactMap { $0.stringValue.flatMap(ResourceAddress.init) },
                     replace: (root["replace"]?.listValue ?? []).compactMap { $0.stringValue.flatMap(ResourceAddress.init) })
    }

    public static func hash(_ v: Value) -> String {
        SHA256.hash(data: Data(v.deepUnmarked.jsonString().utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Unknown and sensitive survive the round trip as tagged maps; sensitive content is not written.
    static func tag(_ v: Value) -> Value {
        switch v {
        case .unknown: return .map(["$ethstack": "unknown"])
        case .sensitive: return .map(["$ethstack": "sensitive"])
        case .list(let l): return .list(l.map(tag))
        case .map(let m): return .map(m.mapValues(tag))
        default: return v
        }
    }

    static func untag(_ v: Value) -> Value {
        switch v {
        case .map(let m):
            if m.count == 1, let t = m["$ethstack"]?.stringValue {
                // A saved plan never holds a secret: its value is not known from the file.
                return t == "unknown" ? .unknown : .sensitive(.unknown)
            }
            return .map(m.mapValues(untag))
        case .list(let l): return .list(l.map(untag))
        default: return v
        }
    }

    static func encode(_ c: ResourceChange) -> Value {
        var m: [String: Value] = [
            "address": .string(c.address.description),
            "type": .string(c.type),
            "provider": .string(c.provider),
            "action": .string(c.action.rawValue),
            "reason": c.reason.map { .string($0.rawValue) } ?? .null,
            "replace_paths": .list(c.replacePaths.map(Value.string)),
            "before": c.before.map { tag(.map($0)) } ?? .null,
            "after": c.after.map { tag(.map($0)) } ?? .null,
            "create_before_destroy": .bool(c.createBeforeDestroy),
            "depends_on": .list(c.dependsOn.map(Value.string)),
            "prior_id": c.priorID.map(Value.string) ?? .null,
            "schema_version": .number(Double(c.schemaVersion)),
        ]
        if let id = c.importID { m["import_id"] = .string(id) }
        return .map(m)
    }

    static func decode(_ v: Value) -> ResourceChange? {
        guard let a = v["address"]?.stringValue, let address = ResourceAddress(a), let type = v["type"]?.stringValue,
              let provider = v["provider"]?.stringValue, let actionText = v["action"]?.stringValue,
              let action = ChangeAction(rawValue: actionText) else { return nil }
        var change = ResourceChange(address: address, type: type, provider: provider, action: action,
                              reason: v["reason"]?.stringValue.flatMap(ChangeReason.init(rawValue:)),
                              replacePaths: (v["replace_paths"]?.listValue ?? []).compactMap(\.stringValue),
                              before: v["before"].flatMap { untag($0).mapValue }, after: v["after"].flatMap { untag($0).mapValue },
                              createBeforeDestroy: v["create_before_destroy"]?.boolValue ?? false,
                              dependsOn: (v["depends_on"]?.listValue ?? []).compactMap(\.stringValue),
                              priorID: v["prior_id"]?.stringValue, schemaVersion: v["schema_version"]?.intValue ?? 1)
        change.importID = v["import_id"]?.stringValue
        return change
    }
}

import Foundation
import EthstackModel

/// What `ethstack drift` reports, built from a plan: per resource, each attribute path a person
/// changed outside ethstack (before → after), objects deleted behind its back, drift the stack
/// expects (`drift: { ignore: … }`, with its reason), and — apart, because it is not drift —
/// how many changes the stack has that were never applied. Rendered as text, JSON, Markdown or SARIF.
public struct DriftReport: Sendable {
    /// `format_version` of the JSON; its major number changes when a field changes meaning.
    public static let formatVersion = "2.0"

    public struct AttributeChange: Sendable {
        /// Dotted path to the leaf that changed: `content`, `manifest.data.key`, `tags.owner`.
        public var path: String
        public var before: Value?
        public var after: Value?
    }

    public struct Finding: Sendable {
        public var address: ResourceAddress
        public var type: String
        public var kind: DriftEntry.Kind
        public var changes: [AttributeChange]
        /// Changes the stack's `drift.ignore` covers, with its reason.
        public var ignored: [AttributeChange]
        public var ignoreReason: String?
        /// Before and after of the changed top-level attributes, for the text rendering.
        var entry: DriftEntry
    }

    public var stack: String
    /// Resources with drift that is not ignored.
    public var findings: [Finding]
    /// Resources whose drift is all ignored.
    public var ignored: [Finding]
    /// Changes the stack would make that no drift explains: edits not applied yet.
    public var pendingChanges: [ResourceAddress]
    public var warnings: [String]
    /// Objects with the stack's mark, or inside its VPCs and namespaces, that state does not record.
    public var unmanaged: [UnmanagedObject] = []

    public var hasDrift: Bool { !findings.isEmpty || !unmanaged.isEmpty }

    public init(plan: Plan, stack: StackDeclaration, now: Date = Date()) {
        self.stack = plan.stack
        var findings: [Finding] = []
        var ignored: [Finding] = []
        var warnings: [String] = []
        let declarations = Dictionary(stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for d in plan.drift {
            var rule = declarations[d.address.name]?.driftIgnore
            if let r = rule, r.expired(at: now) {
                warnings.append("\(r.location): the drift.ignore of \(d.address) expired on \(r.until ?? ""); its drift is reported again")
                rule = nil
            }
            var changes: [AttributeChange] = []
            for name in d.attributes {
                Self.leaves(name, d.before[name], d.after?[name], into: &changes)
            }
            let (hidden, shown) = changes.partitioned { rule?.ignores($0.path) ?? false }
            let finding = Finding(address: d.address, type: d.type, kind: d.kind, changes: shown, ignored: hidden,
                                  ignoreReason: hidden.isEmpty ? nil : rule?.reason, entry: d)
            if d.kind == .deleted || !shown.isEmpty { findings.append(finding) } else { ignored.append(finding) }
        }
        self.findings = findings
        self.ignored = ignored
        let drifted = Set(plan.drift.map(\.address))
        pendingChanges = plan.changes.filter { ($0.action != .noop || $0.importID != nil) && !drifted.contains($0.address) }.map(\.address)
        self.warnings = warnings
    }

    /// The leaves where `before` and `after` differ, as dotted paths.
    static func leaves(_ path: String, _ before: Value?, _ after: Value?, into out: inout [AttributeChange]) {
        switch (before?.unmarked, after?.unmarked) {
        case (.map(let a)?, .map(let b)?) where !(before?.isSensitive ?? false) && !(after?.isSensitive ?? false):
            for key in Set(a.keys).union(b.keys).sorted() where !(a[key] ?? .null).semanticallyEquals(b[key] ?? .null) {
                leaves(path + "." + key, a[key], b[key], into: &out)
            }
        default:
            if !(before ?? .null).semanticallyEquals(after ?? .null) {
                out.append(AttributeChange(path: path, before: before, after: after))
            }
        }
    }

    // MARK: Text

    public func text(style: TextStyle) -> String {
        var out = ""
        for w in warnings { out += style.yellow("Warning: ") + w + "\n" }
        if findings.isEmpty && unmanaged.isEmpty {
            out += "No drift: every resource matches what ethstack recorded.\n"
        } else if !findings.isEmpty {
            out += style.bold("Objects have changed outside of ethstack:") + "\n\n"
            for f in findings {
                switch f.kind {
                case .deleted:
                    out += "  # \(style.bold(f.address.description)) has been deleted\n"
                case .changed:
                    out += "  # \(style.bold(f.address.description)) has changed\n"
                    for c in f.changes {
                        out += "      \(c.path): \(Self.show(c.before)) -> \(Self.show(c.after))\n"
                    }
                }
                out += "\n"
            }
            out += "\(findings.count) resource(s) drifted. `ethstack plan` shows what apply would do about it.\n"
        }
        if !unmanaged.isEmpty {
            out += (findings.isEmpty ? "" : "\n") + style.bold("Objects of this stack that ethstack does not manage:") + "\n\n"
            for u in unmanaged { out += "  + \(u.type) \(style.bold(u.id)) (\(u.reason))\n" }
            out += "\n\(unmanaged.count) unmanaged object(s): `ethstack import` adopts one, or delete it.\n"
        }
        for f in ignored + findings where !f.ignored.isEmpty {
            out += style.dim("  (ignored) \(f.address): \(f.ignored.map(\.path).joined(separator: ", ")) — \(f.ignoreReason ?? "")") + "\n"
        }
        if !pendingChanges.isEmpty {
            out += "The stack has unapplied changes (not drift): \(pendingChanges.map(\.description).joined(separator: ", ")). `ethstack plan` shows them.\n"
        }
        return out
    }

    static func show(_ v: Value?) -> String {
        guard let v else { return "(absent)" }
        if v.containsSensitive { return "(sensitive value)" }
        switch v.unmarked {
        case .string(let s): return Value.string(s).jsonString(pretty: false)
        case .null: return "null"
        default: return v.deepUnmarked.jsonString(pretty: false)
        }
    }

    /// JSON value with sensitive parts as null (never the value).
    static func json(_ v: Value?) -> Value {
        guard let v else { return .null }
        return PlanJSON.scrub(v)
    }

    // MARK: JSON

    public func json() -> String {
        func change(_ c: AttributeChange) -> Value {
            .map(["path": .string(c.path), "before": Self.json(c.before), "after": Self.json(c.after),
                  "sensitive": .bool((c.before?.containsSensitive ?? false) || (c.after?.containsSensitive ?? false))])
        }
        func finding(_ f: Finding) -> Value {
            var m: [String: Value] = ["address": .string(f.address.description), "type": .string(f.type),
                                      "kind": .string(f.kind.rawValue), "attributes": .list(f.entry.attributes.map(Value.string)),
                                      "changes": .list(f.changes.map(change))]
            if !f.ignored.isEmpty {
                m["ignored"] = .list(f.ignored.map(change))
                m["ignore_reason"] = .string(f.ignoreReason ?? "")
            }
            return .map(m)
        }
        let root: Value = .map([
            "format_version": .string(Self.formatVersion),
            "stack": .string(stack),
            "drift": .bool(hasDrift),
            "resource_drift": .list(findings.map(finding)),
            "ignored_drift": .list(ignored.map(finding)),
            "pending_changes": .list(pendingChanges.map { .string($0.description) }),
            "unmanaged": .list(unmanaged.map { .map(["type": .string($0.type), "id": .string($0.id), "reason": .string($0.reason)]) }),
            "warnings": .list(warnings.map(Value.string)),
        ])
        return root.jsonString(pretty: true)
    }

    // MARK: Markdown

    /// GitHub-flavoured Markdown, summary first, under `limit` characters (GitHub's comment limit):
    /// sections that do not fit are left out with a note saying how many.
    public func markdown(limit: Int = 65_536) -> String {
        var head = "## ethstack drift: \(stack)\n\n"
        if findings.isEmpty && unmanaged.isEmpty {
            head += "**No drift**: every resource matches what ethstack recorded.\n"
        } else if !findings.isEmpty {
            head += "**\(findings.count) resource(s) drifted.**\n\n| resource | type | what |\n|---|---|---|\n"
            for f in findings {
                let what = f.kind == .deleted ? "deleted" : f.changes.map { "`\($0.path)`" }.joined(separator: ", ")
                head += "| `\(f.address)` | `\(f.type)` | \(what) |\n"
            }
        }
        if !unmanaged.isEmpty {
            head += "\n**\(unmanaged.count) unmanaged object(s)** (the stack's mark, or inside what it owns, but not in state).\n\n| type | id | why |\n|---|---|---|\n"
            for u in unmanaged.prefix(200) { head += "| `\(u.type)` | \(Self.cell(u.id)) | \(u.reason) |\n" }
            if unmanaged.count > 200 { head += "\n_\(unmanaged.count - 200) more unmanaged object(s) not shown; see the JSON report._\n" }
        }
        if !pendingChanges.isEmpty {
            head += "\nThe stack has \(pendingChanges.count) unapplied change(s) (not drift).\n"
        }
        for w in warnings { head += "\n> ⚠️ \(w)\n" }
        var sections: [String] = []
        for f in findings {
            var s = "\n<details><summary><code>\(f.address)</code> (\(f.type)) \(f.kind == .deleted ? "was deleted" : "changed")</summary>\n\n"
            if f.kind == .changed {
                s += "| attribute | recorded | now |\n|---|---|---|\n"
                for c in f.changes {
                    s += "| `\(c.path)` | \(Self.cell(Self.show(c.before))) | \(Self.cell(Self.show(c.after))) |\n"
                }
            }
            if !f.ignored.isEmpty { s += "\nIgnored: \(f.ignored.map { "`\($0.path)`" }.joined(separator: ", ")) — \(f.ignoreReason ?? "")\n" }
            s += "\n</details>\n"
            sections.append(s)
        }
        return ReportFormats.fit(head: head, sections: sections, what: "resource(s)", seeAlso: "see the JSON report")
    }

    static func cell(_ text: String) -> String { ReportFormats.cell(text) }

    // MARK: SARIF

    /// SARIF 2.1.0, one result per (resource, attribute path) with a stable fingerprint, so a
    /// nightly job updates one finding instead of opening a new one each night.
    public func sarif() -> String {
        var results: [Value] = []
        for f in findings {
            let paths = f.kind == .deleted ? ["(object)"] : f.changes.map(\.path)
            for path in paths {
                let message = f.kind == .deleted ? "\(f.address) was deleted outside ethstack"
                    : "\(f.address): \(path) changed outside ethstack"
                results.append(ReportFormats.sarifResult(
                    ruleID: f.kind == .deleted ? "ethstack.drift.deleted" : "ethstack.drift.changed", level: "warning",
                    message: message, address: f.address.description,
                    fingerprintKey: "ethstackDrift/v1", fingerprint: Self.fingerprint(stack, f.address, path)))
            }
        }
        for u in unmanaged {
            results.append(.map([
                "ruleId": "ethstack.drift.unmanaged",
                "level": "warning",
                "message": .map(["text": .string("\(u.type) \(u.id) is not managed by ethstack (\(u.reason))")]),
                "partialFingerprints": .map(["ethstackDrift/v1": .string(Self.fingerprint(stack, ResourceAddress(name: u.type), u.id))]),
                "locations": .list([.map(["logicalLocations": .list([.map([
                    "fullyQualifiedName": .string("\(u.type)/\(u.id)"), "kind": "object"])])])]),
            ]))
        }
        let rules: [Value] = [
            .map(["id": "ethstack.drift.changed", "shortDescription": .map(["text": "An attribute changed outside ethstack"])]),
            .map(["id": "ethstack.drift.deleted", "shortDescription": .map(["text": "An object was deleted outside ethstack"])]),
            .map(["id": "ethstack.drift.unmanaged", "shortDescription": .map(["text": "An object of the stack that no state entry records"])]),
        ]
        return ReportFormats.sarif(rules: rules, results: results)
    }

    /// FNV-1a of stack, address and path: the same finding has the same fingerprint every night.
    static func fingerprint(_ stack: String, _ address: ResourceAddress, _ path: String) -> String {
        ReportFormats.fingerprint([stack, address.description, path])
    }
}

extension Array {
    /// (matching, not matching), each in order.
    func partitioned(_ matches: (Element) -> Bool) -> ([Element], [Element]) {
        var yes: [Element] = [], no: [Element] = []
        for e in self { if matches(e) { yes.append(e) } else { no.append(e) } }
        return (yes, no)
    }
}

import Foundation
import EthstackEngine
import EthstackModel

/// The lint of a plan: every rule on every resource instance the plan leaves in place (creates,
/// updates, replacements and no-ops; after apply, no-ops read what apply recorded, so results
/// that were unknown until apply are decided then). Suppressions come from the stack's
/// `lint: { ignore, reason, until }`; an expired one is reported and its findings count again.
public struct LintReport: Sendable {
    /// `format_version` of the JSON; its major number changes when a field changes meaning.
    public static let formatVersion = "1.0"

    /// Every rule ethstack ships.
    public static let rules: [LintRule] = AWSRules.all + KubernetesRules.all

    public struct Result: Sendable {
        public var rule: LintRule
        public var address: ResourceAddress
        public var type: String
        public var status: LintStatus
        public var message: String
        /// The suppression that accepts this failure (never set on a pass or unknown).
        public var suppression: LintIgnore?

        /// A failure nobody accepted.
        public var isFinding: Bool { status == .fail && suppression == nil }
    }

    public var stack: String
    public var results: [Result]
    public var warnings: [String]

    public var findings: [Result] { results.filter(\.isFinding) }
    public var unknowns: [Result] { results.filter { $0.status == .unknown } }
    public var suppressed: [Result] { results.filter { $0.status == .fail && $0.suppression != nil } }
    public var passed: [Result] { results.filter { $0.status == .pass } }

    /// Findings at or above `severity`: what makes `ethstack lint` exit 2.
    public func findings(atLeast severity: LintSeverity) -> [Result] { findings.filter { $0.rule.severity >= severity } }

    public init(plan: Plan, stack: StackDeclaration, now: Date = Date(), rules: [LintRule] = LintReport.rules) {
        self.init(instances: ReviewedInstance.after(plan), stack: stack, now: now, rules: rules)
    }

    /// The lint of instances as recorded (after apply: what state holds).
    public init(instances live: [ReviewedInstance], stack: StackDeclaration, now: Date = Date(), rules: [LintRule] = LintReport.rules) {
        self.stack = stack.name
        let declarations = Dictionary(stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var warnings: [String] = []
        var results: [Result] = []
        let known = Set(rules.flatMap(\.aliases))
        for d in stack.resources {
            guard let ignore = d.lintIgnore else { continue }
            for id in ignore.rules where !known.contains(id) {
                warnings.append("\(ignore.location): lint.ignore of \(d.name) names \"\(id)\", which no rule has")
            }
            if ignore.expired(at: now) {
                warnings.append("\(ignore.location): the lint.ignore of \(d.name) expired on \(ignore.until ?? ""); its findings count again")
            }
        }
        for peer in live {
            let subject = LintSubject(address: peer.address, type: peer.type, values: peer.values, others: live)
            var ignore = declarations[peer.address.name]?.lintIgnore
            if let i = ignore, i.expired(at: now) { ignore = nil }
            for rule in rules where rule.types.contains(peer.type) {
                let accepted = ignore.flatMap { i in rule.aliases.contains(where: { i.rules.contains($0) }) ? i : nil }
                for o in rule.check(subject) {
                    results.append(Result(rule: rule, address: peer.address, type: peer.type, status: o.status, message: o.message,
                                          suppression: o.status == .fail ? accepted : nil))
                }
            }
        }
        self.results = results.sorted { a, b in
            if a.rule.severity != b.rule.severity { return a.rule.severity > b.rule.severity }
            if a.rule.id != b.rule.id { return a.rule.id < b.rule.id }
            return a.address.description < b.address.description
        }
        self.warnings = warnings
    }

    /// The results of `later` (the lint of what apply recorded) for the rules and resources this
    /// report had as unknown until apply: what apply decided.
    public func decided(by later: LintReport) -> [Result] {
        let open = Set(unknowns.map { "\($0.rule.id) \($0.address)" })
        return later.results.filter { open.contains("\($0.rule.id) \($0.address)") }
    }

    /// Text lines for `decided(by:)`, after apply.
    public static func decidedText(_ results: [Result], style: TextStyle) -> String {
        guard !results.isEmpty else { return "" }
        var out = style.bold("Lint, decided after apply:") + "\n"
        for r in results {
            let status: String
            switch r.status {
            case .fail where r.suppression == nil: status = style.red("\(r.rule.severity.rawValue.uppercased()) \(r.rule.id)")
            case .fail: status = "(suppressed) \(r.rule.id)"
            case .pass: status = style.green("pass") + " \(r.rule.id)"
            case .unknown: status = style.yellow("UNKNOWN") + " \(r.rule.id)"
            }
            out += "  \(status) \(r.address): \(r.message)\n"
            if r.isFinding { out += "      fix: \(r.rule.fix)\n" }
        }
        return out
    }

    var summaryLine: String {
        "\(findings.count) finding(s), \(unknowns.count) unknown until apply, \(suppressed.count) suppressed, \(passed.count) passed"
    }

    // MARK: Text

    public func text(style: TextStyle) -> String {
        var out = style.bold("Lint: ") + summaryLine + "\n"
        for w in warnings { out += style.yellow("Warning: ") + w + "\n" }
        for r in findings {
            out += "  \(style.red(r.rule.severity.rawValue.uppercased())) \(r.rule.id) \(style.bold(r.address.description)): \(r.message)\n"
            out += "      why: \(r.rule.why)\n      fix: \(r.rule.fix)\n"
            if let ids = Self.mapping(r.rule) { out += style.dim("      (\(ids))") + "\n" }
        }
        for r in unknowns {
            out += "  \(style.yellow("UNKNOWN")) \(r.rule.id) \(r.address): \(r.message)\n"
        }
        for r in suppressed {
            let until = r.suppression?.until.map { ", until \($0)" } ?? ""
            out += style.dim("  (suppressed) \(r.rule.id) \(r.address): \(r.message) — \(r.suppression?.reason ?? "")\(until)") + "\n"
        }
        return out
    }

    static func mapping(_ rule: LintRule) -> String? {
        var parts: [String] = []
        if !rule.checkov.isEmpty { parts.append("checkov " + rule.checkov.joined(separator: ", ")) }
        if !rule.trivy.isEmpty { parts.append("trivy " + rule.trivy.joined(separator: ", ")) }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    // MARK: JSON

    public func jsonValue() -> Value {
        func result(_ r: Result) -> Value {
            var m: [String: Value] = [
                "rule": .string(r.rule.id), "severity": .string(r.rule.severity.rawValue), "status": .string(r.status.rawValue),
                "address": .string(r.address.description), "type": .string(r.type), "message": .string(r.message),
                "title": .string(r.rule.title), "why": .string(r.rule.why), "fix": .string(r.rule.fix),
                "checkov": .list(r.rule.checkov.map(Value.string)), "trivy": .list(r.rule.trivy.map(Value.string)),
            ]
            if let s = r.suppression {
                m["suppressed"] = .map(["reason": .string(s.reason), "until": s.until.map(Value.string) ?? .null])
            }
            return .map(m)
        }
        return .map([
            "format_version": .string(Self.formatVersion),
            "stack": .string(stack),
            "summary": .map(["findings": .number(Double(findings.count)), "unknown": .number(Double(unknowns.count)),
                             "suppressed": .number(Double(suppressed.count)), "passed": .number(Double(passed.count))]),
            "results": .list(results.map(result)),
            "warnings": .list(warnings.map(Value.string)),
        ])
    }

    public func json() -> String { jsonValue().jsonString(pretty: true) }

    // MARK: Markdown

    /// The lint as a Markdown section (a `##` heading when standalone, `###` inside a plan).
    public func markdownSection(level: String = "###") -> String {
        var s = "\(level) Security lint\n\n\(summaryLine).\n"
        if !findings.isEmpty || !unknowns.isEmpty {
            s += "\n| severity | rule | resource | finding | fix |\n|---|---|---|---|---|\n"
            for r in findings {
                s += "| **\(r.rule.severity.rawValue)** | \(r.rule.id) | `\(r.address)` | \(ReportFormats.plainCell(r.message)) | \(ReportFormats.plainCell(r.rule.fix)) |\n"
            }
            for r in unknowns {
                s += "| unknown until apply | \(r.rule.id) | `\(r.address)` | \(ReportFormats.plainCell(r.message)) | checked again after apply |\n"
            }
        }
        if !suppressed.isEmpty {
            s += "\nSuppressed: " + suppressed.map { "\($0.rule.id) on `\($0.address)` (\(ReportFormats.plainCell($0.suppression?.reason ?? "")))" }
                .joined(separator: "; ") + "\n"
        }
        for w in warnings { s += "\n> ⚠️ \(ReportFormats.plainCell(w))\n" }
        return s
    }

    public func markdown(limit: Int = ReportFormats.markdownLimit) -> String {
        let head = "## ethstack lint: \(stack)\n\n" + markdownSection(level: "###")
        var sections: [String] = []
        for rule in Self.rules {
            let mine = findings.filter { $0.rule.id == rule.id }
            if mine.isEmpty { continue }
            var s = "\n<details><summary>\(rule.id) \(ReportFormats.plainCell(rule.title)) (\(mine.count))</summary>\n\n"
            s += "Why: \(rule.why)\n\nFix: \(rule.fix)\n\n"
            if let ids = Self.mapping(rule) { s += "Maps to \(ids).\n\n" }
            s += "</details>\n"
            sections.append(s)
        }
        return ReportFormats.fit(head: head, sections: sections, limit: limit, what: "rule(s)", seeAlso: "see `ethstack lint --json`")
    }

    // MARK: SARIF

    public func sarif() -> String {
        let rules: [Value] = Self.rules.map { r in
            .map(["id": .string(r.id), "shortDescription": .map(["text": .string(r.title)]),
                  "fullDescription": .map(["text": .string(r.why)]), "help": .map(["text": .string(r.fix)]),
                  "properties": .map(["security-severity": .string(Self.securitySeverity(r.severity)),
                                      "tags": .list((["security"] + r.checkov + r.trivy).map(Value.string))])])
        }
        let results: [Value] = (findings + unknowns).map { r in
            ReportFormats.sarifResult(ruleID: r.rule.id, level: r.status == .fail ? r.rule.severity.sarifLevel : "note",
                                      message: "\(r.address): \(r.message)" + (r.status == .unknown ? " (unknown until apply)" : ""),
                                      address: r.address.description, fingerprintKey: "ethstackLint/v1",
                                      fingerprint: ReportFormats.fingerprint([stack, r.rule.id, r.address.description, r.message]))
        }
        return ReportFormats.sarif(rules: rules, results: results)
    }

    /// GitHub code scanning's 0.0–10.0 scale.
    static func securitySeverity(_ s: LintSeverity) -> String {
        switch s {
        case .low: return "3.0"
        case .medium: return "5.5"
        case .high: return "8.0"
        case .critical: return "9.5"
        }
    }
}

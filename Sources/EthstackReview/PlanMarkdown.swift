import Foundation
import EthstackEngine
import EthstackModel

/// A plan as GitHub-flavoured Markdown for a pull request: the summary first, then the lint and
/// cost sections, then one folded section per changed resource; cut to stay under GitHub's
/// 65,536-character comment limit with a note saying what was left out. Sensitive values show as
/// "(sensitive)", unknown ones as "(known after apply)".
public struct PlanMarkdown: Sendable {
    public var plan: Plan
    public var lint: LintReport
    public var cost: CostEstimate?

    public init(plan: Plan, lint: LintReport, cost: CostEstimate?) {
        self.plan = plan
        self.lint = lint
        self.cost = cost
    }

    static let symbols: [ChangeAction: String] = [.create: "+", .update: "~", .replace: "-/+", .delete: "-", .noop: " "]

    public func render(limit: Int = ReportFormats.markdownLimit) -> String {
        var head = "## ethstack plan: \(plan.stack)\n\n"
        let changes = plan.changes.filter { $0.action != .noop }
        if plan.hasChanges {
            head += "**Plan: \(plan.toAdd) to add, \(plan.toChange) to change, \(plan.toDestroy) to destroy.**"
        } else {
            head += "**No changes.** The infrastructure matches the stack."
        }
        head += " Lint: \(lint.findings.count) finding(s), \(lint.unknowns.count) unknown until apply."
        if let cost { head += " " + cost.totalsLine + "." }
        head += "\n"
        if !changes.isEmpty {
            head += "\n| action | resource | type |\n|---|---|---|\n"
            // The table itself is bounded: past 300 rows the folded sections carry the rest.
            for c in changes.prefix(300) { head += "| \(c.action.rawValue) | `\(c.address)` | `\(c.type)` |\n" }
            if changes.count > 300 { head += "| … | \(changes.count - 300) more | |\n" }
        }
        for v in plan.violations { head += "\n> ⛔ \(ReportFormats.plainCell(v.message))\n" }
        for w in plan.warnings { head += "\n> ⚠️ \(ReportFormats.plainCell(w))\n" }
        head += "\n" + lint.markdownSection(level: "###")
        if let cost { head += "\n" + cost.markdownSection(level: "###") }
        head += "\n### Changes\n"
        let sections = changes.map(section)
        return ReportFormats.fit(head: head, sections: sections, limit: limit, what: "resource(s)",
                                 seeAlso: "see `ethstack plan --json` for the whole plan")
    }

    func section(_ c: ResourceChange) -> String {
        var s = "\n<details><summary>\(Self.symbols[c.action] ?? "") <code>\(c.address)</code> (\(c.type)) \(c.action.rawValue)</summary>\n\n"
        if !c.replacePaths.isEmpty { s += "Replaced because of: \(c.replacePaths.map { "`\($0)`" }.joined(separator: ", "))\n\n" }
        s += "```diff\n"
        let keys = Set((c.before ?? [:]).keys).union((c.after ?? [:]).keys).sorted()
        for key in keys {
            let b = c.before?[key], a = c.after?[key]
            switch (b, a) {
            case (nil, let a?): s += "+ \(key) = \(Self.show(a))\n"
            case (let b?, nil): s += "- \(key) = \(Self.show(b))\n"
            case (let b?, let a?) where !b.semanticallyEquals(a): s += "- \(key) = \(Self.show(b))\n+ \(key) = \(Self.show(a))\n"
            default: break
            }
        }
        s += "```\n\n</details>\n"
        return s
    }

    /// One line, at most 300 characters; never a sensitive value.
    static func show(_ v: Value) -> String {
        let text: String
        if v.isSensitive { text = "(sensitive)" }
        else if v.isUnknown { text = "(known after apply)" }
        else { text = masked(v).jsonString(pretty: false) }
        // One line, and never a fence that would close the diff block.
        let line = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "```", with: "'''")
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }

    static func masked(_ v: Value) -> Value {
        switch v {
        case .sensitive: return "(sensitive)"
        case .unknown: return "(known after apply)"
        case .list(let l): return .list(l.map(masked))
        case .map(let m): return .map(m.mapValues(masked))
        default: return v
        }
    }
}

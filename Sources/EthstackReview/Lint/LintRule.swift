import Foundation
import EthstackModel

/// How bad a finding is; `--severity` picks the lowest that fails `ethstack lint`.
public enum LintSeverity: String, Sendable, CaseIterable, Comparable {
    case low, medium, high, critical

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: LintSeverity, b: LintSeverity) -> Bool { a.rank < b.rank }

    /// The SARIF level of a failed result.
    var sarifLevel: String { self >= .high ? "error" : "warning" }
}

/// The result of one rule on one part of a resource.
public enum LintStatus: String, Sendable {
    case pass
    case fail
    /// The rule needs a value known only after apply: checked again by `ethstack lint` once
    /// apply recorded it (the plan then reads the recorded value).
    case unknown = "unknown until apply"
}

/// What a rule says about one part of a resource (a container, a port, the whole resource).
public struct LintOutcome: Sendable {
    public var status: LintStatus
    /// What was found, for people. Built from names and numbers, never from a sensitive value.
    public var message: String

    public static func pass(_ m: String) -> LintOutcome { LintOutcome(status: .pass, message: m) }
    public static func fail(_ m: String) -> LintOutcome { LintOutcome(status: .fail, message: m) }
    public static func unknown(_ m: String) -> LintOutcome { LintOutcome(status: .unknown, message: m) }
}

/// One resource instance as a rule sees it: its planned values, and the whole plan for the rules
/// that look across resources (a load balancer in front of an enclave's RPC).
public struct LintSubject: Sendable {
    public var address: ResourceAddress
    public var type: String
    public var values: [String: Value]
    /// Every instance the plan leaves in place (this one included), for rules that look across resources.
    public var others: [ReviewedInstance]

    public subscript(key: String) -> Value? { values[key] }
}

/// A security rule over planned values: an id, a severity, a one-line why, the fix, and the
/// checkov/trivy ids it corresponds to (reference/PRICES-AND-RULES.md, section 3).
public struct LintRule: Sendable {
    public var id: String
    public var severity: LintSeverity
    /// What the rule checks, as a title.
    public var title: String
    public var why: String
    public var fix: String
    public var checkov: [String]
    public var trivy: [String]
    /// The resource types it reads.
    public var types: Set<String>
    /// Outcomes for one resource; empty when the rule does not apply to it (a manifest of another kind).
    var check: @Sendable (LintSubject) -> [LintOutcome]

    /// The ids a `lint: { ignore: [...] }` may name for this rule: its own, checkov's and trivy's.
    public var aliases: [String] { [id] + checkov + trivy }
}

// MARK: - Reading planned values

/// Small readers over planned values: a value that contains an unknown part answers nil through
/// `known`, so rules can say "unknown until apply".
enum Read {
    /// The value without marks when nothing in it is unknown.
    static func known(_ v: Value?) -> Value? {
        guard let v, !v.containsUnknown else { return nil }
        return v.deepUnmarked
    }

    static func strings(_ v: Value?) -> [String]? {
        guard let list = known(v)?.listValue else { return nil }
        return list.compactMap(\.stringValue)
    }

    static func isWorld(_ cidr: String) -> Bool {
        let c = cidr.trimmingCharacters(in: .whitespaces)
        return c == "0.0.0.0/0" || c == "::/0" || c == "0.0.0.0" || c == "*"
    }

    /// A port number given as a number or as a numeric string.
    static func port(_ v: Value?) -> Int? {
        guard let v = known(v) else { return nil }
        if let n = v.intValue { return n }
        if let s = v.stringValue { return Int(s) }
        return nil
    }

    /// Sorted, for messages.
    static func list(_ items: [String]) -> String { items.sorted().joined(separator: ", ") }

    /// `items` for a message, or "(sensitive)" when `source` is sensitive anywhere: a rule decides
    /// on a secret's value but never shows it.
    static func list(_ items: [String], from source: Value?) -> String {
        source?.containsSensitive == true ? "(sensitive)" : list(items)
    }
}

/// Ports that peers must reach from anywhere: devp2p (30303) and libp2p (9000, QUIC 9001).
enum P2P {
    static let ports: Set<Int> = [30303, 9000, 9001]
    static func covers(_ range: ClosedRange<Int>) -> Bool { range.allSatisfy { ports.contains($0) } }
}

import Foundation
import EthstackModel

/// What the Markdown and SARIF reports (drift, lint, cost, plans) share: a summary that always
/// shows, folded sections cut to GitHub's comment limit, table cells, SARIF's envelope and
/// fingerprints that stay the same from one run to the next.
public enum ReportFormats {
    /// GitHub's limit on a comment's body.
    public static let markdownLimit = 65_536

    /// `head`, then as many `sections` as fit under `limit` characters, then a note saying how many
    /// were left out (`what` names them: "resource(s)") and where to see them all. Counted in
    /// UTF-8 bytes, which is never fewer than the characters GitHub counts.
    public static func fit(head: String, sections: [String], tail: String = "", limit: Int = markdownLimit,
                           what: String = "section(s)", seeAlso: String = "see the JSON output") -> String {
        var out = head
        var left = 0
        let reserve = 300 + tail.utf8.count
        for (i, s) in sections.enumerated() {
            if out.utf8.count + s.utf8.count + reserve > limit {
                left = sections.count - i
                break
            }
            out += s
        }
        if left > 0 {
            out += "\n_\(left) more \(what) not shown: the report is truncated to stay under \(limit) characters; \(seeAlso)._\n"
        }
        if out.utf8.count + tail.utf8.count <= limit { out += tail }
        return out
    }

    /// A Markdown table cell: code-formatted, pipes escaped, one line, at most 200 characters.
    public static func cell(_ text: String) -> String {
        let clipped = text.count > 200 ? String(text.prefix(200)) + "…" : text
        return "`" + clipped.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "`", with: "'")
            .replacingOccurrences(of: "\n", with: " ") + "`"
    }

    /// Plain text for a Markdown table (no code span): pipes escaped, one line.
    public static func plainCell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// A SARIF 2.1.0 log of one run of ethstack.
    public static func sarif(rules: [Value], results: [Value]) -> String {
        let root: Value = .map([
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": .list([.map([
                "tool": .map(["driver": .map(["name": "ethstack", "rules": .list(rules)])]),
                "results": .list(results),
            ])]),
        ])
        return root.jsonString(pretty: true)
    }

    /// A SARIF result on a resource (a logical location), with a stable fingerprint.
    public static func sarifResult(ruleID: String, level: String, message: String, address: String,
                                   fingerprintKey: String, fingerprint: String) -> Value {
        .map([
            "ruleId": .string(ruleID),
            "level": .string(level),
            "message": .map(["text": .string(message)]),
            "partialFingerprints": .map([fingerprintKey: .string(fingerprint)]),
            "locations": .list([.map(["logicalLocations": .list([.map([
                "fullyQualifiedName": .string(address), "kind": "resource"])])])]),
        ])
    }

    /// FNV-1a of the parts: the same finding has the same fingerprint every run.
    public static func fingerprint(_ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in parts.joined(separator: "\u{0}").utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        return String(hash, radix: 16)
    }
}

import Foundation
import Testing
@testable import EthstackLanguage
@testable import EthstackModel

/// The answers Terraform 1.0.3 gave (`scripts/terraform-parity.sh`, kept in
/// `Tests/Parity/terraform-1.0.3.tsv`), against ethstack's: the same value where Terraform has one,
/// an error with a position where Terraform errors, except the deliberate differences below (each
/// also in the README's "Differences from Terraform").
@Suite struct TerraformParityTests {
    struct Row: Sendable {
        var expression: String
        /// The JSON of the value, or nil when Terraform gave an error.
        var json: String?
        var terraformError: String?
    }

    static let tablePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Parity/terraform-1.0.3.tsv").path

    static func rows() throws -> [Row] {
        let text = try String(contentsOfFile: tablePath, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw DiagnosticsError([.error(nil, "bad row: \(line)")]) }
            if parts[1].hasPrefix("!") { return Row(expression: parts[0], json: nil, terraformError: String(parts[1].dropFirst())) }
            // The console prints jsonencode's string as an HCL literal: JSON escapes, and `$${` for `${`.
            let literal = parts[1].replacingOccurrences(of: "$${", with: "${").replacingOccurrences(of: "%%{", with: "%{")
            guard case .string(let json) = try Value.parseJSON(literal) else {
                throw DiagnosticsError([.error(nil, "not a string literal: \(parts[1])")])
            }
            return Row(expression: parts[0], json: json, terraformError: nil)
        }
    }

    /// Where ethstack answers differently on purpose: its answer (JSON, or "!" for an error) and why.
    static let differences: [String: (ethstack: String, why: String)] = [
        // No single-element-type collections: elements keep their own types, where Terraform
        // converts `[1, "a"]` to a list of strings when a function or a conditional needs one type.
        "coalesce(1, \"a\")": ("1", "no type unification"),
        "distinct([1, \"1\", 1])": ("[1,\"1\"]", "no type unification"),
        "tolist([\"a\", 1])": ("[\"a\",1]", "no type unification"),
        "tomap({a = 1, b = \"x\"})": ("{\"a\":1,\"b\":\"x\"}", "no type unification"),
        // Splat over a map iterates its values (a for_each resource is a map: `subnet[*].id`).
        "{a = {b = 1}}[*].b": ("[1]", "splat iterates a map's values"),
        // Numbers are 64-bit floats, not arbitrary precision; 1e15 and more are written with an exponent.
        "\"${1e21}\"": ("1e21", "same number; as text it is written 1e+21"),
        "format(\"%s\", 1e21)": ("\"1e+21\"", "numbers of 1e15 and more are written with an exponent"),
        // Division by zero is an error, not infinity (which would reach a provider as null).
        "1 / 0 > 1": ("!", "division by zero is an error"),
        // Functions Terraform 1.0.3 lacks: startswith/endswith come from Terraform 1.3; yamldecodeall is ethstack's.
        "startswith(\"ab\", \"a\")": ("true", "from Terraform 1.3"),
        "endswith(\"ab\", \"b\")": ("true", "from Terraform 1.3"),
        "yamldecodeall(\"a: 1\\n---\\nb: 2\")": ("[{\"a\":1},{\"b\":2}]", "ethstack's: every document of a multi-document text"),
        // JSON is written without HTML escaping.
        "jsonencode({\"<a>\" = \"&\"})": ("\"{\\\"<a>\\\":\\\"&\\\"}\"", "no HTML escaping"),
        // YAML: ethstack reads YAML 1.2 (yes is a string) and writes plain scalars where they read back the same.
        "yamldecode(\"- 1\\n- 0x10\\n- 0o17\\n- .5\\n- ~\\n- yes\")": ("[1,16,15,0.5,null,\"yes\"]", "YAML 1.2: yes is a string"),
        "yamlencode({a = [1, \"b\"], c = {d = true}})": ("\"a:\\n- 1\\n- b\\nc:\\n  d: true\\n\"", "plain scalars where they read back the same"),
    ]

    func evaluate(_ expression: String) throws -> Value {
        let e = try ExpressionParser.parseExpression(expression, at: SourceLocation(file: "parity", line: 1, column: 1))
        return try Evaluator(scope: EvaluationScope(variables: [:])).evaluate(e)
    }

    /// What ethstack answers: the JSON of the value, or "!" and the error (which must have a position).
    func answer(_ expression: String) -> String {
        do {
            let v = try evaluate(expression).deepUnmarked
            return v.jsonString()
        } catch let e as DiagnosticsError {
            let positioned = e.diagnostics.allSatisfy { $0.location != nil }
            return "!" + (positioned ? "" : "(no position) ") + e.description
        } catch {
            return "!(not a diagnostic) \(error)"
        }
    }

    func sameValue(_ ethstack: String, _ json: String) -> Bool {
        guard !ethstack.hasPrefix("!"), let a = try? Value.parseJSON(ethstack), let b = try? Value.parseJSON(json) else { return false }
        return a.semanticallyEquals(b)
    }

    @Test func everyExpressionAnswersAsTerraformDoesOrAsTheListedDifference() throws {
        let rows = try TerraformParityTests.rows()
        #expect(rows.count > 300)
        var mismatches: [String] = []
        for row in rows {
            let got = answer(row.expression)
            if let difference = TerraformParityTests.differences[row.expression] {
                let ok = difference.ethstack == "!" ? got.hasPrefix("!") && !got.hasPrefix("!(") : sameValue(got, difference.ethstack)
                if !ok { mismatches.append("\(row.expression)\n    ethstack: \(got)\n    listed difference: \(difference.ethstack)") }
                continue
            }
            if let json = row.json {
                if !sameValue(got, json) {
                    mismatches.append("\(row.expression)\n    ethstack:  \(got)\n    terraform: \(json)")
                }
            } else if !got.hasPrefix("!") || got.hasPrefix("!(") {
                mismatches.append("\(row.expression)\n    ethstack:  \(got)\n    terraform: error \(row.terraformError ?? "")")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) differences:\n\(mismatches.joined(separator: "\n"))")
    }

    /// Every listed difference is still in the table (a stale entry would hide nothing).
    @Test func everyListedDifferenceIsInTheTable() throws {
        let expressions = Set(try TerraformParityTests.rows().map(\.expression))
        let stale = TerraformParityTests.differences.keys.filter { !expressions.contains($0) }
        #expect(stale.isEmpty, "listed as differences but not in the table: \(stale)")
    }
}

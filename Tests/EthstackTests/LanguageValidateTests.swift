import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel

/// `validate` and `graph` need no variable values, and `validate` evaluates what is known.
@Suite struct LanguageValidateTests {
    static let stack = """
    stack: demo
    variables:
      region: { type: string }
      token: { type: string, sensitive: true }
      zones: { type: list }
      nodes: { type: number, default: 2 }
    resources:
      net:
        type: core.data
        for_each: '${toset(var.zones)}'
        properties: { input: '${upper(var.region)}-${each.key}' }
      node:
        type: core.data
        count: '${var.nodes}'
        properties: { input: '${format("node-%02d", count.index)}', triggers: { token: '${var.token}' } }
    outputs:
      first: { value: '${node[0].id}' }
    """

    @Test func validateAndGraphRunWithoutAnyVariableValue() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.stack)
        var r = try EthstackBinary.run(["validate", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("is valid: 2 resources"))
        r = try EthstackBinary.run(["graph", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"net[*]\""), "\(r.stdout)")
        #expect(r.stdout.contains("\"node[0]\"") && r.stdout.contains("\"node[1]\""), "\(r.stdout)")
        // plan still needs them.
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("variable \"region\" is required but has no value"), "\(r.stderr)")
    }

    @Test func validateEvaluatesEverythingKnownWithPositions() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        variables:
          name: { type: string, default: abc }
          secret: { type: string, sensitive: true }
          count: { type: number, default: -1 }
        resources:
          a:
            type: core.data
            properties: { input: '${format("%d", var.name)}' }
          b:
            type: core.sleep
            properties: { create_duration: '${[var.name]}' }
          c:
            type: core.data
            count: '${var.count}'
          d:
            type: core.data
            for_each: '${{for s in ["x", "y"] : s => s}}'
            properties: { input: '${substr(each.value, 0, var.secret)}' }
          e:
            type: core.data
            properties: { input: '${cidrhost("10.0.0.0/30", var.count + 10)}' }
        outputs:
          o: { value: '${1 + "x"}' }
        """)
        let r = try EthstackBinary.run(["validate", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        let expected = [
            "stack.yaml:9:29: error: format(): unsupported value for \"%d\" at 0: a number is required",
            "stack.yaml:12:36: error: property \"create_duration\" of core.sleep must be a string, found list [\"abc\"]",
            "stack.yaml:15:12: error: \"count\" must be a whole number ≥ 0, found -1",
            "stack.yaml:22:29: error: cidrhost(): prefix of 30 does not accommodate a host numbered 9",
            "stack.yaml:24:20: error: \"+\" needs two numbers, found number and string",
        ]
        for line in expected { #expect(r.stderr.contains(line), "missing \(line) in\n\(r.stderr)") }
        // What depends on the unknown secret is not an error yet, and each problem is reported once.
        #expect(!r.stderr.contains("substr"))
        #expect(r.stderr.components(separatedBy: "format():").count == 2)
    }

    @Test func unsetRequiredVariablesResolveToUnknownsOnlyWhenAsked() throws {
        let declarations = [VariableDeclaration(name: "x", location: SourceLocation(file: "s", line: 1, column: 1), type: .string,
                                                defaultValue: nil, sensitive: true, description: nil)]
        var inputs = VariableInputs(assignments: [], files: [], environment: [:])
        #expect(throws: DiagnosticsError.self) { try VariableValues.resolve(declarations, inputs: inputs) }
        inputs.unsetRequiredIsUnknown = true
        let values = try VariableValues.resolve(declarations, inputs: inputs)
        #expect(values["x"]?.isUnknown == true)
        #expect(values["x"]?.isSensitive == true)
    }

    /// Numbers from text are decimal only: Swift's `Double("nan")`, `Double("0x10")` no longer slip in.
    @Test func aNumberVariableFromTextIsDecimalOnly() throws {
        let declarations = [VariableDeclaration(name: "n", location: SourceLocation(file: "s", line: 1, column: 1), type: .number,
                                                defaultValue: nil, sensitive: false, description: nil)]
        for text in ["nan", "inf", "0x10", " 1", "infinity"] {
            let inputs = VariableInputs(assignments: ["n=\(text)"], files: [], environment: [:])
            #expect(throws: DiagnosticsError.self, "\(text)") { try VariableValues.resolve(declarations, inputs: inputs) }
        }
        let inputs = VariableInputs(assignments: ["n=-1.5e3"], files: [], environment: [:])
        #expect(try VariableValues.resolve(declarations, inputs: inputs)["n"] == -1500)
        #expect(AttributeType.number.accepts("nan") == false)
        #expect(AttributeType.number.accepts("12") == true)
    }

    @Test func everyShippedStackValidatesWithoutSecrets() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: "\(repository)/stacks")) ?? []).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for file in files {
            let r = try EthstackBinary.run(["validate", "--stack", "stacks/\(file)"], in: repository)
            #expect(r.status == 0, "\(file): \(r.stderr)")
        }
    }
}

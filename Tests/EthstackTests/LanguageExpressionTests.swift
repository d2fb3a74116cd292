import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel

/// Evaluates `text` (a stack string, `${…}` in it) in a scope with `variables`.
func evalTemplate(_ text: String, variables: [String: Value] = [:], resources: [String: Value] = [:],
                  baseDirectory: String = ".") throws -> Value {
    let template = try ExpressionParser.parseTemplate(text, at: SourceLocation(file: "t", line: 1, column: 1))
    return try Evaluator(scope: EvaluationScope(variables: variables, resources: resources, baseDirectory: baseDirectory))
        .evaluate(template)
}

/// The first error of evaluating `text`, as `line:column message`.
func evalError(_ text: String, variables: [String: Value] = [:], resources: [String: Value] = [:]) -> String? {
    do {
        _ = try evalTemplate(text, variables: variables, resources: resources)
        return nil
    } catch let e as DiagnosticsError {
        return e.diagnostics.first.map { d in "\(d.location.map { "\($0.line):\($0.column)" } ?? "-") \(d.message)" }
    } catch {
        return "\(error)"
    }
}

/// Templates inside string literals inside expressions.
@Suite struct LanguageTemplateTests {
    @Test func aStringLiteralInAnExpressionIsATemplate() throws {
        #expect(try evalTemplate("${upper(\"a${var.x}\")}", variables: ["x": "b"]) == "AB")
        #expect(try evalTemplate("${\"${1 + 1}x\"}") == "2x")
        #expect(try evalTemplate("${upper(\"a${lower(\"B${var.x}\")}\")}-z", variables: ["x": "C"]) == "ABC-z")
        #expect(try evalTemplate("${\"$${literal}\"}") == "${literal}")
        #expect(try evalTemplate("${\"a}b\"}") == "a}b")
        // As in Terraform, a string that is exactly one `${…}` is the value itself.
        #expect(try evalTemplate("${length(\"x${var.n}\")}", variables: ["n": 123]) == 4)
        #expect(try evalTemplate("${\"${var.n}\" + 1}", variables: ["n": 123]) == 124)
        #expect(try evalTemplate("${\"${true}\"}") == true)
    }

    @Test func directivesRenderInStackStrings() throws {
        #expect(try evalTemplate("%{ if var.ha }ha%{ else }single%{ endif }", variables: ["ha": true]) == "ha")
        #expect(try evalTemplate("%{ for k, v in var.m }${k}=${v};%{ endfor }", variables: ["m": ["b": 2, "a": 1]]) == "a=1;b=2;")
        // Not inside a string literal in an expression (a for expression does that): refused, not literal.
        #expect(evalError("${upper(\"%{ for x in var.l }${x}%{ endfor }\")}", variables: ["l": ["a", "b"]])?
                    .contains("not supported in a string inside an expression") == true)
        #expect(try evalTemplate("${upper(\"%%{x}\")}") == "%{X}")
        #expect(try evalTemplate("a %{~ if true ~} b %{~ endif ~} c") == "abc")
        #expect(try evalTemplate("%%{ if }") == "%{ if }")
        // Unknown and sensitive values flow through, as in interpolations.
        #expect(try evalTemplate("%{ if var.u }x%{ endif }", variables: ["u": .unknown]) == .unknown)
        #expect(try evalTemplate("%{ for x in var.s }${x}%{ endfor }", variables: ["s": Value.list(["k"]).markedSensitive]).isSensitive)
        // Mistakes are positioned.
        #expect(evalError("x %{ if 1 }y%{ endif }")?.hasPrefix("1:9 the condition of %{ if } must be a bool") == true, "\(String(describing: evalError("x %{ if 1 }y%{ endif }")))")
        #expect(evalError("ab %{ for x in var.l }y")?.hasPrefix("1:4 this %{ for } has no %{ endfor }") == true)
        #expect(evalError("%{ unless x }")?.contains("unknown template directive \"unless\"") == true)
        // A for directive's name is not a reference out of the template.
        let t = try ExpressionParser.parseTemplate("%{ for p in var.l }${p.x}${q}%{ endfor }", at: SourceLocation(file: "t", line: 1, column: 1))
        #expect(t.references.map(\.root) == ["var", "q"])
    }

    @Test func unknownsAndSensitiveMarksFlowThroughInnerTemplates() throws {
        #expect(try evalTemplate("${upper(\"a${var.x}\")}", variables: ["x": .unknown]) == .unknown)
        let v = try evalTemplate("${upper(\"a${var.x}\")}", variables: ["x": Value.string("s").markedSensitive])
        #expect(v.isSensitive)
        #expect(v.unmarked == "AS")
    }

    @Test func errorsInInnerTemplatesHaveTheirPosition() {
        #expect(evalError("${upper(\"a${1 +}\")}") == "1:16 expected a value, a name or a function call, found \"}\"" ||
                evalError("${upper(\"a${1 +}\")}")?.hasPrefix("1:") == true)
        #expect(evalError("${upper(\"a${var.nope}\")}", variables: ["x": 1])?.hasPrefix("1:17 no variable named \"nope\"") == true)
        #expect(evalError("${upper(\"a${x\")}")?.contains("unterminated") == true)
        #expect(evalError("${\"abc}")?.contains("unterminated") == true)
    }

    @Test func deeplyNestedTemplatesAreRefusedNotACrash() {
        var text = "1"
        for _ in 0..<400 { text = "\"${\(text)}\"" }
        #expect(evalError("${\(text)}")?.contains("levels deep") == true)
    }
}

/// `for` expressions and splat over any list.
@Suite struct LanguageForTests {
    @Test func listAndMapForms() throws {
        #expect(try evalTemplate("${[for s in [\"a\", \"b\"] : upper(s)]}") == ["A", "B"])
        #expect(try evalTemplate("${[for i, s in [\"a\", \"b\"] : i if s == \"b\"]}") == [1])
        #expect(try evalTemplate("${{for k, v in {a = 1, b = 2} : v => k}}") == ["1": "a", "2": "b"])
        #expect(try evalTemplate("${[for k, v in {b = 1, a = 2} : k]}") == ["a", "b"])
        #expect(try evalTemplate("${{for s in [\"a\", \"ab\", \"b\"] : substr(s, 0, 1) => s...}}")
                == ["a": ["a", "ab"], "b": ["b"]])
        #expect(try evalTemplate("${[for x in var.xs : x * 2 if x > 1]}", variables: ["xs": [1, 2, 3]]) == [4, 6])
        #expect(try evalTemplate("${[for x in [[1, 2], [3]] : [for y in x : y + 1]]}") == [[2, 3], [4]])
        #expect(try evalTemplate("${{for k, v in var.m : k => upper(v) if k != \"skip\"}}",
                                 variables: ["m": ["a": "x", "skip": "y"]]) == ["a": "X"])
    }

    @Test func boundNamesHideResourcesAndVariablesStayReachable() throws {
        let resources: [String: Value] = ["node": ["name": "resource"]]
        #expect(try evalTemplate("${[for node in [\"x\"] : \"${node}-${var.p}\"]}", variables: ["p": "q"], resources: resources) == ["x-q"])
        let e = try ExpressionParser.parseExpression("[for node in var.xs : node.name if node.ok]", at: SourceLocation(file: "t", line: 1, column: 1))
        #expect(e.references.map(\.root) == ["var"])
    }

    @Test func errorsAsTerraformGivesThemWithPositions() {
        #expect(evalError("${{for s in [\"a\", \"a\"] : s => 1}}") == "1:26 two elements produce the key \"a\" in this for expression")
        #expect(evalError("${[for s in null : s]}") == "1:13 a for expression cannot iterate over null")
        #expect(evalError("${[for s in \"x\" : s]}") == "1:13 a for expression iterates over a list or a map, not a string")
        #expect(evalError("${[for s in [1] : s if 1]}") == "1:24 the \"if\" of a for expression must be a bool, found number")
        #expect(evalError("${{for k, v in {a = 1} : null => v}}") == "1:26 the key of a for expression must not be null")
        #expect(evalError("${[for s in [1] : s...]}")?.contains("grouping") == true)
        #expect(evalError("${[for s [1] : s]}")?.contains("expected \"in\"") == true)
        #expect(evalError("${{for s in [1] : s}}")?.contains("\"=>\"") == true)
    }

    @Test func unknownsAndSensitiveMarks() throws {
        #expect(try evalTemplate("${[for s in var.xs : s]}", variables: ["xs": .unknown]) == .unknown)
        #expect(try evalTemplate("${[for s in var.xs : s if s == var.u]}", variables: ["xs": [1], "u": .unknown]) == .unknown)
        #expect(try evalTemplate("${{for s in var.xs : s => 1}}", variables: ["xs": .list([.unknown])]) == .unknown)
        #expect(try evalTemplate("${[for s in var.xs : s]}", variables: ["xs": [1, .unknown]]) == [1, .unknown])
        let secret = Value.list(["a", "b"]).markedSensitive
        let v = try evalTemplate("${[for s in var.xs : upper(s)]}", variables: ["xs": secret])
        #expect(v.isSensitive)
        #expect(v.deepUnmarked == ["A", "B"])
        // A sensitive element marks what is computed from it.
        let w = try evalTemplate("${[for s in var.xs : upper(s)]}", variables: ["xs": .list(["a", Value.string("b").markedSensitive])])
        #expect(w.listValue?[1].isSensitive == true)
        #expect(w.listValue?[0].isSensitive == false)
        let k = try evalTemplate("${{for s in var.xs : s => 1}}", variables: ["xs": .list([Value.string("k").markedSensitive])])
        #expect(k.isSensitive)
    }

    @Test func nestedLoopsAreBoundedNotAHang() {
        let error = evalError("${[for a in range(2000) : [for b in range(2000) : a * b]]}")
        #expect(error?.contains("more than 1000000 times") == true)
    }

    @Test func splatOverAnyList() throws {
        let xs: Value = .list([["name": "a", "tags": ["x"]], ["name": "b", "tags": ["y"]]])
        #expect(try evalTemplate("${var.xs[*].name}", variables: ["xs": xs]) == ["a", "b"])
        #expect(try evalTemplate("${var.xs[*].tags[0]}", variables: ["xs": xs]) == ["x", "y"])
        #expect(try evalTemplate("${[{a = 1}, {a = 2}][*].a}") == [1, 2])
        #expect(try evalTemplate("${[for x in var.xs : x][*].name}", variables: ["xs": xs]) == ["a", "b"])
        #expect(try evalTemplate("${var.n[*]}", variables: ["n": .null]) == .list([]))
        #expect(try evalTemplate("${var.s[*]}", variables: ["s": "x"]) == ["x"])
        #expect(try evalTemplate("${length(var.xs[*].name)}", variables: ["xs": xs]) == 2)
    }
}

/// For expressions and inner templates in a stack file: the names a for binds are not resources.
@Suite struct LanguageStackForTests {
    @Test func aStackWithForExpressionsLoadsAndPlans() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        variables:
          nodes: { type: list, default: [{ name: a, port: 1 }, { name: b, port: 2 }] }
        resources:
          a:
            type: core.data
            properties:
              input: '${{for n in var.nodes : n.name => "${upper(n.name)}:${n.port}"}}'
          b:
            type: core.data
            properties:
              input: '${[for k, v in a.input : "${k}=${v}" if k != "b"]}'
        """)
        let plan = try await ws.plan()
        #expect(plan.changes.count == 2)
        let s = try ws.session()
        #expect(s.graph.dependencies(of: .resource("b")).contains(.resource("a")))
    }

    @Test func misspeltNamesInsideAForAreReported() {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        resources:
          a:
            type: core.data
            properties:
              input: '${[for n in [1, 2] : nn + 1]}'
        """)
        let found = ws.diagnostics().map(\.message)
        #expect(found.contains { $0.contains("no resource named \"nn\"") })
    }
}

import AWSProvider
import CoreProvider
import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel
@testable import EthstackProviderAPI
@testable import EthstackYAML

/// Errors in stack files: each with its exact position, all of a file's errors in one run.
@Suite struct StackLoadingErrorTests {
    func positions(_ diagnostics: [Diagnostic]) -> [String] {
        diagnostics.map { d in "\(d.location.map { "\($0.line):\($0.column)" } ?? "-") \(d.message)" }
    }

    @Test func everyLoadingErrorIsReportedWithItsPositionInOneRun() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        resourcs: {}
        resources:
          a:
            type: core.data
            propertees: {}
          b:
            properties: { input: 1 }
          c:
            type: core.dta
          d:
            type: local.file
            properties:
              path: /tmp/x
              contnt: hello
          e:
            type: core.data
            properties:
              input: 1
              input: 2
          a:
            type: core.data
          f:
            type: core.sleep
            properties:
              create_duration: [1, 2]
        """)
        let found = positions(ws.diagnostics())
        #expect(found.contains("2:1 unknown top-level key \"resourcs\""))
        #expect(found.contains("6:5 unknown key \"propertees\" in resource \"a\""))
        #expect(found.contains("7:3 resource \"b\" has no \"type\""))
        #expect(found.contains("10:11 unknown resource type \"core.dta\""))
        #expect(found.contains("15:7 unknown property \"contnt\" for local.file"))
        #expect(found.contains("13:5 resource \"d\" (local.file) is missing the required property \"content\""))
        #expect(found.contains { $0.hasPrefix("20:7 duplicate key \"input\"") })
        #expect(found.contains { $0.hasPrefix("21:3 duplicate key \"a\" in resources") })
        #expect(found.contains("26:24 property \"create_duration\" of core.sleep must be a string, found list"))
        // Hints name the closest valid name.
        let diags = ws.diagnostics()
        #expect(diags.first { $0.message.contains("resourcs") }?.hint == "did you mean \"resources\"?")
        #expect(diags.first { $0.message.contains("core.dta") }?.hint == "did you mean \"core.data\"?")
        #expect(diags.first { $0.message.contains("contnt") }?.hint == "did you mean \"content\"?")
        #expect(diags.allSatisfy { $0.location?.file.hasSuffix("stack.yaml") ?? false })
    }

    @Test func wrongTypesAndMissingStackName() {
        let ws = Workspace()
        ws.write("stack.yaml", """
        description: [not, a, string]
        variables:
          n: { type: numbr }
        resources: [a, b]
        """)
        let found = positions(ws.diagnostics())
        #expect(found.contains("1:1 missing required top-level key \"stack\" (the stack's name, which names its state)"))
        #expect(found.contains("1:14 \"description\" must be a string, found a list"))
        #expect(found.contains("3:14 unknown variable type \"numbr\""))
        #expect(found.contains("4:12 \"resources\" must be a map, found a list"))
    }

    @Test func yamlSyntaxErrorHasPosition() {
        let ws = Workspace()
        ws.write("stack.yaml", "stack: demo\nresources:\n  a: [unclosed\n")
        let d = ws.diagnostics()
        #expect(d.count == 1)
        #expect(d.first?.message.hasPrefix("invalid YAML") == true)
        #expect(d.first?.location?.line == 4)
    }

    @Test func unknownReferencesSuggestTheClosestName() {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        variables:
          region: { default: eu }
        resources:
          network:
            type: core.data
            properties: { input: x }
          user:
            type: core.data
            properties:
              input: "${netwrk.id} in ${var.regoin}"
              triggers: "${network.idd}"
          each_misuse:
            type: core.data
            properties: { input: "${each.key}-${count.index}" }
        outputs:
          o: { value: "${lenght(var.region)}" }
        """)
        let d = ws.diagnostics()
        let found = positions(d)
        #expect(found.contains("11:17 no resource named \"netwrk\""))
        #expect(d.first { $0.message == "no resource named \"netwrk\"" }?.hint == "did you mean \"network\"?")
        #expect(found.contains("11:37 no variable named \"regoin\""))
        #expect(d.first { $0.message == "no variable named \"regoin\"" }?.hint == "did you mean \"region\"?")
        #expect(found.contains("12:28 core.data \"network\" has no attribute \"idd\""))
        #expect(found.contains("15:29 \"each\" is only available in a resource with \"for_each\""))
        #expect(found.contains("15:41 \"count.index\" is only available in a resource with \"count\""))
        #expect(found.contains("17:18 unknown function \"lenght\""))
    }

    @Test func unknownProviderSettingIsATypo() {
        let ws = Workspace(registry: ProviderRegistry(BuiltinProviders.all + [AWSProvider(environment: [:])]))
        ws.write("stack.yaml", """
        stack: demo
        providers:
          aws: { regoin: eu-west-1 }
        resources: {}
        """)
        let d = ws.diagnostics()
        #expect(d.map(\.description) == ["\(ws.dir)/stack.yaml:3:10: error: unknown setting \"regoin\" for provider aws (did you mean \"region\"?)"])
    }

    @Test func cycleListsResourcesInOrderWithPositions() {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        resources:
          a:
            type: core.data
            properties: { input: "${c.id}" }
          b:
            type: core.data
            properties: { input: "${a.id}" }
          c:
            type: core.data
            depends_on: [b]
        """)
        let d = ws.diagnostics()
        #expect(d.count == 1)
        let message = d.first?.message ?? ""
        #expect(message.hasPrefix("dependency cycle: a → c → b → a"))
        #expect(message.contains("a refers to c at \(ws.dir)/stack.yaml:5:29"))
        #expect(message.contains("c refers to b at \(ws.dir)/stack.yaml:11:18"))
        #expect(message.contains("b refers to a at \(ws.dir)/stack.yaml:8:29"))
    }

    @Test func requiredVariableWithoutValueIsNamed() {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        variables:
          token: { type: string, sensitive: true }
          count: { type: number }
        resources: {}
        """)
        let d = ws.diagnostics(vars: ["count=abc"])
        let found = positions(d)
        #expect(found.contains { $0.hasPrefix("3:3 variable \"token\" is required but has no value") })
        #expect(found.contains { $0.hasPrefix("4:3 variable \"count\" (from --var count) must be a number") })
        #expect(ws.diagnostics(vars: ["token=s3cret", "count=3"]).isEmpty)
        #expect(positions(ws.diagnostics(vars: ["token=x", "count=1", "tokn=y"])).contains { $0.contains("variable \"tokn\" is not declared") })
    }

    @Test func expressionSyntaxErrorPointsInsideTheString() {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: demo
        resources:
          a:
            type: core.data
            properties:
              input: "${join(\\",\\", [1, 2)}"
        """)
        let d = ws.diagnostics()
        #expect(d.count == 1)
        #expect(d.first?.location?.line == 6)
        #expect(d.first?.message.contains("expected \"]\"") == true)
    }
}

@Suite struct ExpressionTests {
    func eval(_ text: String, variables: [String: Value] = [:], resources: [String: Value] = [:]) throws -> Value {
        let template = try ExpressionParser.parseTemplate(text, at: SourceLocation(file: "t", line: 1, column: 1))
        return try Evaluator(scope: EvaluationScope(variables: variables, resources: resources)).evaluate(template)
    }

    @Test func singleExpressionKeepsType() throws {
        #expect(try eval("${var.m}", variables: ["m": ["a": 1]]) == ["a": 1])
        #expect(try eval("${var.n}", variables: ["n": 3]) == 3)
        #expect(try eval("n=${var.n}", variables: ["n": 3]) == "n=3")
        #expect(try eval("$${literal}") == "${literal}")
    }

    @Test func referencesIndexesAndSplat() throws {
        let resources: [String: Value] = [
            "subnet": ["a": ["id": "s-a"], "b": ["id": "s-b"]],
            "node": .list([["name": "n0"], ["name": "n1"]]),
        ]
        #expect(try eval("${subnet[\"b\"].id}", resources: resources) == "s-b")
        #expect(try eval("${node[1].name}", resources: resources) == "n1")
        #expect(try eval("${subnet[*].id}", resources: resources) == ["s-a", "s-b"])
        #expect(try eval("${join(\",\", node[*].name)}", resources: resources) == "n0,n1")
        #expect(throws: DiagnosticsError.self) { try eval("${node[2].name}", resources: resources) }
    }

    @Test func unknownsPropagate() throws {
        let resources: [String: Value] = ["vpc": ["id": .unknown, "cidr": "10.0.0.0/16"]]
        #expect(try eval("${vpc.id}", resources: resources) == .unknown)
        #expect(try eval("vpc-${vpc.id}", resources: resources) == .unknown)
        #expect(try eval("${format(\"%s/x\", vpc.id)}", resources: resources) == .unknown)
        #expect(try eval("${vpc.cidr}", resources: resources) == "10.0.0.0/16")
    }

    @Test func sensitiveFollowsTheValue() throws {
        let vars: [String: Value] = ["pw": Value.string("hunter2").markedSensitive]
        let v = try eval("user:${var.pw}", variables: vars)
        #expect(v.isSensitive)
        #expect(v.unmarked == "user:hunter2")
        #expect(try eval("${base64encode(var.pw)}", variables: vars).isSensitive)
        #expect(try eval("${upper(\"x\")}", variables: vars).isSensitive == false)
    }

    @Test func functions() throws {
        #expect(try eval("${cidrsubnet(\"10.0.0.0/16\", 4, 2)}") == "10.0.32.0/20")
        #expect(try eval("${cidrsubnet(\"10.0.0.0/8\", 8, 255)}") == "10.255.0.0/16")
        #expect(try eval("${cidrsubnet(\"fd00::/48\", 16, 3)}") == "fd00:0:0:3::/64")
        #expect(throws: DiagnosticsError.self) { try eval("${cidrsubnet(\"10.0.0.0/30\", 4, 1)}") }
        #expect(try eval("${format(\"el-%d-%s\", 3, \"reth\")}") == "el-3-reth")
        #expect(try eval("${lookup({a = 1}, \"b\", 7)}") == 7)
        #expect(try eval("${jsonencode({b = [1, true], a = null})}") == "{\"a\":null,\"b\":[1,true]}")
        #expect(try eval("${base64encode(\"hi\")}") == "aGk=")
        #expect(try eval("${yamldecode(\"a: [1, x]\")}") == ["a": [1, "x"]])
        let doc: Value = ["participants": .list([["el_type": "reth", "count": 8]]), "network_id": "3151908"]
        let encoded = try eval("${yamlencode(var.d)}", variables: ["d": doc])
        let back = try YAMLParser.parse(encoded.stringValue ?? "", file: "x").first?.value
        #expect(back == doc)
        #expect(try eval("${1 + 2 * 3 == 7 ? \"yes\" : \"no\"}") == "yes")
    }

    @Test func fileIsRelativeToTheStack() throws {
        let ws = Workspace()
        ws.write("files/hello.txt", "hello")
        ws.write("stack.yaml", """
        stack: demo
        resources:
          a:
            type: core.data
            properties: { input: "${file(\\"files/hello.txt\\")}" }
        """)
        let s = try ws.session()
        let node = try #require(s.stack.resources.first?.properties.first?.value)
        let v = try Evaluator(scope: EvaluationScope(variables: [:], baseDirectory: s.stack.baseDirectory)).evaluate(node)
        #expect(v == "hello")
    }
}

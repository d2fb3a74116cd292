import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel

/// `ethstack console`: expressions from stdin against variables and recorded state.
@Suite struct LanguageConsoleTests {
    static let stack = """
    stack: console-demo
    variables:
      region: { type: string, default: eu-west-1 }
      secret: { type: string, sensitive: true }
    resources:
      a:
        type: core.data
        properties: { input: { zone: '${var.region}a', ports: [8545, 8546] } }
      b:
        type: core.data
        count: 2
        properties: { input: 'node-${count.index}' }
    outputs:
      zone: { value: '${a.output.zone}' }
      token: { value: '${var.secret}', sensitive: true }
    """

    /// Runs `ethstack console` with `input` on its stdin.
    func console(_ ws: Workspace, _ input: String, _ arguments: [String] = []) throws -> EthstackBinary.Result {
        let inputPath = ws.write("console-input.txt", input)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: EthstackBinary.path)
        p.arguments = ["console", "--stack", "stack.yaml"] + arguments
        p.currentDirectoryURL = URL(fileURLWithPath: ws.dir)
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle(forReadingAtPath: inputPath)
        let running = RunningProcess(process: p, stdout: out, stderr: err)
        try p.run()
        running.startReading()
        return try EthstackBinary.wait(running, timeout: 60)
    }

    @Test func evaluatesLinesAgainstVariablesAndRecordedState() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.stack)
        _ = try await ws.apply(vars: ["secret=hunter2"])
        let r = try console(ws, """
        upper(var.region)
        a.output.ports[1]
        b[*].output
        outputs.zone
        # a comment, then the secret three ways
        var.secret
        outputs.token
        {s = var.secret, z = outputs.zone}
        [for p in a.output.ports : format("%05d", p) if p > 8545]
        1 +
        nope.x

        cidrsubnet("10.0.0.0/16", 4, 2)
        """, ["--var", "secret=hunter2", "--state", ws.statePath])
        #expect(r.status == 1, "a line failed: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "\"EU-WEST-1\"")
        #expect(lines.contains("8546"))
        #expect(r.stdout.contains("\"node-0\",\n  \"node-1\""))
        #expect(lines.contains("\"eu-west-1a\""))
        #expect(lines.filter { $0 == "(sensitive value)" }.count == 2, "\(r.stdout)")
        #expect(r.stdout.contains("\"s\": \"(sensitive value)\""))
        #expect(r.stdout.contains("\"08546\""))
        #expect(lines.contains("\"10.0.32.0/20\""))
        #expect(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"))
        #expect(r.stderr.contains("<console>:10:4: error: expected a value, a name or a function call, found the end of the expression"), "\(r.stderr)")
        #expect(r.stderr.contains("<console>:11:1: error: no resource named \"nope\""), "\(r.stderr)")
    }

    @Test func withoutStateOrValuesWhatIsMissingIsUnknown() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.stack)
        let r = try console(ws, "a.output\nvar.secret\nlength(var.region)\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "(known after apply)\n(sensitive value)\n9\n")
    }

    @Test func renderingNeverShowsASensitivePart() {
        #expect(Console.render(.list(["a", Value.string("x").markedSensitive])) == "[\n  \"a\",\n  \"(sensitive value)\"\n]")
        #expect(Console.render(.unknown) == "(known after apply)")
        #expect(Console.render(.null) == "null")
        let console = Console(scope: EvaluationScope(variables: [:]))
        if case .failure(let e) = console.answer(String(repeating: "1+", count: 600_000) + "1", lineNumber: 3) {
            #expect(e.description.contains("<console>:3:1: error: the line is"))
        } else {
            Issue.record("a line over 1 MiB was evaluated")
        }
    }
}

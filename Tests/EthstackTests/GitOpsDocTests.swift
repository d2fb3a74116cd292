import EthstackYAML
import Foundation
import Testing
@testable import EthstackModel

/// docs/gitops.md: every `ethstack` command of its workflows (the `run:` blocks of its YAML), in
/// order — pull request, merge, nightly — against a small stack in a workspace, with the state in
/// PostgreSQL when this machine has it (else SQLite) and the secrets in ETHSTACK_VAR_…, as the
/// workflows have them. Then what the merge workflow promises: the saved plan is applied exactly
/// once, and a stale one is refused.
@Suite struct GitOpsDocTests {
    static let repository = StackFilesTests.repository

    struct Command {
        var line: Int
        var text: String
        var arguments: [String]
        var exits: Set<Int32>
        /// `> FILE`: standard output goes there.
        var redirect: String?
    }

    /// The `ethstack …` lines inside the guide's ```yaml blocks, with `# exit N` comments and `> FILE`.
    static func commands() throws -> [Command] {
        let text = try String(contentsOfFile: "\(repository)/docs/gitops.md", encoding: .utf8)
        var inYAML = false
        var out: [Command] = []
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") { inYAML = !inYAML && line == "```yaml"; continue }
            guard inYAML, line.hasPrefix("ethstack ") else { continue }
            var command = line
            var exits: Set<Int32> = [0]
            if let hash = command.range(of: " #") {
                let comment = command[hash.upperBound...].trimmingCharacters(in: .whitespaces)
                if comment.hasPrefix("exit ") {
                    exits = Set(comment.dropFirst(5).split(whereSeparator: { !$0.isNumber }).compactMap { Int32($0) })
                }
                command = String(command[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces)
            }
            var redirect: String?
            if let gt = command.range(of: " > ") {
                redirect = command[gt.upperBound...].trimmingCharacters(in: .whitespaces)
                command = String(command[..<gt.lowerBound])
            }
            var words = EndToEnd.shellWords(command)
            words.removeFirst()
            out.append(Command(line: index + 1, text: command, arguments: words, exits: exits, redirect: redirect))
        }
        return out
    }

    /// The guide's workflows are YAML GitHub can load: each has `on` and jobs whose steps `run` or `use` something.
    @Test func workflowsAreWellFormed() throws {
        let text = try String(contentsOfFile: "\(Self.repository)/docs/gitops.md", encoding: .utf8)
        let blocks = text.components(separatedBy: "```yaml\n").dropFirst().compactMap { $0.components(separatedBy: "\n```").first }
        let workflows = try blocks.filter { $0.contains("\njobs:") }.map { try #require(try YAMLParser.parse($0, file: "gitops.md").first?.value) }
        #expect(workflows.count == 3)
        for w in workflows {
            #expect(w["on"] != nil && w["permissions"]?["id-token"] == "write", "\(w["name"] ?? "?"): OIDC needs id-token: write")
            let jobs = try #require(w["jobs"]?.mapValue)
            for (_, job) in jobs {
                let steps = try #require(job["steps"]?.listValue)
                #expect(steps.allSatisfy { $0["run"] != nil || $0["uses"] != nil })
            }
        }
    }

    static let stack = """
    stack: gitops
    variables:
      greeting: { type: string, default: hello }
      validator_mnemonic: { type: string, sensitive: true }
      grafana_htpasswd: { type: string, sensitive: true }
      alert_slack_url: { type: string, sensitive: true, default: "" }
    resources:
      note:
        type: core.data
        properties: { input: "${var.greeting}" }
      keys:
        type: core.data
        properties: { input: "${var.validator_mnemonic}" }
    outputs:
      note: { value: "${note.output}" }
    """

    @Test func everyWorkflowCommandRunsAndTheSavedPlanIsAppliedExactlyOnce() async throws {
        let commands = try Self.commands()
        let names = commands.map { $0.arguments.first ?? "" }
        #expect(names == ["validate", "lint", "plan", "apply", "output", "drift", "lint", "cost"], "\(names)")

        let ws = Workspace()
        ws.write("ethstack.yaml", Self.stack)
        let mnemonic = "gitops test words that must never be printed anywhere at all ok"
        var env = ["ETHSTACK_VAR_validator_mnemonic": mnemonic, "ETHSTACK_VAR_grafana_htpasswd": "admin:$2y$05$hash", "ETHSTACK_VAR_alert_slack_url": ""]
        // The team's state key (a repository secret in the workflows): PostgreSQL state needs one.
        env["ETHSTACK_STATE_KEY"] = testStateKeyText
        env["ETHSTACK_STATE"] = PostgresTestServer.available ? try await PostgresTestServer.freshDatabase() : "\(ws.dir)/state.db"

        for c in commands {
            var args = c.arguments
            if args.first == "apply", !args.contains("--auto-approve") { args.append("--auto-approve") }
            let r = try EthstackBinary.run(args, in: ws.dir, environment: env, timeout: 120)
            #expect(c.exits.contains(r.status), "docs/gitops.md:\(c.line): `\(c.text)` exited \(r.status)\n\(r.stdout.suffix(2000))\n\(r.stderr.suffix(2000))")
            #expect(!r.stdout.contains(mnemonic) && !r.stderr.contains(mnemonic), "docs/gitops.md:\(c.line) printed the mnemonic")
            if let file = c.redirect { ws.write(file, r.stdout) }
        }
        // What the pull request's comment and the nightly issue are made of.
        let plan = try String(contentsOfFile: "\(ws.dir)/plan.md", encoding: .utf8)
        #expect(plan.hasPrefix("## ethstack plan: gitops") && plan.contains("### Security lint") && plan.contains("### Cost estimate"))
        #expect(FileManager.default.fileExists(atPath: "\(ws.dir)/lint.sarif"))
        #expect(try String(contentsOfFile: "\(ws.dir)/drift.md", encoding: .utf8).contains("No drift"))
        #expect(try String(contentsOfFile: "\(ws.dir)/cost.txt", encoding: .utf8).contains("Monthly, what state holds: $0.00"))
        #expect(try String(contentsOfFile: "\(ws.dir)/outputs.json", encoding: .utf8).contains("hello"))

        // The merge workflow applied pr.plan; the same file again is stale and refused, and a plan
        // made before another change is refused too.
        let again = try EthstackBinary.run(["apply", "pr.plan", "--auto-approve"], in: ws.dir, environment: env)
        #expect(again.status == 1, "\(again.stdout)\(again.stderr)")
        let old = try EthstackBinary.run(["plan", "--out", "old.plan", "--var", "greeting=hi"], in: ws.dir, environment: env)
        #expect(old.status == 0, "\(old.stderr)")
        let newer = try EthstackBinary.run(["apply", "--auto-approve", "--var", "greeting=hey"], in: ws.dir, environment: env)
        #expect(newer.status == 0, "\(newer.stderr)")
        let stale = try EthstackBinary.run(["apply", "old.plan", "--auto-approve", "--var", "greeting=hi"], in: ws.dir, environment: env)
        #expect(stale.status == 1, "\(stale.stdout)\(stale.stderr)")
    }
}

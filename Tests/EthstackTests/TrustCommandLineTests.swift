import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel

/// Issue 10 through the real `ethstack` binary: protected resources on every path a plan takes to
/// apply, secrets kept out of history and locks, what `validate` decides without providers, and
/// `file()` confined to the stack's tree.
@Suite(.serialized) struct TrustCommandLineTests {
    static let guarded = """
    stack: guarded
    variables:
      trigger: { default: v1 }
    resources:
      keep:
        type: core.data
        lifecycle: { prevent_destroy: true }
        properties: { input: 1, triggers: "${var.trigger}" }
      other:
        type: core.data
        properties: { input: 2 }
    """

    /// A workspace where `guarded` was applied once; returns the id `keep` got.
    func applied(_ stack: String = guarded) throws -> (Workspace, String) {
        let ws = Workspace()
        ws.write("stack.yaml", stack)
        let r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        return (ws, try keepID(ws))
    }

    func keepID(_ ws: Workspace) throws -> String {
        let r = try EthstackBinary.run(["state", "show", "--stack", "stack.yaml", "keep"], in: ws.dir)
        #expect(r.status == 0, "keep is still in state: \(r.stderr)")
        return r.stdout
    }

    @Test func destroyRefusesAProtectedResource() throws {
        let (ws, before) = try applied()
        let r = try EthstackBinary.run(["destroy", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("stack.yaml:5:3: error: keep has lifecycle.prevent_destroy, but the plan would destroy it"))
        #expect(try keepID(ws) == before)
    }

    @Test func aSavedDestroyPlanIsRefusedByApply() throws {
        let (ws, before) = try applied()
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--destroy", "--out", "d.plan"], in: ws.dir)
        #expect(r.status == 1, "a plan that breaks prevent_destroy is an error")
        #expect(r.stdout.contains("apply will refuse it"))
        let saved = try String(contentsOfFile: "\(ws.dir)/d.plan", encoding: .utf8)
        #expect(saved.contains("\"rule\": \"prevent_destroy\""), "the violation is part of the saved plan")
        r = try EthstackBinary.run(["apply", "d.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("keep has lifecycle.prevent_destroy, but the plan would destroy it"))
        #expect(r.stderr.contains("nothing was changed"))
        #expect(try keepID(ws) == before)
        let other = try EthstackBinary.run(["state", "list", "--stack", "stack.yaml"], in: ws.dir)
        #expect(other.stdout == "keep\nother\n", "nothing of the plan ran, not even the unprotected delete")
    }

    @Test func aSavedPlanWithItsViolationsRemovedIsStillRefused() throws {
        let (ws, before) = try applied()
        _ = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--destroy", "--out", "d.plan"], in: ws.dir)
        // An older ethstack, or a hand edit, dropped the violations: apply checks the stack itself.
        var plan = try Value.parseJSON(try Data(contentsOf: URL(fileURLWithPath: "\(ws.dir)/d.plan")))
        guard case .map(var root) = plan else { Issue.record("plan file is not a map"); return }
        root["violations"] = nil
        plan = .map(root)
        try plan.jsonString(pretty: true).write(toFile: "\(ws.dir)/d.plan", atomically: true, encoding: .utf8)
        let r = try EthstackBinary.run(["apply", "d.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("keep has lifecycle.prevent_destroy"))
        #expect(try keepID(ws) == before)
    }

    @Test func aTargetedDestroyThroughASavedPlanIsRefused() throws {
        let (ws, before) = try applied()
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--destroy", "--target", "keep", "--out", "t.plan"], in: ws.dir)
        #expect(r.status == 1)
        r = try EthstackBinary.run(["apply", "t.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("keep has lifecycle.prevent_destroy, but the plan would destroy it"))
        r = try EthstackBinary.run(["destroy", "--stack", "stack.yaml", "--target", "keep", "--auto-approve"], in: ws.dir)
        #expect(r.status == 1)
        #expect(try keepID(ws) == before)
    }

    @Test func aRequestedReplacementIsRefusedDirectAndSaved() throws {
        let (ws, before) = try applied()
        var r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--replace", "keep", "--auto-approve"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("keep has lifecycle.prevent_destroy, but the plan would replace it"))
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--replace", "keep", "--out", "r.plan"], in: ws.dir)
        #expect(r.status == 1)
        r = try EthstackBinary.run(["apply", "r.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("keep has lifecycle.prevent_destroy, but the plan would replace it"))
        #expect(try keepID(ws) == before)
    }

    @Test func aCreateBeforeDestroyReplacementIsRefused() throws {
        let stack = Self.guarded.replacingOccurrences(of: "lifecycle: { prevent_destroy: true }",
                                                      with: "lifecycle: { prevent_destroy: true, create_before_destroy: true }")
        let (ws, before) = try applied(stack)
        // A changed trigger forces a replacement; saved, then applied.
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--var", "trigger=v2", "--out", "c.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stdout.contains("+/-") || r.stdout.contains("-/+"), "the plan shows the replacement: \(r.stdout)")
        r = try EthstackBinary.run(["apply", "c.plan", "--var", "trigger=v2"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("keep has lifecycle.prevent_destroy, but the plan would replace it"))
        r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--var", "trigger=v2", "--auto-approve"], in: ws.dir)
        #expect(r.status == 1)
        #expect(try keepID(ws) == before)
    }

    // MARK: - Secrets on the command line

    @Test func variableValuesAreMaskedInHistoryLocksAndTheDatabase() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: masked
        variables:
          token: { type: string, sensitive: true }
          other: { type: string, default: x }
          wait: { default: 10ms }
        resources:
          slow:
            type: core.sleep
            properties: { create_duration: "${var.wait}" }
          d:
            type: core.data
            properties: { input: "${var.token}" }
        """)
        ws.write("vars.yaml", "other: FILESECRET-9\n")
        let running = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "token=SUPERSECRET-1",
                                                "--var=other=INLINESECRET-2", "--var-file", "vars.yaml", "--var", "wait=3s"], in: ws.dir)
        // While it runs, the lock row names the command: masked.
        let deadline = Date().addingTimeInterval(30)
        var locks = ""
        while Date() < deadline {
            locks = try EthstackBinary.run(["lock", "list", "--stack", "stack.yaml"], in: ws.dir).stdout
            if locks.contains("apply") || !running.process.isRunning { break }
            usleep(50_000)
        }
        #expect(locks.contains("--var token=(masked)"), "lock list: \(locks)")
        let done = try EthstackBinary.wait(running, timeout: 60)
        #expect(done.status == 0, "\(done.stderr)")
        let history = try EthstackBinary.run(["state", "history", "--stack", "stack.yaml"], in: ws.dir).stdout
        #expect(history.contains("--var token=(masked)") && history.contains("--var=other=(masked)")
                && history.contains("--var-file (masked)"), "history: \(history)")
        let database = try Data(contentsOf: URL(fileURLWithPath: "\(ws.dir)/state/masked.db"))
        var wal = Data()
        if let w = try? Data(contentsOf: URL(fileURLWithPath: "\(ws.dir)/state/masked.db-wal")) { wal = w }
        for secret in ["SUPERSECRET-1", "INLINESECRET-2"] {
            #expect(!history.contains(secret) && !locks.contains(secret) && !done.stdout.contains(secret) && !done.stderr.contains(secret))
            #expect(database.range(of: Data("=\(secret)".utf8)) == nil && wal.range(of: Data("=\(secret)".utf8)) == nil,
                    "the command line with \(secret) is not in the database file")
        }
    }

    // MARK: - Sensitive for_each keys

    @Test func aSensitiveForEachKeyIsRefusedWithItsPosition() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: keyed
        variables:
          token: { type: string, sensitive: true, default: SUPERSECRET }
        resources:
          keyed:
            type: core.data
            for_each: ["${var.token}"]
            properties: { input: 1 }
          mapped:
            type: core.data
            for_each: '${ { (var.token) = 1 } }'
            properties: { input: 1 }
        """)
        let r = try EthstackBinary.run(["plan", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("stack.yaml:7:16: error: \"for_each\" element 0 is sensitive"), "\(r.stderr)")
        #expect(r.stderr.contains("stack.yaml:11:15: error: \"for_each\" cannot use a sensitive value"), "\(r.stderr)")
        #expect(!r.stdout.contains("SUPERSECRET") && !r.stderr.contains("SUPERSECRET"))
    }

    // MARK: - validate decides what needs no provider

    @Test(arguments: [
        ("cidr: \"${cidrsubnet(\\\"10.0.0.0/99\\\", 4, 1)}\"", "invalid prefix length /99"),
        ("cidr: \"${cidrsubnet(\\\"10.0.0.0/16\\\", 4)}\"", "cidrsubnet() takes 3 arguments, got 2"),
        ("cidr: \"${cidrsubnet(var.base, 4)}\"", "cidrsubnet() takes 3 arguments, got 2"),
        ("count: -2", "\"count\" must be a whole number ≥ 0, found -2"),
        ("count: abc", "\"count\" must be a whole number ≥ 0, found \"abc\""),
        ("for_each: 7", "\"for_each\" must be a map or a list of strings, found number"),
        ("count: 99999999999999999999999999", "\"count\" must be a whole number ≥ 0"),
        ("count: 20000", "at most 10000 instances"),
    ])
    func validateRejectsWhatNeedsNoProvider(line: String, message: String) throws {
        let ws = Workspace()
        let isProperty = line.hasPrefix("cidr:")
        ws.write("stack.yaml", """
        stack: checked
        variables:
          base: { default: 10.0.0.0/16 }
        resources:
          r:
            type: core.data
            \(isProperty ? "" : line)
            properties:
              input:
                \(isProperty ? line : "x: 1")
        """)
        let r = try EthstackBinary.run(["validate", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1, "\(line): validate rejects it")
        #expect(r.stderr.contains(message), "\(line): \(r.stderr)")
        let position = isProperty ? "stack.yaml:10:" : "stack.yaml:7:"
        #expect(r.stderr.contains(position), "\(line): positioned: \(r.stderr)")
    }

    /// Argument counts come from one table, checked before evaluation: every function is in it.
    @Test func everyFunctionHasItsArity() {
        #expect(Set(Functions.names) == Set(Functions.arities.keys).union(Functions.library.keys))
        #expect(Set(Functions.arities.keys).isDisjoint(with: Functions.library.keys))
    }

    // MARK: - file() stays in the stack's tree

    @Test func fileIsConfinedToTheStackDirectoryUnlessAllowed() throws {
        let ws = Workspace()
        ws.write("outside/credentials", "aws_secret_access_key = OUTSIDESECRET\n")
        ws.write("stack/inside.txt", "inside\n")
        ws.write("stack/stack.yaml", """
        stack: files
        resources:
          inside:
            type: core.data
            properties: { input: "${file(\\"inside.txt\\")}" }
          escape:
            type: core.data
            properties: { input: "${file(\\"../outside/credentials\\")}" }
        outputs:
          leaked: { value: "${escape.output}" }
        """)
        var r = try EthstackBinary.run(["plan", "--stack", "stack/stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("stack/stack.yaml:8:") && r.stderr.contains("error: file(): \"../outside/credentials\" is outside the stack's directory"), "\(r.stderr)")
        #expect(r.stderr.contains("--allow-file-outside-stack"))
        r = try EthstackBinary.run(["validate", "--stack", "stack/stack.yaml"], in: ws.dir)
        #expect(r.status == 1, "validate reads constant file() calls too")
        // An absolute path is outside too.
        ws.write("stack/stack.yaml", "stack: files\nresources:\n  abs:\n    type: core.data\n    properties: { input: \"${file(\\\"\(ws.dir)/outside/credentials\\\")}\" }\n")
        r = try EthstackBinary.run(["plan", "--stack", "stack/stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("is outside the stack's directory"))
        // Allowed explicitly: read, and treated as a secret.
        r = try EthstackBinary.run(["plan", "--stack", "stack/stack.yaml", "--allow-file-outside-stack"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("OUTSIDESECRET"), "content read from outside the tree is sensitive")
    }

    @Test func fileRefusesAFileLargerThanTheCap() throws {
        let ws = Workspace()
        let fd = open("\(ws.dir)/big.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        ftruncate(fd, off_t(17 << 20))  // sparse: 17 MiB without writing them
        close(fd)
        ws.write("stack.yaml", "stack: big\nresources:\n  b:\n    type: core.data\n    properties: { input: \"${file(\\\"big.bin\\\")}\" }\n")
        let started = Date()
        let r = try EthstackBinary.run(["validate", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("stack.yaml:5:") && r.stderr.contains("error: file(): \"big.bin\" is 17825792 bytes: at most 16777216"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    // MARK: - --help examples are real command lines

    /// Every example line in every command's help parses: run as written (in a workspace with a
    /// small stack), it may fail for lack of a cloud, but never with a usage error (exit 64).
    @Test func everyHelpExampleParses() throws {
        let ws = Workspace()
        ws.write("stacks/example.yaml", "stack: example\nvariables:\n  region: { default: us-east-1 }\nresources:\n  vpc: { type: core.data, properties: { input: 1 } }\noutputs:\n  rpc_url: { value: x }\n")
        let commands = [[], ["validate"], ["plan"], ["apply"], ["destroy"], ["import"], ["drift"], ["graph"], ["output"],
                        ["state"], ["lock"], ["check"]]
        var examples = 0
        for command in commands {
            let help = try EthstackBinary.run(command + ["--help"], in: ws.dir)
            #expect(help.status == 0)
            let lines = help.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { $0.hasPrefix("ethstack ") && !$0.contains("<") && !$0.contains("…") }
            #expect(!lines.isEmpty || command.isEmpty, "\(command) --help shows an example")
            for line in lines {
                for example in Self.commandLines(line) {
                    examples += 1
                    let r = try EthstackBinary.run(example, in: ws.dir, timeout: 60)
                    #expect(r.status != 64 && !r.stderr.contains("Usage:"),
                            "the example `\(line)` does not parse: \(r.stderr)")
                }
            }
        }
        #expect(examples >= 20)
    }

    /// The argument vectors of a shell line: words split as a shell does for simple quoting, one
    /// vector per `&&`-joined command, cut at a pipe or redirection.
    static func commandLines(_ line: String) -> [[String]] {
        var words: [String] = []
        var word = ""
        var quote: Character?
        var inWord = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " {
                if inWord { words.append(word); word = ""; inWord = false }
            } else {
                word.append(c)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        var out: [[String]] = []
        var current: [String] = []
        var cut = false
        for w in words {
            if w == "&&" { if !current.isEmpty { out.append(current) }; current = []; cut = false; continue }
            if w == "|" || w == "||" || w == ">" || w.hasPrefix(">") { cut = true; continue }
            if cut { continue }
            current.append(w)
        }
        if !current.isEmpty { out.append(current) }
        return out.compactMap { $0.first == "ethstack" ? Array($0.dropFirst()) : nil }
    }
}

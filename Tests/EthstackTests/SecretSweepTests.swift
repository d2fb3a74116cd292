import Foundation
import Testing
@testable import EthstackModel

/// One secret planted where users put them — a sensitive variable, a value a provider returns
/// derived from it, a check's header and URL, a provider error — then every channel ethstack writes
/// is searched for it: plan text and JSON, the saved plan, apply's progress lines, logs at debug,
/// errors, history, locks, the journal and state (the database files' bytes), drift and check
/// output. The state key is a secret too.
@Suite(.serialized) struct SecretSweepTests {
    static let secret = "PLANTED-SECRET-5f3a"

    @Test func aPlantedSecretAppearsInNoChannel() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
            stack: sweep
            variables:
              token: { type: string, sensitive: true }
              wait: { default: 10ms }
            resources:
              slow:
                type: core.sleep
                properties: { create_duration: "${var.wait}" }
              derived:
                type: core.data
                properties: { input: "token=${var.token}" }
              file:
                type: local.file
                properties: { path: secret.txt, content: "${derived.output}" }
              broken:
                type: local.file
                depends_on: [slow]
                properties: { path: "stack.yaml/${var.token}.txt", content: plain }
            outputs:
              token: { value: "${var.token}", sensitive: true }
              derived: { value: "${derived.output}", sensitive: true }
            checks:
              api:
                http:
                  url: "http://127.0.0.1:9/${var.token}"
                  headers: { Authorization: "Bearer ${var.token}" }
                expect: { status: 200 }
                timeout: 1s
            """)
        let key = "c2VjcmV0IHN0YXRlIGtleSBmb3IgdGhlIHN3ZWVwISE="
        let env = ["ETHSTACK_LOG": "debug", "ETHSTACK_STATE_KEY": key, "XDG_CONFIG_HOME": ws.dir + "/config"]
        var seen: [(String, String)] = []
        func run(_ args: [String]) throws -> EthstackBinary.Result {
            let r = try EthstackBinary.run(args, in: ws.dir, environment: env)
            seen.append(("ethstack \(args.joined(separator: " ")) (stdout)", r.stdout))
            seen.append(("ethstack \(args.joined(separator: " ")) (stderr)", r.stderr))
            return r
        }
        let token = ["--var", "token=\(Self.secret)"]
        _ = try run(["validate", "--stack", "stack.yaml"])
        _ = try run(["plan", "--stack", "stack.yaml"] + token)
        _ = try run(["plan", "--stack", "stack.yaml", "--json"] + token)
        let saved = try run(["plan", "--stack", "stack.yaml", "--out", "saved.plan"] + token)
        #expect(saved.status == 0, "\(saved.stderr)")
        let planFile = try Data(contentsOf: URL(fileURLWithPath: ws.dir + "/saved.plan"))
        seen.append(("the saved plan file", String(decoding: planFile, as: UTF8.self)))

        // Apply in the background so its lock (and the command line in it) can be listed.
        let apply = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "wait=2s"] + token,
                                             in: ws.dir, environment: env)
        let deadline = Date().addingTimeInterval(30)
        var locks = ""
        while Date() < deadline && apply.process.isRunning {
            locks = try EthstackBinary.run(["lock", "list", "--stack", "stack.yaml"], in: ws.dir, environment: env).stdout
            if locks.contains("sweep") { break }
            usleep(50_000)
        }
        seen.append(("lock list during apply", locks))
        let applied = try EthstackBinary.wait(apply, timeout: 60)
        seen.append(("apply (stdout)", applied.stdout))
        seen.append(("apply (stderr)", applied.stderr))
        #expect(applied.status == 1, "the broken resource fails: \(applied.stdout)\(applied.stderr)")
        #expect((applied.stdout + applied.stderr).contains("broken"), "its error is reported")
        #expect(locks.contains("sweep"), "the lock was seen: \(locks)")

        _ = try run(["state", "history", "--stack", "stack.yaml"])
        _ = try run(["state", "show", "derived", "--stack", "stack.yaml"])
        _ = try run(["state", "list", "--stack", "stack.yaml"])
        _ = try run(["output", "--stack", "stack.yaml"])
        _ = try run(["output", "--stack", "stack.yaml", "--json"])
        // The file's content changes behind ethstack's back: drift reports it, masked.
        try "token=changed-\(Self.secret)".write(toFile: ws.dir + "/secret.txt", atomically: true, encoding: .utf8)
        for format in [[], ["--json"], ["--markdown"], ["--sarif"]] {
            _ = try run(["drift", "--stack", "stack.yaml"] + token + format)
        }
        let check = try run(["check", "--stack", "stack.yaml"] + token)
        #expect(check.status != 0, "the check fails (nothing listens on port 9)")
        _ = try run(["check", "--stack", "stack.yaml", "--json"] + token)

        // A provider error that quotes the value it refused, at plan (validation) and at apply.
        ws.write("refused.yaml", """
            stack: refused
            variables:
              token: { type: string, sensitive: true }
            resources:
              nap:
                type: core.sleep
                properties: { create_duration: "${var.token}" }
            """)
        _ = try run(["apply", "--stack", "refused.yaml", "--auto-approve"] + token)
        let refused = try run(["plan", "--stack", "refused.yaml"] + token)
        #expect((try run(["apply", "--stack", "refused.yaml", "--auto-approve"] + token)).stdout.contains("is not a duration"))
        _ = refused

        var database = Data()
        for suffix in ["", "-wal", "-shm"] {
            if let data = FileManager.default.contents(atPath: ws.dir + "/state/sweep.db" + suffix) { database.append(data) }
        }
        #expect(!database.isEmpty)
        #expect(database.range(of: Data(Self.secret.utf8)) == nil, "the secret is in the state database's bytes")
        #expect(database.range(of: Data(key.utf8)) == nil)
        for (channel, text) in seen {
            #expect(!text.contains(Self.secret), "the secret leaks through \(channel):\n\(text)")
            #expect(!text.contains(key), "the state key leaks through \(channel)")
        }
        // What state holds still works: the sealed id and attributes read back.
        let shown = try EthstackBinary.run(["state", "show", "file", "--stack", "stack.yaml"], in: ws.dir, environment: env)
        #expect(shown.status == 0 && shown.stdout.contains("secret.txt"), "\(shown.stdout)\(shown.stderr)")
    }
}

import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel

/// The `ethstack` executable, run as users run it: argument vectors, exit codes, files on disk.
@Suite(.serialized) struct CommandLineTests {
    let sleeper = """
    stack: cli
    variables:
      secret: { default: s3cr3t-value, sensitive: true }
      wait: { default: 10ms }
    resources:
      first:
        type: core.data
        properties: { input: hello }
      slow:
        type: core.sleep
        count: 4
        properties: { create_duration: "${var.wait}" }
      last:
        type: local.file
        depends_on: [slow]
        properties: { path: out.txt, content: "${var.secret}" }
    outputs:
      greeting: { value: "${first.output}" }
      secret: { value: "${var.secret}", sensitive: true }
    """

    @Test func planApplyPlanDestroyWithExitCodes() throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        let run = { (args: [String]) in try EthstackBinary.run(args, in: ws.dir) }
        var r = try run(["validate", "--stack", "stack.yaml"])
        #expect(r.status == 0)
        r = try run(["plan", "--stack", "stack.yaml", "--detailed-exitcode"])
        #expect(r.status == 2)
        #expect(r.stdout.contains("Plan: 6 to add, 0 to change, 0 to destroy."))
        #expect(!r.stdout.contains("s3cr3t-value"))
        #expect(!FileManager.default.fileExists(atPath: "\(ws.dir)/state/cli.db"), "plan writes no state")
        // No terminal and no --auto-approve: refuse.
        r = try run(["apply", "--stack", "stack.yaml"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("--auto-approve"))
        r = try run(["apply", "--stack", "stack.yaml", "--auto-approve"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Apply complete! Resources: 6 added"))
        #expect(!r.stdout.contains("s3cr3t-value") && !r.stderr.contains("s3cr3t-value"))
        #expect(FileManager.default.fileExists(atPath: "\(ws.dir)/state/cli.db"))
        r = try run(["plan", "--stack", "stack.yaml", "--detailed-exitcode"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("No changes."))
        // Outputs: sensitive only when named.
        r = try run(["output", "--stack", "stack.yaml"])
        #expect(r.stdout.contains("greeting = \"hello\""))
        #expect(r.stdout.contains("secret = (sensitive value)"))
        #expect(!r.stdout.contains("s3cr3t-value"))
        r = try run(["output", "--stack", "stack.yaml", "secret"])
        #expect(r.stdout == "s3cr3t-value\n")
        r = try run(["state", "list", "--stack", "stack.yaml"])
        #expect(r.stdout.split(separator: "\n") == ["first", "last", "slow[0]", "slow[1]", "slow[2]", "slow[3]"])
        r = try run(["state", "show", "--stack", "stack.yaml", "last"])
        #expect(r.stdout.contains("content") && r.stdout.contains("(sensitive value)") && !r.stdout.contains("s3cr3t-value"))
        r = try run(["destroy", "--stack", "stack.yaml", "--auto-approve"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Destroy complete! Resources: 0 added, 0 changed, 6 destroyed."))
        r = try run(["state", "list", "--stack", "stack.yaml"])
        #expect(r.stdout.isEmpty)
        r = try run(["state", "history", "--stack", "stack.yaml"])
        #expect(r.stdout.split(separator: "\n").count == 2)
    }

    @Test func jsonPlanIsVersionedAndHidesSecrets() throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        let r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--json"], in: ws.dir)
        #expect(r.status == 0)
        #expect(!r.stdout.contains("s3cr3t-value"))
        let json = try Value.parseJSON(r.stdout)
        #expect(json["format_version"] == "1.0")
        let changes = try #require(json["resource_changes"]?.listValue)
        #expect(changes.count == 6)
        let last = try #require(changes.first { $0["address"] == "last" })
        #expect(last["change"]?["actions"] == ["create"])
        #expect(last["change"]?["after"]?["content"] == .null)
        #expect(last["change"]?["after_sensitive"]?["content"] == true)
        #expect(last["change"]?["after_unknown"]?["sha256"] == nil)
        let first = try #require(changes.first { $0["address"] == "first" })
        #expect(first["change"]?["after_unknown"]?["id"] == true)
        #expect(json["output_changes"]?["secret"]?["sensitive"] == true)
        #expect(json["summary"]?["add"] == 6)
    }

    @Test func aSecondApplyFailsNamingTheLockHolder() throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        let first = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "wait=3s"], in: ws.dir)
        // Wait until the first apply holds the lock.
        let deadline = Date().addingTimeInterval(20)
        while !first.output().contains("Creating...") && Date() < deadline { usleep(50_000) }
        let second = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve", "--lock-timeout", "1s"], in: ws.dir)
        #expect(second.status == 1)
        #expect(second.stderr.contains("stack \"cli\" is locked by"))
        #expect(second.stderr.contains("pid \(first.process.processIdentifier)"))
        #expect(second.stderr.contains("ethstack lock release"))
        let list = try EthstackBinary.run(["lock", "list", "--stack", "stack.yaml"], in: ws.dir)
        #expect(list.stdout.contains("pid \(first.process.processIdentifier)"))
        let done = try EthstackBinary.wait(first, timeout: 30)
        #expect(done.status == 0)
        #expect(try EthstackBinary.run(["lock", "list", "--stack", "stack.yaml"], in: ws.dir).stdout.contains("No locks."))
    }

    @Test func aStaleSavedPlanIsRefused() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        // Both plans are made from the empty state.
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--out", "a.plan"], in: ws.dir)
        #expect(r.status == 0)
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--out", "b.plan"], in: ws.dir)
        #expect(r.status == 0)
        let mode = (try FileManager.default.attributesOfItem(atPath: "\(ws.dir)/a.plan")[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        #expect(!(try String(contentsOfFile: "\(ws.dir)/a.plan", encoding: .utf8)).contains("s3cr3t-value"))
        r = try EthstackBinary.run(["apply", "a.plan"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        let created = try await ws.store().load(stack: "cli")
        // Someone else applied: the plan made from the empty state must not apply twice.
        r = try EthstackBinary.run(["apply", "b.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("the saved plan is stale"))
        #expect(try await ws.store().load(stack: "cli").resources.mapValues(\.id) == created.resources.mapValues(\.id))
        // A plan made now applies; after the stack file changes it does not.
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--out", "c.plan", "--var", "wait=20ms"], in: ws.dir)
        ws.write("stack.yaml", sleeper + "\n# edited\n")
        r = try EthstackBinary.run(["apply", "c.plan", "--var", "wait=20ms"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("changed since the plan was made"))
    }

    @Test func sigkillMidApplyLeavesAConsistentStateAndTheNextApplyConverges() async throws {
        let ws = Workspace()
        var stack = "stack: crash\nresources:\n"
        for i in 0..<6 { stack += "  quick\(i): { type: core.data, properties: { input: \(i) } }\n" }
        stack += "  slow:\n    type: core.sleep\n    count: 6\n    depends_on: [quick0]\n    properties: { create_duration: \"${count.index < 2 ? \\\"50ms\\\" : \\\"20s\\\"}\" }\n"
        ws.write("stack.yaml", stack)
        let first = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--state", "state.db", "--auto-approve", "--parallelism", "4"], in: ws.dir)
        let deadline = Date().addingTimeInterval(30)
        while first.output().components(separatedBy: "slow[").count < 5 && Date() < deadline { usleep(50_000) }
        usleep(300_000)
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        #expect(first.process.terminationReason == .uncaughtSignal)

        let store = try await ws.store()
        #expect(try await store.integrityCheck() == "ok")
        let before = try await store.load(stack: "crash")
        #expect(before.resources.count >= 6, "what finished before the kill was saved")
        #expect(try await store.unfinishedJournal(stack: "crash").count > 0, "the calls in flight are in the journal")

        // The next run reports what was in flight, converges, and re-creates nothing that existed.
        let plan = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--state", "state.db"], in: ws.dir)
        #expect(plan.stdout.contains("Operations a previous run left in flight"))
        ws.write("stack.yaml", stack.replacingOccurrences(of: "20s", with: "10ms"))
        let second = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--state", "state.db", "--auto-approve"], in: ws.dir)
        #expect(second.status == 0, "\(second.stderr)")
        let after = try await store.load(stack: "crash")
        #expect(after.resources.count == 12)
        for (address, state) in before.resources where address.name != "slow" || state.attributes["create_duration"] == "50ms" {
            #expect(after.resources[address]?.id == state.id, "\(address) was not created twice")
        }
        #expect(try await store.unfinishedJournal(stack: "crash").isEmpty)
        #expect(try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--state", "state.db", "--detailed-exitcode"], in: ws.dir).status == 0)
    }

    @Test func ctrlCFinishesTheCallsInFlightSavesAndExits130() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: interrupt
        resources:
          s:
            type: core.sleep
            count: 6
            properties: { create_duration: 1s }
        """)
        let apply = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--state", "state.db", "--auto-approve",
                                              "--parallelism", "2"], in: ws.dir)
        let deadline = Date().addingTimeInterval(20)
        while apply.output().components(separatedBy: "Creating...").count < 3 && Date() < deadline { usleep(20_000) }
        kill(apply.process.processIdentifier, SIGINT)
        let r = try EthstackBinary.wait(apply, timeout: 30)
        #expect(r.status == 130)
        #expect(r.stderr.contains("Interrupt received"))
        let store = try await ws.store()
        // The two calls in flight finished and were saved; nothing else was started.
        #expect(try await store.load(stack: "interrupt").resources.count == 2)
        #expect(try await store.unfinishedJournal(stack: "interrupt").isEmpty)
        #expect(try await store.locks().isEmpty)
    }

    @Test func aSecondCtrlCAbandonsTheCallsInFlightAndTheJournalKeepsThem() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: abandon
        resources:
          s:
            type: core.sleep
            count: 2
            properties: { create_duration: 60s }
        """)
        let apply = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--state", "state.db", "--auto-approve"], in: ws.dir)
        let deadline = Date().addingTimeInterval(20)
        while apply.output().components(separatedBy: "Creating...").count < 3 && Date() < deadline { usleep(20_000) }
        kill(apply.process.processIdentifier, SIGINT)
        usleep(300_000)
        kill(apply.process.processIdentifier, SIGINT)
        let r = try EthstackBinary.wait(apply, timeout: 10)
        #expect(r.status == 130)
        #expect(r.stderr.contains("Abandoning the calls in flight"))
        let store = try await ws.store()
        #expect(try await store.unfinishedJournal(stack: "abandon").map(\.address.description).sorted() == ["s[0]", "s[1]"])
        #expect(try await store.integrityCheck() == "ok")
        // Its lock stayed behind; the next run takes it over (the holder is dead) and converges.
        ws.write("stack.yaml", try String(contentsOfFile: "\(ws.dir)/stack.yaml", encoding: .utf8).replacingOccurrences(of: "60s", with: "10ms"))
        let next = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--state", "state.db", "--auto-approve"], in: ws.dir)
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("took over the lock"))
        #expect(try await store.load(stack: "abandon").resources.count == 2)
        #expect(try await store.unfinishedJournal(stack: "abandon").isEmpty)
    }

    @Test func stateMoveAndRemove() throws {
        let ws = Workspace()
        ws.write("stack.yaml", "stack: edit\nresources:\n  a: { type: core.data, properties: { input: 1 } }\n  b: { type: core.data, properties: { input: 2 } }\n")
        #expect(try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir).status == 0)
        var r = try EthstackBinary.run(["state", "mv", "--stack", "stack.yaml", "a", "renamed"], in: ws.dir)
        #expect(r.status == 0)
        r = try EthstackBinary.run(["state", "rm", "--stack", "stack.yaml", "b"], in: ws.dir)
        #expect(r.status == 0)
        r = try EthstackBinary.run(["state", "list", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.stdout == "renamed\n")
        r = try EthstackBinary.run(["state", "rm", "--stack", "stack.yaml", "nothing"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("no resource nothing in state"))
        // `a` and `b` are planned again; `renamed` is no longer declared and would be destroyed.
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.stdout.contains("Plan: 2 to add, 0 to change, 1 to destroy."))
    }

    @Test func importAdoptsExistingObjectsAndDriftReportsChanges() throws {
        let ws = Workspace()
        ws.write("existing-a.txt", "alpha")
        ws.write("existing-b.txt", "bravo")
        ws.write("stack.yaml", """
        stack: adopt
        resources:
          files:
            type: local.file
            for_each: { a: alpha, b: bravo }
            properties: { path: "existing-${each.key}.txt", content: "${each.value}" }
        """)
        var r = try EthstackBinary.run(["import", "--stack", "stack.yaml", "files[\"a\"]=\(ws.dir)/existing-a.txt",
                                        "files[\"b\"]=\(ws.dir)/existing-b.txt"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Imported 2 object(s)"))
        r = try EthstackBinary.run(["import", "--stack", "stack.yaml", "nothere=x"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("nothere is not declared"))
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--detailed-exitcode"], in: ws.dir)
        #expect(r.status == 0, "imported objects match the stack: \(r.stdout)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0)
        ws.write("existing-b.txt", "changed by hand")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 2)
        #expect(r.stdout.contains("files[\"b\"] has changed"))
        #expect(r.stdout.contains("\"bravo\" -> \"changed by hand\""))
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--json"], in: ws.dir)
        #expect(r.status == 2)
        let json = try Value.parseJSON(r.stdout)
        #expect(json["drift"] == true)
        #expect(json["resource_drift"]?.listValue?.first?["address"] == "files[\"b\"]")
    }

    @Test func driftIsForNightlyCI() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: nightly
        resources:
          files:
            type: local.file
            for_each: { a: alpha, b: bravo }
            properties: { path: "out-${each.key}.txt", content: "${each.value}" }
          expected:
            type: local.file
            properties: { path: "out-expected.txt", content: "as written" }
            drift: { ignore: [content], reason: "the release job rewrites it", until: 2999-12-31 }
        """)
        var r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout)")

        // Drift exits 2 and names the attribute once; expected drift is listed, with its reason.
        ws.write("out-b.txt", "changed by hand")
        ws.write("out-expected.txt", "rewritten by the release job")
        let database = ws.dir + "/state/nightly.db"
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 2)
        #expect(r.stdout.contains(#"content: "bravo" -> "changed by hand""#), "\(r.stdout)")
        #expect(r.stdout.contains("(ignored) expected: content — the release job rewrites it"), "\(r.stdout)")
        #expect(!r.stdout.contains("files[\"a\"]"))

        // JSON, Markdown and SARIF; --out writes the file. Drift wrote nothing to state.
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--json"], in: ws.dir)
        let json = try Value.parseJSON(r.stdout)
        #expect(json["format_version"] == "2.0")
        #expect(json["resource_drift"]?.listValue?.first?["changes"]?.listValue?.first?["path"] == "content")
        #expect(json["ignored_drift"]?.listValue?.first?["address"] == "expected")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--markdown", "--out", "drift.md"], in: ws.dir)
        #expect(r.status == 2)
        let markdown = try String(contentsOfFile: ws.dir + "/drift.md", encoding: .utf8)
        #expect(markdown.hasPrefix("## ethstack drift: nightly\n\n**1 resource(s) drifted.**"), "\(markdown)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--sarif"], in: ws.dir)
        func fingerprint(_ sarif: String) throws -> Value? {
            try Value.parseJSON(sarif)["runs"]?.listValue?.first?["results"]?.listValue?.first?["partialFingerprints"]
        }
        let first = try fingerprint(r.stdout)
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--sarif"], in: ws.dir)
        let second = try fingerprint(r.stdout)
        #expect(first != nil && first == second)
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == before, "drift must not write the state database")

        // A stack edit that was never applied is not drift: exit 0, reported apart; 3 on request.
        ws.write("out-b.txt", "bravo")
        ws.write("stack.yaml", try String(contentsOfFile: ws.dir + "/stack.yaml", encoding: .utf8)
            .replacingOccurrences(of: "b: bravo", with: "b: bravo-2"))
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("unapplied changes (not drift): files[\"b\"]"), "\(r.stdout)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--fail-on-pending"], in: ws.dir)
        #expect(r.status == 3)
    }

    @Test func anExpiredDriftIgnoreReportsTheDriftAgain() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: expired
        resources:
          f:
            type: local.file
            properties: { path: "out.txt", content: "x" }
            drift: { ignore: [content], reason: "temporary", until: 2020-01-31 }
        """)
        var r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        ws.write("out.txt", "y")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 2)
        #expect(r.stdout.contains("expired on 2020-01-31"), "\(r.stdout)")
        ws.write("stack.yaml", """
        stack: expired
        resources:
          f:
            type: local.file
            properties: { path: "out.txt", content: "x" }
            drift: { ignore: [contnet], reason: "", until: 2020-02-31 }
        """)
        r = try EthstackBinary.run(["validate", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("stack.yaml:6:23: error: drift.ignore: local.file has no attribute \"contnet\""), "\(r.stderr)")
        #expect(r.stderr.contains("\"drift\" needs a \"reason\""), "\(r.stderr)")
        #expect(r.stderr.contains("drift.until: \"2020-02-31\" is not a date"), "\(r.stderr)")
    }

    @Test func applyJSONEmitsOneEventPerLine() throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        let r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve", "--json"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("s3cr3t-value"))
        let events = try r.stdout.split(separator: "\n").map { try Value.parseJSON(String($0)) }
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(types.filter { $0 == "apply_start" }.count == 6)
        #expect(types.filter { $0 == "apply_complete" }.count == 6)
        #expect(types.suffix(2) == ["outputs", "summary"])
        #expect(events.last?["changes"]?["add"] == 6)
        let outputs = try #require(events.first { $0["type"] == "outputs" })
        #expect(outputs["outputs"]?["secret"]?["sensitive"] == true)
        #expect(outputs["outputs"]?["secret"]?["value"] == .null)
        #expect(outputs["outputs"]?["greeting"]?["value"] == "hello")
    }

    @Test func aSavedPlanNeedsItsSensitiveVariablesAgain() throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--out", "p.plan", "--var", "secret=from-plan"], in: ws.dir)
        #expect(r.status == 0)
        #expect(!(try String(contentsOfFile: "\(ws.dir)/p.plan", encoding: .utf8)).contains("from-plan"))
        r = try EthstackBinary.run(["apply", "p.plan", "--var", "secret=another"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("the sensitive variable \"secret\" has a different value than when the plan was made"))
        #expect(!r.stderr.contains("another") && !r.stderr.contains("from-plan"))
        r = try EthstackBinary.run(["apply", "p.plan", "--var", "secret=from-plan"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: "\(ws.dir)/out.txt", encoding: .utf8) == "from-plan")
    }

    @Test func aSavedPlanDoesNotApplyValuesItDidNotShow() throws {
        let ws = Workspace()
        ws.write("params.yaml", "slots: 12\n")
        ws.write("stack.yaml", """
        stack: exact
        resources:
          params:
            type: core.data
            properties: { input: '${yamldecode(file("params.yaml"))}' }
          independent:
            type: core.data
            properties: { input: fixed }
        """)
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--out", "p.plan"], in: ws.dir)
        #expect(r.status == 0)
        // The stack file is unchanged, but a file it reads is not: the plan showed slots 12.
        ws.write("params.yaml", "slots: 6\n")
        r = try EthstackBinary.run(["apply", "p.plan"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stdout.contains("params: create failed: the configuration now gives other values than the plan showed for input, output; make a new plan"))
        r = try EthstackBinary.run(["state", "list", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.stdout == "independent\n")
    }

    @Test func targetLimitsThePlanToAResourceAndWhatItNeeds() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: targets
        resources:
          base: { type: core.data, properties: { input: 1 } }
          uses_base: { type: core.data, properties: { input: "${base.id}" } }
          unrelated: { type: core.data, properties: { input: 2 } }
        """)
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--target", "uses_base"], in: ws.dir)
        #expect(r.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."))
        #expect(!r.stdout.contains("unrelated"))
        r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--target", "base", "--auto-approve"], in: ws.dir)
        #expect(r.status == 0)
        r = try EthstackBinary.run(["state", "list", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.stdout == "base\n")
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."))
    }

    // Every command's --help examples: TrustCommandLineTests.everyHelpExampleParses runs each one.

    @Test func graphPrintsInstancesAndProviders() throws {
        let ws = Workspace()
        ws.write("stack.yaml", sleeper)
        let r = try EthstackBinary.run(["graph", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.stdout.hasPrefix("digraph"))
        #expect(r.stdout.contains("\"last\" -> \"slow[3]\""))
        #expect(r.stdout.contains("\"first\" -> \"provider[core]\""))
    }

    @Test func badInputGetsAPositionNotACrash() throws {
        let ws = Workspace()
        ws.write("stack.yaml", "stack: x\nresources:\n  a: { type: core.data, properties: { input: \"${nope.id}\" } }\n")
        let r = try EthstackBinary.run(["plan", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("stack.yaml:3:49: error: no resource named \"nope\""))
    }
}

import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel

let exampleStack = """
stack: demo
variables:
  zones: { type: map, default: { a: 0, b: 1 } }
  replicas: { type: number, default: 2 }
  label: { type: string, default: one }
  secret: { type: string, default: hunter2, sensitive: true }
resources:
  network:
    type: core.data
    properties:
      input: { label: "${var.label}", cidr: 10.0.0.0/16 }
  subnet:
    type: core.data
    for_each: "${var.zones}"
    properties:
      input: "${cidrsubnet(network.output.cidr, 4, each.value)}"
      triggers: "${network.id}"
  node:
    type: core.data
    count: "${var.replicas}"
    properties:
      input: "${format(\\"node-%d in %s\\", count.index, subnet[\\"a\\"].output)}"
  config:
    type: local.file
    properties:
      path: out/config.json
      content: "${jsonencode({ nodes = node[*].output, secret = var.secret })}"
outputs:
  nodes: { value: "${node[*].output}" }
  secret: { value: "${var.secret}", sensitive: true }
"""

@Suite struct PlanApplyTests {
    func actions(_ plan: Plan) -> [String: ChangeAction] {
        Dictionary(uniqueKeysWithValues: plan.changes.map { ($0.address.description, $0.action) })
    }

    /// Apply keeps exactly `--parallelism` provider calls in flight when that much work is ready:
    /// counted from its events (every call of a round starts before any result is recorded), not timed.
    @Test func applyRunsAsManyCallsAtOnceAsTheParallelismAllows() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: wide
        resources:
          pause:
            type: core.sleep
            count: 12
            properties: { create_duration: 50ms }
        """)
        final class Peak: @unchecked Sendable {
            let lock = NSLock()
            var running = 0, peak = 0
            func record(_ event: ApplyEvent) {
                lock.lock(); defer { lock.unlock() }
                switch event {
                case .started: running += 1; peak = max(peak, running)
                case .completed, .errored: running -= 1
                default: break
                }
            }
        }
        let peak = Peak()
        let summary = try await ws.apply(parallelism: 4, events: { peak.record($0) })
        #expect(summary.created == 12)
        #expect(peak.peak == 4, "at most 4 calls at once, and 4 whenever 4 are ready")
    }

    @Test func planFromEmptyStateCreatesEverythingWithUnknowns() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", exampleStack)
        let plan = try await ws.plan()
        #expect(actions(plan) == ["network": .create, "subnet[\"a\"]": .create, "subnet[\"b\"]": .create,
                                  "node[0]": .create, "node[1]": .create, "config": .create])
        #expect(plan.toAdd == 6 && plan.toChange == 0 && plan.toDestroy == 0)
        let subnet = try #require(plan.changes.first { $0.address.description == "subnet[\"b\"]" })
        #expect(subnet.after?["input"] == "10.0.16.0/20")
        #expect(subnet.after?["triggers"] == .unknown)
        #expect(subnet.after?["id"] == .unknown)
        let config = try #require(plan.changes.first { $0.address.name == "config" })
        #expect(config.after?["content"]?.isSensitive == true)
        let text = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(text.contains("Plan: 6 to add, 0 to change, 0 to destroy."))
        #expect(text.contains("(known after apply)"))
        #expect(text.contains("(sensitive value)"))
        #expect(!text.contains("hunter2"))
        #expect(!PlanJSON.render(plan).contains("hunter2"))
    }

    @Test func applyThenNoChangesThenUpdateReplaceAndDestroy() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", exampleStack)
        let first = try await ws.apply()
        #expect(first.succeeded && first.created == 6)
        let state = try await ws.state("demo")
        #expect(state.resources.count == 6)
        #expect(state.serial == 1 && state.lineage != nil)
        let file = try String(contentsOfFile: "\(ws.dir)/out/config.json", encoding: .utf8)
        #expect(file.contains("node-1 in 10.0.0.0/20"))
        #expect(state.resources[("config" as ResourceAddress)]?.sensitiveAttributes.contains("content") == true)
        #expect(state.outputs["secret"]?.sensitive == true)

        let again = try await ws.plan()
        #expect(!again.hasChanges)
        #expect(again.changes.allSatisfy { $0.action == .noop })

        // A changed input is an update in place; a smaller count deletes an instance.
        let edit = try await ws.plan(vars: ["label=two", "replicas=1"])
        #expect(actions(edit)["network"] == .update)
        #expect(actions(edit)["node[1]"] == .delete)
        #expect(edit.changes.first { $0.address.description == "node[1]" }?.reason == .deleteBecauseCountIndex)
        #expect(actions(edit)["subnet[\"a\"]"] == .noop)

        // Replacing the network changes its id, which the subnets' triggers use: they are replaced too.
        var options = PlanOptions()
        options.replace = [("network" as ResourceAddress)]
        let replace = try await ws.plan(options: options)
        #expect(actions(replace)["network"] == .replace)
        #expect(replace.changes.first { $0.address.name == "network" }?.reason == .replaceByRequest)
        #expect(actions(replace)["subnet[\"a\"]"] == .replace)
        #expect(replace.changes.first { $0.address.description == "subnet[\"a\"]" }?.replacePaths == ["triggers"])
        let text = PlanRenderer(style: TextStyle(color: false)).render(replace)
        #expect(text.contains("# forces replacement"))
        #expect(text.contains("-/+ resource \"core.data\" \"network\""))

        let applied = try await ws.apply(vars: ["label=two", "replicas=1"])
        #expect(applied.succeeded && applied.updated == 2 && applied.deleted == 1)
        #expect(try await ws.plan(vars: ["label=two", "replicas=1"]).hasChanges == false)

        let destroyed = try await ws.apply(vars: ["label=two", "replicas=1"], destroy: true)
        #expect(destroyed.succeeded && destroyed.deleted == 5)
        #expect(try await ws.state("demo").resources.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(ws.dir)/out/config.json"))
        #expect(try await ws.store().history(stack: "demo").map(\.serial) == [1, 2, 3])
    }

    @Test func aFailureStopsDependentsAndTheNextApplyCompletesTheRest() async throws {
        let ws = Workspace()
        ws.write("blocker", "a file where a directory should be")
        let stack = """
        stack: partial
        variables:
          dir: { default: blocker }
        resources:
          independent:
            type: core.data
            properties: { input: 1 }
          broken:
            type: local.file
            properties: { path: "${var.dir}/f.txt", content: x }
          after_broken:
            type: core.data
            properties: { input: "${broken.sha256}" }
        """
        ws.write("stack.yaml", stack)
        let failed = try await ws.apply()
        #expect(!failed.succeeded)
        #expect(failed.failures.map(\.address.description) == ["broken"])
        #expect(failed.failures.first?.message.contains("blocker") == true)
        #expect(failed.skipped.map(\.description) == ["after_broken"])
        let state = try await ws.state("partial")
        #expect(Set(state.resources.keys.map(\.description)) == ["independent"])
        let independentID = state.resources[("independent" as ResourceAddress)]?.id

        let fixed = try await ws.apply(vars: ["dir=good"])
        #expect(fixed.succeeded && fixed.created == 2)
        let after = try await ws.state("partial")
        #expect(after.resources.count == 3)
        #expect(after.resources[("independent" as ResourceAddress)]?.id == independentID)
        #expect(try await ws.store().unfinishedJournal(stack: "partial").isEmpty)
    }

    @Test func preventDestroyIgnoreChangesAndDrift() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: guarded
        variables:
          content: { default: v1 }
        resources:
          keep:
            type: core.data
            lifecycle: { prevent_destroy: true }
            properties: { input: 1, triggers: "${var.content}" }
          file:
            type: local.file
            lifecycle: { ignore_changes: [file_permission] }
            properties: { path: f.txt, content: "${var.content}", file_permission: "0600" }
        """)
        #expect(try await ws.apply().succeeded)
        // The plan says it breaks prevent_destroy (a typed violation, not a string), and apply refuses it.
        let guarded = try await ws.plan(vars: ["content=v2"])
        #expect(guarded.violations.map(\.message) == ["keep has lifecycle.prevent_destroy, but the plan would replace it"])
        #expect(guarded.violations.first?.location?.line == 5)
        await #expect(throws: DiagnosticsError.self) { try await ws.apply(vars: ["content=v2"]) }
        #expect(try await ws.state("guarded").resources["keep"]?.attributes["triggers"] == "v1")
        // Edited behind ethstack's back: drift, and an update to put it back.
        try "tampered".write(toFile: "\(ws.dir)/f.txt", atomically: true, encoding: .utf8)
        chmod("\(ws.dir)/f.txt", 0o644)
        let plan = try await ws.plan()
        #expect(plan.drift.map(\.address.description) == ["file"])
        #expect(plan.drift.first?.attributes.contains("content") == true)
        #expect(actions(plan)["file"] == .update)
        // file_permission changed outside too, but it is ignored.
        let change = try #require(plan.changes.first { $0.address.name == "file" })
        #expect(change.after?["file_permission"] == "0644")
        #expect(PlanRenderer(style: TextStyle(color: false)).render(plan).contains("Objects have changed outside of ethstack"))
        // Deleted outside: planned again.
        try FileManager.default.removeItem(atPath: "\(ws.dir)/f.txt")
        let recreate = try await ws.plan()
        #expect(actions(recreate)["file"] == .create)
        #expect(recreate.drift.first?.kind == .deleted)
    }

    @Test func recordsOfObjectsDeletedOutsideAreDroppedByDestroyAndByRemoval() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", "stack: gone\nresources:\n  f: { type: local.file, properties: { path: f.txt, content: x } }\n  g: { type: local.file, properties: { path: g.txt, content: y } }\n")
        #expect(try await ws.apply().succeeded)
        try FileManager.default.removeItem(atPath: "\(ws.dir)/f.txt")
        // `f` is removed from the stack after it was deleted by hand: nothing to delete, only its record.
        ws.write("stack.yaml", "stack: gone\nresources:\n  g: { type: local.file, properties: { path: g.txt, content: y } }\n")
        let plan = try await ws.plan()
        #expect(plan.forget.map(\.description) == ["f"])
        #expect(plan.toDestroy == 0)
        #expect(try await ws.apply().succeeded)
        #expect(try await ws.state("gone").resources.keys.map(\.description) == ["g"])
        // Destroy after `g` was deleted by hand leaves an empty state.
        try FileManager.default.removeItem(atPath: "\(ws.dir)/g.txt")
        #expect(try await ws.apply(destroy: true).succeeded)
        #expect(try await ws.state("gone").resources.isEmpty)
    }

    @Test func createBeforeDestroyCreatesTheNewObjectFirst() async throws {
        let ws = Workspace()
        let stack = { (v: String) in """
        stack: cbd
        resources:
          thing:
            type: core.data
            lifecycle: { create_before_destroy: \(v == "x" ? "true" : "true") }
            properties: { triggers: \(v) }
        """ }
        ws.write("stack.yaml", stack("x"))
        #expect(try await ws.apply().succeeded)
        ws.write("stack.yaml", stack("y"))
        let log = EventLog()
        let summary = try await ws.apply(events: { log.append($0) })
        #expect(summary.succeeded && summary.replaced == 1)
        #expect(log.actions == ["start create thing", "done create thing", "start delete thing", "done delete thing"])
        #expect(try await ws.state("cbd").resources.count == 1)
    }

    @Test func journalRecoveryAdoptsWhatACreateInFlightMade() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: recover
        resources:
          file:
            type: local.file
            properties: { path: made.txt, content: hello }
        """)
        // A previous run recorded its intent, wrote the file, and died before saving the result.
        let store = try await ws.store()
        _ = try await store.journalStart(stack: "recover", address: ("file" as ResourceAddress), type: "local.file", provider: "local",
                                   action: .create, token: "t-1",
                                   planned: ["path": "made.txt", "content": "hello", "file_permission": "0644"])
        ws.write("made.txt", "hello")
        let plan = try await ws.plan()
        #expect(plan.recovered.count == 1)
        #expect(plan.recovered.first?.contains("adopted") == true)
        #expect(actions(plan)["file"] == .noop)
        let summary = try await ws.apply()
        #expect(summary.succeeded && summary.created == 0)
        #expect(try await ws.state("recover").resources.count == 1)
        #expect(try await ws.store().unfinishedJournal(stack: "recover").isEmpty)
    }

    @Test func schedulingFollowsTheCriticalPath() async throws {
        // chain: a1 → a2 → a3 (0.3 s each) and ten independent 0.3 s sleeps. With parallelism 2 and
        // longest-path-first, the chain starts at once: total ≈ 0.3 × max(3, ⌈13/2⌉) = 2.1 s, and
        // a1 is among the first two started.
        let ws = Workspace()
        var stack = "stack: sched\nresources:\n"
        stack += "  a1: { type: core.sleep, properties: { create_duration: 10ms } }\n"
        stack += "  a2: { type: core.sleep, depends_on: [a1], properties: { create_duration: 10ms } }\n"
        stack += "  a3: { type: core.sleep, depends_on: [a2], properties: { create_duration: 10ms } }\n"
        for i in 0..<10 { stack += "  z\(i): { type: core.sleep, properties: { create_duration: 10ms } }\n" }
        ws.write("stack.yaml", stack)
        let log = EventLog()
        #expect(try await ws.apply(parallelism: 2, events: { log.append($0) }).succeeded)
        #expect(log.actions.prefix(2).contains("start create a1"))
        let order = log.actions.filter { $0.hasPrefix("done") }
        #expect(order.firstIndex(of: "done create a1")! < order.firstIndex(of: "done create a2")!)
        #expect(order.firstIndex(of: "done create a2")! < order.firstIndex(of: "done create a3")!)
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ e: ApplyEvent) {
        lock.lock(); defer { lock.unlock() }
        switch e {
        case .started(let a, let action): items.append("start \(action) \(a)")
        case .completed(let a, let action, _, _): items.append("done \(action) \(a)")
        case .errored(let a, let action, _, _): items.append("failed \(action) \(a)")
        default: break
        }
    }
    var actions: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

/// `lifecycle.ignore_changes` keeps the recorded value, even when the record has none.
@Suite struct IgnoreChangesTests {
    @Test func anIgnoredAttributeTheRecordLacksIsNotTakenFromTheConfiguration() {
        let schema = ResourceSchema(type: "test.thing", description: "", attributes: [
            AttributeSchema("name", .string, .required, forcesReplacement: true),
            AttributeSchema("args", .any, .optional(default: nil), forcesReplacement: true),
        ])
        var lifecycle = Lifecycle()
        lifecycle.ignoreChanges = ["args"]
        let config: [String: Value] = ["name": "a", "args": ["participants": 8]]
        // Recorded without args (adopted by import): the ignored attribute stays absent, no change.
        let proposed = Planner.proposedAttributes(schema: schema, lifecycle: lifecycle, config: config, before: ["name": "a"])
        #expect(proposed["args"] == .null)
        // Recorded with args: they are kept, whatever the configuration says.
        let kept = Planner.proposedAttributes(schema: schema, lifecycle: lifecycle, config: config,
                                              before: ["name": "a", "args": ["participants": 4]])
        #expect(kept["args"] == ["participants": 4])
        // A create (nothing recorded) takes the configuration.
        #expect(Planner.proposedAttributes(schema: schema, lifecycle: lifecycle, config: config, before: nil)["args"]
                == ["participants": 8])
    }
}

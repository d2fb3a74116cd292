// ethstack-bench: run by hand, not by the test suite.
//
//   swift build -c release --product ethstack-bench && .build/release/ethstack-bench
//
// Each measurement runs in its own process so that peak memory (ru_maxrss) belongs to it alone.
import CoreProvider
import EthstackEngine
import EthstackState
import Foundation
import KubeTestServer
import KubernetesProvider
import EthstackLanguage
import EthstackProviderAPI

func peakMemoryMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// A stack of `n` core.data resources: half in chains of 50, half in fan-outs of one hub and 99 leaves.
func syntheticStack(_ n: Int) -> String {
    var out = "stack: bench\nvariables:\n  label: { default: v1 }\nresources:\n"
    out.reserveCapacity(n * 90)
    let chained = n / 2
    for i in 0..<chained {
        if i % 50 == 0 {
            out += "  c\(i):\n    type: core.data\n    properties: { input: \"${var.label}-\(i)\" }\n"
        } else {
            out += "  c\(i):\n    type: core.data\n    properties: { input: \"${c\(i - 1).id}\" }\n"
        }
    }
    var hub = 0
    for i in chained..<n {
        if (i - chained) % 100 == 0 {
            hub = i
            out += "  f\(i):\n    type: core.data\n    properties: { input: { n: \(i) } }\n"
        } else {
            out += "  f\(i):\n    type: core.data\n    properties: { input: \"${f\(hub).output.n}\", triggers: \"${var.label}\" }\n"
        }
    }
    return out
}

func time<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = Date()
    let r = try await body()
    return (r, Date().timeIntervalSince(start))
}

let registry = ProviderRegistry(BuiltinProviders.all)
let args = CommandLine.arguments
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-bench").path
try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

func stackFile(_ n: Int) -> String {
    let path = "\(dir)/stack-\(n).yaml"
    if !FileManager.default.fileExists(atPath: path) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(syntheticStack(n).utf8))
    }
    return path
}

func open(_ n: Int) throws -> StackSession {
    try StackSession.open(file: stackFile(n), registry: registry, inputs: VariableInputs(environment: [:]))
}

func applyAll(_ session: StackSession, store: SQLStateStore, parallelism: Int = 10) async throws -> (ApplySummary, Double, Double) {
    let sessions = session.makeSessions()
    let state = try await store.load(stack: session.stack.name)
    let (plan, planTime) = try await time { try await session.plan(state: state, journal: store, sessions: sessions, options: PlanOptions()).0 }
    let applier = Applier(context: Applier.Context(stack: session.stack, graph: session.graph, registry: registry,
                                                   variables: session.variables, prior: state, store: store, sessions: sessions,
                                                   parallelism: parallelism, command: "bench", interrupt: InterruptFlag(),
                                                   observer: { _ in }))
    // Under the stack's lock, as the command line applies: every state write checks its fence.
    // (ETHSTACK_BENCH_NO_LOCK=1: without it, to measure what the fence costs.)
    let locked = ProcessInfo.processInfo.environment["ETHSTACK_BENCH_NO_LOCK"] == nil
    let lock = locked ? try await store.lock(stack: session.stack.name, operation: "bench", timeout: 0, ttl: 900) { _ in } : nil
    let (summary, applyTime) = try await time { try await applier.apply(plan) }
    if let lock { try await store.unlock(lock) }
    return (summary, planTime, applyTime)
}

switch args.count > 1 ? args[1] : "all" {
case "plan":
    // validate + plan from empty state
    let n = Int(args[2]) ?? 10_000
    _ = stackFile(n)
    let (session, loadTime) = try await time { try open(n) }
    let (plan, planTime) = try await time {
        try await session.plan(state: .empty("bench"), journal: nil, sessions: session.makeSessions(), options: PlanOptions()).0
    }
    print(String(format: "plan %6d resources: load+validate+graph %.3f s, plan %.3f s, total %.3f s, %d to add, peak %.0f MB",
                 n, loadTime, planTime, loadTime + planTime, plan.toAdd, peakMemoryMB()))
case "apply":
    let n = Int(args[2]) ?? 10_000
    let db = "\(dir)/state-\(n).db"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
    let session = try open(n)
    let store = try await SQLStateStore.sqlite(path: db)
    let (summary, planTime, applyTime) = try await applyAll(session, store: store)
    let (noop, noopTime) = try await time {
        try await session.plan(state: try await store.load(stack: "bench"), journal: store, sessions: session.makeSessions(), options: PlanOptions()).0
    }
    await store.close()
    let size = ((try? FileManager.default.attributesOfItem(atPath: db)[.size] as? NSNumber)??.doubleValue ?? 0)
        + ((try? FileManager.default.attributesOfItem(atPath: db + "-wal")[.size] as? NSNumber)??.doubleValue ?? 0)
    print(String(format: "apply %6d resources: plan %.2f s, apply %.2f s (%.0f µs/resource), no-op plan %.2f s (changes: %@), state %.1f MB, peak %.0f MB, %d created",
                 n, planTime, applyTime, applyTime / Double(n) * 1e6, noopTime, noop.hasChanges ? "yes" : "none",
                 size / 1_048_576, peakMemoryMB(), summary.created))
case "schedule":
    // Three chains of five 200 ms sleeps (critical path 1.0 s) and 40 independent 200 ms sleeps.
    var stack = "stack: sched\nresources:\n"
    for c in 0..<3 {
        for i in 0..<5 {
            stack += "  c\(c)_\(i): { type: core.sleep, \(i > 0 ? "depends_on: [c\(c)_\(i - 1)], " : "")properties: { create_duration: 200ms } }\n"
        }
    }
    for i in 0..<40 { stack += "  z\(i): { type: core.sleep, properties: { create_duration: 200ms } }\n" }
    let path = "\(dir)/sched.yaml"
    _ = FileManager.default.createFile(atPath: path, contents: Data(stack.utf8))
    for parallelism in [10, 15, 50] {
        let db = "\(dir)/sched-\(parallelism).db"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        let session = try StackSession.open(file: path, registry: registry, inputs: VariableInputs(environment: [:]))
        let (_, _, applyTime) = try await applyAll(session, store: try await SQLStateStore.sqlite(path: db), parallelism: parallelism)
        // Lower bound for 55 equal 200 ms tasks: max(critical path, ⌈55 / parallelism⌉ rounds).
        let bound = max(1.0, (55.0 / Double(parallelism)).rounded(.up) * 0.2)
        print(String(format: "schedule parallelism %2d: wall %.3f s, lower bound %.3f s (critical path 1.000 s), %.1f%% over",
                     parallelism, applyTime, bound, (applyTime / bound - 1) * 100))
    }
case "kube-plan":
    // A plan from empty state of N kubernetes.manifest ConfigMaps (N declarations, no references
    // between them) against the Kubernetes API test server answering after `delay` ms, as a remote
    // cluster would: every create is checked with a server-side dry run.
    let n = args.count > 2 ? Int(args[2]) ?? 200 : 200
    let delayMS = args.count > 3 ? Double(args[3]) ?? 20 : 20
    var options = KubeTestServer.Options()
    options.responseDelay = delayMS / 1000
    let server = try await KubeTestServer.start(port: 0, options: options)
    // With a fourth argument `count`, one declaration with `count: N` instead of N declarations.
    let counted = args.count > 4 && args[4] == "count"
    var stack = "stack: kube-bench\nproviders:\n  kubernetes: { host: \"\(server.url)\", token: t }\nresources:\n"
    if counted {
        stack += "  cm: { type: kubernetes.manifest, count: \(n), properties: { manifest: { apiVersion: v1, kind: ConfigMap, "
            + "metadata: { name: \"cm-${count.index}\", namespace: default }, data: { n: \"${count.index}\" } } } }\n"
    } else {
        for i in 0..<n {
            stack += "  cm\(i): { type: kubernetes.manifest, properties: { manifest: { apiVersion: v1, kind: ConfigMap, "
                + "metadata: { name: cm-\(i), namespace: default }, data: { n: \"\(i)\" } } } }\n"
        }
    }
    let path = "\(dir)/kube-\(n)\(counted ? "-count" : "").yaml"
    _ = FileManager.default.createFile(atPath: path, contents: Data(stack.utf8))
    let kubeRegistry = ProviderRegistry(BuiltinProviders.all + [KubernetesProvider(environment: [:])])
    let session = try StackSession.open(file: path, registry: kubeRegistry, inputs: VariableInputs(environment: [:]))
    let (plan, planTime) = try await time {
        try await session.plan(state: .empty("kube-bench"), journal: nil, sessions: session.makeSessions(), options: PlanOptions()).0
    }
    // Then apply it and plan again: the no-op plan is a refresh (one GET per object) and nothing else.
    let db = "\(dir)/kube-\(n).db"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
    let store = try await SQLStateStore.sqlite(path: db)
    let applier = Applier(context: Applier.Context(stack: session.stack, graph: session.graph, registry: kubeRegistry,
                                                   variables: session.variables, prior: .empty("kube-bench"), store: store,
                                                   sessions: session.makeSessions(), parallelism: 10, command: "bench",
                                                   interrupt: InterruptFlag(), observer: { _ in }))
    let (summary, applyTime) = try await time { try await applier.apply(plan) }
    let (noop, noopTime) = try await time {
        try await session.plan(state: try await store.load(stack: "kube-bench"), journal: store, sessions: session.makeSessions(),
                               options: PlanOptions()).0
    }
    await store.close()
    print(String(format: "kube-plan %4d manifests\(counted ? " (count)" : ""), server delay %.0f ms: plan %.3f s (%d to add, %d warnings), apply %.2f s (%d created), no-op plan %.3f s (changes: %@), peak %.0f MB",
                 n, delayMS, planTime, plan.toAdd, plan.warnings.count, applyTime, summary.created, noopTime,
                 noop.hasChanges ? "yes" : "none", peakMemoryMB()))
    server.shutdown()
default:
    let me = URL(fileURLWithPath: args[0]).path
    for run in [["plan", "1000"], ["plan", "10000"], ["apply", "1000"], ["apply", "10000"], ["schedule"]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: me)
        p.arguments = run
        try p.run()
        p.waitUntilExit()
    }
}

import Foundation
import EthstackModel

/// One apply's walk of the apply graph: starts what is ready (longest remaining path first, up to
/// the parallelism limit), records what each call produced, and skips the dependents of a failure.
/// Ctrl-C stops the starting; calls in flight finish.
struct ApplyWalk {
    let plan: Plan
    let applier: Applier
    let graph: ApplyGraph
    let declarations: [String: ResourceDeclaration]
    /// What expressions see: prior state with the plan laid over it, then each result as it comes.
    var values: ValueTable
    /// Deletes configure their provider from what existed before this run: a provider pointed at a
    /// cluster that this run destroys (after the objects on it) still reaches that cluster.
    var priorValues: ValueTable
    var summary = ApplySummary()

    private var walk: TopologicalWalk
    private var ready: Heap<Int>
    private var finished = 0
    private var running: [Int: (ProviderOperation, Date)] = [:]
    private var blocked = Set<Int>()
    private var interruptedReported = false

    init(plan: Plan, applier: Applier) {
        let ctx = applier.context
        self.plan = plan
        self.applier = applier
        declarations = Dictionary(ctx.stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        graph = ApplyGraph(plan: plan, providerDependencies: Self.providerDependencies(ctx.graph))
        values = ValueTable(stack: ctx.stack, prior: ctx.prior, unrecorded: .expanded)
        priorValues = ValueTable(stack: ctx.stack, prior: ctx.prior, unrecorded: .expanded)
        for c in plan.changes {
            // What is being deleted is no longer part of the configuration: expressions don't see it.
            if c.action == .delete { values.remove(c.address) } else if let after = c.after { values.set(c.address, .map(after)) }
        }
        summary.destroy = plan.destroy
        walk = TopologicalWalk(waitsFor: graph.nodes.map(\.waitsFor))
        let nodes = graph.nodes
        ready = Heap<Int>(priority: { nodes[$0].priority })
        for n in walk.initiallyReady { ready.push(n) }
    }

    /// Provider configuration → the resources it refers to.
    static func providerDependencies(_ graph: StackGraph) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for node in graph.order {
            if case .provider(let name) = node {
                out[name] = graph.dependencies(of: node).compactMap {
                    if case .resource(let r) = $0 { return r }
                    return nil
                }
            }
        }
        return out
    }

    mutating func run() async throws {
        let ctx = applier.context
        let plan = plan
        let applier = applier
        try await withThrowingTaskGroup(of: (Int, Applier.Outcome).self) { group in
            while finished < graph.nodes.count {
                for launch in startReady() {
                    group.addTask { (launch.node, await applier.execute(launch, plan: plan)) }
                }
                if running.isEmpty {
                    if ctx.interrupt.isRaised || finished >= graph.nodes.count { break }
                    if ready.isEmpty {
                        throw DiagnosticsError([.error(nil, "apply cannot continue: \(graph.nodes.count - finished) operations wait on each other (a dependency cycle in the plan)")])
                    }
                    continue
                }
                if ctx.interrupt.isRaised, !interruptedReported {
                    interruptedReported = true
                    ctx.observer(.interrupted(running: running.keys.compactMap { label($0).map { "\($0.0)" } }.sorted()))
                }
                guard let (n, outcome) = try await group.next() else { break }
                record(n, outcome)
            }
        }
        summary.interrupted = ctx.interrupt.isRaised && finished < graph.nodes.count
    }

    /// The calls to start now: what is ready, up to the parallelism limit, each evaluated here with
    /// the values of everything finished so far. Barriers complete at once.
    private mutating func startReady() -> [Applier.Launch] {
        let ctx = applier.context
        var launches: [Applier.Launch] = []
        while running.count < ctx.parallelism, !ctx.interrupt.isRaised, let n = ready.pop() {
            if blocked.contains(n) { continue }
            let node = graph.nodes[n]
            guard let ci = node.change else {
                complete(n)
                continue
            }
            let change = plan.changes[ci]
            guard let (address, operation) = label(n) else { continue }
            do {
                let launch = try applier.prepare(n, node.kind, change, declarations: declarations, values: &values,
                                                 priorValues: &priorValues)
                running[n] = (operation, Date())
                ctx.observer(.started(address: address, action: operation))
                launches.append(launch)
            } catch {
                let message = describe(error)
                finished += 1
                summary.failures.append(ApplyFailure(address: address, action: operation, message: message))
                ctx.observer(.errored(address: address, action: operation, message: message, elapsed: 0))
                block(from: n, because: "\(address) failed")
            }
        }
        return launches
    }

    /// Records what node `n`'s call produced and releases its dependents (or skips them).
    private mutating func record(_ n: Int, _ outcome: Applier.Outcome) {
        let ctx = applier.context
        let (operation, start) = running.removeValue(forKey: n) ?? (.update, Date())
        let elapsed = Date().timeIntervalSince(start)
        guard let ci = graph.nodes[n].change else { complete(n); return }
        let change = plan.changes[ci]
        switch outcome {
        case .applied(let state):
            values.set(change.address, .map(state.markedAttributes))
            switch change.action {
            case .create: summary.created += 1
            case .update: summary.updated += 1
            case .replace: summary.replaced += 1
            default: break
            }
            ctx.observer(.completed(address: change.address, action: operation, id: state.shownID, elapsed: elapsed))
        case .destroyed:
            if change.action == .delete {
                summary.deleted += 1
                values.remove(change.address)
            }
            ctx.observer(.completed(address: change.address, action: operation, id: nil, elapsed: elapsed))
        case .failed(let message):
            finished += 1
            summary.failures.append(ApplyFailure(address: change.address, action: operation, message: message))
            ctx.observer(.errored(address: change.address, action: operation, message: message, elapsed: elapsed))
            block(from: n, because: "\(change.address) failed")
            return
        }
        complete(n)
    }

    private mutating func complete(_ n: Int) {
        finished += 1
        for d in walk.complete(n) { ready.push(d) }
    }

    /// Marks every node downstream of a failed one as skipped.
    private mutating func block(from failed: Int, because reason: String) {
        var queue = graph.nodes[failed].dependents
        while let n = queue.popLast() {
            guard blocked.insert(n).inserted else { continue }
            finished += 1
            if let (address, operation) = label(n) {
                summary.skipped.append(address)
                applier.context.observer(.skipped(address: address, action: operation, because: reason))
            }
            queue += graph.nodes[n].dependents
        }
    }

    /// The address and provider operation of a node (nil for barriers).
    private func label(_ n: Int) -> (ResourceAddress, ProviderOperation)? {
        guard let ci = graph.nodes[n].change else { return nil }
        return (plan.changes[ci].address, graph.nodes[n].operation(plan.changes[ci]))
    }
}

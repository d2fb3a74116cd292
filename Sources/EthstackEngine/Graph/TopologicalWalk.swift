/// Kahn's algorithm, written once: which nodes are ready as others complete. `StackGraph` orders
/// declarations with it, `ApplyGraph` orders its nodes to compute priorities, and the applier
/// schedules provider calls with it as their results come in. Nodes are indices; `waitsFor[n]`
/// lists what node `n` waits for (an edge listed twice is waited for twice, consistently).
struct TopologicalWalk {
    private var remaining: [Int]
    private let dependents: [[Int]]
    /// The nodes that wait for nothing, in index order.
    let initiallyReady: [Int]

    init(waitsFor: [[Int]]) {
        let remaining = waitsFor.map(\.count)
        self.remaining = remaining
        var dependents = Array(repeating: [Int](), count: waitsFor.count)
        for (node, edges) in waitsFor.enumerated() { for e in edges { dependents[e].append(node) } }
        self.dependents = dependents
        initiallyReady = remaining.indices.filter { remaining[$0] == 0 }
    }

    /// Marks `node` done; returns its dependents that are ready now, in index order.
    mutating func complete(_ node: Int) -> [Int] {
        var ready: [Int] = []
        for d in dependents[node] {
            remaining[d] -= 1
            if remaining[d] == 0 { ready.append(d) }
        }
        return ready
    }

    /// Every node after all it waits for, ready nodes first-come first-served (index order among
    /// nodes ready at once). Nodes in a cycle, or waiting on one, are missing from the result.
    static func order(waitsFor: [[Int]]) -> [Int] {
        var walk = TopologicalWalk(waitsFor: waitsFor)
        var order = walk.initiallyReady
        order.reserveCapacity(waitsFor.count)
        var head = 0
        while head < order.count {
            order += walk.complete(order[head])
            head += 1
        }
        return order
    }
}

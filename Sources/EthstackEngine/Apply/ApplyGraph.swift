/// The apply graph, built from the plan alone: one node per provider call (an apply — create or
/// update — or a destroy), plus zero-cost barrier nodes standing for "every instance of a
/// declaration", so that fan-ins cost O(instances) edges instead of O(instances²).
struct ApplyGraph {
    enum Kind { case apply, destroy, barrier }

    struct Node {
        var kind: Kind
        /// Index into the plan's changes (nil for barriers).
        var change: Int?
        var label: String
        var waitsFor: [Int] = []
        var dependents: [Int] = []
        /// Length of the longest chain of dependents: what to start first.
        var priority = 0

        /// The provider call this node makes for `change` (barriers make none).
        func operation(_ change: ResourceChange) -> ProviderOperation {
            kind == .destroy ? .delete : ApplyGraph.operation(applying: change)
        }
    }

    /// The call that brings `change` into being: the create half of a replacement is a create.
    static func operation(applying change: ResourceChange) -> ProviderOperation {
        change.action == .update ? .update : .create
    }

    var nodes: [Node] = []

    init(plan: Plan, providerDependencies: [String: [String]]) {
        let changes = plan.changes
        var applyNode: [Int: Int] = [:]
        var destroyNode: [Int: Int] = [:]
        var applyByDecl: [String: [Int]] = [:]
        var destroyByDecl: [String: [Int]] = [:]
        for (i, c) in changes.enumerated() {
            switch c.action {
            case .create, .update:
                applyNode[i] = add(Node(kind: .apply, change: i, label: c.address.description))
            case .replace:
                applyNode[i] = add(Node(kind: .apply, change: i, label: c.address.description))
                destroyNode[i] = add(Node(kind: .destroy, change: i, label: c.address.description))
            case .delete:
                destroyNode[i] = add(Node(kind: .destroy, change: i, label: c.address.description))
            case .noop:
                break
            }
            if let n = applyNode[i] { applyByDecl[c.address.name, default: []].append(n) }
            if let n = destroyNode[i] { destroyByDecl[c.address.name, default: []].append(n) }
        }
        var applyBarrier: [String: Int] = [:]
        for (decl, members) in applyByDecl {
            let b = add(Node(kind: .barrier, change: nil, label: "all of \(decl)"))
            for m in members { edge(b, waitsFor: m) }
            applyBarrier[decl] = b
        }
        var destroyBarrier: [String: Int] = [:]
        for (decl, members) in destroyByDecl {
            let b = add(Node(kind: .barrier, change: nil, label: "destroy all of \(decl)"))
            for m in members { edge(b, waitsFor: m) }
            destroyBarrier[decl] = b
        }
        // Who depends on each declaration (from configuration and from state).
        var dependentsOf: [String: Set<String>] = [:]
        for c in changes { for d in c.dependsOn { dependentsOf[d, default: []].insert(c.address.name) } }
        // What a provider's configuration refers to outlives the objects made through it: the
        // Kubernetes objects on an EKS cluster are deleted before the cluster.
        for c in changes { for d in providerDependencies[c.provider] ?? [] { dependentsOf[d, default: []].insert(c.address.name) } }

        for (i, c) in changes.enumerated() {
            if let a = applyNode[i] {
                // Creates and updates wait for what they refer to, and for what their provider's
                // configuration refers to (a provider configured from a cluster made in this run).
                var deps = Set(c.dependsOn)
                for d in providerDependencies[c.provider] ?? [] { deps.insert(d) }
                for d in deps where d != c.address.name { if let b = applyBarrier[d] { edge(a, waitsFor: b) } }
            }
            if let x = destroyNode[i] {
                // Dependents are destroyed first.
                for dependent in dependentsOf[c.address.name] ?? [] where dependent != c.address.name {
                    if let b = destroyBarrier[dependent] { edge(x, waitsFor: b) }
                }
                // A delete (or a create-before-destroy replace) waits until dependents stopped
                // referring to the old object.
                if c.action == .delete || c.createBeforeDestroy {
                    for dependent in dependentsOf[c.address.name] ?? [] where dependent != c.address.name {
                        if let b = applyBarrier[dependent] { edge(x, waitsFor: b) }
                    }
                }
            }
            if c.action == .replace, let a = applyNode[i], let x = destroyNode[i] {
                if c.createBeforeDestroy { edge(x, waitsFor: a) } else { edge(a, waitsFor: x) }
            }
        }
        computePriorities()
    }

    @discardableResult
    mutating func add(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    mutating func edge(_ from: Int, waitsFor to: Int) {
        nodes[from].waitsFor.append(to)
        nodes[to].dependents.append(from)
    }

    /// Longest remaining path (in provider calls) from each node, computed over a topological order.
    mutating func computePriorities() {
        let order = TopologicalWalk.order(waitsFor: nodes.map(\.waitsFor))
        for n in order.reversed() {
            let own = nodes[n].kind == .barrier ? 0 : 1
            nodes[n].priority = own + (nodes[n].dependents.map { nodes[$0].priority }.max() ?? 0)
        }
    }
}

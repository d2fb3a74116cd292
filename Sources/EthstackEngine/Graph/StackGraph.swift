import EthstackModel
/// The dependency graph of a stack's declarations: resources and provider configurations are nodes;
/// every reference and `depends_on` is an edge. Instances are expanded from it during planning.
public struct StackGraph: Sendable {
    public enum Node: Hashable, Sendable, Comparable, CustomStringConvertible {
        case resource(String)
        case provider(String)

        public var description: String {
            switch self {
            case .resource(let n): return n
            case .provider(let n): return "provider[\(n)]"
            }
        }
    }

    public struct Edge: Sendable, Hashable {
        public var to: Node
        /// Where the reference that makes the edge was written (nil for implied provider edges).
        public var location: SourceLocation?
    }

    /// Node → what it depends on.
    public private(set) var dependencies: [Node: [Edge]] = [:]
    /// Dependencies first.
    public private(set) var order: [Node] = []
    /// `order` cut into levels: a node's level is one more than its deepest dependency's, so the
    /// nodes of a level depend only on earlier levels and can be worked on together.
    public private(set) var levels: [[Node]] = []

    /// Builds the graph, in small named steps; a cycle is an error listing it in order.
    public init(stack: StackDeclaration) throws {
        addResourceNodes(stack)
        addProviderNodes(stack)
        addReferenceEdges(stack)
        addDependsOnEdges(stack)
        addProviderEdges(stack)
        try sortTopologically()
    }

    public func dependencies(of node: Node) -> [Node] {
        (dependencies[node] ?? []).map(\.to)
    }

    private mutating func addResourceNodes(_ stack: StackDeclaration) {
        for r in stack.resources { dependencies[.resource(r.name)] = [] }
    }

    private mutating func addProviderNodes(_ stack: StackDeclaration) {
        for p in stack.providers { dependencies[.provider(p.name)] = [] }
        for r in stack.resources where dependencies[.provider(r.providerConfigurationName)] == nil {
            dependencies[.provider(r.providerConfigurationName)] = []
        }
    }

    private mutating func addEdge(from: Node, to: Node, at location: SourceLocation?) {
        guard dependencies[to] != nil, from != to || location != nil else { return }
        if dependencies[from, default: []].contains(where: { $0.to == to }) { return }
        dependencies[from, default: []].append(Edge(to: to, location: location))
    }

    private mutating func addReferenceEdges(_ stack: StackDeclaration) {
        for r in stack.resources {
            for ref in r.references where !["var", "each", "count"].contains(ref.root) {
                addEdge(from: .resource(r.name), to: .resource(ref.root), at: ref.location)
            }
        }
        for p in stack.providers {
            for ref in p.configuration?.references ?? [] where !["var", "each", "count"].contains(ref.root) {
                addEdge(from: .provider(p.name), to: .resource(ref.root), at: ref.location)
            }
        }
    }

    private mutating func addDependsOnEdges(_ stack: StackDeclaration) {
        for r in stack.resources {
            for dep in r.dependsOn { addEdge(from: .resource(r.name), to: .resource(dep.name), at: dep.location) }
        }
    }

    private mutating func addProviderEdges(_ stack: StackDeclaration) {
        for r in stack.resources {
            addEdge(from: .resource(r.name), to: .provider(r.providerConfigurationName), at: nil)
        }
    }

    /// Orders the nodes so each comes after what it depends on (ties in node order, so the
    /// result does not depend on hashing); a cycle is an error that names it.
    private mutating func sortTopologically() throws {
        let nodes = dependencies.keys.sorted()
        let index = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1, $0) })
        let waitsFor = nodes.map { node in (dependencies[node] ?? []).compactMap { index[$0.to] } }
        let result = TopologicalWalk.order(waitsFor: waitsFor).map { nodes[$0] }
        if result.count < nodes.count {
            throw cycleError(among: Set(nodes).subtracting(result))
        }
        order = result
        var depth: [Node: Int] = [:]
        depth.reserveCapacity(result.count)
        for node in result {
            let level = (dependencies[node] ?? []).map { (depth[$0.to] ?? 0) + 1 }.max() ?? 0
            depth[node] = level
            while levels.count <= level { levels.append([]) }
            levels[level].append(node)
        }
    }

    /// Finds one cycle among the unsorted nodes and describes it edge by edge.
    private func cycleError(among nodes: Set<Node>) -> DiagnosticsError {
        // Walk dependencies inside the unsorted set until a node repeats.
        var start = nodes.min()!
        var path: [Node] = []
        var position: [Node: Int] = [:]
        var current = start
        while position[current] == nil {
            position[current] = path.count
            path.append(current)
            guard let next = (dependencies[current] ?? []).map(\.to).filter({ nodes.contains($0) }).min() else { break }
            current = next
        }
        let cycleStart = position[current] ?? 0
        let cycle = Array(path[cycleStart...])
        start = cycle[0]
        var steps: [String] = []
        var firstLocation: SourceLocation?
        for (i, node) in cycle.enumerated() {
            let next = cycle[(i + 1) % cycle.count]
            let edge = dependencies[node]?.first { $0.to == next }
            if firstLocation == nil { firstLocation = edge?.location }
            steps.append("\(node) refers to \(next)" + (edge?.location.map { " at \($0)" } ?? ""))
        }
        let names = (cycle + [start]).map(\.description).joined(separator: " → ")
        return DiagnosticsError([.error(firstLocation, "dependency cycle: \(names)\n  " + steps.joined(separator: "\n  "))])
    }
}

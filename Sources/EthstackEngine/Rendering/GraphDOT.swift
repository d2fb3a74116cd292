import EthstackLanguage
import EthstackModel
/// The graph as Graphviz DOT: one node per resource instance (where `count`/`for_each` can be
/// expanded from variables alone; otherwise one node for the declaration) and per provider
/// configuration; edges point from a node to what it depends on.
public enum GraphDOT {
    public static func render(_ graph: StackGraph, stack: StackDeclaration, variables: [String: Value] = [:]) -> String {
        let declarations = Dictionary(stack.resources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var unknownResources: [String: Value] = [:]
        for r in stack.resources { unknownResources[r.name] = .unknown }
        let evaluator = Evaluator(scope: EvaluationScope(stack: stack, variables: variables, resources: unknownResources))
        var instances: [StackGraph.Node: [String]] = [:]
        for node in graph.order {
            switch node {
            case .provider(let name):
                instances[node] = ["provider[\(name)]"]
            case .resource(let name):
                guard let decl = declarations[name] else { continue }
                if let expanded = try? InstanceExpansion.expand(decl, evaluator: evaluator) {
                    instances[node] = expanded.map(\.address.description)
                } else {
                    instances[node] = ["\(name)[*]"]
                }
            }
        }
        var out = "digraph ethstack {\n  rankdir = \"RL\";\n  node [shape = box, fontname = \"Helvetica\"];\n"
        for node in graph.order {
            let shape = { if case .provider = node { return ", shape = ellipse" } else { return "" } }()
            let type = { if case .resource(let n) = node { return declarations[n]?.type ?? "" } else { return "" } }()
            for label in instances[node] ?? [] {
                let text = type.isEmpty ? label : "\(label)\\n\(type)"
                out += "  \(quote(label)) [label = \(quote(text))\(shape)];\n"
            }
        }
        for node in graph.order {
            for dep in graph.dependencies(of: node) {
                for from in instances[node] ?? [] {
                    for to in instances[dep] ?? [] { out += "  \(quote(from)) -> \(quote(to));\n" }
                }
            }
        }
        return out + "}\n"
    }

    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\\\\n", with: "\\n") + "\""
    }
}

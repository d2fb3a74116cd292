import Foundation
import Testing
import CoreProvider
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel
@testable import EthstackProviderAPI

/// Random and mutated input never crashes the YAML loader, the expression parser or the evaluator:
/// it is either accepted or rejected with a diagnostic.
@Suite struct ParserRobustnessTests {
    /// A deterministic generator, so a failure can be reproduced from its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let fragments = ["${", "}", "var.", "each.", "count.index", "x", "a", "[", "]", "[*]", ".", "\"", "\\", "(", ")",
                            ",", "0", "12", "-1", "1e3", "cidrsubnet(", "format(", "\"%d\"", "join(", "lookup(", "yamldecode(",
                            "jsonencode(", "{", "=", ":", "?", "!", "&&", "||", "==", "+", "*", "/", "%", " ", "$$", "null",
                            "true", "\n", "é", "🙂", "\u{0}"]

    @Test func randomTemplatesParseOrFailCleanly() {
        var rng = SplitMix(state: 42)
        let scope = EvaluationScope(variables: ["x": "10.0.0.0/16", "a": ["k": 1]],
                                    resources: ["x": ["id": "i", "list": [1, 2]], "a": .list([["id": .unknown]])])
        for _ in 0..<20_000 {
            let n = Int.random(in: 1...12, using: &rng)
            let text = (0..<n).map { _ in Self.fragments.randomElement(using: &rng)! }.joined()
            do {
                let template = try ExpressionParser.parseTemplate(text, at: SourceLocation(file: "fuzz", line: 1, column: 1))
                // Accepted or diagnosed with a position — any other error is a bug.
                do {
                    _ = try Evaluator(scope: scope).evaluate(template)
                } catch let e as DiagnosticsError {
                    #expect(!e.diagnostics.isEmpty && e.diagnostics.allSatisfy { $0.location != nil },
                            "\(text.debugDescription): a diagnostic without a position: \(e)")
                }
            } catch let e as DiagnosticsError {
                #expect(e.diagnostics.allSatisfy { $0.location != nil }, "\(text.debugDescription): \(e)")
            } catch {
                Issue.record("\(text.debugDescription): unexpected error \(error)")
            }
        }
    }

    @Test func mutatedStacksLoadAndPlanOrFailCleanly() async {
        var rng = SplitMix(state: 7)
        let base = exampleStack
        let registry = ProviderRegistry(BuiltinProviders.all)
        let loader = StackLoader(registry: registry)
        let pieces = [":", "-", " ", "\n", "{", "}", "[", "]", "&a", "*a", "<<: *a", "!!str", "'", "\"", "${", "}", "#", "\t", "|", ">"]
        for _ in 0..<3_000 {
            var chars = Array(base)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<chars.count, using: &rng)
                if Bool.random(using: &rng) {
                    chars.insert(contentsOf: pieces.randomElement(using: &rng)!, at: i)
                } else {
                    chars.removeSubrange(i..<min(chars.count, i + Int.random(in: 1...6, using: &rng)))
                }
            }
            let text = String(chars)
            do {
                let stack = try loader.load(text: text, file: "fuzz.yaml")
                try StackValidator(registry: registry).validate(stack)
                let graph = try StackGraph(stack: stack)
                let variables = try VariableValues.resolve(stack.variables, inputs: VariableInputs(environment: [:]))
                let session = StackSession(registry: registry, stack: stack, graph: graph, variables: variables)
                _ = try await session.plan(state: .empty(stack.name), journal: nil, sessions: session.makeSessions(),
                                           options: PlanOptions())
            } catch is DiagnosticsError {
            } catch {
                Issue.record("unexpected error \(error) for:\n\(text)")
            }
        }
    }
}

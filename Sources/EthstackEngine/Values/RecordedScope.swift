import EthstackLanguage
import EthstackModel

extension EvaluationScope {
    /// What names mean against recorded state (checks, the console): variables, each resource as
    /// recorded (unknown when not in state), and `outputs` (the recorded outputs; declared ones not
    /// recorded yet are unknown).
    public static func recorded(stack: StackDeclaration, variables: [String: Value], state: StackState) -> EvaluationScope {
        var table = ValueTable(stack: stack, prior: state, unrecorded: .unknown)
        var resources = table.allValues()
        var outputs: [String: Value] = [:]
        for o in stack.outputs { outputs[o.name] = .unknown }
        for (name, o) in state.outputs { outputs[name] = o.sensitive ? o.value.markedSensitive : o.value }
        resources["outputs"] = .map(outputs)
        return EvaluationScope(stack: stack, variables: variables, resources: resources)
    }
}

/// `ethstack console`: one expression per line, evaluated in a scope; the answer as text, with
/// sensitive values as `(sensitive value)` and unknown ones as `(known after apply)`.
public struct Console: Sendable {
    public let scope: EvaluationScope
    /// The longest line evaluated (1 MiB); a longer one is refused, not parsed.
    public static let maxLineBytes = 1 << 20

    public init(scope: EvaluationScope) {
        self.scope = scope
    }

    /// The answer to one line, or the diagnostics (each with `<console>:line:column`).
    public func answer(_ line: String, lineNumber: Int, file: String = "<console>") -> Result<String, DiagnosticsError> {
        let at = SourceLocation(file: file, line: lineNumber, column: 1)
        guard line.utf8.count <= Console.maxLineBytes else {
            return .failure(DiagnosticsError([.error(at, "the line is \(line.utf8.count) bytes: at most \(Console.maxLineBytes)")]))
        }
        do {
            let expression = try ExpressionParser.parseExpression(line, at: at)
            return .success(Console.render(try Evaluator(scope: scope).evaluate(expression)))
        } catch let e as DiagnosticsError {
            return .failure(e)
        } catch {
            return .failure(DiagnosticsError([.error(at, "\(error)")]))
        }
    }

    /// A value as the console shows it: strings quoted, lists and maps as indented JSON.
    public static func render(_ value: Value) -> String {
        switch value {
        case .sensitive: return "(sensitive value)"
        case .unknown: return "(known after apply)"
        case .null: return "null"
        default: return value.redacted.jsonString(pretty: true)
        }
    }
}

import Foundation
import EthstackModel
import EthstackYAML

/// Where variable values come from, lowest precedence first: defaults, `ETHSTACK_VAR_<name>`,
/// `--var-file` files (in order), `--var k=v` (in order).
public struct VariableInputs: Sendable {
    public var assignments: [String] = []
    public var files: [String] = []
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Values fixed by a saved plan: they win over everything else.
    public var preset: [String: Value] = [:]
    /// A required sensitive variable without a value resolves to an unknown sensitive value instead
    /// of an error: `plan` shows what it feeds as known after apply; `apply` leaves this off and refuses.
    public var unsetSensitiveIsUnknown = false
    /// Every required variable without a value resolves to an unknown (sensitive when declared so):
    /// `validate` and `graph` need no values, so a pull-request check needs no production secrets.
    public var unsetRequiredIsUnknown = false
    public init(assignments: [String] = [], files: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.assignments = assignments
        self.files = files
        self.environment = environment
    }
}

public enum VariableValues {
    /// Resolves every declared variable. A required variable with no value, a value of the wrong
    /// type, and an assignment to an undeclared variable are errors.
    public static func resolve(_ declarations: [VariableDeclaration], inputs: VariableInputs) throws -> [String: Value] {
        var d = DiagnosticCollector()
        var raw: [String: (Value, fromText: Bool, origin: String)] = [:]
        let names = declarations.map(\.name)
        let byName = Dictionary(declarations.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

        for (key, text) in inputs.environment where key.hasPrefix("ETHSTACK_VAR_") {
            let name = String(key.dropFirst("ETHSTACK_VAR_".count))
            if byName[name] != nil { raw[name] = (.string(text), true, "environment variable \(key)") }
        }
        for file in inputs.files {
            do {
                guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                    d.error(nil, "cannot read variable file \(file)")
                    continue
                }
                let docs = try YAMLParser.parse(text, file: file)
                guard let root = docs.first else { continue }
                guard case .mapping(let pairs, _) = root else {
                    d.error(root.location, "a variable file must be a map of variable names to values")
                    continue
                }
                for (k, v) in pairs {
                    guard let name = k.scalarText else { continue }
                    if byName[name] == nil {
                        d.error(k.location, "variable \"\(name)\" is not declared in the stack", hint: didYouMean(name, in: names))
                        continue
                    }
                    raw[name] = (v.value, false, "\(k.location)")
                }
            } catch let error as DiagnosticsError {
                d.append(contentsOf: error.diagnostics)
            }
        }
        for assignment in inputs.assignments {
            guard let eq = assignment.firstIndex(of: "=") else {
                d.error(nil, "--var \"\(assignment)\": expected NAME=VALUE")
                continue
            }
            let name = String(assignment[..<eq])
            let text = String(assignment[assignment.index(after: eq)...])
            if byName[name] == nil {
                d.error(nil, "--var \(name): variable \"\(name)\" is not declared in the stack", hint: didYouMean(name, in: names))
                continue
            }
            raw[name] = (.string(text), true, "--var \(name)")
        }

        for (name, v) in inputs.preset where byName[name] != nil { raw[name] = (v, false, "the saved plan") }

        var values: [String: Value] = [:]
        for decl in declarations {
            var value: Value
            if let (v, fromText, origin) = raw[decl.name] {
                if fromText, case .string(let text) = v {
                    guard let parsed = parse(text, as: decl.type) else {
                        d.error(decl.location, "variable \"\(decl.name)\" (from \(origin)) must be a \(decl.type.rawValue); \"\(decl.sensitive ? "(sensitive value)" : text)\" is not")
                        continue
                    }
                    value = parsed
                } else {
                    value = v
                }
            } else if let def = decl.defaultValue {
                value = def
            } else if inputs.unsetRequiredIsUnknown {
                values[decl.name] = decl.sensitive ? Value.unknown.markedSensitive : .unknown
                continue
            } else if decl.sensitive && inputs.unsetSensitiveIsUnknown {
                values[decl.name] = Value.unknown.markedSensitive
                continue
            } else {
                d.error(decl.location, "variable \"\(decl.name)\" is required but has no value: set it with --var \(decl.name)=…, --var-file, or ETHSTACK_VAR_\(decl.name)")
                continue
            }
            if !fits(value, decl.type) {
                d.error(decl.location, "variable \"\(decl.name)\" must be a \(decl.type.rawValue), found \(value.typeName)")
                continue
            }
            if decl.type == .number, case .string(let s) = value, let n = Value.decimal(s) { value = .number(n) }
            if decl.type == .string, let s = value.interpolatedString, value.stringValue == nil { value = .string(s) }
            values[decl.name] = decl.sensitive ? value.markedSensitive : value
        }
        try d.throwIfErrors()
        return values
    }

    package static func parse(_ text: String, as type: VariableDeclaration.VariableType) -> Value? {
        switch type {
        case .string: return .string(text)
        case .number: return Value.decimal(text).map(Value.number)
        case .bool:
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        case .list, .map, .any:
            // Structured values are written as YAML/JSON: --var 'zones=["a","b"]'.
            guard let doc = try? YAMLParser.parse(text, file: "<var>").first else { return type == .any ? .string(text) : nil }
            return doc.value
        }
    }

    package static func fits(_ value: Value, _ type: VariableDeclaration.VariableType) -> Bool {
        switch (type, value.unmarked) {
        case (.any, _), (_, .null): return true
        case (.string, .string), (.string, .number), (.string, .bool): return true
        case (.number, .number): return true
        case (.number, .string(let s)): return Value.decimal(s) != nil
        case (.bool, .bool): return true
        case (.list, .list): return true
        case (.map, .map): return true
        default: return false
        }
    }
}

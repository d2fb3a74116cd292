import Foundation
@testable import EthstackModel

/// A JSON Schema (draft-07) validator for the subset `StackJSONSchema` emits: `type`, `properties`,
/// `required`, `additionalProperties`, `patternProperties`, `items`, `anyOf`, `allOf`, `not`,
/// `if`/`then`, `enum`, `const`, `pattern`, `minimum`, `maximum`, and local `$ref`s. A keyword it does
/// not know fails the validation, so the schema cannot silently grow past what this checks.
struct JSONSchemaValidator {
    let root: Value
    static let known: Set<String> = ["$schema", "title", "description", "default", "type", "properties", "required",
                                     "additionalProperties", "patternProperties", "items", "anyOf", "allOf", "not", "if",
                                     "then", "enum", "const", "pattern", "minimum", "maximum", "$ref", "definitions"]

    /// The problems of `instance`, each as "/json/pointer: what".
    func validate(_ instance: Value) -> [String] {
        var problems: [String] = []
        check(instance, against: root, at: "", &problems)
        return problems
    }

    func isValid(_ instance: Value, _ schema: Value) -> Bool {
        var problems: [String] = []
        check(instance, against: schema, at: "", &problems)
        return problems.isEmpty
    }

    func resolve(_ ref: String) -> Value? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: Value? = root
        for part in ref.dropFirst(2).split(separator: "/") { node = node?.mapValue?[String(part)] }
        return node
    }

    func typeMatches(_ v: Value, _ type: String) -> Bool {
        switch (type, v) {
        case ("object", .map), ("array", .list), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number): return true
        case ("integer", .number(let n)): return n.rounded() == n
        default: return false
        }
    }

    func check(_ v: Value, against schema: Value, at path: String, _ problems: inout [String]) {
        guard let s = schema.mapValue else {
            if schema.boolValue == false { problems.append("\(path): not allowed") }
            return
        }
        for key in s.keys where !JSONSchemaValidator.known.contains(key) { problems.append("\(path): unknown schema keyword \(key)") }
        if let ref = s["$ref"]?.stringValue {
            guard let target = resolve(ref) else { problems.append("\(path): unresolvable \(ref)"); return }
            check(v, against: target, at: path, &problems)
        }
        if let type = s["type"] {
            let types = type.listValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !types.contains(where: { typeMatches(v, $0) }) { problems.append("\(path): expected \(types.joined(separator: " or ")), found \(v.typeName)") }
        }
        if let options = s["enum"]?.listValue, !options.contains(where: { $0.semanticallyEquals(v) }) {
            problems.append("\(path): \(v.jsonString()) is not one of \(Value.list(options).jsonString())")
        }
        if let c = s["const"], !c.semanticallyEquals(v) { problems.append("\(path): expected \(c.jsonString())") }
        if let pattern = s["pattern"]?.stringValue, case .string(let text) = v,
           text.range(of: pattern, options: .regularExpression) == nil {
            problems.append("\(path): \"\(text)\" does not match \(pattern)")
        }
        if case .number(let n) = v {
            if let min = s["minimum"]?.numberValue, n < min { problems.append("\(path): less than \(min)") }
            if let max = s["maximum"]?.numberValue, n > max { problems.append("\(path): more than \(max)") }
        }
        if case .map(let entries) = v {
            let properties = s["properties"]?.mapValue ?? [:]
            let patterns = s["patternProperties"]?.mapValue ?? [:]
            for key in s["required"]?.listValue?.compactMap(\.stringValue) ?? [] where entries[key] == nil {
                problems.append("\(path): missing required property \"\(key)\"")
            }
            for (key, value) in entries {
                var matched = false
                if let p = properties[key] { matched = true; check(value, against: p, at: "\(path)/\(key)", &problems) }
                for (pattern, p) in patterns where key.range(of: pattern, options: .regularExpression) != nil {
                    matched = true
                    check(value, against: p, at: "\(path)/\(key)", &problems)
                }
                if !matched, let extra = s["additionalProperties"] {
                    if extra.boolValue == false {
                        problems.append("\(path): property \"\(key)\" is not allowed")
                    } else {
                        check(value, against: extra, at: "\(path)/\(key)", &problems)
                    }
                }
            }
        }
        if case .list(let items) = v, let itemSchema = s["items"] {
            for (i, item) in items.enumerated() { check(item, against: itemSchema, at: "\(path)/\(i)", &problems) }
        }
        if let all = s["allOf"]?.listValue { for sub in all { check(v, against: sub, at: path, &problems) } }
        if let any = s["anyOf"]?.listValue, !any.contains(where: { isValid(v, $0) }) {
            // Name the closest branch's problems: the one with the fewest.
            let details = any.map { sub -> [String] in var p: [String] = []; check(v, against: sub, at: path, &p); return p }
            problems.append(contentsOf: details.min { $0.count < $1.count } ?? ["\(path): matches none of anyOf"])
        }
        if let not = s["not"], isValid(v, not) { problems.append("\(path): must not match \(not.jsonString())") }
        if let condition = s["if"], let then = s["then"], isValid(v, condition) { check(v, against: then, at: path, &problems) }
    }
}

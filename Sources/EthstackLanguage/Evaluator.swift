import Foundation
import EthstackModel

/// What names mean while evaluating one resource instance, provider configuration or output.
public struct EvaluationScope: Sendable {
    public var variables: [String: Value]
    /// Resource name → its value: an object for a single resource, a list for `count`, a map for
    /// `for_each`. Attributes not known yet are `.unknown`.
    public var resources: [String: Value]
    public var each: (key: Value, value: Value)?
    public var countIndex: Int?
    public var baseDirectory: String
    /// Whether `file()` may read outside `baseDirectory`'s tree (`--allow-file-outside-stack`).
    public var allowFileOutsideBase: Bool
    /// Names bound by the for expressions around the one being evaluated; they hide resources of the same name.
    public var locals: [String: Value] = [:]
    /// How many times the enclosing for expressions evaluate their bodies together (1 outside any).
    var forIterations = 1

    public init(variables: [String: Value], resources: [String: Value] = [:], each: (key: Value, value: Value)? = nil,
                countIndex: Int? = nil, baseDirectory: String = ".", allowFileOutsideBase: Bool = false) {
        self.variables = variables
        self.resources = resources
        self.each = each
        self.countIndex = countIndex
        self.baseDirectory = baseDirectory
        self.allowFileOutsideBase = allowFileOutsideBase
    }

    /// A scope for `stack`: its directory, and whether its files may be read from outside it.
    public init(stack: StackDeclaration, variables: [String: Value], resources: [String: Value] = [:]) {
        self.init(variables: variables, resources: resources, baseDirectory: stack.baseDirectory,
                  allowFileOutsideBase: stack.allowFileOutsideStack)
    }
}

/// Evaluates config nodes and expressions to values. Unknowns and sensitive marks propagate.
public struct Evaluator: Sendable {
    public var scope: EvaluationScope

    public init(scope: EvaluationScope) {
        self.scope = scope
    }

    package func fail(_ location: SourceLocation, _ message: String, hint: String? = nil) -> DiagnosticsError {
        DiagnosticsError([.error(location, message, hint: hint)])
    }

    public func evaluate(_ node: ConfigNode) throws -> Value {
        switch node {
        case .literal(let v, _): return v
        case .template(let t): return try evaluate(t)
        case .list(let items, _): return .list(try items.map { try evaluate($0) })
        case .map(let entries, _):
            var out: [String: Value] = [:]
            out.reserveCapacity(entries.count)
            for e in entries { out[e.key] = try evaluate(e.value) }
            return .map(out)
        }
    }

    public func evaluate(_ template: Template) throws -> Value {
        try evaluate(template, keepingType: true)
    }

    /// A template's value: the single expression's own value when `keepingType` and it is exactly
    /// one `${…}` (a stack string); a string otherwise (a string literal inside an expression, as in Terraform).
    func evaluate(_ template: Template, keepingType: Bool) throws -> Value {
        if keepingType, let single = template.singleExpression { return try evaluate(single) }
        var rendering = Rendering()
        try render(template.parts, at: template.location, into: &rendering)
        let (text, unknown, sensitive) = (rendering.text, rendering.unknown, rendering.sensitive)
        let result: Value = unknown ? .unknown : .string(text)
        return sensitive ? result.markedSensitive : result
    }

    /// A template's text as it is rendered, and whether anything in it was unknown or sensitive.
    struct Rendering {
        var text = ""
        var unknown = false
        var sensitive = false
    }

    /// Renders template parts: text, interpolations, and `%{ if }` / `%{ for }` directives (a for
    /// directive binds its names for its body; its iterations count against the for bound).
    func render(_ parts: [Template.Part], at location: SourceLocation, into out: inout Rendering) throws {
        for part in parts {
            switch part {
            case .text(let s): out.text += s
            case .expression(let e):
                let v = try evaluate(e)
                if v.containsSensitive { out.sensitive = true }
                if v.isUnknown { out.unknown = true; continue }
                guard let s = v.interpolatedString else {
                    if v.isNull {
                        throw fail(e.location, "cannot insert null into a string")
                    }
                    throw fail(e.location, "cannot insert a \(v.typeName) into a string; use jsonencode() or join()")
                }
                out.text += s
            case .directive(.conditional(let condition, let then, let otherwise, _)):
                let c = try evaluate(condition)
                if c.containsSensitive { out.sensitive = true }
                if c.isUnknown { out.unknown = true; continue }
                guard let holds = c.unmarked.boolValue else {
                    throw fail(condition.location, "the condition of %{ if } must be a bool, found \(c.typeName)")
                }
                try render(holds ? then : otherwise, at: location, into: &out)
            case .directive(.loop(let keyName, let valueName, let collectionExpression, let body, let loopLocation)):
                let collection = try evaluate(collectionExpression)
                if collection.containsSensitive { out.sensitive = true }
                if collection.isUnknown { out.unknown = true; continue }
                let elements: [(key: Value, value: Value)]
                switch collection.unmarked {
                case .list(let items): elements = items.enumerated().map { (.number(Double($0.offset)), $0.element) }
                case .map(let entries): elements = entries.keys.sorted().compactMap { k in entries[k].map { (.string(k), $0) } }
                default:
                    throw fail(collectionExpression.location, "%{ for } iterates over a list or a map, not a \(collection.typeName)")
                }
                let iterations = scope.forIterations.multipliedReportingOverflow(by: max(1, elements.count))
                guard !iterations.overflow, iterations.partialValue <= Evaluator.maxForIterations else {
                    throw fail(loopLocation, "%{ for } would render its body more than \(Evaluator.maxForIterations) times (nested loops multiply)")
                }
                var inner = scope
                inner.forIterations = iterations.partialValue
                for element in elements {
                    if let keyName { inner.locals[keyName] = element.key }
                    inner.locals[valueName] = element.value
                    try Evaluator(scope: inner).render(body, at: loopLocation, into: &out)
                }
            }
            if out.text.utf8.count > Functions.maxStringBytes {
                throw fail(location, "the string would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
            }
        }
    }

    public func evaluate(_ expression: EthstackModel.Expression) throws -> Value {
        switch expression {
        case .literal(let v, _):
            return v
        case .name(let name, let loc):
            if let local = scope.locals[name] { return local }
            return try resolveRoot(name, loc)
        case .traverse(let base, let accessor):
            // `var.x`, `each.key`, `count.index` are roots with an attribute.
            if case .name(let root, let rootLoc) = base, case .attribute(let attr, let attrLoc) = accessor, scope.locals[root] == nil {
                switch root {
                case "var":
                    guard let v = scope.variables[attr] else {
                        throw fail(attrLoc, "no variable named \"\(attr)\"", hint: didYouMean(attr, in: scope.variables.keys))
                    }
                    return v
                case "each":
                    guard let each = scope.each else {
                        throw fail(rootLoc, "\"each\" is only available in a resource with \"for_each\"")
                    }
                    switch attr {
                    case "key": return each.key
                    case "value": return each.value
                    default: throw fail(attrLoc, "\"each\" has \"key\" and \"value\", not \"\(attr)\"", hint: didYouMean(attr, in: ["key", "value"]))
                    }
                case "count":
                    guard let index = scope.countIndex else {
                        throw fail(rootLoc, "\"count.index\" is only available in a resource with \"count\"")
                    }
                    guard attr == "index" else { throw fail(attrLoc, "\"count\" has only \"index\", not \"\(attr)\"") }
                    return .number(Double(index))
                default:
                    break
                }
            }
            let value = try evaluate(base)
            return try access(value, accessor)
        case .splat(let base, let accessors, let loc):
            let value = try evaluate(base)
            let items: [Value]
            switch value.unmarked {
            case .unknown: return .unknown
            case .null: return .list([])
            case .list(let l): items = l
            case .map(let m): items = m.keys.sorted().compactMap { m[$0] }
            default: items = [value]
            }
            _ = loc
            var out: [Value] = []
            out.reserveCapacity(items.count)
            for item in items {
                var v = item
                for a in accessors { v = try access(v, a) }
                out.append(v)
            }
            return Value.list(out).inheritingSensitivity(from: value)
        case .call(let name, let args, let loc) where name == "try" || name == "can":
            return try evaluateTry(name, args, at: loc)
        case .call(let name, let args, let loc):
            var values: [Value] = []
            var locations: [SourceLocation] = []
            for arg in args {
                guard case .unary("...", let list, let at) = arg else {
                    values.append(try evaluate(arg))
                    locations.append(arg.location)
                    continue
                }
                // `f(xs...)`: the list's elements are the arguments (a sensitive list marks each).
                let v = try evaluate(list)
                if v.isUnknown { return .unknown }
                guard let items = v.unmarked.listValue else { throw fail(at, "\"...\" expands a list, found \(v.typeName)") }
                guard values.count + items.count <= 1024 else { throw fail(at, "\"...\" would pass \(items.count) arguments: at most 1024") }
                values += v.isSensitive ? items.map(\.markedSensitive) : items
                locations += items.map { _ in list.location }
            }
            return try Functions.call(name, values, at: loc, argumentLocations: locations, baseDirectory: scope.baseDirectory,
                                      allowFileOutsideBase: scope.allowFileOutsideBase)
        case .list(let items, _):
            return .list(try items.map { try evaluate($0) })
        case .map(let pairs, _):
            var out: [String: Value] = [:]
            // A key cannot carry a mark of its own: a sensitive key makes the whole map sensitive.
            var sensitiveKey = false
            for p in pairs {
                let k = try evaluate(p.key)
                if k.isUnknown { return .unknown }
                guard let key = k.interpolatedString else { throw fail(p.key.location, "a map key must be a string, found \(k.typeName)") }
                if k.containsSensitive { sensitiveKey = true }
                out[key] = try evaluate(p.value)
            }
            return sensitiveKey ? Value.map(out).markedSensitive : .map(out)
        case .unary("...", _, let loc):
            throw fail(loc, "\"...\" can only follow the last argument of a call")
        case .unary(let op, let e, let loc):
            let v = try evaluate(e)
            if v.isUnknown { return .unknown }
            switch op {
            case "!":
                guard let b = Evaluator.bool(v) else { throw fail(loc, "\"!\" needs a bool, found \(v.typeName)") }
                return Value.bool(!b).inheritingSensitivity(from: v)
            default:
                guard let n = v.numberValue ?? v.stringValue.flatMap(Value.decimal) else { throw fail(loc, "\"-\" needs a number, found \(v.typeName)") }
                return Value.number(-n).inheritingSensitivity(from: v)
            }
        case .binary(let op, let lhs, let rhs, let loc):
            return try binary(op, try evaluate(lhs), try evaluate(rhs), loc)
        case .conditional(let c, let a, let b, let loc):
            let cond = try evaluate(c)
            if cond.isUnknown { return .unknown }
            guard let flag = Evaluator.bool(cond) else { throw fail(loc, "the condition must be a bool, found \(cond.typeName)") }
            let result = try evaluate(flag ? a : b)
            return result.inheritingSensitivity(from: cond)
        case .template(let parts, let loc):
            // As in Terraform, a string that is exactly one `${…}` is that value ("${true}" is a bool).
            return try evaluate(Template(parts: parts, location: loc))
        case .forExpression(let f):
            return try evaluate(f)
        }
    }

    /// A bool, or the string "true" or "false" converted as Terraform converts it.
    static func bool(_ v: Value) -> Bool? {
        v.boolValue ?? (v.stringValue == "true" ? true : v.stringValue == "false" ? false : nil)
    }

    private func resolveRoot(_ name: String, _ loc: SourceLocation) throws -> Value {
        switch name {
        case "var": return .map(scope.variables)
        case "each":
            guard let each = scope.each else { throw fail(loc, "\"each\" is only available in a resource with \"for_each\"") }
            return .map(["key": each.key, "value": each.value])
        case "count":
            guard let index = scope.countIndex else { throw fail(loc, "\"count.index\" is only available in a resource with \"count\"") }
            return .map(["index": .number(Double(index))])
        default:
            guard let v = scope.resources[name] else {
                throw fail(loc, "no resource named \"\(name)\"", hint: didYouMean(name, in: scope.resources.keys))
            }
            return v
        }
    }

    private func access(_ value: Value, _ accessor: EthstackModel.Expression.Accessor) throws -> Value {
        let sensitive = value.isSensitive
        let inner = value.unmarked
        if case .unknown = inner { return .unknown }
        var result: Value
        switch accessor {
        case .attribute(let attr, let loc):
            switch inner {
            case .map(let m):
                guard let v = m[attr] else {
                    throw fail(loc, "no attribute \"\(attr)\"", hint: didYouMean(attr, in: m.keys))
                }
                result = v
            case .null:
                throw fail(loc, "cannot read \"\(attr)\" of null")
            case .list:
                throw fail(loc, "cannot read \"\(attr)\" of a list; use [index] or [*] first")
            default:
                throw fail(loc, "cannot read \"\(attr)\" of a \(inner.typeName)")
            }
        case .index(let indexExpression, let loc):
            let index = try evaluate(indexExpression)
            if index.isUnknown { return .unknown }
            switch inner {
            case .list(let l):
                guard let i = index.intValue ?? index.stringValue.flatMap({ Int($0) }) else {
                    throw fail(loc, "a list index must be a whole number, found \(index.typeName) \(index.unmarked.jsonString())")
                }
                guard i >= 0, i < l.count else {
                    throw fail(loc, "index \(i) is out of range: the list has \(l.count) element\(l.count == 1 ? "" : "s")")
                }
                result = l[i]
            case .map(let m):
                guard let key = index.interpolatedString else {
                    throw fail(loc, "a map key must be a string, found \(index.typeName)")
                }
                guard let v = m[key] else {
                    throw fail(loc, "no key \"\(key)\"", hint: didYouMean(key, in: m.keys))
                }
                result = v
            default:
                throw fail(loc, "cannot index a \(inner.typeName)")
            }
            if index.isSensitive { result = result.markedSensitive }
        }
        return sensitive ? result.markedSensitive : result
    }

    private func binary(_ op: String, _ a: Value, _ b: Value, _ loc: SourceLocation) throws -> Value {
        if a.isUnknown || b.isUnknown { return .unknown }
        let result: Value
        switch op {
        case "==": result = .bool(a.semanticallyEquals(b))
        case "!=": result = .bool(!a.semanticallyEquals(b))
        case "&&", "||":
            guard let x = Evaluator.bool(a), let y = Evaluator.bool(b) else { throw fail(loc, "\"\(op)\" needs two bools, found \(a.typeName) and \(b.typeName)") }
            result = .bool(op == "&&" ? (x && y) : (x || y))
        default:
            guard let x = a.numberValue ?? a.stringValue.flatMap(Value.decimal),
                  let y = b.numberValue ?? b.stringValue.flatMap(Value.decimal) else {
                throw fail(loc, "\"\(op)\" needs two numbers, found \(a.typeName) and \(b.typeName)")
            }
            switch op {
            case "+": result = .number(x + y)
            case "-": result = .number(x - y)
            case "*": result = .number(x * y)
            case "/":
                guard y != 0 else { throw fail(loc, "division by zero") }
                result = .number(x / y)
            case "%":
                guard y != 0 else { throw fail(loc, "division by zero") }
                result = .number(x.truncatingRemainder(dividingBy: y))
            case "<": result = .bool(x < y)
            case "<=": result = .bool(x <= y)
            case ">": result = .bool(x > y)
            default: result = .bool(x >= y)
            }
        }
        return result.inheritingSensitivity(from: a, b)
    }

    /// `try(a, b, …)`: the first argument that evaluates without an error; `can(a)`: whether it
    /// does. An unknown argument makes the result unknown (it might still fail when known).
    private func evaluateTry(_ name: String, _ args: [EthstackModel.Expression], at loc: SourceLocation) throws -> Value {
        if let problem = Functions.checkCall(name, argumentCount: args.count, at: loc) { throw DiagnosticsError([problem]) }
        var errors: [Diagnostic] = []
        for arg in args {
            do {
                let v = try evaluate(arg)
                if v.containsUnknown { return .unknown }
                return name == "can" ? Value.bool(true).inheritingSensitivity(from: v) : v
            } catch let e as DiagnosticsError {
                errors += e.diagnostics
            }
        }
        if name == "can" { return .bool(false) }
        let reasons = errors.map { d in (d.location.map { "\($0.line):\($0.column) " } ?? "") + d.message }
        throw fail(loc, "try(): no expression succeeded: " + reasons.joined(separator: "; "))
    }
}

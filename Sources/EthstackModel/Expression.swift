/// An expression written inside `${ … }`.
public indirect enum Expression: Sendable {
    /// How a traversal step reaches into a value.
    public enum Accessor: Sendable {
        case attribute(String, SourceLocation)
        case index(Expression, SourceLocation)
    }

    case literal(Value, SourceLocation)
    /// A root name: `var`, `each`, `count`, or a resource name.
    case name(String, SourceLocation)
    case traverse(Expression, Accessor)
    /// `base[*]` followed by accessors applied to every element.
    case splat(Expression, [Accessor], SourceLocation)
    case call(String, [Expression], SourceLocation)
    case list([Expression], SourceLocation)
    case map([(key: Expression, value: Expression)], SourceLocation)
    case unary(String, Expression, SourceLocation)
    case binary(String, Expression, Expression, SourceLocation)
    case conditional(Expression, Expression, Expression, SourceLocation)
    /// A string literal with `${ … }` in it, inside an expression: `upper("a-${var.x}")`.
    case template([Template.Part], SourceLocation)
    /// `[for v in xs : f(v) if c]`, `{for k, v in m : k => v}`.
    case forExpression(ForExpression)

    public var location: SourceLocation {
        switch self {
        case .literal(_, let l), .name(_, let l), .splat(_, _, let l), .call(_, _, let l), .list(_, let l),
             .map(_, let l), .unary(_, _, let l), .binary(_, _, _, let l), .conditional(_, _, _, let l),
             .template(_, let l):
            return l
        case .forExpression(let f):
            return f.location
        case .traverse(let base, _):
            return base.location
        }
    }
}

/// `[for k, v in collection : value if condition]` (a list) or
/// `{for k, v in collection : key => value... if condition}` (a map; `...` groups values by key).
public struct ForExpression: Sendable {
    /// The first name of `for k, v in`; nil for `for v in`.
    public var keyName: String?
    public var valueName: String
    public var collection: Expression
    /// The key expression of the map form; nil for the list form.
    public var key: Expression?
    public var value: Expression
    public var condition: Expression?
    /// `key => value...`: values with the same key are collected into a list.
    public var grouping: Bool
    public var location: SourceLocation

    public init(keyName: String?, valueName: String, collection: Expression, key: Expression?, value: Expression,
                condition: Expression?, grouping: Bool, location: SourceLocation) {
        self.keyName = keyName
        self.valueName = valueName
        self.collection = collection
        self.key = key
        self.value = value
        self.condition = condition
        self.grouping = grouping
        self.location = location
    }

    /// The names the body binds.
    public var boundNames: Set<String> {
        var names: Set<String> = [valueName]
        if let keyName { names.insert(keyName) }
        return names
    }

    /// The expressions evaluated once per element.
    public var body: [Expression] {
        [key, value, condition].compactMap { $0 }
    }
}

/// A reference from an expression to something outside it: `var.x`, `each.key`, `count.index`,
/// `name…` (a resource), with where it was written and the attribute it reads first, if any.
public struct Reference: Sendable, Hashable {
    public var root: String
    public var firstAttribute: String?
    public var location: SourceLocation
}

extension Expression {
    /// Every root reference in the expression, in the order written.
    public var references: [Reference] {
        var out: [Reference] = []
        collectReferences(into: &out)
        return out
    }

    func collectReferences(into out: inout [Reference]) {
        switch self {
        case .literal: break
        case .name(let n, let l):
            out.append(Reference(root: n, firstAttribute: nil, location: l))
        case .traverse(let base, let accessor):
            if case .name(let n, let l) = base, case .attribute(let a, _) = accessor {
                out.append(Reference(root: n, firstAttribute: a, location: l))
            } else {
                base.collectReferences(into: &out)
            }
            if case .index(let e, _) = accessor { e.collectReferences(into: &out) }
        case .splat(let base, let accessors, _):
            base.collectReferences(into: &out)
            for case .index(let e, _) in accessors { e.collectReferences(into: &out) }
        case .call(_, let args, _):
            for a in args { a.collectReferences(into: &out) }
        case .list(let items, _):
            for i in items { i.collectReferences(into: &out) }
        case .map(let pairs, _):
            for p in pairs {
                p.key.collectReferences(into: &out)
                p.value.collectReferences(into: &out)
            }
        case .unary(_, let e, _):
            e.collectReferences(into: &out)
        case .binary(_, let a, let b, _):
            a.collectReferences(into: &out)
            b.collectReferences(into: &out)
        case .conditional(let c, let a, let b, _):
            c.collectReferences(into: &out)
            a.collectReferences(into: &out)
            b.collectReferences(into: &out)
        case .template(let parts, _):
            out += Template.references(in: parts)
        case .forExpression(let f):
            f.collection.collectReferences(into: &out)
            // The names the body binds are not references out of the expression.
            let bound = f.boundNames
            var body: [Reference] = []
            for e in f.body { e.collectReferences(into: &body) }
            out.append(contentsOf: body.filter { !bound.contains($0.root) })
        }
    }
}

/// A string from the stack file: literal text with `${ … }` expressions in it.
public struct Template: Sendable {
    public enum Part: Sendable {
        case text(String)
        case expression(Expression)
        /// `%{ if c }…%{ else }…%{ endif }`, `%{ for k, v in xs }…%{ endfor }`.
        case directive(Directive)
    }

    public enum Directive: Sendable {
        case conditional(condition: Expression, then: [Part], otherwise: [Part], location: SourceLocation)
        /// `key` is nil for `%{ for v in xs }`.
        case loop(key: String?, value: String, collection: Expression, body: [Part], location: SourceLocation)
    }

    public var parts: [Part]
    public var location: SourceLocation

    /// A template that is exactly one `${…}` keeps the expression value's type.
    public var singleExpression: Expression? {
        if parts.count == 1, case .expression(let e) = parts[0] { return e }
        return nil
    }

    public var references: [Reference] { Self.references(in: parts) }

    /// The references of `parts`, without the names a `%{ for }` binds inside its body.
    public static func references(in parts: [Part]) -> [Reference] {
        parts.flatMap { part -> [Reference] in
            switch part {
            case .text: return []
            case .expression(let e): return e.references
            case .directive(.conditional(let c, let then, let otherwise, _)):
                return c.references + references(in: then) + references(in: otherwise)
            case .directive(.loop(let key, let value, let collection, let body, _)):
                let bound = Set([key, value].compactMap { $0 })
                return collection.references + references(in: body).filter { !bound.contains($0.root) }
            }
        }
    }

    package init(parts: [Part], location: SourceLocation) {
        self.parts = parts
        self.location = location
    }
}

import EthstackModel

extension EthstackModel.Expression {
    /// Whether the expression names nothing (no variable, resource, `each` or `count`): its value,
    /// or its error, is decidable when the file is read, without providers or state.
    public var isConstant: Bool {
        switch self {
        case .literal: return true
        case .name: return false
        case .traverse(let base, let accessor): return base.isConstant && accessor.isConstant
        case .splat(let base, let accessors, _): return base.isConstant && accessors.allSatisfy(\.isConstant)
        case .call(_, let args, _): return args.allSatisfy(\.isConstant)
        case .list(let items, _): return items.allSatisfy(\.isConstant)
        case .map(let pairs, _): return pairs.allSatisfy { $0.key.isConstant && $0.value.isConstant }
        case .unary(_, let e, _): return e.isConstant
        case .binary(_, let a, let b, _): return a.isConstant && b.isConstant
        case .conditional(let c, let a, let b, _): return c.isConstant && a.isConstant && b.isConstant
        case .template(let parts, _): return Template.partsAreConstant(parts)
        // The body's own names are bound by the expression: constant when nothing else is named.
        case .forExpression: return references.isEmpty
        }
    }
}

extension EthstackModel.Expression.Accessor {
    public var isConstant: Bool {
        switch self {
        case .attribute: return true
        case .index(let e, _): return e.isConstant
        }
    }
}

extension ConfigNode {
    /// Whether the node holds no reference at all (see `Expression.isConstant`).
    public var isConstant: Bool {
        switch self {
        case .literal: return true
        case .template(let t): return Template.partsAreConstant(t.parts)
        case .list(let items, _): return items.allSatisfy(\.isConstant)
        case .map(let entries, _): return entries.allSatisfy { $0.value.isConstant }
        }
    }
}

extension Template {
    /// Whether template parts name nothing (a directive is constant when it names nothing but what
    /// its own `for` binds).
    static func partsAreConstant(_ parts: [Part]) -> Bool {
        parts.allSatisfy { part in
            switch part {
            case .text: return true
            case .expression(let e): return e.isConstant
            case .directive: return Template.references(in: [part]).isEmpty
            }
        }
    }
}

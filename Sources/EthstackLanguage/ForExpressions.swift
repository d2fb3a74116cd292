import EthstackModel

extension Evaluator {
    /// How many times the for expressions of one expression may evaluate their bodies, nested loops
    /// multiplied (`[for a in xs : [for b in ys : …]]` counts `xs × ys`): larger input is refused at
    /// its position instead of running for hours.
    public static let maxForIterations = 1_000_000

    /// `[for k, v in c : value if cond]` and `{for k, v in c : key => value... if cond}`, as Terraform:
    /// a list is walked in order (k is the index), a map in key order; an unknown collection, condition
    /// or key makes the whole result unknown; a sensitive collection makes every element and the result
    /// sensitive, as does a sensitive condition or key.
    func evaluate(_ f: ForExpression) throws -> Value {
        let collection = try evaluate(f.collection)
        if collection.isUnknown { return .unknown }
        let sensitiveCollection = collection.isSensitive
        let elements: [(key: Value, value: Value)]
        switch collection.unmarked {
        case .list(let items):
            elements = items.enumerated().map { (.number(Double($0.offset)), $0.element) }
        case .map(let entries):
            elements = entries.keys.sorted().compactMap { k in entries[k].map { (.string(k), $0) } }
        case .null:
            throw fail(f.collection.location, "a for expression cannot iterate over null")
        default:
            throw fail(f.collection.location, "a for expression iterates over a list or a map, not a \(collection.typeName)")
        }
        let iterations = scope.forIterations.multipliedReportingOverflow(by: max(1, elements.count))
        guard !iterations.overflow, iterations.partialValue <= Evaluator.maxForIterations else {
            throw fail(f.location, "the for expression would evaluate its body more than \(Evaluator.maxForIterations) times (nested loops multiply)")
        }

        var inner = scope
        inner.forIterations = iterations.partialValue
        var sensitive = sensitiveCollection
        var list: [Value] = []
        var map: [String: Value] = [:]
        var groups: [String: [Value]] = [:]
        for element in elements {
            if let keyName = f.keyName {
                inner.locals[keyName] = sensitiveCollection ? element.key.markedSensitive : element.key
            }
            inner.locals[f.valueName] = sensitiveCollection ? element.value.markedSensitive : element.value
            let body = Evaluator(scope: inner)
            if let condition = f.condition {
                let c = try body.evaluate(condition)
                if c.isUnknown { return .unknown }
                guard let keep = c.boolValue else {
                    throw fail(condition.location, "the \"if\" of a for expression must be a bool, found \(c.typeName)")
                }
                if c.isSensitive { sensitive = true }
                if !keep { continue }
            }
            guard let keyExpression = f.key else {
                list.append(try body.evaluate(f.value))
                continue
            }
            let k = try body.evaluate(keyExpression)
            if k.isUnknown { return .unknown }
            if k.isNull { throw fail(keyExpression.location, "the key of a for expression must not be null") }
            guard let key = k.interpolatedString else {
                throw fail(keyExpression.location, "the key of a for expression must be a string, found \(k.typeName)")
            }
            if k.containsSensitive { sensitive = true }
            let value = try body.evaluate(f.value)
            if f.grouping {
                groups[key, default: []].append(value)
            } else {
                guard map[key] == nil else {
                    throw fail(keyExpression.location, "two elements produce the key \"\(key)\" in this for expression",
                               hint: "if duplicates are expected, write \"...\" after the value to group them by key")
                }
                map[key] = value
            }
        }
        let result: Value = f.key == nil ? .list(list) : f.grouping ? .map(groups.mapValues(Value.list)) : .map(map)
        return sensitive ? result.markedSensitive : result
    }
}

import EthstackModel

extension Functions {
    /// The most elements a function builds (`flatten`, `chunklist`, `range`, `setproduct`…).
    static let maxListElements = 100_000

    /// Collection and conversion functions, as Terraform 1.0.3 has them. ethstack has no set or
    /// single-element-type list: `toset` gives a sorted list without duplicates, and lists keep
    /// elements of different types as they are (Terraform would convert them to one type).
    static let collectionFunctions: [String: LibraryFunction] = [
        "coalesce": LibraryFunction(arity: 1...64) { a in
            for v in a.values where !v.isNull && v.stringValue != "" { return v }
            throw a.fail("no non-null, non-empty-string arguments")
        },
        "coalescelist": LibraryFunction(arity: 1...64) { a in
            for i in 0..<a.count {
                let l = try a.list(i)
                if !l.isEmpty { return .list(l) }
            }
            throw a.fail("no non-empty list arguments")
        },
        "flatten": LibraryFunction(arity: 1...1) { a in
            var out: [Value] = []
            func add(_ items: [Value], depth: Int) throws {
                for item in items {
                    if let l = item.listValue, depth < ExpressionParser.maxNesting {
                        try add(l, depth: depth + 1)
                    } else {
                        out.append(item)
                        guard out.count <= maxListElements else { throw a.fail("more than \(maxListElements) elements") }
                    }
                }
            }
            try add(try a.list(0), depth: 0)
            return .list(out)
        },
        "distinct": LibraryFunction(arity: 1...1) { a in .list(distinct(try a.list(0))) },
        "toset": LibraryFunction(arity: 1...1) { a in
            let items = distinct(try a.list(0))
            if items.allSatisfy({ $0.numberValue != nil }) {
                return .list(items.sorted { ($0.numberValue ?? 0) < ($1.numberValue ?? 0) })
            }
            if items.allSatisfy({ $0.interpolatedString != nil }) {
                return .list(items.map { .string($0.interpolatedString ?? "") }.sorted { ($0.stringValue ?? "") < ($1.stringValue ?? "") })
            }
            return .list(items)
        },
        "tolist": LibraryFunction(arity: 1...1) { a in
            if a[0].isNull { return .null }
            return .list(try a.list(0))
        },
        "tomap": LibraryFunction(arity: 1...1) { a in
            if a[0].isNull { return .null }
            return .map(try a.map(0))
        },
        "tobool": LibraryFunction(arity: 1...1) { a in
            switch a[0] {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .string("true"): return .bool(true)
            case .string("false"): return .bool(false)
            default: throw a.fail(0, "cannot convert \(a[0].typeName) \(a[0].jsonString()) to bool")
            }
        },
        "zipmap": LibraryFunction(arity: 2...2) { a in
            let (keys, values) = (try a.list(0), try a.list(1))
            guard keys.count == values.count else {
                throw a.fail("number of keys (\(keys.count)) does not match number of values (\(values.count))")
            }
            var out: [String: Value] = [:]
            for (k, v) in zip(keys, values) {
                guard let key = k.interpolatedString else { throw a.fail(0, "a key is a \(k.typeName), not a string") }
                out[key] = v
            }
            return .map(out)
        },
        "slice": LibraryFunction(arity: 3...3) { a in
            let l = try a.list(0)
            let (start, end) = (try a.integer(1), try a.integer(2))
            guard start >= 0 else { throw a.fail(1, "start index must not be less than zero") }
            guard start <= end else { throw a.fail(1, "start index must not be greater than end index") }
            guard end <= l.count else { throw a.fail(2, "end index must not be greater than the length of the list") }
            return .list(Array(l[start..<end]))
        },
        "sort": LibraryFunction(arity: 1...1) { a in
            var strings: [String] = []
            for (i, item) in try a.list(0).enumerated() {
                guard let s = item.interpolatedString else {
                    throw a.fail(0, "element \(i) is a \(item.typeName): sort() takes a list of strings")
                }
                strings.append(s)
            }
            // Byte order, as Go compares strings.
            return .list(strings.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map(Value.string))
        },
        "reverse": LibraryFunction(arity: 1...1) { a in .list(try a.list(0).reversed()) },
        "index": LibraryFunction(arity: 2...2) { a in
            guard let i = try a.list(0).firstIndex(where: { $0.semanticallyEquals(a[1]) }) else { throw a.fail("item not found") }
            return .number(Double(i))
        },
        "one": LibraryFunction(arity: 1...1) { a in
            if a[0].isNull { throw a.fail(0, "argument must not be null") }
            let l = try a.list(0)
            guard l.count <= 1 else { throw a.fail(0, "must be a list with either zero or one elements, found \(l.count)") }
            return l.first ?? .null
        },
        "compact": LibraryFunction(arity: 1...1) { a in
            .list(try a.list(0).filter { !$0.isNull && $0.stringValue != "" })
        },
        "chunklist": LibraryFunction(arity: 2...2) { a in
            let l = try a.list(0)
            let size = try a.integer(1)
            guard size >= 0 else { throw a.fail(1, "the size argument must be positive") }
            if size == 0 { return .list([.list(l)]) }
            return .list(stride(from: 0, to: l.count, by: size).map { .list(Array(l[$0..<min($0 + size, l.count)])) })
        },
        "setunion": LibraryFunction(arity: 1...64) { a in
            var out: [Value] = []
            for i in 0..<a.count { out += try a.list(i) }
            return .list(distinct(out))
        },
        "setintersection": LibraryFunction(arity: 1...64) { a in
            var out = distinct(try a.list(0))
            for i in 1..<a.count {
                let other = try a.list(i)
                out = out.filter { v in other.contains { $0.semanticallyEquals(v) } }
            }
            return .list(out)
        },
        "setsubtract": LibraryFunction(arity: 2...2) { a in
            let other = try a.list(1)
            return .list(distinct(try a.list(0)).filter { v in !other.contains { $0.semanticallyEquals(v) } })
        },
        "alltrue": LibraryFunction(arity: 1...1) { a in
            .bool(try a.list(0).allSatisfy { $0.boolValue == true || $0.stringValue == "true" })
        },
        "anytrue": LibraryFunction(arity: 1...1) { a in
            .bool(try a.list(0).contains { $0.boolValue == true || $0.stringValue == "true" })
        },
        "range": LibraryFunction(arity: 1...3) { a in
            let start = a.count == 1 ? 0 : try a.number(0)
            let end = a.count == 1 ? try a.number(0) : try a.number(1)
            let step = a.count == 3 ? try a.number(2) : (start <= end ? 1 : -1)
            guard start.isFinite, end.isFinite, step.isFinite else { throw a.fail("start, end and step must be finite") }
            if step == 0 { throw a.fail(a.count - 1, "the step must not be zero") }
            if step > 0, end < start { throw a.fail("end must be greater than start when step is positive") }
            if step < 0, end > start { throw a.fail("end must be less than start when step is negative") }
            let count = ((end - start) / step).rounded(.up)
            guard count <= Double(maxListElements) else {
                throw a.fail("more than \(maxListElements) values would be generated; decrease the difference between start and end or use a larger step")
            }
            var out: [Value] = []
            var v = start
            while step > 0 ? v < end : v > end {
                out.append(.number(v))
                v += step
            }
            return .list(out)
        },
    ]

    /// The first of each group of equal elements, in order.
    static func distinct(_ items: [Value]) -> [Value] {
        var out: [Value] = []
        var seen = Set<Value>()
        for item in items where seen.insert(item.deepUnmarked).inserted { out.append(item) }
        return out
    }
}

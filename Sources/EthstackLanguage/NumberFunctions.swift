import Foundation
import EthstackModel

extension Functions {
    /// Number functions, as Terraform 1.0.3 has them.
    static let numberFunctions: [String: LibraryFunction] = [
        "abs": LibraryFunction(arity: 1...1) { a in .number(Swift.abs(try a.number(0))) },
        "ceil": LibraryFunction(arity: 1...1) { a in .number(try a.number(0).rounded(.up)) },
        "floor": LibraryFunction(arity: 1...1) { a in .number(try a.number(0).rounded(.down)) },
        "signum": LibraryFunction(arity: 1...1) { a in
            let n = try a.number(0)
            return .number(n > 0 ? 1 : n < 0 ? -1 : 0)
        },
        "pow": LibraryFunction(arity: 2...2) { a in .number(Foundation.pow(try a.number(0), try a.number(1))) },
        "log": LibraryFunction(arity: 2...2) { a in .number(Foundation.log(try a.number(0)) / Foundation.log(try a.number(1))) },
        "min": LibraryFunction(arity: 1...64) { a in
            .number(try (0..<a.count).map { try a.number($0) }.min() ?? 0)
        },
        "max": LibraryFunction(arity: 1...64) { a in
            .number(try (0..<a.count).map { try a.number($0) }.max() ?? 0)
        },
        "sum": LibraryFunction(arity: 1...1) { a in
            let l = try a.list(0)
            guard !l.isEmpty else { throw a.fail(0, "cannot sum an empty list") }
            var total = 0.0
            for (i, v) in l.enumerated() {
                guard let n = v.numberValue else {
                    throw a.fail(0, "element \(i) is a \(v.typeName), not a number")
                }
                total += n
            }
            return .number(total)
        },
        "parseint": LibraryFunction(arity: 2...2) { a in
            let text = try a.string(0)
            let base = try a.integer(1)
            guard (2...62).contains(base) else { throw a.fail(1, "base must be a whole number between 2 and 62 inclusive") }
            guard let n = parseInteger(text, base: base) else {
                throw a.fail(0, "cannot parse \"\(text)\" as a base \(base) integer")
            }
            return .number(n)
        },
    ]

    /// Go's `big.Int.SetString` for bases up to 62: digits 0-9, a-z, then A-Z (A-Z mean 10-35
    /// below base 37), an optional sign, no prefix; as a float (exact up to 2^53).
    static func parseInteger(_ text: String, base: Int) -> Double? {
        var s = Substring(text)
        var negative = false
        if let first = s.first, first == "-" || first == "+" {
            negative = first == "-"
            s = s.dropFirst()
        }
        guard !s.isEmpty else { return nil }
        var value = 0.0
        for c in s.unicodeScalars {
            let digit: Int
            switch c.value {
            case 48...57: digit = Int(c.value) - 48
            case 97...122: digit = Int(c.value) - 97 + 10
            case 65...90: digit = Int(c.value) - 65 + (base <= 36 ? 10 : 36)
            default: return nil
            }
            guard digit < base else { return nil }
            value = value * Double(base) + Double(digit)
        }
        return negative ? -value : value
    }
}

import Foundation

/// The one value type for configuration, state and plans.
///
/// `unknown` is a value that will only be known after apply. `sensitive` marks a value that must
/// never be shown; the mark follows the value through every expression that uses it.
public indirect enum Value: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([Value])
    case map([String: Value])
    case unknown
    case sensitive(Value)

    /// Wraps `self` in a sensitive mark (idempotent).
    public var markedSensitive: Value {
        if case .sensitive = self { return self }
        return .sensitive(self)
    }

    /// The value without its top-level sensitive mark.
    public var unmarked: Value {
        if case .sensitive(let inner) = self { return inner.unmarked }
        return self
    }

    /// The value with every sensitive mark removed, at any depth.
    public var deepUnmarked: Value {
        switch self {
        case .sensitive(let inner): return inner.deepUnmarked
        case .list(let items): return .list(items.map(\.deepUnmarked))
        case .map(let entries): return .map(entries.mapValues(\.deepUnmarked))
        default: return self
        }
    }

    public var isSensitive: Bool {
        if case .sensitive = self { return true }
        return false
    }

    /// True when the value is sensitive anywhere inside.
    public var containsSensitive: Bool {
        switch self {
        case .sensitive: return true
        case .list(let items): return items.contains { $0.containsSensitive }
        case .map(let entries): return entries.values.contains { $0.containsSensitive }
        default: return false
        }
    }

    public var isUnknown: Bool {
        if case .unknown = unmarked { return true }
        return false
    }

    /// True when the value is unknown anywhere inside.
    public var containsUnknown: Bool {
        switch self {
        case .unknown: return true
        case .sensitive(let inner): return inner.containsUnknown
        case .list(let items): return items.contains { $0.containsUnknown }
        case .map(let entries): return entries.values.contains { $0.containsUnknown }
        default: return false
        }
    }

    public var isNull: Bool {
        if case .null = unmarked { return true }
        return false
    }

    public var stringValue: String? {
        if case .string(let s) = unmarked { return s }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let n) = unmarked { return n }
        return nil
    }

    public var intValue: Int? {
        guard let n = numberValue, n.rounded() == n, abs(n) < 9.0e15 else { return nil }
        return Int(n)
    }

    public var boolValue: Bool? {
        if case .bool(let b) = unmarked { return b }
        return nil
    }

    public var listValue: [Value]? {
        if case .list(let l) = unmarked { return l }
        return nil
    }

    public var mapValue: [String: Value]? {
        if case .map(let m) = unmarked { return m }
        return nil
    }

    public subscript(key: String) -> Value? {
        mapValue?[key]
    }

    /// A short name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .list: return "list"
        case .map: return "map"
        case .unknown: return "unknown"
        case .sensitive(let inner): return inner.typeName
        }
    }

    /// Keeps the sensitive mark of `source` on `self` (used when an expression derives a value).
    public func inheritingSensitivity(from sources: Value...) -> Value {
        sources.contains(where: \.containsSensitive) ? markedSensitive : self
    }

    /// Compares the values ignoring sensitive marks.
    public func semanticallyEquals(_ other: Value) -> Bool {
        switch (self.unmarked, other.unmarked) {
        case (.list(let a), .list(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.semanticallyEquals($1) }
        case (.map(let a), .map(let b)):
            guard a.count == b.count else { return false }
            for (k, v) in a {
                guard let w = b[k], v.semanticallyEquals(w) else { return false }
            }
            return true
        case (.number(let a), .number(let b)):
            return a == b
        case (let a, let b):
            return a == b
        }
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension Value {
    /// Formats a number the way users wrote it: integers without a decimal point.
    public static func formatNumber(_ n: Double) -> String {
        if n.rounded() == n, abs(n) < 1e15 { return String(Int64(n)) }
        return String(n)
    }

    /// The value as a string in a template (`"${x}"` inside other text).
    /// Returns nil for lists, maps and null, which cannot be interpolated.
    public var interpolatedString: String? {
        switch unmarked {
        case .string(let s): return s
        case .number(let n): return Value.formatNumber(n)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }
}

extension Value {
    /// A string's number in decimal notation only (`12`, `-1.5`, `.5`, `1e3`), as Terraform converts
    /// strings and YAML 1.2 reads plain scalars: neither "0x10" nor "nan", "inf" or " 1", which
    /// Swift's `Double(_:)` would read.
    public static func decimal(_ s: String) -> Double? {
        var chars = Substring(s)
        if chars.first == "-" || chars.first == "+" { chars = chars.dropFirst() }
        var digits = 0, sawDot = false, sawExponent = false, exponentDigits = 0
        var previous: Character = " "
        for c in chars {
            if c.isASCII, c.isNumber {
                if sawExponent { exponentDigits += 1 } else { digits += 1 }
            } else if c == ".", !sawDot, !sawExponent {
                sawDot = true
            } else if c == "e" || c == "E", digits > 0, !sawExponent {
                sawExponent = true
            } else if c == "-" || c == "+", previous == "e" || previous == "E" {
            } else {
                return nil
            }
            previous = c
        }
        guard digits > 0, !sawExponent || exponentDigits > 0 else { return nil }
        return Double(s)
    }
}

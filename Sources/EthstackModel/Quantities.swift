import Foundation

extension Value {
    /// The value as a number, reading the ways APIs write numbers: a JSON number, a decimal string
    /// ("12", as the beacon API quotes them) or a hex quantity ("0x1a", as Ethereum JSON-RPC does).
    /// nil for anything else.
    public var quantityValue: Double? {
        switch unmarked {
        case .number(let n): return n
        case .string(let raw):
            let s = raw.trimmingCharacters(in: .whitespaces)
            if s.hasPrefix("0x") || s.hasPrefix("0X") {
                let digits = s.dropFirst(2)
                guard !digits.isEmpty, digits.count <= 64 else { return nil }
                var n = 0.0  // Wei balances pass 2^64: accumulate as a Double.
                for c in digits {
                    guard let d = c.hexDigitValue else { return nil }
                    n = n * 16 + Double(d)
                }
                return n
            }
            guard let first = s.first, first.isNumber || first == "-" || first == "+" || first == "." else { return nil }
            return Double(s)
        default: return nil
        }
    }

    /// The value at a dotted path ("data.head_slot", "items.0.name"); nil when it is not there.
    /// An empty path is the value itself.
    public func value(atPath path: String) -> Value? {
        var current = self
        for part in path.split(separator: ".", omittingEmptySubsequences: true) {
            switch current.unmarked {
            case .map(let m):
                guard let next = m[String(part)] else { return nil }
                current = next
            case .list(let items):
                guard let i = Int(part), i >= 0, i < items.count else { return nil }
                current = items[i]
            default:
                return nil
            }
        }
        return current
    }
}

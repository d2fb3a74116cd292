// Kubernetes resource quantities ("500m", "4Gi", "1e3"): parsing, arithmetic and the canonical text
// the real server prints (resource.Quantity's String()).
import Foundation

/// A resource quantity, held exactly in thousandths (millicores, millibytes) — enough for
/// anything up to 8 PiB, which a test server never meets.
struct Quantity: Comparable, Hashable, CustomStringConvertible {
    var millis: Int64
    /// Printed with binary suffixes (Ki, Mi, Gi…) when it was written with one.
    var binary: Bool = false

    static let zero = Quantity(millis: 0)

    static func < (a: Quantity, b: Quantity) -> Bool { a.millis < b.millis }
    static func == (a: Quantity, b: Quantity) -> Bool { a.millis == b.millis }
    func hash(into h: inout Hasher) { h.combine(millis) }

    /// The sum, printed in the left operand's format (as quota.Add keeps it) unless that is zero.
    static func + (a: Quantity, b: Quantity) -> Quantity {
        Quantity(millis: a.millis &+ b.millis, binary: a.millis == 0 ? b.binary : a.binary)
    }

    private static let binarySuffixes: [(String, Int64)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
                                                              ("Pi", 1 << 50), ("Ei", 1 << 60)]
    private static let decimalSuffixes: [(String, Int)] = [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6),
                                                           ("G", 9), ("T", 12), ("P", 15), ("E", 18)]

    /// Parses the quantity syntax of the real API (`<signedNumber><suffix>`); nil when malformed.
    init?(_ text: String) {
        let s = text.trimmingCharacters(in: .whitespaces)
        let end = s.firstIndex { !"0123456789.+-".contains($0) } ?? s.endIndex
        let number = String(s[..<end]), suffix = String(s[end...])
        guard !number.isEmpty, let value = Decimal(string: number), number.filter({ $0 == "." }).count <= 1 else { return nil }
        var scaled: Decimal
        if let b = Quantity.binarySuffixes.first(where: { $0.0 == suffix }) {
            scaled = value * Decimal(b.1)
            binary = true
        } else if let d = Quantity.decimalSuffixes.first(where: { $0.0 == suffix }) {
            scaled = value * pow(Decimal(10), d.1 + 9) / pow(Decimal(10), 9)
        } else if suffix.first == "e" || suffix.first == "E", let exp = Int(suffix.dropFirst()), exp >= -9, exp <= 18 {
            scaled = value * pow(Decimal(10), exp + 9) / pow(Decimal(10), 9)
        } else {
            return nil
        }
        // Thousandths, rounded up as the real server rounds sub-milli values.
        var m = scaled * 1000, rounded = Decimal()
        NSDecimalRound(&rounded, &m, 0, .up)
        millis = NSDecimalNumber(decimal: rounded).int64Value
    }

    init(millis: Int64, binary: Bool = false) {
        self.millis = millis
        self.binary = binary
    }

    init?(_ json: KubeJSON?) {
        switch json {
        case .string(let s)?: self.init(s)
        case .int(let i)?: self.init(millis: i * 1000)
        case .double(let d)?: self.init(String(d))
        default: return nil
        }
    }

    /// The canonical form: the largest binary suffix that divides it exactly (binary format, at
    /// least 1Ki), otherwise the largest decimal one ("1500m", "2", "2k", "1G").
    var description: String {
        if millis == 0 { return "0" }
        if millis % 1000 != 0 { return "\(millis)m" }
        let units = millis / 1000
        if binary, abs(units) >= 1024 {
            if let (suffix, size) = Quantity.binarySuffixes.reversed().first(where: { units % $0.1 == 0 }) {
                return "\(units / size)\(suffix)"
            }
        }
        for (suffix, exp) in Quantity.decimalSuffixes.reversed() where exp > 0 {
            let size = Int64(pow(10, Double(exp)))
            if units % size == 0 { return "\(units / size)\(suffix)" }
        }
        return "\(units)"
    }
}

import Foundation
import EthstackModel

/// `format()` and `formatlist()` as Terraform 1.0.3 has them (Go's fmt verbs over cty values):
/// `%v %#v %t %b %d %o %x %X %e %E %f %g %G %s %q %%`, flags `+ - # 0` and space, width,
/// `.precision`, and `%[n]` to pick an argument. Numbers are 64-bit floats here (Terraform's are
/// arbitrary precision), so `%d` of a number beyond 2^53 shows the float's digits.
enum Formatter {
    struct Problem: Error {
        var message: String
    }

    struct Spec {
        var plus = false, minus = false, sharp = false, space = false, zero = false
        var width: Int?
        var precision: Int?
        var verb: Character = "v"
        var text = ""
        var offset = 0
    }

    /// Formats `args` by `template`; every argument must be used, as Terraform requires.
    static func format(_ template: String, _ args: [Value]) throws(Problem) -> String {
        let chars = Array(template)
        var out = ""
        var i = 0
        var next = 0
        var used = 0
        while i < chars.count {
            let c = chars[i]
            guard c == "%" else { out.append(c); i += 1; continue }
            let start = i
            i += 1
            guard i < chars.count else { throw Problem(message: "invalid format string starting at offset \(i)") }
            if chars[i] == "%" { out.append("%"); i += 1; continue }
            var spec = Spec()
            spec.offset = start
            flags: while i < chars.count {
                switch chars[i] {
                case "+": spec.plus = true
                case "-": spec.minus = true
                case "#": spec.sharp = true
                case " ": spec.space = true
                case "0": spec.zero = true
                default: break flags
                }
                i += 1
            }
            func argumentIndex() throws(Problem) {
                guard i < chars.count, chars[i] == "[" else { return }
                var j = i + 1
                var n = 0
                while j < chars.count, let d = chars[j].wholeNumberValue, chars[j].isASCII {
                    n = min(n * 10 + d, 1 << 20)
                    j += 1
                }
                guard j < chars.count, chars[j] == "]", j > i + 1, n >= 1 else {
                    throw Problem(message: "invalid argument index starting at offset \(i)")
                }
                next = n - 1
                i = j + 1
            }
            func number() -> Int? {
                var n: Int?
                while i < chars.count, chars[i].isASCII, let d = chars[i].wholeNumberValue {
                    n = min((n ?? 0) * 10 + d, 1 << 20)
                    i += 1
                }
                return n
            }
            try argumentIndex()
            spec.width = number()
            if i < chars.count, chars[i] == "." {
                i += 1
                spec.precision = number() ?? 0
            }
            try argumentIndex()
            guard i < chars.count else { throw Problem(message: "invalid format string starting at offset \(i)") }
            spec.verb = chars[i]
            if spec.verb == "%" { throw Problem(message: "unrecognized format character '%' at offset \(i)") }
            guard "vtbdoxXeEfgGsq".contains(spec.verb) else {
                throw Problem(message: "unsupported format verb '\(spec.verb)' in \"\(String(chars[start...i]))\" at offset \(start)")
            }
            i += 1
            spec.text = String(chars[start..<i])
            guard next < args.count else {
                throw Problem(message: "not enough arguments for \"\(spec.text)\" at \(start): need index \(next + 1) but have \(args.count) total")
            }
            out += try formatOne(args[next], spec)
            next += 1
            used = max(used, next)
            guard out.utf8.count <= Functions.maxStringBytes else {
                throw Problem(message: "the result would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
            }
        }
        guard used >= args.count else {
            throw Problem(message: "too many arguments; only \(used) used by format string")
        }
        return out
    }

    static func formatOne(_ value: Value, _ spec: Spec) throws(Problem) -> String {
        func unsupported(_ why: String) -> Problem {
            Problem(message: "unsupported value for \"\(spec.text)\" at \(spec.offset): \(why)")
        }
        let v = value.deepUnmarked
        switch spec.verb {
        case "v":
            if spec.sharp { return pad(v.jsonString(), spec) }
            switch v {
            case .null: return pad("null", spec)
            case .string(let s): return pad(s, spec)
            case .bool(let b): return pad(b ? "true" : "false", spec)
            case .number(let n): return pad(shortestG(n), spec, numeric: true)
            default: return pad(v.jsonString(), spec)
            }
        case "s", "q":
            if v.isNull { throw unsupported("null value cannot be formatted") }
            guard var s = v.interpolatedString else { throw unsupported("string required") }
            if let p = spec.precision { s = String(s.prefix(p)) }
            if spec.verb == "q" { s = goQuote(s) }
            return pad(s, spec)
        case "t":
            if v.isNull { throw unsupported("null value cannot be formatted") }
            let b: Bool
            switch v {
            case .bool(let x): b = x
            case .string("true"): b = true
            case .string("false"): b = false
            default: throw unsupported("bool required")
            }
            return b ? "true" : "false"  // Terraform ignores width for %t
        default:
            if v.isNull { throw unsupported("null value cannot be formatted") }
            guard let n = v.numberValue ?? v.stringValue.flatMap(Value.decimal) else { throw unsupported("a number is required") }
            if "bdoxX".contains(spec.verb) {
                guard n.isFinite, n.rounded() == n else { throw unsupported("an integer is required") }
                return try integer(n, spec)
            }
            return float(n, spec)
        }
    }

    /// Pads to the width (counted in characters): left with spaces, or zeros after the sign for
    /// numbers with `0`; right with `-`.
    static func pad(_ s: String, _ spec: Spec, numeric: Bool = false) -> String {
        guard let width = spec.width, s.count < width else { return s }
        let fill = width - s.count
        if spec.minus { return s + String(repeating: " ", count: fill) }
        if spec.zero {
            if numeric, let first = s.first, "+- ".contains(first) {
                return String(first) + String(repeating: "0", count: fill) + s.dropFirst()
            }
            return String(repeating: "0", count: fill) + s
        }
        return String(repeating: " ", count: fill) + s
    }

    static func sign(_ negative: Bool, _ spec: Spec) -> String {
        negative ? "-" : spec.plus ? "+" : spec.space ? " " : ""
    }

    static func integer(_ n: Double, _ spec: Spec) throws(Problem) -> String {
        let magnitude = Swift.abs(n)
        var digits: String
        if magnitude < 18_446_744_073_709_551_616 {
            let m = UInt64(magnitude)
            switch spec.verb {
            case "b": digits = String(m, radix: 2)
            case "o": digits = String(m, radix: 8)
            case "x": digits = String(m, radix: 16)
            case "X": digits = String(m, radix: 16, uppercase: true)
            default: digits = String(m)
            }
        } else if spec.verb == "d" {
            digits = String(format: "%.0f", magnitude)
        } else {
            throw Problem(message: "unsupported value for \"\(spec.text)\" at \(spec.offset): the number is beyond 2^64 (numbers are 64-bit floats in ethstack)")
        }
        if let p = spec.precision, digits.count < p { digits = String(repeating: "0", count: p - digits.count) + digits }
        if spec.precision == 0, n == 0 { digits = "" }
        if spec.sharp {
            switch spec.verb {
            case "b": digits = "0b" + digits
            case "o": if !digits.hasPrefix("0") { digits = "0" + digits }
            case "x": digits = "0x" + digits
            case "X": digits = "0X" + digits
            default: break
            }
        }
        var zeroSpec = spec
        if spec.precision != nil { zeroSpec.zero = false }  // Go: precision turns off zero padding
        return pad(sign(n < 0, spec) + digits, zeroSpec, numeric: true)
    }

    static func float(_ n: Double, _ spec: Spec) -> String {
        if !n.isFinite {
            let s = n.isNaN ? "NaN" : sign(n < 0, spec) + "Inf"
            var noZero = spec
            noZero.zero = false
            return pad(n.isNaN && (spec.plus || spec.space) ? (spec.plus ? "+" : " ") + s : s, noZero)
        }
        let body: String
        if (spec.verb == "g" || spec.verb == "G") && spec.precision == nil {
            var g = shortestG(Swift.abs(n))
            if spec.verb == "G" { g = g.uppercased() }
            body = g
        } else {
            var c = "%"
            if spec.sharp { c += "#" }
            c += ".\(spec.precision ?? 6)" + String(spec.verb)
            body = String(format: c, Swift.abs(n))
        }
        return pad(sign(n.sign == .minus, spec) + body, spec, numeric: true)
    }

    /// Go's `%g` with the shortest precision that reads back the same number: an exponent when it is
    /// below -4 or at least 6, as strconv and big.Float decide for the shortest form.
    static func shortestG(_ n: Double) -> String {
        guard n.isFinite else { return n.isNaN ? "NaN" : (n < 0 ? "-Inf" : "+Inf") }
        if n == 0 { return n.sign == .minus ? "-0" : "0" }
        let (negative, digits, exponent) = shortestDigits(n)
        let prefix = negative ? "-" : ""
        if exponent < -4 || exponent >= 6 {
            var mantissa = String(digits.prefix(1))
            if digits.count > 1 { mantissa += "." + digits.dropFirst() }
            let e = Swift.abs(exponent)
            return prefix + mantissa + "e" + (exponent < 0 ? "-" : "+") + (e < 10 ? "0" : "") + String(e)
        }
        if exponent < 0 {
            return prefix + "0." + String(repeating: "0", count: -exponent - 1) + digits
        }
        if digits.count <= exponent + 1 {
            return prefix + digits + String(repeating: "0", count: exponent + 1 - digits.count)
        }
        let point = digits.index(digits.startIndex, offsetBy: exponent + 1)
        return prefix + digits[..<point] + "." + digits[point...]
    }

    /// The shortest decimal digits that read back as `n` (Swift's own shortest printing), and the
    /// decimal exponent of the first digit.
    static func shortestDigits(_ n: Double) -> (negative: Bool, digits: String, exponent: Int) {
        var text = Swift.abs(n).description  // "123.45", "1e-07", "1.5e+21"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts.first ?? "0")
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = whole + fraction
        var pointExponent = whole.count - 1 + exponent
        while digits.hasPrefix("0"), digits.count > 1 {
            digits.removeFirst()
            pointExponent -= 1
        }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        return (n < 0, digits, pointExponent)
    }

    /// Go's `strconv.Quote`: double quotes, `\"` `\\` `\n` `\t` `\r` escapes, `\x`/`\u` for what does not print.
    static func goQuote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    out += String(format: "\\x%02x", u.value)
                } else if u.properties.generalCategory == .control || u.properties.generalCategory == .format
                            || u.properties.generalCategory == .unassigned {
                    out += u.value > 0xffff ? String(format: "\\U%08x", u.value) : String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

import Foundation

/// An untyped JSON value: what the test server stores objects as. Sendable, Equatable, with its own
/// parser and serializer so that integers, floats and booleans keep their exact JSON types.
public enum KubeJSON: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([KubeJSON])
    case object([String: KubeJSON])

    // MARK: accessors

    public subscript(key: String) -> KubeJSON? {
        get { if case .object(let o) = self { return o[key] } else { return nil } }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    public var objectValue: [String: KubeJSON]? { if case .object(let o) = self { return o } else { return nil } }
    public var arrayValue: [KubeJSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
        default: return nil
        }
    }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// Value at a dotted path of object keys ("metadata.name").
    public func at(_ path: String) -> KubeJSON? {
        var cur: KubeJSON? = self
        for part in path.split(separator: ".") { cur = cur?[String(part)] }
        return cur
    }

    /// Sets a value at a path of object keys, creating intermediate objects.
    public mutating func set(_ path: [String], _ value: KubeJSON?) {
        guard let first = path.first else { if let value { self = value }; return }
        var o = objectValue ?? [:]
        if path.count == 1 {
            o[first] = value
        } else {
            var child = o[first] ?? .object([:])
            if child.objectValue == nil { child = .object([:]) }
            child.set(Array(path.dropFirst()), value)
            o[first] = child
        }
        self = .object(o)
    }

    // MARK: parsing

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ data: Data) throws -> KubeJSON {
        var p = JSONParser(bytes: [UInt8](data))
        p.skipWS()
        let v = try p.parseValue(depth: 0)
        p.skipWS()
        if p.i != p.bytes.count { throw ParseError(description: "invalid character after top-level value at offset \(p.i)") }
        return v
    }

    public static func parse(_ string: String) throws -> KubeJSON { try parse(Data(string.utf8)) }

    // MARK: serializing

    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    public var data: Data { Data(serialized().utf8) }

    private func write(into out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isFinite, d.rounded() == d, abs(d) < 1e15 { out += String(Int64(d)) } else if d.isFinite { out += "\(d)" } else { out += "null" }
        case .string(let s): KubeJSON.writeString(s, into: &out)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (n, v) in a.enumerated() {
                if n > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                v.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            for (n, k) in o.keys.sorted().enumerated() {
                if n > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                KubeJSON.writeString(k, into: &out)
                out += pretty ? ": " : ":"
                o[k]!.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

extension KubeJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: KubeJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, KubeJSON)...) {
        var o: [String: KubeJSON] = [:]
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension KubeJSON: CustomStringConvertible {
    public var description: String { serialized() }
}

struct JSONParser {
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipWS() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    func err(_ m: String) -> KubeJSON.ParseError { KubeJSON.ParseError(description: "\(m) at offset \(i)") }

    mutating func parseValue(depth: Int) throws -> KubeJSON {
        guard depth < 512 else { throw err("nesting too deep") }
        guard i < bytes.count else { throw err("unexpected end of JSON input") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var o: [String: KubeJSON] = [:]
            skipWS()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                skipWS()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw err("expected object key") }
                let k = try parseString()
                skipWS()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw err("expected ':'") }
                i += 1
                skipWS()
                o[k] = try parseValue(depth: depth + 1)
                skipWS()
                guard i < bytes.count else { throw err("unexpected end of JSON input") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw err("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [KubeJSON] = []
            skipWS()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipWS()
                a.append(try parseValue(depth: depth + 1))
                skipWS()
                guard i < bytes.count else { throw err("unexpected end of JSON input") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw err("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            return try parseNumber()
        }
    }

    mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= bytes.count, Array(bytes[i..<i + u.count]) == u else { throw err("invalid literal") }
        i += u.count
    }

    mutating func parseNumber() throws -> KubeJSON {
        let start = i
        var isFloat = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        while i < bytes.count {
            let c = bytes[i]
            if c >= 0x30 && c <= 0x39 { digits += 1; i += 1 } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || ((c == UInt8(ascii: "+") || c == UInt8(ascii: "-")) && isFloat) {
                isFloat = true; i += 1
            } else { break }
        }
        guard digits > 0, let s = String(bytes: bytes[start..<i], encoding: .utf8) else { throw err("invalid character") }
        if !isFloat, let v = Int64(s) { return .int(v) }
        guard let d = Double(s) else { throw err("invalid number") }
        return .double(d)
    }

    mutating func parseString() throws -> String {
        i += 1  // opening quote
        var buf: [UInt8] = []
        while true {
            guard i < bytes.count else { throw err("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < bytes.count else { throw err("unterminated string") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): buf.append(0x22)
                case UInt8(ascii: "\\"): buf.append(0x5C)
                case UInt8(ascii: "/"): buf.append(0x2F)
                case UInt8(ascii: "b"): buf.append(0x08)
                case UInt8(ascii: "f"): buf.append(0x0C)
                case UInt8(ascii: "n"): buf.append(0x0A)
                case UInt8(ascii: "r"): buf.append(0x0D)
                case UInt8(ascii: "t"): buf.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if code >= 0xD800 && code < 0xDC00, i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try hex4()
                        code = 0x10000 + ((code - 0xD800) << 10) + (low &- 0xDC00)
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    buf.append(contentsOf: Array(String(scalar).utf8))
                default: throw err("invalid escape")
                }
            } else {
                buf.append(c); i += 1
            }
        }
        return String(decoding: buf, as: UTF8.self)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let s = String(bytes: bytes[i..<i + 4], encoding: .ascii), let v = UInt32(s, radix: 16) else { throw err("invalid unicode escape") }
        i += 4
        return v
    }
}

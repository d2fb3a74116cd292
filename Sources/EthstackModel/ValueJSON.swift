import Foundation

/// JSON encoding of values. Unknown values encode as null; sensitive values encode their content
/// (callers that show values to people must redact first — see `Value.redacted`).
extension Value {
    public func jsonString(sortedKeys: Bool = true, pretty: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(64)
        writeJSON(into: &out, pretty: pretty, indent: 0)
        return out
    }

    func writeJSON(into out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null, .unknown: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n):
            if n.isFinite { out += Value.formatNumber(n) } else { out += "null" }
        case .string(let s): Value.writeJSONString(s, into: &out)
        case .sensitive(let inner): inner.writeJSON(into: &out, pretty: pretty, indent: indent)
        case .list(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                item.writeJSON(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .map(let entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{"
            for (i, key) in entries.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                Value.writeJSONString(key, into: &out)
                out += pretty ? ": " : ":"
                entries[key]!.writeJSON(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    package static func writeJSONString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Parses JSON text into a value.
    public static func parseJSON(_ text: String) throws -> Value {
        try parseJSON(Data(text.utf8))
    }

    public static func parseJSON(_ data: Data) throws -> Value {
        try JSONDecoder().decode(Value.self, from: data)
    }

    /// Replaces sensitive values with the string "(sensitive value)" and unknowns with
    /// "(known after apply)": what may be shown to a person or written to JSON output.
    public var redacted: Value {
        switch self {
        case .sensitive: return .string("(sensitive value)")
        case .unknown: return .string("(known after apply)")
        case .list(let items): return .list(items.map(\.redacted))
        case .map(let entries): return .map(entries.mapValues(\.redacted))
        default: return self
        }
    }
}

extension Value: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let b = try? container.decode(Bool.self) { self = .bool(b); return }
        if let n = try? container.decode(Double.self) { self = .number(n); return }
        if let s = try? container.decode(String.self) { self = .string(s); return }
        if let l = try? container.decode([Value].self) { self = .list(l); return }
        if let m = try? container.decode([String: Value].self) { self = .map(m); return }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null, .unknown: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n): try container.encode(n)
        case .string(let s): try container.encode(s)
        case .list(let l): try container.encode(l)
        case .map(let m): try container.encode(m)
        case .sensitive(let inner): try container.encode(inner)
        }
    }
}

import EthstackModel
/// A YAML document as libyaml parsed it, every node with its position.
public indirect enum YAMLNode: Sendable {
    public enum ScalarStyle: Sendable { case plain, quoted, block }

    case scalar(String, ScalarStyle, tag: String?, SourceLocation)
    case sequence([YAMLNode], SourceLocation)
    case mapping([(key: YAMLNode, value: YAMLNode)], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, _, _, let l), .sequence(_, let l), .mapping(_, let l): return l
        }
    }

    /// A short name of the node's kind, for error messages ("a map", "a list", "a string").
    public var kindName: String {
        switch self {
        case .scalar: return "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a map"
        }
    }

    /// The scalar's text, when this is a scalar.
    public var scalarText: String? {
        if case .scalar(let s, _, _, _) = self { return s }
        return nil
    }

    /// The node as a plain value, resolving plain scalars as YAML 1.2's core schema does
    /// (null, booleans, numbers); quoted and block scalars stay strings.
    public var value: Value {
        switch self {
        case .scalar(let text, let style, let tag, _):
            return YAMLNode.resolveScalar(text, style: style, tag: tag)
        case .sequence(let items, _):
            return .list(items.map(\.value))
        case .mapping(let pairs, _):
            var map: [String: Value] = [:]
            for (k, v) in pairs { map[k.scalarText ?? k.value.jsonString()] = v.value }
            return .map(map)
        }
    }

    package static func resolveScalar(_ text: String, style: ScalarStyle, tag: String?) -> Value {
        if let tag {
            switch tag {
            case "tag:yaml.org,2002:str", "!!str": return .string(text)
            case "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "!!int", "!!float":
                if let n = Double(text) { return .number(n) }
            case "tag:yaml.org,2002:bool", "!!bool":
                return .bool(text.lowercased() == "true")
            case "tag:yaml.org,2002:null", "!!null": return .null
            default: break
            }
        }
        guard style == .plain else { return .string(text) }
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf": return .number(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .number(-.infinity)
        default: break
        }
        if let first = text.first, first.isNumber || first == "-" || first == "+" || first == "." {
            if text.hasPrefix("0x"), let n = Int(text.dropFirst(2), radix: 16) { return .number(Double(n)) }
            if text.hasPrefix("0o"), let n = Int(text.dropFirst(2), radix: 8) { return .number(Double(n)) }
            if let n = Value.decimal(text) { return .number(n) }
        }
        return .string(text)
    }
}

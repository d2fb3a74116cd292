import CLibYAML
import Foundation

/// YAML (1.2 core schema, as sigs.k8s.io/yaml reads it) to KubeJSON, through libyaml's event API.
enum YAMLToJSON {
    struct Failure: Error { let message: String }

    static func parse(_ data: Data) throws -> KubeJSON {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw Failure(message: "could not initialise the YAML parser") }
        defer { yaml_parser_delete(&parser) }
        let bytes = [UInt8](data)
        return try bytes.withUnsafeBufferPointer { buf -> KubeJSON in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            enum Frame { case seq([KubeJSON], String?), map([String: KubeJSON], String?, String?) }
            var stack: [Frame] = []
            var anchors: [String: KubeJSON] = [:]
            var result: KubeJSON?
            func add(_ v: KubeJSON) throws {
                guard let top = stack.popLast() else { if result == nil { result = v }; return }
                switch top {
                case .seq(var a, let anchor): a.append(v); stack.append(.seq(a, anchor))
                case .map(var m, let key, let anchor):
                    if let key { m[key] = v; stack.append(.map(m, nil, anchor)) } else {
                        switch v {
                        case .string(let s): stack.append(.map(m, s, anchor))
                        case .int(let i): stack.append(.map(m, String(i), anchor))
                        case .bool(let b): stack.append(.map(m, b ? "true" : "false", anchor))
                        case .double(let d): stack.append(.map(m, "\(d)", anchor))
                        case .null: stack.append(.map(m, "null", anchor))
                        default: throw Failure(message: "mapping keys must be scalars")
                        }
                    }
                }
            }
            func str(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                guard let p else { return nil }
                return String(cString: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
            }
            var steps = 0, aliases = 0
            while true {
                steps += 1
                if steps > 5_000_000 { throw Failure(message: "YAML document too large") }
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
                    throw Failure(message: "error converting YAML to JSON: yaml: line \(parser.problem_mark.line + 1): \(problem)")
                }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return result ?? .null
                case YAML_DOCUMENT_END_EVENT:
                    if result != nil { return result ?? .null }
                case YAML_SCALAR_EVENT:
                    let s = event.data.scalar
                    let text = s.value.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: s.length), as: UTF8.self) } ?? ""
                    let plain = s.style == YAML_PLAIN_SCALAR_STYLE || s.style == YAML_ANY_SCALAR_STYLE
                    let v = plain ? resolve(text, tag: str(s.tag)) : .string(text)
                    if let a = str(s.anchor) { anchors[a] = v }
                    try add(v)
                case YAML_ALIAS_EVENT:
                    aliases += 1
                    if aliases > 1000 { throw Failure(message: "error converting YAML to JSON: too many aliases") }
                    guard let a = str(event.data.alias.anchor), let v = anchors[a] else { throw Failure(message: "unknown anchor") }
                    try add(v)
                case YAML_SEQUENCE_START_EVENT:
                    if stack.count > 256 { throw Failure(message: "error converting YAML to JSON: nesting too deep") }
                    stack.append(.seq([], str(event.data.sequence_start.anchor)))
                case YAML_SEQUENCE_END_EVENT:
                    guard case .seq(let a, let anchor)? = stack.popLast() else { throw Failure(message: "unbalanced sequence") }
                    if let anchor { anchors[anchor] = .array(a) }
                    try add(.array(a))
                case YAML_MAPPING_START_EVENT:
                    if stack.count > 256 { throw Failure(message: "error converting YAML to JSON: nesting too deep") }
                    stack.append(.map([:], nil, str(event.data.mapping_start.anchor)))
                case YAML_MAPPING_END_EVENT:
                    guard case .map(let m, _, let anchor)? = stack.popLast() else { throw Failure(message: "unbalanced mapping") }
                    if let anchor { anchors[anchor] = .object(m) }
                    try add(.object(m))
                default:
                    break
                }
            }
        }
    }

    static func resolve(_ s: String, tag: String?) -> KubeJSON {
        if let tag, tag.hasSuffix(":str") { return .string(s) }
        switch s {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let i = Int64(s) { return .int(i) }
        if s.hasPrefix("0x"), let i = Int64(s.dropFirst(2), radix: 16) { return .int(i) }
        if s.hasPrefix("0o"), let i = Int64(s.dropFirst(2), radix: 8) { return .int(i) }
        let numeric = s.unicodeScalars.allSatisfy { "0123456789.eE+-".unicodeScalars.contains($0) }
        if numeric, s.contains(where: { $0.isNumber }), let d = Double(s) { return .double(d) }
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        default: return .string(s)
        }
    }
}

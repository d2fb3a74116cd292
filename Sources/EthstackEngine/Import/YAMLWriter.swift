import EthstackModel

/// A YAML document written by ethstack (the stack `import --generate` writes): block style, keys in
/// the order given, every string double-quoted, comments above the entries they explain.
/// Deterministic: the same tree gives the same bytes.
indirect enum YAMLOut {
    /// A scalar, already written as YAML (`"text"`, `12`, `true`).
    case scalar(String)
    case map([Entry])
    case list([YAMLOut])

    struct Entry {
        var key: String
        var value: YAMLOut
        var comment: String? = nil
    }

    static func string(_ s: String) -> YAMLOut { .scalar(Value.string(s).jsonString()) }

    /// A literal value; a `${` in a string is written `$${` so that it stays literal.
    static func literal(_ v: Value) -> YAMLOut {
        switch v.unmarked {
        case .null, .unknown, .sensitive: return .scalar("null")
        case .bool(let b): return .scalar(b ? "true" : "false")
        case .number(let n): return .scalar(Value.formatNumber(n))
        case .string(let s): return .string(s.replacingOccurrences(of: "${", with: "$${"))
        case .list(let items): return .list(items.map(literal))
        case .map(let m): return .map(m.keys.sorted().map { Entry(key: $0, value: literal(m[$0] ?? .null)) })
        }
    }

    func render(indent: Int = 0) -> String {
        var out = ""
        write(into: &out, indent: indent)
        return out
    }

    private static func key(_ k: String) -> String {
        let plain = k.first.map { $0.isLetter || $0 == "_" } == true
            && k.allSatisfy { $0.isLetter || $0.isNumber || "_-./".contains($0) }
            && !["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"].contains(k.lowercased())
        return plain ? k : Value.string(k).jsonString()
    }

    /// Writes a map's or list's lines at `indent`.
    private func write(into out: inout String, indent: Int) {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .scalar(let s):
            out += pad + s + "\n"
        case .map(let entries):
            for e in entries {
                if let comment = e.comment {
                    for line in comment.split(separator: "\n") { out += pad + "# " + line + "\n" }
                }
                out += pad + Self.key(e.key) + ":" + e.value.inline(indent: indent)
            }
        case .list(let items):
            for item in items {
                switch item {
                case .map(let entries) where !entries.isEmpty:
                    // "- first: …" then the other keys under it.
                    var body = ""
                    item.write(into: &body, indent: indent + 2)
                    out += pad + "- " + body.dropFirst(indent + 2)
                case .list(let inner) where !inner.isEmpty:
                    out += pad + "-\n"
                    item.write(into: &out, indent: indent + 2)
                default:
                    out += pad + "-" + item.inline(indent: indent)
                }
            }
        }
    }

    /// What follows `key:` (or `-`): a scalar on the same line, or a block on the next lines.
    private func inline(indent: Int) -> String {
        switch self {
        case .scalar(let s): return " " + s + "\n"
        case .map(let entries) where entries.isEmpty: return " {}\n"
        case .list(let items) where items.isEmpty: return " []\n"
        case .map:
            var out = "\n"
            write(into: &out, indent: indent + 2)
            return out
        case .list:
            var out = "\n"
            write(into: &out, indent: indent + 2)
            return out
        }
    }
}

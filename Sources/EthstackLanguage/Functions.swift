import Foundation
import EthstackModel
import EthstackYAML

/// The functions expressions may call. Any unknown argument makes the result unknown (except where
/// noted); any sensitive argument makes the result sensitive.
public enum Functions {
    public static let names = ["cidrsubnet", "file", "yamldecode", "yamlencode", "jsonencode", "jsondecode",
                               "base64encode", "base64decode", "join", "split", "format", "lookup", "length",
                               "keys", "values", "merge", "concat", "upper", "lower", "replace", "trimspace",
                               "tostring", "tonumber", "element", "contains", "range", "templatefile"]

    package static func fail(_ loc: SourceLocation, _ message: String) -> DiagnosticsError {
        DiagnosticsError([.error(loc, message)])
    }

    /// The longest string a function may produce (64 MiB): `replace` or `join` cannot exhaust memory.
    public static let maxStringBytes = 64 << 20
    /// The largest file `file()` and `templatefile()` read (16 MiB).
    public static let maxFileBytes = 16 << 20

    /// How many arguments each function takes, checked before anything is evaluated (so `validate`
    /// finds a missing argument even when the others are known only at apply).
    public static let arities: [String: ClosedRange<Int>] = [
        "cidrsubnet": 3...3, "file": 1...1, "yamldecode": 1...1, "yamlencode": 1...1, "jsonencode": 1...1,
        "jsondecode": 1...1, "base64encode": 1...1, "base64decode": 1...1, "join": 2...2, "split": 2...2,
        "format": 1...64, "lookup": 2...3, "length": 1...1, "keys": 1...1, "values": 1...1, "merge": 0...64,
        "concat": 0...64, "upper": 1...1, "lower": 1...1, "replace": 3...3, "trimspace": 1...1, "tostring": 1...1,
        "tonumber": 1...1, "element": 2...2, "contains": 2...2, "range": 1...2, "templatefile": 2...2,
    ]

    /// An unknown function or a wrong number of arguments, as a positioned error.
    public static func checkCall(_ name: String, argumentCount: Int, at loc: SourceLocation) -> Diagnostic? {
        guard names.contains(name), let range = arities[name] else {
            return .error(loc, "unknown function \"\(name)\"", hint: didYouMean(name, in: names))
        }
        guard range.contains(argumentCount) else {
            let expected = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            return .error(loc, "\(name)() takes \(expected) argument\(range.upperBound == 1 ? "" : "s"), got \(argumentCount)")
        }
        return nil
    }

    public static func call(_ name: String, _ args: [Value], at loc: SourceLocation,
                            argumentLocations: [SourceLocation], baseDirectory: String,
                            allowFileOutsideBase: Bool = false) throws -> Value {
        // The argument count is checked here, once, from `arities`, for every function below.
        if let problem = checkCall(name, argumentCount: args.count, at: loc) { throw DiagnosticsError([problem]) }
        if name != "lookup", args.contains(where: \.containsUnknown) { return .unknown }
        if name == "lookup", args.first?.isUnknown == true { return .unknown }
        let sensitive = args.contains(where: \.containsSensitive)
        let plain = args.map(\.deepUnmarked)
        func argLoc(_ i: Int) -> SourceLocation { i < argumentLocations.count ? argumentLocations[i] : loc }
        func bounded(_ bytes: Int) throws {
            guard bytes <= maxStringBytes else {
                throw fail(loc, "\(name)() would produce a string of \(bytes) bytes: at most \(maxStringBytes) (64 MiB)")
            }
        }
        func str(_ i: Int) throws -> String {
            guard let s = plain[i].interpolatedString else {
                throw fail(argLoc(i), "argument \(i + 1) of \(name)() must be a string, found \(plain[i].typeName)")
            }
            return s
        }
        func int(_ i: Int) throws -> Int {
            guard let n = plain[i].intValue ?? plain[i].stringValue.flatMap({ Int($0) }) else {
                throw fail(argLoc(i), "argument \(i + 1) of \(name)() must be a whole number, found \(plain[i].typeName)")
            }
            return n
        }
        func list(_ i: Int) throws -> [Value] {
            guard let l = plain[i].listValue else {
                throw fail(argLoc(i), "argument \(i + 1) of \(name)() must be a list, found \(plain[i].typeName)")
            }
            return l
        }
        func map(_ i: Int) throws -> [String: Value] {
            guard let m = plain[i].mapValue else {
                throw fail(argLoc(i), "argument \(i + 1) of \(name)() must be a map, found \(plain[i].typeName)")
            }
            return m
        }

        let result: Value
        switch name {
        case "cidrsubnet":
            result = .string(try cidrsubnet(try str(0), newbits: try int(1), netnum: try int(2), at: loc))
        case "file":
            let path = try str(0)
            let full = try confinedPath(path, function: "file", baseDirectory: baseDirectory,
                                        allowOutside: allowFileOutsideBase, at: argLoc(0))
            let text = try readText(full.path, shown: path, function: "file", at: argLoc(0))
            // What lies outside the stack's tree (a key, a credentials file) is a secret until shown otherwise.
            result = full.outside ? Value.string(text).markedSensitive : .string(text)
        case "yamldecode":
            do {
                let docs = try YAMLParser.parse(try str(0), file: "yamldecode() at \(loc)")
                result = docs.first?.value ?? .null
            } catch let e as DiagnosticsError {
                throw fail(loc, "yamldecode(): \(e.diagnostics.map(\.description).joined(separator: "; "))")
            }
        case "yamlencode":
            result = .string(YAMLEmitter.emit(plain[0]))
        case "jsonencode":
            result = .string(plain[0].jsonString())
        case "jsondecode":
            do { result = try Value.parseJSON(try str(0)) } catch {
                throw fail(loc, "jsondecode(): the argument is not valid JSON")
            }
        case "base64encode":
            result = .string(Data(try str(0).utf8).base64EncodedString())
        case "base64decode":
            guard let data = Data(base64Encoded: try str(0)), let s = String(data: data, encoding: .utf8) else {
                throw fail(loc, "base64decode(): the argument is not base64-encoded UTF-8 text")
            }
            result = .string(s)
        case "join":
            let sep = try str(0)
            let items = try list(1)
            var parts: [String] = []
            for (i, item) in items.enumerated() {
                guard let s = item.interpolatedString else {
                    throw fail(argLoc(1), "join(): element \(i) is a \(item.typeName), not a string")
                }
                parts.append(s)
            }
            try bounded(parts.reduce(0) { $0 + $1.utf8.count } + max(0, parts.count - 1) * sep.utf8.count)
            result = .string(parts.joined(separator: sep))
        case "split":
            result = .list(try str(1).components(separatedBy: try str(0)).map(Value.string))
        case "format":
            result = .string(try format(try str(0), Array(plain.dropFirst()), at: loc))
        case "lookup":
            if args[0].isUnknown || args[1].isUnknown { return .unknown }
            let m = try map(0)
            let key = try str(1)
            if let v = m[key] {
                result = v
            } else if args.count == 3 {
                result = plain[2]
            } else {
                throw fail(argLoc(1), "lookup(): no key \"\(key)\" and no default given")
            }
        case "length":
            switch plain[0] {
            case .list(let l): result = .number(Double(l.count))
            case .map(let m): result = .number(Double(m.count))
            case .string(let s): result = .number(Double(s.count))
            default: throw fail(argLoc(0), "length() needs a list, map or string, found \(plain[0].typeName)")
            }
        case "keys":
            result = .list(try map(0).keys.sorted().map(Value.string))
        case "values":
            let m = try map(0)
            result = .list(m.keys.sorted().compactMap { m[$0] })
        case "merge":
            var out: [String: Value] = [:]
            for i in args.indices { out.merge(try map(i)) { _, new in new } }
            result = .map(out)
        case "concat":
            var out: [Value] = []
            for i in args.indices { out += try list(i) }
            result = .list(out)
        case "upper": result = .string(try str(0).uppercased())
        case "lower": result = .string(try str(0).lowercased())
        case "trimspace": result = .string(try str(0).trimmingCharacters(in: .whitespacesAndNewlines))
        case "replace":
            let (text, of, with) = (try str(0), try str(1), try str(2))
            if !of.isEmpty, with.utf8.count > of.utf8.count {
                let occurrences = text.components(separatedBy: of).count - 1
                try bounded(text.utf8.count + occurrences * (with.utf8.count - of.utf8.count))
            }
            result = .string(text.replacingOccurrences(of: of, with: with))
        case "tostring":
            result = .string(try str(0))
        case "tonumber":
            guard let n = plain[0].numberValue ?? plain[0].stringValue.flatMap(Double.init) else {
                throw fail(argLoc(0), "tonumber(): \(plain[0].jsonString()) is not a number")
            }
            result = .number(n)
        case "element":
            let l = try list(0)
            guard !l.isEmpty else { throw fail(argLoc(0), "element(): the list is empty") }
            let i = try int(1)
            result = l[((i % l.count) + l.count) % l.count]
        case "contains":
            result = .bool(try list(0).contains { $0.semanticallyEquals(plain[1]) })
        case "range":
            let (lo, hi) = args.count == 1 ? (0, try int(0)) : (try int(0), try int(1))
            guard hi - lo <= 100_000 else { throw fail(loc, "range(): more than 100000 elements") }
            result = .list(lo < hi ? (lo..<hi).map { .number(Double($0)) } : [])
        case "templatefile":
            result = .string(try templatefile(try str(0), vars: try map(1), baseDirectory: baseDirectory,
                                              at: argLoc(0), varsAt: argLoc(1)))
        default:
            throw fail(loc, "unknown function \"\(name)\"")
        }
        if let s = result.stringValue { try bounded(s.utf8.count) }
        return sensitive ? result.markedSensitive : result
    }

    /// `path` resolved against the stack's directory (symbolic links followed), refused when it
    /// leaves that tree unless `allowOutside` (`--allow-file-outside-stack`).
    static func confinedPath(_ path: String, function: String, baseDirectory: String, allowOutside: Bool,
                             at loc: SourceLocation) throws -> (path: String, outside: Bool) {
        let base = URL(fileURLWithPath: baseDirectory).standardizedFileURL.resolvingSymlinksInPath().path
        let full = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: base, isDirectory: true))
            .standardizedFileURL.resolvingSymlinksInPath().path
        let inside = full.hasPrefix(base.hasSuffix("/") ? base : base + "/")
        if !inside && !allowOutside {
            throw fail(loc, "\(function)(): \"\(path)\" is outside the stack's directory \(base); give a path inside it, or pass --allow-file-outside-stack")
        }
        return (full, !inside)
    }

    /// A file's text, refused when it is larger than `maxFileBytes` (checked before reading) or not UTF-8.
    static func readText(_ full: String, shown path: String, function: String, at loc: SourceLocation) throws -> String {
        var info = stat()
        guard stat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw fail(loc, "\(function)(): cannot read \"\(path)\" (looked at \(full))")
        }
        guard Int(info.st_size) <= maxFileBytes else {
            throw fail(loc, "\(function)(): \"\(path)\" is \(info.st_size) bytes: at most \(maxFileBytes) (16 MiB)")
        }
        guard let data = FileManager.default.contents(atPath: full) else {
            throw fail(loc, "\(function)(): cannot read \"\(path)\" (looked at \(full))")
        }
        guard data.count <= maxFileBytes, let text = String(data: data, encoding: .utf8) else {
            throw fail(loc, "\(function)(): \"\(path)\" is not UTF-8 text of at most \(maxFileBytes) bytes")
        }
        return text
    }

    /// `templatefile("manifests/x.yaml", { namespace = "kt-a" })`, as Terraform renders it for plain
    /// interpolations: every `${name}` is replaced by `vars[name]` (a string, number or bool), `$${`
    /// is a literal `${`. The path is relative to the stack file's directory and must stay inside it.
    /// Template directives (`%{ if }`, `%{ for }`) and expressions other than a name are refused.
    static func templatefile(_ path: String, vars: [String: Value], baseDirectory: String, at loc: SourceLocation,
                             varsAt: SourceLocation) throws -> String {
        let base = URL(fileURLWithPath: baseDirectory).standardizedFileURL.resolvingSymlinksInPath().path
        let full = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: base, isDirectory: true))
            .standardizedFileURL.resolvingSymlinksInPath().path
        guard !path.hasPrefix("/"), full.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw fail(loc, "templatefile(): \"\(path)\" is outside the stack's directory \(base); give a path relative to it")
        }
        let text = try readText(full, shown: path, function: "templatefile", at: loc)
        var out = ""
        var rest = Substring(text)
        var line = 1
        while let start = rest.firstIndex(where: { $0 == "$" || $0 == "%" || $0 == "\n" }) {
            out += rest[..<start]
            let c = rest[start]
            let after = rest.index(after: start)
            if c == "\n" {
                line += 1
                out.append("\n")
                rest = rest[after...]
                continue
            }
            if rest[after...].hasPrefix(String(c) + "{") {  // $${ or %%{: a literal ${ / %{
                out += String(c) + "{"
                rest = rest[rest.index(after, offsetBy: 2)...]
                continue
            }
            guard rest[after...].hasPrefix("{") else {
                out.append(c)
                rest = rest[after...]
                continue
            }
            guard c == "$" else {
                throw fail(loc, "templatefile(): \(path):\(line): template directives (%{ … }) are not supported; write $${ … } for a literal")
            }
            guard let close = rest[after...].firstIndex(of: "}") else {
                throw fail(loc, "templatefile(): \(path):\(line): \"${\" without a closing \"}\"")
            }
            let name = rest[rest.index(after: after)..<close].trimmingCharacters(in: .whitespaces)
            guard let value = vars[name] else {
                let known = vars.keys.sorted()
                throw DiagnosticsError([.error(varsAt, "templatefile(): \(path):\(line) uses ${\(name)}, which the variables map does not have"
                                                        + (known.isEmpty ? "" : " (it has \(known.joined(separator: ", ")))"),
                                                        hint: didYouMean(name, in: known))])
            }
            guard let string = value.interpolatedString else {
                throw fail(varsAt, "templatefile(): ${\(name)} in \(path):\(line) is a \(value.typeName); only strings, numbers and bools can be interpolated (use jsonencode() in the map)")
            }
            out += string
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// `cidrsubnet("10.0.0.0/16", 4, 2)` → "10.0.32.0/20", as Terraform computes it (IPv4 and IPv6).
    public static func cidrsubnet(_ prefix: String, newbits: Int, netnum: Int, at loc: SourceLocation) throws -> String {
        let parts = prefix.split(separator: "/")
        guard parts.count == 2, let length = Int(parts[1]) else {
            throw fail(loc, "cidrsubnet(): \"\(prefix)\" is not a CIDR prefix like 10.0.0.0/16")
        }
        let address = String(parts[0])
        if let v4 = parseIPv4(address) {
            guard (0...32).contains(length) else { throw fail(loc, "cidrsubnet(): invalid prefix length /\(length)") }
            let newLength = length + newbits
            guard newbits >= 0, newLength <= 32 else {
                throw fail(loc, "cidrsubnet(): \(newbits) more bits on /\(length) exceeds the 32 bits of an IPv4 address")
            }
            guard netnum >= 0, netnum < (1 << newbits) else {
                throw fail(loc, "cidrsubnet(): network number \(netnum) does not fit in \(newbits) bits")
            }
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - length)
            let base = v4 & mask
            let subnet = newLength == 32 ? base | UInt32(netnum) : base | (UInt32(netnum) << (32 - newLength))
            let octets = [24, 16, 8, 0].map { String((subnet >> $0) & 0xff) }
            return octets.joined(separator: ".") + "/\(newLength)"
        }
        if let v6 = parseIPv6(address) {
            guard (0...128).contains(length) else { throw fail(loc, "cidrsubnet(): invalid prefix length /\(length)") }
            let newLength = length + newbits
            guard newbits >= 0, newLength <= 128 else {
                throw fail(loc, "cidrsubnet(): \(newbits) more bits on /\(length) exceeds the 128 bits of an IPv6 address")
            }
            guard netnum >= 0, newbits >= 63 || netnum < (1 << newbits) else {
                throw fail(loc, "cidrsubnet(): network number \(netnum) does not fit in \(newbits) bits")
            }
            let mask: UInt128 = length == 0 ? 0 : ~UInt128(0) << (128 - length)
            let subnet = (v6 & mask) | (UInt128(netnum) << (128 - newLength))
            return formatIPv6(subnet) + "/\(newLength)"
        }
        throw fail(loc, "cidrsubnet(): \"\(address)\" is not an IPv4 or IPv6 address")
    }

    static func parseIPv4(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: UInt32 = 0
        for p in parts {
            guard let n = UInt32(p), n <= 255 else { return nil }
            out = out << 8 | n
        }
        return out
    }

    static func parseIPv6(_ s: String) -> UInt128? {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ t: String) -> [UInt16]? {
            if t.isEmpty { return [] }
            var out: [UInt16] = []
            for g in t.split(separator: ":", omittingEmptySubsequences: false) {
                guard let n = UInt16(g, radix: 16) else { return nil }
                out.append(n)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    static func formatIPv6(_ v: UInt128) -> String {
        let groups = (0..<8).map { UInt16((v >> (112 - 16 * $0)) & 0xffff) }
        // Compress the longest run of zero groups (RFC 5952).
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8, groups[j] == 0 { j += 1 }
                if j - i > bestLength, j - i > 1 { bestStart = i; bestLength = j - i }
                i = j
            } else { i += 1 }
        }
        let hex = groups.map { String($0, radix: 16) }
        if bestStart < 0 { return hex.joined(separator: ":") }
        let head = hex[0..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }

    /// printf-like: %s, %d, %f, %v (any value, JSON for lists/maps), %q (quoted), %%.
    package static func format(_ template: String, _ args: [Value], at loc: SourceLocation) throws -> String {
        var out = ""
        var argIndex = 0
        var chars = template.makeIterator()
        func next() throws -> Value {
            guard argIndex < args.count else { throw fail(loc, "format(): not enough arguments for \"\(template)\"") }
            defer { argIndex += 1 }
            return args[argIndex]
        }
        while let c = chars.next() {
            guard c == "%" else { out.append(c); continue }
            guard let verb = chars.next() else { throw fail(loc, "format(): \"%\" at the end of \"\(template)\"") }
            switch verb {
            case "%": out.append("%")
            case "s", "v":
                let v = try next()
                out += v.interpolatedString ?? v.jsonString()
            case "d":
                let v = try next()
                guard let n = v.numberValue ?? v.stringValue.flatMap(Double.init) else {
                    throw fail(loc, "format(): %d needs a number, found \(v.typeName)")
                }
                // Int(n) traps beyond ±2^63 and on inf/NaN.
                guard let whole = Int(exactly: n.rounded(.towardZero)) else {
                    throw fail(loc, "format(): %d needs a whole number between \(Int.min) and \(Int.max), found \(Value.formatNumber(n))")
                }
                out += String(whole)
            case "f":
                let v = try next()
                guard let n = v.numberValue else { throw fail(loc, "format(): %f needs a number, found \(v.typeName)") }
                out += String(format: "%f", n)
            case "q":
                out += Value.string(try next().interpolatedString ?? "").jsonString()
            default:
                throw fail(loc, "format(): unknown verb %\(verb)")
            }
            guard out.utf8.count <= maxStringBytes else {
                throw fail(loc, "format() would produce a string of more than \(maxStringBytes) bytes (64 MiB)")
            }
        }
        guard argIndex == args.count else {
            throw fail(loc, "format(): \(args.count - argIndex) argument(s) left over for \"\(template)\"")
        }
        return out
    }
}

/// Writes values as block-style YAML, quoting strings that YAML would read as something else.
public enum YAMLEmitter {
    public static func emit(_ value: Value) -> String {
        var out = ""
        write(value, indent: 0, into: &out, inline: true)
        if !out.hasSuffix("\n") { out += "\n" }
        return out
    }

    package static func scalar(_ v: Value) -> String {
        switch v {
        case .null, .unknown: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return Value.formatNumber(n)
        case .string(let s): return quoteIfNeeded(s)
        case .sensitive(let inner): return scalar(inner)
        default: return ""
        }
    }

    static func quoteIfNeeded(_ s: String) -> String {
        let special = ":#{}[],&*!|>'\"%@`\n\t"
        let resolved = YAMLNode.resolveScalar(s, style: .plain, tag: nil)
        let needsQuote = s.isEmpty || resolved != .string(s) || s.first!.isWhitespace || s.last!.isWhitespace
            || s.contains(where: { special.contains($0) }) || s.hasPrefix("-") || s.hasPrefix("?")
        return needsQuote ? Value.string(s).jsonString() : s
    }

    package static func write(_ value: Value, indent: Int, into out: inout String, inline: Bool) {
        let pad = String(repeating: "  ", count: indent)
        switch value.unmarked {
        case .list(let items):
            if items.isEmpty { out += "[]\n"; return }
            if !inline { out += "\n" }
            for item in items {
                out += pad + "-"
                switch item.unmarked {
                case .list(let l) where !l.isEmpty:
                    write(item, indent: indent + 1, into: &out, inline: false)
                case .map(let m) where !m.isEmpty:
                    // First key on the dash line.
                    var nested = ""
                    write(item, indent: indent + 1, into: &nested, inline: true)
                    out += " " + nested.dropFirst(pad.count + 2)
                default:
                    out += " " + scalar(item.unmarked) + "\n"
                }
            }
        case .map(let m):
            if m.isEmpty { out += "{}\n"; return }
            if !inline { out += "\n" }
            for key in m.keys.sorted() {
                let v = m[key]!.unmarked
                out += pad + quoteIfNeeded(key) + ":"
                switch v {
                case .list(let l) where !l.isEmpty:
                    write(v, indent: indent, into: &out, inline: false)
                case .map(let mm) where !mm.isEmpty:
                    write(v, indent: indent + 1, into: &out, inline: false)
                case .list: out += " []\n"
                case .map: out += " {}\n"
                default: out += " " + scalar(v) + "\n"
                }
            }
        default:
            out += scalar(value.unmarked) + "\n"
        }
    }
}

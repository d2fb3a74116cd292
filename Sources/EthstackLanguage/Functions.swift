import Foundation
import EthstackModel
import EthstackYAML

/// The functions expressions may call. Any unknown argument makes the result unknown (except where
/// noted); any sensitive argument makes the result sensitive.
public enum Functions {
    /// Every function name, for "did you mean" and `checkCall`.
    public static let names: [String] = (Array(arities.keys) + Array(library.keys)).sorted()

    /// The functions beyond the core set below, by name.
    static let library: [String: LibraryFunction] = stringFunctions
        .merging(collectionFunctions) { a, _ in a }
        .merging(numberFunctions) { a, _ in a }
        .merging(networkFunctions) { a, _ in a }
        .merging(encodingFunctions) { a, _ in a }
        .merging(timeFunctions) { a, _ in a }

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
        "cidrsubnet": 3...3, "file": 1...1, "yamlencode": 1...1, "jsonencode": 1...1,
        "jsondecode": 1...1, "base64encode": 1...1, "base64decode": 1...1,
        "format": 1...64, "lookup": 2...3, "length": 1...1, "keys": 1...1, "values": 1...1, "merge": 0...64,
        "concat": 1...64, "upper": 1...1, "lower": 1...1, "trimspace": 1...1, "tostring": 1...1,
        "tonumber": 1...1, "element": 2...2, "contains": 2...2, "templatefile": 2...2,
        // Evaluated by the evaluator, which catches their arguments' errors.
        "try": 1...64, "can": 1...1,
    ]

    /// An unknown function or a wrong number of arguments, as a positioned error.
    /// With `expanding` (`f(a, xs...)`), the count is a lower bound: the list may hold any number.
    public static func checkCall(_ name: String, argumentCount: Int, at loc: SourceLocation, expanding: Bool = false) -> Diagnostic? {
        guard let range = arities[name] ?? library[name]?.arity else {
            return .error(loc, "unknown function \"\(name)\"", hint: didYouMean(name, in: names))
        }
        guard range.contains(argumentCount) || (expanding && argumentCount - 1 <= range.upperBound) else {
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
        case "yamlencode":
            result = .string(YAMLEmitter.emit(plain[0]))
        case "jsonencode":
            if let bad = plain[0].firstNonFiniteNumber {
                throw fail(argLoc(0), "jsonencode(): cannot serialize \(bad.isNaN ? "NaN" : "infinity") as JSON")
            }
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
            for i in args.indices where !plain[i].isNull { out.merge(try map(i)) { _, new in new } }
            result = .map(out)
        case "concat":
            var out: [Value] = []
            for i in args.indices { out += try list(i) }
            result = .list(out)
        case "upper": result = .string(try str(0).uppercased())
        case "lower": result = .string(try str(0).lowercased())
        case "trimspace": result = .string(try str(0).trimmingCharacters(in: .whitespacesAndNewlines))
        case "tostring" where plain[0].isNull, "tonumber" where plain[0].isNull:
            result = .null
        case "tostring":
            result = .string(try str(0))
        case "tonumber":
            guard let n = plain[0].numberValue ?? plain[0].stringValue.flatMap(Value.decimal) else {
                throw fail(argLoc(0), "tonumber(): \(plain[0].jsonString()) is not a number")
            }
            result = .number(n)
        case "element":
            let l = try list(0)
            guard !l.isEmpty else { throw fail(argLoc(0), "element(): the list is empty") }
            let i = try int(1)
            guard i >= 0 else { throw fail(argLoc(1), "element(): cannot use a negative index (\(i))") }
            result = l[i % l.count]
        case "contains":
            result = .bool(try list(0).contains { $0.semanticallyEquals(plain[1]) })
        case "templatefile":
            result = .string(try templatefile(try str(0), vars: try map(1), baseDirectory: baseDirectory,
                                              at: argLoc(0), varsAt: argLoc(1)))
        case "try", "can":
            // Reached only when called outside the evaluator: the arguments are already values.
            result = name == "can" ? .bool(true) : plain[0]
        default:
            guard let function = library[name] else { throw fail(loc, "unknown function \"\(name)\"") }
            result = try function.body(FunctionArguments(name: name, values: plain, locations: argumentLocations, call: loc,
                                                         baseDirectory: baseDirectory, allowFileOutsideBase: allowFileOutsideBase))
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

    /// A file's bytes, refused when it is not a regular file or larger than `maxFileBytes` (checked before reading).
    static func readData(_ full: String, shown path: String, function: String, at loc: SourceLocation) throws -> Data {
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
        guard data.count <= maxFileBytes else {
            throw fail(loc, "\(function)(): \"\(path)\" is \(data.count) bytes: at most \(maxFileBytes) (16 MiB)")
        }
        return data
    }

    /// A file's text (see `readData`), refused when it is not UTF-8.
    static func readText(_ full: String, shown path: String, function: String, at loc: SourceLocation) throws -> String {
        guard let text = String(data: try readData(full, shown: path, function: function, at: loc), encoding: .utf8) else {
            throw fail(loc, "\(function)(): \"\(path)\" is not UTF-8 text")
        }
        return text
    }

    /// `templatefile("manifests/x.yaml", { namespace = "kt-a" })`, as Terraform renders it: the file
    /// is a template whose `${ … }` are expressions over the names of `vars` (and the functions:
    /// `${upper(namespace)}`, `${jsonencode(list)}`, `${x.field}`), `$${` is a literal `${`, `%%{` a
    /// literal `%{`, and the directives `%{ if c }…%{ else }…%{ endif }`, `%{ for k, v in xs }…%{ endfor }`
    /// (with `~` strip markers) render as in Terraform. The path is relative to the stack file's
    /// directory and must stay inside it. Errors name the template's line.
    static func templatefile(_ path: String, vars: [String: Value], baseDirectory: String, at loc: SourceLocation,
                             varsAt: SourceLocation) throws -> String {
        let base = URL(fileURLWithPath: baseDirectory).standardizedFileURL.resolvingSymlinksInPath().path
        let full = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: base, isDirectory: true))
            .standardizedFileURL.resolvingSymlinksInPath().path
        guard !path.hasPrefix("/"), full.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw fail(loc, "templatefile(): \"\(path)\" is outside the stack's directory \(base); give a path relative to it")
        }
        let text = try readText(full, shown: path, function: "templatefile", at: loc)
        let template = try ExpressionParser.parseTemplate(text, at: SourceLocation(file: path, line: 1, column: 1))
        // Only the map's names are in scope, as in Terraform (no var., no resources).
        for reference in template.references where vars[reference.root] == nil {
            let known = vars.keys.sorted()
            throw DiagnosticsError([.error(varsAt, "templatefile(): \(path):\(reference.location.line) uses ${\(reference.root)}, which the variables map does not have"
                                                    + (known.isEmpty ? "" : " (it has \(known.joined(separator: ", ")))"),
                                                    hint: didYouMean(reference.root, in: known))])
        }
        var scope = EvaluationScope(variables: [:], baseDirectory: baseDirectory)
        scope.locals = vars
        let value: Value
        do {
            value = try Evaluator(scope: scope).evaluate(template, keepingType: false)
        } catch let error as DiagnosticsError where error.diagnostics.contains(where: { $0.message.contains("cannot insert") }) {
            throw fail(varsAt, "templatefile(): \(path): \(error.diagnostics.map(\.message).joined(separator: "; ")); only strings, numbers and bools can be interpolated (use jsonencode() in the template)")
        }
        guard case .string(let rendered) = value.unmarked else {
            throw fail(loc, "templatefile(): \(path) did not render to text")
        }
        return rendered
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

    /// Terraform's `format()` (see `Formatter`), its problems as errors at `loc`.
    package static func format(_ template: String, _ args: [Value], at loc: SourceLocation) throws -> String {
        do {
            return try Formatter.format(template, args)
        } catch {
            throw fail(loc, "format(): \(error.message)")
        }
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
        case .number(let n) where n.isInfinite: return n < 0 ? "-.inf" : ".inf"
        case .number(let n) where n.isNaN: return ".nan"
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

extension Value {
    /// The first infinite or NaN number in the value, depth first (JSON has neither).
    var firstNonFiniteNumber: Double? {
        switch unmarked {
        case .number(let n): return n.isFinite ? nil : n
        case .list(let items): return items.lazy.compactMap(\.firstNonFiniteNumber).first
        case .map(let entries): return entries.keys.sorted().lazy.compactMap { entries[$0]?.firstNonFiniteNumber }.first
        default: return nil
        }
    }
}

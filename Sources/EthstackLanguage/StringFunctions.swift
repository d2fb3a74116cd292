import Foundation
import EthstackModel

/// A function of the library beyond the core set in `Functions.call`: how many arguments it takes
/// and what it does with them (marks removed; unknowns never reach it).
struct LibraryFunction: Sendable {
    var arity: ClosedRange<Int>
    var body: @Sendable (FunctionArguments) throws -> Value
}

extension Functions {
    /// String functions, as Terraform 1.0.3 has them (`startswith`/`endswith` as later releases).
    static let stringFunctions: [String: LibraryFunction] = [
        "substr": LibraryFunction(arity: 3...3) { a in
            .string(substr(Array(try a.string(0)), offset: try a.integer(1), length: try a.integer(2)))
        },
        "startswith": LibraryFunction(arity: 2...2) { a in .bool(try a.string(0).hasPrefix(try a.string(1))) },
        "endswith": LibraryFunction(arity: 2...2) { a in .bool(try a.string(0).hasSuffix(try a.string(1))) },
        "trim": LibraryFunction(arity: 2...2) { a in
            let cut = Set(try a.string(1).unicodeScalars)
            let s = try a.string(0).unicodeScalars
            guard let first = s.firstIndex(where: { !cut.contains($0) }), let last = s.lastIndex(where: { !cut.contains($0) }) else {
                return .string("")
            }
            return .string(String(s[first...last]))
        },
        "trimprefix": LibraryFunction(arity: 2...2) { a in
            let (s, p) = (try a.string(0), try a.string(1))
            return .string(s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s)
        },
        "trimsuffix": LibraryFunction(arity: 2...2) { a in
            let (s, p) = (try a.string(0), try a.string(1))
            return .string(s.hasSuffix(p) ? String(s.dropLast(p.count)) : s)
        },
        "chomp": LibraryFunction(arity: 1...1) { a in
            var s = Substring(try a.string(0))
            while let last = s.last, last == "\n" || last == "\r\n" || last == "\r" { s = s.dropLast() }
            return .string(String(s))
        },
        "title": LibraryFunction(arity: 1...1) { a in
            var out = ""
            var atWordStart = true
            for c in try a.string(0) {
                out += atWordStart ? c.uppercased() : String(c)
                atWordStart = !(c.isLetter || c.isNumber || c == "_" || c == "'")
            }
            return .string(out)
        },
        "strrev": LibraryFunction(arity: 1...1) { a in .string(String(try a.string(0).reversed())) },
        "indent": LibraryFunction(arity: 2...2) { a in
            let pad = String(repeating: " ", count: max(0, min(try a.integer(0), 1024)))
            let lines = try a.string(1).components(separatedBy: "\n")
            return .string(try a.bounded(lines.enumerated().map { $0.offset == 0 ? $0.element : pad + $0.element }.joined(separator: "\n")))
        },
        "split": LibraryFunction(arity: 2...2) { a in
            let (separator, s) = (try a.string(0), try a.string(1))
            if separator.isEmpty { return .list(s.map { .string(String($0)) }) }
            return .list(s.components(separatedBy: separator).map(Value.string))
        },
        "join": LibraryFunction(arity: 2...64) { a in
            let separator = try a.string(0)
            var parts: [String] = []
            var bytes = 0
            for i in 1..<a.count {
                for (j, item) in try a.list(i).enumerated() {
                    if item.isNull { throw a.fail(i, "element \(j) of argument \(i + 1) is null") }
                    guard let s = item.interpolatedString else {
                        throw a.fail(i, "element \(j) of argument \(i + 1) is a \(item.typeName), not a string")
                    }
                    bytes += s.utf8.count + separator.utf8.count
                    guard bytes <= Functions.maxStringBytes + separator.utf8.count else {
                        throw a.fail("the result would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
                    }
                    parts.append(s)
                }
            }
            return .string(parts.joined(separator: separator))
        },
        "replace": LibraryFunction(arity: 3...3) { a in
            let (text, pattern, replacement) = (try a.string(0), try a.string(1), try a.string(2))
            if pattern.count > 1, pattern.hasPrefix("/"), pattern.hasSuffix("/") {
                let regex = try compileRegex(String(pattern.dropFirst().dropLast()), a, argument: 1)
                return .string(try a.bounded(regexReplace(text, regex, template: replacement, a)))
            }
            if pattern.isEmpty {
                // As Go's strings.Replace: the replacement between every character and at both ends.
                let count = text.count + 1
                guard text.utf8.count + count * replacement.utf8.count <= Functions.maxStringBytes else {
                    throw a.fail("the result would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
                }
                return .string(replacement + text.map { String($0) + replacement }.joined())
            }
            if replacement.utf8.count > pattern.utf8.count {
                let occurrences = text.components(separatedBy: pattern).count - 1
                guard text.utf8.count + occurrences * (replacement.utf8.count - pattern.utf8.count) <= Functions.maxStringBytes else {
                    throw a.fail("the result would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
                }
            }
            return .string(text.replacingOccurrences(of: pattern, with: replacement))
        },
        "regex": LibraryFunction(arity: 2...2) { a in
            let regex = try compileRegex(try a.string(0), a, argument: 0)
            let text = try a.string(1)
            guard let match = regex.expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else {
                throw a.fail("pattern did not match any part of the given string")
            }
            return captures(match, regex, in: text)
        },
        "regexall": LibraryFunction(arity: 2...2) { a in
            let regex = try compileRegex(try a.string(0), a, argument: 0)
            let text = try a.string(1)
            return .list(goMatches(regex.expression, in: text).map { captures($0, regex, in: text) })
        },
        "formatlist": LibraryFunction(arity: 1...64) { a in
            let spec = try a.string(0)
            var length: Int?
            for i in 1..<max(1, a.count) {
                guard let l = a[i].listValue else { continue }
                if let n = length, n != l.count {
                    throw a.fail(i, "argument \(i + 1) has length \(l.count), which is inconsistent with an earlier argument of length \(n)")
                }
                length = l.count
            }
            let rows = length ?? 1
            guard rows * max(1, spec.utf8.count) <= Functions.maxStringBytes else { throw a.fail("the result would be too long") }
            var out: [Value] = []
            for row in 0..<rows {
                let args = (1..<max(1, a.count)).map { i in a[i].listValue?[row] ?? a[i] }
                do { out.append(.string(try Formatter.format(spec, a.count > 1 ? args : []))) } catch let problem as Formatter.Problem {
                    throw a.fail(problem.message)
                }
            }
            return .list(out)
        },
    ]

    /// Terraform's `substr`: offsets and lengths count characters; a negative offset counts from
    /// the end; a length of -1 (or past the end) takes the rest; an offset past the end gives "".
    static func substr(_ chars: [Character], offset: Int, length: Int) -> String {
        var start = offset
        if start < 0 { start = max(0, chars.count + start) }
        guard start < chars.count else { return "" }
        let end = length < 0 ? chars.count : min(chars.count, start + min(length, chars.count))
        return end > start ? String(chars[start..<end]) : ""
    }

    struct CompiledRegex {
        var expression: NSRegularExpression
        /// Capture group names, by group number (nil for unnamed groups).
        var names: [String?]
    }

    /// RE2's syntax as far as ICU (NSRegularExpression) shares it: `(?P<name>…)` becomes `(?<name>…)`.
    static func compileRegex(_ pattern: String, _ a: FunctionArguments, argument: Int) throws -> CompiledRegex {
        let icu = pattern.replacingOccurrences(of: "(?P<", with: "(?<")
        do {
            let expression = try NSRegularExpression(pattern: icu)
            return CompiledRegex(expression: expression, names: groupNames(icu, count: expression.numberOfCaptureGroups))
        } catch {
            throw a.fail(argument, "invalid regular expression \"\(pattern)\"")
        }
    }

    /// The names of the capture groups, in the order their `(` appear (escapes and classes skipped).
    static func groupNames(_ pattern: String, count: Int) -> [String?] {
        var names: [String?] = []
        let c = Array(pattern)
        var i = 0
        var inClass = false
        while i < c.count {
            if c[i] == "\\" { i += 2; continue }
            if inClass { if c[i] == "]" { inClass = false }; i += 1; continue }
            if c[i] == "[" { inClass = true; i += 1; continue }
            if c[i] == "(" {
                if i + 1 < c.count, c[i + 1] == "?" {
                    if i + 2 < c.count, c[i + 2] == "<", i + 3 < c.count, c[i + 3] != "=", c[i + 3] != "!" {
                        var j = i + 3
                        var name = ""
                        while j < c.count, c[j] != ">" { name.append(c[j]); j += 1 }
                        names.append(name)
                    }
                } else {
                    names.append(nil)
                }
            }
            i += 1
        }
        if names.count != count { return [String?](repeating: nil, count: count) }
        return names
    }

    /// Matches as Go's `FindAll`: successive, non-overlapping, an empty match right after a match ignored.
    static func goMatches(_ regex: NSRegularExpression, in text: String) -> [NSTextCheckingResult] {
        var out: [NSTextCheckingResult] = []
        var previousEnd = -1
        for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            if m.range.length == 0, m.range.location == previousEnd { continue }
            out.append(m)
            previousEnd = m.range.location + m.range.length
        }
        return out
    }

    /// A match as Terraform's `regex` gives it: the matched text without groups, a map with named
    /// groups, a list with unnamed ones; an unmatched group is null.
    static func captures(_ m: NSTextCheckingResult, _ regex: CompiledRegex, in text: String) -> Value {
        func group(_ i: Int) -> Value {
            let r = m.range(at: i)
            guard r.location != NSNotFound, let range = Range(r, in: text) else { return .null }
            return .string(String(text[range]))
        }
        let n = regex.expression.numberOfCaptureGroups
        if n == 0 { return group(0) }
        if regex.names.contains(where: { $0 != nil }) {
            var out: [String: Value] = [:]
            for (i, name) in regex.names.enumerated() { if let name { out[name] = group(i + 1) } }
            return .map(out)
        }
        return .list((1...n).map(group))
    }

    /// Go's `ReplaceAllString`: `$1`, `${1}`, `$name`, `${name}` name groups (the longest run of
    /// letters, digits and `_` after `$`), `$$` is a `$`; a group that does not exist is empty.
    static func regexReplace(_ text: String, _ regex: CompiledRegex, template: String, _ a: FunctionArguments) throws -> String {
        var out = ""
        var last = text.startIndex
        let t = Array(template)
        for m in goMatches(regex.expression, in: text) {
            guard let whole = Range(m.range, in: text) else { continue }
            out += text[last..<whole.lowerBound]
            var i = 0
            while i < t.count {
                guard t[i] == "$", i + 1 < t.count else { out.append(t[i]); i += 1; continue }
                if t[i + 1] == "$" { out.append("$"); i += 2; continue }
                var name = ""
                var j = i + 1
                if t[j] == "{" {
                    j += 1
                    while j < t.count, t[j] != "}" { name.append(t[j]); j += 1 }
                    guard j < t.count else { out.append("$"); i += 1; continue }
                    j += 1
                } else {
                    while j < t.count, t[j].isASCII, t[j].isLetter || t[j].isNumber || t[j] == "_" { name.append(t[j]); j += 1 }
                    if name.isEmpty { out.append("$"); i += 1; continue }
                }
                let index = Int(name) ?? (regex.names.firstIndex(of: name).map { $0 + 1 })
                if let index, index <= regex.expression.numberOfCaptureGroups {
                    let r = m.range(at: index)
                    if r.location != NSNotFound, let range = Range(r, in: text) { out += text[range] }
                }
                i = j
            }
            last = whole.upperBound
            guard out.utf8.count <= Functions.maxStringBytes else {
                throw a.fail("the result would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
            }
        }
        return out + text[last...]
    }
}

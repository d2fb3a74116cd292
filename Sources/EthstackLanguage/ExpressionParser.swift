import EthstackModel
/// Parses templates (`"http://${lb.hostname}:8545"`) and the expressions inside `${ … }`.
///
/// Grammar (precedence low → high): conditional `a ? b : c`; `||`; `&&`; `== !=`; `< <= > >=`;
/// `+ -`; `* / %`; unary `! -`; postfix `.attr`, `[index]`, `[*]`; primary: number, "string",
/// true/false/null, name, call `f(a, b)`, list `[a, b]`, map `{ key = value }`, `( e )`, a string
/// with templates in it `"a-${x}"`, for expressions `[for v in xs : e if c]`, `{for k, v in m : k => v...}`.
public struct ExpressionParser {
    public static func parseTemplate(_ text: String, at location: SourceLocation, columnOffset: Int = 0) throws -> Template {
        // Open directives, innermost last; the bottom frame is the template itself.
        var frames = [DirectiveFrame(opener: .root, location: location)]
        var literal = ""
        let chars = Array(text)
        var i = 0
        var line = location.line
        let column = location.column + columnOffset
        var lineStartIndex = 0
        var stripNextLeadingSpace = false
        func flush() {
            if stripNextLeadingSpace {
                literal = String(literal.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }))
                stripNextLeadingSpace = false
            }
            if !literal.isEmpty { frames[frames.count - 1].append(.text(literal)) }
            literal = ""
        }
        while i < chars.count {
            let c = chars[i]
            if (c == "$" || c == "%"), i + 2 < chars.count, chars[i + 1] == c, chars[i + 2] == "{" {
                literal += String(c) + "{"   // $${ and %%{: a literal ${ / %{
                i += 3
                continue
            }
            if (c == "$" || c == "%"), i + 1 < chars.count, chars[i + 1] == "{" {
                // Find the matching close brace: strings inside, and templates inside those, are skipped whole.
                let startLoc = SourceLocation(file: location.file, line: line, column: column + (i - lineStartIndex))
                let j: Int
                do {
                    j = try closingBrace(chars, from: i + 2)
                } catch let e as ScanError {
                    throw DiagnosticsError([.error(startLoc.advanced(by: e.offset - i), e.message)])
                }
                var body = String(chars[(i + 2)..<j])
                var bodyOffset = 2
                // Strip markers: `~` after the opening brace trims the whitespace before, `~` before
                // the closing brace the whitespace after.
                if body.hasPrefix("~") {
                    body.removeFirst()
                    bodyOffset += 1
                    while let last = literal.last, last == " " || last == "\t" || last == "\n" || last == "\r" { literal.removeLast() }
                }
                let stripAfter = body.hasSuffix("~")
                if stripAfter { body.removeLast() }
                flush()
                if c == "$" {
                    var parser = ExpressionParser(source: body, location: startLoc.advanced(by: bodyOffset))
                    frames[frames.count - 1].append(.expression(try parser.parseComplete()))
                } else {
                    try directive(body, at: startLoc, bodyOffset: bodyOffset, &frames)
                }
                stripNextLeadingSpace = stripAfter
                // Newlines inside the braces still count for the positions after them.
                for k in i..<j where chars[k] == "\n" { line += 1; lineStartIndex = k + 1 }
                i = j + 1
                continue
            }
            if c == "\n" {
                line += 1
                lineStartIndex = i + 1
            }
            literal.append(c)
            i += 1
        }
        flush()
        guard frames.count == 1, let root = frames.first else {
            let open = frames[frames.count - 1]
            throw DiagnosticsError([.error(open.location, "this %{ \(open.opener.keyword) } has no %{ \(open.opener.closer) }")])
        }
        return Template(parts: root.parts.isEmpty ? [.text("")] : root.parts, location: location)
    }

    /// A directive being read: what opened it and the parts so far (of its `else` branch once seen).
    struct DirectiveFrame {
        enum Opener {
            case root
            case conditional(Expression)
            case loop(key: String?, value: String, collection: Expression)
            var keyword: String {
                switch self { case .root: return ""; case .conditional: return "if"; case .loop: return "for" }
            }
            var closer: String {
                switch self { case .root: return ""; case .conditional: return "endif"; case .loop: return "endfor" }
            }
        }
        var opener: Opener
        var location: SourceLocation
        var parts: [Template.Part] = []
        var elseParts: [Template.Part]?
        mutating func append(_ part: Template.Part) {
            if elseParts != nil { elseParts?.append(part) } else { parts.append(part) }
        }
    }

    /// One `%{ … }`: opens, splits or closes a frame.
    static func directive(_ body: String, at loc: SourceLocation, bodyOffset: Int, _ frames: inout [DirectiveFrame]) throws {
        let trimmed = body.trimmingCharacters(in: .whitespaces)
        let leading = body.prefix(while: { $0 == " " || $0 == "\t" }).count
        let words = trimmed.split(separator: " ", maxSplits: 1).map(String.init)
        let keyword = words.first ?? ""
        let rest = words.count > 1 ? words[1] : ""
        let restLoc = loc.advanced(by: bodyOffset + leading + keyword.count + 1)
        func fail(_ message: String) -> DiagnosticsError { DiagnosticsError([.error(loc, message)]) }
        switch keyword {
        case "if":
            guard !rest.isEmpty else { throw fail("%{ if } needs a condition") }
            var parser = ExpressionParser(source: rest, location: restLoc)
            frames.append(DirectiveFrame(opener: .conditional(try parser.parseComplete()), location: loc))
        case "else":
            guard case .conditional = frames[frames.count - 1].opener, frames[frames.count - 1].elseParts == nil else {
                throw fail("%{ else } outside a %{ if }")
            }
            frames[frames.count - 1].elseParts = []
        case "endif":
            guard frames.count > 1, case .conditional(let condition) = frames[frames.count - 1].opener,
                  let frame = frames.popLast() else { throw fail("%{ endif } without its %{ if }") }
            frames[frames.count - 1].append(.directive(.conditional(condition: condition, then: frame.parts,
                                                                    otherwise: frame.elseParts ?? [], location: frame.location)))
        case "for":
            // `for v in xs` or `for k, v in xs`.
            guard let inRange = rest.range(of: " in ") else { throw fail("%{ for } needs \"NAME in COLLECTION\" (or \"KEY, VALUE in …\")") }
            let names = rest[..<inRange.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard (1...2).contains(names.count), names.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
                throw fail("%{ for } names must be one or two identifiers (\"v\" or \"k, v\")")
            }
            let source = String(rest[inRange.upperBound...])
            let sourceOffset = rest.distance(from: rest.startIndex, to: inRange.upperBound)
            var parser = ExpressionParser(source: source, location: restLoc.advanced(by: sourceOffset))
            let collection = try parser.parseComplete()
            frames.append(DirectiveFrame(opener: .loop(key: names.count == 2 ? names[0] : nil, value: names[names.count - 1],
                                                       collection: collection), location: loc))
        case "endfor":
            guard frames.count > 1, case .loop(let key, let value, let collection) = frames[frames.count - 1].opener,
                  let frame = frames.popLast() else { throw fail("%{ endfor } without its %{ for }") }
            frames[frames.count - 1].append(.directive(.loop(key: key, value: value, collection: collection,
                                                             body: frame.parts, location: frame.location)))
        default:
            throw fail("unknown template directive \"\(keyword)\": use %{ if }, %{ else }, %{ endif }, %{ for }, %{ endfor } (%%{ for a literal %{)")
        }
    }

    /// A problem found while looking for the end of a `${ … }` or a string, at an offset into the text.
    struct ScanError: Error {
        var offset: Int
        var message: String
    }

    /// The index of the `}` that closes the `${` whose body starts at `start`. Strings in the body
    /// are skipped whole, templates inside those strings too, to at most `maxNesting` levels.
    static func closingBrace(_ s: [Character], from start: Int, depth: Int = 0) throws -> Int {
        guard depth < maxNesting else {
            throw ScanError(offset: start, message: "templates nest more than \(maxNesting) levels deep")
        }
        var braces = 1
        var i = start
        while i < s.count {
            switch s[i] {
            case "\"":
                i = try endOfString(s, from: i + 1, depth: depth + 1)
                continue
            case "{": braces += 1
            case "}":
                braces -= 1
                if braces == 0 { return i }
            default: break
            }
            i += 1
        }
        throw ScanError(offset: max(0, start - 2), message: "unterminated \"${\": expected a closing \"}\"")
    }

    /// The index just past the `"` that ends the string whose text starts at `start`.
    static func endOfString(_ s: [Character], from start: Int, depth: Int) throws -> Int {
        var i = start
        while i < s.count {
            let c = s[i]
            if c == "\\" {
                i += 2
            } else if c == "\"" {
                return i + 1
            } else if c == "$", i + 2 < s.count, s[i + 1] == "$", s[i + 2] == "{" {
                i += 3
            } else if c == "$", i + 1 < s.count, s[i + 1] == "{" {
                i = try closingBrace(s, from: i + 2, depth: depth + 1) + 1
            } else {
                i += 1
            }
        }
        throw ScanError(offset: max(0, start - 1), message: "unterminated string")
    }

    /// Parses one expression (the text between `${` and `}`).
    public static func parseExpression(_ source: String, at location: SourceLocation) throws -> EthstackModel.Expression {
        var parser = ExpressionParser(source: source, location: location)
        return try parser.parseComplete()
    }

    // MARK: - Lexer

    package enum Token: Equatable {
        case number(Double)
        case string(String)
        /// A string literal with `${ … }` in it: an index into `templates`.
        case template(Int)
        case identifier(String)
        case symbol(String)
        case end
    }

    package let location: SourceLocation
    package var tokens: [(Token, Int)] = []
    package var position = 0
    /// The parts of the string literals with templates in them, by `.template` index.
    package var templates: [[Template.Part]] = []
    /// How deeply expressions may nest (parentheses, lists, maps, arguments, unary operators):
    /// deeper input is refused at its position instead of exhausting the stack, here and in the
    /// evaluator, which recurses as deeply.
    public static let maxNesting = 256
    static let singleSymbols: Set<Character> = Set("()[]{}.,:?!<>+-*/%=")
    var nesting = 0

    mutating func enter() throws {
        nesting += 1
        guard nesting <= ExpressionParser.maxNesting else {
            throw fail(currentOffset, "the expression nests more than \(ExpressionParser.maxNesting) levels deep")
        }
    }

    package init(source: String, location: SourceLocation) {
        self.location = location
        self.source = Array(source)
    }

    package let source: [Character]

    package func loc(_ offset: Int) -> SourceLocation { location.advanced(by: offset) }

    package func fail(_ offset: Int, _ message: String) -> DiagnosticsError {
        DiagnosticsError([.error(loc(offset), message)])
    }

    mutating func tokenize() throws {
        var i = 0
        let s = source
        while i < s.count {
            let c = s[i]
            if c.isWhitespace { i += 1; continue }
            let start = i
            if c.isNumber {
                var j = i
                while j < s.count, s[j].isNumber || s[j] == "." || s[j] == "e" || s[j] == "E" {
                    // A dot followed by a non-digit ends the number (`list[0].x` is not a number).
                    if s[j] == ".", j + 1 < s.count, !s[j + 1].isNumber { break }
                    // `1e-7`, `1E+21`: the exponent's sign.
                    if s[j] == "e" || s[j] == "E", j + 2 < s.count, s[j + 1] == "-" || s[j + 1] == "+", s[j + 2].isNumber {
                        j += 2
                        continue
                    }
                    j += 1
                }
                let text = String(s[i..<j])
                guard let n = Double(text) else { throw fail(start, "invalid number \"\(text)\"") }
                tokens.append((.number(n), start))
                i = j
            } else if c.isLetter || c == "_" {
                var j = i
                while j < s.count, s[j].isLetter || s[j].isNumber || s[j] == "_" || s[j] == "-" { j += 1 }
                tokens.append((.identifier(String(s[i..<j])), start))
                i = j
            } else if c == "\"" {
                i = try tokenizeString(from: i)
            } else {
                // Compared as characters: building a string per symbol made long input slow.
                let next: Character? = i + 1 < s.count ? s[i + 1] : nil
                let twoCharacter = next == "=" && (c == "=" || c == "!" || c == "<" || c == ">")
                    || (c == "&" && next == "&") || (c == "|" && next == "|") || (c == "=" && next == ">")
                if c == ".", next == ".", i + 2 < s.count, s[i + 2] == "." {
                    tokens.append((.symbol("..."), start))
                    i += 3
                } else if twoCharacter, let next {
                    tokens.append((.symbol(String([c, next])), start))
                    i += 2
                } else if ExpressionParser.singleSymbols.contains(c) {
                    tokens.append((.symbol(String(c)), start))
                    i += 1
                } else {
                    throw fail(start, "unexpected character \"\(c)\" in expression")
                }
            }
        }
        tokens.append((.end, s.count))
    }

    /// A string literal starting at the `"` at `start`: a `.string` token, or a `.template` one when
    /// it holds `${ … }` (each parsed here, one level deeper). Returns the index after the closing `"`.
    mutating func tokenizeString(from start: Int) throws -> Int {
        let s = source
        var parts: [Template.Part] = []
        var text = ""
        var j = start + 1
        while j < s.count {
            let d = s[j]
            if d == "\\", j + 1 < s.count {
                switch s[j + 1] {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "\"": text.append("\"")
                case "\\": text.append("\\")
                default: text.append(s[j + 1])
                }
                j += 2
                continue
            }
            if d == "\"" {
                if parts.isEmpty {
                    tokens.append((.string(text), start))
                } else {
                    if !text.isEmpty { parts.append(.text(text)) }
                    templates.append(parts)
                    tokens.append((.template(templates.count - 1), start))
                }
                return j + 1
            }
            if (d == "$" || d == "%"), j + 2 < s.count, s[j + 1] == d, s[j + 2] == "{" {
                text += String(d) + "{"
                j += 3
                continue
            }
            if d == "%", j + 1 < s.count, s[j + 1] == "{" {
                throw fail(j, "template directives (%{ if }, %{ for }) are not supported in a string inside an expression: write them in the stack's string itself, or use a for expression; %%{ is a literal %{")
            }
            if d == "$", j + 1 < s.count, s[j + 1] == "{" {
                let close: Int
                do { close = try ExpressionParser.closingBrace(s, from: j + 2, depth: nesting + 1) } catch let e as ScanError {
                    throw fail(e.offset, e.message)
                }
                if !text.isEmpty { parts.append(.text(text)); text = "" }
                var inner = ExpressionParser(source: String(s[(j + 2)..<close]), location: loc(j + 2))
                inner.nesting = nesting + 1
                guard inner.nesting <= ExpressionParser.maxNesting else {
                    throw fail(j, "the expression nests more than \(ExpressionParser.maxNesting) levels deep")
                }
                parts.append(.expression(try inner.parseComplete()))
                j = close + 1
                continue
            }
            text.append(d)
            j += 1
        }
        throw fail(start, "unterminated string")
    }

    package var current: Token { tokens[position].0 }
    var currentOffset: Int { tokens[position].1 }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    package mutating func expect(_ symbol: String) throws {
        guard current == .symbol(symbol) else {
            throw fail(currentOffset, "expected \"\(symbol)\", found \(describe(current))")
        }
        advance()
    }

    package func describe(_ token: Token) -> String {
        switch token {
        case .number(let n): return Value.formatNumber(n)
        case .string(let s): return "\"\(s)\""
        case .template: return "a string"
        case .identifier(let s): return "\"\(s)\""
        case .symbol(let s): return "\"\(s)\""
        case .end: return "the end of the expression"
        }
    }

    // MARK: - Parser

    mutating func parseComplete() throws -> EthstackModel.Expression {
        try tokenize()
        if current == .end { throw fail(0, "empty expression in \"${}\"") }
        let e = try parseConditional()
        guard current == .end else {
            throw fail(currentOffset, "unexpected \(describe(current)) after the expression")
        }
        return e
    }

    mutating func parseConditional() throws -> EthstackModel.Expression {
        try enter()
        defer { nesting -= 1 }
        let condition = try parseBinary(level: 0)
        if current == .symbol("?") {
            let at = loc(currentOffset)
            advance()
            let a = try parseConditional()
            try expect(":")
            let b = try parseConditional()
            return .conditional(condition, a, b, at)
        }
        return condition
    }

    package static let levels: [[String]] = [["||"], ["&&"], ["==", "!="], ["<", "<=", ">", ">="], ["+", "-"], ["*", "/", "%"]]

    mutating func parseBinary(level: Int) throws -> EthstackModel.Expression {
        if level == ExpressionParser.levels.count { return try parseUnary() }
        var lhs = try parseBinary(level: level + 1)
        // A chain `a + b + c …` builds a tree as deep as it is long: each operator counts as a level.
        var chained = 0
        defer { nesting -= chained }
        while case .symbol(let op) = current, ExpressionParser.levels[level].contains(op) {
            let at = loc(currentOffset)
            try enter()
            chained += 1
            advance()
            let rhs = try parseBinary(level: level + 1)
            lhs = .binary(op, lhs, rhs, at)
        }
        return lhs
    }

    mutating func parseUnary() throws -> EthstackModel.Expression {
        if case .symbol(let op) = current, op == "!" || op == "-" {
            let at = loc(currentOffset)
            advance()
            try enter()
            defer { nesting -= 1 }
            return .unary(op, try parseUnary(), at)
        }
        return try parsePostfix(try parsePrimary())
    }

    mutating func parsePostfix(_ base: EthstackModel.Expression) throws -> EthstackModel.Expression {
        var e = base
        // Each accessor nests the expression one level deeper (`a.b.c`, `x[0][0]`).
        var chained = 0
        defer { nesting -= chained }
        while true {
            if current == .symbol(".") || current == .symbol("[") {
                try enter()
                chained += 1
            }
            if current == .symbol(".") {
                advance()
                let at = loc(currentOffset)
                switch current {
                case .identifier(let name):
                    advance()
                    e = .traverse(e, .attribute(name, at))
                case .number(let n) where n.rounded() == n:
                    // `list.0` — legacy index syntax.
                    advance()
                    e = .traverse(e, .index(.literal(.number(n), at), at))
                default:
                    throw fail(currentOffset, "expected an attribute name after \".\", found \(describe(current))")
                }
            } else if current == .symbol("[") {
                let at = loc(currentOffset)
                advance()
                if current == .symbol("*") {
                    advance()
                    try expect("]")
                    var accessors: [EthstackModel.Expression.Accessor] = []
                    while true {
                        if current == .symbol("."), case .identifier(let name) = tokens[position + 1].0 {
                            let nameAt = loc(tokens[position + 1].1)
                            advance(); advance()
                            accessors.append(.attribute(name, nameAt))
                        } else if current == .symbol("["), tokens[position + 1].0 != .symbol("*") {
                            let idxAt = loc(currentOffset)
                            advance()
                            let index = try parseConditional()
                            try expect("]")
                            accessors.append(.index(index, idxAt))
                        } else {
                            break
                        }
                    }
                    e = .splat(e, accessors, at)
                } else {
                    let index = try parseConditional()
                    try expect("]")
                    e = .traverse(e, .index(index, at))
                }
            } else {
                return e
            }
        }
    }

    mutating func parsePrimary() throws -> EthstackModel.Expression {
        let offset = currentOffset
        let at = loc(offset)
        switch current {
        case .number(let n):
            advance()
            return .literal(.number(n), at)
        case .string(let s):
            advance()
            return .literal(.string(s), at)
        case .template(let index):
            advance()
            return .template(templates[index], at)
        case .identifier(let name):
            advance()
            switch name {
            case "true": return .literal(.bool(true), at)
            case "false": return .literal(.bool(false), at)
            case "null": return .literal(.null, at)
            default: break
            }
            if current == .symbol("(") {
                advance()
                var args: [EthstackModel.Expression] = []
                if current != .symbol(")") {
                    while true {
                        args.append(try parseConditional())
                        // `f(list...)`: the last argument's elements become the arguments.
                        if current == .symbol("...") {
                            let expansionAt = loc(currentOffset)
                            advance()
                            guard current == .symbol(")") else {
                                throw fail(currentOffset, "\"...\" can only follow the last argument of a call")
                            }
                            args[args.count - 1] = .unary("...", args[args.count - 1], expansionAt)
                            break
                        }
                        if current == .symbol(",") { advance(); if current == .symbol(")") { break }; continue }
                        break
                    }
                }
                try expect(")")
                return .call(name, args, at)
            }
            return .name(name, at)
        case .symbol("("):
            advance()
            let e = try parseConditional()
            try expect(")")
            return e
        case .symbol("["):
            advance()
            if isForIntroduction { return try parseFor(producingMap: false, at: at) }
            var items: [EthstackModel.Expression] = []
            while current != .symbol("]") {
                items.append(try parseConditional())
                if current == .symbol(",") { advance() } else { break }
            }
            try expect("]")
            return .list(items, at)
        case .symbol("{"):
            advance()
            if isForIntroduction { return try parseFor(producingMap: true, at: at) }
            var pairs: [(key: EthstackModel.Expression, value: EthstackModel.Expression)] = []
            while current != .symbol("}") {
                let keyAt = loc(currentOffset)
                let key: Expression
                if case .identifier(let k) = current {
                    advance()
                    key = .literal(.string(k), keyAt)
                } else {
                    key = try parseConditional()
                }
                guard current == .symbol("=") || current == .symbol(":") else {
                    throw fail(currentOffset, "expected \"=\" or \":\" after a map key, found \(describe(current))")
                }
                advance()
                pairs.append((key, try parseConditional()))
                if current == .symbol(",") { advance() }
            }
            try expect("}")
            return .map(pairs, at)
        default:
            throw fail(offset, "expected a value, a name or a function call, found \(describe(current))")
        }
    }

    /// `for` followed by a name: a for expression, not a map key or list item named `for`.
    var isForIntroduction: Bool {
        guard current == .identifier("for"), position + 1 < tokens.count, case .identifier = tokens[position + 1].0 else {
            return false
        }
        return true
    }

    /// After `[` or `{`: `for [k,] v in collection : [key =>] value[...] [if condition]` and the closing bracket.
    mutating func parseFor(producingMap: Bool, at: SourceLocation) throws -> EthstackModel.Expression {
        try enter()
        defer { nesting -= 1 }
        advance()  // for
        func name() throws -> String {
            guard case .identifier(let n) = current, !["in", "for", "if"].contains(n) else {
                throw fail(currentOffset, "expected a name after \"for\", found \(describe(current))")
            }
            advance()
            return n
        }
        var keyName: String?
        var valueName = try name()
        if current == .symbol(",") {
            advance()
            keyName = valueName
            valueName = try name()
            if keyName == valueName {
                throw fail(currentOffset, "the key and the value of a for expression need different names, both are \"\(valueName)\"")
            }
        }
        guard current == .identifier("in") else {
            throw fail(currentOffset, "expected \"in\" after the names of a for expression, found \(describe(current))")
        }
        advance()
        let collection = try parseConditional()
        try expect(":")
        var key: EthstackModel.Expression?
        if producingMap {
            key = try parseConditional()
            guard current == .symbol("=>") else {
                throw fail(currentOffset, "expected \"=>\" between the key and the value of a map for expression, found \(describe(current))")
            }
            advance()
        }
        let value = try parseConditional()
        var grouping = false
        if current == .symbol("...") {
            guard producingMap else { throw fail(currentOffset, "grouping (\"...\") is only for a map for expression, {for …}") }
            grouping = true
            advance()
        }
        var condition: EthstackModel.Expression?
        if current == .identifier("if") {
            advance()
            condition = try parseConditional()
        }
        try expect(producingMap ? "}" : "]")
        return .forExpression(ForExpression(keyName: keyName, valueName: valueName, collection: collection, key: key,
                                            value: value, condition: condition, grouping: grouping, location: at))
    }
}

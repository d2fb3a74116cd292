import Crypto
import Foundation
import EthstackModel
import EthstackYAML

extension Functions {
    /// Hashes, `uuidv5`, YAML decoding and the `file*` family (every path inside the stack's directory
    /// unless `--allow-file-outside-stack`), as Terraform 1.0.3 has them. `yamldecodeall` is ethstack's own.
    static let encodingFunctions: [String: LibraryFunction] = {
        var table: [String: LibraryFunction] = [
            "base64sha256": LibraryFunction(arity: 1...1) { a in .string(Data(SHA256.hash(data: Data(try a.string(0).utf8))).base64EncodedString()) },
            "base64sha512": LibraryFunction(arity: 1...1) { a in .string(Data(SHA512.hash(data: Data(try a.string(0).utf8))).base64EncodedString()) },
            "uuidv5": LibraryFunction(arity: 2...2) { a in .string(try uuidv5(namespace: try a.string(0), name: try a.string(1), a)) },
            "yamldecode": LibraryFunction(arity: 1...1) { a in
                let documents = try yamlDocuments(a)
                guard documents.count <= 1 else {
                    throw DiagnosticsError([.error(a.location(0), "yamldecode(): the text holds \(documents.count) YAML documents; yamldecode takes one",
                                                   hint: "yamldecodeall() gives a list of every document")])
                }
                guard let document = documents.first else { throw a.fail(0, "the text holds no YAML document") }
                return document
            },
            "yamldecodeall": LibraryFunction(arity: 1...1) { a in .list(try yamlDocuments(a)) },
            "fileexists": LibraryFunction(arity: 1...1) { a in
                let path = try a.string(0)
                let full = try confinedPath(path, function: a.name, baseDirectory: a.baseDirectory,
                                            allowOutside: a.allowFileOutsideBase, at: a.location(0))
                var info = stat()
                guard stat(full.path, &info) == 0 else { return .bool(false) }
                guard (info.st_mode & S_IFMT) == S_IFREG else { throw a.fail(0, "\"\(path)\" is not a regular file") }
                return .bool(true)
            },
            "filebase64": LibraryFunction(arity: 1...1) { a in try fileValue(a) { .string($0.base64EncodedString()) } },
            "fileset": LibraryFunction(arity: 2...2) { a in try fileset(a) },
        ]
        let digests: [(String, @Sendable (Data) -> Data)] = [
            ("sha256", { Data(SHA256.hash(data: $0)) }), ("sha512", { Data(SHA512.hash(data: $0)) }),
            ("sha1", { Data(Insecure.SHA1.hash(data: $0)) }), ("md5", { Data(Insecure.MD5.hash(data: $0)) }),
        ]
        for (name, digest) in digests {
            table[name] = LibraryFunction(arity: 1...1) { a in .string(hex(digest(Data(try a.string(0).utf8)))) }
            table["file" + name] = LibraryFunction(arity: 1...1) { a in try fileValue(a) { .string(hex(digest($0))) } }
        }
        table["filebase64sha256"] = LibraryFunction(arity: 1...1) { a in
            try fileValue(a) { .string(Data(SHA256.hash(data: $0)).base64EncodedString()) }
        }
        table["filebase64sha512"] = LibraryFunction(arity: 1...1) { a in
            try fileValue(a) { .string(Data(SHA512.hash(data: $0)).base64EncodedString()) }
        }
        return table
    }()

    static func hex(_ data: Data) -> String {
        data.map { String(format: "%02x", $0) }.joined()
    }

    /// A file of the stack's tree read whole (at most `maxFileBytes`), turned into a value; what lies
    /// outside the tree is sensitive, as for `file()`.
    static func fileValue(_ a: FunctionArguments, _ transform: (Data) -> Value) throws -> Value {
        let path = try a.string(0)
        let full = try confinedPath(path, function: a.name, baseDirectory: a.baseDirectory,
                                    allowOutside: a.allowFileOutsideBase, at: a.location(0))
        let data = try readData(full.path, shown: path, function: a.name, at: a.location(0))
        let value = transform(data)
        return full.outside ? value.markedSensitive : value
    }

    /// The documents of a YAML text. `.inf` is a number (infinity), as in Terraform; `.nan` is an
    /// error naming where it is, as Terraform refuses NaN.
    static func yamlDocuments(_ a: FunctionArguments) throws -> [Value] {
        let text = try a.string(0)
        let nodes: [YAMLNode]
        do {
            nodes = try YAMLParser.parse(text, file: "the text")
        } catch let e as DiagnosticsError {
            throw a.fail(0, e.diagnostics.map { d in
                (d.location.map { "line \($0.line), column \($0.column): " } ?? "") + d.message
            }.joined(separator: "; "))
        }
        func findNaN(_ node: YAMLNode) -> SourceLocation? {
            switch node {
            case .scalar(let s, .plain, _, let l): return [".nan", ".NaN", ".NAN"].contains(s) ? l : nil
            case .scalar(let s, _, let tag?, let l):
                return (tag.hasSuffix(":float") || tag == "!!float") && Double(s)?.isNaN == true ? l : nil
            case .scalar: return nil
            case .sequence(let items, _): return items.lazy.compactMap(findNaN).first
            case .mapping(let pairs, _): return pairs.lazy.compactMap { findNaN($0.key) ?? findNaN($0.value) }.first
            }
        }
        for node in nodes {
            if let l = findNaN(node) {
                throw a.fail(0, "NaN (not a number) at line \(l.line), column \(l.column) of the text is not supported")
            }
        }
        return nodes.map(\.value)
    }

    /// RFC 4122 version 5: SHA-1 of the namespace's 16 bytes and the name. Namespaces `dns`, `url`,
    /// `oid`, `x500` or a UUID.
    static func uuidv5(namespace: String, name: String, _ a: FunctionArguments) throws -> String {
        let known = ["dns": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "url": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
                     "oid": "6ba7b812-9dad-11d1-80b4-00c04fd430c8", "x500": "6ba7b814-9dad-11d1-80b4-00c04fd430c8"]
        guard let uuid = UUID(uuidString: known[namespace] ?? namespace) else {
            throw a.fail(0, "uuidv5() doesn't support namespace \(namespace) (not dns, url, oid, x500 or a UUID)")
        }
        let u = uuid.uuid
        var bytes = Data([u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15])
        bytes.append(Data(name.utf8))
        var hash = Array(Insecure.SHA1.hash(data: bytes)).prefix(16).map { $0 }
        hash[6] = (hash[6] & 0x0f) | 0x50
        hash[8] = (hash[8] & 0x3f) | 0x80
        let h = hex(Data(hash))
        let parts = [h.prefix(8), h.dropFirst(8).prefix(4), h.dropFirst(12).prefix(4), h.dropFirst(16).prefix(4), h.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    /// The most files `fileset` lists, and directories it walks.
    static let maxFilesetEntries = 10_000

    /// `fileset(path, pattern)`: the files under `path` (inside the stack's tree) whose path relative
    /// to it matches `pattern` (`*` and `?` within a name, `**` across directories, `[…]` classes),
    /// sorted.
    static func fileset(_ a: FunctionArguments) throws -> Value {
        let (path, pattern) = (try a.string(0), try a.string(1))
        let root = try confinedPath(path, function: a.name, baseDirectory: a.baseDirectory,
                                    allowOutside: a.allowFileOutsideBase, at: a.location(0))
        var found: [String] = []
        var pending = [""]
        var visited = 0
        while let relative = pending.popLast() {
            visited += 1
            guard visited <= maxFilesetEntries else { throw a.fail("more than \(maxFilesetEntries) directories under \"\(path)\"") }
            let directory = relative.isEmpty ? root.path : root.path + "/" + relative
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names {
                let sub = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(directory + "/" + name, &info) == 0 else { continue }
                if (info.st_mode & S_IFMT) == S_IFDIR {
                    pending.append(sub)
                } else if (info.st_mode & S_IFMT) == S_IFREG, globMatch(Array(pattern), Array(sub)) {
                    found.append(sub)
                    guard found.count <= maxFilesetEntries else { throw a.fail("more than \(maxFilesetEntries) files match") }
                }
            }
        }
        let value = Value.list(found.sorted().map(Value.string))
        return root.outside ? value.markedSensitive : value
    }

    /// Glob matching over a relative path: `*` and `?` stop at `/`, `**/` matches any directories.
    static func globMatch(_ p: [Character], _ s: [Character]) -> Bool {
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            let key = i * (s.count + 1) + j
            if let known = memo[key] { return known }
            var result = false
            if i == p.count {
                result = j == s.count
            } else if p[i] == "*", i + 1 < p.count, p[i + 1] == "*" {
                // `**` (and `**/`): any run of characters, slashes included.
                let next = i + 2 < p.count && p[i + 2] == "/" ? i + 3 : i + 2
                result = (j...s.count).contains { match(next, $0) } || (next == i + 3 && match(i + 2, j))
            } else if p[i] == "*" {
                var k = j
                while true {
                    if match(i + 1, k) { result = true; break }
                    if k == s.count || s[k] == "/" { break }
                    k += 1
                }
            } else if j < s.count {
                if p[i] == "?" {
                    result = s[j] != "/" && match(i + 1, j + 1)
                } else if p[i] == "[", let close = p[(i + 1)...].firstIndex(of: "]") {
                    var set = Array(p[(i + 1)..<close])
                    let negate = set.first == "!" || set.first == "^"
                    if negate { set.removeFirst() }
                    var inSet = false
                    var k = 0
                    while k < set.count {
                        if k + 2 < set.count, set[k + 1] == "-" {
                            if set[k] <= s[j] && s[j] <= set[k + 2] { inSet = true }
                            k += 3
                        } else {
                            if set[k] == s[j] { inSet = true }
                            k += 1
                        }
                    }
                    result = inSet != negate && s[j] != "/" && match(close + 1, j + 1)
                } else {
                    result = p[i] == s[j] && match(i + 1, j + 1)
                }
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }
}

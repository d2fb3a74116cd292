import EthstackModel

/// A function call's evaluated arguments, marks removed, with typed accessors that fail with the
/// argument's position (as Terraform's "Invalid value for … parameter").
struct FunctionArguments {
    let name: String
    let values: [Value]
    let locations: [SourceLocation]
    let call: SourceLocation
    let baseDirectory: String
    let allowFileOutsideBase: Bool

    var count: Int { values.count }

    subscript(_ i: Int) -> Value { values[i] }

    func location(_ i: Int) -> SourceLocation { i < locations.count ? locations[i] : call }

    func fail(_ message: String) -> DiagnosticsError {
        Functions.fail(call, "\(name)(): \(message)")
    }

    func fail(_ i: Int, _ message: String) -> DiagnosticsError {
        Functions.fail(location(i), "\(name)(): \(message)")
    }

    func string(_ i: Int) throws -> String {
        guard let s = values[i].interpolatedString else {
            throw fail(i, "argument \(i + 1) must be a string, found \(values[i].typeName)")
        }
        return s
    }

    func number(_ i: Int) throws -> Double {
        guard let n = values[i].numberValue ?? values[i].stringValue.flatMap(Value.decimal) else {
            throw fail(i, "argument \(i + 1) must be a number, found \(values[i].typeName)")
        }
        return n
    }

    /// A whole number that fits an `Int` (fractions and ±inf refused, never trapped on).
    func integer(_ i: Int) throws -> Int {
        let n = try number(i)
        guard n.rounded() == n, let whole = Int(exactly: n) else {
            throw fail(i, "argument \(i + 1) must be a whole number, found \(Value.formatNumber(n))")
        }
        return whole
    }

    func list(_ i: Int) throws -> [Value] {
        guard let l = values[i].listValue else {
            throw fail(i, "argument \(i + 1) must be a list, found \(values[i].typeName)")
        }
        return l
    }

    func map(_ i: Int) throws -> [String: Value] {
        guard let m = values[i].mapValue else {
            throw fail(i, "argument \(i + 1) must be a map, found \(values[i].typeName)")
        }
        return m
    }

    func bounded(_ string: String) throws -> String {
        guard string.utf8.count <= Functions.maxStringBytes else {
            throw fail("the result would be too long: at most \(Functions.maxStringBytes) bytes (64 MiB)")
        }
        return string
    }
}


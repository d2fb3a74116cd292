import Foundation
import Testing
@testable import EthstackLanguage
@testable import EthstackModel

/// The function library beyond what the Terraform table (TerraformParityTests) covers: marks,
/// unknowns, positions, files, bounds.
@Suite struct LanguageFunctionTests {
    @Test func formatVerbsAsTerraform() throws {
        #expect(try evalTemplate("${format(\"node-%02d\", var.i)}", variables: ["i": 7]) == "node-07")
        #expect(try evalTemplate("${format(\"%.2f|%-6s|%x|%X|%o|%b|%e|%t|%#v\", 3.14159, \"ab\", 255, 255, 8, 5, 1234.5, true, {a = 1})}")
                == "3.14|ab    |ff|FF|10|101|1.234500e+03|true|{\"a\":1}")
        #expect(try evalTemplate("${formatlist(\"%s-%02d\", [\"a\", \"b\"], [1, 2])}") == ["a-01", "b-02"])
    }

    @Test func formatErrorsHaveThePositionOfTheCall() {
        #expect(evalError("x${format(\"%d\", 1.5)}") == "1:4 format(): unsupported value for \"%d\" at 0: an integer is required")
        #expect(evalError("${format(\"%z\", 1)}") == "1:3 format(): unsupported format verb 'z' in \"%z\" at offset 0")
        #expect(evalError("${format(\"%s %s\", \"a\")}") == "1:3 format(): not enough arguments for \"%s\" at 3: need index 2 but have 1 total")
        #expect(evalError("${format(\"%s\", \"a\", \"b\")}") == "1:3 format(): too many arguments; only 1 used by format string")
    }

    @Test func sensitiveArgumentsMakeSensitiveResults() throws {
        let secret = Value.string("hunter2").markedSensitive
        let list = Value.list(["b", Value.string("a").markedSensitive])
        for expression in ["sha256(var.s)", "md5(var.s)", "substr(var.s, 0, 2)", "format(\"%5s\", var.s)", "replace(var.s, \"/h(u)/\", \"$1\")",
                           "regexall(\"[a-z]\", var.s)", "base64sha256(var.s)", "uuidv5(\"dns\", var.s)", "trim(var.s, \"h\")",
                           "sort(var.l)", "distinct(var.l)", "flatten([var.l])", "join(\",\", var.l)", "one([var.s])",
                           "coalesce(var.s)", "try(var.s)", "upper(\"${var.s}\")"] {
            let v = try evalTemplate("${\(expression)}", variables: ["s": secret, "l": list])
            #expect(v.containsSensitive, "\(expression) lost the mark")
        }
        // A value that does not depend on the secret stays plain.
        #expect(try evalTemplate("${sha256(\"x\")}", variables: ["s": secret]).containsSensitive == false)
    }

    @Test func unknownArgumentsMakeUnknownResults() throws {
        for expression in ["sha256(var.u)", "cidrhost(var.u, 1)", "try(var.u, 1)", "can(var.u)", "range(var.u)", "regex(\"a\", var.u)"] {
            #expect(try evalTemplate("${\(expression)}", variables: ["u": .unknown]) == .unknown, "\(expression)")
        }
    }

    @Test func tryAndCanCatchErrorsOnly() throws {
        #expect(try evalTemplate("${try(var.m.nope, \"default\")}", variables: ["m": ["a": 1]]) == "default")
        #expect(try evalTemplate("${can(regex(\"^[a-z]+$\", var.n))}", variables: ["n": "ABC"]) == false)
        #expect(try evalTemplate("${can(regex(\"^[a-z]+$\", var.n))}", variables: ["n": "abc"]) == true)
        #expect(evalError("${try(var.m.nope)}", variables: ["m": ["a": 1]])?.hasPrefix("1:3 try(): no expression succeeded: 1:") == true)
        #expect(evalError("${try()}") == "1:3 try() takes 1 to 64 arguments, got 0")
    }

    @Test func regexFollowsRE2WhereICUAgrees() throws {
        #expect(try evalTemplate("${regex(\"(?P<year>\\\\d{4})-(?P<month>\\\\d{2})\", \"2019-02\")}") == ["year": "2019", "month": "02"])
        #expect(try evalTemplate("${replace(\"a-b-c\", \"/-(.)/\", \"[$1]\")}") == "a[b][c]")
        #expect(try evalTemplate("${replace(\"a.b\", \".\", \"-\")}") == "a-b")  // not a regex without slashes
        #expect(evalError("${regex(\"[\", \"x\")}")?.hasPrefix("1:9 regex(): invalid regular expression") == true)
    }

    @Test func yamldecodeInfinityIsANumberAndNaNIsAnErrorWithPosition() throws {
        let inf = try evalTemplate("${yamldecode(\"a: .inf\\nb: -.Inf\")}")
        #expect(inf == ["a": .number(.infinity), "b": .number(-.infinity)])
        #expect(evalError("${yamldecode(\"a: 1\\nb: .nan\")}") == "1:14 yamldecode(): NaN (not a number) at line 2, column 4 of the text is not supported")
        // Infinity has no JSON: jsonencode refuses it instead of writing null.
        #expect(evalError("${jsonencode(yamldecode(\".inf\"))}") == "1:14 jsonencode(): cannot serialize infinity as JSON")
        #expect(try evalTemplate("${yamlencode(yamldecode(\"a: .inf\"))}") == "a: .inf\n")
    }

    @Test func yamldecodeOfSeveralDocuments() throws {
        #expect(evalError("${yamldecode(\"a: 1\\n---\\nb: 2\")}") == "1:14 yamldecode(): the text holds 2 YAML documents; yamldecode takes one")
        #expect(try evalTemplate("${yamldecodeall(\"a: 1\\n---\\nb: 2\")}") == [["a": 1], ["b": 2]])
        #expect(try evalTemplate("${yamldecodeall(\"\")}") == .list([]))
    }

    @Test func fileFunctionsStayInsideTheStacksDirectory() throws {
        let ws = Workspace()
        ws.write("files/a.txt", "hello world")
        ws.write("files/sub/b.yaml", "x")
        ws.write("files/sub/c.txt", "y")
        let dir = ws.dir
        #expect(try evalTemplate("${filesha256(\"files/a.txt\")}", baseDirectory: dir) == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        #expect(try evalTemplate("${filemd5(\"files/a.txt\")}", baseDirectory: dir) == "5eb63bbbe01eeed093cb22bb8f5acdc3")
        #expect(try evalTemplate("${filebase64(\"files/a.txt\")}", baseDirectory: dir) == "aGVsbG8gd29ybGQ=")
        #expect(try evalTemplate("${fileexists(\"files/a.txt\")}", baseDirectory: dir) == true)
        #expect(try evalTemplate("${fileexists(\"files/none\")}", baseDirectory: dir) == false)
        #expect(try evalTemplate("${fileset(\"files\", \"**/*.txt\")}", baseDirectory: dir) == ["a.txt", "sub/c.txt"])
        #expect(try evalTemplate("${fileset(\"files\", \"*\")}", baseDirectory: dir) == ["a.txt"])
        for call in ["filesha256(\"../x\")", "filebase64(\"/etc/passwd\")", "fileexists(\"/etc/passwd\")", "fileset(\"/etc\", \"*\")"] {
            do {
                _ = try evalTemplate("${\(call)}", baseDirectory: dir)
                Issue.record("\(call) read outside the stack's directory")
            } catch let e as DiagnosticsError {
                #expect(e.description.contains("outside the stack's directory"))
            }
        }
    }

    @Test func boundsRefuseHugeResultsWithAPosition() {
        #expect(evalError("${range(0, 1000000)}")?.hasPrefix("1:3 range(): more than 100000 values") == true)
        #expect(evalError("${range(0, 1, 0)}") == "1:15 range(): the step must not be zero")
        #expect(evalError("${formatlist(\"%s\", range(100000))}") == nil)
        #expect(evalError("${parseint(\"zz\", 99)}") == "1:18 parseint(): base must be a whole number between 2 and 62 inclusive")
        #expect(evalError("${cidrhost(\"10.0.0.0/30\", 4)}") == "1:3 cidrhost(): prefix of 30 does not accommodate a host numbered 4")
        #expect(evalError("${timeadd(\"2017-11-22T00:00:00Z\", \"1d\")}")?.contains("unknown unit \"d\"") == true)
    }

    @Test func everyFunctionHasAnArityAndUnknownNamesSuggestOne() {
        #expect(Functions.checkCall("substr", argumentCount: 2, at: SourceLocation(file: "f", line: 1, column: 1))?.message
                == "substr() takes 3 arguments, got 2")
        #expect(Functions.checkCall("flaten", argumentCount: 1, at: SourceLocation(file: "f", line: 1, column: 1))?.hint
                == "did you mean \"flatten\"?")
        for name in ["templatefile", "try", "can", "coalesce", "flatten", "distinct", "toset", "tolist", "tomap", "zipmap", "slice",
                     "sort", "reverse", "index", "one", "substr", "regex", "regexall", "startswith", "endswith", "trim", "trimprefix",
                     "trimsuffix", "trimspace", "split", "join", "cidrhost", "cidrnetmask", "cidrsubnets", "sha256", "sha1", "md5",
                     "base64sha256", "uuidv5", "abs", "min", "max", "ceil", "floor", "sum", "parseint", "timeadd", "formatdate",
                     "yamldecode", "yamldecodeall", "file", "filebase64", "fileexists", "fileset", "filesha256", "filemd5"] {
            #expect(Functions.names.contains(name), "\(name) is missing")
        }
    }

    @Test func argumentExpansionPassesAListsElements() throws {
        #expect(try evalTemplate("${max(var.xs...)}", variables: ["xs": [3, 9, 4]]) == 9)
        #expect(try evalTemplate("${merge(var.ms...)}", variables: ["ms": [["a": 1], ["b": 2]]]) == ["a": 1, "b": 2])
        #expect(try evalTemplate("${substr(\"hello\", [1, 3]...)}") == "ell")
        #expect(try evalTemplate("${max(var.xs...)}", variables: ["xs": .unknown]) == .unknown)
        #expect(try evalTemplate("${max(var.xs...)}", variables: ["xs": Value.list([1, 2]).markedSensitive]).isSensitive)
        #expect(evalError("${max(1...)}") == "1:8 \"...\" expands a list, found number")
        #expect(evalError("${max([1]..., 2)}") == "1:13 \"...\" can only follow the last argument of a call")
        // The validator counts an expanded call's arguments as at least the ones written.
        #expect(Functions.checkCall("substr", argumentCount: 2, at: SourceLocation(file: "f", line: 1, column: 1), expanding: true) == nil)
        #expect(Functions.checkCall("upper", argumentCount: 3, at: SourceLocation(file: "f", line: 1, column: 1), expanding: true) != nil)
    }
}

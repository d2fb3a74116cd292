import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel
import EthstackProviderAPI

/// `templatefile(path, vars)`: Terraform's plain interpolation, confined to the stack's directory.
@Suite struct TemplateFileTests {
    static func dir() throws -> String {
        let dir = NSTemporaryDirectory() + "templatefile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/manifests", withIntermediateDirectories: true)
        return dir
    }

    static func call(_ args: [Value], base: String) throws -> Value {
        let loc = SourceLocation(file: "stack.yaml", line: 3, column: 7)
        return try Functions.call("templatefile", args, at: loc, argumentLocations: [loc, loc], baseDirectory: base)
    }

    static func message(_ body: () throws -> Value) -> String {
        do {
            _ = try body()
            return ""
        } catch let error as DiagnosticsError {
            return error.diagnostics.map(\.description).joined(separator: "\n")
        } catch {
            return "\(error)"
        }
    }

    @Test func rendersNamesFromTheMapAndKeepsEscapes() throws {
        let base = try Self.dir()
        try "metadata: { namespace: ${namespace} }\nspec: { replicas: ${ replicas }, literal: \"$${namespace}\", pct: 50% }\n"
            .write(toFile: base + "/manifests/a.yaml", atomically: true, encoding: .utf8)
        let out = try Self.call(["manifests/a.yaml", ["namespace": "kt-testnet", "replicas": 3]], base: base)
        #expect(out == "metadata: { namespace: kt-testnet }\nspec: { replicas: 3, literal: \"${namespace}\", pct: 50% }\n")
        // A sensitive variable makes the result sensitive.
        let secret = try Self.call(["manifests/a.yaml", ["namespace": Value.string("x").markedSensitive, "replicas": 1]], base: base)
        #expect(secret.containsSensitive)
        // Unknown values make it unknown (known after apply), as in Terraform.
        #expect(try Self.call(["manifests/a.yaml", ["namespace": .unknown, "replicas": 1]], base: base).isUnknown)
    }

    @Test func missingNamesPathsOutsideAndDirectivesAreClearErrors() throws {
        let base = try Self.dir()
        try "a: ${namespace}\nb: ${namspace}\n".write(toFile: base + "/manifests/b.yaml", atomically: true, encoding: .utf8)
        let missing = Self.message { try Self.call(["manifests/b.yaml", ["namespace": "kt"]], base: base) }
        #expect(missing.contains("manifests/b.yaml:2 uses ${namspace}, which the variables map does not have (it has namespace)"), "\(missing)")
        #expect(missing.contains("did you mean \"namespace\"?"), "\(missing)")
        let outside = Self.message { try Self.call(["../etc/passwd", [:]], base: base + "/manifests") }
        #expect(outside.contains("is outside the stack's directory"), "\(outside)")
        #expect(Self.message { try Self.call(["/etc/passwd", [:]], base: base) }.contains("is outside the stack's directory"))
        try "%{ if x }y\n".write(toFile: base + "/manifests/c.yaml", atomically: true, encoding: .utf8)
        let unclosed = Self.message { try Self.call(["manifests/c.yaml", ["x": true]], base: base) }
        #expect(unclosed.contains("manifests/c.yaml:1:1") && unclosed.contains("has no %{ endif }"), "\(unclosed)")
        try "a: ${list}\n".write(toFile: base + "/manifests/d.yaml", atomically: true, encoding: .utf8)
        #expect(Self.message { try Self.call(["manifests/d.yaml", ["list": ["x"]]], base: base) }.contains("only strings, numbers and bools"))
    }

    @Test func interpolationsAreExpressionsOverTheMapAsInTerraform() throws {
        let base = try Self.dir()
        try """
            name: ${upper(namespace)}-${replicas + 1}
            labels: ${jsonencode(labels)}
            first: ${peers[0].host}:${peers[0].port}
            hosts: ${join(",", [for p in peers : p.host])}
            mode: ${replicas > 2 ? "ha" : "single"}
            literal: "$${x} %%{ if }"

            """.write(toFile: base + "/manifests/e.yaml", atomically: true, encoding: .utf8)
        let out = try Self.call(["manifests/e.yaml", [
            "namespace": "kt", "replicas": 3, "labels": ["app": "el"],
            "peers": [["host": "a", "port": 30303], ["host": "b", "port": 30304]],
        ]], base: base)
        #expect(out == """
            name: KT-4
            labels: {"app":"el"}
            first: a:30303
            hosts: a,b
            mode: ha
            literal: "${x} %{ if }"

            """)
        // Directives, with strip markers, as Terraform renders them.
        try """
            peers:
            %{ for i, p in peers ~}
              - ${p.host}:${p.port}%{ if i == 0 } # first%{ endif }
            %{ endfor ~}
            mode: %{ if replicas > 2 }ha%{ else }single%{ endif }

            """.write(toFile: base + "/manifests/g.yaml", atomically: true, encoding: .utf8)
        let rendered = try Self.call(["manifests/g.yaml", [
            "replicas": 1, "peers": [["host": "a", "port": 1], ["host": "b", "port": 2]],
        ]], base: base)
        // `~}` strips all the whitespace after it, the next line's indentation too (HCL's rule).
        #expect(rendered == "peers:\n- a:1 # first\n- b:2\nmode: single\n", "\(rendered)")
        try "%{ for x in 5 }y%{ endfor }".write(toFile: base + "/manifests/h.yaml", atomically: true, encoding: .utf8)
        #expect(Self.message { try Self.call(["manifests/h.yaml", [:]], base: base) }.contains("iterates over a list or a map"))
        try "%{ endif }".write(toFile: base + "/manifests/i.yaml", atomically: true, encoding: .utf8)
        #expect(Self.message { try Self.call(["manifests/i.yaml", [:]], base: base) }.contains("without its %{ if }"))
        // An error inside an interpolation names the template file and its line.
        try "a: 1\nb: ${upper(1, 2)}\n".write(toFile: base + "/manifests/f.yaml", atomically: true, encoding: .utf8)
        let bad = Self.message { try Self.call(["manifests/f.yaml", [:]], base: base) }
        #expect(bad.contains("manifests/f.yaml:2:"), "\(bad)")
    }
}

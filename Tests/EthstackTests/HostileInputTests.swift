import CoreProvider
import EthstackHTTP
import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel
@testable import EthstackProviderAPI
@testable import EthstackYAML

/// Hostile stack files: each is refused with a positioned error in well under a second, in
/// process (a crash here crashes the test run, which is the point).
@Suite(.serialized) struct HostileInputTests {
    var loader: StackLoader { StackLoader(registry: ProviderRegistry(BuiltinProviders.all)) }

    /// CPU seconds this thread has used: what a refusal costs, whatever else loads the machine
    /// (the loader is synchronous, so the work stays on the calling thread).
    static func threadCPUTime() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Loads `text`, expecting a refusal whose first error contains `message` at `line` (and
    /// `column` when given), costing less than `seconds` of CPU (debug build).
    func expectRefused(_ text: String, _ message: String, line: Int, column: Int? = nil, within seconds: Double = 1,
                       sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let started = Self.threadCPUTime()
        do {
            _ = try loader.load(text: text, file: "hostile.yaml")
            Issue.record("accepted; expected \(message)", sourceLocation: sourceLocation)
        } catch let e as DiagnosticsError {
            let d = e.diagnostics.first { $0.message.contains(message) }
            #expect(d != nil, "\(e)", sourceLocation: sourceLocation)
            #expect(d?.location?.file == "hostile.yaml" && d?.location?.line == line, "\(e)", sourceLocation: sourceLocation)
            if let column { #expect(d?.location?.column == column, "\(e)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        let elapsed = Self.threadCPUTime() - started
        #expect(elapsed < seconds, "took \(elapsed) s of CPU", sourceLocation: sourceLocation)
    }

    @Test func billionLaughsIsRefused() {
        var text = "stack: lol\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            text += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        text += "resources: {}\n"
        expectRefused(text, "YAML aliases expand to more than 1000000 nodes", line: 7)
    }

    @Test func deeplyNestedYAMLIsRefused() {
        let depth = 200_000
        let text = "stack: deep\nresources:\n  r:\n    type: core.data\n    properties: { input: "
            + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + " }\n"
        expectRefused(text, "values nest more than 512 levels deep", line: 5)
    }

    @Test func aliasesCannotNestPastTheDepthLimit() {
        var text = "stack: deep\na: &a " + String(repeating: "[", count: 300) + "1" + String(repeating: "]", count: 300) + "\n"
        text += "b: " + String(repeating: "[", count: 300) + "*a" + String(repeating: "]", count: 300) + "\n"
        expectRefused(text, "the alias *a nests values more than 512 levels deep", line: 3)
    }

    @Test(arguments: [20_000, 200_000])
    func deeplyNestedExpressionsAreRefused(depth: Int) {
        let text = "stack: deep\nresources:\n  r:\n    type: core.data\n    properties: { input: \"${"
            + String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth) + "}\" }\n"
        expectRefused(text, "the expression nests more than 256 levels deep", line: 5)
    }

    @Test(arguments: ["-", "!", "x.", "x[0]"])
    func longChainsAreRefused(piece: String) {
        let body = piece == "x." ? "x" + String(repeating: ".a", count: 100_000)
            : piece == "x[0]" ? "x" + String(repeating: "[0]", count: 100_000)
            : String(repeating: piece, count: 100_000) + "1"
        let text = "stack: deep\nresources:\n  r:\n    type: core.data\n    properties: { input: \"${\(body)}\" }\n"
        expectRefused(text, "the expression nests more than 256 levels deep", line: 5)
        let sum = "stack: deep\nresources:\n  r:\n    type: core.data\n    properties: { input: \"${1"
            + String(repeating: "+1", count: 100_000) + "}\" }\n"
        expectRefused(sum, "the expression nests more than 256 levels deep", line: 5)
    }

    /// At the limit, nesting still works — on a task's (small) stack, as the planner runs it.
    @Test func nestingAtTheLimitEvaluates() async throws {
        let depth = ExpressionParser.maxNesting - 1
        let source = String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth)
        let e = try ExpressionParser.parseExpression(source, at: SourceLocation(file: "t", line: 1, column: 1))
        #expect(try Evaluator(scope: EvaluationScope(variables: [:])).evaluate(e) == 1)
        let list = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
        _ = try Evaluator(scope: EvaluationScope(variables: [:]))
            .evaluate(try ExpressionParser.parseExpression(list, at: SourceLocation(file: "t", line: 1, column: 1)))
    }

    @Test func anOversizedStackFileIsRefusedBeforeParsing() throws {
        var limited = loader
        limited.options.maxFileBytes = 1024
        let text = "stack: big\n# " + String(repeating: "x", count: 2048) + "\n"
        #expect(throws: DiagnosticsError.self) { try limited.load(text: text, file: "big.yaml") }
        do { _ = try limited.load(text: text, file: "big.yaml") } catch let e as DiagnosticsError {
            #expect(e.description == "big.yaml:1:1: error: the stack file is 2062 bytes: at most 1024")
        }
        #expect(StackLoader.Options().maxFileBytes == 16 << 20)
    }

    @Test func functionsCannotProduceHugeStrings() throws {
        let scope = EvaluationScope(variables: ["a": .string(String(repeating: "a", count: 1 << 20))])
        let at = SourceLocation(file: "f.yaml", line: 3, column: 7)
        let started = Date()
        let cases = [
            "replace(var.a, \"a\", \"\(String(repeating: "b", count: 100))\")",
            "join(var.a, [var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a, var.a])",
        ]
        for source in cases {
            let e = try ExpressionParser.parseExpression(source, at: at)
            #expect(throws: DiagnosticsError.self) { try Evaluator(scope: scope).evaluate(e) }
            do { _ = try Evaluator(scope: scope).evaluate(e) } catch let error as DiagnosticsError {
                #expect(error.description.hasPrefix("f.yaml:3:7: error: ") && error.description.contains("at most 67108864"), "\(error)")
            }
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func countIsBounded() async throws {
        let ws = Workspace()
        ws.write("stack.yaml", "stack: many\nvariables:\n  n: { default: 1000000000 }\nresources:\n  r:\n    type: core.data\n    count: \"${var.n}\"\n    properties: { input: 1 }\n")
        let started = Date()
        do {
            _ = try await ws.plan()
            Issue.record("a count of 1e9 was planned")
        } catch let e as DiagnosticsError {
            #expect(e.description.contains("stack.yaml:7:12: error: \"count\" is 1000000000: at most 10000 instances of one resource"), "\(e)")
        }
        // Wall time (the plan is async and moves between threads, so thread CPU time cannot measure
        // it), with room for a loaded 2-core machine: expanding 1e9 instances would take hours.
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test(arguments: [1e300, -1e300, Double.infinity, 9.3e18, -Double.infinity, Double.nan])
    func formatDOfAHugeNumberNeverTraps(n: Double) {
        let at = SourceLocation(file: "f.yaml", line: 2, column: 4)
        if n.isFinite {
            // As Terraform, all the digits (here the float's), not a trap converting to Int.
            let text = (try? Functions.format("%d", [.number(n)], at: at)) ?? ""
            #expect(text.filter(\.isNumber).count == String(format: "%.0f", Swift.abs(n)).count)
            #expect(text.hasPrefix(n < 0 ? "-" : "") && !text.isEmpty)
        } else {
            #expect(throws: DiagnosticsError.self) { try Functions.format("%d", [.number(n)], at: at) }
        }
        // Terraform: "an integer is required".
        #expect(throws: DiagnosticsError.self) { try Functions.format("%d", [.number(42.9)], at: at) }
    }

    @Test func durationsNeverTrap() async throws {
        #expect(parseDuration("inf") == nil)
        #expect(parseDuration("1e300") == nil)
        #expect(parseDuration("1e300s") == nil)
        #expect(parseDuration("nan") == nil)
        #expect(parseDuration("90") == 90)
        #expect(saturatingNanoseconds(.infinity) == UInt64.max)
        #expect(saturatingNanoseconds(1e300) == UInt64.max)
        #expect(saturatingNanoseconds(-5) == 0)
        #expect(saturatingNanoseconds(.nan) == 0)
        #expect(saturatingNanoseconds(1.5) == 1_500_000_000)
        // core.sleep with "inf" is a provider error, not a trap.
        let provider = try #require(ProviderRegistry(BuiltinProviders.all).provider(named: "core"))
        let session = try await provider.configure(ProviderConfiguration(values: [:], stackName: "s", baseDirectory: "/tmp"))
        for text in ["inf", "1e300s"] {
            await #expect(throws: ProviderError.self) {
                _ = try await session.create(CreateRequest(type: "core.sleep", address: "nap",
                                                           planned: ["create_duration": .string(text)],
                                                           mark: ResourceMark(stack: "s", address: "nap", token: "t")))
            }
        }
    }

    @Test func httpTimeoutsNeverTrap() {
        #expect(HTTPClient.milliseconds(.infinity) == Int(Int32.max))
        #expect(HTTPClient.milliseconds(1e300) == Int(Int32.max))
        #expect(HTTPClient.milliseconds(.nan) == 0)
        #expect(HTTPClient.milliseconds(-1) == 0)
        #expect(HTTPClient.milliseconds(2.5) == 2500)
    }
}

import CoreProvider
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// libFuzzer entry point for the stack loader and the expression parser/evaluator (built only by
/// `scripts/fuzz`, with `-sanitize=fuzzer`, which supplies `main`).
///
/// The first byte chooses the front end: even — the input is a stack file for `StackLoader`; odd —
/// a template (`text ${expression}`) parsed and evaluated. Every input must be accepted or
/// rejected with diagnostics; any other error, a trap or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func ethstackFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data + 1, count: size - 1), as: UTF8.self)
    if data[0] % 2 == 0 {
        fuzzLoader(text)
    } else {
        fuzzTemplate(text)
    }
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main`; this one hands the command line to
/// libFuzzer's driver (its own `main` is then not linked).
@_cdecl("ethstack_fuzz_main")
public func ethstackFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in ethstackFuzz(data, size) }
}

// int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

let scope = EvaluationScope(
    variables: ["x": "10.0.0.0/16", "n": 3, "m": ["a": 1, "b": ["c": true]], "secret": Value.string("s").markedSensitive],
    resources: ["vpc": ["id": "vpc-1", "cidr_block": "10.0.0.0/16"], "subnet": ["a": ["id": .unknown]]],
    baseDirectory: "/nonexistent-fuzz-base")

func fuzzTemplate(_ text: String) {
    do {
        let template = try ExpressionParser.parseTemplate(text, at: SourceLocation(file: "fuzz", line: 1, column: 1))
        _ = try Evaluator(scope: scope).evaluate(template)
    } catch let e as DiagnosticsError {
        precondition(!e.diagnostics.isEmpty, "an empty DiagnosticsError")
    } catch {
        preconditionFailure("not a diagnostic: \(error)")
    }
}

let registry = ProviderRegistry(BuiltinProviders.all)

func fuzzLoader(_ text: String) {
    let loader = StackLoader(schemas: { registry.schema(for: $0) }, knownTypes: registry.resourceTypes)
    do {
        let stack = try loader.load(text: text, file: "fuzz.yaml")
        // What the loader accepted must evaluate or be diagnosed.
        for r in stack.resources {
            for entry in r.properties {
                do { _ = try Evaluator(scope: scope).evaluate(entry.value) } catch is DiagnosticsError {}
            }
        }
    } catch let e as DiagnosticsError {
        precondition(!e.diagnostics.isEmpty, "an empty DiagnosticsError")
    } catch {
        preconditionFailure("not a diagnostic: \(error)")
    }
}

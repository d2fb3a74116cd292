import ArgumentParser
import EthstackEngine
import Foundation
import EthstackCheck
import EthstackModel

struct CheckCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify the running deployment: run the stack's checks against what state recorded.",
        discussion: """
        Each check under `checks:` in the stack probes a URL (an Ethereum JSON-RPC call or a plain \
        HTTP request) and judges the answer: status, at_least/at_most, equals, json paths, \
        increases_within, accept_errors (JSON-RPC errors that count as success). URLs and values come from recorded state (resources' attributes, \
        `outputs.NAME`) and variables; no provider is called and nothing is planned. Checks run in \
        parallel. An unreachable URL is a failed check, not an error.

        Exit codes: 0 every check passed, 2 a check failed, 1 error (a bad stack, an unknown check \
        name, or a check that cannot run because a value it needs is not in state).

        Example stack section:
          checks:
            blocks_advance:
              ethereum_rpc: { url: "${outputs.rpc_url}", method: eth_blockNumber }
              expect: { increases_within: 30s }
            beacon_health:
              http: { url: "http://${cl_api.load_balancer_hostname}:4000/eth/v1/node/health" }
              expect: { status: 200 }

        Examples:
          ethstack check --stack stacks/ethereum-testnet.yaml
          ethstack check blocks_advance peers
          ethstack check --json | jq '.results[] | select(.outcome != "passed")'
        """)

    @Argument(help: "Run only these checks (default: all).")
    var names: [String] = []

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var output: OutputOptions

    func execute() async throws {
        let session = try stackOptions.open()
        let stackName = session.stack.name
        // The one read of state: checks never write it and take no lock.
        let state = try await stateOptions.withStore(for: stackName, create: false) { try await $0?.load(stack: stackName) } ?? .empty(stackName)
        let runner = CheckRunner(stack: session.stack, variables: session.variables, state: state)
        let checks = try runner.select(names)
        if checks.isEmpty && !output.json {
            printOut("\(session.stack.file) declares no checks.\n")
            return
        }
        let results = await runner.run(checks)

        if output.json {
            printOut(CheckReport.json(results, stack: stackName).jsonString(pretty: true) + "\n")
        } else {
            printOut(CheckReport.text(results, style: output.style))
        }
        if results.contains(where: { $0.outcome == .error }) { throw ExitCode(1) }
        if results.contains(where: { $0.outcome == .failed }) { throw ExitCode(2) }
    }
}

/// How check results are shown.
enum CheckReport {
    static func json(_ results: [CheckResult], stack: String) -> Value {
        func count(_ o: CheckResult.Outcome) -> Value { .number(Double(results.filter { $0.outcome == o }.count)) }
        return .map([
            "format_version": "1.0",
            "ethstack_version": .string(PlanJSON.version),
            "stack": .string(stack),
            "results": .list(results.map { r in
                var m: [String: Value] = [
                    "name": .string(r.name),
                    "probe": .string(r.probe),
                    "method": .string(r.method),
                    "url": .string(r.target),
                    "outcome": .string(r.outcome.rawValue),
                    "passed": .bool(r.outcome == .passed),
                    "observed": .list(r.observed.map(\.redacted)),
                    "message": .string(r.message),
                    "elapsed_seconds": .number((r.elapsed * 1000).rounded() / 1000),
                    "attempts": .number(Double(r.attempts)),
                ]
                if let d = r.description { m["description"] = .string(d) }
                return .map(m)
            }),
            "summary": .map(["passed": count(.passed), "failed": count(.failed), "error": count(.error), "skipped": count(.skipped)]),
        ])
    }

    static func text(_ results: [CheckResult], style: TextStyle) -> String {
        var out = ""
        let width = results.map(\.name.count).max() ?? 0
        for r in results {
            let mark: String
            switch r.outcome {
            case .passed: mark = style.green("✓")
            case .failed: mark = style.red("✗")
            case .error: mark = style.red("!")
            case .skipped: mark = style.dim("-")
            }
            let name = r.name.padding(toLength: width, withPad: " ", startingAt: 0)
            var line = "\(mark) \(style.bold(name))  "
            if !r.method.isEmpty { line += "\(r.method) " }
            line += r.message
            if r.attempts > 0 {
                line += style.dim("  [\(formatSeconds(r.elapsed))\(r.attempts > 1 ? ", \(r.attempts) attempts" : "")]")
            }
            out += line + "\n"
            if r.outcome != .passed && r.outcome != .skipped, !r.target.isEmpty { out += "    " + style.dim(r.target) + "\n" }
        }
        let passed = results.filter { $0.outcome == .passed }.count
        let failed = results.filter { $0.outcome == .failed }.count
        let errors = results.filter { $0.outcome == .error }.count
        var summary = "Checks: \(passed) passed, \(failed) failed"
        if errors > 0 { summary += ", \(errors) could not run" }
        let skipped = results.filter { $0.outcome == .skipped }.count
        if skipped > 0 { summary += ", \(skipped) skipped" }
        out += "\n" + (failed + errors == 0 ? style.green(summary + ".") : style.red(summary + ".")) + "\n"
        return out
    }
}

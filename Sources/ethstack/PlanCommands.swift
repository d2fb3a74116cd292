import ArgumentParser
import EthstackEngine
import Foundation
import EthstackModel
import EthstackReview

struct Validate: EthstackCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a stack file: syntax, types, references, functions, cycles, variables.",
        discussion: """
        Reports every problem in the file at once, each with file:line:col. Talks to no provider \
        and reads no state. Needs no variable values: a required variable without one is unknown, \
        and everything known (literals, defaults, the values given) is evaluated.

        Example:
          ethstack validate --stack stacks/example.yaml --var region=eu-west-1
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var output: OutputOptions

    func execute() async throws {
        let session: StackSession
        do {
            session = try stackOptions.open(unsetRequiredIsUnknown: true)
            try session.validateKnownValues()
        } catch let d as DiagnosticsError where output.json {
            printOut(Value.map(["valid": false, "diagnostics": .list(d.diagnostics.map(diagnosticJSON))]).jsonString(pretty: true) + "\n")
            throw ExitCode(1)
        }
        if output.json {
            printOut(Value.map(["valid": true, "stack": .string(session.stack.name),
                                "resources": .number(Double(session.stack.resources.count))]).jsonString(pretty: true) + "\n")
        } else {
            printOut(output.style.green("Success!") + " \(session.stack.file) is valid: \(session.stack.resources.count) resources.\n")
        }
    }
}

func diagnosticJSON(_ d: Diagnostic) -> Value {
    var m: [String: Value] = ["severity": .string(d.severity.rawValue), "message": .string(d.message)]
    if let l = d.location {
        m["range"] = .map(["filename": .string(l.file), "line": .number(Double(l.line)), "column": .number(Double(l.column))])
    }
    if let h = d.hint { m["hint"] = .string(h) }
    return .map(m)
}

struct PlanCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change.",
        discussion: """
        Reads the recorded state, refreshes it through the providers (in parallel), and compares it \
        with the stack. Writes nothing unless --out is given. The security lint (`ethstack lint`) \
        follows the changes; --cost adds the monthly cost estimate from the vendored price table.

        Exit codes with --detailed-exitcode: 0 no changes, 1 error, 2 changes present. With \
        --max-monthly-delta N: 3 when the plan raises the monthly cost by more than N USD.

        Examples:
          ethstack plan --stack stacks/example.yaml
          ethstack plan --out tonight.plan && ethstack apply tonight.plan
          ethstack plan --json | jq '.resource_changes[].change.actions'
          ethstack plan --cost --max-monthly-delta 500
          ethstack plan --out pr.plan --markdown --cost > plan.md
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var planning: PlanningOptions
    @OptionGroup var output: OutputOptions

    @Flag(name: .long, help: "Plan to destroy everything the state holds.")
    var destroy = false

    @Option(name: .long, help: "Save the plan to this file, for `ethstack apply FILE`.")
    var out: String?

    @Flag(name: .customLong("detailed-exitcode"), help: "Exit 2 when there are changes, 0 when none.")
    var detailedExitcode = false

    @Flag(name: .long, help: "Add the monthly cost estimate: before, after and the delta, one line per priced part.")
    var cost = false

    @OptionGroup var costOptions: CostOptions

    @Option(name: .customLong("max-monthly-delta"), help: "Exit 3 when the plan raises the monthly cost by more than this many USD (implies --cost).")
    var maxMonthlyDelta: Double?

    @Flag(name: .long, help: "GitHub-flavoured Markdown for a pull request: summary first, lint and cost sections, one folded section per resource, under 65,536 characters.")
    var markdown = false

    func validate() throws {
        if output.json && markdown { throw ValidationError("choose one of --json and --markdown") }
    }

    func execute() async throws {
        let (session, plan) = try await planForReview(stackOptions, stateOptions, planning, destroy: destroy)
        if let out { try PlanFile.write(plan, targets: planning.target, replace: planning.replace, to: out) }
        let lint = LintReport(plan: plan, stack: session.stack)
        let estimate = cost || maxMonthlyDelta != nil || markdown
            ? CostEstimate(plan: plan, table: try costOptions.table(), region: costOptions.region(session)) : nil
        if output.json {
            var root = PlanJSON.value(plan)
            if case .map(var m) = root {
                m["lint"] = lint.jsonValue()
                if let estimate { m["cost"] = estimate.jsonValue() }
                root = .map(m)
            }
            printOut(root.jsonString(pretty: true) + "\n")
        } else if markdown {
            printOut(PlanMarkdown(plan: plan, lint: lint, cost: estimate).render())
        } else {
            printOut(PlanRenderer(style: output.style).render(plan))
            if !lint.results.isEmpty || !lint.warnings.isEmpty { printOut("\n" + lint.text(style: output.style)) }
            if let estimate { printOut("\n" + estimate.text(style: output.style)) }
            if let out {
                printOut(plan.violations.isEmpty
                    ? "\nSaved the plan to \(out). Apply exactly this plan with: ethstack apply \(out)\n"
                    : "\nSaved the plan to \(out); it breaks lifecycle.prevent_destroy and apply will refuse it.\n")
            }
        }
        // A plan that breaks prevent_destroy is an error, as in Terraform; apply refuses it too.
        if !plan.violations.isEmpty { throw report(DiagnosticsError(plan.violations.map(\.diagnostic))) }
        if let maxMonthlyDelta, let estimate, estimate.delta > maxMonthlyDelta {
            printErr("error: the plan raises the monthly cost by \(String(format: "%.2f", estimate.delta)) USD, over --max-monthly-delta \(maxMonthlyDelta)\n")
            throw ExitCode(3)
        }
        if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
    }
}

struct GraphCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the stack's dependency graph as Graphviz DOT.",
        discussion: """
        Nodes are resources and provider configurations; an edge points from a node to what it \
        depends on. Pipe it to dot to draw it. Needs no variable values: a resource whose count or \
        for_each depends on a missing one is drawn as one node, name[*].

        Example:
          ethstack graph --stack stacks/example.yaml | dot -Tsvg > graph.svg
        """)

    @OptionGroup var stackOptions: StackOptions

    func execute() async throws {
        let session = try stackOptions.open(unsetRequiredIsUnknown: true)
        printOut(GraphDOT.render(session.graph, stack: session.stack, variables: session.variables))
    }
}

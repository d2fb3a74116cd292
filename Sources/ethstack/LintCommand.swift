import ArgumentParser
import EthstackEngine
import EthstackModel
import EthstackReview
import Foundation

extension LintSeverity: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

struct LintCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Check the plan's values against security rules (public endpoints, open RPC, default mnemonic, …).",
        discussion: """
        Plans like `ethstack plan` (writing nothing) and checks every resource the plan leaves in \
        place against ethstack's rules, each with an id, a severity, why it matters, the fix and \
        the checkov/trivy ids it maps to. Each result is pass, fail or "unknown until apply" (a \
        value only apply can know; run lint again after apply and it reads the recorded value). \
        A finding the owners accept is suppressed next to the resource: \
        lint: { ignore: [ETH-EKS-003], reason: "...", until: YYYY-MM-DD }; after that day it counts again.

        Exit codes: 0 no finding at or above --severity, 2 findings, 1 error.

        Examples:
          ethstack lint --stack stacks/ethereum-testnet.yaml
          ethstack lint --severity high --sarif --out lint.sarif
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var planning: PlanningOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The lowest severity that fails (low, medium, high, critical).")
    var severity: LintSeverity = .low

    @OptionGroup var report: ReportOptions

    func validate() throws { try report.validate(json: output.json) }

    func execute() async throws {
        let (session, plan) = try await planForReview(stackOptions, stateOptions, planning)
        let lint = LintReport(plan: plan, stack: session.stack)
        try report.emit(output, json: lint.json, markdown: { lint.markdown() }, sarif: lint.sarif, text: lint.text)
        if !lint.findings(atLeast: severity).isEmpty { throw ExitCode(2) }
    }
}

/// The report formats `drift` and `lint` share, and where the report goes.
struct ReportOptions: ParsableArguments {
    @Flag(name: .long, help: "GitHub-flavoured Markdown, summary first, under 65,536 characters.")
    var markdown = false

    @Flag(name: .long, help: "SARIF 2.1.0 (GitHub code scanning), a stable fingerprint per result.")
    var sarif = false

    @Option(name: .long, help: "Write the report to this file instead of standard output.")
    var out: String?

    func validate(json: Bool) throws {
        if [json, markdown, sarif].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --json, --markdown and --sarif")
        }
    }

    /// Renders the chosen format (text without colours when it goes to a file) and writes it.
    func emit(_ output: OutputOptions, json: () -> String, markdown render: () -> String, sarif: () -> String,
              text: (TextStyle) -> String) throws {
        let body: String
        if output.json {
            body = json() + "\n"
        } else if markdown {
            body = render()
        } else if self.sarif {
            body = sarif() + "\n"
        } else {
            body = text(out == nil ? output.style : TextStyle(color: false))
        }
        if let out {
            try Data(body.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } else {
            printOut(body)
        }
    }
}

/// The plan `plan` and `lint` make (writing nothing): the stack, state, and the providers' refresh.
func planForReview(_ stackOptions: StackOptions, _ stateOptions: StateOptions, _ planning: PlanningOptions,
                   destroy: Bool = false) async throws -> (StackSession, Plan) {
    let session = try stackOptions.open(unsetSensitiveIsUnknown: true)
    let options = try planning.planOptions(destroy: destroy)
    let plan = try await stateOptions.withStore(for: session.stack.name, create: false) { store in
        let state = try await store?.load(stack: session.stack.name) ?? .empty(session.stack.name)
        return try await session.plan(state: state, journal: store, sessions: session.makeSessions(parallelism: options.parallelism),
                                      options: options).0
    }
    return (session, plan)
}

/// Where prices come from and the budget a plan must stay under.
struct CostOptions: ParsableArguments {
    @Option(name: .long, help: "The price table (default: $ETHSTACK_PRICES, or the one installed with ethstack).")
    var prices: String?

    @Option(name: .customLong("price-region"), help: "The AWS region to price (default: the stack's `region` variable, else us-east-1).")
    var priceRegion: String?

    func table() throws -> PriceTable {
        if let prices { return try PriceTable.load(path: prices) }
        return try PriceTable.bundled()
    }

    func region(_ session: StackSession) -> String {
        priceRegion ?? session.variables["region"]?.stringValue ?? "us-east-1"
    }
}

struct CostCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "Estimate the monthly cost of what state holds, offline, from the vendored price table.",
        discussion: """
        One line per priced part of each recorded resource, with its SKU or usage type, the price \
        date and the quantity assumed (desired_size, disk sizes, the enclave's volume sizes and \
        storage class). Usage-based parts (traffic, stored objects, logs) are listed, not guessed. \
        Warns when the table is older than 90 days. `ethstack plan --cost` shows before, after and \
        the delta of a change.

        Examples:
          ethstack cost --stack stacks/ethereum-testnet.yaml
          ethstack cost --json | jq .monthly
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var costOptions: CostOptions
    @OptionGroup var output: OutputOptions

    func execute() async throws {
        let session = try stackOptions.open(unsetSensitiveIsUnknown: true)
        let state = try await stateOptions.withStore(for: session.stack.name, create: false) { store in
            try await store?.load(stack: session.stack.name) ?? .empty(session.stack.name)
        }
        let estimate = CostEstimate(stack: session.stack.name, recorded: ReviewedInstance.recorded(state), table: try costOptions.table(),
                                    region: costOptions.region(session))
        printOut(output.json ? estimate.json() + "\n" : estimate.text(style: output.style))
    }
}

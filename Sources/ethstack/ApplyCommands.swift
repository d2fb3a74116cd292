import ArgumentParser
import EthstackEngine
import EthstackReview
import EthstackState
import Foundation

struct ApplyOptions: ParsableArguments {
    @Flag(name: .customLong("auto-approve"), help: "Apply without asking for confirmation.")
    var autoApprove = false

    @Option(name: .customLong("lock-timeout"), help: "How long to wait for the stack's lock (e.g. 30s, 5m).")
    var lockTimeout: String = "0s"
}

/// The shared body of apply and destroy: lock, recover, plan (or load a saved plan), confirm, apply.
struct ApplyRunner {
    var stackOptions: StackOptions
    var stateOptions: StateOptions
    var planning: PlanningOptions
    var output: OutputOptions
    var applyOptions: ApplyOptions
    var destroy: Bool
    var savedPlan: String?
    var command: String

    func run() async throws {
        let interrupt = InterruptFlag()
        let signals = SignalHandler(interrupt: interrupt, json: output.json)
        defer { signals.cancel() }
        let summary: ApplySummary?
        var saved: PlanFile.Saved?
        var stackOptions = self.stackOptions
        if let savedPlan {
            saved = try PlanFile.read(savedPlan)
            if stackOptions.stack == nil { stackOptions.stack = saved?.plan.stackFile }
        }
        let session = try stackOptions.open(preset: saved?.plan.variables ?? [:])
        let stackName = session.stack.name
        let timeout = try parseDurationOption(applyOptions.lockTimeout)
        let lost = LostLock()
        summary = try await stateOptions.withStore(for: stackName, create: true) { store -> ApplySummary? in
            guard let store else { return nil }
            return try await withLock(store, stackName, command, timeout: timeout, ttl: 900, onTakeover: { old in
                printErr("warning: took over the lock of \(old.holder) (pid \(old.pid) on \(old.host), \(old.operation)): its process is gone or it expired\n")
            }) { lock in
                let renewal = Task { await keepRenewing(lock, store: store, lost: lost, interrupt: interrupt) }
                defer { renewal.cancel() }
                return try await applyLocked(store: store, session: session, saved: saved, interrupt: interrupt)
            }
        }
        if let lostLock = lost.error { throw CLIError(lostLock.description) }
        guard let summary else { return }
        if summary.interrupted { throw ExitCode(130) }
        if !summary.succeeded { throw ExitCode(1) }
    }

    /// Renews the lock every minute (it lasts 15). When it is gone — released by someone, or taken
    /// over after renewals kept failing until it expired — the run is stopped like an interrupt:
    /// calls in flight finish, nothing new starts, and the store's fence refuses further writes.
    private func keepRenewing(_ lock: LockInfo, store: any StateStore, lost: LostLock, interrupt: InterruptFlag) async {
        var current = lock
        var pause: UInt64 = 60_000_000_000
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: pause)
            if Task.isCancelled { return }
            do {
                current = try await store.renew(current, ttl: 900)
                pause = 60_000_000_000
            } catch {
                // A failed renewal is retried sooner; the lock is lost when it is gone or about to expire.
                let gone: Bool
                if case StateError.noSuchLock = error { gone = true } else { gone = current.expires.timeIntervalSinceNow < 30 }
                if gone {
                    let failure = StateError.lockLost(stack: current.stack, lockID: current.id, now: nil)
                    lost.record(failure)
                    printErr("error: \(failure.description)\n")
                    interrupt.raise()
                    return
                }
                printErr("warning: could not renew the lock of stack \"\(current.stack)\" (\(error)); retrying\n")
                pause = 5_000_000_000
            }
        }
    }

    /// Under the stack's lock: recover, plan (or check the saved plan), confirm, apply. Nil when
    /// there is nothing to do.
    private func applyLocked(store: any StateStore, session: StackSession, saved: PlanFile.Saved?,
                             interrupt: InterruptFlag) async throws -> ApplySummary? {
        let stackName = session.stack.name
        let sessions = session.makeSessions(parallelism: planning.parallelism)
        let state = try await store.load(stack: stackName)
        let plan: Plan
        var prior = state
        if let saved {
            try session.checkSaved(saved, state: state)
            plan = saved.plan
        } else {
            let (made, resolutions) = try await session.plan(state: state, journal: store, sessions: sessions,
                                                             options: try planning.planOptions(destroy: destroy))
            if !resolutions.isEmpty {
                try await JournalRecovery.commit(resolutions, store: store, stack: stackName)
                prior = try await store.load(stack: stackName)
            }
            plan = made
            // Refused before asking: the applier would refuse it too.
            try PlanViolation.refuse(plan, stack: session.stack)
            if !output.json { printOut(PlanRenderer(style: output.style).render(plan)) }
            guard plan.hasChanges else { return nil }
            if !applyOptions.autoApprove {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw CLIError("refusing to \(destroy ? "destroy" : "apply") without confirmation: no terminal to ask on; pass --auto-approve")
                }
                printOut("\nDo you want to \(destroy ? "destroy all these resources" : "perform these actions")? Only 'yes' will be accepted.\n  Enter a value: ")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                    printOut("\n\(destroy ? "Destroy" : "Apply") cancelled.\n")
                    throw ExitCode(1)
                }
            }
        }
        let display = ApplyDisplay(style: output.style, json: output.json)
        let applier = Applier(context: Applier.Context(
            stack: session.stack, graph: session.graph, registry: session.registry, variables: session.variables,
            prior: prior, store: store, sessions: sessions, parallelism: planning.parallelism, command: command,
            interrupt: interrupt, observer: { display.handle($0) }))
        display.start()
        let summary = try await applier.apply(plan)
        display.stop()
        if !destroy && !output.json { await lintDecidedByApply(plan, session: session, store: store) }
        return summary
    }

    /// The lint results the plan had as unknown until apply, read again from what apply recorded.
    /// Shown, never an error: the apply is done.
    private func lintDecidedByApply(_ plan: Plan, session: StackSession, store: any StateStore) async {
        let planned = LintReport(plan: plan, stack: session.stack)
        guard !planned.unknowns.isEmpty, let state = try? await store.load(stack: session.stack.name) else { return }
        let decided = planned.decided(by: LintReport(instances: ReviewedInstance.recorded(state), stack: session.stack))
        if !decided.isEmpty { printOut("\n" + LintReport.decidedText(decided, style: output.style)) }
    }
}

/// The command line as recorded in the lock and the history (which colleagues and CI logs read).
func recordedCommandLine() -> String {
    maskedCommandLine(Array(CommandLine.arguments.dropFirst()))
}

/// `arguments` with every variable value masked (`--var token=(masked)`, `--var=token=(masked)`,
/// `--var-file (masked)`: a value may be a secret and the command line does not say which) and any
/// password in a state URL (`--state postgres://user:pw@…`) replaced by `***`.
func maskedCommandLine(_ arguments: [String]) -> String {
    func maskAssignment(_ text: String) -> String {
        guard let eq = text.firstIndex(of: "=") else { return "(masked)" }
        return String(text[..<eq]) + "=(masked)"
    }
    var out: [String] = []
    var pending: String?
    for argument in arguments {
        if let option = pending {
            out.append(option == "--var" ? maskAssignment(argument) : "(masked)")
            pending = nil
        } else if argument == "--var" || argument == "--var-file" {
            out.append(argument)
            pending = argument
        } else if argument.hasPrefix("--var=") {
            out.append("--var=" + maskAssignment(String(argument.dropFirst("--var=".count))))
        } else if argument.hasPrefix("--var-file=") {
            out.append("--var-file=(masked)")
        } else {
            out.append(argument.contains("://") ? PostgresStateURL.redact(argument) : argument)
        }
    }
    return out.joined(separator: " ")
}

struct ApplyCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the changes the plan shows.",
        discussion: """
        Plans, shows the plan, asks for 'yes' (or --auto-approve), then applies: bounded \
        parallelism, longest remaining path first, each result saved the moment its call returns. \
        With a saved plan file, applies exactly that plan, and refuses it if the state or the stack \
        file changed since.

        Ctrl-C stops starting new work and waits for calls in flight (exit 130); a second Ctrl-C \
        abandons them, and the next run looks up what they did.

        Examples:
          ethstack apply --stack stacks/example.yaml
          ethstack apply --auto-approve --parallelism 20
          ethstack plan --out p.plan && ethstack apply p.plan
        """)

    @Argument(help: "A plan file saved with `ethstack plan --out`.")
    var planFile: String?

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var planning: PlanningOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var applyOptions: ApplyOptions

    func execute() async throws {
        try await ApplyRunner(stackOptions: stackOptions, stateOptions: stateOptions, planning: planning, output: output,
                              applyOptions: applyOptions, destroy: false, savedPlan: planFile,
                              command: recordedCommandLine()).run()
    }
}

struct DestroyCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Destroy everything the stack's state holds, dependents first.",
        discussion: """
        Resources with lifecycle.prevent_destroy stop the destroy. `ethstack plan --destroy` shows \
        what it would do.

        Example:
          ethstack destroy --stack stacks/example.yaml --auto-approve
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var planning: PlanningOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var applyOptions: ApplyOptions

    func execute() async throws {
        try await ApplyRunner(stackOptions: stackOptions, stateOptions: stateOptions, planning: planning, output: output,
                              applyOptions: applyOptions, destroy: true, savedPlan: nil,
                              command: recordedCommandLine()).run()
    }
}

/// First Ctrl-C: stop scheduling, wait for calls in flight. Second: leave now (exit 130); the
/// journal keeps the calls that were in flight for the next run.
final class SignalHandler: @unchecked Sendable {
    private let sources: [DispatchSourceSignal]
    private let lock = NSLock()
    private var count = 0

    init(interrupt: InterruptFlag, json: Bool) {
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            sources.append(source)
        }
        self.sources = sources
        for source in sources {
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.count += 1
                let n = self.count
                self.lock.unlock()
                if n == 1 {
                    interrupt.raise()
                    printErr("\nInterrupt received: finishing the calls in flight and saving state. Press Ctrl-C again to abandon them.\n")
                } else {
                    printErr("\nAbandoning the calls in flight; the next run will look up what they did.\n")
                    exit(130)
                }
            }
            source.resume()
        }
    }

    func cancel() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// The lock-loss a renewal saw, for the command's exit.
final class LostLock: @unchecked Sendable {
    private let mutex = NSLock()
    private var recorded: StateError?
    func record(_ error: StateError) { mutex.lock(); recorded = error; mutex.unlock() }
    var error: StateError? { mutex.lock(); defer { mutex.unlock() }; return recorded }
}

import ArgumentParser
import EthstackEngine
import EthstackState
import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// Which stack file, and its variables.
struct StackOptions: ParsableArguments {
    @Option(name: .long, help: "The stack file (default: ./ethstack.yaml, or the only *.yaml in stacks/).")
    var stack: String?

    @Option(name: .customLong("var"), help: ArgumentHelp("Set a variable: --var name=value (repeatable).", valueName: "name=value"))
    var vars: [String] = []

    @Option(name: .customLong("var-file"), help: ArgumentHelp("Read variables from a YAML file (repeatable).", valueName: "file"))
    var varFiles: [String] = []

    @Flag(name: .customLong("allow-file-outside-stack"), help: "Let file() read files outside the stack file's directory tree.")
    var allowFileOutsideStack = false

    func stackFile() throws -> String {
        if let stack { return stack }
        let fm = FileManager.default
        if fm.fileExists(atPath: "ethstack.yaml") { return "ethstack.yaml" }
        let candidates = ((try? fm.contentsOfDirectory(atPath: "stacks")) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        if candidates.count == 1 { return "stacks/" + candidates[0] }
        if candidates.isEmpty {
            throw CLIError("no stack file: pass --stack FILE, or create ./ethstack.yaml")
        }
        throw CLIError("several stack files in stacks/ (\(candidates.joined(separator: ", "))): choose one with --stack")
    }

    func inputs(preset: [String: Value] = [:], unsetSensitiveIsUnknown: Bool = false, unsetRequiredIsUnknown: Bool = false) -> VariableInputs {
        var i = VariableInputs(assignments: vars, files: varFiles)
        i.preset = preset
        i.unsetSensitiveIsUnknown = unsetSensitiveIsUnknown
        i.unsetRequiredIsUnknown = unsetRequiredIsUnknown
        return i
    }

    /// `unsetSensitiveIsUnknown`: for commands that only show (validate, plan): a required secret
    /// without a value is unknown there, and refused by the commands that change things.
    /// `unsetRequiredIsUnknown`: for commands that need no values at all (validate, graph).
    func open(preset: [String: Value] = [:], unsetSensitiveIsUnknown: Bool = false, unsetRequiredIsUnknown: Bool = false) throws -> StackSession {
        var options = StackLoader.Options()
        options.allowFileOutsideStack = allowFileOutsideStack
        return try StackSession.open(file: try stackFile(), registry: Providers.registry,
                                     inputs: inputs(preset: preset, unsetSensitiveIsUnknown: unsetSensitiveIsUnknown,
                                                    unsetRequiredIsUnknown: unsetRequiredIsUnknown),
                                     options: options)
    }
}

/// Where state lives.
struct StateOptions: ParsableArguments {
    @Option(name: .long, help: "The state: a SQLite database path, or postgres://user:password@host:5432/db?sslmode=… (default: $ETHSTACK_STATE, or state/<stack>.db).")
    var state: String?

    func path(for stack: String) -> String {
        if let state { return state }
        if let env = ProcessInfo.processInfo.environment["ETHSTACK_STATE"], !env.isEmpty { return env }
        return "state/\(stack).db"
    }

    /// The store, or nil when a SQLite database does not exist yet and `create` is false (plan
    /// writes nothing). A `postgres://` URL always connects (and brings the schema up to date).
    /// Close it with `closeStore`, or use `withStore`.
    func open(for stack: String, create: Bool) async throws -> (any StateStore)? {
        let p = path(for: stack)
        if !create && !SQLStateStore.isPostgres(p) && !FileManager.default.fileExists(atPath: p) { return nil }
        return try await SQLStateStore.open(p)
    }

    /// Opens the store, runs `body` with it, and closes it whether `body` returns or throws.
    func withStore<T>(for stack: String, create: Bool, _ body: ((any StateStore)?) async throws -> T) async throws -> T {
        let store = try await open(for: stack, create: create)
        do {
            let result = try await body(store)
            await closeStore(store)
            return result
        } catch {
            await closeStore(store)
            throw error
        }
    }
}

/// Closes a store's connection.
func closeStore(_ store: (any StateStore)?) async {
    if let store = store as? SQLStateStore { await store.close() }
}

/// Runs `body` holding the stack's lock, and unlocks whether it returns or throws.
func withLock<T>(_ store: any StateStore, _ stack: String, _ operation: String, timeout: Double, ttl: Double,
                 onTakeover: @Sendable (LockInfo) -> Void, _ body: (LockInfo) async throws -> T) async throws -> T {
    let lock = try await store.lock(stack: stack, operation: operation, timeout: timeout, ttl: ttl, onTakeover: onTakeover)
    do {
        let result = try await body(lock)
        try? await store.unlock(lock)
        return result
    } catch {
        try? await store.unlock(lock)
        throw error
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    @Flag(name: .customLong("no-color"), help: "No colours (also: the NO_COLOR environment variable).")
    var noColor = false

    var style: TextStyle {
        let env = ProcessInfo.processInfo.environment
        let color = !noColor && env["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1 && env["TERM"] != "dumb"
        return TextStyle(color: color)
    }
}

struct PlanningOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Limit the plan to these resources and what they depend on (repeatable).", valueName: "address"))
    var target: [ResourceAddress] = []

    @Option(name: .long, help: ArgumentHelp("Plan to replace this resource even if nothing changed (repeatable).", valueName: "address"))
    var replace: [ResourceAddress] = []

    @Option(name: .long, help: "Read the real objects before planning (--refresh=false to skip).")
    var refresh: Bool = true

    @Option(name: .long, help: "How many resources are applied at once, and each provider's API calls in flight at once.")
    var parallelism: Int = 10

    func planOptions(destroy: Bool) throws -> PlanOptions {
        var o = PlanOptions()
        o.targets = target
        o.replace = replace
        o.refresh = refresh
        o.destroy = destroy
        o.parallelism = parallelism
        return o
    }

    func validate() throws {
        if parallelism < 1 { throw ValidationError("--parallelism must be at least 1") }
    }
}

/// Addresses are parsed once, here at the edge, and stay typed from there on.
extension ResourceAddress: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A duration option ("30s", "5m", "1h", "0").
func parseDurationOption(_ text: String) throws -> Double {
    guard let seconds = parseDuration(text) else { throw CLIError("\"\(text)\" is not a duration (e.g. 30s, 5m)") }
    return seconds
}

/// A command of ethstack: its `execute` does the work; every command reports errors the same way
/// (the way users read them, exit 1), and exit codes a command chooses pass through.
protocol EthstackCommand: AsyncParsableCommand {
    func execute() async throws
}

extension EthstackCommand {
    func run() async throws {
        do {
            try await execute()
        } catch let e as ExitCode {
            throw e
        } catch let e as CleanExit {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            throw report(error)
        }
    }
}

/// Prints errors the way users read them and turns them into exit code 1.
func report(_ error: Error) -> ExitCode {
    let text: String
    switch error {
    case let e as DiagnosticsError: text = e.diagnostics.map(\.description).joined(separator: "\n")
    case let e as StateError: text = "error: \(e)"
    case let e as ProviderError: text = "error: \(e)"
    case let e as CLIError: text = "error: \(e)"
    default: text = "error: \(error)"
    }
    FileHandle.standardError.write(Data((text + "\n").utf8))
    return ExitCode(1)
}

func printOut(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}

func printErr(_ s: String) {
    FileHandle.standardError.write(Data(s.utf8))
}

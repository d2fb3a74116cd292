import ArgumentParser
import EthstackEngine
import EthstackState
import Foundation
import EthstackModel
import EthstackYAML

/// Commands that read or edit state need the stack's name: from --stack's file, or --stack-name.
struct StackNameOptions: ParsableArguments {
    @Option(name: .long, help: "The stack file (its `stack:` name selects the state).")
    var stack: String?

    @Option(name: .customLong("stack-name"), help: "The stack's name, instead of reading a stack file.")
    var stackName: String?

    func name() throws -> String {
        if let stackName { return stackName }
        let file = try StackOptions.parse(stack.map { ["--stack", $0] } ?? []).stackFile()
        // Only the name is needed: read it without evaluating anything.
        let docs = try YAMLParser.parse(String(contentsOfFile: file, encoding: .utf8), file: file)
        if case .mapping(let pairs, _)? = docs.first, let name = pairs.first(where: { $0.key.scalarText == "stack" })?.value.scalarText {
            return name
        }
        throw CLIError("\(file) has no \"stack\" name")
    }
}

/// Which stack's recorded state a command reads or edits, and how to get at it.
struct RecordedStateOptions: ParsableArguments {
    @OptionGroup var stackName: StackNameOptions
    @OptionGroup var stateOptions: StateOptions

    /// Runs `body` with the store; nil when the stack has no state database yet.
    func read<T>(_ body: (any StateStore, String) async throws -> T) async throws -> T? {
        let stack = try stackName.name()
        return try await stateOptions.withStore(for: stack, create: false) { store -> T? in
            guard let store else { return nil }
            return try await body(store, stack)
        }
    }

    func state() async throws -> StackState {
        let stack = try stackName.name()
        return try await read { store, stack in try await store.load(stack: stack) } ?? .empty(stack)
    }

    /// Runs `body` with the store, which must exist (edits and lock releases).
    func withExistingStore(_ body: (any StateStore, String) async throws -> Void) async throws {
        let stack = try stackName.name()
        try await stateOptions.withStore(for: stack, create: false) { store in
            guard let store else { throw CLIError("no state for stack \(stack)") }
            try await body(store, stack)
        }
    }

    /// Edits state under the stack's lock, as a new serial.
    func edit(_ operation: String, _ body: (any StateStore, String) async throws -> Void) async throws {
        try await withExistingStore { store, stack in
            try await withStateEditLock(store, stack, operation) {
                _ = try await store.beginRun(stack: stack)
                try await body(store, stack)
            }
        }
    }
}

struct OutputCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "output",
        abstract: "Show the stack's outputs from state.",
        discussion: """
        Sensitive outputs show as (sensitive value) unless named explicitly or --show-sensitive.

        Examples:
          ethstack output
          ethstack output rpc_url
          ethstack output --json | jq -r .rpc_url.value
        """)

    @Argument(help: "One output's name: print just its value.")
    var name: String?

    @OptionGroup var recorded: RecordedStateOptions

    @OptionGroup var output: OutputOptions

    @Flag(name: .customLong("show-sensitive"), help: "Show sensitive outputs' values.")
    var showSensitive = false

    func execute() async throws {
        let outputs = try await recorded.state().outputs
        if let name {
            guard let o = outputs[name] else {
                throw CLIError("no output named \"\(name)\"" + (didYouMean(name, in: outputs.keys).map { " (\($0))" } ?? ""))
            }
            if output.json {
                printOut(o.value.deepUnmarked.jsonString(pretty: true) + "\n")
            } else {
                printOut((o.value.deepUnmarked.interpolatedString ?? o.value.deepUnmarked.jsonString(pretty: true)) + "\n")
            }
            return
        }
        if output.json {
            var m: [String: Value] = [:]
            for (k, o) in outputs {
                m[k] = .map(["sensitive": .bool(o.sensitive), "value": o.sensitive && !showSensitive ? .null : o.value.deepUnmarked])
            }
            printOut(Value.map(m).jsonString(pretty: true) + "\n")
            return
        }
        let renderer = PlanRenderer(style: output.style)
        for k in outputs.keys.sorted() {
            let o = outputs[k]!
            printOut("\(k) = \(renderer.renderValue(o.value.deepUnmarked, indent: 0, sensitive: o.sensitive && !showSensitive))\n")
        }
    }
}

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Inspect and edit recorded state.",
        discussion: """
        Examples:
          ethstack state list
          ethstack state show 'subnet["a"]'
          ethstack state mv copies[0] primary
          ethstack state rm old_bucket
          ethstack state history
          ethstack state rekey --new-key-file ~/.config/ethstack/state-2027.key
        """,
        subcommands: [List.self, Show.self, Remove.self, Move.self, History.self, Rekey.self])

    struct List: EthstackCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the resources in state.")
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            for a in try await recorded.state().resources.keys.sorted() { printOut("\(a)\n") }
        }
    }

    struct Show: EthstackCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one resource's recorded attributes.")
        @Argument(help: "The resource's address.") var address: ResourceAddress
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            let a = address
            let state = try await recorded.state()
            guard let r = state.resources[a] else {
                throw CLIError("no resource \(address) in state" + (didYouMean(address.description, in: state.resources.keys.map(\.description)).map { " (\($0))" } ?? ""))
            }
            let renderer = PlanRenderer(style: TextStyle(color: false))
            printOut("# \(r.address):\nresource \"\(r.type)\" \"\(r.address)\" {\n")
            let attrs = r.markedAttributes
            let width = attrs.keys.map(\.count).max() ?? 0
            for k in attrs.keys.sorted() {
                printOut("    \(k.padding(toLength: width, withPad: " ", startingAt: 0)) = \(renderer.renderValue(attrs[k]!, indent: 4))\n")
            }
            printOut("}\n# provider: \(r.provider), id: \(r.shownID), status: \(r.status.rawValue)")
            if !r.dependencies.isEmpty { printOut(", depends on: \(r.dependencies.map(\.description).joined(separator: ", "))") }
            printOut("\n")
        }
    }

    struct Remove: EthstackCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Forget a resource: remove it from state without destroying it.")
        @Argument(help: "Addresses to forget.") var addresses: [ResourceAddress]
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            try await recorded.edit("state rm") { store, stack in
                for a in addresses {
                    try await store.removeResource(stack: stack, address: a)
                    printOut("Removed \(a)\n")
                }
            }
        }
    }

    struct Move: EthstackCommand {
        static let configuration = CommandConfiguration(
            commandName: "mv", abstract: "Give a resource in state a new address (after renaming it in the stack).")
        @Argument(help: "The current address.") var from: ResourceAddress
        @Argument(help: "The new address.") var to: ResourceAddress
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            let (f, t) = (from, to)
            try await recorded.edit("state mv") { store, stack in
                try await store.moveResource(stack: stack, from: f, to: t)
            }
            printOut("Moved \(f) to \(t)\n")
        }
    }

    struct History: EthstackCommand {
        static let configuration = CommandConfiguration(commandName: "history", abstract: "Every apply and destroy: serial, who, when, what.")
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            let entries = try await recorded.read { store, stack in try await store.history(stack: stack) } ?? []
            let f = ISO8601DateFormatter()
            for e in entries {
                printOut("\(e.serial)\t\(f.string(from: e.when))\t\(e.who)@\(e.host)\t\(e.command)\t\(e.summary)\n")
            }
        }
    }
}

extension StateCommand {
    struct Rekey: EthstackCommand {
        static let configuration = CommandConfiguration(
            commandName: "rekey",
            abstract: "Re-encrypt every sensitive value in the state database with a new key.",
            discussion: """
            Sensitive attributes, sensitive outputs and the journal's planned secrets are stored \
            encrypted (AES-256-GCM) with the state key: $ETHSTACK_STATE_KEY (base64 of 32 bytes), or \
            the file named by $ETHSTACK_STATE_KEY_FILE, or — for a SQLite database only — \
            ~/.config/ethstack/state.key, made the first time a value is sealed. rekey opens every \
            value with the current key and seals it with the new one, in one transaction, for every \
            stack in the database (and seals values older ethstack versions stored in clear). It is \
            refused while any stack is locked. A missing --new-key-file is created with a new random key.

            Example:
              ethstack state rekey --new-key-file ~/.config/ethstack/state-2027.key
              export ETHSTACK_STATE_KEY_FILE=~/.config/ethstack/state-2027.key
            """)
        @Option(name: .customLong("new-key-file"), help: "The new key's file (created, 0600, if missing).")
        var newKeyFile: String
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            let path = URL(fileURLWithPath: (newKeyFile as NSString).expandingTildeInPath).standardizedFileURL.path
            let key = FileManager.default.fileExists(atPath: path) ? try StateKeyring.readKeyFile(path)
                                                                   : try StateKeyring.createKeyFile(path)
            var result: SQLStateStore.RekeyResult?
            try await recorded.withExistingStore { store, _ in
                guard let store = store as? SQLStateStore else { throw CLIError("rekey needs the SQL state store") }
                result = try await store.rekey(to: StateKeyring(key: key))
            }
            guard let result else { return }
            printOut("Re-encrypted \(result.values) values in \(result.stacks) stacks with state key \(key.id).\n")
            printOut("From now on: export ETHSTACK_STATE_KEY_FILE=\(path)\n")
        }
    }
}

/// State edits: take the lock at once (no waiting), for up to 5 minutes.
func withStateEditLock(_ store: any StateStore, _ stack: String, _ operation: String,
                       _ body: () async throws -> Void) async throws {
    try await withLock(store, stack, operation, timeout: 0, ttl: 300, onTakeover: { old in
        printErr("warning: took over the stale lock of \(old.holder) (pid \(old.pid) on \(old.host))\n")
    }) { _ in try await body() }
}

struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "List and release stack locks.",
        discussion: """
        Examples:
          ethstack lock list
          ethstack lock release 5b1e…
        """,
        subcommands: [List.self, Release.self])

    struct List: EthstackCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the locks in the state database.")
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            let locks = try await recorded.read { store, _ in try await store.locks() } ?? []
            let f = ISO8601DateFormatter()
            if locks.isEmpty { printOut("No locks.\n") }
            for l in locks {
                printOut("\(l.id)\t\(l.stack)\t\(l.holder)@\(l.host) pid \(l.pid)\t\(l.operation)\tsince \(f.string(from: l.created))\texpires \(f.string(from: l.expires))\n")
            }
        }
    }

    struct Release: EthstackCommand {
        static let configuration = CommandConfiguration(commandName: "release", abstract: "Release a lock by id (when its holder is gone).")
        @Argument(help: "The lock's id, from `ethstack lock list`.") var id: String
        @OptionGroup var recorded: RecordedStateOptions
        func execute() async throws {
            try await recorded.withExistingStore { store, _ in try await store.release(lockID: id) }
            printOut("Released lock \(id)\n")
        }
    }
}

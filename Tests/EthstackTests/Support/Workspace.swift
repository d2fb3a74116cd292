import CoreProvider
import Foundation
import Testing
@testable import EthstackState
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel
@testable import EthstackProviderAPI

/// A temporary directory holding stack files and a state database, driving the real pipeline.
final class Workspace: @unchecked Sendable {
    let dir: String
    let registry: ProviderRegistry

    /// `providers` are registered beside the built-in ones (e.g. the Kubernetes provider).
    convenience init(providers: [any Provider] = []) {
        self.init(registry: ProviderRegistry(BuiltinProviders.all + providers))
    }

    init(registry: ProviderRegistry) {
        self.registry = registry
        let base = FileManager.default.temporaryDirectory.path
        dir = "\(base)/ethstack-test-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @discardableResult
    func write(_ name: String, _ content: String) -> String {
        let path = "\(dir)/\(name)"
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(content.utf8))
        return path
    }

    var statePath: String { "\(dir)/state.db" }

    func store() async throws -> SQLStateStore { try await SQLStateStore.sqlite(path: statePath) }

    func session(_ file: String = "stack.yaml", vars: [String] = []) throws -> StackSession {
        try StackSession.open(file: "\(dir)/\(file)", registry: registry,
                              inputs: VariableInputs(assignments: vars, files: [], environment: [:]))
    }

    /// The diagnostics a stack produces, as "line:col: message" strings.
    func diagnostics(_ file: String = "stack.yaml", vars: [String] = []) -> [Diagnostic] {
        do {
            _ = try session(file, vars: vars)
            return []
        } catch let e as DiagnosticsError {
            return e.diagnostics
        } catch {
            return [Diagnostic(at: nil, "\(error)")]
        }
    }

    func plan(_ file: String = "stack.yaml", vars: [String] = [], options: PlanOptions = PlanOptions()) async throws -> Plan {
        let s = try session(file, vars: vars)
        let store = try await store()
        let state = try await store.load(stack: s.stack.name)
        return try await s.plan(state: state, journal: store, sessions: s.makeSessions(parallelism: options.parallelism), options: options).0
    }

    /// Plans and applies in-process, as `ethstack apply --auto-approve` does.
    func apply(_ file: String = "stack.yaml", vars: [String] = [], destroy: Bool = false, parallelism: Int = 10,
               events: (@Sendable (ApplyEvent) -> Void)? = nil) async throws -> ApplySummary {
        let s = try session(file, vars: vars)
        let store = try await store()
        let lock = try await store.lock(stack: s.stack.name, operation: "apply", timeout: 0, ttl: 60) { _ in }
        do {
            let summary = try await apply(s, store: store, destroy: destroy, parallelism: parallelism, events: events)
            try? await store.unlock(lock)
            return summary
        } catch {
            try? await store.unlock(lock)
            throw error
        }
    }

    private func apply(_ s: StackSession, store: SQLStateStore, destroy: Bool, parallelism: Int,
                       events: (@Sendable (ApplyEvent) -> Void)?) async throws -> ApplySummary {
        var options = PlanOptions()
        options.destroy = destroy
        let state = try await store.load(stack: s.stack.name)
        let sessions = s.makeSessions()
        let (plan, resolutions) = try await s.plan(state: state, journal: store, sessions: sessions, options: options)
        try await JournalRecovery.commit(resolutions, store: store, stack: s.stack.name)
        let applier = Applier(context: Applier.Context(
            stack: s.stack, graph: s.graph, registry: s.registry, variables: s.variables,
            prior: try await store.load(stack: s.stack.name), store: store, sessions: sessions, parallelism: parallelism,
            command: "test apply", interrupt: InterruptFlag(), observer: events ?? { _ in }))
        return try await applier.apply(plan)
    }

    func state(_ stack: String) async throws -> StackState { try await store().load(stack: stack) }
}

/// The built `ethstack` executable, for tests of the command line.
enum EthstackBinary {
    static var path: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ethstack").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("ethstack").path,
            Bundle.main.bundleURL.appendingPathComponent("ethstack").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/ethstack").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs ethstack with an argument vector (no shell), in `directory`, without a terminal.
    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:],
                    timeout: Double = 60) throws -> Result {
        let process = try start(arguments, in: directory, environment: environment)
        let out = Pipe(), err = Pipe()
        _ = (out, err)
        return try wait(process, timeout: timeout)
    }

    static func start(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> RunningProcess {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        let running = RunningProcess(process: p, stdout: out, stderr: err)
        try p.run()
        running.startReading()
        return running
    }

    static func wait(_ r: RunningProcess, timeout: Double) throws -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        while r.process.isRunning && Date() < deadline { usleep(20_000) }
        if r.process.isRunning {
            r.process.terminate()
            Issue.record("ethstack \(r.process.arguments ?? []) did not finish within \(timeout)s")
        }
        r.process.waitUntilExit()
        r.drain()
        return Result(status: r.process.terminationStatus, stdout: r.output(), stderr: r.errors())
    }
}

/// A started process whose output is collected as it comes (so a full pipe never blocks it).
final class RunningProcess: @unchecked Sendable {
    let process: Process
    let stdout: Pipe
    let stderr: Pipe
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let readers = DispatchGroup()

    init(process: Process, stdout: Pipe, stderr: Pipe) {
        self.process = process
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Reads both pipes as output comes, each on a plain thread of its own: Foundation's
    /// `readabilityHandler` uses a dispatch source that, on Linux, could still fire for a pipe
    /// being closed and crash the test process in libdispatch's event loop.
    func startReading() {
        for (handle, isOut) in [(stdout.fileHandleForReading, true), (stderr.fileHandleForReading, false)] {
            readers.enter()
            Thread.detachNewThread { [self] in
                while true {
                    let d = handle.availableData
                    if d.isEmpty { break }
                    lock.lock()
                    if isOut { out.append(d) } else { err.append(d) }
                    lock.unlock()
                }
                readers.leave()
            }
        }
    }

    /// After exit: waits until both pipes reached their end, so no output is lost.
    func drain() {
        readers.wait()
    }

    func output() -> String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: out, as: UTF8.self)
    }

    func errors() -> String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: err, as: UTF8.self)
    }
}

extension SQLStateStore {
    /// SQLite's `PRAGMA integrity_check`: "ok" when the database is sound, else SQLite's findings.
    func integrityCheck() async throws -> String {
        try await queryStrings("PRAGMA integrity_check").joined(separator: "\n")
    }

    /// `EXPLAIN QUERY PLAN` for a SQLite statement (proving writes use an index, not a scan).
    func queryPlan(_ sql: String) async throws -> [String] {
        try await queryStrings("EXPLAIN QUERY PLAN " + sql, column: 3)
    }
}

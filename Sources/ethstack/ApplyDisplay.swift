import EthstackEngine
import Foundation
import EthstackModel

/// Renders apply events: a live status line on a terminal, timestamped lines otherwise, or one
/// JSON object per line with --json.
final class ApplyDisplay: @unchecked Sendable {
    enum Mode { case terminal, plain, json }
    let style: TextStyle
    let mode: Mode
    private let lock = NSLock()
    private var running: [String: Date] = [:]
    private var ticker: DispatchSourceTimer?
    private var statusShown = false

    init(style: TextStyle, json: Bool) {
        self.style = style
        if json { mode = .json } else if isatty(STDOUT_FILENO) == 1 { mode = .terminal } else { mode = .plain }
    }

    func start() {
        guard mode == .terminal else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.redrawStatus() }
        timer.resume()
        ticker = timer
    }

    func stop() {
        ticker?.cancel()
        lock.lock(); clearStatus(); lock.unlock()
    }

    static func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }

    func verb(_ action: ProviderOperation, done: Bool) -> String {
        switch action {
        case .create: return done ? "Creation complete" : "Creating..."
        case .update: return done ? "Modifications complete" : "Modifying..."
        case .delete: return done ? "Destruction complete" : "Destroying..."
        }
    }

    func handle(_ event: ApplyEvent) {
        if mode == .json {
            emitJSON(event)
            return
        }
        lock.lock()
        defer { lock.unlock() }
        var line: String?
        switch event {
        case .started(let a, let action):
            running[a.description] = Date()
            line = "\(a): \(verb(action, done: false))"
        case .progress(let a, _, let message, let elapsed):
            line = "\(a): \(message) [\(Int(elapsed))s elapsed]"
        case .completed(let a, let action, let id, let elapsed):
            running[a.description] = nil
            line = style.green("\(a): \(verb(action, done: true)) after \(format(elapsed))") + (id.map { " [id=\($0)]" } ?? "")
        case .errored(let a, let action, let message, _):
            running[a.description] = nil
            line = style.red("\(a): \(action) failed: \(message)")
        case .skipped(let a, _, let because):
            line = style.yellow("\(a): skipped because \(because)")
        case .recovered(let a, let message):
            line = "\(a): \(message)"
        case .imported(let a, let id):
            line = style.green("\(a): imported") + " [id=\(id)]"
        case .interrupted(let r):
            line = style.yellow("Interrupted: waiting for \(r.count) call(s) in flight: \(r.joined(separator: ", "))")
        case .summary(let s):
            let what = s.destroy ? "Destroy" : "Apply"
            var text = "\n" + (s.succeeded ? style.green(style.bold("\(what) complete!")) : style.red(style.bold(s.interrupted ? "\(what) interrupted." : "\(what) failed."))) + " Resources: \(s.line).\n"
            for f in s.failures { text += style.red("  ✗ \(f.address) (\(f.action)): \(f.message)") + "\n" }
            line = text
        case .outputs(let outputs):
            if !outputs.isEmpty {
                var text = "\nOutputs:\n\n"
                let renderer = PlanRenderer(style: style)
                for name in outputs.keys.sorted() {
                    text += "\(name) = \(renderer.renderValue(outputs[name]!, indent: 0))\n"
                }
                line = text
            }
        }
        guard let line else { return }
        clearStatus()
        if mode == .plain {
            printOut("\(ApplyDisplay.timestamp()) \(line)\n")
        } else {
            printOut(line + "\n")
        }
    }

    func format(_ seconds: Double) -> String {
        seconds < 10 ? String(format: "%.1fs", seconds) : "\(Int(seconds))s"
    }

    private func clearStatus() {
        if statusShown {
            printOut("\r\u{1B}[2K")
            statusShown = false
        }
    }

    private func redrawStatus() {
        lock.lock()
        defer { lock.unlock() }
        guard !running.isEmpty else { clearStatus(); return }
        let now = Date()
        let items = running.sorted { $0.value < $1.value }.prefix(3).map { "\($0.key) \(Int(now.timeIntervalSince($0.value)))s" }
        let more = running.count > 3 ? " +\(running.count - 3) more" : ""
        printOut("\r\u{1B}[2K" + style.dim("Still running (\(running.count)): \(items.joined(separator: ", "))\(more)"))
        statusShown = true
    }

    private func emitJSON(_ event: ApplyEvent) {
        var m: [String: Value] = ["@timestamp": .string(ApplyDisplay.timestamp())]
        switch event {
        case .started(let a, let action):
            m["type"] = "apply_start"; m["address"] = .string(a.description); m["action"] = .string(action.rawValue)
        case .progress(let a, let action, let message, let elapsed):
            m["type"] = "apply_progress"; m["address"] = .string(a.description); m["action"] = .string(action.rawValue)
            m["message"] = .string(message); m["elapsed_seconds"] = .number(elapsed)
        case .completed(let a, let action, let id, let elapsed):
            m["type"] = "apply_complete"; m["address"] = .string(a.description); m["action"] = .string(action.rawValue)
            m["id"] = id.map(Value.string) ?? .null; m["elapsed_seconds"] = .number(elapsed)
        case .errored(let a, let action, let message, let elapsed):
            m["type"] = "apply_errored"; m["address"] = .string(a.description); m["action"] = .string(action.rawValue)
            m["message"] = .string(message); m["elapsed_seconds"] = .number(elapsed)
        case .skipped(let a, let action, let because):
            m["type"] = "apply_skipped"; m["address"] = .string(a.description); m["action"] = .string(action.rawValue); m["because"] = .string(because)
        case .recovered(let a, let message):
            m["type"] = "recovered"; m["address"] = .string(a.description); m["message"] = .string(message)
        case .imported(let a, let id):
            m["type"] = "imported"; m["address"] = .string(a.description); m["id"] = .string(id)
        case .interrupted(let r):
            m["type"] = "interrupted"; m["running"] = .list(r.map(Value.string))
        case .summary(let s):
            m["type"] = "summary"
            m["changes"] = .map(["import": .number(Double(s.imported)), "add": .number(Double(s.created)), "change": .number(Double(s.updated)),
                                 "replace": .number(Double(s.replaced)), "remove": .number(Double(s.deleted))])
            m["failures"] = .list(s.failures.map { .map(["address": .string($0.address.description), "action": .string($0.action.rawValue), "message": .string($0.message)]) })
            m["skipped"] = .list(s.skipped.map { .string($0.description) })
            m["interrupted"] = .bool(s.interrupted)
            m["elapsed_seconds"] = .number(s.elapsed)
        case .outputs(let outputs):
            m["type"] = "outputs"
            m["outputs"] = .map(outputs.mapValues { v in
                .map(["sensitive": .bool(v.containsSensitive), "value": v.containsSensitive ? .null : PlanJSON.scrub(v)])
            })
        }
        printOut(Value.map(m).jsonString() + "\n")
    }
}

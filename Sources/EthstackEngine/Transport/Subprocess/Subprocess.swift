import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a command-line tool for a CLI-backed provider (`helm`, `kurtosis`).
///
/// An argument vector, never a shell: every argument reaches the program as one `argv` entry, so a
/// release called `a;rm -rf ~` is just a strange name. The environment is exactly `environment`
/// (nothing is inherited unless the caller copies it, see `Subprocess.inheritedEnvironment`).
/// Secrets travel in files (`PrivateDirectory`), never in arguments.
public struct SubprocessRequest: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    /// Seconds before the program gets SIGTERM (then SIGKILL after `killGrace`).
    public var timeout: Double
    public var killGrace: Double = 5
    /// Each line of stdout and stderr, as it comes (redacted).
    public var progress: ProgressReporter?
    /// Strings that never leave this call: replaced in progress lines, results and errors.
    public var redactions: [String] = []

    public init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String? = nil,
                timeout: Double, progress: ProgressReporter? = nil, redactions: [String] = []) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.progress = progress
        self.redactions = redactions
    }

    /// The command for messages: program name and arguments, redacted.
    public var displayCommand: String {
        let name = (executable as NSString).lastPathComponent
        return ([name] + arguments.map { Subprocess.quoteForDisplay(Subprocess.redact($0, redactions)) }).joined(separator: " ")
    }
}

public struct SubprocessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var duration: Double

    public var succeeded: Bool { status == 0 }

    /// The last non-empty lines of stderr (or stdout), for an error message.
    public func tail(_ lines: Int = 5) -> String {
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? stdout : stderr
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }
}

/// Why a program could not be run to completion.
public struct SubprocessError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case notFound = "not found"
        case failedToStart = "failed to start"
        case timedOut = "timed out"
    }
    public var kind: Kind
    public var command: String
    public var message: String

    public init(_ kind: Kind, command: String, message: String) {
        self.kind = kind
        self.command = command
        self.message = message
    }

    public var description: String { message }
}

public enum Subprocess {
    /// Finds a tool: the configured path (`helm_path`), else `name` on `PATH`. The error says how to
    /// fix it: "helm not found on PATH; install it or set helm_path".
    public static func locate(_ name: String, configured: String?, setting: String,
                              path: String? = ProcessInfo.processInfo.environment["PATH"]) throws -> String {
        let fm = FileManager.default
        if let configured, !configured.isEmpty {
            let expanded = (configured as NSString).expandingTildeInPath
            guard fm.isExecutableFile(atPath: expanded) else {
                throw SubprocessError(.notFound, command: name,
                                      message: "\(setting) \"\(configured)\" is not an executable file; install \(name) there or fix \(setting)")
            }
            return expanded
        }
        for dir in (path ?? "").split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw SubprocessError(.notFound, command: name, message: "\(name) not found on PATH; install it or set \(setting)")
    }

    /// Copies the named variables from this process's environment (PATH, HOME…), for a child that
    /// should otherwise see only what the caller sets.
    public static func inheritedEnvironment(_ names: [String] = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL",
                                                                  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                                                  "http_proxy", "https_proxy", "no_proxy"])
        -> [String: String]
    {
        let env = ProcessInfo.processInfo.environment
        var out: [String: String] = [:]
        for n in names { if let v = env[n] { out[n] = v } }
        return out
    }

    /// Runs the program to completion. Task cancellation and the timeout send SIGTERM, then SIGKILL
    /// after `killGrace` seconds. A non-zero exit is a result, not an error: the caller decides.
    public static func run(_ request: SubprocessRequest) async throws -> SubprocessResult {
        try Task.checkCancellation()
        let running = try RunningSubprocess(request)
        let result: SubprocessResult = try await withTaskCancellationHandler {
            try await running.wait()
        } onCancel: {
            running.stop(reason: .cancelled)
        }
        if running.stopReason == .cancelled { throw CancellationError() }
        if running.stopReason == .timedOut {
            var message = "\(request.displayCommand) did not finish within \(formatSeconds(request.timeout))"
            let tail = result.tail(3)
            if !tail.isEmpty { message += "; last output:\n\(tail)" }
            throw SubprocessError(.timedOut, command: request.displayCommand, message: message)
        }
        return result
    }

    static func redact(_ text: String, _ secrets: [String]) -> String {
        var out = text
        for s in secrets where !s.isEmpty { out = out.replacingOccurrences(of: s, with: "(sensitive value)") }
        return out
    }

    static func quoteForDisplay(_ arg: String) -> String {
        let plain = arg.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@,+".contains($0) }
        if plain && !arg.isEmpty { return arg }
        return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}

/// A started child process: reads both pipes on their own threads (a full pipe never blocks the
/// child), splits lines for the progress callback, and stops the child on timeout or cancellation.
final class RunningSubprocess: @unchecked Sendable {
    enum StopReason { case none, timedOut, cancelled }

    private let request: SubprocessRequest
    private let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private var partial: [Int: Data] = [:]
    private var reason: StopReason = .none
    private var finished = false
    private let start = Date()
    private let group = DispatchGroup()

    var stopReason: StopReason { lock.lock(); defer { lock.unlock() }; return reason }

    init(_ request: SubprocessRequest) throws {
        self.request = request
        guard FileManager.default.isExecutableFile(atPath: request.executable) else {
            throw SubprocessError(.notFound, command: request.displayCommand,
                                  message: "\(request.executable) is not an executable file")
        }
        process.executableURL = URL(fileURLWithPath: request.executable)
        process.arguments = request.arguments
        process.environment = request.environment
        if let dir = request.workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: dir) }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        group.enter()
        process.terminationHandler = { [group] _ in group.leave() }
        do {
            try process.run()
        } catch {
            throw SubprocessError(.failedToStart, command: request.displayCommand,
                                  message: "\(request.displayCommand) could not be started: \(error.localizedDescription)")
        }
        // The parent's copies of the write ends must close, or EOF never comes.
        try? outPipe.fileHandleForWriting.close()
        try? errPipe.fileHandleForWriting.close()
        pump(outPipe.fileHandleForReading, stream: 1)
        pump(errPipe.fileHandleForReading, stream: 2)
        let deadline = DispatchTime.now() + request.timeout
        DispatchQueue.global().asyncAfter(deadline: deadline) { [weak self] in self?.stop(reason: .timedOut) }
    }

    private func pump(_ handle: FileHandle, stream: Int) {
        group.enter()
        Thread.detachNewThread { [self] in
            let fd = handle.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                received(Data(buffer[0..<n]), stream: stream)
            }
            flush(stream: stream)
            try? handle.close()
            group.leave()
        }
    }

    private func received(_ data: Data, stream: Int) {
        var lines: [String] = []
        lock.lock()
        if stream == 1 { out.append(data) } else { err.append(data) }
        if request.progress != nil {
            var buffer = (partial[stream] ?? Data()) + data
            while let nl = buffer.firstIndex(of: 0x0A) {
                lines.append(String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self))
                buffer = Data(buffer[buffer.index(after: nl)...])
            }
            partial[stream] = buffer
        }
        lock.unlock()
        emit(lines)
    }

    private func flush(stream: Int) {
        lock.lock()
        let rest = partial[stream] ?? Data()
        partial[stream] = nil
        lock.unlock()
        if !rest.isEmpty { emit([String(decoding: rest, as: UTF8.self)]) }
    }

    private func emit(_ lines: [String]) {
        guard let progress = request.progress else { return }
        for line in lines {
            let text = Subprocess.redact(line.trimmingCharacters(in: .whitespacesAndNewlines), request.redactions)
            if !text.isEmpty { progress(text) }
        }
    }

    /// SIGTERM now, SIGKILL after the grace period if it is still running.
    func stop(reason: StopReason) {
        lock.lock()
        if finished || self.reason != .none { lock.unlock(); return }
        self.reason = reason
        lock.unlock()
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + request.killGrace) { [weak self] in
            guard let self else { return }
            self.lock.lock()
            let done = self.finished
            self.lock.unlock()
            if !done { kill(pid, SIGKILL) }
        }
    }

    func wait() async throws -> SubprocessResult {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
        return finish()
    }

    private func finish() -> SubprocessResult {
        lock.withLock {
            finished = true
            return SubprocessResult(status: process.terminationStatus,
                                    stdout: Subprocess.redact(String(decoding: out, as: UTF8.self), request.redactions),
                                    stderr: Subprocess.redact(String(decoding: err, as: UTF8.self), request.redactions),
                                    duration: Date().timeIntervalSince(start))
        }
    }
}

private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #else
    return Darwin.read(fd, buffer, count)
    #endif
}

/// Go-style durations, as helm and kurtosis write them: "5m0s", "1h30m", "500ms", "90" (seconds).
public enum GoDuration {
    /// "5m0s", "300s", "1h", "90" (seconds) → seconds.
    public static func seconds(_ text: String) -> Double? {
        if let n = Double(text) { return n }
        var total = 0.0, number = "", sawUnit = false
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isNumber || c == "." { number.append(c); i += 1; continue }
            var unit = String(c)
            if c == "m", i + 1 < chars.count, chars[i + 1] == "s" { unit = "ms"; i += 1 }
            i += 1
            guard let n = Double(number) else { return nil }
            number = ""
            switch unit {
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            case "ms": total += n / 1000
            default: return nil
            }
            sawUnit = true
        }
        return number.isEmpty && sawUnit ? total : nil
    }
}

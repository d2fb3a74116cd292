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
    public var progress: (@Sendable (String) -> Void)?
    /// Strings that never leave this call: replaced in progress lines, results and errors.
    public var redactions: [String] = []
    /// Prefixes that mark a secret by its shape (such as an EKS token): the prefix and the base64url
    /// text after it are replaced too, for secrets made after the call started (a refreshed token).
    public var secretPrefixes: [String] = []

    public init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String? = nil,
                timeout: Double, progress: (@Sendable (String) -> Void)? = nil, redactions: [String] = [],
                secretPrefixes: [String] = []) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.progress = progress
        self.redactions = redactions
        self.secretPrefixes = secretPrefixes
    }

    /// The command for messages: program name and arguments, redacted.
    public var displayCommand: String {
        let name = (executable as NSString).lastPathComponent
        return ([name] + arguments.map { Subprocess.quoteForDisplay(Subprocess.redact($0, redactions, prefixes: secretPrefixes)) }).joined(separator: " ")
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

    package static func redact(_ text: String, _ secrets: [String], prefixes: [String] = []) -> String {
        var out = text
        for s in secrets where !s.isEmpty { out = out.replacingOccurrences(of: s, with: "(sensitive value)") }
        for prefix in prefixes where !prefix.isEmpty { out = redact(out, shapedBy: prefix) }
        return out
    }

    /// Replaces `prefix` and the base64url text after it, wherever it occurs.
    package static func redact(_ text: String, shapedBy prefix: String) -> String {
        guard text.contains(prefix) else { return text }
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: prefix) {
            out += rest[..<r.lowerBound]
            out += "(sensitive value)"
            rest = rest[r.upperBound...].drop { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        out += rest
        return out
    }

    static func quoteForDisplay(_ arg: String) -> String {
        let plain = arg.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@,+".contains($0) }
        if plain && !arg.isEmpty { return arg }
        return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    package static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}

/// A started child process, spawned with `posix_spawn` (no shell): its own process group (so a
/// stop reaches helm's or kurtosis's own children too), a clean signal mask and default signal
/// handlers (threads of this process block signals; a child must not inherit that, or SIGTERM
/// would never reach it), stdin from /dev/null. Both pipes are read on their own threads (a full
/// pipe never blocks the child); lines go to the progress callback as they come.
///
/// A watchdog joins the child's process group and holds the read end of a "lifeline" pipe whose
/// only write end this process holds (close-on-exec). However this process ends — normal exit,
/// a second Ctrl-C, a crash, SIGKILL — the kernel closes the write end, the watchdog reads EOF
/// and kills the whole group (helm, kurtosis and anything they started). Linux's
/// `prctl(PR_SET_PDEATHSIG)` would need code between fork and exec, which `posix_spawn` (and
/// Foundation.Process) do not offer; it would also reach only the direct child, and fires when
/// the spawning *thread* ends, which in a thread pool is not when ethstack ends.
final class RunningSubprocess: @unchecked Sendable {
    enum StopReason { case none, timedOut, cancelled }

    private let request: SubprocessRequest
    private let pid: pid_t
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private var partial: [Int: Data] = [:]
    private var reason: StopReason = .none
    private var finished = false
    private var exitStatus: Int32 = -1
    private let start = Date()
    private let group = DispatchGroup()
    /// The write end of the watchdog's lifeline (-1 without a watchdog); closed when the child ends.
    private var lifeline: Int32 = -1

    var stopReason: StopReason { lock.withLock { reason } }

    package init(_ request: SubprocessRequest) throws {
        self.request = request
        guard FileManager.default.isExecutableFile(atPath: request.executable) else {
            throw SubprocessError(.notFound, command: request.displayCommand,
                                  message: "\(request.executable) is not an executable file")
        }
        func failure(_ what: String, _ code: Int32) -> SubprocessError {
            SubprocessError(.failedToStart, command: request.displayCommand,
                            message: "\(request.displayCommand) could not be started: \(what): \(String(cString: strerror(code)))")
        }
        var outFDs: [Int32] = [-1, -1], errFDs: [Int32] = [-1, -1]
        guard pipe(&outFDs) == 0 else { throw failure("pipe", errno) }
        guard pipe(&errFDs) == 0 else { close(outFDs[0]); close(outFDs[1]); throw failure("pipe", errno) }
        // Close-on-exec everywhere: a child spawned concurrently must not hold these pipes open.
        for fd in outFDs + errFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errFDs[1], 2)
        if let dir = request.workingDirectory, let addChdir = RunningSubprocess.addChdir {
            _ = addChdir(&actions, dir)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([request.executable] + request.arguments).map { strdup($0) } + [nil]
        let envp = request.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, request.executable, &actions, &attributes, argv, envp)
        close(outFDs[1])
        close(errFDs[1])
        guard rc == 0 else {
            close(outFDs[0]); close(errFDs[0])
            throw failure("posix_spawn", rc)
        }
        pid = child
        let spawned = child
        lifeline = Self.startWatchdog(group: child)
        pump(outFDs[0], stream: 1)
        pump(errFDs[0], stream: 2)
        group.enter()
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
            // Exited: the code; killed by a signal: 128 + the signal, as shells report it.
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            // What the child left running in its group (helm's own children) goes with it.
            releaseLifeline()
            lock.withLock { exitStatus = code; finished = true }
            group.leave()
        }
        let deadline = DispatchTime.now() + request.timeout
        DispatchQueue.global().asyncAfter(deadline: deadline) { [weak self] in self?.stop(reason: .timedOut) }
    }

    /// The watchdog's program: it ignores the signals a stop sends the group, waits for EOF on
    /// stdin (the lifeline), then kills its process group (`$1`), itself included.
    static let watchdogScript = "trap '' INT TERM HUP QUIT; read _; kill -KILL -\"$1\""

    /// Starts a watchdog in the child's process group; returns the lifeline's write end, or -1
    /// when no watchdog could be started (the child then runs without one).
    private static func startWatchdog(group: pid_t) -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, group)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        let arguments: [String] = ["/bin/sh", "-c", watchdogScript, "ethstack-watchdog", String(group)]
        let argv = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var watchdog: pid_t = 0
        let rc = posix_spawn(&watchdog, "/bin/sh", &actions, &attributes, argv, envp)
        close(fds[0])
        guard rc == 0 else { close(fds[1]); return -1 }
        let spawned = watchdog
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
        }
        return fds[1]
    }

    /// Closes the lifeline: the watchdog kills what is left of the child's process group.
    private func releaseLifeline() {
        let fd = lock.withLock { () -> Int32 in
            let fd = lifeline
            lifeline = -1
            return fd
        }
        if fd >= 0 { close(fd) }
    }

    /// glibc ≥ 2.29 has it; Swift's Glibc module does not import it.
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
    private static let addChdir: AddChdir? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(sym, to: AddChdir.self)
    }()

    private func pump(_ fd: Int32, stream: Int) {
        group.enter()
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                received(Data(buffer[0..<n]), stream: stream)
            }
            flush(stream: stream)
            close(fd)
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
        let rest = lock.withLock { () -> Data in
            let r = partial[stream] ?? Data()
            partial[stream] = nil
            return r
        }
        if !rest.isEmpty { emit([String(decoding: rest, as: UTF8.self)]) }
    }

    private func emit(_ lines: [String]) {
        guard let progress = request.progress else { return }
        for line in lines {
            let text = Subprocess.redact(line.trimmingCharacters(in: .whitespacesAndNewlines), request.redactions, prefixes: request.secretPrefixes)
            if !text.isEmpty { progress(text) }
        }
    }

    /// SIGTERM to the child's process group now, SIGKILL after the grace period if it still runs.
    package func stop(reason: StopReason) {
        let proceed = lock.withLock { () -> Bool in
            if finished || self.reason != .none { return false }
            self.reason = reason
            return true
        }
        guard proceed else { return }
        kill(-pid, SIGTERM)
        kill(pid, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + request.killGrace) { [self] in
            if !lock.withLock({ finished }) {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
            }
        }
    }

    package func wait() async throws -> SubprocessResult {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
        return finish()
    }

    private func finish() -> SubprocessResult {
        lock.withLock {
            SubprocessResult(status: exitStatus,
                             stdout: Subprocess.redact(String(decoding: out, as: UTF8.self), request.redactions, prefixes: request.secretPrefixes),
                             stderr: Subprocess.redact(String(decoding: err, as: UTF8.self), request.redactions, prefixes: request.secretPrefixes),
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

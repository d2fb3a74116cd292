import AWSProvider
import EthstackEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import EthstackHTTP
import EthstackModel
import EthstackProviderAPI

/// Real servers for the AWS tests: one moto_server per test process (started on first use, on a
/// free port, killed at exit), and fault-injecting proxies in front of it. Each test works in its
/// own region (moto keeps regions apart) or with its own names, so tests run in parallel.
enum AWSTestServers {
    static let supportDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Support")

    /// The path of an executable on PATH.
    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Whether the moto suites run: moto_server and python3 are on PATH, or CI=true (where their
    /// absence must fail the run, not skip it).
    static var motoAvailable: Bool { TestTools.suiteRuns(toolFound: which("moto_server") != nil && which("python3") != nil) }
    static let skipMessage = "moto_server is not on PATH (pip install 'moto[server]>=5.2,<5.3')"

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Starts `command` under Tests/Support/watched.py (which kills it if the test process dies).
    static func spawn(_ command: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which("python3") ?? "/usr/bin/python3")
        process.arguments = [supportDirectory.appendingPathComponent("watched.py").path] + command
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        TestProcesses.register(process.processIdentifier)
        return process
    }

    /// The port a server started with port 0 reports on its first line of `out`
    /// ("listening on http://127.0.0.1:PORT"): no pre-picked port another test can take meanwhile.
    /// Reading ends with the line, or when the process is stopped after `timeout` seconds.
    static func reportedPort(of process: Process, out: Pipe, timeout: Double = 60) async -> (port: Int?, line: String) {
        let reader = out.fileHandleForReading
        let watchdog = Task { try await Task.sleep(for: .seconds(timeout)); if process.isRunning { process.terminate() } }
        let line: String = await withCheckedContinuation { done in
            // A Dispatch thread, not one of the Swift pool's: the read blocks.
            DispatchQueue.global().async {
                var bytes = Data()
                while !bytes.contains(UInt8(ascii: "\n")) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    bytes.append(chunk)
                }
                done.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
        }
        watchdog.cancel()
        let digits = line.components(separatedBy: "listening on http://127.0.0.1:").dropFirst().first?.prefix { $0.isNumber } ?? ""
        return (Int(digits), line)
    }

    /// Waits until something answers HTTP on the URL.
    static func waitUntilAnswering(_ url: String, timeout: Double = 60) async throws {
        var options = HTTPClientOptions()
        options.connectTimeout = 1
        options.log = nil
        let client = HTTPClient(options: options)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? await client.send(HTTPRequest(method: "GET", url: url, timeout: 5))) != nil { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw TestServerError.notReady(url)
    }

    /// The shared moto_server's base URL.
    static func moto() async throws -> String { try await MotoServer.shared.start() }

    /// A fault proxy in front of moto answering `faults` first (see Tests/Support/fault_proxy.py).
    static func faultProxy(_ faults: [String], rewrite: String = "") async throws -> (url: String, process: Process) {
        let upstream = try await moto()
        let port = freePort()
        let process = try spawn([which("python3") ?? "python3", supportDirectory.appendingPathComponent("fault_proxy.py").path, String(port), upstream,
                                 faults.joined(separator: ","), rewrite])
        let url = "http://127.0.0.1:\(port)"
        try await waitUntilAnswering(url + "/__proxy/stats")
        return (url, process)
    }

    /// An `aws` provider pointed at `endpoint` with dummy credentials and fast retries.
    static func provider(region: String, endpoint: String, extra: [String: Value] = [:]) async throws -> any ConfiguredProvider {
        let provider = AWSProvider(environment: [
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "HOME": "/nonexistent",
        ])
        var values: [String: Value] = ["region": .string(region), "retry_base_delay": 0.01, "dependency_timeout": 2]
        values.merge(extra) { _, new in new }
        return try await provider.configure(ProviderConfiguration(values: values, stackName: "aws-test", baseDirectory: "/tmp"))
    }

    static func provider(region: String, extra: [String: Value] = [:]) async throws -> any ConfiguredProvider {
        try await provider(region: region, endpoint: try await moto(), extra: extra)
    }
}

enum TestServerError: Error { case notReady(String), missing(String) }

/// Kills the servers the tests started when the test process exits.
enum TestProcesses {
    nonisolated(unsafe) private static var pids: [pid_t] = []
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed = false

    static func register(_ pid: pid_t) {
        lock.lock()
        defer { lock.unlock() }
        pids.append(pid)
        if !installed {
            installed = true
            atexit { TestProcesses.killAll() }
        }
    }

    static func killAll() {
        lock.lock()
        defer { lock.unlock() }
        for pid in pids { kill(pid, SIGTERM) }
        pids.removeAll()
    }
}

actor MotoServer {
    static let shared = MotoServer()
    private var url: String?
    private var starting: Task<String, any Error>?

    func start() async throws -> String {
        if let url { return url }
        if let starting { return try await starting.value }
        let task = Task<String, any Error> {
            // Under CI=true the suites run without it, and fail here at once.
            guard let motoServer = AWSTestServers.which("moto_server") else { throw TestServerError.missing(AWSTestServers.skipMessage) }
            let port = AWSTestServers.freePort()
            _ = try AWSTestServers.spawn([motoServer, "-H", "127.0.0.1", "-p", String(port)],
                                         environment: ["MOTO_IAM_LOAD_MANAGED_POLICIES": "true"])
            let url = "http://127.0.0.1:\(port)"
            try await AWSTestServers.waitUntilAnswering(url + "/moto-api/data.json")
            return url
        }
        starting = task
        let value = try await task.value
        url = value
        return value
    }
}

/// A fresh mark for a test create.
func testMark(_ address: String) -> ResourceMark {
    ResourceMark(stack: "aws-test", address: ResourceAddress(stringLiteral: address), token: UUID().uuidString.lowercased())
}

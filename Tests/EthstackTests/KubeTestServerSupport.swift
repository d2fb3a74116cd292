import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KubeTestServer

/// Helpers for the Kubernetes API test server's own tests: HTTP calls, real client processes.
enum KTS {
    struct HTTPResult {
        var code: Int
        var body: Data
        var json: KubeJSON? { try? KubeJSON.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func request(_ server: KubeTestServer, _ method: String, _ path: String, body: KubeJSON? = nil, raw: String? = nil,
                        contentType: String = "application/json", timeout: Double = 10) async throws -> HTTPResult {
        guard let url = URL(string: server.url + path) else { throw KTSError("bad url \(path)") }
        var req = URLRequest(url: url, timeoutInterval: timeout)
        req.httpMethod = method
        req.setValue("ethstack-tests/1.0", forHTTPHeaderField: "User-Agent")
        if let body { req.httpBody = body.data } else if let raw { req.httpBody = Data(raw.utf8) }
        if body != nil || raw != nil { req.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await URLSession.shared.data(for: req)
        return HTTPResult(code: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
    }

    struct KTSError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    struct ProcessResult {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs an executable with an argument vector (never a shell), bounded by `timeout` seconds.
    static func run(_ executable: String, _ args: [String], env: [String: String], cwd: String? = nil,
                    timeout: Double = 60) async throws -> ProcessResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kts-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = env
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                timedOut = true
                p.terminate()
                try await Task.sleep(for: .milliseconds(500))
                if p.isRunning { kill(p.processIdentifier, SIGKILL) }
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        p.waitUntilExit()
        try? out.close(); try? err.close()
        return ProcessResult(status: p.terminationStatus,
                             stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                             stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "", timedOut: timedOut)
    }

    static func tempDir(_ prefix: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A kubeconfig file pointing at the server over plain HTTP.
    static func kubeconfig(_ server: KubeTestServer, in dir: String) throws -> String {
        let path = dir + "/kubeconfig"
        try write("""
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster: {server: "\(server.url)"}
        users:
        - name: test
          user: {}
        contexts:
        - name: test
          context: {cluster: test, user: test, namespace: default}
        current-context: test
        """, to: path)
        return path
    }

    static func baseEnv(home: String) -> [String: String] {
        ["HOME": home, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", "NO_COLOR": "1"]
    }

    /// The real kubectl: $ETHSTACK_KUBECTL, the machine's /usr/bin/kubectl, or the one
    /// Tests/Support/install-helm.sh installs beside helm.
    static let kubectl: String = {
        let candidates = [ProcessInfo.processInfo.environment["ETHSTACK_KUBECTL"], "/usr/bin/kubectl",
                          "/opt/ethstack-tools/bin/kubectl"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/kubectl"
    }()

    /// Finds helm: $ETHSTACK_HELM, then PATH, then /opt/ethstack-tools/bin/helm.
    static func helmPath() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let h = env["ETHSTACK_HELM"], FileManager.default.isExecutableFile(atPath: h) { return h }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/helm"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        let fallback = "/opt/ethstack-tools/bin/helm"
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    /// Polls until `check` is true, for at most `timeout` seconds.
    static func eventually(timeout: Double = 5, _ check: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try await check()
    }
}

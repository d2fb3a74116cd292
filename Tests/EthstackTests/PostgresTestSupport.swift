import Foundation
@testable import EthstackEngine
@testable import EthstackState
#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL 15 server for the state tests: `ETHSTACK_TEST_POSTGRES_URL` when set (a
/// superuser's URL), else one throwaway cluster per test process (initdb in a temp dir, run as the
/// `postgres` user when the tests run as root, on 127.0.0.1 and a free port, trust auth except for
/// one password role; stopped and removed at exit). Every test works in its own fresh database.
enum PostgresTestServer {
    static let binDirectory = "/usr/lib/postgresql/15/bin"
    /// A role that must log in with a password (scram-sha-256), only on the local cluster.
    static let passwordRole = "ethstack_password"
    static let passwordRolePassword = "pw-Zq7!secret"

    static var externalURL: String? {
        guard let url = ProcessInfo.processInfo.environment["ETHSTACK_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    /// Whether the PostgreSQL suites run: a server URL or initdb is there, or CI=true (where their
    /// absence must fail the run, not skip it).
    static var available: Bool {
        TestTools.suiteRuns(toolFound: externalURL != nil || FileManager.default.isExecutableFile(atPath: "\(binDirectory)/initdb"))
    }

    /// The URL of a new, empty database (owned by `owner` when given).
    static func freshDatabase(owner: String? = nil) async throws -> String {
        try await PostgresCluster.shared.freshDatabase(owner: owner)
    }

    /// Whether the password role exists (only on the cluster the tests start themselves).
    static var hasPasswordRole: Bool { externalURL == nil }

    /// `url` with its user, password and database replaced.
    static func url(_ url: String, user: String? = nil, password: String? = nil, database: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        if let user { components.user = user }
        if let password { components.password = password }
        components.path = "/" + database
        return components.string ?? url
    }
}

enum PostgresTestError: Error, CustomStringConvertible {
    case setup(String)
    var description: String {
        switch self { case .setup(let m): return "PostgreSQL test server: \(m)" }
    }
}

actor PostgresCluster {
    static let shared = PostgresCluster()

    private var starting: Task<SQLStateStore, any Error>?
    private var adminURL = ""

    /// The admin connection (to the `postgres` database, or the external URL's).
    private func admin() async throws -> SQLStateStore {
        if let starting { return try await starting.value }
        let task = Task<SQLStateStore, any Error> {
            let url: String
            if let external = PostgresTestServer.externalURL { url = external } else { url = try await Self.launch() }
            let store = try SQLStateStore.postgresWithoutMigrating(url)
            // Wait until it accepts connections.
            let deadline = Date().addingTimeInterval(60)
            while true {
                do {
                    try await store.executeRaw("SELECT 1")
                    break
                } catch {
                    if Date() > deadline { throw PostgresTestError.setup("not ready after 60 s: \(error)") }
                    try await Task.sleep(nanoseconds: 100_000_000)
                }
            }
            if PostgresTestServer.externalURL == nil {
                try await store.executeRaw(
                    "CREATE ROLE \(PostgresTestServer.passwordRole) LOGIN PASSWORD '\(PostgresTestServer.passwordRolePassword)'")
            }
            return store
        }
        starting = task
        let store = try await task.value
        adminURL = store.location
        return store
    }

    func freshDatabase(owner: String?) async throws -> String {
        let admin = try await admin()
        let name = "ethstack_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await admin.executeRaw("CREATE DATABASE \(name)" + (owner.map { " OWNER \($0)" } ?? ""))
        let base = PostgresTestServer.externalURL ?? Self.localURL
        return PostgresTestServer.url(base, database: name)
    }

    // MARK: The local cluster

    nonisolated(unsafe) private static var localURL = ""
    nonisolated(unsafe) private static var postmasterPID: pid_t = 0
    nonisolated(unsafe) private static var clusterDirectory = ""

    /// Runs `arguments` as the postgres user when we are root (initdb and postgres refuse root);
    /// setpriv execs, so the pid is the program's own.
    private static func asPostgres(_ arguments: [String]) -> [String] {
        guard getuid() == 0 else { return arguments }
        return ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + arguments
    }

    private static func launch() async throws -> String {
        var template = Array("/tmp/ethstack-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresTestError.setup("mkdtemp failed") }
        let directory = String(cString: made)
        clusterDirectory = directory
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else { throw PostgresTestError.setup("no postgres user (apt-get install postgresql-15)") }
            guard chown(directory, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else { throw PostgresTestError.setup("chown \(directory) failed") }
        }
        _ = chmod(directory, 0o700)
        let data = directory + "/data"
        try runChecked(asPostgres(["\(PostgresTestServer.binDirectory)/initdb", "-D", data, "-A", "trust", "-U", "postgres",
                                   "-E", "UTF8", "--locale=C", "--no-sync"]), in: directory)

        let hba = """
            local all all trust
            host all \(PostgresTestServer.passwordRole) 127.0.0.1/32 scram-sha-256
            host all all 127.0.0.1/32 trust

            """
        try hba.write(toFile: data + "/pg_hba.conf", atomically: false, encoding: .utf8)

        // TLS with a certificate for `localhost` from a throwaway CA, for the sslmode tests.
        let tls = try makeCertificates(in: directory)
        let port = AWSTestServers.freePort()
        let server = Process()
        let serverArguments = asPostgres([
            "\(PostgresTestServer.binDirectory)/postgres", "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", directory,
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
            "-c", "ssl=on", "-c", "ssl_cert_file=\(tls.certificate)", "-c", "ssl_key_file=\(tls.key)",
        ])
        server.executableURL = URL(fileURLWithPath: serverArguments[0])
        server.arguments = Array(serverArguments.dropFirst())
        server.currentDirectoryURL = URL(fileURLWithPath: directory)
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        postmasterPID = server.processIdentifier
        atexit { PostgresCluster.stop() }
        localURL = "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable"
        certificateAuthority = tls.authority
        return localURL
    }

    /// The CA that signed the local cluster's certificate (for `localhost` only); nil with an
    /// external server.
    nonisolated(unsafe) static var certificateAuthority: String?

    /// Runs a setup command (argv[0] is the program) in `directory`; its output is the error when it fails.
    private static func runChecked(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PostgresTestError.setup("\(arguments.prefix(3).joined(separator: " ")) failed: \(text)")
        }
    }

    /// A CA and a server certificate for DNS name `localhost` (not 127.0.0.1), made with openssl;
    /// the key is the postgres user's, 0600, as the server insists.
    private static func makeCertificates(in directory: String) throws -> (authority: String, certificate: String, key: String) {
        let dir = directory + "/tls"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "subjectAltName=DNS:localhost\n".write(toFile: dir + "/san.cnf", atomically: false, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for arguments in [
            ["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ethstack test CA"],
            ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
             "-days", "2", "-extfile", "san.cnf"],
        ] {
            try runChecked(["/usr/bin/openssl"] + arguments, in: dir)
        }
        if getuid() == 0, let pw = getpwnam("postgres") {
            for file in ["", "/server.key", "/server.pem"] { _ = chown(dir + file, pw.pointee.pw_uid, pw.pointee.pw_gid) }
        }
        _ = chmod(dir + "/server.key", 0o600)
        return (dir + "/ca.pem", dir + "/server.pem", dir + "/server.key")
    }

    /// At exit: fast shutdown (disconnects clients), wait for the postmaster, remove the cluster.
    private static func stop() {
        let pid = postmasterPID
        if pid > 0 {
            kill(pid, SIGINT)
            for _ in 0..<200 {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid || kill(pid, 0) != 0 { break }
                usleep(50_000)
            }
        }
        if !clusterDirectory.isEmpty { try? FileManager.default.removeItem(atPath: clusterDirectory) }
    }
}

/// The state key the in-process PostgreSQL stores use (a shared database never falls back to a
/// per-user key file). A fixed test key: never a real secret.
let testStateKeyText = "dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE="
let testStateKeyring = StateKeyring(key: try! StateKey(text: testStateKeyText, source: "the test key"))

import Foundation
@testable import EthstackEngine
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

    static var available: Bool {
        externalURL != nil || FileManager.default.isExecutableFile(atPath: "\(binDirectory)/initdb")
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

    private var starting: Task<PostgresStateStore, any Error>?
    private var adminURL = ""

    /// The admin connection (to the `postgres` database, or the external URL's).
    private func admin() async throws -> PostgresStateStore {
        if let starting { return try await starting.value }
        let task = Task<PostgresStateStore, any Error> {
            let url: String
            if let external = PostgresTestServer.externalURL { url = external } else { url = try await Self.launch() }
            let store = try PostgresStateStore.openWithoutMigrating(url)
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
        adminURL = store.url.redacted
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
        let log = directory + "/initdb.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let initdb = Process()
        let arguments = asPostgres(["\(PostgresTestServer.binDirectory)/initdb", "-D", data, "-A", "trust", "-U", "postgres",
                                    "-E", "UTF8", "--locale=C", "--no-sync"])
        initdb.executableURL = URL(fileURLWithPath: arguments[0])
        initdb.arguments = Array(arguments.dropFirst())
        initdb.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        initdb.standardOutput = output
        initdb.standardError = output
        try initdb.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        initdb.waitUntilExit()
        guard initdb.terminationStatus == 0 else { throw PostgresTestError.setup("initdb failed: \(text)") }

        let hba = """
            local all all trust
            host all \(PostgresTestServer.passwordRole) 127.0.0.1/32 scram-sha-256
            host all all 127.0.0.1/32 trust

            """
        try hba.write(toFile: data + "/pg_hba.conf", atomically: false, encoding: .utf8)

        let port = AWSTestServers.freePort()
        let server = Process()
        let serverArguments = asPostgres([
            "\(PostgresTestServer.binDirectory)/postgres", "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", directory,
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
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
        return localURL
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

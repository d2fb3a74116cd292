import Foundation
import PostgresNIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EthstackModel

/// The team state store: a PostgreSQL database (`postgres://…`) holding any number of stacks, with
/// the same semantics as `SQLiteStateStore` (see state/README.md).
///
/// Everything lives in the schema `ethstack`. Every write is its own small transaction keyed by
/// primary key; `journalFinish` closes the journal row and stores the resource in one transaction.
/// The store holds one connection, used by one operation at a time (concurrent tasks queue), and
/// reconnects when the server closed it. Several processes on several machines share a database:
/// taking a stack's lock runs under a transaction-scoped advisory lock, so two lockers never both win.
///
/// Call `close()` when done with the store.
public final class PostgresStateStore: StateStore, Sendable {
    public let url: PostgresStateURL
    /// The database, password redacted: what errors and listings name.
    public var location: String { url.redacted }

    /// The identity written into locks taken by this process.
    public let holder: String
    public let host: String
    public let pid: Int32

    /// How long a lock attempt sleeps between polls while the stack is locked by someone else.
    public let lockPollInterval: Double

    private let gate: PostgresConnectionGate
    private let logger: Logger

    private init(url: PostgresStateURL, configuration: PostgresConnection.Configuration, lockPollInterval: Double) {
        self.url = url
        self.lockPollInterval = max(0.01, lockPollInterval)
        var logger = Logger(label: "ethstack.state.postgres")
        logger.logLevel = .critical
        self.logger = logger
        gate = PostgresConnectionGate(configuration: configuration, logger: logger)
        holder = SQLiteStateStore.currentUser()
        host = SQLiteStateStore.currentHost()
        pid = getpid()
    }

    /// Connects to the database at `location` (a `postgres://` URL), applies any pending schema
    /// migrations, and refuses a database written by a newer ethstack.
    public static func open(_ location: String, lockPollInterval: Double = 0.15) async throws -> PostgresStateStore {
        let url = try PostgresStateURL(location)
        let configuration: PostgresConnection.Configuration
        do {
            configuration = try makeConfiguration(url)
        } catch {
            throw StateError.database(path: url.redacted, operation: "set up TLS", message: describe(error))
        }
        let store = PostgresStateStore(url: url, configuration: configuration, lockPollInterval: lockPollInterval)
        do {
            try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// A store on `location` that neither checks nor migrates the schema (tests and tooling: e.g.
    /// `CREATE DATABASE` through `executeRaw` on the server's `postgres` database).
    static func openWithoutMigrating(_ location: String) throws -> PostgresStateStore {
        let url = try PostgresStateURL(location)
        return PostgresStateStore(url: url, configuration: try makeConfiguration(url), lockPollInterval: 0.15)
    }

    /// Closes the connection; a later call reconnects.
    public func close() async {
        await gate.close()
    }

    static func makeConfiguration(_ url: PostgresStateURL) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let directory = url.socketDirectory {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(url.port)", username: url.username,
                                  password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            if let root = url.sslRootCert { tlsConfiguration.trustRoots = .file(root) }
            switch url.sslMode {
            case .disable:
                tls = .disable
            case .allow, .prefer, .require:
                // libpq: these encrypt without checking the certificate, unless a root is given
                // (then `require` checks the chain, like verify-ca).
                tlsConfiguration.certificateVerification = url.sslRootCert != nil && url.sslMode == .require
                    ? .noHostnameVerification : .none
                let context = try NIOSSLContext(configuration: tlsConfiguration)
                tls = url.sslMode == .require ? .require(context) : .prefer(context)
            case .verifyCA:
                tlsConfiguration.certificateVerification = .noHostnameVerification
                tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
            case .verifyFull:
                tlsConfiguration.certificateVerification = .fullVerification
                tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
            configuration = .init(host: url.host, port: url.port, username: url.username, password: url.password,
                                  database: url.database, tls: tls)
        }
        configuration.options.connectTimeout = .milliseconds(Int64(url.connectTimeout * 1000))
        return configuration
    }

    // MARK: Connection and transactions

    /// Runs `body` in one transaction on the store's connection: committed when it returns, rolled
    /// back when it throws. Errors other than `StateError` are labelled with `operation`.
    ///
    /// A connection the server dropped while idle (restart, idle timeout, terminated backend) is
    /// noticed at `BEGIN`, before anything was written: then the store reconnects and runs the
    /// whole transaction once more. A connection lost later fails the call (its outcome is unknown:
    /// the journal covers that case) and the next call reconnects.
    /// With `begin` nil, `body` runs outside a transaction (statements such as CREATE DATABASE).
    private func transaction<T>(_ operation: String, begin: String? = "BEGIN",
                                _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let connection: PostgresConnection
            do {
                connection = try await gate.acquire()
            } catch {
                throw wrap(error, operation)
            }
            do {
                if let begin { try await connection.query(PostgresQuery(unsafeSQL: begin), logger: logger) }
            } catch {
                let lost = Self.isConnectionLoss(error)
                await gate.release(discarding: lost ? connection : nil)
                if lost && attempt == 1 { continue }
                throw wrap(error, operation)
            }
            do {
                let result = try await body(connection)
                if begin != nil { try await connection.query("COMMIT", logger: logger) }
                await gate.release(discarding: nil)
                return result
            } catch {
                let lost = Self.isConnectionLoss(error)
                if !lost && begin != nil { _ = try? await connection.query("ROLLBACK", logger: logger) }
                await gate.release(discarding: lost ? connection : nil)
                throw wrap(error, operation)
            }
        }
    }

    /// Reads run in a read-only transaction (one snapshot for several statements).
    private func read<T>(_ operation: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await transaction(operation, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// Whether `error` means the connection is gone (not that a statement failed).
    static func isConnectionLoss(_ error: any Error) -> Bool {
        guard let e = error as? PSQLError else { return false }
        switch e.code {
        case .clientClosedConnection, .serverClosedConnection, .connectionError, .uncleanShutdown:
            return true
        case .server:
            // 57P01-57P03: the server is shutting down or terminated this backend; 08xxx: connection exceptions.
            let state = e.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("57P") || state.hasPrefix("08")
        default:
            return false
        }
    }

    private func rows(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    private func wrap(_ error: any Error, _ operation: String) -> any Error {
        if case StateError.database(Self.unnamed, let inner, let message) = error {
            return StateError.database(path: location, operation: "\(operation) (\(inner))", message: message)
        }
        if error is StateError { return error }
        return StateError.database(path: location, operation: operation, message: Self.describe(error))
    }

    /// What to do about a failed TLS check, which NIOSSL reports in its own terms.
    static func tlsHint(_ error: any Error) -> String? {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "The server's TLS certificate is not signed by a CA this machine trusts: give that CA with "
                + "sslrootcert=FILE in the URL (for Amazon RDS, its CA bundle), or sslmode=require to encrypt without checking"
        }
        if text.contains("failedToValidateHostname") {
            return "The server's TLS certificate does not name the host in the URL (verify-full cannot check an IP "
                + "address): use the host name the certificate was made for, or sslmode=verify-ca with sslrootcert=FILE"
        }
        return nil
    }

    /// What went wrong, from PostgresNIO's errors (whose own description is deliberately generic).
    /// Never includes the password: the server does not echo it, and the URL is not part of errors.
    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                var text = info[.message] ?? "server error"
                if let detail = info[.detail] { text += " (\(detail))" }
                if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
                return text
            }
            var text = "\(e.code)"
            if let underlying = e.underlying {
                text += ": \(underlying)"
                if let hint = tlsHint(underlying) { text += ". " + hint }
            }
            return text
        }
        if let e = error as? PostgresDecodingError {
            return "column \(e.columnName): cannot read \(e.postgresType) as \(e.targetType) (\(e.code))"
        }
        return "\(error)"
    }

    // MARK: Migrations

    /// The schema versions recorded in `ethstack.schema_migrations`, ascending.
    public func appliedMigrations() async throws -> [Int] {
        try await read("schema versions") { c in
            try await rows(c, "SELECT version FROM ethstack.schema_migrations ORDER BY version").map { try $0.decode(Int.self) }
        }
    }

    /// The newest schema version this build of ethstack knows.
    public static var supportedSchemaVersion: Int { PostgresMigrations.latestVersion }

    private func migrate() async throws {
        try await transaction("migrate") { c in
            // One migrator at a time across every client of this database.
            try await c.query("SELECT pg_advisory_xact_lock(hashtextextended('ethstack.migrate', 0))", logger: logger)
            let existing = try await rows(c, "SELECT to_regclass('ethstack.schema_migrations') IS NOT NULL")
            if try existing.first?.decode(Bool.self) != true {
                try await c.query("CREATE SCHEMA IF NOT EXISTS ethstack", logger: logger)
                try await c.query("""
                    CREATE TABLE IF NOT EXISTS ethstack.schema_migrations (
                        version    INTEGER PRIMARY KEY,
                        name       TEXT NOT NULL,
                        applied_at DOUBLE PRECISION NOT NULL
                    )
                    """, logger: logger)
            }
            let found = try await rows(c, "SELECT coalesce(max(version), 0)::bigint FROM ethstack.schema_migrations")
            let current = try found.first?.decode(Int.self) ?? 0
            let supported = PostgresMigrations.latestVersion
            if current > supported {
                throw StateError.newerSchema(path: location, found: current, supported: supported)
            }
            for migration in PostgresMigrations.all where migration.version > current {
                for statement in PostgresMigrations.statements(migration.sql) {
                    try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await c.query("""
                    INSERT INTO ethstack.schema_migrations (version, name, applied_at)
                    VALUES (\(migration.version), \(migration.name), \(Date().timeIntervalSince1970))
                    """, logger: logger)
            }
        }
    }

    // MARK: StateReader

    public func load(stack: String) async throws -> StackState {
        // One snapshot: a concurrent writer's commit is seen whole or not at all.
        try await read("load stack \(stack)") { c in
            let head = try await rows(c, "SELECT lineage, serial FROM ethstack.stacks WHERE name = \(stack)")
            guard let first = head.first else { return StackState.empty(stack) }
            let (lineage, serial) = try first.decode((String, Int).self)
            var state = StackState(name: stack, lineage: lineage, serial: serial)
            let resources = try await rows(c, """
                SELECT \(unescaped: Self.resourceColumns) FROM ethstack.resources WHERE stack = \(stack)
                """)
            state.resources.reserveCapacity(resources.count)
            for row in resources {
                let r = try Self.decodeResource(row)
                state.resources[r.address] = r
            }
            for row in try await rows(c, "SELECT name, value, sensitive FROM ethstack.outputs WHERE stack = \(stack)") {
                let (name, value, sensitive) = try row.decode((String, String, Bool).self)
                state.outputs[name] = OutputState(name: name, value: try Self.decodeJSON(value, "outputs.value of \(name)"),
                                                  sensitive: sensitive)
            }
            return state
        }
    }

    /// One resource of a stack, or nil (a point lookup, without loading the whole stack).
    public func resource(stack: String, address: ResourceAddress) async throws -> ResourceState? {
        try await read("read \(address)") { c in
            try await rows(c, """
                SELECT \(unescaped: Self.resourceColumns) FROM ethstack.resources
                WHERE stack = \(stack) AND address = \(address.description)
                """).first.map(Self.decodeResource)
        }
    }

    public func history(stack: String) async throws -> [HistoryEntry] {
        try await read("history of \(stack)") { c in
            try await rows(c, """
                SELECT serial, who, host, at, command, summary FROM ethstack.history
                WHERE stack = \(stack) ORDER BY serial, id
                """).map { row in
                let (serial, who, host, at, command, summary) = try row.decode((Int, String, String, Double, String, String).self)
                return HistoryEntry(serial: serial, who: who, host: host, when: Date(timeIntervalSince1970: at),
                                    command: command, summary: summary)
            }
        }
    }

    public func unfinishedJournal(stack: String) async throws -> [JournalEntry] {
        try await read("unfinished journal of \(stack)") { c in
            try await rows(c, """
                SELECT \(unescaped: Self.journalColumns) FROM ethstack.journal
                WHERE stack = \(stack) AND finished IS NULL ORDER BY id
                """).map(Self.decodeJournal)
        }
    }

    /// Every journal row of a stack (finished or not), oldest first; `limit` keeps the newest ones.
    public func journal(stack: String, limit: Int? = nil) async throws -> [JournalEntry] {
        try await read("journal of \(stack)") { c in
            try await rows(c, """
                SELECT \(unescaped: Self.journalColumns) FROM ethstack.journal
                WHERE stack = \(stack) ORDER BY id DESC LIMIT \(limit.map { max(0, $0) })
                """).map(Self.decodeJournal).reversed()
        }
    }

    public func stacks() async throws -> [String] {
        try await read("list stacks") { c in
            try await rows(c, "SELECT name FROM ethstack.stacks ORDER BY name").map { try $0.decode(String.self) }
        }
    }

    // MARK: StateWriter

    public func beginRun(stack: String) async throws -> (lineage: String, serial: Int) {
        try await transaction("begin run on \(stack)") { c in
            let now = Date().timeIntervalSince1970
            try await ensureStack(c, stack, now: now)
            let result = try await rows(c, """
                UPDATE ethstack.stacks SET serial = serial + 1, updated = \(now) WHERE name = \(stack)
                RETURNING lineage, serial
                """)
            guard let row = result.first else {
                throw StateError.database(path: location, operation: "begin run", message: "stack row vanished")
            }
            let (lineage, serial) = try row.decode((String, Int).self)
            return (lineage: lineage, serial: serial)
        }
    }

    public func journalStart(stack: String, address: ResourceAddress, type: String, provider: String, action: ProviderOperation,
                             token: String, planned: [String: Value]) async throws -> Int64 {
        try await transaction("journal start \(address)") { c in
            let now = Date().timeIntervalSince1970
            try await ensureStack(c, stack, now: now)
            let result = try await rows(c, """
                INSERT INTO ethstack.journal (stack, address, type, provider, action, token, planned, started)
                VALUES (\(stack), \(address.description), \(type), \(provider), \(action.rawValue), \(token),
                        \(SQLiteStateStore.encodeMap(planned)), \(now))
                RETURNING id
                """)
            guard let row = result.first else {
                throw StateError.database(path: location, operation: "journal start", message: "no id returned")
            }
            return try row.decode(Int64.self)
        }
    }

    public func journalFinish(stack: String, journalID: Int64, outcome: JournalEntry.Outcome, message: String?,
                              store resource: ResourceState?, remove: ResourceAddress?) async throws {
        try await transaction("journal finish \(journalID)") { c in
            let closed = try await rows(c, """
                UPDATE ethstack.journal SET finished = \(Date().timeIntervalSince1970), outcome = \(outcome.rawValue),
                    message = \(message)
                WHERE id = \(journalID) AND stack = \(stack) RETURNING id
                """)
            guard closed.count == 1 else {
                throw StateError.database(path: location, operation: "journal finish",
                                          message: "no journal row \(journalID) for stack \(stack)")
            }
            // Remove first: a replacement may store a resource at the address it removes.
            if let remove {
                try await c.query("DELETE FROM ethstack.resources WHERE stack = \(stack) AND address = \(remove.description)",
                                  logger: logger)
            }
            if let resource { try await upsertResource(c, stack, resource) }
        }
    }

    /// Closes an unfinished journal row (recovery after a crash); throws if there is no such row.
    public func closeJournal(id: Int64, outcome: JournalEntry.Outcome, message: String?) async throws {
        try await transaction("close journal \(id)") { c in
            let closed = try await rows(c, """
                UPDATE ethstack.journal SET finished = \(Date().timeIntervalSince1970), outcome = \(outcome.rawValue),
                    message = \(message)
                WHERE id = \(id) RETURNING id
                """)
            guard closed.count == 1 else {
                throw StateError.database(path: location, operation: "close journal", message: "no journal row \(id)")
            }
        }
    }

    public func putResource(stack: String, _ resource: ResourceState) async throws {
        try await transaction("store \(resource.address)") { c in
            try await ensureStack(c, stack, now: Date().timeIntervalSince1970)
            try await upsertResource(c, stack, resource)
        }
    }

    public func removeResource(stack: String, address: ResourceAddress) async throws {
        try await transaction("remove \(address)") { c in
            let removed = try await rows(c, """
                DELETE FROM ethstack.resources WHERE stack = \(stack) AND address = \(address.description) RETURNING address
                """)
            if removed.isEmpty { throw StateError.notFound(address) }
        }
    }

    /// Renames a resource in state. Other resources' `dependencies` are not rewritten.
    public func moveResource(stack: String, from: ResourceAddress, to: ResourceAddress) async throws {
        try await transaction("move \(from) to \(to)") { c in
            guard try await exists(c, stack, from) else { throw StateError.notFound(from) }
            if from == to { return }
            guard try await !exists(c, stack, to) else { throw StateError.alreadyExists(to) }
            try await c.query("""
                UPDATE ethstack.resources SET address = \(to.description) WHERE stack = \(stack) AND address = \(from.description)
                """, logger: logger)
        }
    }

    public func setOutputs(stack: String, _ outputs: [OutputState]) async throws {
        try await transaction("set outputs of \(stack)") { c in
            try await ensureStack(c, stack, now: Date().timeIntervalSince1970)
            try await c.query("DELETE FROM ethstack.outputs WHERE stack = \(stack)", logger: logger)
            for output in outputs {
                let sensitive = output.sensitive || output.value.containsSensitive
                try await c.query("""
                    INSERT INTO ethstack.outputs (stack, name, value, sensitive)
                    VALUES (\(stack), \(output.name), \(SQLiteStateStore.encode(output.value)), \(sensitive))
                    ON CONFLICT (stack, name) DO UPDATE SET value = EXCLUDED.value, sensitive = EXCLUDED.sensitive
                    """, logger: logger)
            }
        }
    }

    public func appendHistory(stack: String, _ entry: HistoryEntry) async throws {
        try await transaction("append history of \(stack)") { c in
            try await ensureStack(c, stack, now: Date().timeIntervalSince1970)
            try await c.query("""
                INSERT INTO ethstack.history (stack, serial, who, host, at, command, summary)
                VALUES (\(stack), \(entry.serial), \(entry.who), \(entry.host), \(entry.when.timeIntervalSince1970),
                        \(entry.command), \(entry.summary))
                """, logger: logger)
        }
    }

    // MARK: StateLocker

    public func lock(stack: String, operation: String, timeout: Double, ttl: Double,
                     onTakeover: @Sendable (LockInfo) -> Void) async throws -> LockInfo {
        let deadline = Date().addingTimeInterval(max(0, timeout))
        while true {
            switch try await tryLock(stack: stack, operation: operation, ttl: ttl) {
            case .acquired(let info, let previous):
                if let previous { onTakeover(previous) }
                return info
            case .held(let current):
                let remaining = deadline.timeIntervalSinceNow
                if remaining <= 0 { throw StateError.locked(current) }
                try await Task.sleep(nanoseconds: UInt64(min(lockPollInterval, remaining) * 1e9))
            }
        }
    }

    private enum LockAttempt {
        case acquired(LockInfo, tookOver: LockInfo?)
        case held(LockInfo)
    }

    /// One attempt, race-free across machines: the transaction-scoped advisory lock on the stack's
    /// name serializes every attempt on that stack (whether or not a row exists yet), and times come
    /// from the server's clock so lockers on machines whose clocks disagree agree on expiry.
    private func tryLock(stack: String, operation: String, ttl: Double) async throws -> LockAttempt {
        try await transaction("lock \(stack)") { c in
            try await c.query("SELECT pg_advisory_xact_lock(hashtextextended(\("ethstack.lock:" + stack), 0))", logger: logger)
            let now = try await serverNow(c)
            var previous: LockInfo?
            if let row = try await rows(c, "SELECT \(unescaped: Self.lockColumns) FROM ethstack.locks WHERE stack = \(stack) FOR UPDATE").first {
                let current = try Self.decodeLock(row)
                guard current.expires <= now || (current.host == host && !SQLiteStateStore.processIsAlive(current.pid)) else {
                    return .held(current)
                }
                try await c.query("DELETE FROM ethstack.locks WHERE id = \(current.id)", logger: logger)
                previous = current
            }
            // ttl <= 0: the lock never expires (only a dead holder or `release` frees it).
            let expires = ttl > 0 ? now.addingTimeInterval(ttl) : Date.distantFuture
            let info = LockInfo(id: UUID().uuidString.lowercased(), stack: stack, holder: holder, pid: pid, host: host,
                                operation: operation, created: now, expires: expires)
            try await insertLock(c, info)
            return .acquired(info, tookOver: previous)
        }
    }

    public func unlock(_ lock: LockInfo) async throws {
        _ = try await transaction("unlock \(lock.stack)") { c in
            try await c.query("DELETE FROM ethstack.locks WHERE id = \(lock.id) AND stack = \(lock.stack)", logger: logger)
        }
    }

    public func locks() async throws -> [LockInfo] {
        try await read("list locks") { c in
            try await rows(c, "SELECT \(unescaped: Self.lockColumns) FROM ethstack.locks ORDER BY stack").map(Self.decodeLock)
        }
    }

    public func release(lockID: String) async throws {
        try await transaction("release lock \(lockID)") { c in
            let released = try await rows(c, "DELETE FROM ethstack.locks WHERE id = \(lockID) RETURNING id")
            if released.isEmpty { throw StateError.noSuchLock(lockID) }
        }
    }

    /// Pushes a held lock's expiry to now (the server's clock) + `ttl`; throws `noSuchLock` when
    /// the lock is no longer held (released or taken over).
    public func renew(_ lock: LockInfo, ttl: Double) async throws -> LockInfo {
        try await transaction("renew lock \(lock.id)") { c in
            var renewed = lock
            if ttl > 0 {
                renewed.expires = try await serverNow(c).addingTimeInterval(ttl)
            } else {
                renewed.expires = Date.distantFuture
            }
            let changed = try await rows(c, """
                UPDATE ethstack.locks SET expires = \(renewed.expires.timeIntervalSince1970)
                WHERE id = \(lock.id) AND stack = \(lock.stack) RETURNING id
                """)
            if changed.isEmpty { throw StateError.noSuchLock(lock.id) }
            return renewed
        }
    }

    /// Writes a lock row as is (tests and tooling: simulating another process's lock).
    func insertLock(_ info: LockInfo) async throws {
        try await transaction("insert lock") { c in try await insertLock(c, info) }
    }

    /// Runs one raw SQL statement (tests and tooling).
    func executeRaw(_ sql: String) async throws {
        _ = try await transaction("execute", begin: nil) { c in
            try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// Runs one raw SQL query and returns its first column as text (tests and tooling; cast in SQL).
    func queryStrings(_ sql: String) async throws -> [String] {
        try await read("query") { c in
            try await rows(c, PostgresQuery(unsafeSQL: sql)).map { try $0.decode(String?.self) ?? "" }
        }
    }

    // MARK: Helpers (called with the connection held)

    private func serverNow(_ c: PostgresConnection) async throws -> Date {
        let result = try await rows(c, "SELECT extract(epoch FROM clock_timestamp())::float8")
        guard let seconds = try result.first?.decode(Double.self) else {
            throw StateError.database(path: location, operation: "read the server's clock", message: "no row")
        }
        return Date(timeIntervalSince1970: seconds)
    }

    private func ensureStack(_ c: PostgresConnection, _ stack: String, now: Double) async throws {
        try await c.query("""
            INSERT INTO ethstack.stacks (name, lineage, serial, created, updated)
            VALUES (\(stack), \(UUID().uuidString.lowercased()), 0, \(now), \(now))
            ON CONFLICT (name) DO NOTHING
            """, logger: logger)
    }

    private func exists(_ c: PostgresConnection, _ stack: String, _ address: ResourceAddress) async throws -> Bool {
        try await !rows(c, "SELECT 1 FROM ethstack.resources WHERE stack = \(stack) AND address = \(address.description)").isEmpty
    }

    private func upsertResource(_ c: PostgresConnection, _ stack: String, _ r: ResourceState) async throws {
        // An attribute carrying a sensitive mark anywhere inside is recorded as sensitive (as in SQLite).
        var sensitive = Set(r.sensitiveAttributes)
        for (name, value) in r.attributes where value.containsSensitive { sensitive.insert(name) }
        try await c.query("""
            INSERT INTO ethstack.resources
                (stack, address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version)
            VALUES (\(stack), \(r.address.description), \(r.type), \(r.provider), \(r.id),
                    \(SQLiteStateStore.encodeMap(r.attributes)), \(SQLiteStateStore.encodeStrings(sensitive.sorted())),
                    \(SQLiteStateStore.encodeStrings(r.dependencies.map(\.description))), \(r.status.rawValue), \(r.schemaVersion))
            ON CONFLICT (stack, address) DO UPDATE SET
                type = EXCLUDED.type, provider = EXCLUDED.provider, id = EXCLUDED.id, attributes = EXCLUDED.attributes,
                sensitive_attributes = EXCLUDED.sensitive_attributes, dependencies = EXCLUDED.dependencies,
                status = EXCLUDED.status, schema_version = EXCLUDED.schema_version
            """, logger: logger)
    }

    private func insertLock(_ c: PostgresConnection, _ info: LockInfo) async throws {
        try await c.query("""
            INSERT INTO ethstack.locks (id, stack, holder, pid, host, operation, created, expires)
            VALUES (\(info.id), \(info.stack), \(info.holder), \(info.pid), \(info.host), \(info.operation),
                    \(info.created.timeIntervalSince1970), \(info.expires.timeIntervalSince1970))
            """, logger: logger)
    }

    // MARK: Decoding

    private static let resourceColumns =
        "address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version"
    private static let journalColumns =
        "id, address, type, provider, action, token, planned, started, finished, outcome, message"
    private static let lockColumns = "id, stack, holder, pid, host, operation, created, expires"

    /// The path of errors made where the store is not known; `wrap` names the database.
    private static let unnamed = "<postgres>"

    private static func corrupt(_ column: String, _ problem: String) -> StateError {
        StateError.database(path: unnamed, operation: "read \(column)", message: "\(column) \(problem)")
    }

    private static func decodeJSON(_ text: String, _ name: String) throws -> Value {
        do {
            return try Value.parseJSON(text)
        } catch {
            throw corrupt(name, "is not valid JSON (\(text.prefix(80)))")
        }
    }

    private static func decodeMap(_ text: String, _ name: String) throws -> [String: Value] {
        switch try decodeJSON(text, name) {
        case .map(let m): return m
        case .null: return [:]
        default: throw corrupt(name, "is not a JSON object")
        }
    }

    private static func decodeStrings(_ text: String, _ name: String) throws -> [String] {
        switch try decodeJSON(text, name) {
        case .null: return []
        case .list(let items):
            return try items.map { item in
                guard case .string(let s) = item else { throw corrupt(name, "is not a JSON list of strings") }
                return s
            }
        default: throw corrupt(name, "is not a JSON list of strings")
        }
    }

    private static func decodeAddress(_ text: String, _ name: String) throws -> ResourceAddress {
        guard let address = ResourceAddress(text) else { throw corrupt(name, "has an invalid address \"\(text)\"") }
        return address
    }

    private static func decodeResource(_ row: PostgresRow) throws -> ResourceState {
        let (addressText, type, provider, id, attributes, sensitive, dependencies, statusText, schemaVersion) =
            try row.decode((String, String, String, String, String, String, String, String, Int).self)
        let address = try decodeAddress(addressText, "resources.address")
        guard let status = ResourceState.Status(rawValue: statusText) else {
            throw corrupt("resources.status", "of \(address) is \"\(statusText)\"")
        }
        return ResourceState(
            address: address, type: type, provider: provider, id: id,
            attributes: try decodeMap(attributes, "resources.attributes of \(address)"),
            sensitiveAttributes: try decodeStrings(sensitive, "resources.sensitive_attributes of \(address)"),
            dependencies: try decodeStrings(dependencies, "resources.dependencies of \(address)").map {
                try decodeAddress($0, "resources.dependencies of \(address)")
            },
            status: status, schemaVersion: schemaVersion)
    }

    private static func decodeJournal(_ row: PostgresRow) throws -> JournalEntry {
        let (id, address, type, provider, action, token, planned, started, finished, outcomeText, message) =
            try row.decode((Int64, String, String, String, String, String, String, Double, Double?, String?, String?).self)
        var outcome: JournalEntry.Outcome?
        if let outcomeText {
            guard let o = JournalEntry.Outcome(rawValue: outcomeText) else {
                throw corrupt("journal.outcome", "of row \(id) is \"\(outcomeText)\"")
            }
            outcome = o
        }
        return JournalEntry(
            id: id, address: try decodeAddress(address, "journal.address"), type: type, provider: provider,
            action: try ProviderOperation(journalText: action), token: token, planned: try decodeMap(planned, "journal.planned of row \(id)"),
            started: Date(timeIntervalSince1970: started), finished: finished.map(Date.init(timeIntervalSince1970:)),
            outcome: outcome, message: message)
    }

    private static func decodeLock(_ row: PostgresRow) throws -> LockInfo {
        let (id, stack, holder, pid, host, operation, created, expires) =
            try row.decode((String, String, String, Int32, String, String, Double, Double).self)
        return LockInfo(id: id, stack: stack, holder: holder, pid: pid, host: host, operation: operation,
                        created: Date(timeIntervalSince1970: created), expires: Date(timeIntervalSince1970: expires))
    }
}

/// The store's one connection, lent to one operation at a time (FIFO); (re)connects on demand.
actor PostgresConnectionGate {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var nextID = 1

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Waits for the connection, connecting if there is none (or the server closed it). The caller
    /// must `release()` it.
    func acquire() async throws -> PostgresConnection {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
        if let connection, !connection.isClosed { return connection }
        do {
            if let stale = connection {
                connection = nil
                try? await stale.close()
            }
            let fresh = try await PostgresConnection.connect(configuration: configuration, id: nextID, logger: logger)
            nextID += 1
            connection = fresh
            return fresh
        } catch {
            release(discarding: nil)
            throw error
        }
    }

    /// Hands the connection to the next waiter; `discarding` a connection that was lost closes it,
    /// so the next `acquire` reconnects.
    func release(discarding lost: PostgresConnection?) {
        if let lost, lost === connection {
            connection = nil
            lost.close().whenComplete { _ in _ = lost }
        }
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    func close() async {
        guard let connection else { return }
        self.connection = nil
        try? await connection.close()
    }

    deinit {
        // A store dropped without close(): close the connection, keeping it alive until it is closed.
        if let connection, !connection.isClosed {
            connection.close().whenComplete { _ in _ = connection }
        }
    }
}

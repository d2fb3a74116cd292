import EthstackModel
import EthstackEngine
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state store: a SQL database holding any number of stacks, over a `SQLDriver` (SQLite for the
/// embedded default, PostgreSQL for teams). See state/README.md for the tables and their meaning.
///
/// Every write is its own small transaction keyed by primary key (a resource result never rewrites
/// the whole state); `journalFinish` closes the journal row and stores the resource in one
/// transaction. The driver runs one transaction at a time on its connection, so the store can be
/// shared by many concurrent tasks; several processes (or machines, with PostgreSQL) may share a
/// database: lock attempts are serialized by the database.
///
/// Call `close()` when done with the store.
public final class SQLStateStore: StateStore, Sendable {
    let driver: any SQLDriver
    private var dialect: SQLDialect { driver.dialect }

    /// The database — a file path, or a URL with its password redacted: what errors and listings name.
    public var location: String { driver.location }

    /// The identity written into locks taken by this process.
    public let holder: String
    public let host: String
    public let pid: Int32

    /// How long a lock attempt waits (`Task.sleep`) between polls while the stack is locked by someone else.
    public let lockPollInterval: Double

    /// Seals sensitive attributes, outputs and planned values (AES-GCM) with the state key.
    let sealer: StateSealer

    /// The locks this store holds, by stack: every write to such a stack first checks, in its own
    /// transaction, that the lock is still this one (fencing: a run whose lock was taken over
    /// cannot overwrite the new holder's state).
    private let held = HeldLocks()

    init(driver: any SQLDriver, lockPollInterval: Double, keyring: StateKeyring) {
        self.driver = driver
        self.lockPollInterval = max(0.01, lockPollInterval)
        sealer = StateSealer(keyring: keyring)
        holder = Self.currentUser()
        host = Self.currentHost()
        pid = getpid()
    }

    // MARK: Opening

    /// Whether `location` (a `--state` value or `$ETHSTACK_STATE`) names a PostgreSQL database.
    public static func isPostgres(_ location: String) -> Bool { PostgresStateURL.isPostgres(location) }

    /// Opens the state at `location`: a `postgres://` URL, or a SQLite database path (created if
    /// missing). Applies pending schema migrations and refuses a database written by a newer ethstack.
    /// `keyring` finds the key that seals sensitive values (default: `StateKeyring`'s search, with
    /// the per-user key file as a fallback for SQLite only).
    public static func open(_ location: String, lockPollInterval: Double = 0.15,
                            keyring: StateKeyring? = nil) async throws -> SQLStateStore {
        if isPostgres(location) { return try await postgres(location, lockPollInterval: lockPollInterval, keyring: keyring) }
        return try await sqlite(path: location, lockPollInterval: lockPollInterval, keyring: keyring)
    }

    /// Opens (creating it and its parent directories if needed) the SQLite database at `path`;
    /// `:memory:` opens a private in-memory database.
    public static func sqlite(path: String, busyTimeoutMilliseconds: Int = 5000,
                              lockPollInterval: Double = 0.15, keyring: StateKeyring? = nil) async throws -> SQLStateStore {
        let driver = try await SQLiteDriver(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        return try await migrated(SQLStateStore(driver: driver, lockPollInterval: lockPollInterval,
                                                keyring: keyring ?? StateKeyring(fallback: .userKeyFile)))
    }

    /// A private in-memory SQLite store, for tests.
    public static func inMemory(keyring: StateKeyring? = nil) async throws -> SQLStateStore {
        try await sqlite(path: ":memory:", keyring: keyring)
    }

    /// Connects to the PostgreSQL database at `location` (a `postgres://` URL).
    public static func postgres(_ location: String, lockPollInterval: Double = 0.15,
                                keyring: StateKeyring? = nil) async throws -> SQLStateStore {
        let driver = PostgresDriver(url: try PostgresStateURL(location))
        return try await migrated(SQLStateStore(driver: driver, lockPollInterval: lockPollInterval,
                                                keyring: keyring ?? StateKeyring(fallback: .none)))
    }

    /// A PostgreSQL store that neither checks nor migrates the schema (tests and tooling: e.g.
    /// `CREATE DATABASE` through `executeRaw` on the server's `postgres` database).
    static func postgresWithoutMigrating(_ location: String) throws -> SQLStateStore {
        SQLStateStore(driver: PostgresDriver(url: try PostgresStateURL(location)), lockPollInterval: 0.15,
                      keyring: StateKeyring(fallback: .none))
    }

    private static func migrated(_ store: SQLStateStore) async throws -> SQLStateStore {
        do {
            try store.sealer.keyring.checkConfigured()
            try await store.migrate()
            return store
        } catch {
            await store.close()
            throw error
        }
    }

    /// Closes the connection: a later call fails (SQLite) or reconnects (PostgreSQL).
    public func close() async { await driver.close() }

    /// Runs `body` on the driver's connection in a transaction of `kind`; database errors are
    /// labelled with `operation` and name the database.
    private func run<T: Sendable>(_ operation: String, _ kind: SQLTransaction,
                                  _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        do {
            return try await driver.run(kind, body)
        } catch StateError.database(_, let inner, let message) {
            throw StateError.database(path: location, operation: "\(operation) (\(inner))", message: message)
        }
    }

    /// Runs `body` in a write transaction on `stack` that first checks the fence: when this store
    /// holds the stack's lock, the lock row must still be that one.
    private func write<T: Sendable>(_ operation: String, stack: String,
                                    _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        guard let lockID = held.id(for: stack) else { return try await run(operation, .write, body) }
        let forUpdate = dialect.forUpdate
        return try await run(operation, .write) { c in
            let current = try c.query("SELECT \(Self.lockColumns) FROM locks WHERE stack = ?\(forUpdate)", [.text(stack)])
                .first.map(Self.decodeLock)
            guard current?.id == lockID else { throw StateError.lockLost(stack: stack, lockID: lockID, now: current) }
            return try body(c)
        }
    }

    // MARK: Migrations

    /// The schema versions recorded in `schema_migrations`, ascending.
    public func appliedMigrations() async throws -> [Int] {
        try await run("schema versions", .read) { c in
            try c.query("SELECT version FROM schema_migrations ORDER BY version").map {
                Int(try $0.requiredInt(0, "schema_migrations.version"))
            }
        }
    }

    /// In one transaction: creates `schema_migrations` if missing, refuses a newer schema, applies
    /// and records every migration newer than the highest recorded one.
    private func migrate() async throws {
        let dialect = dialect, location = location
        try await run("migrate", .write) { c in
            for statement in dialect.prepareMigrations { try c.executeScript(statement) }
            let current = Int(try c.query("SELECT max(version) FROM schema_migrations").first?.int64(0) ?? 0)
            let supported = dialect.migrations.last?.version ?? 0
            if current > supported {
                throw StateError.newerSchema(path: location, found: current, supported: supported)
            }
            for migration in dialect.migrations where migration.version > current {
                for statement in dialect.migrationStatements(migration.sql) { try c.executeScript(statement) }
                try c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                              [.int(migration.version), .text(migration.name), .date(Date())])
            }
        }
    }

    // MARK: StateReader

    public func load(stack: String) async throws -> StackState {
        // One snapshot: a concurrent writer's commit is seen whole or not at all.
        let sealer = sealer
        return try await run("load stack \(stack)", .read) { c in
            let head = try c.query("SELECT lineage, serial FROM stacks WHERE name = ?", [.text(stack)])
            guard let row = head.first else { return StackState.empty(stack) }
            var state = StackState(name: stack, lineage: try row.requiredText(0, "stacks.lineage"),
                                   serial: Int(try row.requiredInt(1, "stacks.serial")))
            let resources = try c.query("SELECT \(Self.resourceColumns) FROM resources WHERE stack = ?", [.text(stack)])
            state.resources.reserveCapacity(resources.count)
            for row in resources {
                let r = try Self.decodeResource(row, stack: stack, sealer: sealer)
                state.resources[r.address] = r
            }
            for row in try c.query("SELECT name, value, sensitive FROM outputs WHERE stack = ?", [.text(stack)]) {
                let name = try row.requiredText(0, "outputs.name")
                let text = try row.requiredText(1, "outputs.value of \(name)")
                let value = StateSealer.isSealed(text) ? try sealer.open(text, stack: stack, column: "outputs.value")
                                                       : try Self.decodeJSON(row, 1, "outputs.value of \(name)")
                state.outputs[name] = OutputState(name: name, value: value,
                                                  sensitive: try row.requiredBool(2, "outputs.sensitive"))
            }
            return state
        }
    }

    /// One resource of a stack, or nil (a point lookup, without loading the whole stack).
    public func resource(stack: String, address: ResourceAddress) async throws -> ResourceState? {
        let sealer = sealer
        return try await run("read \(address)", .read) { c in
            try c.query("SELECT \(Self.resourceColumns) FROM resources WHERE stack = ? AND address = ?",
                        [.text(stack), .text(address.description)]).first.map { try Self.decodeResource($0, stack: stack, sealer: sealer) }
        }
    }

    public func history(stack: String) async throws -> [HistoryEntry] {
        try await run("history of \(stack)", .read) { c in
            try c.query("SELECT serial, who, host, at, command, summary FROM history WHERE stack = ? ORDER BY serial, id",
                        [.text(stack)]).map { row in
                HistoryEntry(serial: Int(try row.requiredInt(0, "history.serial")),
                             who: try row.requiredText(1, "history.who"),
                             host: try row.requiredText(2, "history.host"),
                             when: try row.requiredDate(3, "history.at"),
                             command: try row.requiredText(4, "history.command"),
                             summary: try row.requiredText(5, "history.summary"))
            }
        }
    }

    public func unfinishedJournal(stack: String) async throws -> [JournalEntry] {
        let sealer = sealer
        return try await run("unfinished journal of \(stack)", .read) { c in
            try c.query("SELECT \(Self.journalColumns) FROM journal WHERE stack = ? AND finished IS NULL ORDER BY id",
                        [.text(stack)]).map { try Self.decodeJournal($0, stack: stack, sealer: sealer) }
        }
    }

    /// Every journal row of a stack (finished or not), oldest first; `limit` keeps the newest ones.
    public func journal(stack: String, limit: Int? = nil) async throws -> [JournalEntry] {
        let sealer = sealer
        return try await run("journal of \(stack)", .read) { c in
            Array(try c.query("SELECT \(Self.journalColumns) FROM journal WHERE stack = ? ORDER BY id DESC LIMIT ?",
                              [.text(stack), .integer(limit.map { Int64(max(0, $0)) } ?? Int64.max)])
                .map { try Self.decodeJournal($0, stack: stack, sealer: sealer) }.reversed())
        }
    }

    public func stacks() async throws -> [String] {
        try await run("list stacks", .read) { c in
            try c.query("SELECT name FROM stacks ORDER BY name").map { try $0.requiredText(0, "stacks.name") }
        }
    }

    // MARK: StateWriter

    public func beginRun(stack: String) async throws -> (lineage: String, serial: Int) {
        try await write("begin run on \(stack)", stack: stack) { c in
            let now = Date()
            try Self.ensureStack(c, stack, now: now)
            // Closed journal rows are kept for a while (what happened, for a person reading it);
            // their sealed values were dropped when they closed.
            try c.execute("""
                DELETE FROM journal WHERE stack = ? AND finished IS NOT NULL
                AND id < (SELECT COALESCE(MIN(id), 0) FROM (SELECT id FROM journal WHERE stack = ? ORDER BY id DESC LIMIT \(Self.closedJournalRowsKept)) AS newest)
                """, [.text(stack), .text(stack)])
            let rows = try c.query("UPDATE stacks SET serial = serial + 1, updated = ? WHERE name = ? RETURNING lineage, serial",
                                   [.date(now), .text(stack)])
            guard let row = rows.first else {
                throw StateError.database(path: "", operation: "begin run", message: "stack row vanished")
            }
            return (lineage: try row.requiredText(0, "stacks.lineage"), serial: Int(try row.requiredInt(1, "stacks.serial")))
        }
    }

    public func journalStart(stack: String, address: ResourceAddress, type: String, provider: String, action: ProviderOperation,
                             token: String, planned: [String: Value]) async throws -> Int64 {
        let sealer = sealer
        return try await write("journal start \(address)", stack: stack) { c in
            let now = Date()
            try Self.ensureStack(c, stack, now: now)
            let (clear, sealed) = try Self.split(planned, sensitive: Set(planned.filter { $0.value.containsSensitive }.keys),
                                                 stack: stack, column: "journal.sealed", sealer: sealer)
            let rows = try c.query("""
                INSERT INTO journal (stack, address, type, provider, action, token, planned, started, sealed)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """, [.text(stack), .text(address.description), .text(type), .text(provider), .text(action.rawValue),
                      .text(token), .text(Self.encodeMap(clear)), .date(now), .optionalText(sealed)])
            guard let id = rows.first?.int64(0) else {
                throw StateError.database(path: "", operation: "journal start", message: "no id returned")
            }
            return id
        }
    }

    public func journalFinish(stack: String, journalID: Int64, outcome: JournalEntry.Outcome, message: String?,
                              store resource: ResourceState?, remove: ResourceAddress?) async throws {
        let sealer = sealer
        return try await write("journal finish \(journalID)", stack: stack) { c in
            let changed = try c.execute("UPDATE journal SET finished = ?, outcome = ?, message = ?, sealed = NULL WHERE id = ? AND stack = ?",
                                        [.date(Date()), .text(outcome.rawValue), .optionalText(message),
                                         .integer(journalID), .text(stack)])
            guard changed == 1 else {
                throw StateError.database(path: "", operation: "journal finish",
                                          message: "no journal row \(journalID) for stack \(stack)")
            }
            // Remove first: a replacement may store a resource at the address it removes.
            if let remove {
                try c.execute("DELETE FROM resources WHERE stack = ? AND address = ?", [.text(stack), .text(remove.description)])
            }
            if let resource { try Self.upsertResource(c, stack, resource, sealer: sealer) }
        }
    }

    /// Closes an unfinished journal row (recovery after a crash); throws if there is no such row.
    public func closeJournal(id: Int64, outcome: JournalEntry.Outcome, message: String?) async throws {
        let stack = try await run("journal row \(id)", .read) { c in
            try c.query("SELECT stack FROM journal WHERE id = ?", [.integer(id)]).first?.text(0)
        }
        guard let stack else { throw StateError.database(path: location, operation: "close journal", message: "no journal row \(id)") }
        try await write("close journal \(id)", stack: stack) { c in
            let changed = try c.execute("UPDATE journal SET finished = ?, outcome = ?, message = ?, sealed = NULL WHERE id = ?",
                                        [.date(Date()), .text(outcome.rawValue), .optionalText(message), .integer(id)])
            guard changed == 1 else {
                throw StateError.database(path: "", operation: "close journal", message: "no journal row \(id)")
            }
        }
    }

    public func putResource(stack: String, _ resource: ResourceState) async throws {
        let sealer = sealer
        try await write("store \(resource.address)", stack: stack) { c in
            try Self.ensureStack(c, stack, now: Date())
            try Self.upsertResource(c, stack, resource, sealer: sealer)
        }
    }

    public func removeResource(stack: String, address: ResourceAddress) async throws {
        try await write("remove \(address)", stack: stack) { c in
            let changed = try c.execute("DELETE FROM resources WHERE stack = ? AND address = ?",
                                        [.text(stack), .text(address.description)])
            if changed == 0 { throw StateError.notFound(address) }
        }
    }

    /// Renames a resource in state. Other resources' `dependencies` are not rewritten.
    public func moveResource(stack: String, from: ResourceAddress, to: ResourceAddress) async throws {
        try await write("move \(from) to \(to)", stack: stack) { c in
            guard try Self.exists(c, stack, from) else { throw StateError.notFound(from) }
            if from == to { return }
            guard try !Self.exists(c, stack, to) else { throw StateError.alreadyExists(to) }
            try c.execute("UPDATE resources SET address = ? WHERE stack = ? AND address = ?",
                          [.text(to.description), .text(stack), .text(from.description)])
        }
    }

    public func setOutputs(stack: String, _ outputs: [OutputState]) async throws {
        let sealer = sealer
        try await write("set outputs of \(stack)", stack: stack) { c in
            try Self.ensureStack(c, stack, now: Date())
            try c.execute("DELETE FROM outputs WHERE stack = ?", [.text(stack)])
            for output in outputs {
                let sensitive = output.sensitive || output.value.containsSensitive
                try c.execute("""
                    INSERT INTO outputs (stack, name, value, sensitive) VALUES (?, ?, ?, ?)
                    ON CONFLICT (stack, name) DO UPDATE SET value = excluded.value, sensitive = excluded.sensitive
                    """, [.text(stack), .text(output.name), .text(sensitive ? try sealer.seal(output.value, stack: stack, column: "outputs.value")
                                                                            : Self.encode(output.value)),
                          .bool(sensitive)])
            }
        }
    }

    public func appendHistory(stack: String, _ entry: HistoryEntry) async throws {
        try await write("append history of \(stack)", stack: stack) { c in
            try Self.ensureStack(c, stack, now: Date())
            try c.execute("INSERT INTO history (stack, serial, who, host, at, command, summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [.text(stack), .int(entry.serial), .text(entry.who), .text(entry.host), .date(entry.when),
                           .text(entry.command), .text(entry.summary)])
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

    private enum LockAttempt: Sendable {
        case acquired(LockInfo, tookOver: LockInfo?)
        case held(LockInfo)
    }

    /// One attempt, race-free across clients: the write transaction (SQLite) or a transaction-scoped
    /// advisory lock on the stack's name (PostgreSQL) serializes every attempt on that stack, whether
    /// or not a row exists yet. A lock whose expiry passed, or whose holder ran on this host and is
    /// gone, is taken over.
    private func tryLock(stack: String, operation: String, ttl: Double) async throws -> LockAttempt {
        let dialect = dialect, holder = holder, host = host, pid = pid
        let process = ProcessIdentity.current?.text ?? ""
        let attempt = try await run("lock \(stack)", .write) { c -> LockAttempt in
            if let serialize = dialect.stackLockSQL { _ = try c.query(serialize, [.text("ethstack.lock:" + stack)]) }
            let now = try Self.now(c, dialect)
            var previous: LockInfo?
            if let current = try c.query("SELECT \(Self.lockColumns) FROM locks WHERE stack = ?\(dialect.forUpdate)",
                                         [.text(stack)]).first.map(Self.decodeLock) {
                guard current.expires <= now || ProcessIdentity.holderIsGone(current, host: host) else {
                    return .held(current)
                }
                try c.execute("DELETE FROM locks WHERE id = ?", [.text(current.id)])
                previous = current
            }
            // ttl <= 0: the lock never expires (only a dead holder or `release` frees it).
            let info = LockInfo(id: UUID().uuidString.lowercased(), stack: stack, holder: holder, pid: pid, host: host,
                                operation: operation, created: now, expires: Self.expiry(now, ttl), process: process)
            try Self.insertLock(c, info)
            return .acquired(info, tookOver: previous)
        }
        if case .acquired(let info, _) = attempt { held.set(stack, info.id) }
        return attempt
    }

    public func unlock(_ lock: LockInfo) async throws {
        held.remove(lock.stack, lock.id)
        try await run("unlock \(lock.stack)", .write) { c in
            _ = try c.execute("DELETE FROM locks WHERE id = ? AND stack = ?", [.text(lock.id), .text(lock.stack)])
        }
    }

    public func locks() async throws -> [LockInfo] {
        try await run("list locks", .read) { c in
            try c.query("SELECT \(Self.lockColumns) FROM locks ORDER BY stack").map(Self.decodeLock)
        }
    }

    public func release(lockID: String) async throws {
        held.remove(lockID: lockID)
        try await run("release lock \(lockID)", .write) { c in
            if try c.execute("DELETE FROM locks WHERE id = ?", [.text(lockID)]) == 0 { throw StateError.noSuchLock(lockID) }
        }
    }

    /// Pushes a held lock's expiry to now + `ttl` (for long runs); throws `noSuchLock` when the lock
    /// is no longer held (released or taken over).
    public func renew(_ lock: LockInfo, ttl: Double) async throws -> LockInfo {
        let dialect = dialect
        return try await run("renew lock \(lock.id)", .write) { c in
            var renewed = lock
            renewed.expires = Self.expiry(try Self.now(c, dialect), ttl)
            let changed = try c.execute("UPDATE locks SET expires = ? WHERE id = ? AND stack = ?",
                                        [.date(renewed.expires), .text(lock.id), .text(lock.stack)])
            if changed == 0 { throw StateError.noSuchLock(lock.id) }
            return renewed
        }
    }

    /// Writes a lock row as is (tests and tooling: simulating another process's lock).
    func insertLock(_ info: LockInfo) async throws {
        try await run("insert lock", .write) { c in try Self.insertLock(c, info) }
    }

    // MARK: Keys

    /// What `rekey` did.
    public struct RekeyResult: Sendable { public var values: Int; public var stacks: Int }

    /// In one transaction, re-encrypts every sealed value of every stack with `newKeyring`'s key,
    /// sealing any sensitive value still stored in clear (rows written before encryption at rest).
    /// Refused while any stack is locked: a running apply would go on sealing with the old key.
    public func rekey(to newKeyring: StateKeyring) async throws -> RekeyResult {
        let old = sealer, new = StateSealer(keyring: newKeyring)
        return try await run("rekey", .write) { c in
            if let lock = try c.query("SELECT \(Self.lockColumns) FROM locks ORDER BY stack").first.map(Self.decodeLock) {
                throw StateError.locked(lock)
            }
            var values = 0
            var stacks = Set<String>()
            for row in try c.query("SELECT stack, \(Self.resourceColumns) FROM resources ORDER BY stack, address") {
                let stack = try row.requiredText(0, "resources.stack")
                let r = try Self.decodeResource(SQLRow(Array(row.values.dropFirst())), stack: stack, sealer: old)
                guard !r.sensitiveAttributes.isEmpty else { continue }
                try Self.upsertResource(c, stack, r, sealer: new)
                let sealed = try c.query("SELECT sealed FROM resources WHERE stack = ? AND address = ?",
                                         [.text(stack), .text(r.address.description)]).first?.text(0)
                if sealed != nil { values += 1; stacks.insert(stack) }
            }
            for row in try c.query("SELECT stack, name, value FROM outputs WHERE sensitive = ? ORDER BY stack, name", [.bool(true)]) {
                let stack = try row.requiredText(0, "outputs.stack")
                let name = try row.requiredText(1, "outputs.name")
                let text = try row.requiredText(2, "outputs.value of \(name)")
                let value = StateSealer.isSealed(text) ? try old.open(text, stack: stack, column: "outputs.value")
                                                       : try Self.decodeJSON(row, 2, "outputs.value of \(name)")
                try c.execute("UPDATE outputs SET value = ? WHERE stack = ? AND name = ?",
                              [.text(try new.seal(value, stack: stack, column: "outputs.value")), .text(stack), .text(name)])
                values += 1; stacks.insert(stack)
            }
            for row in try c.query("SELECT id, stack, sealed FROM journal WHERE sealed IS NOT NULL ORDER BY id") {
                let id = try row.requiredInt(0, "journal.id")
                let stack = try row.requiredText(1, "journal.stack")
                let value = try old.open(try row.requiredText(2, "journal.sealed"), stack: stack, column: "journal.sealed")
                try c.execute("UPDATE journal SET sealed = ? WHERE id = ?",
                              [.text(try new.seal(value, stack: stack, column: "journal.sealed")), .integer(id)])
                values += 1; stacks.insert(stack)
            }
            return RekeyResult(values: values, stacks: stacks.count)
        }
    }

    // MARK: Tooling

    /// Runs raw SQL outside a transaction (tests and tooling).
    func executeRaw(_ sql: String) async throws {
        try await run("execute", .none) { c in try c.executeScript(sql) }
    }

    /// Runs a raw query and returns one column of every row as text (tests and tooling).
    func queryStrings(_ sql: String, column: Int = 0) async throws -> [String] {
        try await run("query", .read) { c in try c.query(sql).map { $0.text(column) ?? "" } }
    }

    // MARK: Helpers (run on the connection)

    /// The lock clock: the database server's where there is one, else this machine's.
    private static func now(_ c: any SQLConnection, _ dialect: SQLDialect) throws -> Date {
        guard let clockSQL = dialect.clockSQL else { return storedDate(Date()) }
        return try c.query(clockSQL).first?.requiredDate(0, "the server's clock") ?? storedDate(Date())
    }

    private static func expiry(_ now: Date, _ ttl: Double) -> Date {
        storedDate(ttl > 0 ? now.addingTimeInterval(ttl) : .distantFuture)
    }

    private static func ensureStack(_ c: any SQLConnection, _ stack: String, now: Date) throws {
        try c.execute("INSERT INTO stacks (name, lineage, serial, created, updated) VALUES (?, ?, 0, ?, ?) ON CONFLICT (name) DO NOTHING",
                      [.text(stack), .text(UUID().uuidString.lowercased()), .date(now), .date(now)])
    }

    private static func exists(_ c: any SQLConnection, _ stack: String, _ address: ResourceAddress) throws -> Bool {
        try !c.query("SELECT 1 FROM resources WHERE stack = ? AND address = ?", [.text(stack), .text(address.description)]).isEmpty
    }

    /// How many journal rows of a stack `beginRun` keeps (older closed rows are deleted).
    static let closedJournalRowsKept = 1000

    static let upsertResourceSQL = """
        INSERT INTO resources (stack, address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version, sealed)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (stack, address) DO UPDATE SET
            type = excluded.type, provider = excluded.provider, id = excluded.id, attributes = excluded.attributes,
            sensitive_attributes = excluded.sensitive_attributes, dependencies = excluded.dependencies,
            status = excluded.status, schema_version = excluded.schema_version, sealed = excluded.sealed
        """

    private static func upsertResource(_ c: any SQLConnection, _ stack: String, _ r: ResourceState,
                                       sealer: StateSealer) throws {
        // An attribute carrying a sensitive mark anywhere inside is recorded as sensitive, so a mark
        // the caller forgot to list is never silently lost; sensitive attributes are sealed.
        var sensitive = Set(r.sensitiveAttributes)
        for (name, value) in r.attributes where value.containsSensitive { sensitive.insert(name) }
        var attributes = r.attributes, idColumn = r.id
        // An id made from a secret (a path with a token in it) is sealed with the attributes.
        if r.id.repeatsAny(of: Value.sensitiveStrings(in: sensitive.compactMap { r.attributes[$0]?.markedSensitive })) {
            attributes[sealedIDKey] = .string(r.id)
            idColumn = sealedIDPlaceholder
        }
        let (clear, sealed) = try split(attributes, sensitive: sensitive.union(attributes[sealedIDKey] == nil ? [] : [sealedIDKey]),
                                        stack: stack, column: "resources.sealed", sealer: sealer)
        try c.execute(upsertResourceSQL, [
            .text(stack), .text(r.address.description), .text(r.type), .text(r.provider), .text(idColumn),
            .text(encodeMap(clear)), .text(encodeStrings(sensitive.sorted())),
            .text(encodeStrings(r.dependencies.map(\.description))), .text(r.status.rawValue), .int(r.schemaVersion),
            .optionalText(sealed),
        ])
    }

    private static func insertLock(_ c: any SQLConnection, _ info: LockInfo) throws {
        try c.execute("INSERT INTO locks (id, stack, holder, pid, host, operation, created, expires, process) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      [.text(info.id), .text(info.stack), .text(info.holder), .integer(Int64(info.pid)), .text(info.host),
                       .text(info.operation), .date(info.created), .date(info.expires), .text(info.process)])
    }
}

/// The locks a store holds, by stack (see `SQLStateStore.write`).
final class HeldLocks: @unchecked Sendable {
    private let mutex = NSLock()
    private var ids: [String: String] = [:]

    func id(for stack: String) -> String? { mutex.lock(); defer { mutex.unlock() }; return ids[stack] }
    func set(_ stack: String, _ id: String) { mutex.lock(); ids[stack] = id; mutex.unlock() }
    func remove(_ stack: String, _ id: String) {
        mutex.lock(); if ids[stack] == id { ids[stack] = nil }; mutex.unlock()
    }
    func remove(lockID: String) { mutex.lock(); ids = ids.filter { $0.value != lockID }; mutex.unlock() }
}

import CLibSQLite
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EthstackModel

/// The state store: one SQLite database (WAL mode) holding any number of stacks.
///
/// Every write is its own small transaction keyed by primary key (a resource result never rewrites
/// the whole state). One connection per store, serialized by a lock, so the store can be shared by
/// many concurrent tasks; several processes (or stores) may open the same file, SQLite's file locks
/// and `busy_timeout` arbitrate between them.
public final class SQLiteStateStore: StateStore, @unchecked Sendable {
    /// The database path (`:memory:` for an in-memory store).
    public let path: String
    private let db: SQLiteDatabase
    private let mutex = NSLock()

    /// The identity written into locks taken by this process.
    public let holder: String
    public let host: String
    public let pid: Int32

    /// How long a lock attempt sleeps between polls while the stack is locked by someone else.
    public let lockPollInterval: Double

    /// Opens (creating it and its parent directories if needed) the database at `path`, applies any
    /// pending schema migrations, and refuses a database written by a newer ethstack.
    /// `:memory:` opens a private in-memory database.
    public init(path: String, busyTimeoutMilliseconds: Int = 5000, lockPollInterval: Double = 0.15) throws {
        self.path = path
        self.lockPollInterval = max(0.01, lockPollInterval)
        let inMemory = path == ":memory:" || path.isEmpty
        var created = false
        if !inMemory {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw StateError.database(path: path, operation: "create directory \(parent.path)", message: "\(error)")
            }
            created = !FileManager.default.fileExists(atPath: path)
        }
        db = try SQLiteDatabase(path: path)
        // State holds secrets: a new database file is readable by its owner only (SQLite gives the
        // -wal and -shm files the same permissions).
        if created { _ = chmod(path, 0o600) }
        holder = Self.currentUser()
        host = Self.currentHost()
        pid = getpid()
        try db.execute("PRAGMA busy_timeout = \(max(0, busyTimeoutMilliseconds))")
        if !inMemory { try db.execute("PRAGMA journal_mode = WAL") }
        try db.execute("PRAGMA synchronous = NORMAL")
        try db.execute("PRAGMA foreign_keys = ON")
        try migrate()
    }

    /// A private in-memory store, for tests.
    public static func inMemory() throws -> SQLiteStateStore {
        try SQLiteStateStore(path: ":memory:")
    }

    // MARK: Serialization

    /// Runs `body` holding the connection; database errors are labelled with `operation`.
    private func locked<T>(_ operation: String, _ body: (SQLiteDatabase) throws -> T) throws -> T {
        mutex.lock()
        defer { mutex.unlock() }
        do {
            return try body(db)
        } catch StateError.database(let path, let inner, let message) {
            throw StateError.database(path: path, operation: "\(operation) (\(inner))", message: message)
        }
    }

    // MARK: Migrations

    /// The schema versions recorded in `schema_migrations`, ascending.
    public func appliedMigrations() throws -> [Int] {
        try locked("schema versions") { db in
            try db.query("SELECT version FROM schema_migrations ORDER BY version") { try Int($0.requiredInt(0, "schema_migrations.version")) }
        }
    }

    /// The newest schema version this build of ethstack knows.
    public static var supportedSchemaVersion: Int { StateMigrations.latestVersion }

    private func migrate() throws {
        try locked("migrate") { db in
            try db.transaction {
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version    INTEGER PRIMARY KEY NOT NULL,
                        name       TEXT NOT NULL,
                        applied_at REAL NOT NULL
                    )
                    """)
                let found = try db.query("SELECT max(version) FROM schema_migrations") { $0.int64(0) }.first ?? nil
                let current = Int(found ?? 0)
                let supported = StateMigrations.latestVersion
                if current > supported {
                    throw StateError.newerSchema(path: path, found: current, supported: supported)
                }
                for migration in StateMigrations.all where migration.version > current {
                    try db.execute(migration.sql)
                    try db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                               [.int(migration.version), .text(migration.name), .date(Date())])
                }
            }
        }
    }

    // MARK: StateReader

    public func load(stack: String) throws -> StackState {
        try locked("load stack \(stack)") { db in
            try db.transaction(immediate: false) {
                let head = try db.query("SELECT lineage, serial FROM stacks WHERE name = ?", [.text(stack)]) { row in
                    (try row.requiredText(0, "stacks.lineage"), Int(try row.requiredInt(1, "stacks.serial")))
                }
                guard let (lineage, serial) = head.first else { return StackState.empty(stack) }
                var state = StackState(name: stack, lineage: lineage, serial: serial)
                let resources = try db.query("""
                    SELECT address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version
                    FROM resources WHERE stack = ?
                    """, [.text(stack)], Self.decodeResource)
                state.resources.reserveCapacity(resources.count)
                for r in resources { state.resources[r.address] = r }
                let outputs = try db.query("SELECT name, value, sensitive FROM outputs WHERE stack = ?", [.text(stack)]) { row in
                    OutputState(name: try row.requiredText(0, "outputs.name"),
                                value: try Self.decodeJSON(row, 1, "outputs.value"),
                                sensitive: try row.requiredInt(2, "outputs.sensitive") != 0)
                }
                for o in outputs { state.outputs[o.name] = o }
                return state
            }
        }
    }

    /// One resource of a stack, or nil (a point lookup, without loading the whole stack).
    public func resource(stack: String, address: ResourceAddress) throws -> ResourceState? {
        try locked("read \(address)") { db in
            try db.query("""
                SELECT address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version
                FROM resources WHERE stack = ? AND address = ?
                """, [.text(stack), .text(address.description)], Self.decodeResource).first
        }
    }

    public func history(stack: String) throws -> [HistoryEntry] {
        try locked("history of \(stack)") { db in
            try db.query("SELECT serial, who, host, at, command, summary FROM history WHERE stack = ? ORDER BY serial, id",
                         [.text(stack)]) { row in
                HistoryEntry(serial: Int(try row.requiredInt(0, "history.serial")),
                             who: try row.requiredText(1, "history.who"),
                             host: try row.requiredText(2, "history.host"),
                             when: try row.requiredDate(3, "history.at"),
                             command: try row.requiredText(4, "history.command"),
                             summary: try row.requiredText(5, "history.summary"))
            }
        }
    }

    public func unfinishedJournal(stack: String) throws -> [JournalEntry] {
        try locked("unfinished journal of \(stack)") { db in
            try db.query("""
                SELECT id, address, type, provider, action, token, planned, started, finished, outcome, message
                FROM journal WHERE stack = ? AND finished IS NULL ORDER BY id
                """, [.text(stack)], Self.decodeJournal)
        }
    }

    /// Every journal row of a stack (finished or not), oldest first; `limit` keeps the newest ones.
    public func journal(stack: String, limit: Int? = nil) throws -> [JournalEntry] {
        try locked("journal of \(stack)") { db in
            let rows = try db.query("""
                SELECT id, address, type, provider, action, token, planned, started, finished, outcome, message
                FROM journal WHERE stack = ? ORDER BY id DESC LIMIT ?
                """, [.text(stack), .int(limit ?? -1)], Self.decodeJournal)
            return rows.reversed()
        }
    }

    public func stacks() throws -> [String] {
        try locked("list stacks") { db in
            try db.query("SELECT name FROM stacks ORDER BY name") { try $0.requiredText(0, "stacks.name") }
        }
    }

    // MARK: StateWriter

    public func beginRun(stack: String) throws -> (lineage: String, serial: Int) {
        try locked("begin run on \(stack)") { db in
            try db.transaction {
                let now = Date()
                try ensureStack(db, stack, now: now)
                try db.run("UPDATE stacks SET serial = serial + 1, updated = ? WHERE name = ?", [.date(now), .text(stack)])
                let rows = try db.query("SELECT lineage, serial FROM stacks WHERE name = ?", [.text(stack)]) { row in
                    (try row.requiredText(0, "stacks.lineage"), Int(try row.requiredInt(1, "stacks.serial")))
                }
                guard let result = rows.first else {
                    throw StateError.database(path: path, operation: "begin run", message: "stack row vanished")
                }
                return (lineage: result.0, serial: result.1)
            }
        }
    }

    public func journalStart(stack: String, address: ResourceAddress, type: String, provider: String, action: ProviderOperation,
                             token: String, planned: [String: Value]) throws -> Int64 {
        try locked("journal start \(address)") { db in
            try db.transaction {
                try ensureStack(db, stack, now: Date())
                try db.run("""
                    INSERT INTO journal (stack, address, type, provider, action, token, planned, started)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.text(stack), .text(address.description), .text(type), .text(provider), .text(action.rawValue),
                          .text(token), .text(Self.encodeMap(planned)), .date(Date())])
                return db.lastInsertRowID
            }
        }
    }

    public func journalFinish(stack: String, journalID: Int64, outcome: JournalEntry.Outcome, message: String?,
                              store resource: ResourceState?, remove: ResourceAddress?) throws {
        try locked("journal finish \(journalID)") { db in
            try db.transaction {
                let changed = try db.run("UPDATE journal SET finished = ?, outcome = ?, message = ? WHERE id = ? AND stack = ?",
                                         [.date(Date()), .text(outcome.rawValue), .optionalText(message),
                                          .integer(journalID), .text(stack)])
                guard changed == 1 else {
                    throw StateError.database(path: path, operation: "journal finish",
                                              message: "no journal row \(journalID) for stack \(stack)")
                }
                // Remove first: a replacement may store a resource at the address it removes.
                if let remove {
                    try db.run("DELETE FROM resources WHERE stack = ? AND address = ?", [.text(stack), .text(remove.description)])
                }
                if let resource { try upsertResource(db, stack, resource) }
            }
        }
    }

    /// Closes an unfinished journal row (recovery after a crash); throws if there is no such row.
    public func closeJournal(id: Int64, outcome: JournalEntry.Outcome, message: String?) throws {
        try locked("close journal \(id)") { db in
            let changed = try db.run("UPDATE journal SET finished = ?, outcome = ?, message = ? WHERE id = ?",
                                     [.date(Date()), .text(outcome.rawValue), .optionalText(message), .integer(id)])
            guard changed == 1 else {
                throw StateError.database(path: path, operation: "close journal", message: "no journal row \(id)")
            }
        }
    }

    public func putResource(stack: String, _ resource: ResourceState) throws {
        try locked("store \(resource.address)") { db in
            try db.transaction {
                try ensureStack(db, stack, now: Date())
                try upsertResource(db, stack, resource)
            }
        }
    }

    public func removeResource(stack: String, address: ResourceAddress) throws {
        try locked("remove \(address)") { db in
            let changed = try db.run("DELETE FROM resources WHERE stack = ? AND address = ?", [.text(stack), .text(address.description)])
            if changed == 0 { throw StateError.notFound(address) }
        }
    }

    /// Renames a resource in state. Other resources' `dependencies` are not rewritten.
    public func moveResource(stack: String, from: ResourceAddress, to: ResourceAddress) throws {
        try locked("move \(from) to \(to)") { db in
            try db.transaction {
                guard try exists(db, stack, from) else { throw StateError.notFound(from) }
                if from == to { return }
                guard try !exists(db, stack, to) else { throw StateError.alreadyExists(to) }
                try db.run("UPDATE resources SET address = ? WHERE stack = ? AND address = ?",
                           [.text(to.description), .text(stack), .text(from.description)])
            }
        }
    }

    public func setOutputs(stack: String, _ outputs: [OutputState]) throws {
        try locked("set outputs of \(stack)") { db in
            try db.transaction {
                try ensureStack(db, stack, now: Date())
                try db.run("DELETE FROM outputs WHERE stack = ?", [.text(stack)])
                for output in outputs {
                    try db.run("INSERT OR REPLACE INTO outputs (stack, name, value, sensitive) VALUES (?, ?, ?, ?)",
                               [.text(stack), .text(output.name), .text(Self.encode(output.value)),
                                .int(output.sensitive || output.value.containsSensitive ? 1 : 0)])
                }
            }
        }
    }

    public func appendHistory(stack: String, _ entry: HistoryEntry) throws {
        try locked("append history of \(stack)") { db in
            try db.transaction {
                try ensureStack(db, stack, now: Date())
                try db.run("INSERT INTO history (stack, serial, who, host, at, command, summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [.text(stack), .int(entry.serial), .text(entry.who), .text(entry.host), .date(entry.when),
                            .text(entry.command), .text(entry.summary)])
            }
        }
    }

    // MARK: StateLocker

    public func lock(stack: String, operation: String, timeout: Double, ttl: Double,
                     onTakeover: @Sendable (LockInfo) -> Void) throws -> LockInfo {
        let deadline = Date().addingTimeInterval(max(0, timeout))
        while true {
            switch try tryLock(stack: stack, operation: operation, ttl: ttl) {
            case .acquired(let info, let previous):
                if let previous { onTakeover(previous) }
                return info
            case .held(let current):
                let remaining = deadline.timeIntervalSinceNow
                if remaining <= 0 { throw StateError.locked(current) }
                Thread.sleep(forTimeInterval: min(lockPollInterval, remaining))
            }
        }
    }

    private enum LockAttempt {
        case acquired(LockInfo, tookOver: LockInfo?)
        case held(LockInfo)
    }

    private func tryLock(stack: String, operation: String, ttl: Double) throws -> LockAttempt {
        try locked("lock \(stack)") { db in
            try db.transaction {
                let now = Self.storedDate(Date())
                var previous: LockInfo?
                if let current = try db.query("\(Self.lockColumns) WHERE stack = ?", [.text(stack)], Self.decodeLock).first {
                    guard current.expires <= now || (current.host == host && !Self.processIsAlive(current.pid)) else {
                        return .held(current)
                    }
                    try db.run("DELETE FROM locks WHERE id = ?", [.text(current.id)])
                    previous = current
                }
                // ttl <= 0: the lock never expires (only a dead holder or `release` frees it).
                let expires = ttl > 0 ? Self.storedDate(now.addingTimeInterval(ttl)) : Self.storedDate(.distantFuture)
                let info = LockInfo(id: UUID().uuidString.lowercased(), stack: stack, holder: holder, pid: pid, host: host,
                                    operation: operation, created: now, expires: expires)
                try insertLock(db, info)
                return .acquired(info, tookOver: previous)
            }
        }
    }

    public func unlock(_ lock: LockInfo) throws {
        try locked("unlock \(lock.stack)") { db in
            _ = try db.run("DELETE FROM locks WHERE id = ? AND stack = ?", [.text(lock.id), .text(lock.stack)])
        }
    }

    public func locks() throws -> [LockInfo] {
        try locked("list locks") { db in
            try db.query("\(Self.lockColumns) ORDER BY stack", [], Self.decodeLock)
        }
    }

    public func release(lockID: String) throws {
        try locked("release lock \(lockID)") { db in
            let changed = try db.run("DELETE FROM locks WHERE id = ?", [.text(lockID)])
            if changed == 0 { throw StateError.noSuchLock(lockID) }
        }
    }

    /// Pushes a held lock's expiry to now + `ttl` (for long runs); throws `noSuchLock` when the lock
    /// is no longer held (released or taken over).
    public func renew(_ lock: LockInfo, ttl: Double) throws -> LockInfo {
        try locked("renew lock \(lock.id)") { db in
            var renewed = lock
            renewed.expires = ttl > 0 ? Self.storedDate(Date().addingTimeInterval(ttl)) : Self.storedDate(.distantFuture)
            let changed = try db.run("UPDATE locks SET expires = ? WHERE id = ? AND stack = ?",
                                     [.date(renewed.expires), .text(lock.id), .text(lock.stack)])
            if changed == 0 { throw StateError.noSuchLock(lock.id) }
            return renewed
        }
    }

    /// Writes a lock row as is (tests and tooling: simulating another process's lock).
    func insertLock(_ info: LockInfo) throws {
        try locked("insert lock") { db in try insertLock(db, info) }
    }

    // MARK: Maintenance

    /// Runs `PRAGMA integrity_check`: "ok" when the database is sound, else SQLite's findings.
    public func integrityCheck() throws -> String {
        try locked("integrity check") { db in
            try db.query("PRAGMA integrity_check") { $0.text(0) ?? "" }.joined(separator: "\n")
        }
    }

    /// Closes the connection; any later call throws.
    public func close() {
        mutex.lock()
        defer { mutex.unlock() }
        db.close()
    }

    /// Runs raw SQL on the connection (tests and tooling).
    func executeRaw(_ sql: String) throws {
        try locked("execute") { db in try db.execute(sql) }
    }

    /// `EXPLAIN QUERY PLAN` for a statement (tests: proving writes use an index, not a scan).
    func queryPlan(_ sql: String) throws -> [String] {
        try locked("explain") { db in
            try db.query("EXPLAIN QUERY PLAN " + sql) { $0.text(3) ?? "" }
        }
    }

    // MARK: Helpers (called with the connection held)

    private func ensureStack(_ db: SQLiteDatabase, _ stack: String, now: Date) throws {
        try db.run("INSERT INTO stacks (name, lineage, serial, created, updated) VALUES (?, ?, 0, ?, ?) ON CONFLICT (name) DO NOTHING",
                   [.text(stack), .text(UUID().uuidString.lowercased()), .date(now), .date(now)])
    }

    private func exists(_ db: SQLiteDatabase, _ stack: String, _ address: ResourceAddress) throws -> Bool {
        try !db.query("SELECT 1 FROM resources WHERE stack = ? AND address = ?", [.text(stack), .text(address.description)]) { _ in 1 }.isEmpty
    }

    static let upsertResourceSQL = """
        INSERT INTO resources (stack, address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (stack, address) DO UPDATE SET
            type = excluded.type, provider = excluded.provider, id = excluded.id, attributes = excluded.attributes,
            sensitive_attributes = excluded.sensitive_attributes, dependencies = excluded.dependencies,
            status = excluded.status, schema_version = excluded.schema_version
        """

    private func upsertResource(_ db: SQLiteDatabase, _ stack: String, _ r: ResourceState) throws {
        // An attribute carrying a sensitive mark anywhere inside is recorded as sensitive, so a mark
        // the caller forgot to list is never silently lost.
        var sensitive = Set(r.sensitiveAttributes)
        for (name, value) in r.attributes where value.containsSensitive { sensitive.insert(name) }
        try db.run(Self.upsertResourceSQL, [
            .text(stack), .text(r.address.description), .text(r.type), .text(r.provider), .text(r.id),
            .text(Self.encodeMap(r.attributes)), .text(Self.encodeStrings(sensitive.sorted())),
            .text(Self.encodeStrings(r.dependencies.map(\.description))), .text(r.status.rawValue), .int(r.schemaVersion),
        ])
    }

    private func insertLock(_ db: SQLiteDatabase, _ info: LockInfo) throws {
        try db.run("INSERT INTO locks (id, stack, holder, pid, host, operation, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [.text(info.id), .text(info.stack), .text(info.holder), .integer(Int64(info.pid)), .text(info.host),
                    .text(info.operation), .date(info.created), .date(info.expires)])
    }

    private static let lockColumns = "SELECT id, stack, holder, pid, host, operation, created, expires FROM locks"

    // MARK: Encoding and decoding

    /// Values are stored without sensitive marks; unknowns become null (`jsonString` does that).
    static func encode(_ value: Value) -> String { value.deepUnmarked.jsonString() }

    static func encodeMap(_ map: [String: Value]) -> String { encode(.map(map)) }

    static func encodeStrings(_ strings: [String]) -> String { encode(.list(strings.map(Value.string))) }

    /// Dates as this store writes and reads them back (REAL unix seconds), so a LockInfo returned by
    /// `lock` equals the one `locks()` reads.
    static func storedDate(_ date: Date) -> Date { Date(timeIntervalSince1970: date.timeIntervalSince1970) }

    private static func decodeJSON(_ row: SQLiteStatement, _ column: Int32, _ name: String) throws -> Value {
        let text = try row.requiredText(column, name)
        do {
            return try Value.parseJSON(text)
        } catch {
            throw row.corrupt(name, "is not valid JSON (\(text.prefix(80)))")
        }
    }

    private static func decodeMap(_ row: SQLiteStatement, _ column: Int32, _ name: String) throws -> [String: Value] {
        switch try decodeJSON(row, column, name) {
        case .map(let m): return m
        case .null: return [:]
        default: throw row.corrupt(name, "is not a JSON object")
        }
    }

    private static func decodeStrings(_ row: SQLiteStatement, _ column: Int32, _ name: String) throws -> [String] {
        switch try decodeJSON(row, column, name) {
        case .null: return []
        case .list(let items):
            return try items.map { item in
                guard case .string(let s) = item else { throw row.corrupt(name, "is not a JSON list of strings") }
                return s
            }
        default: throw row.corrupt(name, "is not a JSON list of strings")
        }
    }

    private static func decodeAddress(_ text: String, _ row: SQLiteStatement, _ name: String) throws -> ResourceAddress {
        guard let address = ResourceAddress(text) else { throw row.corrupt(name, "has an invalid address \"\(text)\"") }
        return address
    }

    private static func decodeResource(_ row: SQLiteStatement) throws -> ResourceState {
        let address = try decodeAddress(try row.requiredText(0, "resources.address"), row, "resources.address")
        let statusText = try row.requiredText(7, "resources.status")
        guard let status = ResourceState.Status(rawValue: statusText) else {
            throw row.corrupt("resources.status", "of \(address) is \"\(statusText)\"")
        }
        return ResourceState(
            address: address,
            type: try row.requiredText(1, "resources.type"),
            provider: try row.requiredText(2, "resources.provider"),
            id: try row.requiredText(3, "resources.id"),
            attributes: try decodeMap(row, 4, "resources.attributes of \(address)"),
            sensitiveAttributes: try decodeStrings(row, 5, "resources.sensitive_attributes of \(address)"),
            dependencies: try decodeStrings(row, 6, "resources.dependencies of \(address)").map {
                try decodeAddress($0, row, "resources.dependencies of \(address)")
            },
            status: status,
            schemaVersion: Int(try row.requiredInt(8, "resources.schema_version")))
    }

    private static func decodeJournal(_ row: SQLiteStatement) throws -> JournalEntry {
        let id = try row.requiredInt(0, "journal.id")
        var outcome: JournalEntry.Outcome?
        if let text = row.text(9) {
            guard let o = JournalEntry.Outcome(rawValue: text) else { throw row.corrupt("journal.outcome", "of row \(id) is \"\(text)\"") }
            outcome = o
        }
        return JournalEntry(
            id: id,
            address: try decodeAddress(try row.requiredText(1, "journal.address"), row, "journal.address"),
            type: try row.requiredText(2, "journal.type"),
            provider: try row.requiredText(3, "journal.provider"),
            action: try ProviderOperation(journalText: row.requiredText(4, "journal.action")),
            token: try row.requiredText(5, "journal.token"),
            planned: try decodeMap(row, 6, "journal.planned of row \(id)"),
            started: try row.requiredDate(7, "journal.started"),
            finished: row.date(8),
            outcome: outcome,
            message: row.text(10))
    }

    private static func decodeLock(_ row: SQLiteStatement) throws -> LockInfo {
        let pid = try row.requiredInt(3, "locks.pid")
        return LockInfo(
            id: try row.requiredText(0, "locks.id"),
            stack: try row.requiredText(1, "locks.stack"),
            holder: try row.requiredText(2, "locks.holder"),
            pid: Int32(truncatingIfNeeded: pid),
            host: try row.requiredText(4, "locks.host"),
            operation: try row.requiredText(5, "locks.operation"),
            created: try row.requiredDate(6, "locks.created"),
            expires: try row.requiredDate(7, "locks.expires"))
    }

    // MARK: Process identity

    /// Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else).
    static func processIsAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 { return true }
        return errno != ESRCH
    }

    static func currentUser() -> String {
        let env = ProcessInfo.processInfo.environment
        if let user = env["USER"], !user.isEmpty { return user }
        if let user = env["LOGNAME"], !user.isEmpty { return user }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
    }

    static func currentHost() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        let name = String(decoding: bytes, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

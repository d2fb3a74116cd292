import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackState

/// A temporary directory removed when the test ends.
private final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    /// A database path in a not-yet-existing subdirectory (the store creates parents).
    var dbPath: String { url.appendingPathComponent("nested/dir/state.db").path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Collects values from @Sendable callbacks.
private final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}

private func addr(_ text: String) -> ResourceAddress { ResourceAddress(text)! }

private func resource(_ address: String, id: String = "id-1", attributes: [String: Value] = ["name": "x"],
                      sensitive: [String] = [], dependencies: [String] = []) -> ResourceState {
    ResourceState(address: addr(address), type: "core.thing", provider: "core", id: id, attributes: attributes,
                  sensitiveAttributes: sensitive, dependencies: dependencies.map(addr))
}

private func close(_ a: Date, _ b: Date) -> Bool { abs(a.timeIntervalSince(b)) < 0.001 }

@Suite struct SQLiteStateStoreTests {
    // MARK: Migrations

    @Test func embeddedMigrationsMatchFiles() async throws {
        let stateDir = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("state")
        let files = try FileManager.default.contentsOfDirectory(atPath: stateDir.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == StateMigrations.all.map(\.name))
        for (index, migration) in StateMigrations.all.enumerated() {
            let text = try String(contentsOf: stateDir.appendingPathComponent(migration.name), encoding: .utf8)
            #expect(text == migration.sql, "state/\(migration.name) differs from Migrations.swift")
            #expect(migration.name.hasPrefix(String(format: "%03d_", migration.version)))
            #expect(migration.version == index + 1, "migrations are numbered 1, 2, 3, … without gaps")
        }
    }

    @Test func migrationsAreAppliedAndRecorded() async throws {
        let dir = try TempDir()
        do {
            let store = try await SQLStateStore.sqlite(path: dir.dbPath)
            #expect(try await store.appliedMigrations() == StateMigrations.all.map(\.version))
            #expect(try await store.integrityCheck() == "ok")
        }
        // Reopening applies nothing twice.
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        #expect(try await store.appliedMigrations() == StateMigrations.all.map(\.version))

        let db = try SQLiteDatabase(path: dir.dbPath)
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") { $0.text(0) ?? "" }
        for table in ["history", "journal", "locks", "outputs", "resources", "schema_migrations", "stacks"] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        #expect(try db.query("PRAGMA journal_mode") { $0.text(0) } == ["wal"])
        let appliedAt = try db.query("SELECT applied_at FROM schema_migrations WHERE version = 1") { $0.date(0) }
        #expect(appliedAt.count == 1)
        #expect(abs((appliedAt.first??.timeIntervalSinceNow) ?? 1e9) < 600)
    }

    @Test func newerSchemaIsRefused() async throws {
        let dir = try TempDir()
        _ = try await SQLStateStore.sqlite(path: dir.dbPath)
        do {
            let db = try SQLiteDatabase(path: dir.dbPath)
            try db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999_future.sql', 0)")
        }
        let error = await #expect(throws: StateError.self) { try await SQLStateStore.sqlite(path: dir.dbPath) }
        guard case .newerSchema(let path, let found, let supported)? = error else {
            Issue.record("expected newerSchema, got \(String(describing: error))")
            return
        }
        #expect(path == dir.dbPath)
        #expect(found == 999)
        #expect(supported == StateMigrations.latestVersion)
        #expect(error?.description.contains("newer ethstack") == true)
    }

    @Test func notADatabaseIsADatabaseError() async throws {
        let dir = try TempDir()
        let path = dir.url.appendingPathComponent("garbage.db").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        let error = await #expect(throws: StateError.self) { try await SQLStateStore.sqlite(path: path) }
        guard case .database(let p, _, let message)? = error else {
            Issue.record("expected a database error, got \(String(describing: error))")
            return
        }
        #expect(p == path)
        #expect(message.contains("not a database"))
    }

    // MARK: Stacks, runs, resources

    @Test func unknownStackLoadsEmpty() async throws {
        let store = try await SQLStateStore.inMemory()
        let state = try await store.load(stack: "nope")
        #expect(state.name == "nope")
        #expect(state.lineage == nil)
        #expect(state.serial == 0)
        #expect(state.resources.isEmpty && state.outputs.isEmpty)
        #expect(try await store.stacks().isEmpty)
    }

    @Test func beginRunFixesLineageOnceAndBumpsSerial() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        let first = try await store.beginRun(stack: "prod")
        #expect(first.serial == 1)
        #expect(UUID(uuidString: first.lineage) != nil)
        let second = try await store.beginRun(stack: "prod")
        #expect(second.lineage == first.lineage)
        #expect(second.serial == 2)
        let other = try await store.beginRun(stack: "dev")
        #expect(other.lineage != first.lineage)
        #expect(other.serial == 1)
        let state = try await store.load(stack: "prod")
        #expect(state.lineage == first.lineage)
        #expect(state.serial == 2)
    }

    @Test func stacksAreIsolated() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        _ = try await store.beginRun(stack: "a")
        _ = try await store.beginRun(stack: "b")
        try await store.putResource(stack: "a", resource("web", id: "a-web"))
        try await store.putResource(stack: "b", resource("web", id: "b-web"))
        try await store.putResource(stack: "b", resource("db"))
        try await store.setOutputs(stack: "a", [OutputState(name: "url", value: "http://a", sensitive: false)])
        try await store.appendHistory(stack: "b", HistoryEntry(serial: 1, who: "u", host: "h", when: Date(), command: "apply", summary: "s"))

        let a = try await store.load(stack: "a")
        let b = try await store.load(stack: "b")
        #expect(a.resources.count == 1 && a.resources[addr("web")]?.id == "a-web")
        #expect(b.resources.count == 2 && b.resources[addr("web")]?.id == "b-web")
        #expect(a.outputs.count == 1 && b.outputs.isEmpty)
        #expect(try await store.history(stack: "a").isEmpty)
        #expect(try await store.history(stack: "b").count == 1)
        try await store.removeResource(stack: "a", address: addr("web"))
        #expect(try await store.load(stack: "b").resources[addr("web")] != nil)
        #expect(try await store.stacks() == ["a", "b"])
    }

    @Test func resourceRoundTripStripsMarksAndUnknowns() async throws {
        let store = try await SQLStateStore.inMemory()
        let original = ResourceState(
            address: addr("db[\"eu\"]"), type: "aws.rds", provider: "aws.backup", id: "db-1",
            attributes: [
                "name": "main", "port": 5432, "password": Value.string("hunter2").markedSensitive,
                "nested": ["token": Value.string("t").markedSensitive, "n": .null],
                "pending": .unknown, "tags": ["a", "b"],
            ],
            sensitiveAttributes: ["password"], dependencies: [addr("vpc"), addr("subnet[0]")],
            status: .tainted, schemaVersion: 3)
        try await store.putResource(stack: "s", original)
        guard let loaded = try await store.resource(stack: "s", address: original.address) else {
            Issue.record("resource not stored")
            return
        }
        #expect(loaded.type == "aws.rds" && loaded.provider == "aws.backup" && loaded.id == "db-1")
        #expect(loaded.status == .tainted && loaded.schemaVersion == 3)
        #expect(loaded.dependencies == [addr("vpc"), addr("subnet[0]")])
        #expect(!Value.map(loaded.attributes).containsSensitive, "marks are not stored inside values")
        #expect(loaded.attributes["password"] == "hunter2")
        #expect(loaded.attributes["pending"] == .null, "unknown values are stored as null")
        // A nested mark the caller did not list still makes its top-level attribute sensitive.
        #expect(loaded.sensitiveAttributes == ["nested", "password"])
        #expect(loaded.markedAttributes["password"]?.isSensitive == true)
        #expect(try await store.load(stack: "s").resources[original.address] == loaded)
    }

    @Test func putResourceReplaces() async throws {
        let store = try await SQLStateStore.inMemory()
        try await store.putResource(stack: "s", resource("web", id: "1"))
        try await store.putResource(stack: "s", resource("web", id: "2", attributes: ["size": 3]))
        let state = try await store.load(stack: "s")
        #expect(state.resources.count == 1)
        #expect(state.resources[addr("web")]?.id == "2")
        #expect(state.resources[addr("web")]?.attributes == ["size": 3])
        #expect(state.lineage != nil, "the first write fixes the lineage")
    }

    @Test func removeAndMoveErrors() async throws {
        let store = try await SQLStateStore.inMemory()
        try await store.putResource(stack: "s", resource("a"))
        try await store.putResource(stack: "s", resource("b"))

        let notFound = await #expect(throws: StateError.self) { try await store.removeResource(stack: "s", address: addr("zzz")) }
        guard case .notFound(let missing)? = notFound else { Issue.record("expected notFound"); return }
        #expect(missing == addr("zzz"))
        // Another stack's resource is not this stack's.
        await #expect(throws: StateError.self) { try await store.removeResource(stack: "other", address: addr("a")) }

        let moveMissing = await #expect(throws: StateError.self) { try await store.moveResource(stack: "s", from: addr("zzz"), to: addr("c")) }
        guard case .notFound(let m)? = moveMissing else { Issue.record("expected notFound"); return }
        #expect(m == addr("zzz"))

        let moveOnto = await #expect(throws: StateError.self) { try await store.moveResource(stack: "s", from: addr("a"), to: addr("b")) }
        guard case .alreadyExists(let target)? = moveOnto else { Issue.record("expected alreadyExists"); return }
        #expect(target == addr("b"))

        try await store.moveResource(stack: "s", from: addr("a"), to: addr("c[\"k\"]"))
        var state = try await store.load(stack: "s")
        #expect(Set(state.resources.keys) == [addr("b"), addr("c[\"k\"]")])
        #expect(state.resources[addr("c[\"k\"]")]?.address == addr("c[\"k\"]"))

        try await store.removeResource(stack: "s", address: addr("b"))
        state = try await store.load(stack: "s")
        #expect(Set(state.resources.keys) == [addr("c[\"k\"]")])
    }

    // MARK: Journal

    @Test func journalFinishStoresResourceAndClosesRow() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        _ = try await store.beginRun(stack: "s")
        let id = try await store.journalStart(stack: "s", address: addr("web"), type: "core.thing", provider: "core",
                                        action: .create, token: "tok-1",
                                        planned: ["name": "x", "secret": Value.string("s").markedSensitive, "later": .unknown])
        var open = try await store.unfinishedJournal(stack: "s")
        #expect(open.count == 1)
        #expect(open.first?.id == id)
        #expect(open.first?.token == "tok-1" && open.first?.action == .create)
        // Unknowns are stored as null; the sensitive value is sealed and comes back marked.
        #expect(open.first?.planned == ["name": "x", "secret": Value.string("s").markedSensitive, "later": .null])
        #expect(open.first?.finished == nil && open.first?.outcome == nil)
        #expect(try await store.load(stack: "s").resources.isEmpty)

        try await store.journalFinish(stack: "s", journalID: id, outcome: .succeeded, message: nil,
                                store: resource("web", id: "i-123"), remove: nil)
        open = try await store.unfinishedJournal(stack: "s")
        #expect(open.isEmpty)
        #expect(try await store.load(stack: "s").resources[addr("web")]?.id == "i-123")
        let all = try await store.journal(stack: "s")
        #expect(all.count == 1)
        #expect(all.first?.outcome == .succeeded)
        if let entry = all.first, let finished = entry.finished {
            #expect(finished >= entry.started)
        } else {
            Issue.record("journal row not closed")
        }

        // A delete: closes the row and removes the resource in one go.
        let del = try await store.journalStart(stack: "s", address: addr("web"), type: "core.thing", provider: "core",
                                         action: .delete, token: "tok-2", planned: [:])
        try await store.journalFinish(stack: "s", journalID: del, outcome: .succeeded, message: "gone", store: nil, remove: addr("web"))
        #expect(try await store.load(stack: "s").resources.isEmpty)
        #expect(try await store.journal(stack: "s").last?.message == "gone")

        // A replacement at the same address: remove then store.
        let rep = try await store.journalStart(stack: "s", address: addr("web"), type: "core.thing", provider: "core",
                                         action: .create, token: "tok-3", planned: [:])
        try await store.journalFinish(stack: "s", journalID: rep, outcome: .succeeded, message: nil,
                                store: resource("web", id: "i-456"), remove: addr("web"))
        #expect(try await store.load(stack: "s").resources[addr("web")]?.id == "i-456")
        #expect(try await store.journal(stack: "s", limit: 2).map(\.token) == ["tok-2", "tok-3"])
    }

    @Test func journalFinishIsAtomic() async throws {
        let store = try await SQLStateStore.inMemory()
        // No such journal row: the resource must not be stored either.
        await #expect(throws: StateError.self) {
            try await store.journalFinish(stack: "s", journalID: 4242, outcome: .succeeded, message: nil,
                                    store: resource("web"), remove: nil)
        }
        #expect(try await store.load(stack: "s").resources.isEmpty)
        // A journal row of another stack is not closed through this one.
        let id = try await store.journalStart(stack: "a", address: addr("x"), type: "t", provider: "core", action: .create,
                                        token: "t", planned: [:])
        await #expect(throws: StateError.self) {
            try await store.journalFinish(stack: "b", journalID: id, outcome: .succeeded, message: nil, store: resource("x"), remove: nil)
        }
        #expect(try await store.unfinishedJournal(stack: "a").map(\.id) == [id])
        #expect(try await store.load(stack: "b").resources.isEmpty)
    }

    @Test func unfinishedJournalAndRecovery() async throws {
        let dir = try TempDir()
        var ids: [Int64] = []
        do {
            let store = try await SQLStateStore.sqlite(path: dir.dbPath)
            for i in 0..<3 {
                ids.append(try await store.journalStart(stack: "s", address: addr("r[\(i)]"), type: "t", provider: "core",
                                                  action: .create, token: "tok-\(i)", planned: ["i": .number(Double(i))]))
            }
            _ = try await store.journalStart(stack: "other", address: addr("r"), type: "t", provider: "core",
                                       action: .create, token: "x", planned: [:])
            try await store.journalFinish(stack: "s", journalID: ids[1], outcome: .failed, message: "boom", store: nil, remove: nil)
        }
        // As after a crash: a new store on the same file sees what was in flight.
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        let open = try await store.unfinishedJournal(stack: "s")
        #expect(open.map(\.id) == [ids[0], ids[2]])
        #expect(open.map(\.address) == [addr("r[0]"), addr("r[2]")])
        #expect(open.last?.planned == ["i": 2])

        try await store.closeJournal(id: ids[0], outcome: .recovered, message: "found it")
        try await store.closeJournal(id: ids[2], outcome: .abandoned, message: nil)
        #expect(try await store.unfinishedJournal(stack: "s").isEmpty)
        #expect(try await store.unfinishedJournal(stack: "other").count == 1)
        #expect(try await store.journal(stack: "s").map(\.outcome) == [.recovered, .failed, .abandoned])
        await #expect(throws: StateError.self) { try await store.closeJournal(id: 99999, outcome: .abandoned, message: nil) }
    }

    // MARK: Outputs and history

    @Test func setOutputsReplaces() async throws {
        let store = try await SQLStateStore.inMemory()
        try await store.setOutputs(stack: "s", [
            OutputState(name: "a", value: 1, sensitive: false),
            OutputState(name: "b", value: "x", sensitive: false),
        ])
        try await store.setOutputs(stack: "s", [
            OutputState(name: "b", value: ["k": "v"], sensitive: true),
            OutputState(name: "c", value: Value.string("pw").markedSensitive, sensitive: false),
            OutputState(name: "d", value: .unknown, sensitive: false),
        ])
        let outputs = try await store.load(stack: "s").outputs
        #expect(Set(outputs.keys) == ["b", "c", "d"])
        #expect(outputs["b"] == OutputState(name: "b", value: ["k": "v"], sensitive: true))
        #expect(outputs["c"] == OutputState(name: "c", value: "pw", sensitive: true), "a marked value is a sensitive output")
        #expect(outputs["d"]?.value == .null)
        try await store.setOutputs(stack: "s", [])
        #expect(try await store.load(stack: "s").outputs.isEmpty)
    }

    @Test func historyIsOrderedBySerial() async throws {
        let store = try await SQLStateStore.inMemory()
        let now = Date()
        for serial in [3, 1, 2] {
            try await store.appendHistory(stack: "s", HistoryEntry(serial: serial, who: "ann", host: "box", when: now.addingTimeInterval(Double(serial)),
                                                             command: "apply", summary: "\(serial) created"))
        }
        let history = try await store.history(stack: "s")
        #expect(history.map(\.serial) == [1, 2, 3])
        #expect(history.map(\.summary) == ["1 created", "2 created", "3 created"])
        #expect(history.first?.who == "ann" && history.first?.host == "box" && history.first?.command == "apply")
        if let first = history.first { #expect(close(first.when, now.addingTimeInterval(1))) }
    }

    // MARK: Locking

    @Test func secondLockAttemptFailsNamingTheHolder() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 3600) { _ in Issue.record("no takeover expected") }
        #expect(lock.stack == "s" && lock.operation == "apply")
        #expect(lock.holder == store.holder && !lock.holder.isEmpty)
        #expect(lock.pid == getpid())
        #expect(lock.host == store.host)
        #expect(lock.expires.timeIntervalSince(lock.created) > 3599)
        #expect(try await store.locks() == [lock])

        // Same store.
        let started = Date()
        let error = await #expect(throws: StateError.self) {
            try await store.lock(stack: "s", operation: "destroy", timeout: 0.3, ttl: 60) { _ in }
        }
        #expect(Date().timeIntervalSince(started) >= 0.3, "waited for the timeout")
        guard case .locked(let holder)? = error else { Issue.record("expected locked, got \(String(describing: error))"); return }
        #expect(holder == lock)
        #expect(error?.description.contains(store.holder) == true)
        #expect(error?.description.contains(lock.id) == true)

        // A second store on the same file (same pid: alive, so no takeover).
        let other = try await SQLStateStore.sqlite(path: dir.dbPath)
        let error2 = await #expect(throws: StateError.self) {
            try await other.lock(stack: "s", operation: "import", timeout: 0.3, ttl: 60) { _ in }
        }
        guard case .locked(let holder2)? = error2 else { Issue.record("expected locked"); return }
        #expect(holder2.id == lock.id)

        // Other stacks are not affected.
        let lockB = try await other.lock(stack: "b", operation: "apply", timeout: 0, ttl: 60) { _ in }
        #expect(try await store.locks().map(\.stack) == ["b", "s"])

        // Unlock frees it; a waiting locker then gets it.
        try await store.unlock(lock)
        let again = try await other.lock(stack: "s", operation: "apply", timeout: 0.3, ttl: 60) { _ in }
        #expect(again.id != lock.id)
        try await other.unlock(again)
        try await other.unlock(lockB)
        #expect(try await store.locks().isEmpty)
    }

    @Test func waitingLockerGetsTheLockWhenReleased() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath, lockPollInterval: 0.05)
        let first = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 60) { _ in }
        let waiter = Task.detached { try await store.lock(stack: "s", operation: "apply", timeout: 10, ttl: 60) { _ in } }
        try await Task.sleep(nanoseconds: 200_000_000)
        try await store.unlock(first)
        let second = try await waiter.value
        #expect(second.id != first.id)
        #expect(try await store.locks() == [second])
    }

    @Test func deadHolderIsTakenOver() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        let now = SQLStateStore.storedDate(Date())
        let dead = LockInfo(id: "dead-lock", stack: "s", holder: "ghost", pid: 999_999, host: store.host,
                            operation: "apply", created: now, expires: SQLStateStore.storedDate(now.addingTimeInterval(3600)))
        #expect(!SQLStateStore.processIsAlive(999_999))
        try await store.insertLock(dead)
        let seen = Box<LockInfo>()
        let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 60) { seen.append($0) }
        #expect(seen.all == [dead])
        #expect(lock.id != dead.id)
        #expect(try await store.locks() == [lock])

        // A dead pid on another host is not ours to judge: it waits (and fails).
        let remote = LockInfo(id: "remote", stack: "r", holder: "ghost", pid: 999_999, host: "elsewhere.invalid",
                              operation: "apply", created: now, expires: SQLStateStore.storedDate(now.addingTimeInterval(3600)))
        try await store.insertLock(remote)
        let error = await #expect(throws: StateError.self) { try await store.lock(stack: "r", operation: "apply", timeout: 0.3, ttl: 60) { _ in } }
        guard case .locked(let holder)? = error else { Issue.record("expected locked"); return }
        #expect(holder == remote)
    }

    @Test func expiredLockIsTakenOver() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        let past = SQLStateStore.storedDate(Date().addingTimeInterval(-120))
        let expired = LockInfo(id: "old", stack: "s", holder: "someone", pid: getpid(), host: "elsewhere.invalid",
                               operation: "apply", created: past, expires: SQLStateStore.storedDate(past.addingTimeInterval(60)))
        try await store.insertLock(expired)
        let seen = Box<LockInfo>()
        let lock = try await store.lock(stack: "s", operation: "destroy", timeout: 0, ttl: 60) { seen.append($0) }
        #expect(seen.all == [expired])
        #expect(try await store.locks() == [lock])

        // A short ttl lock expires and is taken over by the next locker.
        let short = try await store.lock(stack: "t", operation: "apply", timeout: 0, ttl: 0.2) { _ in }
        let seen2 = Box<LockInfo>()
        // Generous: the wait ends as soon as the 0.2 s lock has expired; on a loaded machine that can
        // take more than a few seconds of wall time.
        let next = try await store.lock(stack: "t", operation: "apply", timeout: 30, ttl: 60) { seen2.append($0) }
        #expect(seen2.all.map(\.id) == [short.id])
        #expect(next.id != short.id)
    }

    @Test func releaseAndRenew() async throws {
        let store = try await SQLStateStore.inMemory()
        let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 10) { _ in }
        let renewed = try await store.renew(lock, ttl: 3600)
        #expect(renewed.id == lock.id && renewed.expires > lock.expires)
        #expect(try await store.locks() == [renewed])
        try await store.release(lockID: lock.id)
        #expect(try await store.locks().isEmpty)
        let error = await #expect(throws: StateError.self) { try await store.release(lockID: lock.id) }
        guard case .noSuchLock(let id)? = error else { Issue.record("expected noSuchLock"); return }
        #expect(id == lock.id)
        await #expect(throws: StateError.self) { try await store.renew(lock, ttl: 60) }
        // Unlocking a lock that is gone is harmless.
        try await store.unlock(lock)
    }

    // MARK: Durability, corruption, concurrency

    @Test func reopeningYieldsTheSameData() async throws {
        let dir = try TempDir()
        let before: StackState
        let lock: LockInfo
        do {
            let store = try await SQLStateStore.sqlite(path: dir.dbPath)
            _ = try await store.beginRun(stack: "s")
            try await store.putResource(stack: "s", resource("a", attributes: ["n": 1, "l": [1, "two", nil]], sensitive: ["n"], dependencies: ["b"]))
            try await store.putResource(stack: "s", resource("b[3]"))
            try await store.setOutputs(stack: "s", [OutputState(name: "o", value: ["x": true], sensitive: true)])
            try await store.appendHistory(stack: "s", HistoryEntry(serial: 1, who: "w", host: "h", when: Date(), command: "apply", summary: "2 created"))
            lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 60) { _ in }
            before = try await store.load(stack: "s")
            await store.close()
            await #expect(throws: StateError.self) { try await store.stacks() }
        }
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        let after = try await store.load(stack: "s")
        #expect(after.lineage == before.lineage && after.serial == before.serial)
        #expect(after.resources == before.resources)
        #expect(after.outputs == before.outputs)
        #expect(try await store.history(stack: "s").map(\.summary) == ["2 created"])
        #expect(try await store.locks() == [lock])
        #expect(try await store.integrityCheck() == "ok")
        let attrs = try FileManager.default.attributesOfItem(atPath: dir.dbPath)
        #expect((attrs[.posixPermissions] as? Int) == 0o600, "state holds secrets: owner-only")
    }

    @Test func corruptColumnsThrowClearErrors() async throws {
        let store = try await SQLStateStore.inMemory()
        try await store.putResource(stack: "s", resource("a"))
        try await store.executeRaw("UPDATE resources SET attributes = '{not json' WHERE address = 'a'")
        let error = await #expect(throws: StateError.self) { try await store.load(stack: "s") }
        guard case .database(_, _, let message)? = error else { Issue.record("expected database error"); return }
        #expect(message.contains("resources.attributes") && message.contains("not valid JSON"))

        try await store.executeRaw("UPDATE resources SET attributes = '[1]', status = 'ready' WHERE address = 'a'")
        await #expect(throws: StateError.self) { try await store.load(stack: "s") }
        try await store.executeRaw("UPDATE resources SET attributes = '{}', status = 'weird' WHERE address = 'a'")
        await #expect(throws: StateError.self) { try await store.load(stack: "s") }
        try await store.executeRaw("UPDATE resources SET status = 'ready', address = 'bad]' WHERE address = 'a'")
        await #expect(throws: StateError.self) { try await store.load(stack: "s") }
        try await store.executeRaw("UPDATE resources SET address = 'a', dependencies = '[1]'")
        await #expect(throws: StateError.self) { try await store.load(stack: "s") }
        try await store.executeRaw("UPDATE resources SET dependencies = '[]'")
        #expect(try await store.load(stack: "s").resources.count == 1)
    }

    @Test func concurrentWritersFromManyTasks() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        _ = try await store.beginRun(stack: "s")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<40 {
                        let address = addr("r[\(t * 100 + i)]")
                        let id = try await store.journalStart(stack: "s", address: address, type: "t", provider: "core",
                                                        action: .create, token: "\(t)-\(i)", planned: [:])
                        try await store.journalFinish(stack: "s", journalID: id, outcome: .succeeded, message: nil,
                                                store: resource(address.description, id: "\(t)-\(i)"), remove: nil)
                        _ = try await store.unfinishedJournal(stack: "s")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.load(stack: "s").resources.count == 320)
        #expect(try await store.unfinishedJournal(stack: "s").isEmpty)
    }

    // MARK: Per-resource write cost

    /// Writes use primary keys or indexes, never a scan: the cost of one resource result does not
    /// grow with the size of the state. (Timing is printed, never asserted.)
    @Test func perResourceWritesDoNotScan() async throws {
        let store = try await SQLStateStore.inMemory()
        let writes = [
            SQLStateStore.upsertResourceSQL,
            "UPDATE journal SET finished = 1, outcome = 'succeeded', message = NULL WHERE id = 1 AND stack = 's'",
            "DELETE FROM resources WHERE stack = 's' AND address = 'a'",
            "SELECT lineage, serial FROM stacks WHERE name = 's'",
            "SELECT id FROM journal WHERE stack = 's' AND finished IS NULL ORDER BY id",
            "SELECT 1 FROM resources WHERE stack = 's' AND address = 'a'",
            "SELECT id FROM locks WHERE stack = 's'",
        ]
        for sql in writes {
            let plan = try await store.queryPlan(sql)
            #expect(!plan.contains { $0.hasPrefix("SCAN") }, "\(sql) scans: \(plan)")
        }
    }

    @Test func thousandsOfResourcesOneTransactionEach() async throws {
        let dir = try TempDir()
        let store = try await SQLStateStore.sqlite(path: dir.dbPath)
        _ = try await store.beginRun(stack: "big")
        let attributes: [String: Value] = ["name": "resource", "size": 3, "tags": ["a": "b", "c": "d"], "list": [1, 2, 3]]
        var written = 0
        var timings: [(count: Int, seconds: Double, perResource: Double)] = []
        for batch in [1_000, 10_000] {
            let start = Date()
            for i in written..<(written + batch) {
                let address = ResourceAddress(name: "r", key: .index(i))
                let id = try await store.journalStart(stack: "big", address: address, type: "core.thing", provider: "core",
                                                action: .create, token: "t\(i)", planned: attributes)
                try await store.journalFinish(stack: "big", journalID: id, outcome: .succeeded, message: nil,
                                        store: ResourceState(address: address, type: "core.thing", provider: "core",
                                                             id: "id-\(i)", attributes: attributes),
                                        remove: nil)
            }
            written += batch
            let seconds = Date().timeIntervalSince(start)
            timings.append((batch, seconds, seconds / Double(batch)))
        }
        for t in timings {
            print("SQLiteStateStore: \(t.count) resources with journalStart+journalFinish: \(String(format: "%.2f", t.seconds)) s, \(String(format: "%.1f", t.perResource * 1e6)) µs per resource")
        }
        let state = try await store.load(stack: "big")
        #expect(state.resources.count == 11_000)
        #expect(state.resources[ResourceAddress(name: "r", key: .index(10_999))]?.id == "id-10999")
        #expect(try await store.unfinishedJournal(stack: "big").isEmpty)
        #expect(try await store.integrityCheck() == "ok")
    }
}

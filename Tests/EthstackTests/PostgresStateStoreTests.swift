import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackState

private func addr(_ text: String) -> ResourceAddress { ResourceAddress(text)! }

private func resource(_ address: String, id: String = "id-1", attributes: [String: Value] = ["name": "x"],
                      sensitive: [String] = [], dependencies: [String] = []) -> ResourceState {
    ResourceState(address: addr(address), type: "core.thing", provider: "core", id: id, attributes: attributes,
                  sensitiveAttributes: sensitive, dependencies: dependencies.map(addr))
}

/// Collects values from @Sendable callbacks.
private final class Seen<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}

/// A fresh database and a store on it, closed when `body` ends.
private func withStore(lockPollInterval: Double = 0.05, _ body: (SQLStateStore, String) async throws -> Void) async throws {
    let url = try await PostgresTestServer.freshDatabase()
    let store = try await SQLStateStore.postgres(url, lockPollInterval: lockPollInterval, keyring: testStateKeyring)
    do {
        try await body(store, url)
        await store.close()
    } catch {
        await store.close()
        throw error
    }
}

/// What needs no server: the embedded migrations, the statement splitter, URLs and redaction.
@Suite struct PostgresStateFormatTests {
    @Test func embeddedMigrationsMatchFiles() throws {
        let dir = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("state/postgres")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == PostgresMigrations.all.map(\.name))
        for (index, migration) in PostgresMigrations.all.enumerated() {
            let text = try String(contentsOf: dir.appendingPathComponent(migration.name), encoding: .utf8)
            #expect(text == migration.sql, "state/postgres/\(migration.name) differs from PostgresMigrations.swift")
            #expect(migration.name.hasPrefix(String(format: "%03d_", migration.version)))
            #expect(migration.version == index + 1, "migrations are numbered 1, 2, 3, … without gaps")
            for statement in PostgresMigrations.statements(migration.sql) {
                #expect(!statement.contains(";"), "one statement per query: \(statement.prefix(60))")
                #expect(statement.contains("ethstack."), "every object lives in the ethstack schema: \(statement.prefix(60))")
            }
        }
        #expect(PostgresMigrations.statements("-- c\nCREATE TABLE a (x int);\n\nCREATE INDEX i\n  ON a (x);\n") ==
                ["CREATE TABLE a (x int)", "CREATE INDEX i\n  ON a (x)"])
    }

    @Test func urlsParseAndRedact() throws {
        let url = try PostgresStateURL("postgres://ann:s%40cret@db.example.com:6543/state?sslmode=require&connect_timeout=3")
        #expect(url.username == "ann" && url.password == "s@cret")
        #expect(url.host == "db.example.com" && url.port == 6543 && url.database == "state")
        #expect(url.sslMode == .require && url.connectTimeout == 3)
        #expect(url.redacted == "postgres://ann:***@db.example.com:6543/state?sslmode=require&connect_timeout=3")
        #expect("\(url)" == url.redacted)

        let plain = try PostgresStateURL("postgresql://bob@localhost/prod")
        #expect(plain.password == nil && plain.port == 5432 && plain.sslMode == .prefer)
        #expect(plain.redacted == "postgresql://bob@localhost/prod")

        let socket = try PostgresStateURL("postgres://bob@%2Fvar%2Frun%2Fpostgresql/db")
        #expect(socket.socketDirectory == "/var/run/postgresql" && socket.sslMode == .prefer)

        // Over a network the default checks the server's certificate and name; loopback does not.
        #expect(try PostgresStateURL("postgres://ann@db.example.com/state").sslMode == .verifyFull)
        #expect(try PostgresStateURL("postgres://ann@10.0.3.7/state").sslMode == .verifyFull)
        for local in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
            #expect(try PostgresStateURL("postgres://ann@\(local):5432/state").sslMode == .prefer, "\(local)")
        }

        #expect(PostgresStateURL.redact("postgres://u:pw@h/db?password=pw2&sslmode=disable") ==
                "postgres://u:***@h/db?password=***&sslmode=disable")
        #expect(!PostgresStateURL.redact("postgres://u:hunter2@[bad").contains("hunter2"))

        let badMode = #expect(throws: StateError.self) { try PostgresStateURL("postgres://u:hunter2@h/db?sslmode=sometimes") }
        #expect(badMode?.description.contains("sslmode") == true)
        #expect(badMode?.description.contains("hunter2") == false)
        #expect(PostgresStateURL.isPostgres("postgres://x") && PostgresStateURL.isPostgres("POSTGRESQL://x"))
        #expect(!PostgresStateURL.isPostgres("state/prod.db"))
    }
}

@Suite(.enabled(if: PostgresTestServer.available, "no PostgreSQL: apt-get install postgresql-15, or set ETHSTACK_TEST_POSTGRES_URL"))
struct PostgresStateStoreTests {
    // MARK: Migrations

    @Test func migrationsAreAppliedAndRecorded() async throws {
        try await withStore { store, url in
            #expect(try await store.appliedMigrations() == PostgresMigrations.all.map(\.version))
            let tables = try await store.queryStrings("""
                SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'ethstack' ORDER BY 1
                """)
            #expect(tables == ["history", "journal", "locks", "outputs", "resources", "schema_migrations", "stacks"])
            let appliedAt = try await store.queryStrings("SELECT applied_at::text FROM ethstack.schema_migrations WHERE version = 1")
            #expect(appliedAt.count == 1)
            #expect(abs((appliedAt.first.flatMap(Double.init) ?? 0) - Date().timeIntervalSince1970) < 600)
            // Reopening applies nothing twice.
            let again = try await SQLStateStore.postgres(url, keyring: testStateKeyring)
            #expect(try await again.appliedMigrations() == PostgresMigrations.all.map(\.version))
            await again.close()
        }
    }

    @Test func newerSchemaIsRefused() async throws {
        try await withStore { store, url in
            try await store.executeRaw("INSERT INTO ethstack.schema_migrations (version, name, applied_at) VALUES (999, '999_future.sql', 0)")
            let error = await #expect(throws: StateError.self) { _ = try await SQLStateStore.postgres(url, keyring: testStateKeyring) }
            guard case .newerSchema(let path, let found, let supported)? = error else {
                Issue.record("expected newerSchema, got \(String(describing: error))")
                return
            }
            #expect(path == PostgresStateURL.redact(url))
            #expect(found == 999)
            #expect(supported == PostgresMigrations.latestVersion)
            #expect(error?.description.contains("newer ethstack") == true)
        }
    }

    // MARK: Stacks, runs, resources

    @Test func unknownStackLoadsEmpty() async throws {
        try await withStore { store, _ in
            let state = try await store.load(stack: "nope")
            #expect(state.name == "nope" && state.lineage == nil && state.serial == 0)
            #expect(state.resources.isEmpty && state.outputs.isEmpty)
            #expect(try await store.stacks().isEmpty)
        }
    }

    @Test func beginRunFixesLineageOnceAndBumpsSerial() async throws {
        try await withStore { store, _ in
            let first = try await store.beginRun(stack: "prod")
            #expect(first.serial == 1)
            #expect(UUID(uuidString: first.lineage) != nil)
            let second = try await store.beginRun(stack: "prod")
            #expect(second.lineage == first.lineage && second.serial == 2)
            let other = try await store.beginRun(stack: "dev")
            #expect(other.lineage != first.lineage && other.serial == 1)
            let state = try await store.load(stack: "prod")
            #expect(state.lineage == first.lineage && state.serial == 2)
        }
    }

    @Test func stacksAreIsolated() async throws {
        try await withStore { store, _ in
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
    }

    @Test func resourceRoundTripStripsMarksAndUnknowns() async throws {
        try await withStore { store, _ in
            let original = ResourceState(
                address: addr("db[\"eu\"]"), type: "aws.rds", provider: "aws.backup", id: "db-1",
                attributes: [
                    "name": "main", "port": 5432, "password": Value.string("hunter2").markedSensitive,
                    "nested": ["token": Value.string("t").markedSensitive, "n": .null],
                    "pending": .unknown, "tags": ["a", "b"], "unicode": "zürich ✓",
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
            #expect(loaded.attributes["unicode"] == "zürich ✓")
            #expect(loaded.attributes["pending"] == .null, "unknown values are stored as null")
            #expect(loaded.sensitiveAttributes == ["nested", "password"])
            #expect(loaded.markedAttributes["password"]?.isSensitive == true)
            #expect(try await store.load(stack: "s").resources[original.address] == loaded)

            // putResource replaces.
            try await store.putResource(stack: "s", resource("db[\"eu\"]", id: "2", attributes: ["size": 3]))
            let state = try await store.load(stack: "s")
            #expect(state.resources.count == 1 && state.resources[original.address]?.id == "2")
            #expect(state.resources[original.address]?.attributes == ["size": 3])
            #expect(state.lineage != nil, "the first write fixes the lineage")
        }
    }

    @Test func removeAndMoveErrors() async throws {
        try await withStore { store, _ in
            try await store.putResource(stack: "s", resource("a"))
            try await store.putResource(stack: "s", resource("b"))

            let notFound = await #expect(throws: StateError.self) { try await store.removeResource(stack: "s", address: addr("zzz")) }
            guard case .notFound(let missing)? = notFound else { Issue.record("expected notFound"); return }
            #expect(missing == addr("zzz"))
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
    }

    // MARK: Journal

    @Test func journalFinishStoresResourceAndClosesRow() async throws {
        try await withStore { store, _ in
            _ = try await store.beginRun(stack: "s")
            let id = try await store.journalStart(stack: "s", address: addr("web"), type: "core.thing", provider: "core",
                                                  action: .create, token: "tok-1",
                                                  planned: ["name": "x", "secret": Value.string("s").markedSensitive, "later": .unknown])
            var open = try await store.unfinishedJournal(stack: "s")
            #expect(open.map(\.id) == [id])
            #expect(open.first?.token == "tok-1" && open.first?.action == .create)
            #expect(open.first?.planned == ["name": "x", "secret": Value.string("s").markedSensitive, "later": .null])
            #expect(open.first?.finished == nil && open.first?.outcome == nil)
            #expect(try await store.load(stack: "s").resources.isEmpty)

            try await store.journalFinish(stack: "s", journalID: id, outcome: .succeeded, message: nil,
                                          store: resource("web", id: "i-123"), remove: nil)
            open = try await store.unfinishedJournal(stack: "s")
            #expect(open.isEmpty)
            #expect(try await store.load(stack: "s").resources[addr("web")]?.id == "i-123")
            let all = try await store.journal(stack: "s")
            #expect(all.count == 1 && all.first?.outcome == .succeeded)
            if let entry = all.first, let finished = entry.finished {
                #expect(finished >= entry.started)
            } else {
                Issue.record("journal row not closed")
            }

            let del = try await store.journalStart(stack: "s", address: addr("web"), type: "core.thing", provider: "core",
                                                   action: .delete, token: "tok-2", planned: [:])
            try await store.journalFinish(stack: "s", journalID: del, outcome: .succeeded, message: "gone", store: nil, remove: addr("web"))
            #expect(try await store.load(stack: "s").resources.isEmpty)
            #expect(try await store.journal(stack: "s").last?.message == "gone")

            let rep = try await store.journalStart(stack: "s", address: addr("web"), type: "core.thing", provider: "core",
                                                   action: .create, token: "tok-3", planned: [:])
            try await store.journalFinish(stack: "s", journalID: rep, outcome: .succeeded, message: nil,
                                          store: resource("web", id: "i-456"), remove: addr("web"))
            #expect(try await store.load(stack: "s").resources[addr("web")]?.id == "i-456")
            #expect(try await store.journal(stack: "s", limit: 2).map(\.token) == ["tok-2", "tok-3"])
        }
    }

    @Test func journalFinishIsAtomic() async throws {
        try await withStore { store, url in
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

            // A failure after the journal row was closed rolls the close back too: a resource row
            // that violates a constraint (status must be ready or tainted) fails the transaction.
            try await store.executeRaw("ALTER TABLE ethstack.resources ADD CONSTRAINT no_bad_ids CHECK (id <> 'bad')")
            await #expect(throws: StateError.self) {
                try await store.journalFinish(stack: "a", journalID: id, outcome: .succeeded, message: nil,
                                              store: resource("x", id: "bad"), remove: nil)
            }
            #expect(try await store.unfinishedJournal(stack: "a").map(\.id) == [id], "the journal row stays open")
            #expect(try await store.load(stack: "a").resources.isEmpty)
            // The connection is usable afterwards, and another store sees the same.
            let other = try await SQLStateStore.postgres(url, keyring: testStateKeyring)
            #expect(try await other.unfinishedJournal(stack: "a").map(\.id) == [id])
            await other.close()
        }
    }

    @Test func unfinishedJournalSurvivesAndIsClosedByRecovery() async throws {
        try await withStore { first, url in
            var ids: [Int64] = []
            for i in 0..<3 {
                ids.append(try await first.journalStart(stack: "s", address: addr("r[\(i)]"), type: "t", provider: "core",
                                                        action: .create, token: "tok-\(i)", planned: ["i": .number(Double(i))]))
            }
            _ = try await first.journalStart(stack: "other", address: addr("r"), type: "t", provider: "core",
                                             action: .create, token: "x", planned: [:])
            try await first.journalFinish(stack: "s", journalID: ids[1], outcome: .failed, message: "boom", store: nil, remove: nil)
            await first.close()

            // As after a crash: another client sees what was in flight.
            let store = try await SQLStateStore.postgres(url, keyring: testStateKeyring)
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
            await store.close()
        }
    }

    // MARK: Outputs and history

    @Test func setOutputsReplaces() async throws {
        try await withStore { store, _ in
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
    }

    @Test func historyIsOrderedBySerial() async throws {
        try await withStore { store, _ in
            let now = Date()
            for serial in [3, 1, 2] {
                try await store.appendHistory(stack: "s", HistoryEntry(serial: serial, who: "ann", host: "box",
                                                                       when: now.addingTimeInterval(Double(serial)),
                                                                       command: "apply", summary: "\(serial) created"))
            }
            let history = try await store.history(stack: "s")
            #expect(history.map(\.serial) == [1, 2, 3])
            #expect(history.map(\.summary) == ["1 created", "2 created", "3 created"])
            #expect(history.first?.who == "ann" && history.first?.host == "box" && history.first?.command == "apply")
            if let first = history.first { #expect(abs(first.when.timeIntervalSince(now.addingTimeInterval(1))) < 0.001) }
        }
    }

    // MARK: Locking

    @Test func secondStoreWaitsAndFailsNamingTheHolder() async throws {
        try await withStore { store, url in
            let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 3600) { _ in Issue.record("no takeover expected") }
            #expect(lock.stack == "s" && lock.operation == "apply")
            #expect(lock.holder == store.holder && !lock.holder.isEmpty)
            #expect(lock.pid == getpid() && lock.host == store.host)
            #expect(lock.expires.timeIntervalSince(lock.created) > 3599)
            #expect(try await store.locks() == [lock])

            // Another client of the same database (same pid: alive, so no takeover).
            let other = try await SQLStateStore.postgres(url, lockPollInterval: 0.05, keyring: testStateKeyring)
            let started = Date()
            let error = await #expect(throws: StateError.self) {
                try await other.lock(stack: "s", operation: "import", timeout: 0.5, ttl: 60) { _ in }
            }
            #expect(Date().timeIntervalSince(started) >= 0.5, "waited for the timeout")
            guard case .locked(let holder)? = error else { Issue.record("expected locked, got \(String(describing: error))"); await other.close(); return }
            #expect(holder == lock)
            #expect(error?.description.contains(store.holder) == true)
            #expect(error?.description.contains(lock.id) == true)

            // Other stacks are not affected.
            let lockB = try await other.lock(stack: "b", operation: "apply", timeout: 0, ttl: 60) { _ in }
            #expect(try await store.locks().map(\.stack) == ["b", "s"])

            // A waiting locker gets the lock once it is released.
            let waiter = Task { try await other.lock(stack: "s", operation: "apply", timeout: 10, ttl: 60) { _ in } }
            try await Task.sleep(nanoseconds: 300_000_000)
            try await store.unlock(lock)
            let again = try await waiter.value
            #expect(again.id != lock.id)
            #expect(try await store.locks().map(\.id).sorted() == [again.id, lockB.id].sorted())
            try await other.unlock(again)
            try await other.unlock(lockB)
            #expect(try await store.locks().isEmpty)
            await other.close()
        }
    }

    @Test func concurrentLockersFromManyClientsExactlyOneWins() async throws {
        try await withStore { _, url in
            var stores: [SQLStateStore] = []
            for _ in 0..<6 { stores.append(try await SQLStateStore.postgres(url, keyring: testStateKeyring)) }
            let clients = stores
            let winners = try await withThrowingTaskGroup(of: LockInfo?.self) { group in
                for store in clients {
                    group.addTask { try? await store.lock(stack: "race", operation: "apply", timeout: 0, ttl: 60) { _ in } }
                }
                var won: [LockInfo] = []
                for try await result in group { if let result { won.append(result) } }
                return won
            }
            #expect(winners.count == 1)
            #expect(try await clients[0].locks().map(\.id) == winners.map(\.id))
            for store in clients { await store.close() }
        }
    }

    @Test func deadHolderOnThisHostIsTakenOverButNotElsewhere() async throws {
        try await withStore { store, _ in
            let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded())
            let dead = LockInfo(id: "dead-lock", stack: "s", holder: "ghost", pid: 999_999, host: store.host,
                                operation: "apply", created: now, expires: now.addingTimeInterval(3600))
            #expect(!SQLStateStore.processIsAlive(999_999))
            try await store.insertLock(dead)
            let seen = Seen<LockInfo>()
            let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 60) { seen.append($0) }
            #expect(seen.all == [dead])
            #expect(lock.id != dead.id)
            #expect(try await store.locks() == [lock])

            let remote = LockInfo(id: "remote", stack: "r", holder: "ghost", pid: 999_999, host: "elsewhere.invalid",
                                  operation: "apply", created: now, expires: now.addingTimeInterval(3600))
            try await store.insertLock(remote)
            let error = await #expect(throws: StateError.self) {
                try await store.lock(stack: "r", operation: "apply", timeout: 0.3, ttl: 60) { _ in }
            }
            guard case .locked(let holder)? = error else { Issue.record("expected locked"); return }
            #expect(holder == remote)
        }
    }

    @Test func expiredLockIsTakenOver() async throws {
        try await withStore { store, _ in
            let past = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 120).rounded())
            let expired = LockInfo(id: "old", stack: "s", holder: "someone", pid: getpid(), host: "elsewhere.invalid",
                                   operation: "apply", created: past, expires: past.addingTimeInterval(60))
            try await store.insertLock(expired)
            let seen = Seen<LockInfo>()
            let lock = try await store.lock(stack: "s", operation: "destroy", timeout: 0, ttl: 60) { seen.append($0) }
            #expect(seen.all == [expired])
            #expect(try await store.locks() == [lock])

            // A short-ttl lock expires and is taken over by the next locker, which waited for it.
            let short = try await store.lock(stack: "t", operation: "apply", timeout: 0, ttl: 0.3) { _ in }
            let seen2 = Seen<LockInfo>()
            let next = try await store.lock(stack: "t", operation: "apply", timeout: 5, ttl: 60) { seen2.append($0) }
            #expect(seen2.all.map(\.id) == [short.id])
            #expect(next.id != short.id)
        }
    }

    @Test func releaseAndRenew() async throws {
        try await withStore { store, _ in
            let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 10) { _ in }
            let renewed = try await store.renew(lock, ttl: 3600)
            #expect(renewed.id == lock.id && renewed.expires > lock.expires)
            #expect(try await store.locks() == [renewed])
            try await store.release(lockID: lock.id)
            #expect(try await store.locks().isEmpty)
            let error = await #expect(throws: StateError.self) { try await store.release(lockID: lock.id) }
            guard case .noSuchLock(let id)? = error else { Issue.record("expected noSuchLock"); return }
            #expect(id == lock.id)
            await #expect(throws: StateError.self) { _ = try await store.renew(lock, ttl: 60) }
            try await store.unlock(lock)
        }
    }

    // MARK: Concurrency, corruption, connections

    @Test func concurrentWritersFromManyTasks() async throws {
        try await withStore { store, _ in
            _ = try await store.beginRun(stack: "s")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        for i in 0..<15 {
                            let address = addr("r[\(t * 100 + i)]")
                            let id = try await store.journalStart(stack: "s", address: address, type: "t", provider: "core",
                                                                  action: .create, token: "\(t)-\(i)", planned: [:])
                            try await store.journalFinish(stack: "s", journalID: id, outcome: .succeeded, message: nil,
                                                          store: resource(address.description, id: "\(t)-\(i)"), remove: nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.load(stack: "s").resources.count == 120)
            #expect(try await store.unfinishedJournal(stack: "s").isEmpty)
        }
    }

    @Test func corruptColumnsThrowClearErrors() async throws {
        try await withStore { store, _ in
            try await store.putResource(stack: "s", resource("a"))
            try await store.executeRaw("UPDATE ethstack.resources SET attributes = '{not json' WHERE address = 'a'")
            let error = await #expect(throws: StateError.self) { _ = try await store.load(stack: "s") }
            guard case .database(let path, _, let message)? = error else { Issue.record("expected database error"); return }
            #expect(path == store.location)
            #expect(message.contains("resources.attributes") && message.contains("not valid JSON"))
            try await store.executeRaw("UPDATE ethstack.resources SET attributes = '[1]' WHERE address = 'a'")
            await #expect(throws: StateError.self) { _ = try await store.load(stack: "s") }
            try await store.executeRaw("UPDATE ethstack.resources SET attributes = '{}', address = 'bad]' WHERE address = 'a'")
            await #expect(throws: StateError.self) { _ = try await store.load(stack: "s") }
            try await store.executeRaw("UPDATE ethstack.resources SET address = 'a', dependencies = '[1]'")
            await #expect(throws: StateError.self) { _ = try await store.load(stack: "s") }
            try await store.executeRaw("UPDATE ethstack.resources SET dependencies = '[]'")
            #expect(try await store.load(stack: "s").resources.count == 1)
        }
    }

    @Test func reconnectsAfterTheServerDroppedTheConnection() async throws {
        try await withStore { store, url in
            try await store.putResource(stack: "s", resource("a"))
            let admin = try await SQLStateStore.postgres(url, keyring: testStateKeyring)
            try await admin.executeRaw("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                """)
            await admin.close()
            // The dropped connection is noticed before anything is sent: the store reconnects.
            #expect(try await store.load(stack: "s").resources.count == 1)
            try await store.putResource(stack: "s", resource("b"))
            #expect(try await store.load(stack: "s").resources.count == 2)
        }
    }

    @Test func passwordsNeverAppearInErrors() async throws {
        // Nothing listens on this port: the error names the database without the password.
        let port = AWSTestServers.freePort()
        let unreachable = "postgres://ann:hunter2-secret@127.0.0.1:\(port)/state?sslmode=disable&connect_timeout=2"
        let error = await #expect(throws: StateError.self) { _ = try await SQLStateStore.postgres(unreachable, keyring: testStateKeyring) }
        let text = error?.description ?? ""
        #expect(!text.contains("hunter2-secret"), "\(text)")
        #expect(text.contains("postgres://ann:***@127.0.0.1:\(port)/state"), "\(text)")

        guard PostgresTestServer.hasPasswordRole else { return }
        // A real password login (scram-sha-256), then a wrong password.
        let database = try await PostgresTestServer.freshDatabase(owner: PostgresTestServer.passwordRole)
        let base = PostgresTestServer.url(database, user: PostgresTestServer.passwordRole,
                                          password: PostgresTestServer.passwordRolePassword,
                                          database: URL(string: database)?.lastPathComponent ?? "")
        let store = try await SQLStateStore.postgres(base, keyring: testStateKeyring)
        #expect(!store.location.contains(PostgresTestServer.passwordRolePassword))
        _ = try await store.beginRun(stack: "s")
        let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 60) { _ in }
        #expect(!"\(lock)".contains(PostgresTestServer.passwordRolePassword))
        try await store.unlock(lock)
        await store.close()

        let wrong = base.replacingOccurrences(of: PostgresTestServer.passwordRolePassword, with: "wrong-pass-42")
        let denied = await #expect(throws: StateError.self) { _ = try await SQLStateStore.postgres(wrong, keyring: testStateKeyring) }
        let deniedText = denied?.description ?? ""
        #expect(deniedText.contains("password authentication failed"), "\(deniedText)")
        #expect(!deniedText.contains("wrong-pass-42"), "\(deniedText)")
    }

    // MARK: The command line

    @Test func cliAppliesPlansListsAndDestroysOnPostgres() async throws {
        // With a password login where the local cluster has one: it must never be shown or stored.
        var url = try await PostgresTestServer.freshDatabase(owner: PostgresTestServer.hasPasswordRole ? PostgresTestServer.passwordRole : nil)
        let secret = PostgresTestServer.passwordRolePassword
        if PostgresTestServer.hasPasswordRole {
            url = PostgresTestServer.url(url, user: PostgresTestServer.passwordRole, password: secret,
                                         database: URL(string: url)?.lastPathComponent ?? "")
        }
        let ws = Workspace()
        ws.write("stack.yaml", """
            stack: team
            resources:
              first:
                type: core.data
                properties: { input: hello }
              second:
                type: core.data
                count: 2
                properties: { input: "${first.output}-again" }
            outputs:
              greeting: { value: "${first.output}" }
            """)
        ws.write("slow.yaml", """
            stack: slow
            resources:
              nap:
                type: core.sleep
                properties: { create_duration: 2s }
            """)
        let run = { (args: [String], env: [String: String]) in try EthstackBinary.run(args, in: ws.dir, environment: env) }
        var r = try run(["apply", "--stack", "stack.yaml", "--state", url, "--auto-approve"], [:])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Apply complete! Resources: 3 added"))
        #expect(!FileManager.default.fileExists(atPath: "\(ws.dir)/state"), "nothing written to SQLite")

        // $ETHSTACK_STATE selects the same database.
        r = try run(["plan", "--stack", "stack.yaml", "--detailed-exitcode"], ["ETHSTACK_STATE": url])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("No changes."))
        r = try run(["state", "list", "--stack", "stack.yaml", "--state", url], [:])
        #expect(r.stdout.split(separator: "\n") == ["first", "second[0]", "second[1]"])
        r = try run(["output", "--stack", "stack.yaml", "greeting"], ["ETHSTACK_STATE": url])
        #expect(r.stdout == "hello\n")
        r = try run(["lock", "list", "--stack", "stack.yaml", "--state", url], [:])
        #expect(r.status == 0 && r.stdout.contains("No locks."), "\(r.stdout)\(r.stderr)")
        r = try run(["state", "history", "--stack", "stack.yaml", "--state", url], [:])
        #expect(r.stdout.contains("3 added"), "\(r.stdout)")
        #expect(r.stdout.contains("apply --stack stack.yaml --state postgres://"), "\(r.stdout)")
        #expect(!r.stdout.contains(secret), "the recorded command line has no password: \(r.stdout)")

        // A lock held by another client: lock list shows it, apply waits and names the holder.
        let other = try await SQLStateStore.postgres(url, keyring: testStateKeyring)
        let held = try await other.lock(stack: "team", operation: "apply", timeout: 0, ttl: 600) { _ in }
        r = try run(["lock", "list", "--stack", "stack.yaml", "--state", url], [:])
        #expect(r.stdout.contains(held.id) && r.stdout.contains("team"))
        r = try run(["apply", "--stack", "stack.yaml", "--state", url, "--auto-approve", "--lock-timeout", "1s"], [:])
        #expect(r.status == 1)
        #expect(r.stderr.contains("is locked by") && r.stderr.contains(held.id), "\(r.stderr)")
        r = try run(["lock", "release", held.id, "--stack", "stack.yaml", "--state", url], [:])
        #expect(r.status == 0, "\(r.stderr)")
        await other.close()

        // While apply runs, its lock (operation: the command line) is listed without the password.
        let slow = try EthstackBinary.start(["apply", "--stack", "slow.yaml", "--state", url, "--auto-approve"], in: ws.dir)
        var listed = ""
        for _ in 0..<100 {
            let l = try run(["lock", "list", "--stack-name", "slow", "--state", url], [:])
            if l.stdout.contains("slow\t") { listed = l.stdout; break }
            usleep(50_000)
        }
        _ = try EthstackBinary.wait(slow, timeout: 60)
        #expect(listed.contains("apply --stack slow.yaml --state postgres://"), "\(listed)")
        #expect(!listed.contains(secret), "\(listed)")

        r = try run(["destroy", "--stack", "stack.yaml", "--state", url, "--auto-approve"], [:])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("3 destroyed"), "\(r.stdout)")
        r = try run(["state", "list", "--stack", "stack.yaml", "--state", url], [:])
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stdout)\(r.stderr)")

        // A bad password in the URL never reaches the output.
        let bad = PostgresTestServer.url(url, user: "nobody", password: "leak-me-not", database: "nope")
        r = try run(["state", "list", "--stack", "stack.yaml", "--state", bad], [:])
        #expect(r.status == 1)
        #expect(!r.stderr.contains("leak-me-not") && !r.stdout.contains("leak-me-not"), "\(r.stderr)")
        #expect(r.stderr.contains("***"), "\(r.stderr)")
    }
}

/// TLS to the server: a certificate checked against a given CA and the host name, the
/// system's roots by default, and a clear error that says what to do when the check fails.
@Suite(.enabled(if: PostgresTestServer.available && PostgresTestServer.externalURL == nil,
                "needs the local PostgreSQL cluster the tests start (it has a TLS certificate for localhost)"))
struct PostgresTLSTests {
    /// A fresh database's URL on `host`, with `query` (sslmode, sslrootcert) in place of sslmode=disable.
    static func url(host: String, _ query: String) async throws -> String {
        let plain = try await PostgresTestServer.freshDatabase()
        return plain.replacingOccurrences(of: "@127.0.0.1:", with: "@\(host):")
            .replacingOccurrences(of: "sslmode=disable", with: query)
    }

    /// The local cluster's CA file (starting the cluster if need be).
    static func authority() async throws -> String {
        _ = try await PostgresTestServer.freshDatabase()
        return try #require(PostgresCluster.certificateAuthority)
    }

    @Test func verifyFullWithTheServersCAWorks() async throws {
        let ca = try await Self.authority()
        let store = try await SQLStateStore.postgres(try await Self.url(host: "localhost", "sslmode=verify-full&sslrootcert=\(ca)"))
        try await store.putResource(stack: "s", resource("a"))
        #expect(try await store.load(stack: "s").resources.count == 1)
        await store.close()
        let required = try await SQLStateStore.postgres(try await Self.url(host: "127.0.0.1", "sslmode=require"))
        #expect(try await required.stacks().isEmpty)
        await required.close()
    }

    @Test func anUnverifiableCertificateIsRefusedWithAHint() async throws {
        // The system's roots do not know the test CA.
        let unknownCA = await #expect(throws: StateError.self) {
            _ = try await SQLStateStore.postgres(try await Self.url(host: "localhost", "sslmode=verify-full"))
        }
        let text = unknownCA?.description ?? ""
        #expect(text.lowercased().contains("certificate") && text.contains("sslrootcert"), "\(text)")
        // The right CA, the wrong name: the certificate is for localhost, not 127.0.0.1.
        let ca = try await Self.authority()
        let wrongName = await #expect(throws: StateError.self) {
            _ = try await SQLStateStore.postgres(try await Self.url(host: "127.0.0.1", "sslmode=verify-full&sslrootcert=\(ca)"))
        }
        let wrongNameText = wrongName?.description ?? ""
        #expect(wrongNameText.contains("does not name the host") && wrongNameText.contains("verify-ca"), "\(wrongNameText)")
        // verify-ca checks the chain but not the name.
        let chainOnly = try await SQLStateStore.postgres(try await Self.url(host: "127.0.0.1", "sslmode=verify-ca&sslrootcert=\(ca)"))
        await chainOnly.close()
    }
}

extension PostgresStateStoreTests {
    /// Encryption at rest for the team's database: a dump of it holds no secret, and a store that has
    /// no shared key refuses to write one rather than sealing with a key only its machine has.
    @Test func sensitiveValuesAreSealedInPostgreSQL() async throws {
        let secret = "PG-SECRET-41d2"
        try await withStore { store, url in
            try await store.putResource(stack: "team", ResourceState(
                address: ResourceAddress(name: "db"), type: "aws.db", provider: "aws", id: "db-1",
                attributes: ["password": .string(secret)], sensitiveAttributes: ["password"]))
            try await store.setOutputs(stack: "team", [OutputState(name: "token", value: .string(secret), sensitive: true)])
            _ = try await store.journalStart(stack: "team", address: ResourceAddress(name: "db"), type: "aws.db", provider: "aws",
                                             action: .create, token: "t", planned: ["password": Value.string(secret).markedSensitive])
            let columns = try await store.queryStrings("SELECT attributes || coalesce(sealed, '') FROM ethstack.resources")
                + (try await store.queryStrings("SELECT value FROM ethstack.outputs"))
                + (try await store.queryStrings("SELECT planned || coalesce(sealed, '') FROM ethstack.journal"))
            #expect(!columns.isEmpty && !columns.contains { $0.contains(secret) }, "\(columns)")
            #expect(try await store.load(stack: "team").outputs["token"]?.value == .string(secret))

            let keyless = try await SQLStateStore.postgres(url, keyring: StateKeyring(environment: [:], fallback: .none))
            let error = await #expect(throws: StateKeyError.self) {
                try await keyless.setOutputs(stack: "team", [OutputState(name: "token", value: "new", sensitive: true)])
            }
            #expect(error?.description.contains("PostgreSQL") == true && error?.description.contains("ETHSTACK_STATE_KEY") == true)
            await #expect(throws: StateKeyError.self) { _ = try await keyless.load(stack: "team") }
            await keyless.close()
        }
    }
}

import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackState
#if canImport(Glibc)
import Glibc
#endif

/// Encryption at rest: what a copy of the state database (a backup, a CI artifact, a dump of the
/// team's PostgreSQL) gives away — no secret — and what a missing or wrong key does.
@Suite struct StateEncryptionTests {
    static let secret = "SUPERSECRET-7c1e9a"

    private static func key(_ seed: UInt8) throws -> StateKey {
        try StateKey(text: Data(repeating: seed, count: 32).base64EncodedString(), source: "test key \(seed)")
    }

    private static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-seal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Every byte the SQLite database left on disk (the file, its WAL and shared memory).
    private static func bytesOnDisk(_ db: String) -> Data {
        var all = Data()
        for suffix in ["", "-wal", "-shm", "-journal"] {
            if let data = FileManager.default.contents(atPath: db + suffix) { all.append(data) }
        }
        return all
    }

    /// A resource with a sensitive attribute, a sensitive output and an open journal row whose
    /// planned values hold the secret.
    private static func writeSecrets(_ store: SQLStateStore, stack: String) async throws -> Int64 {
        try await store.putResource(stack: stack, ResourceState(
            address: ResourceAddress(name: "db"), type: "aws.db", provider: "aws", id: "db-1",
            attributes: ["name": "main", "password": .string(secret)], sensitiveAttributes: ["password"]))
        try await store.setOutputs(stack: stack, [OutputState(name: "token", value: .string(secret), sensitive: true),
                                                  OutputState(name: "url", value: "http://x", sensitive: false)])
        return try await store.journalStart(stack: stack, address: ResourceAddress(name: "db"), type: "aws.db", provider: "aws",
                                            action: .create, token: "t-1",
                                            planned: ["name": "main", "password": Value.string(secret).markedSensitive])
    }

    @Test func noSecretReachesTheDatabaseFileAndTheKeyReadsThemBack() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/state.db"
        let key = try Self.key(7)
        let store = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: key))
        let row = try await Self.writeSecrets(store, stack: "s")
        await store.close()
        let onDisk = Self.bytesOnDisk(db)
        #expect(onDisk.range(of: Data(Self.secret.utf8)) == nil, "the secret is in the database file in clear")
        #expect(onDisk.range(of: Data("http://x".utf8)) != nil, "values that are not sensitive stay readable")

        let again = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: key))
        let state = try await again.load(stack: "s")
        #expect(state.resources[ResourceAddress(name: "db")]?.attributes["password"] == .string(Self.secret))
        #expect(state.resources[ResourceAddress(name: "db")]?.sensitiveAttributes == ["password"])
        #expect(state.outputs["token"]?.value == .string(Self.secret))
        let journal = try await again.unfinishedJournal(stack: "s")
        #expect(journal.first?.planned["password"] == Value.string(Self.secret).markedSensitive,
                "planned secrets come back marked sensitive")
        #expect(journal.first?.planned["name"] == "main")

        // Closing the row drops its sealed values: a closed journal keeps no secret at all.
        try await again.journalFinish(stack: "s", journalID: row, outcome: .succeeded, message: nil, store: nil, remove: nil)
        #expect(try await again.queryStrings("SELECT count(sealed) FROM journal") == ["0"])
        await again.close()
    }

    @Test func aWrongOrMissingKeyIsAClearErrorNamingTheStack() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/state.db"
        let right = try Self.key(1), wrong = try Self.key(2)
        let store = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: right))
        _ = try await Self.writeSecrets(store, stack: "eth-testnet")
        await store.close()

        let other = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: wrong))
        let error = await #expect(throws: StateKeyError.self) { _ = try await other.load(stack: "eth-testnet") }
        let text = error?.description ?? ""
        #expect(text.contains("stack \"eth-testnet\"") && text.contains(right.id) && text.contains(wrong.id), "\(text)")
        #expect(!text.contains(Self.secret))
        await other.close()

        // No key anywhere (no variables, no per-user key file): the error says where it looked.
        let empty = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let none = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(environment: ["XDG_CONFIG_HOME": empty],
                                                                                   fallback: .userKeyFile))
        let missing = await #expect(throws: StateKeyError.self) { _ = try await none.load(stack: "eth-testnet") }
        #expect(missing?.description.contains("no state key is set") == true)
        #expect(missing?.description.contains("ETHSTACK_STATE_KEY") == true)
        #expect(!FileManager.default.fileExists(atPath: empty + "/ethstack/state.key"), "reading never makes a key")
        await none.close()

        // A stack without secrets needs no key at all.
        let plain = try await SQLStateStore.sqlite(path: dir + "/plain.db", keyring: StateKeyring(environment: [:], fallback: .none))
        try await plain.putResource(stack: "p", ResourceState(address: ResourceAddress(name: "a"), type: "core.data",
                                                              provider: "core", id: "1", attributes: ["x": 1]))
        #expect(try await plain.load(stack: "p").resources.count == 1)
        await plain.close()
    }

    @Test func anAlteredEnvelopeIsRefusedNotMisread() async throws {
        let key = try Self.key(3)
        let store = try await SQLStateStore.inMemory(keyring: StateKeyring(key: key))
        _ = try await Self.writeSecrets(store, stack: "s")
        let sealed = try #require(try await store.queryStrings("SELECT sealed FROM resources").first)
        // One bit of the ciphertext flipped.
        let parts = sealed.split(separator: ":")
        var box = try #require(Data(base64Encoded: String(parts[2])))
        box[box.count / 2] ^= 0x01
        try await store.executeRaw("UPDATE resources SET sealed = '\(parts[0]):\(parts[1]):\(box.base64EncodedString())'")
        let error = await #expect(throws: StateKeyError.self) { _ = try await store.load(stack: "s") }
        #expect(error?.description.contains("altered") == true)
        // Moving a sealed value to another stack does not open it either (the stack is authenticated).
        try await store.executeRaw("UPDATE resources SET sealed = '\(sealed)'")
        try await store.executeRaw("INSERT INTO stacks (name, lineage, serial, created, updated) VALUES ('t', 'l', 0, 0, 0)")
        try await store.executeRaw("UPDATE resources SET stack = 't'")
        await #expect(throws: StateKeyError.self) { _ = try await store.load(stack: "t") }
        await store.close()
    }

    @Test func rekeyReencryptsEverythingAndSealsOldClearRows() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/state.db"
        let old = try Self.key(4), new = try Self.key(5)
        let store = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: old))
        _ = try await Self.writeSecrets(store, stack: "s")
        // A row as ethstack wrote it before encryption at rest: the secret in the clear column.
        try await store.executeRaw("""
            INSERT INTO resources (stack, address, type, provider, id, attributes, sensitive_attributes)
            VALUES ('s', 'legacy', 'aws.db', 'aws', 'db-2', '{"password":"\(Self.secret)-old"}', '["password"]')
            """)
        #expect(try await store.load(stack: "s").resources[ResourceAddress(name: "legacy")]?.attributes["password"]
                == .string(Self.secret + "-old"), "rows from before migration 2 still read")

        // Refused while a stack is locked: its apply would keep sealing with the old key.
        let lock = try await store.lock(stack: "s", operation: "apply", timeout: 0, ttl: 60) { _ in }
        await #expect(throws: StateError.self) { _ = try await store.rekey(to: StateKeyring(key: new)) }
        try await store.unlock(lock)

        let result = try await store.rekey(to: StateKeyring(key: new))
        #expect(result.values == 4 && result.stacks == 1, "two resources, one output, one journal row: \(result)")
        await store.close()
        #expect(Self.bytesOnDisk(db).range(of: Data(Self.secret.utf8)) == nil, "the legacy clear value is gone from the file")

        let withOld = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: old))
        await #expect(throws: StateKeyError.self) { _ = try await withOld.load(stack: "s") }
        await withOld.close()
        let withNew = try await SQLStateStore.sqlite(path: db, keyring: StateKeyring(key: new))
        let state = try await withNew.load(stack: "s")
        #expect(state.resources[ResourceAddress(name: "legacy")]?.attributes["password"] == .string(Self.secret + "-old"))
        #expect(state.outputs["token"]?.value == .string(Self.secret))
        #expect(try await withNew.unfinishedJournal(stack: "s").first?.planned["password"] == Value.string(Self.secret).markedSensitive)
        await withNew.close()
    }

    @Test func theSQLiteFallbackKeyIsMadeOnceUserOnly() async throws {
        let config = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let environment = ["XDG_CONFIG_HOME": config]
        let first = try await SQLStateStore.inMemory(keyring: StateKeyring(environment: environment, fallback: .userKeyFile))
        _ = try await Self.writeSecrets(first, stack: "s")
        let path = config + "/ethstack/state.key"
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let dirAttributes = try FileManager.default.attributesOfItem(atPath: config + "/ethstack")
        #expect((dirAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        let made = try StateKeyring.readKeyFile(path)
        // A second store (another process) finds the same key instead of making a new one.
        let second = try StateKeyring(environment: environment, fallback: .userKeyFile).sealingKey(stack: "s")
        #expect(second.id == made.id)
        // The variables win over the file.
        let fromVariable = try StateKeyring(environment: environment.merging(["ETHSTACK_STATE_KEY": StateKey.generateText()]) { $1 },
                                            fallback: .userKeyFile).sealingKey(stack: "s")
        #expect(fromVariable.id != made.id && fromVariable.source == "ETHSTACK_STATE_KEY")
        // PostgreSQL never falls back to a key only this machine has.
        #expect(throws: StateKeyError.self) {
            _ = try StateKeyring(environment: environment, fallback: .none).sealingKey(stack: "team")
        }
        await first.close()
    }

    @Test func theCommandLineSealsAndRekeys() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
            stack: sealed
            variables:
              token: { sensitive: true }
            resources:
              note:
                type: core.data
                properties: { input: "${var.token}" }
            outputs:
              token: { value: "${var.token}", sensitive: true }
            """)
        let config = ws.dir + "/config"
        let env = ["XDG_CONFIG_HOME": config]
        var r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "token=\(Self.secret)"],
                                       in: ws.dir, environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: config + "/ethstack/state.key"))
        #expect(Self.bytesOnDisk(ws.dir + "/state/sealed.db").range(of: Data(Self.secret.utf8)) == nil)
        r = try EthstackBinary.run(["output", "--stack", "stack.yaml", "token"], in: ws.dir, environment: env)
        #expect(r.stdout == Self.secret + "\n", "\(r.stderr)")

        r = try EthstackBinary.run(["state", "rekey", "--stack", "stack.yaml", "--new-key-file", "new.key"], in: ws.dir, environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Re-encrypted 2 values in 1 stacks"), "\(r.stdout)")
        r = try EthstackBinary.run(["output", "--stack", "stack.yaml", "token"], in: ws.dir, environment: env)
        #expect(r.status == 1 && r.stderr.contains("stack \"sealed\"") && r.stderr.contains("are encrypted with state key"),
                "the old key no longer opens it: \(r.stderr)")
        r = try EthstackBinary.run(["output", "--stack", "stack.yaml", "token"], in: ws.dir,
                                   environment: env.merging(["ETHSTACK_STATE_KEY_FILE": ws.dir + "/new.key"]) { $1 })
        #expect(r.stdout == Self.secret + "\n", "\(r.stderr)")
    }
}

/// Lock fencing: a run whose lock is gone must stop writing, and only a certainly dead holder loses
/// its lock before it expires.
@Suite struct LockFencingTests {
    private static func database() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-fence-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/state.db"
    }

    private static func resource(_ name: String) -> ResourceState {
        ResourceState(address: ResourceAddress(name: name), type: "core.data", provider: "core", id: name, attributes: [:])
    }

    @Test func aRunWhoseLockWasTakenOverCannotWrite() async throws {
        let db = try Self.database()
        let mine = try await SQLStateStore.sqlite(path: db)
        let theirs = try await SQLStateStore.sqlite(path: db)
        let lock = try await mine.lock(stack: "s", operation: "apply", timeout: 0, ttl: 600) { _ in }
        try await mine.putResource(stack: "s", Self.resource("before"))

        // Someone releases it (`ethstack lock release`) and a colleague's apply takes it.
        try await theirs.release(lockID: lock.id)
        let taken = try await theirs.lock(stack: "s", operation: "apply", timeout: 0, ttl: 600) { _ in }
        let error = await #expect(throws: StateError.self) { try await mine.putResource(stack: "s", Self.resource("after")) }
        guard case .lockLost(let stack, let lockID, let now)? = error else { Issue.record("expected lockLost, got \(String(describing: error))"); return }
        #expect(stack == "s" && lockID == lock.id && now?.id == taken.id)
        #expect(error?.description.contains("was released or taken over") == true)
        for write in [
            { try await mine.journalStart(stack: "s", address: ResourceAddress(name: "x"), type: "t", provider: "p", action: .create, token: "k", planned: [:]) } as () async throws -> Any,
            { try await mine.appendHistory(stack: "s", HistoryEntry(serial: 1, who: "me", host: "h", when: Date(), command: "c", summary: "s")) },
            { try await mine.setOutputs(stack: "s", []) },
            { try await mine.beginRun(stack: "s") },
        ] {
            await #expect(throws: StateError.self) { _ = try await write() }
        }
        await #expect(throws: StateError.self) { _ = try await mine.renew(lock, ttl: 600) }
        #expect(try await theirs.load(stack: "s").resources.keys.map(\.description) == ["before"])
        // The new holder writes as usual; other stacks are not fenced by a lock on "s".
        try await theirs.putResource(stack: "s", Self.resource("theirs"))
        try await mine.putResource(stack: "other", Self.resource("free"))
        await mine.close(); await theirs.close()
    }

    @Test func aLockIsTakenOverOnlyWhenItsHolderIsCertainlyGone() async throws {
        let store = try await SQLStateStore.sqlite(path: try Self.database())
        let me = try #require(ProcessIdentity.current, "Linux: /proc gives boot id, pid namespace and start time")
        let later = SQLStateStore.storedDate(Date().addingTimeInterval(3600))
        let now = SQLStateStore.storedDate(Date())
        func lock(_ stack: String, pid: Int32, process: ProcessIdentity) -> LockInfo {
            LockInfo(id: "lock-\(stack)", stack: stack, holder: "ghost", pid: pid, host: store.host, operation: "apply",
                     created: now, expires: later, process: process.text)
        }
        // Our pid, but another start time: the pid was reused by a new process — the holder is gone.
        var reused = me
        reused.startTime = String((Int(me.startTime) ?? 0) + 12345)
        try await store.insertLock(lock("reused", pid: getpid(), process: reused))
        let taken = try await store.lock(stack: "reused", operation: "apply", timeout: 0, ttl: 60) { _ in }
        #expect(taken.id != "lock-reused")
        #expect(taken.process == me.text)

        // A dead pid, but in another pid namespace (another container with the same host name):
        // not ours to judge, it waits for expiry.
        var container = me
        container.pidNamespace = "pid:[1]"
        try await store.insertLock(lock("container", pid: 999_999, process: container))
        await #expect(throws: StateError.self) { _ = try await store.lock(stack: "container", operation: "apply", timeout: 0, ttl: 60) { _ in } }

        // Another boot of a machine with this host name: the same.
        var rebooted = me
        rebooted.bootID = "00000000-0000-0000-0000-000000000000"
        try await store.insertLock(lock("rebooted", pid: 999_999, process: rebooted))
        await #expect(throws: StateError.self) { _ = try await store.lock(stack: "rebooted", operation: "apply", timeout: 0, ttl: 60) { _ in } }

        // A live holder (this process, as it is) keeps its lock.
        try await store.insertLock(lock("alive", pid: getpid(), process: me))
        await #expect(throws: StateError.self) { _ = try await store.lock(stack: "alive", operation: "apply", timeout: 0, ttl: 60) { _ in } }

        // In this namespace and boot, a pid that no longer exists: gone.
        try await store.insertLock(lock("dead", pid: 999_999, process: me))
        #expect(try await store.lock(stack: "dead", operation: "apply", timeout: 0, ttl: 60) { _ in }.id != "lock-dead")
        await store.close()
    }

    @Test func anApplyWhoseLockIsReleasedStopsAndSaysSo() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
            stack: fenced
            resources:
              first:
                type: core.sleep
                properties: { create_duration: 2s }
              second:
                type: core.data
                depends_on: [first]
                properties: { input: after }
            """)
        let apply = try EthstackBinary.start(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        var lockID: String?
        let deadline = Date().addingTimeInterval(30)
        while lockID == nil && Date() < deadline {
            let list = try EthstackBinary.run(["lock", "list", "--stack", "stack.yaml"], in: ws.dir)
            lockID = list.stdout.split(separator: "\n").first { $0.contains("\tfenced\t") }?.split(separator: "\t").first.map(String.init)
            if lockID == nil { usleep(50_000) }
        }
        let id = try #require(lockID, "the apply took its lock")
        #expect(try EthstackBinary.run(["lock", "release", id, "--stack", "stack.yaml"], in: ws.dir).status == 0)
        let done = try EthstackBinary.wait(apply, timeout: 60)
        #expect(done.status != 0)
        #expect(done.stdout.contains("was released or taken over") || done.stderr.contains("was released or taken over"),
                "\(done.stdout)\(done.stderr)")
        let listed = try EthstackBinary.run(["state", "list", "--stack", "stack.yaml"], in: ws.dir)
        #expect(!listed.stdout.contains("second"), "nothing after the loss was started: \(listed.stdout)")
    }
}

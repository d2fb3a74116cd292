import Crypto
import EthstackModel
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key that seals sensitive values in the state database: 32 bytes for AES-256-GCM, and a short
/// public id (from its hash) that every envelope carries, so a wrong key is named, not guessed.
public struct StateKey: Sendable {
    // The bytes, not a SymmetricKey: that type is not Sendable.
    private let bytes: Data
    var key: SymmetricKey { SymmetricKey(data: bytes) }
    /// 16 hex digits of SHA-256 over the key: shown in errors and in `state rekey`.
    public let id: String
    /// Where the key came from ("ETHSTACK_STATE_KEY", "key file /path"): errors say it.
    public let source: String

    /// A key from its text form: base64 of 32 bytes (what `openssl rand -base64 32` prints).
    /// The error never contains the text.
    public init(text: String, source: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: trimmed), data.count == 32 else {
            throw StateKeyError.malformed(source: source)
        }
        self.init(data: data, source: source)
    }

    init(data: Data, source: String) {
        bytes = data
        id = SHA256.hash(data: data).prefix(8).map { String(format: "%02x", $0) }.joined()
        self.source = source
    }

    /// A new random key, in its text form.
    public static func generateText() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
    }
}

public enum StateKeyError: Error, Sendable, CustomStringConvertible {
    case malformed(source: String)
    case unreadable(path: String, message: String)
    case missing(stack: String, keyID: String?, searched: String)
    case wrongKey(stack: String, sealedWith: String, have: StateKeyDescription)
    case altered(stack: String, what: String)
    case sharedDatabaseNeedsKey(stack: String)

    public struct StateKeyDescription: Sendable { let id: String; let source: String }

    public var description: String {
        switch self {
        case .malformed(let source):
            return "the state key from \(source) is not base64 of 32 bytes (make one with: openssl rand -base64 32)"
        case .unreadable(let path, let message):
            return "cannot read the state key file \(path): \(message)"
        case .missing(let stack, let keyID, let searched):
            let sealed = keyID.map { " are encrypted with state key \($0), and" } ?? " must be encrypted, and"
            return "stack \"\(stack)\": its sensitive values\(sealed) no state key is set (looked at \(searched)); set ETHSTACK_STATE_KEY or ETHSTACK_STATE_KEY_FILE"
        case .wrongKey(let stack, let sealedWith, let have):
            return "stack \"\(stack)\": its sensitive values are encrypted with state key \(sealedWith), but the key from \(have.source) is \(have.id); set ETHSTACK_STATE_KEY or ETHSTACK_STATE_KEY_FILE to the key this database was written with"
        case .altered(let stack, let what):
            return "stack \"\(stack)\": \(what) cannot be decrypted: the data was altered or is not an ethstack envelope"
        case .sharedDatabaseNeedsKey(let stack):
            return "stack \"\(stack)\" has sensitive values and its state is in PostgreSQL: set ETHSTACK_STATE_KEY or ETHSTACK_STATE_KEY_FILE to the key everyone using this database shares (a key kept only on this machine would lock colleagues out)"
        }
    }
}

/// Finds the state key once, when a value first needs sealing or opening — a store whose stacks
/// hold no secret never needs one (a plan from an empty state runs without).
///
/// Where it looks: `ETHSTACK_STATE_KEY` (the key's text), then `ETHSTACK_STATE_KEY_FILE` (a file
/// holding it), then — for a SQLite database only — the per-user key file
/// `$XDG_CONFIG_HOME/ethstack/state.key` (`~/.config/ethstack/state.key`), created 0600 with a new
/// random key the first time a value is sealed. A PostgreSQL database is shared, so it never falls
/// back to a key only this machine has.
public final class StateKeyring: @unchecked Sendable {
    public enum Fallback: Sendable { case userKeyFile, none }

    private let environment: [String: String]
    private let fallback: Fallback
    private let mutex = NSLock()
    private var resolved: StateKey?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, fallback: Fallback) {
        self.environment = environment
        self.fallback = fallback
    }

    /// A keyring holding exactly `key` (tests, and `state rekey`'s new key).
    public init(key: StateKey) {
        environment = [:]
        fallback = .none
        resolved = key
    }

    /// The per-user key file the SQLite fallback uses.
    public static func userKeyFilePath(environment: [String: String]) -> String? {
        if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty { return config + "/ethstack/state.key" }
        guard let home = environment["HOME"], !home.isEmpty else { return nil }
        return home + "/.config/ethstack/state.key"
    }

    /// What a missing key error lists as searched.
    private var searched: String {
        var places = ["ETHSTACK_STATE_KEY", "ETHSTACK_STATE_KEY_FILE"]
        if fallback == .userKeyFile, let path = Self.userKeyFilePath(environment: environment) { places.append(path) }
        return places.joined(separator: ", ")
    }

    /// The key to seal with; with the SQLite fallback a missing per-user key file is created.
    func sealingKey(stack: String) throws -> StateKey {
        try withLock {
            if let key = try resolveLocked(create: true) { return key }
            if fallback == .none { throw StateKeyError.sharedDatabaseNeedsKey(stack: stack) }
            throw StateKeyError.missing(stack: stack, keyID: nil, searched: searched)
        }
    }

    /// The key that opens an envelope sealed with key `id`.
    func openingKey(id: String, stack: String) throws -> StateKey {
        try withLock {
            guard let key = try resolveLocked(create: false) else {
                throw StateKeyError.missing(stack: stack, keyID: id, searched: searched)
            }
            guard key.id == id else {
                throw StateKeyError.wrongKey(stack: stack, sealedWith: id, have: .init(id: key.id, source: key.source))
            }
            return key
        }
    }

    /// Reads a configured key now (not the per-user fallback, which is made only when needed), so
    /// a malformed `ETHSTACK_STATE_KEY` or an unreadable key file fails the command at its start,
    /// not halfway through an apply.
    func checkConfigured() throws {
        guard environment["ETHSTACK_STATE_KEY"]?.isEmpty == false || environment["ETHSTACK_STATE_KEY_FILE"]?.isEmpty == false
        else { return }
        _ = try withLock { try resolveLocked(create: false) }
    }

    private func withLock<T>(_ body: () throws -> T) rethrows -> T {
        mutex.lock()
        defer { mutex.unlock() }
        return try body()
    }

    private func resolveLocked(create: Bool) throws -> StateKey? {
        if let resolved { return resolved }
        var key: StateKey?
        if let text = environment["ETHSTACK_STATE_KEY"], !text.isEmpty {
            key = try StateKey(text: text, source: "ETHSTACK_STATE_KEY")
        } else if let path = environment["ETHSTACK_STATE_KEY_FILE"], !path.isEmpty {
            key = try Self.readKeyFile(path)
        } else if fallback == .userKeyFile, let path = Self.userKeyFilePath(environment: environment) {
            if FileManager.default.fileExists(atPath: path) {
                key = try Self.readKeyFile(path)
            } else if create {
                key = try Self.createKeyFile(path)
            }
        }
        resolved = key
        return key
    }

    public static func readKeyFile(_ path: String) throws -> StateKey {
        let text: String
        do {
            // A key file is 44 characters; anything much larger is not one (and is not read whole).
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            let data = try handle.read(upToCount: 4096) ?? Data()
            text = String(decoding: data, as: UTF8.self)
        } catch {
            throw StateKeyError.unreadable(path: path, message: (error as NSError).localizedDescription)
        }
        return try StateKey(text: text, source: "key file \(path)")
    }

    /// Writes a new random key to `path` (0600, its directory 0700) without ever replacing a file
    /// another process created first: written under a temporary name, then hard-linked into place.
    public static func createKeyFile(_ path: String) throws -> StateKey {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw StateKeyError.unreadable(path: path, message: "cannot create \(directory): \((error as NSError).localizedDescription)")
        }
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw StateKeyError.unreadable(path: path, message: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let text = StateKey.generateText() + "\n"
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, text.utf8.count) }
        let synced = fsync(fd) == 0
        close(fd)
        defer { unlink(temporary) }
        guard written == text.utf8.count, synced else {
            throw StateKeyError.unreadable(path: path, message: "cannot write \(temporary)")
        }
        // link fails with EEXIST when another process won the race: then its key is the key.
        if link(temporary, path) != 0 && errno != EEXIST {
            throw StateKeyError.unreadable(path: path, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        return try readKeyFile(path)
    }
}

/// Seals and opens the sensitive parts of rows: an envelope `esk1:KEYID:BASE64(nonce|ciphertext|tag)`
/// of the value's JSON, authenticated with the stack's name and the column (a sealed value moved to
/// another stack or column does not open). JSON never starts with `esk1:`, so a column can hold
/// either.
struct StateSealer: Sendable {
    static let prefix = "esk1:"
    let keyring: StateKeyring

    static func isSealed(_ text: String) -> Bool { text.hasPrefix(prefix) }

    func seal(_ value: Value, stack: String, column: String) throws -> String {
        let key = try keyring.sealingKey(stack: stack)
        let plain = Data(value.deepUnmarked.jsonString().utf8)
        let box = try AES.GCM.seal(plain, using: key.key, authenticating: Data("\(stack)\u{0}\(column)".utf8))
        guard let combined = box.combined else { throw StateKeyError.altered(stack: stack, what: column) }
        return Self.prefix + key.id + ":" + combined.base64EncodedString()
    }

    func open(_ text: String, stack: String, column: String) throws -> Value {
        let parts = text.dropFirst(Self.prefix.count).split(separator: ":", maxSplits: 1)
        guard Self.isSealed(text), parts.count == 2, let combined = Data(base64Encoded: String(parts[1])) else {
            throw StateKeyError.altered(stack: stack, what: column)
        }
        let key = try keyring.openingKey(id: String(parts[0]), stack: stack)
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            let plain = try AES.GCM.open(box, using: key.key, authenticating: Data("\(stack)\u{0}\(column)".utf8))
            return try Value.parseJSON(String(decoding: plain, as: UTF8.self))
        } catch {
            throw StateKeyError.altered(stack: stack, what: column)
        }
    }
}

import EthstackModel
import EthstackEngine
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the store writes values into columns and reads rows back, and who it says holds a lock.
extension SQLStateStore {
    static let resourceColumns =
        "address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version, sealed"
    static let journalColumns =
        "id, address, type, provider, action, token, planned, started, finished, outcome, message, sealed"
    static let lockColumns = "id, stack, holder, pid, host, operation, created, expires, process"

    // MARK: Encoding

    /// Values are stored without sensitive marks; unknowns become null (`jsonString` does that).
    static func encode(_ value: Value) -> String { value.deepUnmarked.jsonString() }

    static func encodeMap(_ map: [String: Value]) -> String { encode(.map(map)) }

    static func encodeStrings(_ strings: [String]) -> String { encode(.list(strings.map(Value.string))) }

    /// Dates as the store writes and reads them back (unix seconds as a double), so a LockInfo
    /// returned by `lock` equals the one `locks()` reads.
    static func storedDate(_ date: Date) -> Date { Date(timeIntervalSince1970: date.timeIntervalSince1970) }

    // MARK: Decoding

    static func decodeJSON(_ row: SQLRow, _ column: Int, _ name: String) throws -> Value {
        let text = try row.requiredText(column, name)
        do {
            return try Value.parseJSON(text)
        } catch {
            throw SQLRow.corrupt(name, "is not valid JSON (\(text.prefix(80)))")
        }
    }

    static func decodeMap(_ row: SQLRow, _ column: Int, _ name: String) throws -> [String: Value] {
        switch try decodeJSON(row, column, name) {
        case .map(let m): return m
        case .null: return [:]
        default: throw SQLRow.corrupt(name, "is not a JSON object")
        }
    }

    static func decodeStrings(_ row: SQLRow, _ column: Int, _ name: String) throws -> [String] {
        switch try decodeJSON(row, column, name) {
        case .null: return []
        case .list(let items):
            return try items.map { item in
                guard case .string(let s) = item else { throw SQLRow.corrupt(name, "is not a JSON list of strings") }
                return s
            }
        default: throw SQLRow.corrupt(name, "is not a JSON list of strings")
        }
    }

    static func decodeAddress(_ text: String, _ name: String) throws -> ResourceAddress {
        guard let address = ResourceAddress(text) else { throw SQLRow.corrupt(name, "has an invalid address \"\(text)\"") }
        return address
    }

    /// The sealed part of a row (a JSON object in an envelope), or [:] when the column is null.
    static func openSealedMap(_ row: SQLRow, _ column: Int, _ name: String, stack: String,
                              sealer: StateSealer) throws -> [String: Value] {
        guard let text = row.text(column) else { return [:] }
        guard case .map(let map) = try sealer.open(text, stack: stack, column: name) else {
            throw SQLRow.corrupt(name, "does not hold a sealed JSON object")
        }
        return map
    }

    /// Splits attributes into what is stored in clear and what is sealed (`sealed` nil when
    /// nothing is sensitive: a stack without secrets never needs a key).
    static func split(_ attributes: [String: Value], sensitive: Set<String>, stack: String, column: String,
                      sealer: StateSealer) throws -> (clear: [String: Value], sealed: String?) {
        var clear = attributes, secret: [String: Value] = [:]
        for name in sensitive { if let value = clear.removeValue(forKey: name) { secret[name] = value } }
        guard !secret.isEmpty else { return (clear, nil) }
        return (clear, try sealer.seal(.map(secret), stack: stack, column: column))
    }

    /// Where a sealed id travels inside the sealed attributes, and what the id column holds instead.
    static let sealedIDKey = "ethstack:id"
    static let sealedIDPlaceholder = "(sealed)"

    /// A row of `resourceColumns`.
    static func decodeResource(_ row: SQLRow, stack: String, sealer: StateSealer) throws -> ResourceState {
        var resource = try decodeResourceColumns(row, stack: stack, sealer: sealer)
        if case .string(let id)? = resource.attributes.removeValue(forKey: sealedIDKey) { resource.id = id }
        return resource
    }

    private static func decodeResourceColumns(_ row: SQLRow, stack: String, sealer: StateSealer) throws -> ResourceState {
        let address = try decodeAddress(try row.requiredText(0, "resources.address"), "resources.address")
        let statusText = try row.requiredText(7, "resources.status")
        guard let status = ResourceState.Status(rawValue: statusText) else {
            throw SQLRow.corrupt("resources.status", "of \(address) is \"\(statusText)\"")
        }
        return ResourceState(
            address: address,
            type: try row.requiredText(1, "resources.type"),
            provider: try row.requiredText(2, "resources.provider"),
            id: try row.requiredText(3, "resources.id"),
            // Rows written before migration 2 hold sensitive attributes in clear: both are read.
            attributes: try decodeMap(row, 4, "resources.attributes of \(address)").merging(
                try openSealedMap(row, 9, "resources.sealed", stack: stack, sealer: sealer)) { _, sealed in sealed },
            sensitiveAttributes: try decodeStrings(row, 5, "resources.sensitive_attributes of \(address)"),
            dependencies: try decodeStrings(row, 6, "resources.dependencies of \(address)").map {
                try decodeAddress($0, "resources.dependencies of \(address)")
            },
            status: status,
            schemaVersion: Int(try row.requiredInt(8, "resources.schema_version")))
    }

    /// A row of `journalColumns`.
    static func decodeJournal(_ row: SQLRow, stack: String, sealer: StateSealer) throws -> JournalEntry {
        let id = try row.requiredInt(0, "journal.id")
        var outcome: JournalEntry.Outcome?
        if let text = row.text(9) {
            guard let o = JournalEntry.Outcome(rawValue: text) else {
                throw SQLRow.corrupt("journal.outcome", "of row \(id) is \"\(text)\"")
            }
            outcome = o
        }
        return JournalEntry(
            id: id,
            address: try decodeAddress(try row.requiredText(1, "journal.address"), "journal.address"),
            type: try row.requiredText(2, "journal.type"),
            provider: try row.requiredText(3, "journal.provider"),
            action: try ProviderOperation(journalText: row.requiredText(4, "journal.action")),
            token: try row.requiredText(5, "journal.token"),
            planned: try decodeMap(row, 6, "journal.planned of row \(id)").merging(
                try openSealedMap(row, 11, "journal.sealed", stack: stack, sealer: sealer).mapValues(Value.sensitive)) { _, sealed in sealed },
            started: try row.requiredDate(7, "journal.started"),
            finished: row.date(8),
            outcome: outcome,
            message: row.text(10))
    }

    /// A row of `lockColumns`.
    static func decodeLock(_ row: SQLRow) throws -> LockInfo {
        LockInfo(
            id: try row.requiredText(0, "locks.id"),
            stack: try row.requiredText(1, "locks.stack"),
            holder: try row.requiredText(2, "locks.holder"),
            pid: Int32(truncatingIfNeeded: try row.requiredInt(3, "locks.pid")),
            host: try row.requiredText(4, "locks.host"),
            operation: try row.requiredText(5, "locks.operation"),
            created: try row.requiredDate(6, "locks.created"),
            expires: try row.requiredDate(7, "locks.expires"),
            process: row.text(8) ?? "")
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

/// Who a lock holder is, beyond host name and pid (containers share host names; pids are reused):
/// the kernel's boot id, the pid namespace and the process's start time. Linux only; elsewhere (and
/// for locks written before migration 2) liveness falls back to "same host and the pid exists".
struct ProcessIdentity: Sendable, Equatable {
    var bootID: String
    var pidNamespace: String
    var startTime: String

    var text: String { "boot=\(bootID) pidns=\(pidNamespace) start=\(startTime)" }

    init(bootID: String, pidNamespace: String, startTime: String) {
        self.bootID = bootID; self.pidNamespace = pidNamespace; self.startTime = startTime
    }

    init?(text: String) {
        var fields: [Substring: Substring] = [:]
        for part in text.split(separator: " ") {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            fields[part[..<eq]] = part[part.index(after: eq)...]
        }
        guard let boot = fields["boot"], let ns = fields["pidns"], let start = fields["start"] else { return nil }
        self.init(bootID: String(boot), pidNamespace: String(ns), startTime: String(start))
    }

    static let current: ProcessIdentity? = {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines), !boot.isEmpty,
              let ns = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"),
              let start = startTime(of: getpid()) else { return nil }
        return ProcessIdentity(bootID: boot, pidNamespace: ns, startTime: start)
    }()

    /// Field 22 of /proc/PID/stat (clock ticks after boot), or nil when there is no such process.
    static func startTime(of pid: Int32) -> String? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm)" come fields 3…; the comm may hold spaces and parentheses.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    /// Whether the holder of `lock` is certainly gone. Same host is not enough: only a holder in this
    /// boot and pid namespace can be looked up; anywhere else its lock waits for its expiry.
    static func holderIsGone(_ lock: LockInfo, host: String) -> Bool {
        guard lock.host == host else { return false }
        if let theirs = ProcessIdentity(text: lock.process), let mine = current {
            guard theirs.bootID == mine.bootID, theirs.pidNamespace == mine.pidNamespace else { return false }
            guard let start = startTime(of: lock.pid) else { return true }
            return start != theirs.startTime // the pid now belongs to another process
        }
        return !SQLStateStore.processIsAlive(lock.pid)
    }
}

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
        "address, type, provider, id, attributes, sensitive_attributes, dependencies, status, schema_version"
    static let journalColumns =
        "id, address, type, provider, action, token, planned, started, finished, outcome, message"
    static let lockColumns = "id, stack, holder, pid, host, operation, created, expires"

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

    /// A row of `resourceColumns`.
    static func decodeResource(_ row: SQLRow) throws -> ResourceState {
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
            attributes: try decodeMap(row, 4, "resources.attributes of \(address)"),
            sensitiveAttributes: try decodeStrings(row, 5, "resources.sensitive_attributes of \(address)"),
            dependencies: try decodeStrings(row, 6, "resources.dependencies of \(address)").map {
                try decodeAddress($0, "resources.dependencies of \(address)")
            },
            status: status,
            schemaVersion: Int(try row.requiredInt(8, "resources.schema_version")))
    }

    /// A row of `journalColumns`.
    static func decodeJournal(_ row: SQLRow) throws -> JournalEntry {
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
            planned: try decodeMap(row, 6, "journal.planned of row \(id)"),
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

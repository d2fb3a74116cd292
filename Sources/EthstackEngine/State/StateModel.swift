import Foundation
import EthstackModel

/// A provider call that changes an object: what a journal row records and an apply event names.
/// A replacement is a create and a delete, each its own call.
public enum ProviderOperation: String, Sendable, Codable, CustomStringConvertible {
    case create, update, delete

    public var description: String { rawValue }

    /// Reads the journal's text; rows written before this type existed may say "replace" (a create).
    public init(journalText text: String) throws {
        if text == "replace" { self = .create; return }
        guard let op = ProviderOperation(rawValue: text) else {
            throw StateError.database(path: "journal", operation: "read the journal",
                                      message: "action \"\(text)\" is not create, update or delete")
        }
        self = op
    }
}

/// What ethstack recorded about one resource instance.
public struct ResourceState: Sendable, Hashable {
    public enum Status: String, Sendable, Codable {
        /// Created and known good.
        case ready
        /// Created, but its create or update failed part-way: replaced on the next apply.
        case tainted
    }

    public var address: ResourceAddress
    public var type: String
    /// The provider configuration that manages it: `core`, `aws`, `aws.backup`.
    public var provider: String
    public var id: String
    public var attributes: [String: Value]
    /// Top-level attributes that are sensitive (their marks are not stored inside the values).
    public var sensitiveAttributes: [String]

    /// The id as shown to people: "(sensitive value)" when it repeats a sensitive attribute's
    /// secret (a provider made it from one), the id otherwise.
    public var shownID: String {
        guard !sensitiveAttributes.isEmpty else { return id }
        let secrets = Value.sensitiveStrings(in: sensitiveAttributes.compactMap { attributes[$0]?.markedSensitive })
        return id.repeatsAny(of: secrets) ? "(sensitive value)" : id
    }
    /// Addresses this instance depended on when it was last applied: destroy runs in reverse order.
    public var dependencies: [ResourceAddress]
    public var status: Status
    public var schemaVersion: Int

    public init(address: ResourceAddress, type: String, provider: String, id: String, attributes: [String: Value],
                sensitiveAttributes: [String] = [], dependencies: [ResourceAddress] = [], status: Status = .ready,
                schemaVersion: Int = 1) {
        self.address = address
        self.type = type
        self.provider = provider
        self.id = id
        self.attributes = attributes
        self.sensitiveAttributes = sensitiveAttributes
        self.dependencies = dependencies
        self.status = status
        self.schemaVersion = schemaVersion
    }

    /// Attributes with the sensitive marks restored.
    public var markedAttributes: [String: Value] {
        guard !sensitiveAttributes.isEmpty else { return attributes }
        var out = attributes
        for name in sensitiveAttributes { if let v = out[name] { out[name] = v.markedSensitive } }
        return out
    }
}

public struct OutputState: Sendable, Hashable {
    public var name: String
    public var value: Value
    public var sensitive: Bool
    public init(name: String, value: Value, sensitive: Bool) {
        self.name = name; self.value = value; self.sensitive = sensitive
    }
}

/// One stack's recorded state.
public struct StackState: Sendable {
    public var name: String
    /// Fixed at the first write; nil while nothing was ever written.
    public var lineage: String?
    /// Bumped by every apply, destroy or state edit.
    public var serial: Int
    public var resources: [ResourceAddress: ResourceState]
    public var outputs: [String: OutputState]

    public init(name: String, lineage: String? = nil, serial: Int = 0, resources: [ResourceAddress: ResourceState] = [:],
                outputs: [String: OutputState] = [:]) {
        self.name = name
        self.lineage = lineage
        self.serial = serial
        self.resources = resources
        self.outputs = outputs
    }

    public static func empty(_ name: String) -> StackState { StackState(name: name) }
}

/// A row of the journal: an operation that was started, and how it ended (nil while in flight).
public struct JournalEntry: Sendable, Hashable {
    public enum Outcome: String, Sendable { case succeeded, failed, abandoned, recovered }
    public var id: Int64
    public var address: ResourceAddress
    public var type: String
    public var provider: String
    public var action: ProviderOperation
    public var token: String
    /// The attributes the call was made with (sensitive marks dropped).
    public var planned: [String: Value]
    public var started: Date
    public var finished: Date?
    public var outcome: Outcome?
    public var message: String?

    public init(id: Int64, address: ResourceAddress, type: String, provider: String, action: ProviderOperation, token: String,
                planned: [String: Value], started: Date, finished: Date? = nil, outcome: Outcome? = nil,
                message: String? = nil) {
        self.id = id; self.address = address; self.type = type; self.provider = provider; self.action = action
        self.token = token; self.planned = planned; self.started = started; self.finished = finished
        self.outcome = outcome; self.message = message
    }
}

public struct LockInfo: Sendable, Hashable, Codable {
    public var id: String
    public var stack: String
    public var holder: String
    public var pid: Int32
    public var host: String
    public var operation: String
    public var created: Date
    public var expires: Date
    /// The holder's process beyond host and pid (boot id, pid namespace, start time; empty when
    /// unknown), so a lock is taken over only when its holder is certainly gone.
    public var process: String
    public init(id: String, stack: String, holder: String, pid: Int32, host: String, operation: String,
                created: Date, expires: Date, process: String = "") {
        self.id = id; self.stack = stack; self.holder = holder; self.pid = pid; self.host = host
        self.operation = operation; self.created = created; self.expires = expires; self.process = process
    }
}

public struct HistoryEntry: Sendable, Hashable {
    public var serial: Int
    public var who: String
    public var host: String
    public var when: Date
    public var command: String
    /// e.g. "3 created, 1 updated, 0 replaced, 2 deleted, 1 failed"
    public var summary: String
    public init(serial: Int, who: String, host: String, when: Date, command: String, summary: String) {
        self.serial = serial; self.who = who; self.host = host; self.when = when; self.command = command
        self.summary = summary
    }
}

public enum StateError: Error, Sendable, CustomStringConvertible {
    case newerSchema(path: String, found: Int, supported: Int)
    case locked(LockInfo)
    case noSuchLock(String)
    case notFound(ResourceAddress)
    case alreadyExists(ResourceAddress)
    case database(path: String, operation: String, message: String)
    /// This run's lock was released or taken over: it must stop writing (`now` holds the stack, if anyone).
    case lockLost(stack: String, lockID: String, now: LockInfo?)

    public var description: String {
        switch self {
        case .newerSchema(let path, let found, let supported):
            return "\(path) was written by a newer ethstack (state schema \(found); this ethstack knows up to \(supported)); upgrade ethstack to use it"
        case .locked(let lock):
            let since = ISO8601DateFormatter().string(from: lock.created)
            return "stack \"\(lock.stack)\" is locked by \(lock.holder) (pid \(lock.pid) on \(lock.host), \(lock.operation)) since \(since); lock id \(lock.id). If that process is gone, run: ethstack lock release \(lock.id)"
        case .noSuchLock(let id): return "no lock with id \(id)"
        case .notFound(let a): return "no resource \(a) in state"
        case .alreadyExists(let a): return "resource \(a) already exists in state"
        case .database(let path, let operation, let message): return "state database \(path): \(operation): \(message)"
        case .lockLost(let stack, let lockID, let now):
            let by = now.map { " and is now held by \($0.holder) (pid \($0.pid) on \($0.host), \($0.operation)), lock id \($0.id)" } ?? ""
            return "stack \"\(stack)\": this run's lock \(lockID) was released or taken over\(by); this run stops and writes nothing more. Run `ethstack plan` once the stack is free to see where it stands"
        }
    }
}

/// Reads a stack's recorded state.
public protocol StateReader: Sendable {
    func load(stack: String) async throws -> StackState
    func history(stack: String) async throws -> [HistoryEntry]
    /// Journal rows that were started and never finished (a crash or an abandoned call).
    func unfinishedJournal(stack: String) async throws -> [JournalEntry]
    func stacks() async throws -> [String]
}

/// Writes state one resource at a time: never a rewrite of the whole state.
public protocol StateWriter: Sendable {
    /// Starts an apply/destroy/state edit: fixes the lineage if new, bumps the serial, returns the new serial.
    func beginRun(stack: String) async throws -> (lineage: String, serial: Int)
    /// Records the intent of a provider call before it is made.
    func journalStart(stack: String, address: ResourceAddress, type: String, provider: String, action: ProviderOperation,
                      token: String, planned: [String: Value]) async throws -> Int64
    /// In one transaction: closes the journal row and stores (or, with `resource == nil` and
    /// `remove` set, deletes) the resource.
    func journalFinish(stack: String, journalID: Int64, outcome: JournalEntry.Outcome, message: String?,
                       store resource: ResourceState?, remove: ResourceAddress?) async throws
    /// Closes a journal row without touching resources (crash recovery).
    func closeJournal(id: Int64, outcome: JournalEntry.Outcome, message: String?) async throws
    func putResource(stack: String, _ resource: ResourceState) async throws
    func removeResource(stack: String, address: ResourceAddress) async throws
    func moveResource(stack: String, from: ResourceAddress, to: ResourceAddress) async throws
    func setOutputs(stack: String, _ outputs: [OutputState]) async throws
    func appendHistory(stack: String, _ entry: HistoryEntry) async throws
}

/// The stack lock: one apply, destroy, import or state edit at a time.
public protocol StateLocker: Sendable {
    /// Takes the lock, waiting up to `timeout` seconds; a lock whose holder is dead (same host) or
    /// whose expiry passed is taken over, and `onTakeover` is told which.
    func lock(stack: String, operation: String, timeout: Double, ttl: Double,
              onTakeover: @Sendable (LockInfo) -> Void) async throws -> LockInfo
    func unlock(_ lock: LockInfo) async throws
    /// Extends a held lock's expiry (long applies renew it); fails when the lock was lost.
    func renew(_ lock: LockInfo, ttl: Double) async throws -> LockInfo
    func locks() async throws -> [LockInfo]
    func release(lockID: String) async throws
}

public typealias StateStore = StateReader & StateWriter & StateLocker

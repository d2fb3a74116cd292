import Foundation
import EthstackModel

/// What apply reports while it works. The CLI renders these as a live display, plain lines or JSON.
public enum ApplyEvent: Sendable {
    case started(address: ResourceAddress, action: ProviderOperation)
    case progress(address: ResourceAddress, action: ProviderOperation, message: String, elapsed: Double)
    case completed(address: ResourceAddress, action: ProviderOperation, id: String?, elapsed: Double)
    case errored(address: ResourceAddress, action: ProviderOperation, message: String, elapsed: Double)
    case skipped(address: ResourceAddress, action: ProviderOperation, because: String)
    case recovered(address: ResourceAddress, message: String)
    /// An existing object an `import:` entry adopts was recorded.
    case imported(address: ResourceAddress, id: String)
    case interrupted(running: [String])
    case summary(ApplySummary)
    case outputs([String: Value])
}

public typealias ApplyObserver = @Sendable (ApplyEvent) -> Void

public struct ApplyFailure: Sendable, CustomStringConvertible {
    public var address: ResourceAddress
    public var action: ProviderOperation
    public var message: String
    public var description: String { "\(address) (\(action)): \(message)" }
}

public struct ApplySummary: Sendable {
    public var imported = 0
    public var created = 0
    public var updated = 0
    public var replaced = 0
    public var deleted = 0
    public var failures: [ApplyFailure] = []
    public var skipped: [ResourceAddress] = []
    public var interrupted = false
    public var elapsed: Double = 0
    /// The run was a destroy (what the summary line calls it).
    public var destroy = false

    public var succeeded: Bool { failures.isEmpty && skipped.isEmpty && !interrupted }

    public var line: String {
        var parts = ["\(created) added", "\(updated) changed", "\(deleted) destroyed"]
        if imported > 0 { parts.insert("\(imported) imported", at: 0) }
        if replaced > 0 { parts.insert("\(replaced) replaced", at: 2) }
        if !failures.isEmpty { parts.append("\(failures.count) failed") }
        if !skipped.isEmpty { parts.append("\(skipped.count) skipped") }
        return parts.joined(separator: ", ")
    }
}

/// Set by Ctrl-C: stop scheduling new work, let calls in flight finish.
public final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    public init() {}
    public func raise() { lock.lock(); raised = true; lock.unlock() }
    public var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }
}

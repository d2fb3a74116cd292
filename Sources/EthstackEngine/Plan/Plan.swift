import Foundation
import EthstackModel
import EthstackProviderAPI

/// What apply will do to one resource instance.
///
/// | action  | before               | after                                  |
/// |---------|----------------------|----------------------------------------|
/// | create  | nil                  | planned attributes (unknown = computed)|
/// | update  | refreshed attributes | planned attributes                     |
/// | replace | refreshed attributes | planned attributes of the new object   |
/// | delete  | refreshed attributes | nil                                    |
/// | no-op   | refreshed attributes | the same                               |
public enum ChangeAction: String, Sendable, Codable {
    case create
    case update
    case replace
    case delete
    case noop = "no-op"
}

/// Why a change is planned. Explains the plan; never drives the apply.
public enum ChangeReason: String, Sendable, Codable {
    case replaceBecauseOfAttribute = "replace_because_cannot_update"
    case replaceByRequest = "replace_by_request"
    case replaceBecauseTainted = "replace_because_tainted"
    case deleteBecauseNoResourceConfig = "delete_because_no_resource_config"
    case deleteBecauseCountIndex = "delete_because_count_index"
    case deleteBecauseEachKey = "delete_because_each_key"
    case deleteBecauseDestroy = "delete_because_destroy"
    case createBecauseGoneOutside = "create_because_deleted_outside"
}

public struct ResourceChange: Sendable {
    public var address: ResourceAddress
    public var type: String
    /// The provider configuration's name (`aws`, `aws.backup`).
    public var provider: String
    public var action: ChangeAction
    public var reason: ChangeReason?
    /// For replace: the attributes that force it.
    public var replacePaths: [String]
    public var before: [String: Value]?
    public var after: [String: Value]?
    public var createBeforeDestroy: Bool
    /// The declarations (resource names) this instance depends on, from references and depends_on.
    public var dependsOn: [String]
    /// The instance's id before the change, when it exists.
    public var priorID: String?
    public var schemaVersion: Int
    /// The provider's explanation of a replacement, for people (never drives the apply).
    public var note: String?
    /// What the provider expects to go wrong with this change (an apply that will conflict with
    /// another field manager), shown with the plan's warnings.
    public var warnings: [String] = []
    /// Set when an `import:` entry adopts the object first: apply records it (under this id) before
    /// the action, which is then about the imported object (no-op when it matches the stack).
    public var importID: String? = nil

    public init(address: ResourceAddress, type: String, provider: String, action: ChangeAction, reason: ChangeReason? = nil,
                replacePaths: [String] = [], before: [String: Value]?, after: [String: Value]?,
                createBeforeDestroy: Bool = false, dependsOn: [String] = [], priorID: String? = nil, schemaVersion: Int = 1) {
        self.address = address
        self.type = type
        self.provider = provider
        self.action = action
        self.reason = reason
        self.replacePaths = replacePaths
        self.before = before
        self.after = after
        self.createBeforeDestroy = createBeforeDestroy
        self.dependsOn = dependsOn
        self.priorID = priorID
        self.schemaVersion = schemaVersion
    }
}

public struct OutputChange: Sendable {
    public var name: String
    public var action: ChangeAction
    public var before: Value?
    public var after: Value?
    public var sensitive: Bool
}

/// A difference between what state recorded and what the provider read: changed outside ethstack.
public struct DriftEntry: Sendable {
    public enum Kind: String, Sendable, Codable { case changed, deleted }
    public var address: ResourceAddress
    public var type: String
    public var kind: Kind
    public var attributes: [String]
    public var before: [String: Value]
    public var after: [String: Value]?
}

/// A plan: plain, immutable data. Saved plans bind it to the stack file and the state it came from.
public struct Plan: Sendable {
    public static let formatVersion = "1.0"

    public var stack: String
    public var stackFile: String
    public var stackHash: String
    /// The state the plan was made from: nil lineage = empty state.
    public var lineage: String?
    public var serial: Int
    public var destroy: Bool
    public var variables: [String: Value]
    public var changes: [ResourceChange]
    public var outputChanges: [OutputChange]
    public var drift: [DriftEntry]
    /// Open journal rows found while planning: what a crashed run left in flight.
    public var recovered: [String]
    /// Records of objects deleted outside ethstack that the configuration no longer wants (or a
    /// destroy): apply drops them from state without a provider call.
    public var forget: [ResourceAddress] = []
    /// Rules of the stack this plan breaks: shown, saved, and never applied.
    public var violations: [PlanViolation] = []
    public var warnings: [String]

    public var toAdd: Int { changes.filter { $0.action == .create || $0.action == .replace }.count }
    public var toChange: Int { changes.filter { $0.action == .update }.count }
    public var toDestroy: Int { changes.filter { $0.action == .delete || $0.action == .replace }.count }
    public var toImport: Int { changes.filter { $0.importID != nil }.count }
    public var hasResourceChanges: Bool { changes.contains { $0.action != .noop || $0.importID != nil } || !forget.isEmpty }
    public var hasChanges: Bool { hasResourceChanges || outputChanges.contains { $0.action != .noop } }
}

import Foundation
import EthstackModel

/// A provider plugin: the resource types it offers and how to configure it.
///
/// The engine never imports a provider; the executable registers them. See
/// `Providers/README.md` for the lifecycle contract: what the engine promises at each call.
public protocol Provider: Sendable {
    /// The prefix of its resource types: `core`, `local`, `aws`.
    var name: String { get }
    var configurationSchema: [AttributeSchema] { get }
    var resourceSchemas: [ResourceSchema] { get }
    /// Returns a configured provider. Called once per configuration per run, lazily: a provider whose
    /// configuration refers to a resource of the same stack is configured the moment it is known.
    func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider
    /// Checks a resource's properties as written, with their positions, when the stack is
    /// validated (before any configuration): for checks the schema cannot express, such as the keys
    /// of a map property. Values inside `${…}` are not known here; skip them. No side effects.
    func validateResource(_ request: ValidateResourceRequest) -> [Diagnostic]
}

extension Provider {
    public var configurationSchema: [AttributeSchema] { [] }
    public func validateResource(_ request: ValidateResourceRequest) -> [Diagnostic] { [] }
}

/// A resource's properties as written in the stack file, every node with its `file:line:col`.
public struct ValidateResourceRequest: Sendable {
    public var type: String
    /// The resource's name (its address without an instance key).
    public var name: String
    public var properties: [ConfigEntry]
    /// The directory relative paths in the stack are resolved against (for `file("…")`).
    public var baseDirectory: String
    public init(type: String, name: String, properties: [ConfigEntry], baseDirectory: String) {
        self.type = type; self.name = name; self.properties = properties; self.baseDirectory = baseDirectory
    }
}

public struct ProviderConfiguration: Sendable {
    public var values: [String: Value]
    public var stackName: String
    /// The directory relative paths in the stack are resolved against.
    public var baseDirectory: String
    /// The run's `--parallelism`: how many calls the provider may have in flight at once.
    public var parallelism: Int

    public init(values: [String: Value], stackName: String, baseDirectory: String, parallelism: Int = 10) {
        self.values = values
        self.stackName = stackName
        self.baseDirectory = baseDirectory
        self.parallelism = max(1, parallelism)
    }
}

/// What marks an object as owned by a stack: written on every object a provider creates (AWS tags,
/// Kubernetes labels…) so that crash recovery and orphan detection can find it.
public struct ResourceMark: Sendable, Hashable, Codable {
    public var stack: String
    public var address: ResourceAddress
    /// The idempotency token of the create call that made the object.
    public var token: String

    public init(stack: String, address: ResourceAddress, token: String) {
        self.stack = stack
        self.address = address
        self.token = token
    }
}

/// Reports progress of a long call to the apply display ("waiting for ACTIVE, 40s").
public typealias ProgressReporter = @Sendable (String) -> Void

public struct ReadRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    public var id: String
    /// What state recorded last time.
    public var prior: [String: Value]
    public init(type: String, address: ResourceAddress, id: String, prior: [String: Value]) {
        self.type = type; self.address = address; self.id = id; self.prior = prior
    }
}

public struct ReadResponse: Sendable {
    public var id: String
    public var attributes: [String: Value]
    public init(id: String, attributes: [String: Value]) { self.id = id; self.attributes = attributes }
}

public struct PlanChangeRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    /// nil when the object is to be created.
    public var prior: [String: Value]?
    /// Configuration merged with prior computed values; unknown where not yet known.
    public var proposed: [String: Value]
    /// True when the engine refines a change just before applying it (the plan was made): the
    /// values are final, and a check the apply call itself makes (a server-side dry run) is wasted.
    public var applying: Bool
    public init(type: String, address: ResourceAddress, prior: [String: Value]?, proposed: [String: Value], applying: Bool = false) {
        self.type = type; self.address = address; self.prior = prior; self.proposed = proposed; self.applying = applying
    }
}

public struct PlanChangeResponse: Sendable {
    public var planned: [String: Value]
    /// Attributes whose change the provider says cannot be made in place (beyond the schema's).
    public var requiresReplacement: [String]
    /// Why the object must be replaced, shown with the plan when it is ("Kurtosis cannot update an
    /// enclave in place"). Display only.
    public var replacementReason: String?
    /// What the provider already knows will go wrong on apply without being a reason to refuse the
    /// plan (a drift correction that will conflict with another field manager). Display only.
    public var warnings: [String]
    public init(planned: [String: Value], requiresReplacement: [String] = [], replacementReason: String? = nil,
                warnings: [String] = []) {
        self.planned = planned; self.requiresReplacement = requiresReplacement; self.replacementReason = replacementReason
        self.warnings = warnings
    }
}

public struct CreateRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    public var planned: [String: Value]
    public var mark: ResourceMark
    public var progress: ProgressReporter
    public init(type: String, address: ResourceAddress, planned: [String: Value], mark: ResourceMark,
                progress: @escaping ProgressReporter = { _ in }) {
        self.type = type; self.address = address; self.planned = planned; self.mark = mark; self.progress = progress
    }
}

public struct UpdateRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    public var id: String
    public var prior: [String: Value]
    public var planned: [String: Value]
    public var mark: ResourceMark
    public var progress: ProgressReporter
    public init(type: String, address: ResourceAddress, id: String, prior: [String: Value], planned: [String: Value],
                mark: ResourceMark, progress: @escaping ProgressReporter = { _ in }) {
        self.type = type; self.address = address; self.id = id; self.prior = prior; self.planned = planned
        self.mark = mark; self.progress = progress
    }
}

public struct DeleteRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    public var id: String
    public var prior: [String: Value]
    public var progress: ProgressReporter
    public init(type: String, address: ResourceAddress, id: String, prior: [String: Value],
                progress: @escaping ProgressReporter = { _ in }) {
        self.type = type; self.address = address; self.id = id; self.prior = prior; self.progress = progress
    }
}

public struct ApplyResponse: Sendable {
    public var id: String
    public var attributes: [String: Value]
    public init(id: String, attributes: [String: Value]) { self.id = id; self.attributes = attributes }
}

public struct ImportRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    public var id: String
    public init(type: String, address: ResourceAddress, id: String) { self.type = type; self.address = address; self.id = id }
}

/// Asks a provider whether a create that was in flight when ethstack stopped made an object.
public struct FindRequest: Sendable {
    public var type: String
    public var address: ResourceAddress
    public var mark: ResourceMark
    /// The attributes the create was called with (as far as recorded).
    public var planned: [String: Value]
    /// When the create was started (its journal row was opened): an object that cannot carry the
    /// mark from its first moment (an S3 bucket is tagged after it is made) and was made after
    /// this is the create's own.
    public var started: Date?
    public init(type: String, address: ResourceAddress, mark: ResourceMark, planned: [String: Value], started: Date? = nil) {
        self.type = type; self.address = address; self.mark = mark; self.planned = planned; self.started = started
    }
}

/// Asks a provider which objects exist that a selector picks, for `ethstack import --discover` and
/// for the unmanaged objects `ethstack drift` reports. Discovery only reads.
public struct DiscoverRequest: Sendable {
    public enum Selector: Sendable, Hashable {
        /// Objects carrying the tag (AWS) or label (Kubernetes) KEY=VALUE.
        case tag(key: String, value: String)
        /// An EKS cluster and what it uses: its node groups, add-ons, access entries, pod identity
        /// associations, IAM roles, and its VPC's network.
        case eksCluster(String)
        /// Objects carrying ethstack's mark for this stack (what its creates wrote on them).
        case stackMark(String)
        /// Kubernetes objects in these namespaces.
        case namespaces([String])
        /// AWS objects inside this VPC (subnets, gateways, route tables, security groups…).
        case insideVPC(String)
    }

    public var selector: Selector
    /// Whether to read each object's attributes (as `importResource` would); without, only type and id.
    public var readAttributes: Bool

    public init(selector: Selector, readAttributes: Bool = true) {
        self.selector = selector
        self.readAttributes = readAttributes
    }
}

/// One object discovery found: its resource type, its id (what `importResource` takes) and, when
/// read, the attributes `importResource` would give.
public struct DiscoveredObject: Sendable {
    public var type: String
    public var id: String
    public var attributes: [String: Value]

    public init(type: String, id: String, attributes: [String: Value] = [:]) {
        self.type = type
        self.id = id
        self.attributes = attributes
    }
}

public struct DiscoverResponse: Sendable {
    public var objects: [DiscoveredObject]
    /// What could not be looked at, for people ("EKS add-ons: ListAddons answered 404 …").
    public var notes: [String]
    /// How many API calls discovery made.
    public var calls: Int

    public init(objects: [DiscoveredObject], notes: [String] = [], calls: Int = 0) {
        self.objects = objects
        self.notes = notes
        self.calls = calls
    }
}

/// A provider configured for one run. One request value in, one response value out per call.
public protocol ConfiguredProvider: Sendable {
    /// The object as it is now; nil when it no longer exists.
    func read(_ request: ReadRequest) async throws -> ReadResponse?
    /// Refines a planned change (normalises values, fills computed values it can know).
    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse
    func create(_ request: CreateRequest) async throws -> ApplyResponse
    func update(_ request: UpdateRequest) async throws -> ApplyResponse
    /// Deletes the object; an object already gone is not an error.
    func delete(_ request: DeleteRequest) async throws
    func importResource(_ request: ImportRequest) async throws -> ReadResponse?
    /// Looks up an object by the mark a create put on it; nil when the create made nothing.
    func find(_ request: FindRequest) async throws -> ReadResponse?
    /// The objects a selector picks (by default none: a provider that cannot discover finds nothing).
    func discover(_ request: DiscoverRequest) async throws -> DiscoverResponse
}

extension ConfiguredProvider {
    public func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        PlanChangeResponse(planned: request.proposed)
    }

    public func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        throw ProviderError(.unsupported, operation: "import", address: request.address,
                            message: "\(request.type) cannot be imported")
    }

    public func find(_ request: FindRequest) async throws -> ReadResponse? { nil }

    public func discover(_ request: DiscoverRequest) async throws -> DiscoverResponse {
        DiscoverResponse(objects: [], notes: [])
    }
}

/// A typed provider error: what failed, the server's message, and whether a retry can help.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalidConfiguration = "invalid configuration"
        case invalidInput = "invalid input"
        case notFound = "not found"
        case conflict
        case unauthorized
        case throttled
        case unavailable
        case timeout
        case unsupported
        case failed
    }

    public var kind: Kind
    public var operation: String
    public var address: ResourceAddress?
    public var message: String
    public var retryable: Bool
    /// Set when a create failed after the object came to exist: the object's id (and what could be
    /// read of it). The engine records it as tainted, so the next apply replaces it instead of
    /// making a second one. Nil when the call made nothing, or the provider cannot tell.
    public var partial: ApplyResponse?

    public init(_ kind: Kind, operation: String, address: ResourceAddress? = nil, message: String, retryable: Bool? = nil,
                partial: ApplyResponse? = nil) {
        self.kind = kind
        self.operation = operation
        self.address = address
        self.message = message
        self.retryable = retryable ?? [.throttled, .unavailable, .timeout].contains(kind)
        self.partial = partial
    }

    /// The object exists, with this id, but the create did not finish (a waiter timed out, a later
    /// configuration step failed).
    public static func createdButFailed(_ cause: ProviderError, id: String, attributes: [String: Value]) -> ProviderError {
        var error = cause
        error.partial = ApplyResponse(id: id, attributes: attributes)
        if !error.message.contains(id) { error.message += " (\(id) was created and is recorded as tainted)" }
        return error
    }

    /// Whether the call may have changed something although it failed: the request timed out or
    /// the connection broke after it was sent. The engine keeps such a call's journal row open,
    /// so that the next run looks the object up instead of forgetting it.
    public var outcomeUnknown: Bool { partial == nil && (kind == .timeout || kind == .unavailable) }

    public var description: String {
        var text = ""
        if let address { text += "\(address): " }
        text += "\(operation) failed: \(message)"
        return text
    }
}

/// The providers the executable registers, by name.
public struct ProviderRegistry: Sendable {
    public private(set) var providers: [String: any Provider] = [:]
    private var schemas: [String: ResourceSchema] = [:]

    public init(_ providers: [any Provider] = []) {
        for p in providers { register(p) }
    }

    public mutating func register(_ provider: any Provider) {
        providers[provider.name] = provider
        for s in provider.resourceSchemas { schemas[s.type] = s }
    }

    public func schema(for type: String) -> ResourceSchema? { schemas[type] }
    public var resourceTypes: [String] { schemas.keys.sorted() }
    public func provider(named name: String) -> (any Provider)? { providers[name] }
}

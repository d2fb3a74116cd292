import Foundation
import EthstackAWSClient
import EthstackHTTP
import EthstackModel
import EthstackProviderAPI

/// The `aws` provider: VPC networking, security groups, S3 buckets (and, as they land, IAM and EKS)
/// over EC2/IAM Query APIs, EKS REST/JSON and S3 REST/XML, signed with SigV4.
///
/// Configuration (all optional): `region`, `access_key`, `secret_key`, `token`, `profile`,
/// `endpoints` (map service → URL: ec2, iam, eks, s3, sts), `max_retries`, `retry_base_delay`
/// (seconds), `dependency_timeout` (seconds a delete keeps retrying `DependencyViolation`),
/// `wait_timeout` (seconds a create waits for an object to become ready), `ca_bundle`.
/// Unset values come from the standard AWS environment variables and shared files.
public struct AWSProvider: Provider {
    /// The environment the credential chain and endpoint variables are read from.
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public var name: String { "aws" }

    public var configurationSchema: [AttributeSchema] {
        [
            AttributeSchema("region", .string, .optional(default: nil), description: "AWS region; default AWS_REGION, AWS_DEFAULT_REGION or the profile's."),
            AttributeSchema("access_key", .string, .optional(default: nil), description: "Static access key id."),
            AttributeSchema("secret_key", .string, .optional(default: nil), sensitive: true, description: "Static secret access key."),
            AttributeSchema("token", .string, .optional(default: nil), sensitive: true, description: "Session token for temporary credentials."),
            AttributeSchema("profile", .string, .optional(default: nil), description: "A profile of ~/.aws/credentials and ~/.aws/config."),
            AttributeSchema("endpoints", .map(.string), .optional(default: nil), description: "Custom endpoint URL per service: ec2, iam, eks, s3, sts."),
            AttributeSchema("max_retries", .number, .optional(default: 5), description: "Retries of throttled, 5xx and failed connections."),
            AttributeSchema("retry_base_delay", .number, .optional(default: 0.25), description: "First backoff delay in seconds (doubles, capped, jittered)."),
            AttributeSchema("dependency_timeout", .number, .optional(default: 300), description: "Seconds a delete retries DependencyViolation."),
            AttributeSchema("wait_timeout", .number, .optional(default: 1800), description: "Seconds a create or update waits for readiness (EKS, NAT)."),
            AttributeSchema("ca_bundle", .string, .optional(default: nil), description: "PEM file of CA certificates to trust."),
        ]
    }

    public var resourceSchemas: [ResourceSchema] { Self.types.map(\.schema) }

    static let types: [any AWSResourceType] = [
        VPCResource(), SubnetResource(), InternetGatewayResource(), SecurityGroupResource(), S3BucketResource(),
        EIPResource(), NATGatewayResource(), RouteTableResource(),
        IAMRoleResource(), EKSClusterResource(), EKSNodeGroupResource(),
        EKSAddonResource(), EKSPodIdentityAssociationResource(), EKSAccessEntryResource(),
    ]

    public func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider {
        let values = configuration.values
        func string(_ key: String) -> String? { values[key]?.unmarked.interpolatedString }
        func number(_ key: String) -> Double? { values[key]?.numberValue ?? string(key).flatMap(Double.init) }

        // No credentials at all is not an error until a call is made: a plan from empty state makes
        // none, so it works on a machine without an AWS account. Half-set credentials still fail here.
        var credentials: AWSCredentials?
        var region: String?
        var missingCredentials = ""
        do {
            let resolved = try AWSCredentialChain(environment: environment).resolve(
                accessKey: string("access_key"), secretKey: string("secret_key"), sessionToken: string("token"),
                profile: string("profile"), region: string("region"))
            credentials = resolved.credentials
            region = resolved.region
        } catch let error as AWSCredentialChain.ChainError {
            guard case .noCredentials = error else {
                throw ProviderError(.invalidConfiguration, operation: "configure aws", message: "\(error)")
            }
            missingCredentials = "\(error)"
            region = [string("region"), environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"]]
                .compactMap { $0 }.first { !$0.isEmpty }
        } catch {
            throw ProviderError(.invalidConfiguration, operation: "configure aws", message: "\(error)")
        }
        guard let region else {
            throw ProviderError(.invalidConfiguration, operation: "configure aws",
                                message: "no region: set `region` in the provider configuration, AWS_REGION, or the profile's region")
        }
        var configuredEndpoints: [String: String] = [:]
        for (service, url) in values["endpoints"]?.mapValue ?? [:] {
            if let u = url.interpolatedString, !u.isEmpty { configuredEndpoints[service.lowercased()] = u }
        }
        var options = HTTPClientOptions()
        options.caBundlePath = string("ca_bundle")
        options.maxConcurrentTransfers = configuration.parallelism
        var retry = RetryPolicy()
        if let n = number("max_retries") { retry.maxAttempts = max(1, Int(n) + 1) }
        if let d = number("retry_base_delay") { retry.baseDelay = max(0, d) }
        let client = AWSClient(http: HTTPClient(options: options), credentials: credentials, missingCredentials: missingCredentials,
                               region: region,
                               endpoints: AWSEndpoints(region: region, configured: configuredEndpoints, environment: environment),
                               retry: retry)
        let context = AWSContext(client: client, region: region, stack: configuration.stackName,
                                 dependencyTimeout: number("dependency_timeout") ?? 300,
                                 waitTimeout: number("wait_timeout") ?? 1800)
        return ConfiguredAWS(context: context, types: Dictionary(Self.types.map { ($0.schema.type, $0) }, uniquingKeysWith: { a, _ in a }))
    }
}

/// What every resource implementation gets: the client and the run's settings.
struct AWSContext: Sendable {
    let client: AWSClient
    let region: String
    let stack: String
    /// Seconds a delete keeps retrying `DependencyViolation` (and similar "still in use" answers).
    let dependencyTimeout: Double
    /// Seconds a create waits for an object to become ready.
    let waitTimeout: Double
}

/// One AWS resource type. The provider wraps each call: errors become `ProviderError`s with the
/// resource's address, `create`/`update` are followed by a `read`.
protocol AWSResourceType: Sendable {
    var schema: ResourceSchema { get }
    /// The live attributes (user tags only, without ethstack's marks); nil when gone.
    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]?
    /// Creates the object, marked and with its idempotency token; returns its id.
    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String
    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws
    /// Deletes; an object already gone is not an error.
    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws
    /// The id of the object a create with this mark made, if any.
    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String?
    /// The same, for a create that was started at `started` (crash recovery); by default `find`.
    func find(mark: ResourceMark, planned: [String: Value], started: Date?, _ ctx: AWSContext) async throws -> String?
    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value]
    /// The planned change with validation and forced replacements; by default `planChange` alone.
    func refine(address: ResourceAddress, prior: [String: Value]?, proposed: [String: Value]) throws -> PlanChangeResponse
}

extension AWSResourceType {
    func find(mark: ResourceMark, planned: [String: Value], started: Date?, _ ctx: AWSContext) async throws -> String? {
        try await find(mark: mark, planned: planned, ctx)
    }

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] { proposed }
    func refine(address: ResourceAddress, prior: [String: Value]?, proposed: [String: Value]) throws -> PlanChangeResponse {
        PlanChangeResponse(planned: planChange(prior: prior, proposed: proposed))
    }
}

struct ConfiguredAWS: ConfiguredProvider {
    let context: AWSContext
    let types: [String: any AWSResourceType]

    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        try await call("read", request.address, request.type) { type in
            guard let attributes = try await type.read(id: request.id, prior: request.prior, context) else { return nil }
            return ReadResponse(id: request.id, attributes: attributes)
        }
    }

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        try await call("plan", request.address, request.type) { type in
            try type.refine(address: request.address, prior: request.prior, proposed: request.proposed)
        }
    }

    /// Creates the object. Every type's create starts by looking its object up by the mark (or
    /// sends an idempotency token), so when an answer is lost the whole create is tried again:
    /// that finds the object the lost call made instead of making a second one. When the object
    /// exists but a later step fails, the error carries its id (`ProviderError.partial`).
    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        var attempt = 0
        while true {
            do {
                return try await createOnce(request, finishFoundObject: attempt > 0)
            } catch let error as ProviderError where error.outcomeUnknown && attempt + 1 < context.client.retry.maxAttempts {
                request.progress("no answer (\(error.message)); looking the object up by its mark before trying again")
                try await Task.sleep(nanoseconds: UInt64(context.client.retry.delay(afterAttempt: attempt) * 1_000_000_000))
                attempt += 1
            }
        }
    }

    /// One create. After a lost answer (`finishFoundObject`), the create may find the object the
    /// lost call made — which then lacks what the create does after its first call (a subnet's
    /// public-IP setting, a role's attached policies): what differs from the plan is set with an update.
    private func createOnce(_ request: CreateRequest, finishFoundObject: Bool) async throws -> ApplyResponse {
        do {
            return try await call("create", request.address, request.type) { type in
                let id = try await type.create(request.planned, mark: request.mark, context, progress: request.progress)
                return try await afterCreating(id) {
                    var attributes = try await readBack(type, id: id, prior: request.planned, address: request.address, operation: "create")
                    if finishFoundObject, !Self.unfinished(type.schema, planned: request.planned, actual: attributes).isEmpty {
                        request.progress("finishing the object found by its mark")
                        try await type.update(id: id, prior: attributes, planned: request.planned, mark: request.mark, context,
                                              progress: request.progress)
                        attributes = try await readBack(type, id: id, prior: request.planned, address: request.address, operation: "create")
                    }
                    return ApplyResponse(id: id, attributes: attributes)
                }
            }
        } catch let created as AWSCreatedButFailed {
            let cause = Self.providerError(created.cause, operation: "create", address: request.address)
            let known = request.planned.filter { !$0.value.containsUnknown }
            let attributes = (try? await types[request.type]?.read(id: created.id, prior: known, context)) ?? known
            throw ProviderError.createdButFailed(cause, id: created.id, attributes: attributes)
        }
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        try await call("update", request.address, request.type) { type in
            try await type.update(id: request.id, prior: request.prior, planned: request.planned, mark: request.mark, context,
                                  progress: request.progress)
            let attributes = try await readBack(type, id: request.id, prior: request.planned, address: request.address, operation: "update")
            return ApplyResponse(id: request.id, attributes: attributes)
        }
    }

    func delete(_ request: DeleteRequest) async throws {
        try await call("delete", request.address, request.type) { type in
            try await type.delete(id: request.id, prior: request.prior, context, progress: request.progress)
        }
    }

    func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        try await call("import", request.address, request.type) { type in
            guard let attributes = try await type.read(id: request.id, prior: [:], context) else { return nil }
            return ReadResponse(id: request.id, attributes: attributes)
        }
    }

    func find(_ request: FindRequest) async throws -> ReadResponse? {
        try await call("find", request.address, request.type) { type in
            guard let id = try await type.find(mark: request.mark, planned: request.planned, started: request.started, context),
                  let attributes = try await type.read(id: id, prior: request.planned, context) else { return nil }
            return ReadResponse(id: id, attributes: attributes)
        }
    }

    /// Settable attributes an update can change (not those that force a replacement) whose planned,
    /// known value the object does not have.
    static func unfinished(_ schema: ResourceSchema, planned: [String: Value], actual: [String: Value]) -> [String] {
        schema.attributes.filter { attr in
            guard attr.isSettable, !attr.forcesReplacement, let want = planned[attr.name]?.deepUnmarked,
                  !want.containsUnknown, !want.isNull else { return false }
            return !want.semanticallyEquals((actual[attr.name] ?? .null).deepUnmarked)
        }.map(\.name)
    }

    private func readBack(_ type: any AWSResourceType, id: String, prior: [String: Value], address: ResourceAddress,
                          operation: String) async throws -> [String: Value] {
        guard let attributes = try await type.read(id: id, prior: prior, context) else {
            throw ProviderError(.failed, operation: operation, address: address, message: "\(id) disappeared right after \(operation)")
        }
        return attributes
    }

    /// Runs one call for a resource type, turning API and transport errors into `ProviderError`s.
    private func call<T: Sendable>(_ operation: String, _ address: ResourceAddress, _ typeName: String,
                                   _ body: (any AWSResourceType) async throws -> T) async throws -> T {
        guard let type = types[typeName] else {
            throw ProviderError(.unsupported, operation: operation, address: address, message: "the aws provider has no type \(typeName)")
        }
        do {
            return try await body(type)
        } catch let created as AWSCreatedButFailed {
            throw created
        } catch {
            throw Self.converted(error, operation: operation, address: address)
        }
    }

    /// API and transport errors as the engine's typed error; others unchanged.
    static func converted(_ error: any Error, operation: String, address: ResourceAddress) -> any Error {
        switch error {
        case let error as AWSAPIError: return error.providerError(address: address)
        case let error as HTTPTransportError:
            return ProviderError(error.kind == .timeout ? .timeout : .unavailable, operation: operation, address: address,
                                 message: error.description, retryable: error.retryable)
        default: return error
        }
    }

    static func providerError(_ error: any Error, operation: String, address: ResourceAddress) -> ProviderError {
        if let e = converted(error, operation: operation, address: address) as? ProviderError { return e }
        return ProviderError(error is CancellationError ? .unavailable : .failed, operation: operation, address: address,
                             message: "\(error)")
    }
}

/// Thrown by a resource type's create when its object exists but a later step of the create
/// failed (a waiter, a configuration call): the provider reports it as `ProviderError.partial`.
struct AWSCreatedButFailed: Error {
    var id: String
    var cause: any Error
}

/// Runs the steps of a create that come after the object exists: a failure there says which
/// object was made.
func afterCreating<T>(_ id: String, _ steps: () async throws -> T) async throws -> T {
    do {
        return try await steps()
    } catch let error as AWSCreatedButFailed {
        throw error
    } catch {
        throw AWSCreatedButFailed(id: id, cause: error)
    }
}

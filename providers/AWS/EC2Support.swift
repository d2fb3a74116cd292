import Foundation
import EthstackModel
import EthstackProviderAPI

/// The tag keys that mark an object as ethstack's.
enum MarkTags {
    static let stack = "ethstack:stack"
    static let address = "ethstack:address"
    static let token = "ethstack:token"

    static func tags(_ mark: ResourceMark) -> [String: String] {
        [stack: mark.stack, address: mark.address.description, token: mark.token]
    }

    static func isMarkTag(_ key: String) -> Bool { key.hasPrefix("ethstack:") }

    static func matches(_ tags: [String: String], _ mark: ResourceMark) -> Bool {
        tags[stack] == mark.stack && tags[address] == mark.address.description && tags[token] == mark.token
    }
}

/// Helpers shared by the EC2 resource types.
enum EC2 {
    /// A short idempotency token for EC2 (`ClientToken`, at most 64 ASCII characters).
    static func clientToken(_ mark: ResourceMark) -> String { String(mark.token.prefix(64)) }

    /// The user's `tags` attribute as strings.
    static func userTags(_ attributes: [String: Value]) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in attributes["tags"]?.mapValue ?? [:] {
            if let s = v.interpolatedString { out[k] = s }
        }
        return out
    }

    /// `TagSpecification.1.*` parameters: the user's tags plus the mark.
    static func tagSpecification(_ resourceType: String, _ planned: [String: Value], _ mark: ResourceMark) -> [(String, String)] {
        let tags = userTags(planned).merging(MarkTags.tags(mark)) { _, markValue in markValue }
        var params = [("TagSpecification.1.ResourceType", resourceType)]
        for (i, key) in tags.keys.sorted().enumerated() {
            params.append(("TagSpecification.1.Tag.\(i + 1).Key", key))
            params.append(("TagSpecification.1.Tag.\(i + 1).Value", tags[key] ?? ""))
        }
        return params
    }

    /// The `tagSet` of a described object.
    static func tags(of item: XMLTree) -> [String: String] {
        var out: [String: String] = [:]
        for tag in item.items("tagSet") {
            if let key = tag.string("key") { out[key] = tag.string("value") ?? "" }
        }
        return out
    }

    /// The tags a user sees: everything but ethstack's marks.
    static func userTagsValue(_ tags: [String: String]) -> Value {
        .map(tags.filter { !MarkTags.isMarkTag($0.key) }.mapValues { .string($0) })
    }

    /// Brings the user tags of an object from `old` to `new`; never touches the marks.
    static func syncTags(_ id: String, old: [String: String], new: [String: String], _ ctx: AWSContext) async throws {
        let removed = old.keys.filter { new[$0] == nil && !MarkTags.isMarkTag($0) }.sorted()
        if !removed.isEmpty {
            var params = [("ResourceId.1", id)]
            for (i, key) in removed.enumerated() { params.append(("Tag.\(i + 1).Key", key)) }
            _ = try await ctx.client.query("ec2", "DeleteTags", params)
        }
        let changed = new.filter { old[$0.key] != $0.value && !MarkTags.isMarkTag($0.key) }
        if !changed.isEmpty {
            var params = [("ResourceId.1", id)]
            for (i, key) in changed.keys.sorted().enumerated() {
                params.append(("Tag.\(i + 1).Key", key))
                params.append(("Tag.\(i + 1).Value", changed[key] ?? ""))
            }
            _ = try await ctx.client.query("ec2", "CreateTags", params)
        }
    }

    /// `Filter.N.Name`/`Filter.N.Value.1` parameters that select objects by their mark.
    static func markFilters(_ mark: ResourceMark) -> [(String, String)] {
        var params: [(String, String)] = []
        // Stack and token only: filter values are patterns (`*`, `?`; moto also reads `[…]`), and an
        // address such as `subnet["b"]` would not match itself. The address is checked on the answer.
        let tags = MarkTags.tags(mark).filter { $0.key != MarkTags.address }
        for (i, (key, value)) in tags.sorted(by: { $0.key < $1.key }).enumerated() {
            params.append(("Filter.\(i + 1).Name", "tag:\(key)"))
            params.append(("Filter.\(i + 1).Value.1", value))
        }
        return params
    }

    /// Describes one object by id; nil when EC2 says it does not exist.
    static func describeOne(_ action: String, idParameter: String, id: String, set: String,
                            _ ctx: AWSContext) async throws -> XMLTree? {
        do {
            let xml = try await ctx.client.query("ec2", action, [(idParameter, id)])
            return xml.items(set).first
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }

    /// Finds the id of the object carrying the mark.
    static func findByMark(_ action: String, set: String, idField: String, _ mark: ResourceMark,
                           _ ctx: AWSContext) async throws -> String? {
        let xml = try await ctx.client.query("ec2", action, markFilters(mark))
        return xml.items(set).compactMap { item -> String? in
            // Filters should have done it; check again in case an endpoint ignores them.
            MarkTags.matches(tags(of: item), mark) ? item.string(idField) : nil
        }.first
    }

    /// Deletes, ignoring "not found", retrying `DependencyViolation` (dependents still going away)
    /// for at most the context's dependency timeout.
    static func deleteTolerating(_ action: String, _ params: [(String, String)], _ ctx: AWSContext,
                                 progress: ProgressReporter) async throws {
        try await retryingDependencyViolation(ctx, progress: progress) {
            do {
                _ = try await ctx.client.query("ec2", action, params)
            } catch let error as AWSAPIError where error.isNotFound {
                return
            }
        }
    }

    static func arn(_ ctx: AWSContext, owner: String, _ resource: String) -> String {
        "arn:aws:ec2:\(ctx.region):\(owner):\(resource)"
    }
}

/// Retries `body` while AWS answers that dependents still exist, with backoff, for a bounded time.
func retryingDependencyViolation(_ ctx: AWSContext, codes: Set<String> = ["DependencyViolation", "ResourceInUseException", "DeleteConflict"],
                                 progress: ProgressReporter, _ body: () async throws -> Void) async throws {
    let deadline = Date().addingTimeInterval(ctx.dependencyTimeout)
    let backoff = Backoff(baseDelay: 1, maxDelay: 15, jitter: false)
    var attempt = 0
    while true {
        do {
            try await body()
            return
        } catch let error as AWSAPIError where codes.contains(error.code) {
            if Date().addingTimeInterval(backoff.delay(afterAttempt: attempt)) > deadline { throw error }
            progress("waiting for dependents to go away (\(error.code))")
            try await backoff.sleep(afterAttempt: attempt)
            attempt += 1
        }
    }
}

/// Polls `check` with backoff until it returns a value or the timeout passes (the engine's `poll`).
func waitUntil<T: Sendable>(_ what: String, timeout: Double, operation: String, progress: ProgressReporter,
                            initialDelay: Double = 2, maxDelay: Double = 30, _ check: () async throws -> T?) async throws -> T {
    do {
        return try await poll(what: what, timeout: timeout,
                              backoff: Backoff(baseDelay: initialDelay, maxDelay: maxDelay, multiplier: 1.5, jitter: false),
                              progress: progress) { () -> PollStep<T> in
            if let done = try await check() { return .done(done) }
            return .waiting("not yet")
        }
    } catch PollError.timedOut(_, let seconds, _) {
        throw ProviderError(.timeout, operation: operation, message: "gave up waiting for \(what) after \(Int(seconds))s")
    }
}

extension Dictionary where Key == String, Value == EthstackModel.Value {
    func string(_ key: String) -> String? { self[key]?.interpolatedString }
    func bool(_ key: String) -> Bool? { self[key]?.boolValue ?? self[key]?.stringValue.flatMap { Bool($0) } }
    func int(_ key: String) -> Int? { self[key]?.intValue ?? self[key]?.stringValue.flatMap { Int($0) } }
    func strings(_ key: String) -> [String] { (self[key]?.listValue ?? []).compactMap(\.interpolatedString) }
}

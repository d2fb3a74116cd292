import Foundation
import EthstackModel
import EthstackProviderAPI

/// `aws.iam_role` with its managed policy attachments (`policy_arns`, a set changed in place) and
/// its inline policies (`inline_policies`: name → policy JSON, for permissions no managed policy
/// scopes narrowly enough, such as writing to one bucket).
/// IAM has no idempotency token: the role name is the key, and a role we find by name is adopted
/// only when it carries our mark.
struct IAMRoleResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.iam_role", description: "An IAM role and its attached managed policies.", attributes: [
        AttributeSchema("name", .string, .required, forcesReplacement: true),
        AttributeSchema("path", .string, .optional(default: "/"), forcesReplacement: true),
        AttributeSchema("assume_role_policy", .string, .required, description: "The trust policy, JSON."),
        AttributeSchema("description", .string, .optional(default: "")),
        AttributeSchema("max_session_duration", .number, .optional(default: 3600)),
        AttributeSchema("policy_arns", .list(.string), .optional(default: .list([])), description: "Set of managed policies to attach."),
        AttributeSchema("inline_policies", .map(.string), .optional(default: .map([:])),
                        description: "Inline policies: name → policy document (JSON), put with PutRolePolicy."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "The role name."),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("unique_id", .string, .computed),
    ])

    /// JSON with sorted keys and no spaces, so that formatting never shows as a change.
    static func normalisePolicy(_ text: String) -> String {
        guard let value = try? Value.parseJSON(text) else { return text }
        return value.jsonString()
    }

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        if let policy = proposed["assume_role_policy"], case .string(let text) = policy {
            planned["assume_role_policy"] = .string(Self.normalisePolicy(text))
        }
        if let value = proposed["policy_arns"], !value.containsUnknown, let arns = value.listValue {
            planned["policy_arns"] = .list(Array(Set(arns.compactMap(\.stringValue))).sorted().map(Value.string))
        }
        if let value = proposed["inline_policies"], let policies = value.mapValue {
            planned["inline_policies"] = .map(policies.mapValues { v in
                if case .string(let text) = v { return .string(Self.normalisePolicy(text)) }
                return v
            })
        }
        return planned
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        let role: XMLTree
        do {
            let xml = try await ctx.client.query("iam", "GetRole", [("RoleName", id)])
            guard let r = xml["GetRoleResult", "Role"] else { return nil }
            role = r
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
        let policy = role.string("AssumeRolePolicyDocument").map { $0.removingPercentEncoding ?? $0 } ?? ""
        var tags: [String: String] = [:]
        for tag in role.items("Tags") { if let k = tag.string("Key") { tags[k] = tag.string("Value") ?? "" } }
        return [
            "id": .string(id),
            "name": .string(role.string("RoleName") ?? id),
            "path": .string(role.string("Path") ?? "/"),
            "assume_role_policy": .string(Self.normalisePolicy(policy)),
            "description": .string(role.string("Description") ?? ""),
            "max_session_duration": .number(Double(role.string("MaxSessionDuration") ?? "") ?? 3600),
            "policy_arns": .list(try await attachedPolicies(id, ctx).map(Value.string)),
            "inline_policies": .map(try await inlinePolicies(id, ctx).mapValues(Value.string)),
            "tags": EC2.userTagsValue(tags),
            "arn": .string(role.string("Arn") ?? ""),
            "unique_id": .string(role.string("RoleId") ?? ""),
        ]
    }

    private func attachedPolicies(_ role: String, _ ctx: AWSContext) async throws -> [String] {
        var arns: [String] = []
        var marker: String?
        repeat {
            var params = [("RoleName", role)]
            if let marker { params.append(("Marker", marker)) }
            let xml = try await ctx.client.query("iam", "ListAttachedRolePolicies", params)
            let result = xml.child("ListAttachedRolePoliciesResult")
            arns += result?.items("AttachedPolicies").compactMap { $0.string("PolicyArn") } ?? []
            marker = result?.string("IsTruncated") == "true" ? result?.string("Marker") : nil
        } while marker != nil
        return arns.sorted()
    }

    /// name → normalised policy JSON (IAM returns the document URL-encoded).
    private func inlinePolicies(_ role: String, _ ctx: AWSContext) async throws -> [String: String] {
        var names: [String] = []
        var marker: String?
        repeat {
            var params = [("RoleName", role)]
            if let marker { params.append(("Marker", marker)) }
            let xml = try await ctx.client.query("iam", "ListRolePolicies", params)
            let result = xml.child("ListRolePoliciesResult")
            names += (result?.child("PolicyNames")?.children ?? []).map(\.text).filter { !$0.isEmpty }
            marker = result?.string("IsTruncated") == "true" ? result?.string("Marker") : nil
        } while marker != nil
        var out: [String: String] = [:]
        for name in names {
            let xml = try await ctx.client.query("iam", "GetRolePolicy", [("RoleName", role), ("PolicyName", name)])
            let document = xml["GetRolePolicyResult", "PolicyDocument"]?.text ?? ""
            out[name] = Self.normalisePolicy(document.removingPercentEncoding ?? document)
        }
        return out
    }

    private func syncInlinePolicies(_ role: String, want: [String: String], _ ctx: AWSContext) async throws {
        let have = try await inlinePolicies(role, ctx)
        for name in have.keys.sorted() where want[name] == nil {
            do {
                _ = try await ctx.client.query("iam", "DeleteRolePolicy", [("RoleName", role), ("PolicyName", name)])
            } catch let error as AWSAPIError where error.isNotFound {}
        }
        for name in want.keys.sorted() where have[name] != want[name].map(Self.normalisePolicy) {
            _ = try await ctx.client.query("iam", "PutRolePolicy", [("RoleName", role), ("PolicyName", name),
                                                                   ("PolicyDocument", want[name] ?? "")])
        }
    }

    private static func inline(_ planned: [String: Value]) -> [String: String] {
        (planned["inline_policies"]?.mapValue ?? [:]).compactMapValues(\.stringValue)
    }

    private func tags(_ role: String, _ ctx: AWSContext) async throws -> [String: String] {
        let xml = try await ctx.client.query("iam", "ListRoleTags", [("RoleName", role)])
        var tags: [String: String] = [:]
        for tag in xml.child("ListRoleTagsResult")?.items("Tags") ?? [] {
            if let k = tag.string("Key") { tags[k] = tag.string("Value") ?? "" }
        }
        return tags
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let name = planned.string("name") ?? ""
        var params = [("RoleName", name), ("AssumeRolePolicyDocument", planned.string("assume_role_policy") ?? ""),
                      ("Path", planned.string("path") ?? "/")]
        if let d = planned.string("description"), !d.isEmpty { params.append(("Description", d)) }
        if let m = planned.int("max_session_duration") { params.append(("MaxSessionDuration", String(m))) }
        let tags = EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, markValue in markValue }
        for (i, key) in tags.keys.sorted().enumerated() {
            params.append(("Tags.member.\(i + 1).Key", key))
            params.append(("Tags.member.\(i + 1).Value", tags[key] ?? ""))
        }
        do {
            _ = try await ctx.client.query("iam", "CreateRole", params)
        } catch let error as AWSAPIError where error.code == "EntityAlreadyExists" {
            // Ours from an interrupted earlier create? Adopt it only if it carries our mark.
            guard MarkTags.matches(try await self.tags(name, ctx), mark) else { throw error }
        }
        return try await afterCreating(name) {
            try await syncPolicies(name, want: Set(planned.strings("policy_arns")), ctx)
            try await syncInlinePolicies(name, want: Self.inline(planned), ctx)
            return name
        }
    }

    private func syncPolicies(_ role: String, want: Set<String>, _ ctx: AWSContext) async throws {
        let have = Set(try await attachedPolicies(role, ctx))
        for arn in have.subtracting(want).sorted() {
            do {
                _ = try await ctx.client.query("iam", "DetachRolePolicy", [("RoleName", role), ("PolicyArn", arn)])
            } catch let error as AWSAPIError where error.isNotFound {}
        }
        for arn in want.subtracting(have).sorted() {
            _ = try await ctx.client.query("iam", "AttachRolePolicy", [("RoleName", role), ("PolicyArn", arn)])
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        let policy = planned.string("assume_role_policy") ?? ""
        if policy != prior.string("assume_role_policy") {
            _ = try await ctx.client.query("iam", "UpdateAssumeRolePolicy", [("RoleName", id), ("PolicyDocument", policy)])
        }
        if planned.string("description") != prior.string("description") || planned.int("max_session_duration") != prior.int("max_session_duration") {
            var params = [("RoleName", id), ("Description", planned.string("description") ?? "")]
            if let m = planned.int("max_session_duration") { params.append(("MaxSessionDuration", String(m))) }
            _ = try await ctx.client.query("iam", "UpdateRole", params)
        }
        try await syncPolicies(id, want: Set(planned.strings("policy_arns")), ctx)
        try await syncInlinePolicies(id, want: Self.inline(planned), ctx)
        let old = EC2.userTags(prior), new = EC2.userTags(planned)
        let removed = old.keys.filter { new[$0] == nil }.sorted()
        if !removed.isEmpty {
            var params = [("RoleName", id)]
            for (i, key) in removed.enumerated() { params.append(("TagKeys.member.\(i + 1)", key)) }
            _ = try await ctx.client.query("iam", "UntagRole", params)
        }
        let changed = new.filter { old[$0.key] != $0.value }
        if !changed.isEmpty {
            var params = [("RoleName", id)]
            for (i, key) in changed.keys.sorted().enumerated() {
                params.append(("Tags.member.\(i + 1).Key", key))
                params.append(("Tags.member.\(i + 1).Value", changed[key] ?? ""))
            }
            _ = try await ctx.client.query("iam", "TagRole", params)
        }
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        do {
            // A role cannot be deleted while policies are attached.
            try await syncPolicies(id, want: [], ctx)
            try await syncInlinePolicies(id, want: [:], ctx)
            try await retryingDependencyViolation(ctx, progress: progress) {
                _ = try await ctx.client.query("iam", "DeleteRole", [("RoleName", id)])
            }
        } catch let error as AWSAPIError where error.isNotFound {
            return
        }
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let name = planned.string("name"), !name.isEmpty else { return nil }
        do {
            return MarkTags.matches(try await tags(name, ctx), mark) ? name : nil
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }
}

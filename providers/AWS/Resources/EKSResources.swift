import Foundation
import EthstackAWSClient
import EthstackModel
import EthstackProviderAPI

/// Helpers shared by the EKS resource types (REST/JSON API).
enum EKS {
    static func path(_ parts: String...) -> String {
        "/" + parts.map { SigV4Signer.uriEncode($0, keepSlash: false) }.joined(separator: "/")
    }

    /// An idempotency token (`clientRequestToken`, at most 64 characters), distinct per call kind.
    static func token(_ mark: ResourceMark, _ suffix: String = "") -> String {
        String((mark.token + suffix).prefix(64))
    }

    static func stringMap(_ value: Value?) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in value?.mapValue ?? [:] { if let s = v.interpolatedString { out[k] = s } }
        return out
    }

    static func tagsBody(_ tags: [String: String]) -> Value { .map(tags.mapValues { .string($0) }) }

    /// Brings the user tags of an EKS object (by ARN) from `old` to `new`.
    static func syncTags(arn: String, old: [String: String], new: [String: String], _ ctx: AWSContext) async throws {
        let removed = old.keys.filter { new[$0] == nil && !MarkTags.isMarkTag($0) }.sorted()
        if !removed.isEmpty {
            _ = try await ctx.client.json("eks", "UntagResource", method: "DELETE", path: path("tags", arn),
                                          query: removed.map { ("tagKeys", $0) })
        }
        let changed = new.filter { old[$0.key] != $0.value && !MarkTags.isMarkTag($0.key) }
        if !changed.isEmpty {
            _ = try await ctx.client.json("eks", "TagResource", method: "POST", path: path("tags", arn),
                                          body: ["tags": tagsBody(changed)])
        }
    }

    static func strings(_ value: Value?) -> Value {
        .list((value?.listValue ?? []).compactMap(\.stringValue).map(Value.string))
    }

    static func sortedStrings(_ value: Value?) -> Value {
        .list((value?.listValue ?? []).compactMap(\.stringValue).sorted().map(Value.string))
    }
}

/// `aws.eks_cluster`. Create carries `clientRequestToken` and waits for ACTIVE; the Kubernetes
/// version and endpoint access change in place; delete waits until the cluster is gone.
struct EKSClusterResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eks_cluster", description: "An EKS control plane.", attributes: [
        AttributeSchema("name", .string, .required, forcesReplacement: true),
        AttributeSchema("role_arn", .string, .required, forcesReplacement: true),
        AttributeSchema("version", .string, .optionalComputed, description: "Kubernetes version; upgraded in place."),
        AttributeSchema("subnet_ids", .list(.string), .required, forcesReplacement: true),
        AttributeSchema("security_group_ids", .list(.string), .optional(default: .list([])), forcesReplacement: true),
        AttributeSchema("endpoint_public_access", .bool, .optional(default: true)),
        AttributeSchema("endpoint_private_access", .bool, .optional(default: false)),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "The cluster name."),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("endpoint", .string, .computed),
        AttributeSchema("certificate_authority", .string, .computed, description: "Base64 PEM of the cluster CA."),
        AttributeSchema("status", .string, .computed),
        AttributeSchema("platform_version", .string, .computed),
        AttributeSchema("oidc_issuer", .string, .computed),
        AttributeSchema("cluster_security_group_id", .string, .computed),
    ])

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        for key in ["subnet_ids", "security_group_ids"] where proposed[key].map({ !$0.containsUnknown && !$0.isNull }) == true {
            planned[key] = EKS.sortedStrings(proposed[key])
        }
        return planned
    }

    func describe(_ name: String, _ ctx: AWSContext) async throws -> Value? {
        do {
            return try await ctx.client.json("eks", "DescribeCluster", method: "GET", path: EKS.path("clusters", name))["cluster"]
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let c = try await describe(id, ctx) else { return nil }
        let vpc = c["resourcesVpcConfig"]
        return [
            "id": .string(id),
            "name": .string(c["name"]?.stringValue ?? id),
            "role_arn": .string(c["roleArn"]?.stringValue ?? ""),
            "version": .string(c["version"]?.stringValue ?? ""),
            "subnet_ids": EKS.sortedStrings(vpc?["subnetIds"]),
            "security_group_ids": EKS.sortedStrings(vpc?["securityGroupIds"]),
            "endpoint_public_access": .bool(vpc?["endpointPublicAccess"]?.boolValue ?? true),
            "endpoint_private_access": .bool(vpc?["endpointPrivateAccess"]?.boolValue ?? false),
            "tags": EC2.userTagsValue(EKS.stringMap(c["tags"])),
            "arn": .string(c["arn"]?.stringValue ?? ""),
            "endpoint": .string(c["endpoint"]?.stringValue ?? ""),
            "certificate_authority": .string(c["certificateAuthority"]?["data"]?.stringValue ?? ""),
            "status": .string(c["status"]?.stringValue ?? ""),
            "platform_version": .string(c["platformVersion"]?.stringValue ?? ""),
            "oidc_issuer": .string(c["identity"]?["oidc"]?["issuer"]?.stringValue ?? ""),
            "cluster_security_group_id": .string(vpc?["clusterSecurityGroupId"]?.stringValue ?? ""),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let name = planned.string("name") ?? ""
        var body: [String: Value] = [
            "name": .string(name),
            "roleArn": .string(planned.string("role_arn") ?? ""),
            "resourcesVpcConfig": [
                "subnetIds": EKS.strings(planned["subnet_ids"]),
                "securityGroupIds": EKS.strings(planned["security_group_ids"]),
                "endpointPublicAccess": .bool(planned.bool("endpoint_public_access") ?? true),
                "endpointPrivateAccess": .bool(planned.bool("endpoint_private_access") ?? false),
            ],
            "tags": EKS.tagsBody(EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, m in m }),
            "clientRequestToken": .string(EKS.token(mark)),
        ]
        if let version = planned.string("version"), !version.isEmpty { body["version"] = .string(version) }
        do {
            _ = try await ctx.client.json("eks", "CreateCluster", method: "POST", path: "/clusters", body: .map(body))
        } catch let error as AWSAPIError where error.code == "ResourceInUseException" {
            guard let existing = try await describe(name, ctx), MarkTags.matches(EKS.stringMap(existing["tags"]), mark) else { throw error }
        }
        try await waitActive(name, ctx, operation: "CreateCluster", progress: progress)
        return name
    }

    private func waitActive(_ name: String, _ ctx: AWSContext, operation: String, progress: ProgressReporter) async throws {
        _ = try await waitUntil("cluster \(name) to be ACTIVE", timeout: ctx.waitTimeout, operation: operation, progress: progress,
                                initialDelay: 5) { () -> Bool? in
            guard let c = try await describe(name, ctx) else {
                throw AWSAPIError(service: "eks", operation: operation, status: 404, code: "ResourceNotFoundException",
                                  message: "cluster \(name) disappeared while waiting for it")
            }
            switch c["status"]?.stringValue {
            case "ACTIVE": return true
            case "FAILED":
                throw AWSAPIError(service: "eks", operation: operation, status: 200, code: "ClusterFailed", message: "cluster \(name) is FAILED")
            default: return nil
            }
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        if let version = planned.string("version"), !version.isEmpty, version != prior.string("version") {
            _ = try await ctx.client.json("eks", "UpdateClusterVersion", method: "POST", path: EKS.path("clusters", id, "updates"),
                                          body: ["version": .string(version), "clientRequestToken": .string(EKS.token(mark, "-v\(version)"))])
            try await waitActive(id, ctx, operation: "UpdateClusterVersion", progress: progress)
        }
        let publicAccess = planned.bool("endpoint_public_access") ?? true
        let privateAccess = planned.bool("endpoint_private_access") ?? false
        if publicAccess != (prior.bool("endpoint_public_access") ?? true) || privateAccess != (prior.bool("endpoint_private_access") ?? false) {
            _ = try await ctx.client.json("eks", "UpdateClusterConfig", method: "POST", path: EKS.path("clusters", id, "update-config"),
                                          body: ["resourcesVpcConfig": ["endpointPublicAccess": .bool(publicAccess),
                                                                        "endpointPrivateAccess": .bool(privateAccess)]])
            try await waitActive(id, ctx, operation: "UpdateClusterConfig", progress: progress)
        }
        if let arn = prior.string("arn"), !arn.isEmpty {
            try await EKS.syncTags(arn: arn, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
        }
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        // ResourceInUseException while node groups are still being deleted: retried for a bounded time.
        try await retryingDependencyViolation(ctx, progress: progress) {
            do {
                _ = try await ctx.client.json("eks", "DeleteCluster", method: "DELETE", path: EKS.path("clusters", id))
            } catch let error as AWSAPIError where error.isNotFound {}
        }
        _ = try await waitUntil("cluster \(id) to be deleted", timeout: ctx.waitTimeout, operation: "DeleteCluster", progress: progress,
                                initialDelay: 5) { () -> Bool? in
            try await describe(id, ctx) == nil ? true : nil
        }
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let name = planned.string("name"), let c = try await describe(name, ctx) else { return nil }
        return MarkTags.matches(EKS.stringMap(c["tags"]), mark) ? name : nil
    }
}

/// `aws.eks_node_group`; id `CLUSTER:NODEGROUP`. Scaling and labels change in place.
struct EKSNodeGroupResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eks_node_group", description: "A managed node group of an EKS cluster.", attributes: [
        AttributeSchema("cluster_name", .string, .required, forcesReplacement: true),
        AttributeSchema("name", .string, .required, forcesReplacement: true),
        AttributeSchema("node_role_arn", .string, .required, forcesReplacement: true),
        AttributeSchema("subnet_ids", .list(.string), .required, forcesReplacement: true),
        AttributeSchema("instance_types", .list(.string), .optional(default: .list(["t3.medium"])), forcesReplacement: true),
        AttributeSchema("capacity_type", .string, .optional(default: "ON_DEMAND"), forcesReplacement: true),
        AttributeSchema("ami_type", .string, .optionalComputed, forcesReplacement: true),
        AttributeSchema("disk_size", .number, .optionalComputed, forcesReplacement: true),
        AttributeSchema("desired_size", .number, .required),
        AttributeSchema("min_size", .number, .required),
        AttributeSchema("max_size", .number, .required),
        AttributeSchema("labels", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "CLUSTER:NODEGROUP"),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("status", .string, .computed),
    ])

    static func split(_ id: String) -> (cluster: String, nodegroup: String)? {
        let parts = id.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        if let v = proposed["subnet_ids"], !v.containsUnknown { planned["subnet_ids"] = EKS.sortedStrings(v) }
        return planned
    }

    func describe(_ id: String, _ ctx: AWSContext) async throws -> Value? {
        guard let (cluster, nodegroup) = Self.split(id) else {
            throw AWSAPIError(service: "eks", operation: "DescribeNodegroup", status: 400, code: "InvalidParameterException",
                              message: "node group id \"\(id)\" is not CLUSTER:NODEGROUP")
        }
        do {
            return try await ctx.client.json("eks", "DescribeNodegroup", method: "GET",
                                              path: EKS.path("clusters", cluster, "node-groups", nodegroup))["nodegroup"]
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let n = try await describe(id, ctx) else { return nil }
        let scaling = n["scalingConfig"]
        var attributes: [String: Value] = [
            "id": .string(id),
            "cluster_name": .string(n["clusterName"]?.stringValue ?? ""),
            "name": .string(n["nodegroupName"]?.stringValue ?? ""),
            "node_role_arn": .string(n["nodeRole"]?.stringValue ?? ""),
            "subnet_ids": EKS.sortedStrings(n["subnets"]),
            "instance_types": EKS.strings(n["instanceTypes"]),
            "capacity_type": .string(n["capacityType"]?.stringValue ?? "ON_DEMAND"),
            "ami_type": .string(n["amiType"]?.stringValue ?? ""),
            "desired_size": .number(scaling?["desiredSize"]?.numberValue ?? 0),
            "min_size": .number(scaling?["minSize"]?.numberValue ?? 0),
            "max_size": .number(scaling?["maxSize"]?.numberValue ?? 0),
            "labels": .map(EKS.stringMap(n["labels"]).mapValues { .string($0) }),
            "tags": EC2.userTagsValue(EKS.stringMap(n["tags"])),
            "arn": .string(n["nodegroupArn"]?.stringValue ?? ""),
            "status": .string(n["status"]?.stringValue ?? ""),
        ]
        attributes["disk_size"] = n["diskSize"]?.numberValue.map(Value.number) ?? .null
        return attributes
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let cluster = planned.string("cluster_name") ?? ""
        let name = planned.string("name") ?? ""
        let id = "\(cluster):\(name)"
        var body: [String: Value] = [
            "nodegroupName": .string(name),
            "nodeRole": .string(planned.string("node_role_arn") ?? ""),
            "subnets": EKS.strings(planned["subnet_ids"]),
            "instanceTypes": EKS.strings(planned["instance_types"]),
            "capacityType": .string(planned.string("capacity_type") ?? "ON_DEMAND"),
            "scalingConfig": scaling(planned),
            "labels": EKS.tagsBody(EKS.stringMap(planned["labels"])),
            "tags": EKS.tagsBody(EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, m in m }),
            "clientRequestToken": .string(EKS.token(mark)),
        ]
        if let ami = planned.string("ami_type"), !ami.isEmpty { body["amiType"] = .string(ami) }
        if let disk = planned.int("disk_size") { body["diskSize"] = .number(Double(disk)) }
        do {
            _ = try await ctx.client.json("eks", "CreateNodegroup", method: "POST", path: EKS.path("clusters", cluster, "node-groups"),
                                          body: .map(body))
        } catch let error as AWSAPIError where error.code == "ResourceInUseException" {
            guard let existing = try await describe(id, ctx), MarkTags.matches(EKS.stringMap(existing["tags"]), mark) else { throw error }
        }
        try await waitActive(id, ctx, operation: "CreateNodegroup", progress: progress)
        return id
    }

    private func scaling(_ planned: [String: Value]) -> Value {
        ["minSize": .number(Double(planned.int("min_size") ?? 1)), "maxSize": .number(Double(planned.int("max_size") ?? 1)),
         "desiredSize": .number(Double(planned.int("desired_size") ?? 1))]
    }

    private func waitActive(_ id: String, _ ctx: AWSContext, operation: String, progress: ProgressReporter) async throws {
        _ = try await waitUntil("node group \(id) to be ACTIVE", timeout: ctx.waitTimeout, operation: operation, progress: progress,
                                initialDelay: 5) { () -> Bool? in
            guard let n = try await describe(id, ctx) else {
                throw AWSAPIError(service: "eks", operation: operation, status: 404, code: "ResourceNotFoundException",
                                  message: "node group \(id) disappeared while waiting for it")
            }
            switch n["status"]?.stringValue {
            case "ACTIVE": return true
            case "CREATE_FAILED", "DEGRADED":
                throw AWSAPIError(service: "eks", operation: operation, status: 200, code: "NodegroupFailed",
                                  message: "node group \(id) is \(n["status"]?.stringValue ?? "")")
            default: return nil
            }
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        guard let (cluster, nodegroup) = Self.split(id) else { return }
        var body: [String: Value] = [:]
        if ["desired_size", "min_size", "max_size"].contains(where: { planned.int($0) != prior.int($0) }) {
            body["scalingConfig"] = scaling(planned)
        }
        let oldLabels = EKS.stringMap(prior["labels"]), newLabels = EKS.stringMap(planned["labels"])
        if oldLabels != newLabels {
            var labels: [String: Value] = [:]
            let changed = newLabels.filter { oldLabels[$0.key] != $0.value }
            if !changed.isEmpty { labels["addOrUpdateLabels"] = EKS.tagsBody(changed) }
            let removed = oldLabels.keys.filter { newLabels[$0] == nil }.sorted()
            if !removed.isEmpty { labels["removeLabels"] = .list(removed.map(Value.string)) }
            body["labels"] = .map(labels)
        }
        if !body.isEmpty {
            body["clientRequestToken"] = .string(EKS.token(mark, "-\(UUID().uuidString.prefix(8))"))
            _ = try await ctx.client.json("eks", "UpdateNodegroupConfig", method: "POST",
                                          path: EKS.path("clusters", cluster, "node-groups", nodegroup, "update-config"), body: .map(body))
            try await waitActive(id, ctx, operation: "UpdateNodegroupConfig", progress: progress)
        }
        if let arn = prior.string("arn"), !arn.isEmpty {
            try await EKS.syncTags(arn: arn, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
        }
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        guard let (cluster, nodegroup) = Self.split(id) else { return }
        do {
            _ = try await ctx.client.json("eks", "DeleteNodegroup", method: "DELETE", path: EKS.path("clusters", cluster, "node-groups", nodegroup))
        } catch let error as AWSAPIError where error.isNotFound {
            return
        }
        _ = try await waitUntil("node group \(id) to be deleted", timeout: ctx.waitTimeout, operation: "DeleteNodegroup", progress: progress,
                                initialDelay: 5) { () -> Bool? in
            try await describe(id, ctx) == nil ? true : nil
        }
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let cluster = planned.string("cluster_name"), let name = planned.string("name") else { return nil }
        let id = "\(cluster):\(name)"
        guard let n = try await describe(id, ctx) else { return nil }
        return MarkTags.matches(EKS.stringMap(n["tags"]), mark) ? id : nil
    }
}

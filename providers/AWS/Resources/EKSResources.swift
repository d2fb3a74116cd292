import Foundation
import EthstackAWSClient
import EthstackModel
import EthstackProviderAPI

/// Helpers shared by the EKS resource types (REST/JSON API).
enum EKS {
    static func path(_ parts: String...) -> String { path(parts) }

    static func path(_ parts: [String]) -> String {
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

    /// Polls DescribeUpdate until the update is Successful; Failed or Cancelled throw with EKS's errors.
    static func waitForUpdate(cluster: String, updateID: String, query: [(String, String)], _ ctx: AWSContext, operation: String,
                              progress: ProgressReporter) async throws {
        _ = try await waitUntil("update \(updateID) of \(cluster) to finish", timeout: ctx.waitTimeout, operation: operation,
                                progress: progress, initialDelay: 2) { () -> Bool? in
            let update = try await ctx.client.json("eks", "DescribeUpdate", method: "GET", path: path("clusters", cluster, "updates", updateID),
                                                   query: query)["update"]
            switch update?["status"]?.stringValue {
            case "Successful": return true
            case "Failed", "Cancelled":
                let errors = (update?["errors"]?.listValue ?? []).map {
                    "\($0["errorCode"]?.stringValue ?? "error"): \($0["errorMessage"]?.stringValue ?? "")"
                }
                throw AWSAPIError(service: "eks", operation: operation, status: 200, code: "UpdateFailed",
                                  message: "update \(updateID) is \(update?["status"]?.stringValue ?? ""): " + errors.joined(separator: "; "))
            default: return nil
            }
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
/// version, endpoint access and its CIDRs, control-plane logging and the authentication mode change
/// in place, one UpdateClusterConfig kind per call (EKS refuses mixed updates), each waited for;
/// delete waits until the cluster is gone.
struct EKSClusterResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eks_cluster", description: "An EKS control plane.", attributes: [
        AttributeSchema("name", .string, .required, forcesReplacement: true),
        AttributeSchema("role_arn", .string, .required, forcesReplacement: true),
        AttributeSchema("version", .string, .optionalComputed, description: "Kubernetes version; upgraded in place."),
        AttributeSchema("subnet_ids", .list(.string), .required, forcesReplacement: true),
        AttributeSchema("security_group_ids", .list(.string), .optional(default: .list([])), forcesReplacement: true),
        AttributeSchema("endpoint_public_access", .bool, .optional(default: true)),
        AttributeSchema("endpoint_private_access", .bool, .optional(default: false)),
        AttributeSchema("public_access_cidrs", .list(.string), .optional(default: .list(["0.0.0.0/0"])),
                        description: "Who may reach the public endpoint (EKS's publicAccessCidrs); without private access it must include the nodes' NAT addresses."),
        AttributeSchema("enabled_cluster_log_types", .list(.string), .optional(default: .list([])),
                        description: "Control-plane logs sent to CloudWatch /aws/eks/<name>/cluster: api, audit, authenticator, controllerManager, scheduler."),
        AttributeSchema("authentication_mode", .string, .optional(default: "API_AND_CONFIG_MAP"),
                        description: "CONFIG_MAP, API_AND_CONFIG_MAP or API (access entries need API*). Changes only towards API; going back replaces the cluster."),
        AttributeSchema("bootstrap_cluster_creator_admin_permissions", .bool, .optional(default: true), forcesReplacement: true,
                        description: "Whether the creating identity gets a cluster-admin access entry."),
        AttributeSchema("secrets_kms_key_arn", .string, .optional(default: nil), forcesReplacement: true,
                        description: "KMS key that envelope-encrypts Kubernetes Secrets (EKS's encryptionConfig for secrets); cannot be removed once set."),
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

    static let logTypes = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    /// The order in which EKS lets the authentication mode move (never back).
    static let authenticationModes = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        for key in ["subnet_ids", "security_group_ids", "public_access_cidrs", "enabled_cluster_log_types"]
        where proposed[key].map({ !$0.containsUnknown && !$0.isNull }) == true {
            planned[key] = EKS.sortedStrings(proposed[key])
        }
        return planned
    }

    func refine(address: ResourceAddress, prior: [String: Value]?, proposed: [String: Value]) throws -> PlanChangeResponse {
        let planned = planChange(prior: prior, proposed: proposed)
        let unknownLogTypes = planned.strings("enabled_cluster_log_types").filter { !Self.logTypes.contains($0) }
        if !unknownLogTypes.isEmpty {
            throw ProviderError(.invalidInput, operation: "plan", address: address,
                                message: "enabled_cluster_log_types: \(unknownLogTypes.joined(separator: ", ")) is not one of \(Self.logTypes.joined(separator: ", "))")
        }
        for cidr in planned.strings("public_access_cidrs") where !cidr.contains("/") {
            throw ProviderError(.invalidInput, operation: "plan", address: address,
                                message: "public_access_cidrs: \"\(cidr)\" is not a CIDR block (a.b.c.d/n)")
        }
        guard let mode = planned.string("authentication_mode"), !(planned["authentication_mode"]?.containsUnknown ?? false) else {
            return PlanChangeResponse(planned: planned)
        }
        guard let rank = Self.authenticationModes.firstIndex(of: mode) else {
            throw ProviderError(.invalidInput, operation: "plan", address: address,
                                message: "authentication_mode must be one of \(Self.authenticationModes.joined(separator: ", ")), not \"\(mode)\"")
        }
        if let old = prior?.string("authentication_mode"), let oldRank = Self.authenticationModes.firstIndex(of: old), rank < oldRank {
            return PlanChangeResponse(planned: planned, requiresReplacement: ["authentication_mode"],
                                      replacementReason: "EKS changes the authentication mode only towards API (\(old) → \(mode) is refused)")
        }
        return PlanChangeResponse(planned: planned)
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
        let cidrs = vpc?["publicAccessCidrs"]?.listValue.map { EKS.sortedStrings(.list($0)) }
        let logTypes = (c["logging"]?["clusterLogging"]?.listValue ?? [])
            .filter { $0["enabled"]?.boolValue == true }.flatMap { $0["types"]?.listValue ?? [] }.compactMap(\.stringValue)
        // Real EKS always answers accessConfig; moto drops it (then the prior value stands).
        let access = c["accessConfig"]
        // EKS answers encryptionConfig only when it is set (and it cannot be unset); when the answer
        // has none, the prior value stands (moto may drop it).
        let secretsKey = (c["encryptionConfig"]?.listValue ?? [])
            .first { ($0["resources"]?.listValue ?? []).contains("secrets") }?["provider"]?["keyArn"]?.stringValue
            ?? (c["encryptionConfig"] == nil ? prior.string("secrets_kms_key_arn") : nil)
        return [
            "secrets_kms_key_arn": secretsKey.map(Value.string) ?? .null,
            "id": .string(id),
            "name": .string(c["name"]?.stringValue ?? id),
            "role_arn": .string(c["roleArn"]?.stringValue ?? ""),
            "version": .string(c["version"]?.stringValue ?? ""),
            "subnet_ids": EKS.sortedStrings(vpc?["subnetIds"]),
            "security_group_ids": EKS.sortedStrings(vpc?["securityGroupIds"]),
            "endpoint_public_access": .bool(vpc?["endpointPublicAccess"]?.boolValue ?? true),
            "endpoint_private_access": .bool(vpc?["endpointPrivateAccess"]?.boolValue ?? false),
            "public_access_cidrs": cidrs ?? ["0.0.0.0/0"],
            "enabled_cluster_log_types": .list(Set(logTypes).sorted().map(Value.string)),
            "authentication_mode": .string(access?["authenticationMode"]?.stringValue ?? prior.string("authentication_mode") ?? "API_AND_CONFIG_MAP"),
            "bootstrap_cluster_creator_admin_permissions":
                .bool(access?["bootstrapClusterCreatorAdminPermissions"]?.boolValue ?? prior.bool("bootstrap_cluster_creator_admin_permissions") ?? true),
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
                "publicAccessCidrs": EKS.strings(planned["public_access_cidrs"] ?? ["0.0.0.0/0"]),
            ],
            "accessConfig": [
                "authenticationMode": .string(planned.string("authentication_mode") ?? "API_AND_CONFIG_MAP"),
                "bootstrapClusterCreatorAdminPermissions": .bool(planned.bool("bootstrap_cluster_creator_admin_permissions") ?? true),
            ],
            "tags": EKS.tagsBody(EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, m in m }),
            "clientRequestToken": .string(EKS.token(mark)),
        ]
        let logTypes = planned.strings("enabled_cluster_log_types")
        if !logTypes.isEmpty { body["logging"] = Self.logging(enabled: logTypes) }
        if let key = planned.string("secrets_kms_key_arn"), !key.isEmpty {
            body["encryptionConfig"] = [["resources": ["secrets"], "provider": ["keyArn": .string(key)]]]
        }
        if let version = planned.string("version"), !version.isEmpty { body["version"] = .string(version) }
        do {
            _ = try await ctx.client.json("eks", "CreateCluster", method: "POST", path: "/clusters", body: .map(body))
        } catch let error as AWSAPIError where error.code == "ResourceInUseException" {
            guard let existing = try await describe(name, ctx), MarkTags.matches(EKS.stringMap(existing["tags"]), mark) else { throw error }
        }
        return try await afterCreating(name) {
            try await waitActive(name, ctx, operation: "CreateCluster", progress: progress)
            return name
        }
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

    /// `logging.clusterLogging`: the enabled types, and the others explicitly disabled.
    static func logging(enabled: [String]) -> Value {
        let on = Set(enabled)
        var setups: [Value] = []
        if !on.isEmpty { setups.append(["types": .list(on.sorted().map(Value.string)), "enabled": true]) }
        let off = logTypes.filter { !on.contains($0) }
        if !off.isEmpty { setups.append(["types": .list(off.map(Value.string)), "enabled": false]) }
        return ["clusterLogging": .list(setups)]
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        if let version = planned.string("version"), !version.isEmpty, version != prior.string("version") {
            let answer = try await ctx.client.json("eks", "UpdateClusterVersion", method: "POST", path: EKS.path("clusters", id, "updates"),
                                                   body: ["version": .string(version), "clientRequestToken": .string(EKS.token(mark, "-v\(version)"))])
            try await waitUpdate(id, answer, ctx, operation: "UpdateClusterVersion", progress: progress)
        }
        // EKS allows one kind of update per UpdateClusterConfig call, refuses a new one while another
        // runs, and refuses values that are already set: only what changed, one kind at a time.
        var vpc: [String: Value] = [:]
        let publicAccess = planned.bool("endpoint_public_access") ?? true
        let privateAccess = planned.bool("endpoint_private_access") ?? false
        if publicAccess != (prior.bool("endpoint_public_access") ?? true) { vpc["endpointPublicAccess"] = .bool(publicAccess) }
        if privateAccess != (prior.bool("endpoint_private_access") ?? false) { vpc["endpointPrivateAccess"] = .bool(privateAccess) }
        let cidrs = EKS.sortedStrings(planned["public_access_cidrs"] ?? ["0.0.0.0/0"])
        if cidrs != EKS.sortedStrings(prior["public_access_cidrs"] ?? ["0.0.0.0/0"]) { vpc["publicAccessCidrs"] = cidrs }
        var updates: [(kind: String, body: [String: Value])] = []
        if !vpc.isEmpty { updates.append(("endpoint", ["resourcesVpcConfig": .map(vpc)])) }
        let logTypes = planned.strings("enabled_cluster_log_types")
        if Set(logTypes) != Set(prior.strings("enabled_cluster_log_types")) {
            updates.append(("logging", ["logging": Self.logging(enabled: logTypes)]))
        }
        if let mode = planned.string("authentication_mode"), mode != prior.string("authentication_mode") {
            updates.append(("access", ["accessConfig": ["authenticationMode": .string(mode)]]))
        }
        for update in updates {
            var body = update.body
            body["clientRequestToken"] = .string(EKS.token(mark, "-\(update.kind)-\(UUID().uuidString.prefix(8))"))
            let answer = try await ctx.client.json("eks", "UpdateClusterConfig", method: "POST", path: EKS.path("clusters", id, "update-config"),
                                                   body: .map(body))
            try await waitUpdate(id, answer, ctx, operation: "UpdateClusterConfig", progress: progress)
        }
        if let arn = prior.string("arn"), !arn.isEmpty {
            try await EKS.syncTags(arn: arn, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
        }
    }

    /// Waits for the update an Update* call answered (DescribeUpdate until Successful), then for the
    /// cluster to be ACTIVE. An answer without an update (moto) waits for ACTIVE only.
    private func waitUpdate(_ name: String, _ answer: Value, _ ctx: AWSContext, operation: String, progress: ProgressReporter) async throws {
        if let updateID = answer["update"]?["id"]?.stringValue {
            try await EKS.waitForUpdate(cluster: name, updateID: updateID, query: [], ctx, operation: operation, progress: progress)
        }
        try await waitActive(name, ctx, operation: operation, progress: progress)
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
        return try await afterCreating(id) {
            try await waitActive(id, ctx, operation: "CreateNodegroup", progress: progress)
            return id
        }
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

import Foundation
import EthstackModel
import EthstackProviderAPI

/// Splits `CLUSTER:REST` ids (EKS cluster names have no colon; REST may, e.g. an ARN).
private func splitID(_ id: String, _ type: String, _ operation: String, shape: String) throws -> (cluster: String, rest: String) {
    let parts = id.split(separator: ":", maxSplits: 1)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw AWSAPIError(service: "eks", operation: operation, status: 400, code: "InvalidParameterException",
                          message: "\(type) id \"\(id)\" is not \(shape)")
    }
    return (String(parts[0]), String(parts[1]))
}

/// `aws.eks_addon`: a managed add-on (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver,
/// snapshot-controller, eks-pod-identity-agent …); id `CLUSTER:ADDON`. Version, IAM role,
/// configuration values and pod identity associations change in place (UpdateAddon, waited for
/// through DescribeUpdate); create carries `clientRequestToken` and waits for ACTIVE.
struct EKSAddonResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eks_addon", description: "A managed EKS add-on.", attributes: [
        AttributeSchema("cluster_name", .string, .required, forcesReplacement: true),
        AttributeSchema("addon_name", .string, .required, forcesReplacement: true),
        AttributeSchema("addon_version", .string, .optionalComputed, description: "Default: the version EKS picks for the cluster's Kubernetes version."),
        AttributeSchema("service_account_role_arn", .string, .optional(default: ""), description: "IRSA role of the add-on's service account."),
        AttributeSchema("configuration_values", .string, .optional(default: ""),
                        description: "JSON object of the add-on's settings (e.g. vpc-cni {\"enableNetworkPolicy\": \"true\"})."),
        AttributeSchema("resolve_conflicts", .string, .optional(default: "OVERWRITE"),
                        description: "OVERWRITE, NONE or PRESERVE: what happens to fields changed on the cluster by hand."),
        AttributeSchema("pod_identity_associations", .list(.map(.string)), .optional(default: .list([])),
                        description: "EKS Pod Identity for the add-on's service accounts: [{service_account, role_arn}]."),
        AttributeSchema("preserve_on_delete", .bool, .optional(default: false), description: "Keep the add-on's objects on the cluster when deleted."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "CLUSTER:ADDON"),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("status", .string, .computed),
    ])

    static let resolveModes = ["OVERWRITE", "NONE", "PRESERVE"]

    func refine(address: ResourceAddress, prior: [String: Value]?, proposed: [String: Value]) throws -> PlanChangeResponse {
        var planned = proposed
        if let mode = proposed.string("resolve_conflicts"), !Self.resolveModes.contains(mode) {
            throw ProviderError(.invalidInput, operation: "plan", address: address,
                                message: "resolve_conflicts must be one of \(Self.resolveModes.joined(separator: ", ")), not \"\(mode)\"")
        }
        if case .string(let text)? = proposed["configuration_values"], !text.isEmpty {
            guard let value = try? Value.parseJSON(Data(text.utf8)), value.mapValue != nil else {
                throw ProviderError(.invalidInput, operation: "plan", address: address,
                                    message: "configuration_values must be a JSON object (use jsonencode({...})), got: \(text.prefix(80))")
            }
            planned["configuration_values"] = .string(value.jsonString())
        }
        if let list = proposed["pod_identity_associations"], !list.containsUnknown {
            var pairs: [Value] = []
            for item in list.listValue ?? [] {
                guard let sa = item["service_account"]?.stringValue, let role = item["role_arn"]?.stringValue else {
                    throw ProviderError(.invalidInput, operation: "plan", address: address,
                                        message: "each pod_identity_associations entry needs service_account and role_arn")
                }
                pairs.append(["service_account": .string(sa), "role_arn": .string(role)])
            }
            planned["pod_identity_associations"] = .list(pairs.sorted { ($0["service_account"]?.stringValue ?? "") < ($1["service_account"]?.stringValue ?? "") })
        }
        return PlanChangeResponse(planned: planned)
    }

    func describe(_ id: String, _ ctx: AWSContext, operation: String = "DescribeAddon") async throws -> Value? {
        let (cluster, addon) = try splitID(id, "aws.eks_addon", operation, shape: "CLUSTER:ADDON")
        do {
            return try await ctx.client.json("eks", "DescribeAddon", method: "GET", path: EKS.path("clusters", cluster, "addons", addon))["addon"]
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let a = try await describe(id, ctx) else { return nil }
        let cluster = a["clusterName"]?.stringValue ?? ""
        // The add-on answers association ARNs; the service account and role come from each association.
        var pairs: [Value] = []
        for arn in (a["podIdentityAssociations"]?.listValue ?? []).compactMap(\.stringValue) {
            guard let associationID = arn.split(separator: "/").last.map(String.init),
                  let association = try await EKSPodIdentityAssociationResource.describe(cluster: cluster, id: associationID, ctx) else { continue }
            pairs.append(["service_account": .string(association["serviceAccount"]?.stringValue ?? ""),
                          "role_arn": .string(association["roleArn"]?.stringValue ?? "")])
        }
        let configuration = a["configurationValues"]?.stringValue ?? ""
        return [
            "id": .string(id),
            "cluster_name": .string(cluster),
            "addon_name": .string(a["addonName"]?.stringValue ?? ""),
            "addon_version": .string(a["addonVersion"]?.stringValue ?? ""),
            "service_account_role_arn": .string(a["serviceAccountRoleArn"]?.stringValue ?? ""),
            "configuration_values": .string(configuration.isEmpty ? "" : ((try? Value.parseJSON(Data(configuration.utf8)))?.jsonString() ?? configuration)),
            // Not part of the add-on: how ethstack asked, kept from the configuration.
            "resolve_conflicts": .string(prior.string("resolve_conflicts") ?? "OVERWRITE"),
            "preserve_on_delete": .bool(prior.bool("preserve_on_delete") ?? false),
            "pod_identity_associations": .list(pairs.sorted { ($0["service_account"]?.stringValue ?? "") < ($1["service_account"]?.stringValue ?? "") }),
            "tags": EC2.userTagsValue(EKS.stringMap(a["tags"])),
            "arn": .string(a["addonArn"]?.stringValue ?? ""),
            "status": .string(a["status"]?.stringValue ?? ""),
        ]
    }

    private func associations(_ planned: [String: Value]) -> Value {
        .list((planned["pod_identity_associations"]?.listValue ?? []).map {
            ["serviceAccount": .string($0["service_account"]?.stringValue ?? ""), "roleArn": .string($0["role_arn"]?.stringValue ?? "")]
        })
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let cluster = planned.string("cluster_name") ?? ""
        let name = planned.string("addon_name") ?? ""
        let id = "\(cluster):\(name)"
        var body: [String: Value] = [
            "addonName": .string(name),
            "resolveConflicts": .string(planned.string("resolve_conflicts") ?? "OVERWRITE"),
            "tags": EKS.tagsBody(EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, m in m }),
            "clientRequestToken": .string(EKS.token(mark)),
        ]
        if let v = planned.string("addon_version"), !v.isEmpty { body["addonVersion"] = .string(v) }
        if let r = planned.string("service_account_role_arn"), !r.isEmpty { body["serviceAccountRoleArn"] = .string(r) }
        if let c = planned.string("configuration_values"), !c.isEmpty { body["configurationValues"] = .string(c) }
        if !(planned["pod_identity_associations"]?.listValue ?? []).isEmpty { body["podIdentityAssociations"] = associations(planned) }
        do {
            _ = try await ctx.client.json("eks", "CreateAddon", method: "POST", path: EKS.path("clusters", cluster, "addons"), body: .map(body))
        } catch let error as AWSAPIError where error.code == "ResourceInUseException" {
            guard let existing = try await describe(id, ctx), MarkTags.matches(EKS.stringMap(existing["tags"]), mark) else { throw error }
        }
        return try await afterCreating(id) {
            try await waitActive(id, ctx, operation: "CreateAddon", progress: progress)
            return id
        }
    }

    /// Waits for ACTIVE. CREATE_FAILED and UPDATE_FAILED stop at once with EKS's health issues;
    /// DEGRADED (e.g. coredns with no node yet) keeps waiting and is reported if it outlasts the timeout.
    private func waitActive(_ id: String, _ ctx: AWSContext, operation: String, progress: ProgressReporter) async throws {
        var lastIssues = ""
        do {
            _ = try await waitUntil("add-on \(id) to be ACTIVE", timeout: ctx.waitTimeout, operation: operation, progress: progress,
                                    initialDelay: 2) { () -> Bool? in
                guard let a = try await describe(id, ctx) else {
                    throw AWSAPIError(service: "eks", operation: operation, status: 404, code: "ResourceNotFoundException",
                                      message: "add-on \(id) disappeared while waiting for it")
                }
                let status = a["status"]?.stringValue ?? ""
                lastIssues = (a["health"]?["issues"]?.listValue ?? []).map {
                    "\($0["code"]?.stringValue ?? "issue"): \($0["message"]?.stringValue ?? "")"
                }.joined(separator: "; ")
                switch status {
                case "ACTIVE": return true
                case "CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED":
                    throw AWSAPIError(service: "eks", operation: operation, status: 200, code: "AddonFailed",
                                      message: "add-on \(id) is \(status)" + (lastIssues.isEmpty ? "" : ": \(lastIssues)"))
                default: return nil
                }
            }
        } catch var error as ProviderError where error.kind == .timeout && !lastIssues.isEmpty {
            error.message += " (health: \(lastIssues))"
            throw error
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        let (cluster, name) = try splitID(id, "aws.eks_addon", "UpdateAddon", shape: "CLUSTER:ADDON")
        var body: [String: Value] = [:]
        if let v = planned.string("addon_version"), !v.isEmpty, v != prior.string("addon_version") { body["addonVersion"] = .string(v) }
        for (key, field) in [("service_account_role_arn", "serviceAccountRoleArn"), ("configuration_values", "configurationValues")]
        where (planned.string(key) ?? "") != (prior.string(key) ?? "") {
            body[field] = .string(planned.string(key) ?? "")  // "" removes it
        }
        if planned["pod_identity_associations"] != prior["pod_identity_associations"] { body["podIdentityAssociations"] = associations(planned) }
        if !body.isEmpty {
            body["resolveConflicts"] = .string(planned.string("resolve_conflicts") ?? "OVERWRITE")
            body["clientRequestToken"] = .string(EKS.token(mark, "-\(UUID().uuidString.prefix(8))"))
            let answer = try await ctx.client.json("eks", "UpdateAddon", method: "POST", path: EKS.path("clusters", cluster, "addons", name, "update"),
                                                   body: .map(body))
            if let updateID = answer["update"]?["id"]?.stringValue {
                try await EKS.waitForUpdate(cluster: cluster, updateID: updateID, query: [("addonName", name)], ctx,
                                            operation: "UpdateAddon", progress: progress)
            }
            try await waitActive(id, ctx, operation: "UpdateAddon", progress: progress)
        }
        if let arn = prior.string("arn"), !arn.isEmpty {
            try await EKS.syncTags(arn: arn, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
        }
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        let (cluster, name) = try splitID(id, "aws.eks_addon", "DeleteAddon", shape: "CLUSTER:ADDON")
        do {
            _ = try await ctx.client.json("eks", "DeleteAddon", method: "DELETE", path: EKS.path("clusters", cluster, "addons", name),
                                          query: [("preserve", (prior.bool("preserve_on_delete") ?? false) ? "true" : "false")])
        } catch let error as AWSAPIError where error.isNotFound {
            return
        }
        _ = try await waitUntil("add-on \(id) to be deleted", timeout: ctx.waitTimeout, operation: "DeleteAddon", progress: progress,
                                initialDelay: 2) { () -> Bool? in
            try await describe(id, ctx) == nil ? true : nil
        }
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let cluster = planned.string("cluster_name"), let name = planned.string("addon_name") else { return nil }
        let id = "\(cluster):\(name)"
        guard let a = try await describe(id, ctx) else { return nil }
        return MarkTags.matches(EKS.stringMap(a["tags"]), mark) ? id : nil
    }
}

/// `aws.eks_pod_identity_association`: an IAM role for a Kubernetes service account through EKS
/// Pod Identity (needs the eks-pod-identity-agent add-on, and a role trusting
/// `pods.eks.amazonaws.com` for `sts:AssumeRole` and `sts:TagSession`); id `CLUSTER:ASSOCIATION_ID`.
struct EKSPodIdentityAssociationResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eks_pod_identity_association",
                                description: "An EKS Pod Identity association (service account → IAM role).", attributes: [
        AttributeSchema("cluster_name", .string, .required, forcesReplacement: true),
        AttributeSchema("namespace", .string, .required, forcesReplacement: true),
        AttributeSchema("service_account", .string, .required, forcesReplacement: true),
        AttributeSchema("role_arn", .string, .required),
        AttributeSchema("disable_session_tags", .bool, .optional(default: false)),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "CLUSTER:ASSOCIATION_ID"),
        AttributeSchema("association_id", .string, .computed),
        AttributeSchema("arn", .string, .computed),
    ])

    static func describe(cluster: String, id: String, _ ctx: AWSContext) async throws -> Value? {
        do {
            return try await ctx.client.json("eks", "DescribePodIdentityAssociation", method: "GET",
                                              path: EKS.path("clusters", cluster, "pod-identity-associations", id))["association"]
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        let (cluster, associationID) = try splitID(id, "aws.eks_pod_identity_association", "DescribePodIdentityAssociation",
                                                   shape: "CLUSTER:ASSOCIATION_ID")
        guard let a = try await Self.describe(cluster: cluster, id: associationID, ctx) else { return nil }
        return [
            "id": .string(id),
            "cluster_name": .string(a["clusterName"]?.stringValue ?? cluster),
            "namespace": .string(a["namespace"]?.stringValue ?? ""),
            "service_account": .string(a["serviceAccount"]?.stringValue ?? ""),
            "role_arn": .string(a["roleArn"]?.stringValue ?? ""),
            "disable_session_tags": .bool(a["disableSessionTags"]?.boolValue ?? false),
            "tags": EC2.userTagsValue(EKS.stringMap(a["tags"])),
            "association_id": .string(associationID),
            "arn": .string(a["associationArn"]?.stringValue ?? ""),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let cluster = planned.string("cluster_name") ?? ""
        let body: [String: Value] = [
            "namespace": .string(planned.string("namespace") ?? ""),
            "serviceAccount": .string(planned.string("service_account") ?? ""),
            "roleArn": .string(planned.string("role_arn") ?? ""),
            "disableSessionTags": .bool(planned.bool("disable_session_tags") ?? false),
            "tags": EKS.tagsBody(EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, m in m }),
            "clientRequestToken": .string(EKS.token(mark)),
        ]
        do {
            let answer = try await ctx.client.json("eks", "CreatePodIdentityAssociation", method: "POST",
                                                   path: EKS.path("clusters", cluster, "pod-identity-associations"), body: .map(body))
            guard let associationID = answer["association"]?["associationId"]?.stringValue else {
                throw AWSAPIError(service: "eks", operation: "CreatePodIdentityAssociation", status: 200, code: "MalformedResponse",
                                  message: "the answer has no association.associationId")
            }
            return "\(cluster):\(associationID)"
        } catch let error as AWSAPIError where error.code == "ResourceInUseException" {
            guard let id = try await find(mark: mark, planned: planned, ctx) else { throw error }
            return id
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        let (cluster, associationID) = try splitID(id, "aws.eks_pod_identity_association", "UpdatePodIdentityAssociation",
                                                   shape: "CLUSTER:ASSOCIATION_ID")
        if planned.string("role_arn") != prior.string("role_arn") || planned.bool("disable_session_tags") != prior.bool("disable_session_tags") {
            _ = try await ctx.client.json("eks", "UpdatePodIdentityAssociation", method: "POST",
                                          path: EKS.path("clusters", cluster, "pod-identity-associations", associationID),
                                          body: ["roleArn": .string(planned.string("role_arn") ?? ""),
                                                 "disableSessionTags": .bool(planned.bool("disable_session_tags") ?? false),
                                                 "clientRequestToken": .string(EKS.token(mark, "-\(UUID().uuidString.prefix(8))"))])
        }
        if let arn = prior.string("arn"), !arn.isEmpty {
            try await EKS.syncTags(arn: arn, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
        }
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        let (cluster, associationID) = try splitID(id, "aws.eks_pod_identity_association", "DeletePodIdentityAssociation",
                                                   shape: "CLUSTER:ASSOCIATION_ID")
        do {
            _ = try await ctx.client.json("eks", "DeletePodIdentityAssociation", method: "DELETE",
                                          path: EKS.path("clusters", cluster, "pod-identity-associations", associationID))
        } catch let error as AWSAPIError where error.isNotFound {}
    }

    /// The association for this namespace and service account, if it carries our mark.
    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let cluster = planned.string("cluster_name"), let namespace = planned.string("namespace"),
              let account = planned.string("service_account") else { return nil }
        let list = try await ctx.client.json("eks", "ListPodIdentityAssociations", method: "GET",
                                             path: EKS.path("clusters", cluster, "pod-identity-associations"),
                                             query: [("namespace", namespace), ("serviceAccount", account)])
        for summary in list["associations"]?.listValue ?? [] {
            guard let associationID = summary["associationId"]?.stringValue,
                  let a = try await Self.describe(cluster: cluster, id: associationID, ctx),
                  MarkTags.matches(EKS.stringMap(a["tags"]), mark) else { continue }
            return "\(cluster):\(associationID)"
        }
        return nil
    }
}

/// `aws.eks_access_entry`: who may use the cluster (an IAM role or user), with its EKS access
/// policies (AmazonEKSClusterAdminPolicy …, cluster- or namespace-scoped) kept in sync in place;
/// id `CLUSTER:PRINCIPAL_ARN`. Needs `authentication_mode` API or API_AND_CONFIG_MAP.
struct EKSAccessEntryResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eks_access_entry", description: "An EKS access entry and its access policies.", attributes: [
        AttributeSchema("cluster_name", .string, .required, forcesReplacement: true),
        AttributeSchema("principal_arn", .string, .required, forcesReplacement: true),
        AttributeSchema("type", .string, .optional(default: "STANDARD"), forcesReplacement: true),
        AttributeSchema("kubernetes_groups", .list(.string), .optional(default: .list([]))),
        AttributeSchema("username", .string, .optionalComputed),
        AttributeSchema("access_policies", .list(.any), .optional(default: .list([])),
                        description: "[{policy_arn, scope: cluster|namespace, namespaces: [...]}], e.g. arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "CLUSTER:PRINCIPAL_ARN"),
        AttributeSchema("arn", .string, .computed),
    ])

    /// One access policy as ethstack keeps it: sorted namespaces, scope cluster or namespace.
    static func policy(arn: String, scope: String, namespaces: [String]) -> Value {
        ["policy_arn": .string(arn), "scope": .string(scope), "namespaces": .list(namespaces.sorted().map(Value.string))]
    }

    static func sortedPolicies(_ list: [Value]) -> Value {
        .list(list.sorted { ($0["policy_arn"]?.stringValue ?? "") < ($1["policy_arn"]?.stringValue ?? "") })
    }

    func refine(address: ResourceAddress, prior: [String: Value]?, proposed: [String: Value]) throws -> PlanChangeResponse {
        var planned = proposed
        if let list = proposed["access_policies"], !list.containsUnknown {
            var policies: [Value] = []
            for item in list.listValue ?? [] {
                guard let arn = item["policy_arn"]?.stringValue, arn.hasPrefix("arn:") else {
                    throw ProviderError(.invalidInput, operation: "plan", address: address,
                                        message: "each access_policies entry needs policy_arn (arn:aws:eks::aws:cluster-access-policy/NAME)")
                }
                let namespaces = (item["namespaces"]?.listValue ?? []).compactMap(\.stringValue)
                let scope = item["scope"]?.stringValue ?? (namespaces.isEmpty ? "cluster" : "namespace")
                guard scope == "cluster" || scope == "namespace", (scope == "namespace") == !namespaces.isEmpty else {
                    throw ProviderError(.invalidInput, operation: "plan", address: address,
                                        message: "access policy \(arn): scope must be cluster (no namespaces) or namespace (with namespaces)")
                }
                policies.append(Self.policy(arn: arn, scope: scope, namespaces: namespaces))
            }
            planned["access_policies"] = Self.sortedPolicies(policies)
        }
        if let groups = proposed["kubernetes_groups"], !groups.containsUnknown { planned["kubernetes_groups"] = EKS.sortedStrings(groups) }
        return PlanChangeResponse(planned: planned)
    }

    private func path(_ id: String, _ operation: String, _ more: String...) throws -> String {
        let (cluster, principal) = try splitID(id, "aws.eks_access_entry", operation, shape: "CLUSTER:PRINCIPAL_ARN")
        return EKS.path(["clusters", cluster, "access-entries", principal] + more)
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        let entry: Value
        let policies: Value
        do {
            guard let e = try await ctx.client.json("eks", "DescribeAccessEntry", method: "GET", path: path(id, "DescribeAccessEntry"))["accessEntry"]
            else { return nil }
            entry = e
            policies = try await ctx.client.json("eks", "ListAssociatedAccessPolicies", method: "GET",
                                                 path: path(id, "ListAssociatedAccessPolicies", "access-policies"))
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
        let associated = (policies["associatedAccessPolicies"]?.listValue ?? []).map {
            Self.policy(arn: $0["policyArn"]?.stringValue ?? "", scope: $0["accessScope"]?["type"]?.stringValue ?? "cluster",
                        namespaces: ($0["accessScope"]?["namespaces"]?.listValue ?? []).compactMap(\.stringValue))
        }
        return [
            "id": .string(id),
            "cluster_name": .string(entry["clusterName"]?.stringValue ?? ""),
            "principal_arn": .string(entry["principalArn"]?.stringValue ?? ""),
            "type": .string(entry["type"]?.stringValue ?? "STANDARD"),
            "kubernetes_groups": EKS.sortedStrings(entry["kubernetesGroups"]),
            "username": .string(entry["username"]?.stringValue ?? ""),
            "access_policies": Self.sortedPolicies(associated),
            "tags": EC2.userTagsValue(EKS.stringMap(entry["tags"])),
            "arn": .string(entry["accessEntryArn"]?.stringValue ?? ""),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let cluster = planned.string("cluster_name") ?? ""
        let principal = planned.string("principal_arn") ?? ""
        let id = "\(cluster):\(principal)"
        var body: [String: Value] = [
            "principalArn": .string(principal),
            "type": .string(planned.string("type") ?? "STANDARD"),
            "kubernetesGroups": EKS.strings(planned["kubernetes_groups"]),
            "tags": EKS.tagsBody(EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, m in m }),
            "clientRequestToken": .string(EKS.token(mark)),
        ]
        if let u = planned.string("username"), !u.isEmpty { body["username"] = .string(u) }
        do {
            _ = try await ctx.client.json("eks", "CreateAccessEntry", method: "POST", path: EKS.path("clusters", cluster, "access-entries"),
                                          body: .map(body))
        } catch let error as AWSAPIError where error.code == "ResourceInUseException" {
            guard try await find(mark: mark, planned: planned, ctx) != nil else { throw error }
        }
        try await syncPolicies(id, want: planned["access_policies"]?.listValue ?? [], have: [], ctx)
        return id
    }

    /// Associates every wanted policy whose scope differs from what is there, disassociates the rest.
    private func syncPolicies(_ id: String, want: [Value], have: [Value], _ ctx: AWSContext) async throws {
        let wanted = Dictionary(want.map { ($0["policy_arn"]?.stringValue ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let existing = Dictionary(have.map { ($0["policy_arn"]?.stringValue ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        for arn in existing.keys.sorted() where wanted[arn] == nil {
            do {
                _ = try await ctx.client.json("eks", "DisassociateAccessPolicy", method: "DELETE",
                                              path: path(id, "DisassociateAccessPolicy", "access-policies", arn))
            } catch let error as AWSAPIError where error.isNotFound {}
        }
        for arn in wanted.keys.sorted() where wanted[arn] != existing[arn] {
            let p = wanted[arn] ?? .null
            var scope: [String: Value] = ["type": .string(p["scope"]?.stringValue ?? "cluster")]
            if let namespaces = p["namespaces"]?.listValue, !namespaces.isEmpty { scope["namespaces"] = .list(namespaces) }
            _ = try await ctx.client.json("eks", "AssociateAccessPolicy", method: "POST", path: path(id, "AssociateAccessPolicy", "access-policies"),
                                          body: ["policyArn": .string(arn), "accessScope": .map(scope)])
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        let groups = EKS.sortedStrings(planned["kubernetes_groups"])
        let username = planned.string("username") ?? ""
        if groups != EKS.sortedStrings(prior["kubernetes_groups"]) || (!username.isEmpty && username != prior.string("username")) {
            var body: [String: Value] = ["kubernetesGroups": groups,
                                         "clientRequestToken": .string(EKS.token(mark, "-\(UUID().uuidString.prefix(8))"))]
            if !username.isEmpty { body["username"] = .string(username) }
            _ = try await ctx.client.json("eks", "UpdateAccessEntry", method: "POST", path: path(id, "UpdateAccessEntry"), body: .map(body))
        }
        try await syncPolicies(id, want: planned["access_policies"]?.listValue ?? [], have: prior["access_policies"]?.listValue ?? [], ctx)
        if let arn = prior.string("arn"), !arn.isEmpty {
            try await EKS.syncTags(arn: arn, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
        }
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        do {
            _ = try await ctx.client.json("eks", "DeleteAccessEntry", method: "DELETE", path: path(id, "DeleteAccessEntry"))
        } catch let error as AWSAPIError where error.isNotFound {}
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let cluster = planned.string("cluster_name"), let principal = planned.string("principal_arn") else { return nil }
        let id = "\(cluster):\(principal)"
        do {
            let entry = try await ctx.client.json("eks", "DescribeAccessEntry", method: "GET", path: path(id, "DescribeAccessEntry"))["accessEntry"]
            return MarkTags.matches(EKS.stringMap(entry?["tags"]), mark) ? id : nil
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }
}

import Foundation
import Testing
@testable import AWSProvider
import EthstackEngine
import EthstackModel
import EthstackProviderAPI

/// What EKS needs beyond a cluster and node groups: control-plane logging, endpoint CIDRs and the
/// authentication mode on `aws.eks_cluster` (moto implements CreateCluster/UpdateClusterConfig),
/// and managed add-ons, pod identity associations and access entries, which moto 5.2 does not
/// implement: those run against `Tests/Support/eks_api_standin.py`, a server answering with the
/// request and response shapes of the EKS API reference, in front of moto for everything else.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"),
       .timeLimit(.minutes(5)))
struct AWSEKSAddonTests {
    let helper = AWSProviderTests()

    static let podTrust = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
        """

    /// The EKS stand-in in front of the shared moto, answering CREATING/InProgress once before ACTIVE/Successful.
    static func standin() async throws -> String {
        let upstream = try await AWSTestServers.moto()
        let port = AWSTestServers.freePort()
        _ = try AWSTestServers.spawn([AWSTestServers.which("python3") ?? "python3",
                                      AWSTestServers.supportDirectory.appendingPathComponent("eks_api_standin.py").path, String(port), upstream],
                                     environment: ["EKS_STANDIN_PENDING_READS": "1"])
        let url = "http://127.0.0.1:\(port)"
        try await AWSTestServers.waitUntilAnswering(url + "/__standin/state")
        return url
    }

    /// A role and an ACTIVE cluster in moto, reached through `endpoint`.
    func cluster(_ aws: any ConfiguredProvider, _ suffix: String, extra: [String: Value] = [:]) async throws -> (cluster: ApplyResponse, role: ApplyResponse) {
        let role = try await helper.create(aws, "aws.iam_role", "role", [
            "name": .string("pods-\(suffix)"), "assume_role_policy": .string(Self.podTrust),
        ])
        let vpc = try await helper.create(aws, "aws.vpc", "vpc", ["cidr_block": "10.30.0.0/16"])
        let subnet = try await helper.create(aws, "aws.subnet", "a", ["vpc_id": .string(vpc.id), "cidr_block": "10.30.1.0/24"])
        var values: [String: Value] = ["name": .string("addons-\(suffix)"), "role_arn": role.attributes["arn"] ?? .null,
                                       "subnet_ids": [.string(subnet.id)]]
        values.merge(extra) { _, new in new }
        return (try await helper.create(aws, "aws.eks_cluster", "cluster", values), role)
    }

    func rawClient(_ aws: any ConfiguredProvider) throws -> AWSClient {
        try #require(aws as? ConfiguredAWS).context.client
    }

    // MARK: - aws.iam_role: inline policies (moto), for a role scoped to one bucket

    @Test func roleInlinePoliciesArePutChangedAndRemoved() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-north-1")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let write = """
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::keys-\(suffix)/validator-keys/*"}]}
            """
        let role = try await helper.create(aws, "aws.iam_role", "backup", [
            "name": .string("backup-\(suffix)"), "assume_role_policy": .string(Self.podTrust),
            "inline_policies": .map(["write-backups": .string(write)]),
        ])
        let normalised = IAMRoleResource.normalisePolicy(write)
        #expect(role.attributes["inline_policies"] == .map(["write-backups": .string(normalised)]))
        #expect(try await helper.read(aws, "aws.iam_role", role.id, prior: role.attributes)?.attributes == role.attributes)
        let client = try rawClient(aws)
        let live = try await client.query("iam", "GetRolePolicy", [("RoleName", role.id), ("PolicyName", "write-backups")])
        let document = live["GetRolePolicyResult", "PolicyDocument"]?.text ?? ""
        #expect(IAMRoleResource.normalisePolicy(document.removingPercentEncoding ?? document) == normalised)

        // Changed in place: one document rewritten, one policy added; then all removed.
        let list = write.replacingOccurrences(of: "s3:PutObject", with: "s3:ListBucket")
        let updated = try await helper.update(aws, "aws.iam_role", role, [
            "inline_policies": .map(["write-backups": .string(list), "second": .string(write)]),
        ])
        #expect(updated.attributes["inline_policies"]?["write-backups"]?.stringValue?.contains("s3:ListBucket") == true)
        #expect(updated.attributes["inline_policies"]?["second"] != nil)
        let emptied = try await helper.update(aws, "aws.iam_role", updated, ["inline_policies": .map([:])])
        #expect(emptied.attributes["inline_policies"] == .map([:]))
        let names = try await client.query("iam", "ListRolePolicies", [("RoleName", role.id)])
        #expect(names["ListRolePoliciesResult", "PolicyNames"]?.children.isEmpty ?? true)

        // A role with inline policies is deleted with them (IAM refuses DeleteRole otherwise).
        let again = try await helper.update(aws, "aws.iam_role", emptied, ["inline_policies": .map(["write-backups": .string(write)])])
        try await aws.delete(DeleteRequest(type: "aws.iam_role", address: "backup", id: again.id, prior: again.attributes))
        #expect(try await helper.read(aws, "aws.iam_role", again.id) == nil)
    }

    // MARK: - aws.eks_cluster: logging, endpoint CIDRs, authentication mode (moto)

    @Test func clusterSendsEndpointCIDRsAndLoggingAndChangesThemInPlace() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-north-1")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (cluster, role) = try await cluster(aws, suffix, extra: [
            "public_access_cidrs": ["203.0.113.0/24", "198.51.100.7/32"], "enabled_cluster_log_types": ["audit", "api"],
            "authentication_mode": "API", "endpoint_private_access": true,
        ])
        #expect(cluster.attributes["public_access_cidrs"] == ["198.51.100.7/32", "203.0.113.0/24"])
        #expect(cluster.attributes["enabled_cluster_log_types"] == ["api", "audit"])
        #expect(cluster.attributes["authentication_mode"] == "API")
        // What EKS was sent, as EKS (moto) keeps it: admin_cidrs now restrict the endpoint.
        let client = try rawClient(aws)
        let live = try await client.json("eks", "DescribeCluster", method: "GET", path: EKS.path("clusters", cluster.id))["cluster"]
        #expect(Set(live?["resourcesVpcConfig"]?["publicAccessCidrs"]?.listValue?.compactMap(\.stringValue) ?? []) ==
                ["203.0.113.0/24", "198.51.100.7/32"])
        #expect(live?["logging"]?["clusterLogging"]?.listValue?.first { $0["enabled"] == true }?["types"] == ["api", "audit"])
        #expect(try await helper.read(aws, "aws.eks_cluster", cluster.id, prior: cluster.attributes)?.attributes == cluster.attributes)

        let updated = try await helper.update(aws, "aws.eks_cluster", cluster, [
            "public_access_cidrs": ["192.0.2.0/24"], "enabled_cluster_log_types": ["api", "audit", "authenticator"],
        ])
        #expect(updated.attributes["public_access_cidrs"] == ["192.0.2.0/24"])
        #expect(updated.attributes["enabled_cluster_log_types"] == ["api", "audit", "authenticator"])
        let after = try await client.json("eks", "DescribeCluster", method: "GET", path: EKS.path("clusters", cluster.id))["cluster"]
        #expect(after?["logging"]?["clusterLogging"]?.listValue?.first { $0["enabled"] == false }?["types"] == ["controllerManager", "scheduler"])

        // The authentication mode only moves towards API: going back is a replacement, with the reason.
        let back = try await aws.planChange(PlanChangeRequest(type: "aws.eks_cluster", address: "cluster", prior: updated.attributes,
                                                              proposed: updated.attributes.merging(["authentication_mode": "CONFIG_MAP"]) { _, n in n }))
        #expect(back.requiresReplacement == ["authentication_mode"])
        #expect(back.replacementReason?.contains("API → CONFIG_MAP") == true)
        do {
            _ = try await aws.planChange(PlanChangeRequest(type: "aws.eks_cluster", address: "cluster", prior: nil,
                                                           proposed: AWSProviderTests.planned("aws.eks_cluster", ["enabled_cluster_log_types": ["api", "kubelet"]])))
            Issue.record("an unknown log type should be refused")
        } catch let error as ProviderError {
            #expect(error.kind == .invalidInput)
            #expect(error.message.contains("kubelet is not one of api, audit, authenticator, controllerManager, scheduler"))
        }

        try await aws.delete(DeleteRequest(type: "aws.eks_cluster", address: "cluster", id: cluster.id, prior: updated.attributes))
        #expect(try await helper.read(aws, "aws.eks_cluster", cluster.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.iam_role", address: "role", id: role.id, prior: role.attributes))
    }

    // MARK: - aws.eks_addon (stand-in)

    @Test func addonLifecycleWithConfigurationAndPodIdentity() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-west-3", endpoint: try await Self.standin())
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (cluster, role) = try await cluster(aws, suffix)
        let roleArn = role.attributes["arn"] ?? .null

        let mark = testMark("vpc_cni")
        let cni = try await helper.create(aws, "aws.eks_addon", "vpc_cni", [
            "cluster_name": .string(cluster.id), "addon_name": "vpc-cni",
            "configuration_values": "{ \"enableNetworkPolicy\": \"true\" }", "tags": ["team": "eth"],
        ], mark: mark)
        #expect(cni.id == "\(cluster.id):vpc-cni")
        #expect(cni.attributes["status"] == "ACTIVE")
        #expect(cni.attributes["configuration_values"] == "{\"enableNetworkPolicy\":\"true\"}")
        #expect(cni.attributes["addon_version"]?.stringValue?.hasPrefix("v1.") == true)
        #expect(cni.attributes["tags"] == ["team": "eth"])
        #expect(try await helper.read(aws, "aws.eks_addon", cni.id, prior: cni.attributes)?.attributes == cni.attributes)
        // A create retried with the same token (after a crash) adopts the marked add-on.
        let again = try await helper.create(aws, "aws.eks_addon", "vpc_cni", [
            "cluster_name": .string(cluster.id), "addon_name": "vpc-cni", "configuration_values": "{\"enableNetworkPolicy\": \"true\"}",
        ], mark: mark)
        #expect(again.id == cni.id)
        #expect(try await aws.find(FindRequest(type: "aws.eks_addon", address: "vpc_cni", mark: mark,
                                               planned: ["cluster_name": .string(cluster.id), "addon_name": "vpc-cni"]))?.id == cni.id)

        let ebs = try await helper.create(aws, "aws.eks_addon", "ebs_csi", [
            "cluster_name": .string(cluster.id), "addon_name": "aws-ebs-csi-driver",
            "pod_identity_associations": [["service_account": "ebs-csi-controller-sa", "role_arn": roleArn]],
        ])
        #expect(ebs.attributes["pod_identity_associations"] == [["service_account": "ebs-csi-controller-sa", "role_arn": roleArn]])

        // In place: a new version, other settings, no more pod identity.
        let updated = try await helper.update(aws, "aws.eks_addon", ebs, [
            "addon_version": "v1.38.1-eksbuild.2", "configuration_values": "{\"controller\":{\"replicaCount\":1}}",
            "pod_identity_associations": [], "tags": ["team": "ops"],
        ])
        #expect(updated.id == ebs.id)
        #expect(updated.attributes["addon_version"] == "v1.38.1-eksbuild.2")
        #expect(updated.attributes["configuration_values"] == "{\"controller\":{\"replicaCount\":1}}")
        #expect(updated.attributes["pod_identity_associations"] == [])
        #expect(updated.attributes["tags"] == ["team": "ops"])
        #expect(updated.attributes["status"] == "ACTIVE")

        for addon in [updated, cni] {
            try await aws.delete(DeleteRequest(type: "aws.eks_addon", address: "a", id: addon.id, prior: addon.attributes))
            #expect(try await helper.read(aws, "aws.eks_addon", addon.id) == nil)
        }
        try await aws.delete(DeleteRequest(type: "aws.eks_addon", address: "a", id: cni.id, prior: cni.attributes))

        // Refusals name the call and carry EKS's message.
        do {
            _ = try await helper.create(aws, "aws.eks_addon", "bad", ["cluster_name": .string(cluster.id), "addon_name": "no-such-addon"])
            Issue.record("an unknown add-on should be refused")
        } catch let error as ProviderError {
            #expect(error.kind == .invalidInput)
            #expect(error.description == "bad: CreateAddon failed: InvalidParameterException: Addon no-such-addon specified is not supported in 1.31 kubernetes version")
        }
        do {
            _ = try await helper.create(aws, "aws.eks_addon", "bad", ["cluster_name": "no-such-cluster", "addon_name": "coredns"])
            Issue.record("an add-on of a missing cluster should be refused")
        } catch let error as ProviderError {
            #expect(error.description.contains("CreateAddon failed: ResourceNotFoundException: No cluster found for name: no-such-cluster."))
        }
        do {
            _ = try await helper.create(aws, "aws.eks_addon", "bad", ["cluster_name": .string(cluster.id), "addon_name": "coredns",
                                                                       "configuration_values": "replicaCount: 2"])
            Issue.record("configuration values that are not JSON should be refused at plan time")
        } catch let error as ProviderError {
            #expect(error.operation == "plan")
            #expect(error.message.contains("configuration_values must be a JSON object"))
        }
    }

    // MARK: - aws.eks_pod_identity_association (stand-in)

    @Test func podIdentityAssociationLifecycle() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-south-1", endpoint: try await Self.standin())
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (cluster, role) = try await cluster(aws, suffix)
        let other = try await helper.create(aws, "aws.iam_role", "other", [
            "name": .string("logs-\(suffix)"), "assume_role_policy": .string(Self.podTrust),
        ])
        let mark = testMark("fluent_bit_identity")
        let association = try await helper.create(aws, "aws.eks_pod_identity_association", "fluent_bit_identity", [
            "cluster_name": .string(cluster.id), "namespace": "logging", "service_account": "fluent-bit",
            "role_arn": role.attributes["arn"] ?? .null, "tags": ["team": "eth"],
        ], mark: mark)
        #expect(association.id.hasPrefix("\(cluster.id):a-"))
        #expect(association.attributes["namespace"] == "logging")
        #expect(association.attributes["role_arn"] == role.attributes["arn"])
        #expect(association.attributes["tags"] == ["team": "eth"])
        #expect(try await helper.read(aws, "aws.eks_pod_identity_association", association.id)?.attributes == association.attributes)
        #expect(try await aws.find(FindRequest(type: "aws.eks_pod_identity_association", address: "fluent_bit_identity", mark: mark,
                                               planned: association.attributes))?.id == association.id)

        let updated = try await helper.update(aws, "aws.eks_pod_identity_association", association, ["role_arn": other.attributes["arn"] ?? .null])
        #expect(updated.id == association.id)
        #expect(updated.attributes["role_arn"] == other.attributes["arn"])

        try await aws.delete(DeleteRequest(type: "aws.eks_pod_identity_association", address: "x", id: updated.id, prior: updated.attributes))
        #expect(try await helper.read(aws, "aws.eks_pod_identity_association", updated.id) == nil)

        do {
            _ = try await helper.create(aws, "aws.eks_pod_identity_association", "bad", [
                "cluster_name": .string(cluster.id), "namespace": "logging", "service_account": "fluent-bit", "role_arn": "fluent-bit-role",
            ])
            Issue.record("a role name instead of an ARN should be refused")
        } catch let error as ProviderError {
            #expect(error.description == "bad: CreatePodIdentityAssociation failed: InvalidParameterException: Role ARN fluent-bit-role is not a valid IAM role ARN.")
        }
    }

    // MARK: - aws.eks_access_entry (stand-in)

    @Test func accessEntryWithPoliciesLifecycle() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-central-2", endpoint: try await Self.standin())
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (cluster, role) = try await cluster(aws, suffix)
        let principal = "arn:aws:iam::123456789012:role/platform-team"
        let admin = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        let view = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"

        let entry = try await helper.create(aws, "aws.eks_access_entry", "team", [
            "cluster_name": .string(cluster.id), "principal_arn": .string(principal),
            "access_policies": [["policy_arn": .string(admin)]], "tags": ["team": "eth"],
        ])
        #expect(entry.id == "\(cluster.id):\(principal)")
        #expect(entry.attributes["type"] == "STANDARD")
        #expect(entry.attributes["access_policies"] == [["policy_arn": .string(admin), "scope": "cluster", "namespaces": []]])
        #expect(try await helper.read(aws, "aws.eks_access_entry", entry.id)?.attributes == entry.attributes)

        let updated = try await helper.update(aws, "aws.eks_access_entry", entry, [
            "kubernetes_groups": ["testnet-operators"],
            "access_policies": [["policy_arn": .string(view), "namespaces": ["kt-testnet"]]],
        ])
        #expect(updated.attributes["kubernetes_groups"] == ["testnet-operators"])
        #expect(updated.attributes["access_policies"] == [["policy_arn": .string(view), "scope": "namespace", "namespaces": ["kt-testnet"]]])

        try await aws.delete(DeleteRequest(type: "aws.eks_access_entry", address: "team", id: updated.id, prior: updated.attributes))
        #expect(try await helper.read(aws, "aws.eks_access_entry", updated.id) == nil)

        do {
            _ = try await helper.create(aws, "aws.eks_access_entry", "bad", [
                "cluster_name": .string(cluster.id), "principal_arn": .string(principal), "kubernetes_groups": ["system:masters"],
            ])
            Issue.record("a system: group should be refused")
        } catch let error as ProviderError {
            #expect(error.description == "bad: CreateAccessEntry failed: InvalidParameterException: The kubernetes group name system:masters is invalid, it cannot start with system:")
        }
        _ = role
    }
}

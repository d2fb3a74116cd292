import Foundation
import Testing
@testable import AWSProvider
import EthstackEngine
import EthstackModel
import EthstackProviderAPI

/// IAM roles, EKS clusters and node groups against moto, through the provider API.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"))
struct AWSEKSTests {
    let helper = AWSProviderTests()

    static let trust = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        """

    @Test func iamRoleWithPolicyAttachments() async throws {
        let aws = try await AWSTestServers.provider(region: "us-east-1")
        let name = "ethstack-role-\(UUID().uuidString.prefix(8))"
        let role = try await helper.create(aws, "aws.iam_role", "role", [
            "name": .string(name), "assume_role_policy": .string(Self.trust),
            "policy_arns": ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"], "tags": ["team": "eth"],
        ])
        #expect(role.id == name)
        #expect(role.attributes["arn"]?.stringValue?.hasSuffix(":role/\(name)") == true)
        #expect(role.attributes["policy_arns"] == ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"])
        #expect(role.attributes["tags"] == ["team": "eth"])
        #expect(try await helper.read(aws, "aws.iam_role", name)?.attributes == role.attributes)

        let updated = try await helper.update(aws, "aws.iam_role", role, [
            "policy_arns": ["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"],
            "description": "nodes", "tags": ["team": "ops"],
        ])
        #expect(updated.attributes["policy_arns"] == ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
                                                       "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"])
        #expect(updated.attributes["description"] == "nodes")
        #expect(updated.attributes["tags"] == ["team": "ops"])
        #expect(try await helper.read(aws, "aws.iam_role", name)?.attributes == updated.attributes)

        try await aws.delete(DeleteRequest(type: "aws.iam_role", address: "role", id: name, prior: updated.attributes))
        #expect(try await helper.read(aws, "aws.iam_role", name) == nil)
        try await aws.delete(DeleteRequest(type: "aws.iam_role", address: "role", id: name, prior: updated.attributes))
    }

    @Test func eksClusterAndNodeGroupScaling() async throws {
        let aws = try await AWSTestServers.provider(region: "ap-southeast-1")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let role = try await helper.create(aws, "aws.iam_role", "role", [
            "name": .string("eks-\(suffix)"), "assume_role_policy": .string(Self.trust),
        ])
        let vpc = try await helper.create(aws, "aws.vpc", "vpc", ["cidr_block": "10.20.0.0/16"])
        let a = try await helper.create(aws, "aws.subnet", "a", ["vpc_id": .string(vpc.id), "cidr_block": "10.20.1.0/24"])
        let b = try await helper.create(aws, "aws.subnet", "b", ["vpc_id": .string(vpc.id), "cidr_block": "10.20.2.0/24"])
        let subnets: Value = [.string(a.id), .string(b.id)]

        let clusterMark = testMark("cluster")
        let cluster = try await helper.create(aws, "aws.eks_cluster", "cluster", [
            "name": .string("testnet-\(suffix)"), "role_arn": role.attributes["arn"] ?? .null, "subnet_ids": subnets,
            "version": "1.31", "tags": ["team": "eth"],
        ], mark: clusterMark)
        #expect(cluster.id == "testnet-\(suffix)")
        #expect(cluster.attributes["status"] == "ACTIVE")
        #expect(cluster.attributes["endpoint"]?.stringValue?.isEmpty == false)
        #expect(cluster.attributes["tags"] == ["team": "eth"])
        #expect(try await helper.read(aws, "aws.eks_cluster", cluster.id)?.attributes == cluster.attributes)
        #expect(try await aws.find(FindRequest(type: "aws.eks_cluster", address: "cluster", mark: clusterMark,
                                               planned: ["name": .string(cluster.id)]))?.id == cluster.id)

        let taggedCluster = try await helper.update(aws, "aws.eks_cluster", cluster, ["tags": ["team": "ops"]])
        #expect(taggedCluster.attributes["tags"] == ["team": "ops"])

        let nodes = try await helper.create(aws, "aws.eks_node_group", "nodes", [
            "cluster_name": .string(cluster.id), "name": "workers", "node_role_arn": role.attributes["arn"] ?? .null,
            "subnet_ids": subnets, "desired_size": 2, "min_size": 1, "max_size": 3,
        ])
        #expect(nodes.id == "\(cluster.id):workers")
        #expect(nodes.attributes["desired_size"] == 2)
        #expect(try await helper.read(aws, "aws.eks_node_group", nodes.id)?.attributes == nodes.attributes)

        // Scaling is an in-place update.
        let scaled = try await helper.update(aws, "aws.eks_node_group", nodes, ["desired_size": 3, "max_size": 5])
        #expect(scaled.id == nodes.id)
        #expect(scaled.attributes["desired_size"] == 3)
        #expect(scaled.attributes["max_size"] == 5)

        // The cluster cannot go while the node group exists: retried for dependency_timeout, then reported.
        do {
            try await aws.delete(DeleteRequest(type: "aws.eks_cluster", address: "cluster", id: cluster.id, prior: cluster.attributes))
            Issue.record("deleting a cluster with a node group should fail")
        } catch let error as ProviderError {
            #expect(error.kind == .conflict)
            #expect(error.message.hasPrefix("ResourceInUseException:"))
        }

        try await aws.delete(DeleteRequest(type: "aws.eks_node_group", address: "nodes", id: nodes.id, prior: scaled.attributes))
        #expect(try await helper.read(aws, "aws.eks_node_group", nodes.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.eks_cluster", address: "cluster", id: cluster.id, prior: cluster.attributes))
        #expect(try await helper.read(aws, "aws.eks_cluster", cluster.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.iam_role", address: "role", id: role.id, prior: role.attributes))
    }

    /// Runbook 12.2: spot capacity with several instance types (EKS picks among them), read back as
    /// set, on a cluster whose Secrets are encrypted with a KMS key.
    @Test func spotNodeGroupWithSeveralInstanceTypes() async throws {
        let aws = try await AWSTestServers.provider(region: "ap-southeast-2")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let role = try await helper.create(aws, "aws.iam_role", "role", [
            "name": .string("eks-spot-\(suffix)"), "assume_role_policy": .string(Self.trust),
        ])
        let vpc = try await helper.create(aws, "aws.vpc", "vpc", ["cidr_block": "10.30.0.0/16"])
        let a = try await helper.create(aws, "aws.subnet", "a", ["vpc_id": .string(vpc.id), "cidr_block": "10.30.1.0/24"])
        // With its Secrets envelope-encrypted (lint ETH-EKS-003).
        let key = "arn:aws:kms:ap-southeast-2:123456789012:key/\(UUID().uuidString.lowercased())"
        let cluster = try await helper.create(aws, "aws.eks_cluster", "cluster", [
            "name": .string("spot-\(suffix)"), "role_arn": role.attributes["arn"] ?? .null, "subnet_ids": [.string(a.id)],
            "secrets_kms_key_arn": .string(key),
        ])
        #expect(cluster.attributes["secrets_kms_key_arn"] == .string(key))
        #expect(try await helper.read(aws, "aws.eks_cluster", cluster.id)?.attributes == cluster.attributes)
        let nodes = try await helper.create(aws, "aws.eks_node_group", "nodes", [
            "cluster_name": .string(cluster.id), "name": "spot-workers", "node_role_arn": role.attributes["arn"] ?? .null,
            "subnet_ids": [.string(a.id)], "capacity_type": "SPOT", "instance_types": ["c5.2xlarge", "c5.4xlarge", "m5.4xlarge"],
            "desired_size": 3, "min_size": 3, "max_size": 6,
        ])
        let read = try #require(try await helper.read(aws, "aws.eks_node_group", nodes.id))
        #expect(read.attributes["capacity_type"] == "SPOT")
        #expect(read.attributes["instance_types"] == ["c5.2xlarge", "c5.4xlarge", "m5.4xlarge"])
        #expect(read.attributes == nodes.attributes)
        try await aws.delete(DeleteRequest(type: "aws.eks_node_group", address: "nodes", id: nodes.id, prior: nodes.attributes))
        try await aws.delete(DeleteRequest(type: "aws.eks_cluster", address: "cluster", id: cluster.id, prior: cluster.attributes))
        try await aws.delete(DeleteRequest(type: "aws.iam_role", address: "role", id: role.id, prior: role.attributes))
    }
}

import Foundation
import Testing
@testable import AWSProvider
import EthstackEngine
import EthstackModel
import EthstackProviderAPI

/// The `aws` provider against a real moto_server, through the provider API only.
/// Each test uses its own region (moto keeps regions apart), so they run in parallel.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"))
struct AWSProviderTests {
    /// Schema defaults applied to what a user wrote, as the planner does.
    static func planned(_ type: String, _ values: [String: Value]) -> [String: Value] {
        var out = values
        for attribute in AWSProvider().resourceSchemas.first(where: { $0.type == type })?.attributes ?? [] {
            if out[attribute.name] == nil, let d = attribute.defaultValue { out[attribute.name] = d }
        }
        return out
    }

    func create(_ aws: any ConfiguredProvider, _ type: String, _ address: String, _ values: [String: Value],
                mark: ResourceMark? = nil) async throws -> ApplyResponse {
        let planned = try await aws.planChange(PlanChangeRequest(type: type, address: ResourceAddress(stringLiteral: address), prior: nil,
                                                                 proposed: Self.planned(type, values))).planned
        return try await aws.create(CreateRequest(type: type, address: ResourceAddress(stringLiteral: address), planned: planned, mark: mark ?? testMark(address)))
    }

    func read(_ aws: any ConfiguredProvider, _ type: String, _ id: String, prior: [String: Value] = [:]) async throws -> ReadResponse? {
        try await aws.read(ReadRequest(type: type, address: "x", id: id, prior: prior))
    }

    func update(_ aws: any ConfiguredProvider, _ type: String, _ created: ApplyResponse, _ changes: [String: Value]) async throws -> ApplyResponse {
        var planned = created.attributes
        planned.merge(changes) { _, new in new }
        planned = try await aws.planChange(PlanChangeRequest(type: type, address: "x", prior: created.attributes, proposed: planned)).planned
        return try await aws.update(UpdateRequest(type: type, address: "x", id: created.id, prior: created.attributes,
                                                  planned: planned, mark: testMark("x")))
    }

    @Test func vpcLifecycle() async throws {
        let aws = try await AWSTestServers.provider(region: "us-west-1")
        let started = Date()
        let vpc = try await create(aws, "aws.vpc", "vpc", ["cidr_block": "10.1.0.0/16", "tags": ["Name": "testnet"]])
        #expect(vpc.id.hasPrefix("vpc-"))
        #expect(vpc.attributes["cidr_block"] == "10.1.0.0/16")
        #expect(vpc.attributes["enable_dns_support"] == true)
        #expect(vpc.attributes["enable_dns_hostnames"] == false)
        #expect(vpc.attributes["tags"] == ["Name": "testnet"])
        #expect(vpc.attributes["arn"]?.stringValue?.hasPrefix("arn:aws:ec2:us-west-1:") == true)

        let read1 = try await read(aws, "aws.vpc", vpc.id)
        #expect(read1?.attributes == vpc.attributes)

        let updated = try await update(aws, "aws.vpc", vpc, ["enable_dns_hostnames": true, "tags": ["Name": "renamed", "team": "eth"]])
        #expect(updated.id == vpc.id)
        #expect(updated.attributes["enable_dns_hostnames"] == true)
        #expect(updated.attributes["tags"] == ["Name": "renamed", "team": "eth"])
        let read2 = try await read(aws, "aws.vpc", vpc.id)
        #expect(read2?.attributes == updated.attributes)

        try await aws.delete(DeleteRequest(type: "aws.vpc", address: "vpc", id: vpc.id, prior: updated.attributes))
        #expect(try await read(aws, "aws.vpc", vpc.id) == nil)
        // Deleting again is not an error.
        try await aws.delete(DeleteRequest(type: "aws.vpc", address: "vpc", id: vpc.id, prior: updated.attributes))
        print("aws.vpc create-read-update-read-delete-read cycle against moto: \(Int(Date().timeIntervalSince(started) * 1000)) ms")
    }

    @Test func vpcIsMarkedAndCreatingTwiceWithOneTokenMakesOne() async throws {
        let aws = try await AWSTestServers.provider(region: "us-west-2")
        let mark = testMark("vpc")
        let first = try await create(aws, "aws.vpc", "vpc", ["cidr_block": "10.2.0.0/16"], mark: mark)
        // A retried create (the engine crashed after the call) with the same token finds the first VPC.
        let second = try await create(aws, "aws.vpc", "vpc", ["cidr_block": "10.2.0.0/16"], mark: mark)
        #expect(second.id == first.id)

        let found = try await aws.find(FindRequest(type: "aws.vpc", address: "vpc", mark: mark, planned: [:]))
        #expect(found?.id == first.id)
        let other = try await aws.find(FindRequest(type: "aws.vpc", address: "vpc", mark: testMark("vpc"), planned: [:]))
        #expect(other == nil)

        // The marks are on the object (but not in the user's `tags`).
        let client = try rawClient(aws)
        let xml = try await client.query("ec2", "DescribeVpcs", [("VpcId.1", first.id)])
        let tags = xml.items("vpcSet").first.map(EC2.tags(of:)) ?? [:]
        #expect(tags["ethstack:stack"] == "aws-test")
        #expect(tags["ethstack:address"] == "vpc")
        #expect(tags["ethstack:token"] == mark.token)
        #expect(first.attributes["tags"] == [:])
    }

    @Test func importByID() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-west-2")
        let vpc = try await create(aws, "aws.vpc", "vpc", ["cidr_block": "10.3.0.0/16"])
        let imported = try await aws.importResource(ImportRequest(type: "aws.vpc", address: "adopted", id: vpc.id))
        #expect(imported?.attributes == vpc.attributes)
        #expect(try await aws.importResource(ImportRequest(type: "aws.vpc", address: "adopted", id: "vpc-0000000000000000f")) == nil)
    }

    @Test func invalidCIDRCarriesTheAPIsCodeAndMessage() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-west-3")
        do {
            _ = try await create(aws, "aws.vpc", "bad_vpc", ["cidr_block": "10.0.0.0/33"])
            Issue.record("creating a VPC with an invalid CIDR should fail")
        } catch let error as ProviderError {
            #expect(error.address == "bad_vpc")
            #expect(error.operation == "CreateVpc")
            #expect(error.kind == .invalidInput)
            #expect(error.message.hasPrefix("InvalidVpc.Range:") || error.message.hasPrefix("InvalidParameterValue:"))
            #expect(!error.retryable)
            #expect(!error.description.contains("testing-secret"))
        }
    }

    @Test func subnetAndInternetGateway() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-central-1")
        let vpc = try await create(aws, "aws.vpc", "vpc", ["cidr_block": "10.4.0.0/16"])
        let vpcID = Value.string(vpc.id)
        let subnet = try await create(aws, "aws.subnet", "subnet", ["vpc_id": vpcID, "cidr_block": "10.4.1.0/24",
                                                                    "availability_zone": "eu-central-1a"])
        #expect(subnet.attributes["availability_zone"] == "eu-central-1a")
        #expect(subnet.attributes["map_public_ip_on_launch"] == false)
        let subnet2 = try await update(aws, "aws.subnet", subnet, ["map_public_ip_on_launch": true])
        #expect(subnet2.attributes["map_public_ip_on_launch"] == true)
        #expect(try await read(aws, "aws.subnet", subnet.id)?.attributes == subnet2.attributes)

        // An overlapping subnet: the API's code comes through.
        await #expect(throws: ProviderError.self) {
            _ = try await create(aws, "aws.subnet", "overlap", ["vpc_id": vpcID, "cidr_block": "10.4.1.0/25"])
        }

        let igw = try await create(aws, "aws.internet_gateway", "igw", ["vpc_id": vpcID])
        #expect(igw.attributes["vpc_id"] == vpcID)
        let other = try await create(aws, "aws.vpc", "vpc2", ["cidr_block": "10.5.0.0/16"])
        let moved = try await update(aws, "aws.internet_gateway", igw, ["vpc_id": .string(other.id)])
        #expect(moved.attributes["vpc_id"] == .string(other.id))

        // DeleteVpc answers DependencyViolation while the subnet exists: retried, then reported.
        do {
            try await aws.delete(DeleteRequest(type: "aws.vpc", address: "vpc", id: vpc.id, prior: vpc.attributes))
            Issue.record("DeleteVpc should fail while a subnet exists")
        } catch let error as ProviderError {
            #expect(error.kind == .conflict)
            #expect(error.message.hasPrefix("DependencyViolation:"))
        }

        try await aws.delete(DeleteRequest(type: "aws.internet_gateway", address: "igw", id: igw.id, prior: moved.attributes))
        #expect(try await read(aws, "aws.internet_gateway", igw.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.subnet", address: "subnet", id: subnet.id, prior: subnet2.attributes))
        #expect(try await read(aws, "aws.subnet", subnet.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.vpc", address: "vpc", id: vpc.id, prior: vpc.attributes))
        try await aws.delete(DeleteRequest(type: "aws.vpc", address: "vpc2", id: other.id, prior: other.attributes))
    }

    @Test func securityGroupRulesChangeInPlace() async throws {
        let aws = try await AWSTestServers.provider(region: "ap-south-1")
        let vpc = try await create(aws, "aws.vpc", "vpc", ["cidr_block": "10.6.0.0/16"])
        let rpc: Value = ["protocol": "tcp", "from_port": 8545, "to_port": 8545, "cidr_blocks": ["10.0.0.0/8", "192.168.0.0/16"],
                          "description": "rpc"]
        let ssh: Value = ["protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"]]
        let sg = try await create(aws, "aws.security_group", "sg", ["name": "nodes", "vpc_id": .string(vpc.id), "ingress": [rpc, ssh]])
        #expect(sg.id.hasPrefix("sg-"))
        let ingress = sg.attributes["ingress"]?.listValue ?? []
        #expect(ingress.count == 2)
        #expect(sg.attributes["egress"] == SecurityGroupResource.allowAllEgress)
        #expect(try await read(aws, "aws.security_group", sg.id)?.attributes == sg.attributes)

        // Drop ssh, add p2p: the group stays, its rules change.
        let p2p: Value = ["protocol": "udp", "from_port": 30303, "to_port": 30303, "cidr_blocks": ["0.0.0.0/0"]]
        let updated = try await update(aws, "aws.security_group", sg, ["ingress": [rpc, p2p], "egress": []])
        #expect(updated.id == sg.id)
        let ports = Set((updated.attributes["ingress"]?.listValue ?? []).compactMap { $0["from_port"]?.intValue })
        #expect(ports == [8545, 30303])
        #expect(updated.attributes["egress"] == .list([]))
        #expect(try await read(aws, "aws.security_group", sg.id)?.attributes == updated.attributes)

        try await aws.delete(DeleteRequest(type: "aws.security_group", address: "sg", id: sg.id, prior: updated.attributes))
        #expect(try await read(aws, "aws.security_group", sg.id) == nil)
    }

    @Test func s3BucketLifecycle() async throws {
        let aws = try await AWSTestServers.provider(region: "eu-north-1")
        let name = "ethstack-test-\(UUID().uuidString.lowercased().prefix(8))"
        let mark = testMark("bucket")
        let bucket = try await create(aws, "aws.s3_bucket", "bucket", ["bucket": .string(name), "tags": ["team": "eth"]], mark: mark)
        #expect(bucket.id == name)
        #expect(bucket.attributes["versioning"] == false)
        #expect(bucket.attributes["sse_algorithm"] == "AES256")
        #expect(bucket.attributes["block_public_access"] == true)
        #expect(bucket.attributes["tags"] == ["team": "eth"])
        #expect(try await read(aws, "aws.s3_bucket", name)?.attributes == bucket.attributes)
        #expect(try await aws.find(FindRequest(type: "aws.s3_bucket", address: "bucket", mark: mark, planned: ["bucket": .string(name)]))?.id == name)

        let updated = try await update(aws, "aws.s3_bucket", bucket, ["versioning": true, "block_public_access": false,
                                                                      "tags": ["team": "ops"], "force_destroy": true])
        #expect(updated.attributes["versioning"] == true)
        #expect(updated.attributes["block_public_access"] == false)
        #expect(updated.attributes["tags"] == ["team": "ops"])
        #expect(try await read(aws, "aws.s3_bucket", name, prior: updated.attributes)?.attributes == updated.attributes)

        // force_destroy empties the bucket (all versions) before deleting it.
        let client = try rawClient(aws)
        _ = try await client.send(service: "s3", operation: "PutObject", method: "PUT", path: "/\(name)/genesis.json", body: Data("{}".utf8))
        _ = try await client.send(service: "s3", operation: "PutObject", method: "PUT", path: "/\(name)/genesis.json", body: Data("{1}".utf8))
        try await aws.delete(DeleteRequest(type: "aws.s3_bucket", address: "bucket", id: name, prior: updated.attributes))
        #expect(try await read(aws, "aws.s3_bucket", name) == nil)
        try await aws.delete(DeleteRequest(type: "aws.s3_bucket", address: "bucket", id: name, prior: updated.attributes))
    }

    /// The client under a configured provider, to look at what the provider did behind its API.
    func rawClient(_ aws: any ConfiguredProvider) throws -> AWSClient {
        guard let configured = aws as? ConfiguredAWS else { throw TestServerError.notReady("not the aws provider") }
        return configured.context.client
    }
}

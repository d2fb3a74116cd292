import Foundation
import Testing
@testable import AWSProvider
import EthstackEngine
import EthstackModel
import EthstackProviderAPI

/// EIP, NAT gateway and route tables against moto.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"))
struct AWSRoutingTests {
    let helper = AWSProviderTests()

    @Test func natGatewayAndRouteTable() async throws {
        let aws = try await AWSTestServers.provider(region: "ap-southeast-2")
        let vpc = try await helper.create(aws, "aws.vpc", "vpc", ["cidr_block": "10.30.0.0/16"])
        let vpcID = Value.string(vpc.id)
        let publicSubnet = try await helper.create(aws, "aws.subnet", "public", ["vpc_id": vpcID, "cidr_block": "10.30.1.0/24"])
        let privateSubnet = try await helper.create(aws, "aws.subnet", "private", ["vpc_id": vpcID, "cidr_block": "10.30.2.0/24"])
        let igw = try await helper.create(aws, "aws.internet_gateway", "igw", ["vpc_id": vpcID])

        let eip = try await helper.create(aws, "aws.eip", "nat_ip", ["tags": ["Name": "nat"]])
        #expect(eip.id.hasPrefix("eipalloc-"))
        #expect(eip.attributes["public_ip"]?.stringValue?.isEmpty == false)
        #expect(try await helper.read(aws, "aws.eip", eip.id)?.attributes == eip.attributes)

        let nat = try await helper.create(aws, "aws.nat_gateway", "nat", ["subnet_id": .string(publicSubnet.id), "allocation_id": .string(eip.id)])
        #expect(nat.id.hasPrefix("nat-"))
        #expect(nat.attributes["state"] == "available")
        #expect(nat.attributes["vpc_id"] == vpcID)
        #expect(try await helper.read(aws, "aws.nat_gateway", nat.id)?.attributes == nat.attributes)

        let table = try await helper.create(aws, "aws.route_table", "public_rt", [
            "vpc_id": vpcID, "routes": [["cidr_block": "0.0.0.0/0", "gateway_id": .string(igw.id)]],
            "subnet_ids": [.string(publicSubnet.id)],
        ])
        #expect(table.attributes["routes"] == [["cidr_block": "0.0.0.0/0", "gateway_id": .string(igw.id), "nat_gateway_id": ""]])
        #expect(table.attributes["subnet_ids"] == [.string(publicSubnet.id)])
        #expect(try await helper.read(aws, "aws.route_table", table.id)?.attributes == table.attributes)

        // Route through the NAT instead, and move the association: in place.
        let updated = try await helper.update(aws, "aws.route_table", table, [
            "routes": [["cidr_block": "0.0.0.0/0", "nat_gateway_id": .string(nat.id)], ["cidr_block": "192.168.0.0/16", "gateway_id": .string(igw.id)]],
            "subnet_ids": [.string(privateSubnet.id)],
        ])
        #expect(updated.id == table.id)
        #expect(updated.attributes["routes"] == [["cidr_block": "0.0.0.0/0", "gateway_id": "", "nat_gateway_id": .string(nat.id)],
                                                  ["cidr_block": "192.168.0.0/16", "gateway_id": .string(igw.id), "nat_gateway_id": ""]])
        #expect(updated.attributes["subnet_ids"] == [.string(privateSubnet.id)])

        try await aws.delete(DeleteRequest(type: "aws.route_table", address: "public_rt", id: table.id, prior: updated.attributes))
        #expect(try await helper.read(aws, "aws.route_table", table.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.nat_gateway", address: "nat", id: nat.id, prior: nat.attributes))
        #expect(try await helper.read(aws, "aws.nat_gateway", nat.id) == nil)
        try await aws.delete(DeleteRequest(type: "aws.eip", address: "nat_ip", id: eip.id, prior: eip.attributes))
        #expect(try await helper.read(aws, "aws.eip", eip.id) == nil)
    }
}

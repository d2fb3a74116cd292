import Foundation
import EthstackModel
import EthstackProviderAPI

/// `aws.vpc`. CreateVpc has no ClientToken: idempotency comes from the mark (a create first looks
/// for a VPC carrying its token).
struct VPCResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.vpc", description: "A VPC.", attributes: [
        AttributeSchema("cidr_block", .string, .required, forcesReplacement: true, description: "IPv4 CIDR block, e.g. 10.0.0.0/16."),
        AttributeSchema("instance_tenancy", .string, .optional(default: "default"), forcesReplacement: true),
        AttributeSchema("enable_dns_support", .bool, .optional(default: true)),
        AttributeSchema("enable_dns_hostnames", .bool, .optional(default: false)),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("owner_id", .string, .computed),
    ])

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let vpc = try await EC2.describeOne("DescribeVpcs", idParameter: "VpcId.1", id: id, set: "vpcSet", ctx) else { return nil }
        async let dnsSupport = attribute(id, "enableDnsSupport", ctx)
        async let dnsHostnames = attribute(id, "enableDnsHostnames", ctx)
        let owner = vpc.string("ownerId") ?? ""
        return [
            "id": .string(id),
            "cidr_block": .string(vpc.string("cidrBlock") ?? ""),
            "instance_tenancy": .string(vpc.string("instanceTenancy") ?? "default"),
            "enable_dns_support": .bool(try await dnsSupport),
            "enable_dns_hostnames": .bool(try await dnsHostnames),
            "tags": EC2.userTagsValue(EC2.tags(of: vpc)),
            "arn": .string(EC2.arn(ctx, owner: owner, "vpc/\(id)")),
            "owner_id": .string(owner),
        ]
    }

    private func attribute(_ id: String, _ name: String, _ ctx: AWSContext) async throws -> Bool {
        let xml = try await ctx.client.query("ec2", "DescribeVpcAttribute", [("VpcId", id), ("Attribute", name)])
        return xml.string(name, "value") == "true"
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let id: String
        if let existing = try await find(mark: mark, planned: planned, ctx) {
            id = existing
        } else {
            var params = [("CidrBlock", planned.string("cidr_block") ?? "")]
            if let tenancy = planned.string("instance_tenancy") { params.append(("InstanceTenancy", tenancy)) }
            params += EC2.tagSpecification("vpc", planned, mark)
            let xml = try await ctx.client.query("ec2", "CreateVpc", params)
            guard let created = xml.string("vpc", "vpcId") else {
                throw AWSAPIError(service: "ec2", operation: "CreateVpc", status: 200, code: "MalformedResponse", message: "no vpcId in the answer")
            }
            id = created
        }
        return try await afterCreating(id) {
            try await setDNS(id, support: planned.bool("enable_dns_support") ?? true, hostnames: planned.bool("enable_dns_hostnames") ?? false,
                             priorSupport: true, priorHostnames: false, ctx)
            return id
        }
    }

    private func setDNS(_ id: String, support: Bool, hostnames: Bool, priorSupport: Bool, priorHostnames: Bool,
                        _ ctx: AWSContext) async throws {
        // One attribute per call, as the API demands; support before hostnames (hostnames need support).
        if support != priorSupport {
            _ = try await ctx.client.query("ec2", "ModifyVpcAttribute", [("VpcId", id), ("EnableDnsSupport.Value", String(support))])
        }
        if hostnames != priorHostnames {
            _ = try await ctx.client.query("ec2", "ModifyVpcAttribute", [("VpcId", id), ("EnableDnsHostnames.Value", String(hostnames))])
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        try await setDNS(id, support: planned.bool("enable_dns_support") ?? true, hostnames: planned.bool("enable_dns_hostnames") ?? false,
                         priorSupport: prior.bool("enable_dns_support") ?? true, priorHostnames: prior.bool("enable_dns_hostnames") ?? false, ctx)
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        // AWS refuses to delete a VPC with an internet gateway attached. When the VPC is replaced, the
        // gateway is moved to the new VPC in place, which can only happen after the new VPC exists,
        // i.e. after this delete: detach it here, the later update attaches it to the new VPC.
        let gateways = try await ctx.client.query("ec2", "DescribeInternetGateways", [("Filter.1.Name", "attachment.vpc-id"), ("Filter.1.Value.1", id)])
        for gateway in gateways.items("internetGatewaySet") {
            guard let gatewayID = gateway.string("internetGatewayId"),
                  gateway.items("attachmentSet").contains(where: { $0.string("vpcId") == id }) else { continue }
            progress("detaching internet gateway \(gatewayID)")
            do {
                _ = try await ctx.client.query("ec2", "DetachInternetGateway", [("InternetGatewayId", gatewayID), ("VpcId", id)])
            } catch let error as AWSAPIError where error.isNotFound || error.code == "Gateway.NotAttached" {}
        }
        try await EC2.deleteTolerating("DeleteVpc", [("VpcId", id)], ctx, progress: progress)
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        try await EC2.findByMark("DescribeVpcs", set: "vpcSet", idField: "vpcId", mark, ctx)
    }
}

/// `aws.subnet`.
struct SubnetResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.subnet", description: "A subnet of a VPC.", attributes: [
        AttributeSchema("vpc_id", .string, .required, forcesReplacement: true),
        AttributeSchema("cidr_block", .string, .required, forcesReplacement: true),
        AttributeSchema("availability_zone", .string, .optionalComputed, forcesReplacement: true),
        AttributeSchema("map_public_ip_on_launch", .bool, .optional(default: false)),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("availability_zone_id", .string, .computed),
        AttributeSchema("owner_id", .string, .computed),
    ])

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let s = try await EC2.describeOne("DescribeSubnets", idParameter: "SubnetId.1", id: id, set: "subnetSet", ctx) else { return nil }
        let owner = s.string("ownerId") ?? ""
        return [
            "id": .string(id),
            "vpc_id": .string(s.string("vpcId") ?? ""),
            "cidr_block": .string(s.string("cidrBlock") ?? ""),
            "availability_zone": .string(s.string("availabilityZone") ?? ""),
            "availability_zone_id": .string(s.string("availabilityZoneId") ?? ""),
            "map_public_ip_on_launch": .bool(s.string("mapPublicIpOnLaunch") == "true"),
            "tags": EC2.userTagsValue(EC2.tags(of: s)),
            "arn": .string(s.string("subnetArn") ?? EC2.arn(ctx, owner: owner, "subnet/\(id)")),
            "owner_id": .string(owner),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        if let existing = try await find(mark: mark, planned: planned, ctx) { return existing }
        var params = [("VpcId", planned.string("vpc_id") ?? ""), ("CidrBlock", planned.string("cidr_block") ?? "")]
        if let az = planned.string("availability_zone"), !az.isEmpty { params.append(("AvailabilityZone", az)) }
        params += EC2.tagSpecification("subnet", planned, mark)
        let xml = try await ctx.client.query("ec2", "CreateSubnet", params)
        guard let id = xml.string("subnet", "subnetId") else {
            throw AWSAPIError(service: "ec2", operation: "CreateSubnet", status: 200, code: "MalformedResponse", message: "no subnetId in the answer")
        }
        return try await afterCreating(id) {
            if planned.bool("map_public_ip_on_launch") == true {
                _ = try await ctx.client.query("ec2", "ModifySubnetAttribute", [("SubnetId", id), ("MapPublicIpOnLaunch.Value", "true")])
            }
            return id
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        let want = planned.bool("map_public_ip_on_launch") ?? false
        if want != (prior.bool("map_public_ip_on_launch") ?? false) {
            _ = try await ctx.client.query("ec2", "ModifySubnetAttribute", [("SubnetId", id), ("MapPublicIpOnLaunch.Value", String(want))])
        }
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        try await EC2.deleteTolerating("DeleteSubnet", [("SubnetId", id)], ctx, progress: progress)
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        try await EC2.findByMark("DescribeSubnets", set: "subnetSet", idField: "subnetId", mark, ctx)
    }
}

/// `aws.internet_gateway`, attached to `vpc_id` when set; moving it to another VPC is in place.
struct InternetGatewayResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.internet_gateway", description: "An internet gateway, attached to a VPC.", attributes: [
        AttributeSchema("vpc_id", .string, .optional(default: nil), description: "The VPC to attach it to."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("owner_id", .string, .computed),
    ])

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let igw = try await EC2.describeOne("DescribeInternetGateways", idParameter: "InternetGatewayId.1", id: id,
                                                  set: "internetGatewaySet", ctx) else { return nil }
        let owner = igw.string("ownerId") ?? ""
        let vpc = igw.items("attachmentSet").first?.string("vpcId")
        return [
            "id": .string(id),
            "vpc_id": vpc.map(Value.string) ?? .null,
            "tags": EC2.userTagsValue(EC2.tags(of: igw)),
            "arn": .string(EC2.arn(ctx, owner: owner, "internet-gateway/\(id)")),
            "owner_id": .string(owner),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let id: String
        if let existing = try await find(mark: mark, planned: planned, ctx) {
            id = existing
        } else {
            let xml = try await ctx.client.query("ec2", "CreateInternetGateway", EC2.tagSpecification("internet-gateway", planned, mark))
            guard let created = xml.string("internetGateway", "internetGatewayId") else {
                throw AWSAPIError(service: "ec2", operation: "CreateInternetGateway", status: 200, code: "MalformedResponse",
                                  message: "no internetGatewayId in the answer")
            }
            id = created
        }
        return try await afterCreating(id) {
            if let vpc = planned.string("vpc_id"), !vpc.isEmpty {
                let current = try await read(id: id, prior: [:], ctx)?.string("vpc_id")
                if current != vpc { try await attach(id, vpc, ctx) }
            }
            return id
        }
    }

    private func attach(_ id: String, _ vpc: String, _ ctx: AWSContext) async throws {
        _ = try await ctx.client.query("ec2", "AttachInternetGateway", [("InternetGatewayId", id), ("VpcId", vpc)])
    }

    private func detach(_ id: String, _ vpc: String, _ ctx: AWSContext, progress: ProgressReporter) async throws {
        // Detaching fails with DependencyViolation while the VPC still has public addresses mapped.
        try await retryingDependencyViolation(ctx, progress: progress) {
            do {
                _ = try await ctx.client.query("ec2", "DetachInternetGateway", [("InternetGatewayId", id), ("VpcId", vpc)])
            } catch let error as AWSAPIError where error.isNotFound || error.code == "Gateway.NotAttached" {
                return
            }
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        let old = prior.string("vpc_id").flatMap { $0.isEmpty ? nil : $0 }
        let new = planned.string("vpc_id").flatMap { $0.isEmpty ? nil : $0 }
        if old != new {
            if let old { try await detach(id, old, ctx, progress: progress) }
            if let new { try await attach(id, new, ctx) }
        }
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        // Detach from whatever VPC it is attached to now, not only the one state knows.
        if let live = try await read(id: id, prior: [:], ctx), let vpc = live.string("vpc_id") {
            try await detach(id, vpc, ctx, progress: progress)
        }
        try await EC2.deleteTolerating("DeleteInternetGateway", [("InternetGatewayId", id)], ctx, progress: progress)
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        try await EC2.findByMark("DescribeInternetGateways", set: "internetGatewaySet", idField: "internetGatewayId", mark, ctx)
    }
}

import Foundation
import EthstackModel
import EthstackProviderAPI

/// `aws.eip`: an Elastic IP in the VPC domain. AllocateAddress has no ClientToken: a create first
/// looks for an address carrying its mark.
struct EIPResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.eip", description: "An Elastic IP address.", attributes: [
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed, description: "The allocation id."),
        AttributeSchema("public_ip", .string, .computed),
        AttributeSchema("arn", .string, .computed),
    ])

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let a = try await EC2.describeOne("DescribeAddresses", idParameter: "AllocationId.1", id: id, set: "addressesSet", ctx) else {
            return nil
        }
        return [
            "id": .string(id),
            "public_ip": .string(a.string("publicIp") ?? ""),
            "tags": EC2.userTagsValue(EC2.tags(of: a)),
            "arn": .string("arn:aws:ec2:\(ctx.region)::elastic-ip/\(id)"),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        if let existing = try await find(mark: mark, planned: planned, ctx) { return existing }
        let xml = try await ctx.client.query("ec2", "AllocateAddress", [("Domain", "vpc")] + EC2.tagSpecification("elastic-ip", planned, mark))
        guard let id = xml.string("allocationId") else {
            throw AWSAPIError(service: "ec2", operation: "AllocateAddress", status: 200, code: "MalformedResponse", message: "no allocationId in the answer")
        }
        return id
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        // Released only once the NAT gateway using it is gone: retried while AWS says it is in use.
        try await retryingDependencyViolation(ctx, codes: ["DependencyViolation", "InvalidIPAddress.InUse", "AuthFailure"], progress: progress) {
            do {
                _ = try await ctx.client.query("ec2", "ReleaseAddress", [("AllocationId", id)])
            } catch let error as AWSAPIError where error.isNotFound {}
        }
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        try await EC2.findByMark("DescribeAddresses", set: "addressesSet", idField: "allocationId", mark, ctx)
    }
}

/// `aws.nat_gateway`: public NAT in a subnet with an Elastic IP. Create carries ClientToken and
/// waits for `available`; delete waits for `deleted`.
struct NATGatewayResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.nat_gateway", description: "A public NAT gateway.", attributes: [
        AttributeSchema("subnet_id", .string, .required, forcesReplacement: true),
        AttributeSchema("allocation_id", .string, .required, forcesReplacement: true),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
        AttributeSchema("vpc_id", .string, .computed),
        AttributeSchema("public_ip", .string, .computed),
        AttributeSchema("state", .string, .computed),
    ])

    func describe(_ id: String, _ ctx: AWSContext) async throws -> XMLTree? {
        let item = try await EC2.describeOne("DescribeNatGateways", idParameter: "NatGatewayId.1", id: id, set: "natGatewaySet", ctx)
        // A deleted NAT gateway stays visible for a while in state `deleted`: that is gone.
        if item?.string("state") == "deleted" { return nil }
        return item
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let n = try await describe(id, ctx) else { return nil }
        let address = n.items("natGatewayAddressSet").first
        return [
            "id": .string(id),
            "subnet_id": .string(n.string("subnetId") ?? ""),
            "allocation_id": .string(address?.string("allocationId") ?? ""),
            "vpc_id": .string(n.string("vpcId") ?? ""),
            "public_ip": .string(address?.string("publicIp") ?? ""),
            "state": .string(n.string("state") ?? ""),
            "tags": EC2.userTagsValue(EC2.tags(of: n)),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let params = [("SubnetId", planned.string("subnet_id") ?? ""), ("AllocationId", planned.string("allocation_id") ?? ""),
                      ("ClientToken", EC2.clientToken(mark))] + EC2.tagSpecification("natgateway", planned, mark)
        let xml = try await ctx.client.query("ec2", "CreateNatGateway", params)
        guard let id = xml.string("natGateway", "natGatewayId") else {
            throw AWSAPIError(service: "ec2", operation: "CreateNatGateway", status: 200, code: "MalformedResponse", message: "no natGatewayId in the answer")
        }
        return try await afterCreating(id) {
            _ = try await waitUntil("NAT gateway \(id) to be available", timeout: ctx.waitTimeout, operation: "CreateNatGateway",
                                    progress: progress, initialDelay: 1) { () -> Bool? in
                let state = try await describe(id, ctx)?.string("state")
                switch state {
                case "available": return true
                case "failed", nil:
                    throw AWSAPIError(service: "ec2", operation: "CreateNatGateway", status: 200, code: "NatGatewayFailed",
                                      message: "NAT gateway \(id) is \(state ?? "gone")")
                default: return nil
                }
            }
            return id
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        // The addresses and their network interfaces, to check afterwards that the Elastic IPs were let go.
        let addresses = (try await describe(id, ctx))?.items("natGatewayAddressSet").compactMap { a -> (String, String)? in
            guard let allocation = a.string("allocationId"), let eni = a.string("networkInterfaceId") else { return nil }
            return (allocation, eni)
        } ?? []
        do {
            _ = try await ctx.client.query("ec2", "DeleteNatGateway", [("NatGatewayId", id)])
        } catch let error as AWSAPIError where error.isNotFound {
            return
        }
        _ = try await waitUntil("NAT gateway \(id) to be deleted", timeout: ctx.waitTimeout, operation: "DeleteNatGateway",
                                progress: progress, initialDelay: 1) { () -> Bool? in
            try await describe(id, ctx) == nil ? true : nil
        }
        for (allocation, eni) in addresses { try await releaseAssociation(allocation, eni: eni, ctx, progress: progress) }
    }

    /// A deleted NAT gateway lets go of its Elastic IP; until it has, the address cannot be given to
    /// a new NAT gateway (`Resource.AlreadyAssociated`, e.g. when the gateway is replaced). AWS does
    /// it on its own, sometimes late; moto never does. Disassociates an association still pointing at
    /// the deleted gateway's network interface. Best effort: the gateway is gone either way.
    private func releaseAssociation(_ allocation: String, eni: String, _ ctx: AWSContext, progress: ProgressReporter) async throws {
        guard let address = try await EC2.describeOne("DescribeAddresses", idParameter: "AllocationId.1", id: allocation,
                                                      set: "addressesSet", ctx),
              address.string("networkInterfaceId") == eni, let association = address.string("associationId"), !association.isEmpty
        else { return }
        do {
            _ = try await ctx.client.query("ec2", "DisassociateAddress", [("AssociationId", association)])
        } catch let error as AWSAPIError {
            if !(error.isNotFound || error.code == "InvalidAssociationID.NotFound") {
                progress("could not let go of Elastic IP \(allocation): \(error.code)")
            }
        }
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        let xml = try await ctx.client.query("ec2", "DescribeNatGateways", EC2.markFilters(mark))
        return xml.items("natGatewaySet").first {
            $0.string("state") != "deleted" && $0.string("state") != "deleting" && MarkTags.matches(EC2.tags(of: $0), mark)
        }?.string("natGatewayId")
    }
}

/// `aws.route_table` with its routes (`routes`, a set of `{cidr_block, gateway_id | nat_gateway_id}`)
/// and subnet associations (`subnet_ids`), both changed in place.
struct RouteTableResource: AWSResourceType {
    let schema = ResourceSchema(type: "aws.route_table", description: "A route table, its routes and subnet associations.", attributes: [
        AttributeSchema("vpc_id", .string, .required, forcesReplacement: true),
        AttributeSchema("routes", .list(.any), .optional(default: .list([])), description: "Set of {cidr_block, gateway_id or nat_gateway_id}."),
        AttributeSchema("subnet_ids", .list(.string), .optional(default: .list([])), description: "Subnets associated with the table."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
    ])

    struct Route: Hashable, Comparable {
        var cidr: String
        var gateway: String
        var nat: String
        static func < (a: Route, b: Route) -> Bool { (a.cidr, a.gateway, a.nat) < (b.cidr, b.gateway, b.nat) }
        var value: Value { ["cidr_block": .string(cidr), "gateway_id": .string(gateway), "nat_gateway_id": .string(nat)] }
    }

    static func routes(_ value: Value?) -> [Route] {
        Set((value?.listValue ?? []).compactMap { r -> Route? in
            guard let m = r.mapValue, let cidr = m.string("cidr_block") else { return nil }
            return Route(cidr: cidr, gateway: m.string("gateway_id") ?? "", nat: m.string("nat_gateway_id") ?? "")
        }).sorted()
    }

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        if let v = proposed["routes"], !v.containsUnknown { planned["routes"] = .list(Self.routes(v).map(\.value)) }
        if let v = proposed["subnet_ids"], !v.containsUnknown { planned["subnet_ids"] = EKS.sortedStrings(v) }
        return planned
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let t = try await EC2.describeOne("DescribeRouteTables", idParameter: "RouteTableId.1", id: id, set: "routeTableSet", ctx) else {
            return nil
        }
        let routes = t.items("routeSet").compactMap { r -> Route? in
            guard let cidr = r.string("destinationCidrBlock"), r.string("gatewayId") != "local" else { return nil }
            return Route(cidr: cidr, gateway: r.string("gatewayId") ?? "", nat: r.string("natGatewayId") ?? "")
        }.sorted()
        let subnets = associations(t).keys.sorted()
        return [
            "id": .string(id),
            "vpc_id": .string(t.string("vpcId") ?? ""),
            "routes": .list(routes.map(\.value)),
            "subnet_ids": .list(subnets.map(Value.string)),
            "tags": EC2.userTagsValue(EC2.tags(of: t)),
        ]
    }

    /// Subnet id → association id, for the explicit (non-main) associations.
    private func associations(_ table: XMLTree) -> [String: String] {
        var out: [String: String] = [:]
        for a in table.items("associationSet") where a.string("main") != "true" {
            if let subnet = a.string("subnetId"), let assoc = a.string("routeTableAssociationId") { out[subnet] = assoc }
        }
        return out
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let params = [("VpcId", planned.string("vpc_id") ?? ""), ("ClientToken", EC2.clientToken(mark))]
            + EC2.tagSpecification("route-table", planned, mark)
        let xml = try await ctx.client.query("ec2", "CreateRouteTable", params)
        guard let id = xml.string("routeTable", "routeTableId") else {
            throw AWSAPIError(service: "ec2", operation: "CreateRouteTable", status: 200, code: "MalformedResponse", message: "no routeTableId in the answer")
        }
        return try await afterCreating(id) {
            try await sync(id, planned: planned, ctx)
            return id
        }
    }

    private func sync(_ id: String, planned: [String: Value], _ ctx: AWSContext) async throws {
        guard let live = try await EC2.describeOne("DescribeRouteTables", idParameter: "RouteTableId.1", id: id, set: "routeTableSet", ctx),
              let current = try await read(id: id, prior: [:], ctx) else { return }
        let have = Self.routes(current["routes"])
        let want = Self.routes(planned["routes"])
        let wantByCIDR = Dictionary(want.map { ($0.cidr, $0) }, uniquingKeysWith: { a, _ in a })
        let haveByCIDR = Dictionary(have.map { ($0.cidr, $0) }, uniquingKeysWith: { a, _ in a })
        for route in have where wantByCIDR[route.cidr] == nil {
            do {
                _ = try await ctx.client.query("ec2", "DeleteRoute", [("RouteTableId", id), ("DestinationCidrBlock", route.cidr)])
            } catch let error as AWSAPIError where error.isNotFound {}
        }
        for route in want where haveByCIDR[route.cidr] != route {
            var params = [("RouteTableId", id), ("DestinationCidrBlock", route.cidr)]
            if !route.gateway.isEmpty { params.append(("GatewayId", route.gateway)) }
            if !route.nat.isEmpty { params.append(("NatGatewayId", route.nat)) }
            _ = try await ctx.client.query("ec2", haveByCIDR[route.cidr] == nil ? "CreateRoute" : "ReplaceRoute", params)
        }
        let associated = associations(live)
        let wantSubnets = Set(planned.strings("subnet_ids"))
        for (subnet, association) in associated where !wantSubnets.contains(subnet) {
            try await disassociate(association, ctx)
        }
        for subnet in wantSubnets.subtracting(associated.keys).sorted() {
            _ = try await ctx.client.query("ec2", "AssociateRouteTable", [("RouteTableId", id), ("SubnetId", subnet)])
        }
    }

    private func disassociate(_ association: String, _ ctx: AWSContext) async throws {
        do {
            _ = try await ctx.client.query("ec2", "DisassociateRouteTable", [("AssociationId", association)])
        } catch let error as AWSAPIError where error.isNotFound {}
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        try await sync(id, planned: planned, ctx)
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        if let live = try await EC2.describeOne("DescribeRouteTables", idParameter: "RouteTableId.1", id: id, set: "routeTableSet", ctx) {
            for association in associations(live).values { try await disassociate(association, ctx) }
        }
        try await EC2.deleteTolerating("DeleteRouteTable", [("RouteTableId", id)], ctx, progress: progress)
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        try await EC2.findByMark("DescribeRouteTables", set: "routeTableSet", idField: "routeTableId", mark, ctx)
    }
}

import Foundation
import EthstackModel
import EthstackProviderAPI

/// `aws.security_group`. `ingress` and `egress` are sets of rules, changed in place: the provider
/// revokes the permissions that went away and authorises the new ones.
///
/// A rule: `{protocol: tcp|udp|icmp|-1, from_port, to_port, cidr_blocks: [...], security_groups: [...],
/// description}`. Rules are normalised (merged by protocol, ports and description; lists sorted) so
/// that how a user splits them does not show up as a change.
struct SecurityGroupResource: AWSResourceType {
    static let allowAllEgress: Value = .list([
        .map(["protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"], "security_groups": [], "description": ""]),
    ])

    let schema = ResourceSchema(type: "aws.security_group", description: "A VPC security group and its rules.", attributes: [
        AttributeSchema("name", .string, .required, forcesReplacement: true),
        AttributeSchema("description", .string, .optional(default: "Managed by ethstack"), forcesReplacement: true),
        AttributeSchema("vpc_id", .string, .required, forcesReplacement: true),
        AttributeSchema("ingress", .list(.any), .optional(default: .list([])), description: "Set of inbound rules."),
        AttributeSchema("egress", .list(.any), .optional(default: SecurityGroupResource.allowAllEgress),
                        description: "Set of outbound rules; default allows all traffic out, as AWS does."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("owner_id", .string, .computed),
    ])

    /// One permission as EC2 stores it: one source per entry.
    struct Permission: Hashable, Comparable {
        var proto: String
        var from: Int
        var to: Int
        var cidr: String?
        var group: String?
        var description: String

        static func < (a: Permission, b: Permission) -> Bool { a.sortKey < b.sortKey }
        var sortKey: String { "\(proto)|\(from)|\(to)|\(description)|\(cidr ?? "")|\(group ?? "")" }
    }

    static func normaliseProtocol(_ p: String) -> String {
        switch p.lowercased() {
        case "all", "-1", "": return "-1"
        case "6": return "tcp"
        case "17": return "udp"
        case "1": return "icmp"
        default: return p.lowercased()
        }
    }

    /// Expands rules (as the user writes them) into permissions.
    static func permissions(_ rules: Value?) -> Set<Permission> {
        var out = Set<Permission>()
        for rule in rules?.listValue ?? [] {
            guard let r = rule.mapValue else { continue }
            let proto = normaliseProtocol(r.string("protocol") ?? "-1")
            let from = proto == "-1" ? 0 : (r.int("from_port") ?? 0)
            let to = proto == "-1" ? 0 : (r.int("to_port") ?? from)
            let description = r.string("description") ?? ""
            for cidr in r.strings("cidr_blocks") {
                out.insert(Permission(proto: proto, from: from, to: to, cidr: cidr, group: nil, description: description))
            }
            for group in r.strings("security_groups") {
                out.insert(Permission(proto: proto, from: from, to: to, cidr: nil, group: group, description: description))
            }
        }
        return out
    }

    /// Groups permissions back into rules, one per protocol/ports/description, lists sorted.
    static func rules(_ permissions: Set<Permission>) -> Value {
        struct Key: Hashable { var proto: String; var from: Int; var to: Int; var description: String }
        var grouped: [Key: (cidrs: [String], groups: [String])] = [:]
        for p in permissions {
            let key = Key(proto: p.proto, from: p.from, to: p.to, description: p.description)
            var entry = grouped[key] ?? ([], [])
            if let c = p.cidr { entry.cidrs.append(c) }
            if let g = p.group { entry.groups.append(g) }
            grouped[key] = entry
        }
        let sortedKeys = grouped.keys.sorted { "\($0.proto)|\($0.from)|\($0.to)|\($0.description)" < "\($1.proto)|\($1.from)|\($1.to)|\($1.description)" }
        return .list(sortedKeys.map { key in
            let entry = grouped[key] ?? ([], [])
            return .map([
                "protocol": .string(key.proto), "from_port": .number(Double(key.from)), "to_port": .number(Double(key.to)),
                "cidr_blocks": .list(entry.cidrs.sorted().map(Value.string)),
                "security_groups": .list(entry.groups.sorted().map(Value.string)),
                "description": .string(key.description),
            ])
        })
    }

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        for key in ["ingress", "egress"] {
            if let v = proposed[key], !v.containsUnknown, !v.isNull {
                planned[key] = Self.rules(Self.permissions(v))
            }
        }
        return planned
    }

    /// The permissions of a described group (`ipPermissions` or `ipPermissionsEgress`).
    static func permissions(of item: XMLTree, _ listName: String) -> Set<Permission> {
        var out = Set<Permission>()
        for perm in item.items(listName) {
            let proto = normaliseProtocol(perm.string("ipProtocol") ?? "-1")
            let from = proto == "-1" ? 0 : Int(perm.string("fromPort") ?? "") ?? 0
            let to = proto == "-1" ? 0 : Int(perm.string("toPort") ?? "") ?? from
            for range in perm.items("ipRanges") {
                guard let cidr = range.string("cidrIp") else { continue }
                out.insert(Permission(proto: proto, from: from, to: to, cidr: cidr, group: nil, description: range.string("description") ?? ""))
            }
            for range in perm.items("ipv6Ranges") {
                guard let cidr = range.string("cidrIpv6") else { continue }
                out.insert(Permission(proto: proto, from: from, to: to, cidr: cidr, group: nil, description: range.string("description") ?? ""))
            }
            for pair in perm.items("groups") {
                guard let group = pair.string("groupId") else { continue }
                out.insert(Permission(proto: proto, from: from, to: to, cidr: nil, group: group, description: pair.string("description") ?? ""))
            }
        }
        return out
    }

    /// `IpPermissions.N.*` parameters, one permission per entry.
    static func parameters(_ permissions: [Permission]) -> [(String, String)] {
        var params: [(String, String)] = []
        for (i, p) in permissions.enumerated() {
            let prefix = "IpPermissions.\(i + 1)"
            params.append(("\(prefix).IpProtocol", p.proto))
            if p.proto != "-1" {
                params.append(("\(prefix).FromPort", String(p.from)))
                params.append(("\(prefix).ToPort", String(p.to)))
            }
            if let cidr = p.cidr {
                let v6 = cidr.contains(":")
                let list = v6 ? "Ipv6Ranges" : "IpRanges"
                params.append(("\(prefix).\(list).1.\(v6 ? "CidrIpv6" : "CidrIp")", cidr))
                if !p.description.isEmpty { params.append(("\(prefix).\(list).1.Description", p.description)) }
            }
            if let group = p.group {
                params.append(("\(prefix).Groups.1.GroupId", group))
                if !p.description.isEmpty { params.append(("\(prefix).Groups.1.Description", p.description)) }
            }
        }
        return params
    }

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        guard let sg = try await EC2.describeOne("DescribeSecurityGroups", idParameter: "GroupId.1", id: id,
                                                 set: "securityGroupInfo", ctx) else { return nil }
        let owner = sg.string("ownerId") ?? ""
        return [
            "id": .string(id),
            "name": .string(sg.string("groupName") ?? ""),
            "description": .string(sg.string("groupDescription") ?? ""),
            "vpc_id": .string(sg.string("vpcId") ?? ""),
            "ingress": Self.rules(Self.permissions(of: sg, "ipPermissions")),
            "egress": Self.rules(Self.permissions(of: sg, "ipPermissionsEgress")),
            "tags": EC2.userTagsValue(EC2.tags(of: sg)),
            "arn": .string(EC2.arn(ctx, owner: owner, "security-group/\(id)")),
            "owner_id": .string(owner),
        ]
    }

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        let id: String
        if let existing = try await find(mark: mark, planned: planned, ctx) {
            id = existing
        } else {
            var params = [("GroupName", planned.string("name") ?? ""), ("GroupDescription", planned.string("description") ?? "Managed by ethstack"),
                          ("VpcId", planned.string("vpc_id") ?? "")]
            params += EC2.tagSpecification("security-group", planned, mark)
            let xml = try await ctx.client.query("ec2", "CreateSecurityGroup", params)
            guard let created = xml.string("groupId") else {
                throw AWSAPIError(service: "ec2", operation: "CreateSecurityGroup", status: 200, code: "MalformedResponse", message: "no groupId in the answer")
            }
            id = created
        }
        // Bring the rules from what exists now (AWS's default egress, or a half-finished earlier try) to the plan.
        return try await afterCreating(id) {
            try await syncRules(id, planned: planned, ctx)
            return id
        }
    }

    private func syncRules(_ id: String, planned: [String: Value], _ ctx: AWSContext) async throws {
        guard let live = try await EC2.describeOne("DescribeSecurityGroups", idParameter: "GroupId.1", id: id,
                                                   set: "securityGroupInfo", ctx) else {
            throw AWSAPIError(service: "ec2", operation: "DescribeSecurityGroups", status: 404, code: "InvalidGroup.NotFound",
                              message: "security group \(id) disappeared")
        }
        let wantIn = Self.permissions(planned["ingress"])
        let wantOut = Self.permissions(planned["egress"] ?? Self.allowAllEgress)
        try await sync(id, have: Self.permissions(of: live, "ipPermissions"), want: wantIn, direction: "Ingress", ctx)
        try await sync(id, have: Self.permissions(of: live, "ipPermissionsEgress"), want: wantOut, direction: "Egress", ctx)
    }

    private func sync(_ id: String, have: Set<Permission>, want: Set<Permission>, direction: String, _ ctx: AWSContext) async throws {
        // Revoke first: a rule whose description changed is the same permission to EC2.
        let revoke = have.subtracting(want).sorted()
        if !revoke.isEmpty {
            do {
                _ = try await ctx.client.query("ec2", "RevokeSecurityGroup\(direction)", [("GroupId", id)] + Self.parameters(revoke))
            } catch let error as AWSAPIError where error.code == "InvalidPermission.NotFound" {}
        }
        let authorize = want.subtracting(have).sorted()
        if !authorize.isEmpty {
            do {
                _ = try await ctx.client.query("ec2", "AuthorizeSecurityGroup\(direction)", [("GroupId", id)] + Self.parameters(authorize))
            } catch let error as AWSAPIError where error.code == "InvalidPermission.Duplicate" {}
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        try await syncRules(id, planned: planned, ctx)
        try await EC2.syncTags(id, old: EC2.userTags(prior), new: EC2.userTags(planned), ctx)
    }

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        try await EC2.deleteTolerating("DeleteSecurityGroup", [("GroupId", id)], ctx, progress: progress)
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        try await EC2.findByMark("DescribeSecurityGroups", set: "securityGroupInfo", idField: "groupId", mark, ctx)
    }
}

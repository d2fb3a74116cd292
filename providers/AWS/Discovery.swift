import Foundation
import EthstackModel
import EthstackProviderAPI

/// Discovery (`ethstack import --discover`, drift's unmanaged objects): which objects a selector
/// picks, then each read exactly as an import reads it. Only Describe/List/Get calls; independent
/// calls go out together.
extension ConfiguredAWS {
    func discover(_ request: DiscoverRequest) async throws -> DiscoverResponse {
        let before = context.client.counter.total
        var found: [(type: String, id: String)]
        var notes: [String] = []
        do {
            switch request.selector {
            case .tag(let key, let value):
                (found, notes) = try await tagged(key: key, value: value)
            case .stackMark(let stack):
                (found, notes) = try await tagged(key: MarkTags.stack, value: stack)
            case .eksCluster(let name):
                (found, notes) = try await clusterAndWhatItUses(name)
            case .insideVPC(let vpc):
                found = try await vpcNetwork(vpc)
            case .namespaces:
                return DiscoverResponse(objects: [])
            }
        } catch let error as AWSAPIError {
            throw error.providerError(address: nil)
        }
        var unique: [String: (type: String, id: String)] = [:]
        for f in found { unique["\(f.type) \(f.id)"] = f }
        let candidates = unique.keys.sorted().compactMap { unique[$0] }
        var objects: [DiscoveredObject] = []
        if request.readAttributes {
            let read = try await Self.limited(candidates, limit: 16) { candidate -> DiscoveredObject? in
                guard let type = types[candidate.type] else { return nil }
                do {
                    guard let attributes = try await type.read(id: candidate.id, prior: [:], context) else { return nil }
                    return DiscoveredObject(type: candidate.type, id: candidate.id, attributes: attributes)
                } catch let error as AWSAPIError {
                    throw error.providerError(address: nil)
                }
            }
            objects = read.compactMap { $0 }
            if case .eksCluster = request.selector {
                // The roles the cluster's add-ons, pod identities and access entries name are the cluster's too.
                let known = Set(candidates.map { "\($0.type) \($0.id)" })
                let roles = Set(objects.flatMap { o in ["role_arn", "service_account_role_arn", "principal_arn"].compactMap { o.attributes[$0]?.stringValue } }
                    .compactMap(Self.roleName)).filter { !known.contains("aws.iam_role \($0)") }.sorted()
                let more = try await Self.limited(roles, limit: 8) { name -> DiscoveredObject? in
                    guard let type = types["aws.iam_role"],
                          let attributes = try await type.read(id: name, prior: [:], context) else { return nil }
                    return DiscoveredObject(type: "aws.iam_role", id: name, attributes: attributes)
                }
                objects += more.compactMap { $0 }
            }
        } else {
            objects = candidates.map { DiscoveredObject(type: $0.type, id: $0.id) }
        }
        return DiscoverResponse(objects: objects, notes: notes, calls: context.client.counter.total - before)
    }

    // MARK: - Selectors

    /// The EC2 kinds discovery looks at: Describe action, item set, id field, resource type.
    static let ec2Kinds: [(action: String, set: String, idField: String, type: String)] = [
        ("DescribeVpcs", "vpcSet", "vpcId", "aws.vpc"),
        ("DescribeSubnets", "subnetSet", "subnetId", "aws.subnet"),
        ("DescribeInternetGateways", "internetGatewaySet", "internetGatewayId", "aws.internet_gateway"),
        ("DescribeRouteTables", "routeTableSet", "routeTableId", "aws.route_table"),
        ("DescribeSecurityGroups", "securityGroupInfo", "groupId", "aws.security_group"),
        ("DescribeNatGateways", "natGatewaySet", "natGatewayId", "aws.nat_gateway"),
        ("DescribeAddresses", "addressesSet", "allocationId", "aws.eip"),
    ]

    /// Every object carrying the tag: EC2 kinds by filter (checked again, in case an endpoint
    /// ignores filters), EKS clusters and their node groups, IAM roles, S3 buckets.
    func tagged(key: String, value: String) async throws -> ([(type: String, id: String)], [String]) {
        let ctx = context
        async let ec2: [[(type: String, id: String)]] = Self.limited(Self.ec2Kinds, limit: 8) { kind in
            let xml = try await ctx.client.query("ec2", kind.action, [("Filter.1.Name", "tag:\(key)"), ("Filter.1.Value.1", value)])
            return xml.items(kind.set).compactMap { item -> (type: String, id: String)? in
                guard EC2.tags(of: item)[key] == value, let id = item.string(kind.idField) else { return nil }
                if kind.type == "aws.nat_gateway", ["deleted", "deleting", "failed"].contains(item.string("state") ?? "") { return nil }
                return (kind.type, id)
            }
        }
        async let eks = taggedClusters(key: key, value: value)
        async let roles = taggedRoles(key: key, value: value)
        async let buckets = taggedBuckets(key: key, value: value)
        return (try await ec2.flatMap { $0 } + (try await eks) + (try await roles) + (try await buckets), [])
    }

    func taggedClusters(key: String, value: String) async throws -> [(type: String, id: String)] {
        let ctx = context
        let names = try await ctx.client.json("eks", "ListClusters", method: "GET", path: "/clusters")["clusters"]?.listValue ?? []
        let perCluster = try await Self.limited(names.compactMap(\.stringValue), limit: 8) { name -> [(type: String, id: String)] in
            let cluster = try await ctx.client.json("eks", "DescribeCluster", method: "GET", path: EKS.path("clusters", name))["cluster"]
            var out: [(type: String, id: String)] = []
            if cluster?["tags"]?[key]?.stringValue == value { out.append(("aws.eks_cluster", name)) }
            for group in try await nodeGroups(name) where group.tags[key] == value {
                out.append(("aws.eks_node_group", "\(name):\(group.name)"))
            }
            return out
        }
        return perCluster.flatMap { $0 }
    }

    func nodeGroups(_ cluster: String) async throws -> [(name: String, tags: [String: String], nodeRole: String?)] {
        let ctx = context
        let names = try await ctx.client.json("eks", "ListNodegroups", method: "GET",
                                              path: EKS.path("clusters", cluster, "node-groups"))["nodegroups"]?.listValue ?? []
        return try await Self.limited(names.compactMap(\.stringValue), limit: 8) { name in
            let group = try await ctx.client.json("eks", "DescribeNodegroup", method: "GET",
                                                  path: EKS.path("clusters", cluster, "node-groups", name))["nodegroup"]
            return (name, EKS.stringMap(group?["tags"]), group?["nodeRole"]?.stringValue)
        }
    }

    func taggedRoles(key: String, value: String) async throws -> [(type: String, id: String)] {
        let ctx = context
        var names: [String] = []
        var marker: String?
        repeat {
            var params = [("MaxItems", "1000")]
            if let marker { params.append(("Marker", marker)) }
            let xml = try await ctx.client.query("iam", "ListRoles", params)
            let result = xml.child("ListRolesResult")
            names += (result?.items("Roles") ?? []).compactMap { $0.string("RoleName") }
            marker = result?.string("IsTruncated") == "true" ? result?.string("Marker") : nil
        } while marker != nil
        let matches = try await Self.limited(names, limit: 8) { name -> String? in
            // A role deleted between the listing and this call is simply not there.
            let tags: XMLTree
            do {
                tags = try await ctx.client.query("iam", "ListRoleTags", [("RoleName", name)])
            } catch let error as AWSAPIError where error.isNotFound {
                return nil
            }
            let tagged = (tags.child("ListRoleTagsResult")?.items("Tags") ?? []).contains {
                $0.string("Key") == key && $0.string("Value") == value
            }
            return tagged ? name : nil
        }
        return matches.compactMap { $0 }.map { ("aws.iam_role", $0) }
    }

    func taggedBuckets(key: String, value: String) async throws -> [(type: String, id: String)] {
        let ctx = context
        let list = try await ctx.client.send(service: "s3", operation: "ListBuckets", method: "GET", path: "/")
        let names = XMLTree.parse(list.body)?.child("Buckets")?.children("Bucket").compactMap { $0.string("Name") } ?? []
        let matches = try await Self.limited(names, limit: 8) { name -> String? in
            let tagging: Data
            do {
                tagging = try await ctx.client.send(service: "s3", operation: "GetBucketTagging", method: "GET",
                                                    path: "/\(name)", query: [("tagging", "")]).body
            } catch let error as AWSAPIError where error.isNotFound || error.code == "NoSuchTagSet" {
                return nil
            }
            return S3BucketResource.tags(XMLTree.parse(tagging))[key] == value ? name : nil
        }
        return matches.compactMap { $0 }.map { ("aws.s3_bucket", $0) }
    }

    /// An EKS cluster and what it uses: node groups, add-ons, access entries and pod identity
    /// associations (where the API answers), its IAM roles, and its VPC's network (without the
    /// VPC's main route table and default security group, which come with the VPC).
    func clusterAndWhatItUses(_ name: String) async throws -> ([(type: String, id: String)], [String]) {
        let ctx = context
        guard let cluster = try await ctx.client.json("eks", "DescribeCluster", method: "GET", path: EKS.path("clusters", name))["cluster"] else {
            throw AWSAPIError(service: "eks", operation: "DescribeCluster", status: 200, code: "MalformedResponse", message: "no cluster in the answer")
        }
        var found: [(type: String, id: String)] = [("aws.eks_cluster", name)]
        var notes: [String] = []
        if let role = cluster["roleArn"]?.stringValue.flatMap(Self.roleName) { found.append(("aws.iam_role", role)) }
        var vpcID = cluster["resourcesVpcConfig"]?["vpcId"]?.stringValue
        if vpcID == nil, let subnet = cluster["resourcesVpcConfig"]?["subnetIds"]?.listValue?.first?.stringValue {
            // Some endpoints (moto) leave vpcId out: the cluster's subnets say it.
            vpcID = try await EC2.describeOne("DescribeSubnets", idParameter: "SubnetId.1", id: subnet, set: "subnetSet", ctx)?
                .string("vpcId")
        }
        async let groups = nodeGroups(name)
        async let extras = clusterExtras(name)
        let vpc = vpcID
        async let network: [(type: String, id: String)] = vpc == nil ? [] : vpcNetwork(vpc ?? "")
        for group in try await groups {
            found.append(("aws.eks_node_group", "\(name):\(group.name)"))
            if let role = group.nodeRole.flatMap(Self.roleName) { found.append(("aws.iam_role", role)) }
        }
        let (extraObjects, extraNotes) = try await extras
        found += extraObjects
        notes += extraNotes
        found += try await network
        return (found, notes)
    }

    /// Add-ons, access entries, pod identity associations: APIs some endpoints do not have (moto
    /// answers 404); what cannot be listed is said in a note, not guessed.
    func clusterExtras(_ cluster: String) async throws -> ([(type: String, id: String)], [String]) {
        let ctx = context
        var found: [(type: String, id: String)] = []
        var notes: [String] = []
        let lists: [(operation: String, part: String, key: String, type: String)] = [
            ("ListAddons", "addons", "addons", "aws.eks_addon"),
            ("ListAccessEntries", "access-entries", "accessEntries", "aws.eks_access_entry"),
            ("ListPodIdentityAssociations", "pod-identity-associations", "associations", "aws.eks_pod_identity_association"),
        ]
        let answers = await Self.limitedResults(lists, limit: 3) { list in
            try await ctx.client.json("eks", list.operation, method: "GET", path: EKS.path("clusters", cluster, list.part))
        }
        for (list, answer) in zip(lists, answers) {
            switch answer {
            case .success(let value):
                for item in value[list.key]?.listValue ?? [] {
                    // Add-ons and access entries are listed by name / principal ARN; associations as
                    // summaries. An association an add-on owns is the add-on's (EKS refuses to delete it).
                    if !(item["ownerArn"]?.stringValue ?? "").isEmpty { continue }
                    if let id = item.stringValue ?? item["associationId"]?.stringValue { found.append((list.type, "\(cluster):\(id)")) }
                }
            case .failure(let error as AWSAPIError) where error.status == 404:
                notes.append("\(list.type) of \(cluster) not discovered: \(list.operation) answered \(error.status) \(error.message)")
            case .failure(let error):
                throw error
            }
        }
        return (found, notes)
    }

    /// The network of a VPC: the VPC, its subnets, internet gateways, route tables (but the main
    /// one), NAT gateways and their elastic IPs, security groups (but `default`).
    func vpcNetwork(_ vpcID: String) async throws -> [(type: String, id: String)] {
        let ctx = context
        let filters: [String: (String, String)] = [
            "DescribeVpcs": ("vpc-id", vpcID), "DescribeSubnets": ("vpc-id", vpcID),
            "DescribeInternetGateways": ("attachment.vpc-id", vpcID), "DescribeRouteTables": ("vpc-id", vpcID),
            "DescribeSecurityGroups": ("vpc-id", vpcID), "DescribeNatGateways": ("vpc-id", vpcID),
        ]
        let kinds = Self.ec2Kinds.filter { filters[$0.action] != nil }
        let perKind = try await Self.limited(kinds, limit: 8) { kind -> [(type: String, id: String, item: XMLTree)] in
            guard let (name, value) = filters[kind.action] else { return [] }
            let xml = try await ctx.client.query("ec2", kind.action, [("Filter.1.Name", name), ("Filter.1.Value.1", value)])
            return xml.items(kind.set).compactMap { item in item.string(kind.idField).map { (kind.type, $0, item) } }
        }
        var found: [(type: String, id: String)] = []
        for (type, id, item) in perKind.flatMap({ $0 }) {
            switch type {
            case "aws.route_table" where item.items("associationSet").contains { $0.string("main") == "true" }: continue
            case "aws.security_group" where item.string("groupName") == "default": continue
            case "aws.nat_gateway":
                if ["deleted", "deleting", "failed"].contains(item.string("state") ?? "") { continue }
                for address in item.items("natGatewayAddressSet") {
                    if let allocation = address.string("allocationId") { found.append(("aws.eip", allocation)) }
                }
            default: break
            }
            found.append((type, id))
        }
        return found
    }

    static func roleName(_ arn: String) -> String? {
        guard arn.contains(":role/"), let last = arn.split(separator: "/").last else { return nil }
        return String(last)
    }

    // MARK: - Bounded parallelism

    /// `body` over `items`, at most `limit` at a time; results in the order of `items`.
    static func limited<T: Sendable, R: Sendable>(_ items: [T], limit: Int,
                                                  _ body: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
        try await limitedResults(items, limit: limit, body).map { try $0.get() }
    }

    static func limitedResults<T: Sendable, R: Sendable>(_ items: [T], limit: Int,
                                                         _ body: @escaping @Sendable (T) async throws -> R) async -> [Result<R, any Error>] {
        await withTaskGroup(of: (Int, Result<R, any Error>).self) { group in
            var results = [Result<R, any Error>?](repeating: nil, count: items.count)
            var next = 0
            func addNext() {
                guard next < items.count else { return }
                let index = next
                let item = items[index]
                next += 1
                group.addTask {
                    do { return (index, .success(try await body(item))) } catch { return (index, .failure(error)) }
                }
            }
            for _ in 0..<max(1, limit) { addNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                addNext()
            }
            return results.compactMap { $0 }
        }
    }
}

/// Counts the requests a client sends (discovery reports its calls).
final class AWSCallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var total: Int { lock.lock(); defer { lock.unlock() }; return count }
}

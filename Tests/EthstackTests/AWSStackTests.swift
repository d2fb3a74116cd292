import Foundation
import Testing
@testable import AWSProvider
@testable import EthstackEngine
@testable import EthstackHTTP
@testable import EthstackModel

/// The AWS layer of the testnet (`stacks/aws-layer.yaml`) through the real engine pipeline, in
/// process (load → validate → graph → refresh → plan → apply → SQLite state), against moto.
///
/// Each test works in its own region, on a copy of the stack whose `stack:` name and cluster name
/// carry a random suffix, so that the global services (IAM, S3) never mix tests either. A
/// "behind ethstack's back" change is a direct, signed API call made with the provider's client.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"),
       .timeLimit(.minutes(5)))
struct AWSStackTests {
    /// Every instance of the layer.
    static let addresses: Set<String> = [
        "vpc", "private_subnet[\"a\"]", "private_subnet[\"b\"]", "private_subnet[\"c\"]",
        "public_subnet[\"a\"]", "public_subnet[\"b\"]", "public_subnet[\"c\"]", "igw", "nat_eip", "nat",
        "public_routes", "private_routes", "cluster_access", "cluster_role", "node_role", "cluster", "nodes", "key_backups",
    ]

    // MARK: - Apply, no-op plan, destroy

    @Test func applyCreatesEverythingThenPlanShowsNoChanges() async throws {
        let stack = try await AWSStack(region: "us-east-2")
        let summary = try await stack.apply()
        #expect(summary.succeeded, "\(summary.failures)")
        #expect(summary.created == Self.addresses.count)

        let state = try await stack.state()
        #expect(Set(state.resources.keys.map(\.description)) == Self.addresses)
        let aws = try await stack.client()

        // The network, as EC2 sees it.
        let vpcs = try await stack.tagged("DescribeVpcs", set: "vpcSet", aws)
        #expect(vpcs.count == 1)
        #expect(vpcs.first?.string("cidrBlock") == "10.0.0.0/16")
        let subnets = try await stack.tagged("DescribeSubnets", set: "subnetSet", aws)
        #expect(Set(subnets.compactMap { $0.string("cidrBlock") }) ==
                ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20", "10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20"])
        #expect(Set(subnets.compactMap { $0.string("availabilityZone") }) == ["us-east-2a", "us-east-2b", "us-east-2c"])
        #expect(try await stack.tagged("DescribeInternetGateways", set: "internetGatewaySet", aws).count == 1)
        #expect(try await stack.tagged("DescribeNatGateways", set: "natGatewaySet", aws).filter { $0.string("state") == "available" }.count == 1)
        #expect(try await stack.tagged("DescribeRouteTables", set: "routeTableSet", aws).count == 2)
        #expect(try await stack.tagged("DescribeSecurityGroups", set: "securityGroupInfo", aws).count == 1)
        #expect(try await stack.tagged("DescribeAddresses", set: "addressesSet", aws).count == 1)

        // EKS: the cluster and 3 c5.4xlarge workers.
        let nodegroup = try await aws.json("eks", "DescribeNodegroup", method: "GET",
                                           path: EKS.path("clusters", stack.clusterName, "node-groups", "\(stack.clusterName)-workers"))["nodegroup"]
        #expect(nodegroup?["instanceTypes"] == ["c5.4xlarge"])
        #expect(nodegroup?["scalingConfig"]?["desiredSize"]?.intValue == 3)
        #expect(nodegroup?["scalingConfig"]?["minSize"]?.intValue == 3)
        #expect(nodegroup?["scalingConfig"]?["maxSize"]?.intValue == 3)

        // The key-backup bucket: versioned, encrypted, private, with its lifecycle rule.
        let bucket = stack.bucket
        let versioning = try await aws.send(service: "s3", operation: "GetBucketVersioning", method: "GET", path: "/\(bucket)",
                                            query: [("versioning", "")])
        #expect(String(decoding: versioning.body, as: UTF8.self).contains("<Status>Enabled</Status>"))
        let encryption = try await aws.send(service: "s3", operation: "GetBucketEncryption", method: "GET", path: "/\(bucket)",
                                            query: [("encryption", "")])
        #expect(String(decoding: encryption.body, as: UTF8.self).contains("AES256"))
        let lifecycle = try await aws.send(service: "s3", operation: "GetBucketLifecycleConfiguration", method: "GET", path: "/\(bucket)",
                                           query: [("lifecycle", "")])
        #expect(String(decoding: lifecycle.body, as: UTF8.self).contains("<NoncurrentDays>90</NoncurrentDays>"))

        // Outputs recorded in state.
        let outputs = state.outputs
        #expect(outputs["cluster_endpoint"]?.value.stringValue?.isEmpty == false)
        #expect(outputs["backup_bucket"]?.value.stringValue == bucket)
        #expect(outputs["private_subnet_ids"]?.value.listValue?.count == 3)

        // A second plan: nothing to do, nothing drifted.
        let plan = try await stack.plan()
        #expect(!plan.hasChanges, "\(stack.describe(plan))")
        #expect(plan.drift.isEmpty, "\(plan.drift.map { "\($0.address): \($0.attributes)" })")

        let destroyed = try await stack.apply(destroy: true)
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        #expect(destroyed.deleted == Self.addresses.count)
        try await stack.expectNothingLeft(aws)
    }

    // MARK: - Updates and replacements

    @Test func scalingTheNodeGroupIsAnInPlaceUpdate() async throws {
        let stack = try await AWSStack(region: "ap-northeast-2")
        let created = try await stack.apply()
        #expect(created.succeeded, "\(created.failures)")

        let scale = ["node_desired=5", "node_max=6"]
        let plan = try await stack.plan(vars: scale)
        let changed = plan.changes.filter { $0.action != .noop }
        #expect(changed.map(\.address.description) == ["nodes"], "\(stack.describe(plan))")
        #expect(changed.first?.action == .update)
        #expect(changed.first?.after?["desired_size"]?.intValue == 5)
        #expect(plan.toAdd == 0 && plan.toDestroy == 0)
        let text = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(text.contains("desired_size"))
        #expect(text.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "\(text)")

        let nodegroupID = try await stack.state().resources[ResourceAddress(name: "nodes")]?.id
        let summary = try await stack.apply(vars: scale)
        #expect(summary.succeeded && summary.updated == 1 && summary.created == 0 && summary.deleted == 0, "\(summary.line)")
        #expect(try await stack.state().resources[ResourceAddress(name: "nodes")]?.id == nodegroupID)
        let aws = try await stack.client()
        let nodegroup = try await aws.json("eks", "DescribeNodegroup", method: "GET",
                                           path: EKS.path("clusters", stack.clusterName, "node-groups", "\(stack.clusterName)-workers"))["nodegroup"]
        #expect(nodegroup?["scalingConfig"]?["desiredSize"]?.intValue == 5)
        #expect(nodegroup?["scalingConfig"]?["maxSize"]?.intValue == 6)
        #expect(try await !stack.plan(vars: scale).hasChanges)
    }

    @Test func changingTheVPCCIDRReplacesTheVPCAndWhatHangsOffIt() async throws {
        // Through a pass-through proxy that logs every call: moto deletes a VPC with an internet
        // gateway attached (AWS refuses), so the order of the calls is checked instead.
        let proxy = try await Self.loggingProxy()
        defer {
            proxy.process.terminate()
            try? FileManager.default.removeItem(atPath: proxy.log)
        }
        let stack = try await AWSStack(region: "ap-northeast-3", endpoint: proxy.url)
        let created = try await stack.apply()
        #expect(created.succeeded, "\(created.failures)")

        let plan = try await stack.plan(vars: ["vpc_cidr=10.1.0.0/16"])
        let byAddress = Dictionary(uniqueKeysWithValues: plan.changes.map { ($0.address.description, $0) })
        #expect(byAddress["vpc"]?.action == .replace)
        #expect(byAddress["vpc"]?.replacePaths == ["cidr_block"])
        // Everything whose VPC-bound identity comes from the VPC is replaced with it...
        let replaced: Set<String> = [
            "vpc", "private_subnet[\"a\"]", "private_subnet[\"b\"]", "private_subnet[\"c\"]",
            "public_subnet[\"a\"]", "public_subnet[\"b\"]", "public_subnet[\"c\"]", "nat", "public_routes", "private_routes",
            "cluster_access", "cluster", "nodes",
        ]
        #expect(Set(plan.changes.filter { $0.action == .replace }.map(\.address.description)) == replaced, "\(stack.describe(plan))")
        #expect(byAddress["private_subnet[\"a\"]"]?.replacePaths.contains("cidr_block") == true)
        #expect(byAddress["private_subnet[\"a\"]"]?.after?["cidr_block"] == "10.1.0.0/20")
        // ...the internet gateway moves to the new VPC in place; IAM, the EIP and the bucket stay.
        #expect(byAddress["igw"]?.action == .update)
        for unchanged in ["cluster_role", "node_role", "nat_eip", "key_backups"] {
            #expect(byAddress[unchanged]?.action == .noop, "\(unchanged): \(byAddress[unchanged]?.action.rawValue ?? "absent")")
        }
        #expect(plan.toAdd == replaced.count && plan.toDestroy == replaced.count)
        let text = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(text.contains("# forces replacement"))
        #expect(text.contains("-/+ resource \"aws.vpc\" \"vpc\""), "\(text)")

        // And applying it works: dependents go first, the new VPC comes up, everything is rebuilt in it.
        let oldVPC = try await stack.state().resources[ResourceAddress(name: "vpc")]?.id
        let summary = try await stack.apply(vars: ["vpc_cidr=10.1.0.0/16"])
        #expect(summary.succeeded, "\(summary.line) \(summary.failures)")
        #expect(summary.replaced == replaced.count && summary.updated == 1, "\(summary.line)")
        let aws = try await stack.client()
        let vpcs = try await stack.tagged("DescribeVpcs", set: "vpcSet", aws)
        #expect(vpcs.count == 1 && vpcs.first?.string("cidrBlock") == "10.1.0.0/16" && vpcs.first?.string("vpcId") != oldVPC)
        let subnets = try await stack.tagged("DescribeSubnets", set: "subnetSet", aws)
        #expect(subnets.count == 6 && subnets.allSatisfy { $0.string("cidrBlock")?.hasPrefix("10.1.") == true })
        let igw = try await stack.tagged("DescribeInternetGateways", set: "internetGatewaySet", aws).first
        #expect(igw?.items("attachmentSet").first?.string("vpcId") == vpcs.first?.string("vpcId"))
        let after = try await stack.plan(vars: ["vpc_cidr=10.1.0.0/16"])
        #expect(!after.hasChanges && after.drift.isEmpty, "\(stack.describe(after))")

        // The old VPC was deleted once its gateway was detached from it (AWS answers DependencyViolation otherwise).
        let calls = try Self.queryCalls(proxy.log)
        let deleteVPC = calls.firstIndex { $0["Action"] == "DeleteVpc" && $0["VpcId"] == oldVPC }
        let detach = calls.firstIndex { $0["Action"] == "DetachInternetGateway" && $0["VpcId"] == oldVPC }
        #expect(deleteVPC != nil && detach != nil && detach! < deleteVPC!, "detach at \(detach ?? -1), DeleteVpc at \(deleteVPC ?? -1)")
    }

    // MARK: - Drift

    @Test func changesBehindEthstacksBackShowAsDrift() async throws {
        let stack = try await AWSStack(region: "eu-south-2")
        let created = try await stack.apply()
        #expect(created.succeeded, "\(created.failures)")
        let state = try await stack.state()
        func id(_ address: String) -> String { state.resources.first { $0.key.description == address }?.value.id ?? "" }
        let aws = try await stack.client()

        // Edited: a VPC tag, the node group's size, a detached managed policy. Deleted: the bucket.
        _ = try await aws.query("ec2", "CreateTags", [("ResourceId.1", id("vpc")), ("Tag.1.Key", "Name"), ("Tag.1.Value", "hand-edited")])
        _ = try await aws.json("eks", "UpdateNodegroupConfig", method: "POST",
                               path: EKS.path("clusters", stack.clusterName, "node-groups", "\(stack.clusterName)-workers", "update-config"),
                               body: ["scalingConfig": ["minSize": 1, "maxSize": 3, "desiredSize": 1]])
        _ = try await aws.query("iam", "DetachRolePolicy", [("RoleName", id("node_role")),
                                                            ("PolicyArn", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy")])
        _ = try await aws.send(service: "s3", operation: "DeleteBucket", method: "DELETE", path: "/\(stack.bucket)")

        let plan = try await stack.plan()
        let drift = Dictionary(uniqueKeysWithValues: plan.drift.map { ($0.address.description, $0) })
        #expect(Set(drift.keys) == ["vpc", "nodes", "node_role", "key_backups"], "\(plan.drift.map { "\($0.address) \($0.kind) \($0.attributes)" })")
        #expect(drift["vpc"]?.kind == .changed && drift["vpc"]?.attributes == ["tags"])
        #expect(drift["nodes"]?.kind == .changed && drift["nodes"]?.attributes == ["desired_size", "min_size"])
        #expect(drift["node_role"]?.kind == .changed && drift["node_role"]?.attributes == ["policy_arns"])
        #expect(drift["key_backups"]?.kind == .deleted)

        // The plan puts them back: three updates, the bucket created again.
        let actions = Dictionary(uniqueKeysWithValues: plan.changes.map { ($0.address.description, $0.action) })
        #expect(actions["vpc"] == .update && actions["nodes"] == .update && actions["node_role"] == .update)
        #expect(actions["key_backups"] == .create)
        #expect(plan.changes.first { $0.address.description == "key_backups" }?.reason == .createBecauseGoneOutside)
        let text = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(text.contains("changed outside of ethstack"), "\(text)")

        let repaired = try await stack.apply()
        #expect(repaired.succeeded && repaired.updated == 3 && repaired.created == 1, "\(repaired.line) \(repaired.failures)")
        let after = try await stack.plan()
        #expect(!after.hasChanges && after.drift.isEmpty, "\(stack.describe(after))")
    }

    // MARK: - Destroy

    @Test func destroyDeletesDependentsFirstAndLeavesNothingTagged() async throws {
        let stack = try await AWSStack(region: "me-south-1")
        let created = try await stack.apply()
        #expect(created.succeeded, "\(created.failures)")

        let log = ApplyEventLog()
        let destroyed = try await stack.apply(destroy: true, events: log.record)
        #expect(destroyed.succeeded && destroyed.deleted == Self.addresses.count, "\(destroyed.line) \(destroyed.failures)")
        let order = log.events
        /// A delete of `dependency` may start only after every delete of `dependents` completed.
        func expectDeletedAfter(_ dependency: String, _ dependents: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            guard let start = order.firstIndex(of: "start \(dependency)") else {
                Issue.record("\(dependency) was never deleted", sourceLocation: sourceLocation)
                return
            }
            for dependent in dependents {
                guard let done = order.firstIndex(of: "done \(dependent)") else {
                    Issue.record("\(dependent) was never deleted", sourceLocation: sourceLocation)
                    continue
                }
                #expect(done < start, "\(dependent) must be gone before \(dependency) is deleted", sourceLocation: sourceLocation)
            }
        }
        let subnets = ["a", "b", "c"].flatMap { ["private_subnet[\"\($0)\"]", "public_subnet[\"\($0)\"]"] }
        expectDeletedAfter("vpc", subnets + ["igw", "public_routes", "private_routes", "cluster_access"])
        for zone in ["a", "b", "c"] {
            expectDeletedAfter("private_subnet[\"\(zone)\"]", ["cluster", "nodes", "private_routes"])
            expectDeletedAfter("public_subnet[\"\(zone)\"]", ["cluster", "public_routes"] + (zone == "a" ? ["nat"] : []))
        }
        expectDeletedAfter("nat_eip", ["nat"])
        expectDeletedAfter("igw", ["nat", "public_routes"])
        expectDeletedAfter("nat", ["private_routes"])
        expectDeletedAfter("cluster", ["nodes"])
        expectDeletedAfter("cluster_role", ["cluster"])
        expectDeletedAfter("node_role", ["nodes"])
        expectDeletedAfter("cluster_access", ["cluster"])

        #expect(try await stack.state().resources.isEmpty)
        try await stack.expectNothingLeft(try await stack.client())
        // Destroying again is a no-op.
        #expect(try await !stack.plan(destroy: true).hasResourceChanges)
    }

    // MARK: - Figures

    /// Wall time of an apply and of a no-op plan, and how many API calls the no-op plan makes
    /// (counted by a pass-through proxy in front of moto). Printed, never asserted on timing.
    @Test func measureApplyAndNoOpPlan() async throws {
        let proxy = try await AWSTestServers.faultProxy([])
        defer { proxy.process.terminate() }
        let stack = try await AWSStack(region: "af-south-1", endpoint: proxy.url)
        let clock = ContinuousClock()
        var summary: ApplySummary?
        let applyTime = try await clock.measure { summary = try await stack.apply() }
        #expect(summary?.succeeded == true, "\(summary?.failures ?? [])")
        let applyRequests = try await Self.proxyRequests(proxy.url)

        var plan: Plan?
        let planTime = try await clock.measure { plan = try await stack.plan() }
        let planRequests = try await Self.proxyRequests(proxy.url) - applyRequests
        #expect(plan?.hasChanges == false)
        let secondPlanTime = try await clock.measure { _ = try await stack.plan() }

        var destroySummary: ApplySummary?
        let destroyTime = try await clock.measure { destroySummary = try await stack.apply(destroy: true) }
        #expect(destroySummary?.succeeded == true)
        let destroyRequests = try await Self.proxyRequests(proxy.url) - applyRequests - 2 * planRequests
        print("""
            AWS layer against moto (\(Self.addresses.count) resources): \
            apply \(applyTime) (\(applyRequests) API calls); \
            no-op plan \(planTime), again \(secondPlanTime) (\(planRequests) API calls each); \
            destroy \(destroyTime) (\(destroyRequests) API calls)
            """)
    }

    /// A pass-through proxy in front of moto that logs every request to a file.
    static func loggingProxy() async throws -> (url: String, process: Process, log: String) {
        let upstream = try await AWSTestServers.moto()
        let port = AWSTestServers.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-proxy-\(UUID().uuidString.prefix(8)).log").path
        let process = try AWSTestServers.spawn([AWSTestServers.which("python3") ?? "python3",
                                                AWSTestServers.supportDirectory.appendingPathComponent("fault_proxy.py").path,
                                                String(port), upstream, ""], environment: ["FAULT_PROXY_LOG": log])
        let url = "http://127.0.0.1:\(port)"
        try await AWSTestServers.waitUntilAnswering(url + "/__proxy/stats")
        return (url, process, log)
    }

    /// The Query API calls (EC2, IAM) of a proxy log, in order, as decoded form parameters.
    static func queryCalls(_ log: String) throws -> [[String: String]] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { line -> [String: String]? in
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, parts[2].hasPrefix("Action=") else { return nil }
            var params: [String: String] = [:]
            for pair in parts[2].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                if kv.count == 2 { params[kv[0]] = kv[1] }
            }
            return params
        }
    }

    static func proxyRequests(_ url: String) async throws -> Int {
        let response = try await HTTPClient(options: HTTPClientOptions()).send(HTTPRequest(method: "GET", url: url + "/__proxy/stats", timeout: 5))
        return (try Value.parseJSON(String(decoding: response.body, as: UTF8.self)))["requests"]?.intValue ?? -1
    }
}

/// Records apply events as "start ADDR" / "done ADDR" lines, in order.
final class ApplyEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var events: [String] { lock.lock(); defer { lock.unlock() }; return lines }

    var record: @Sendable (ApplyEvent) -> Void {
        { [self] event in
            let line: String?
            switch event {
            case .started(let address, _): line = "start \(address)"
            case .completed(let address, _, _, _): line = "done \(address)"
            default: line = nil
            }
            guard let line else { return }
            lock.lock(); lines.append(line); lock.unlock()
        }
    }
}

/// One copy of `stacks/aws-layer.yaml` in a workspace, with its own stack name, cluster name and
/// region, and an `aws` provider pointed at moto (or a proxy in front of it).
struct AWSStack {
    static let stackFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("stacks/aws-layer.yaml").path

    let region: String
    let endpoint: String
    let stackName: String
    let clusterName: String
    let workspace: Workspace
    var bucket: String { "\(clusterName)-validator-keys-\(region)" }

    init(region: String, endpoint: String? = nil) async throws {
        let endpoint = if let endpoint { endpoint } else { try await AWSTestServers.moto() }
        let suffix = UUID().uuidString.prefix(8).lowercased()
        self.region = region
        self.endpoint = endpoint
        stackName = "eth-aws-\(suffix)"
        clusterName = "eth-\(suffix)"
        workspace = Workspace(providers: [AWSProvider(environment: [
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "HOME": "/nonexistent",
        ])])
        let text = try String(contentsOfFile: Self.stackFile, encoding: .utf8)
        #expect(text.contains("\nstack: eth-aws\n"))
        workspace.write("stack.yaml", text.replacingOccurrences(of: "\nstack: eth-aws\n", with: "\nstack: \(stackName)\n"))
    }

    func vars(_ extra: [String]) -> [String] { ["region=\(region)", "cluster_name=\(clusterName)"] + extra }

    func plan(vars extra: [String] = [], destroy: Bool = false) async throws -> Plan {
        var options = PlanOptions()
        options.destroy = destroy
        return try await workspace.plan(vars: vars(extra), options: options)
    }

    func apply(vars extra: [String] = [], destroy: Bool = false,
               events: (@Sendable (ApplyEvent) -> Void)? = nil) async throws -> ApplySummary {
        try await workspace.apply(vars: vars(extra), destroy: destroy, events: events)
    }

    func state() async throws -> StackState { try await workspace.state(stackName) }

    /// A client for direct API calls (what someone does "behind ethstack's back").
    func client() async throws -> AWSClient {
        try AWSProviderTests().rawClient(try await AWSTestServers.provider(region: region, endpoint: endpoint))
    }

    /// The EC2 objects of this region tagged `ethstack:stack=<this stack>`.
    func tagged(_ action: String, set: String, _ aws: AWSClient) async throws -> [XMLTree] {
        let xml = try await aws.query("ec2", action, [("Filter.1.Name", "tag:ethstack:stack"), ("Filter.1.Value.1", stackName)])
        return xml.items(set).filter { EC2.tags(of: $0)["ethstack:stack"] == stackName }
    }

    /// Nothing carrying this stack's mark is left: EC2 objects, EKS clusters, IAM roles, S3 buckets.
    func expectNothingLeft(_ aws: AWSClient, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        for (action, set) in [("DescribeVpcs", "vpcSet"), ("DescribeSubnets", "subnetSet"),
                              ("DescribeInternetGateways", "internetGatewaySet"), ("DescribeRouteTables", "routeTableSet"),
                              ("DescribeSecurityGroups", "securityGroupInfo"), ("DescribeAddresses", "addressesSet")] {
            let left = try await tagged(action, set: set, aws)
            #expect(left.isEmpty, "\(action): \(left.count) left", sourceLocation: sourceLocation)
        }
        let nats = try await tagged("DescribeNatGateways", set: "natGatewaySet", aws).filter { $0.string("state") != "deleted" }
        #expect(nats.isEmpty, "NAT gateways left: \(nats.count)", sourceLocation: sourceLocation)

        let clusters = try await aws.json("eks", "ListClusters", method: "GET", path: "/clusters")["clusters"]?.listValue ?? []
        for name in clusters.compactMap(\.stringValue) {
            let tags = try await aws.json("eks", "DescribeCluster", method: "GET", path: EKS.path("clusters", name))["cluster"]?["tags"]
            #expect(tags?["ethstack:stack"]?.stringValue != stackName, "EKS cluster \(name) left", sourceLocation: sourceLocation)
        }

        let roles = try await aws.query("iam", "ListRoles", [("MaxItems", "1000")])
        for role in roles.child("ListRolesResult")?.items("Roles") ?? [] {
            guard let name = role.string("RoleName"), name.hasPrefix(clusterName) else { continue }
            Issue.record("IAM role \(name) left", sourceLocation: sourceLocation)
        }

        let buckets = try await aws.send(service: "s3", operation: "ListBuckets", method: "GET", path: "/")
        let names = XMLTree.parse(buckets.body)?.child("Buckets")?.children("Bucket").compactMap { $0.string("Name") } ?? []
        #expect(!names.contains(bucket), "bucket \(bucket) left", sourceLocation: sourceLocation)
        for name in names {
            let tagging = try? await aws.send(service: "s3", operation: "GetBucketTagging", method: "GET", path: "/\(name)", query: [("tagging", "")])
            let tags = S3BucketResource.tags(tagging.flatMap { XMLTree.parse($0.body) })
            #expect(tags["ethstack:stack"] != stackName, "bucket \(name) left", sourceLocation: sourceLocation)
        }
    }

    /// The plan's changes, one line each, for failure messages.
    func describe(_ plan: Plan) -> String {
        plan.changes.filter { $0.action != .noop }.map { "\($0.action.rawValue) \($0.address) \($0.replacePaths)" }.joined(separator: "; ")
            + " | drift: " + plan.drift.map { "\($0.address) \($0.kind.rawValue) \($0.attributes)" }.joined(separator: ", ")
    }
}

/// The README's `## AWS provider` reference is generated from the schemas: this test fails when a
/// schema changes and the README does not. `ETHSTACK_WRITE_AWS_REFERENCE=FILE` writes the generated
/// tables to FILE, to paste into the README.
struct AWSReferenceTests {
    static func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

    static func presence(_ a: AttributeSchema) -> String {
        var parts: [String]
        switch a.presence {
        case .required: parts = ["required"]
        case .computed: parts = ["computed"]
        case .optionalComputed: parts = ["optional (computed when unset)"]
        case .optional(let d):
            if let d, !d.isNull {
                let text = d.jsonString()
                parts = [text.count > 30 ? "optional (default below)" : "optional, default `\(text)`"]
            } else {
                parts = ["optional"]
            }
        }
        if a.forcesReplacement { parts.append("**replaces**") }
        if a.sensitive { parts.append("sensitive") }
        return parts.joined(separator: ", ")
    }

    static func row(_ a: AttributeSchema) -> String {
        "| `\(a.name)` | \(a.type) | \(presence(a)) | \(cell(a.description)) |"
    }

    /// The provider settings table and one table per resource type.
    static func reference() -> String {
        let provider = AWSProvider(environment: [:])
        var out = "| setting | type | | description |\n|---|---|---|---|\n"
        out += provider.configurationSchema.map(row).joined(separator: "\n") + "\n"
        for schema in provider.resourceSchemas.sorted(by: { $0.type < $1.type }) {
            out += "\n#### `\(schema.type)`\n\n\(schema.description)\n\n"
            out += "| property | type | | description |\n|---|---|---|---|\n"
            out += schema.attributes.filter(\.isSettable).map(row).joined(separator: "\n") + "\n\n"
            out += "Computed: " + schema.attributes.filter { !$0.isSettable }
                .map { "`\($0.name)`" + ($0.description.isEmpty ? "" : " (\(cell($0.description)))") }.joined(separator: ", ") + ".\n"
        }
        return out
    }

    @Test func readmeDocumentsEveryAWSAttribute() throws {
        let text = Self.reference()
        if let path = ProcessInfo.processInfo.environment["ETHSTACK_WRITE_AWS_REFERENCE"] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let readme = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md").path, encoding: .utf8)
        let missing = text.split(separator: "\n").filter { $0.hasPrefix("| `") || $0.hasPrefix("Computed: ") || $0.hasPrefix("#### ") }
            .filter { !readme.contains($0) }
        #expect(missing.isEmpty, "README.md's AWS provider section is out of date with the schemas; missing:\n\(missing.joined(separator: "\n"))")
    }
}

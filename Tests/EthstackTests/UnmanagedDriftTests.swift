import Foundation
import KubeTestServer
import Testing
@testable import AWSProvider
@testable import EthstackEngine
@testable import EthstackModel

/// `ethstack drift` reports unmanaged objects: with the stack's mark, or inside its VPC or its
/// namespaces, recorded by no state entry. Against moto and the Kubernetes API test server, with the
/// `ethstack` binary as a nightly job runs it.
@Suite(.timeLimit(.minutes(5)))
struct UnmanagedDriftTests {
    @Test(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH"))
    func aTaggedBucketAndASubnetMadeByHandInTheStacksVPCAreUnmanaged() async throws {
        let region = "ap-southeast-6"
        let endpoint = try await AWSTestServers.moto()
        let env = DiscoveryTests.environment(endpoint)
        let ws = Workspace()
        let name = "unmanaged-\(UUID().uuidString.prefix(8).lowercased())"
        ws.write("stack.yaml", """
        stack: \(name)
        providers:
          aws: { region: \(region) }
        resources:
          vpc:
            type: aws.vpc
            properties: { cidr_block: 10.50.0.0/16 }
          subnet:
            type: aws.subnet
            properties: { vpc_id: "${vpc.id}", cidr_block: 10.50.0.0/20 }
        """)
        var r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--state", "state.db", "--auto-approve"], in: ws.dir, environment: env, timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--state", "state.db"], in: ws.dir, environment: env, timeout: 120)
        #expect(r.status == 0, "a clean deployment has no unmanaged objects: \(r.stdout)\(r.stderr)")

        // Behind ethstack's back: a subnet in its VPC, and a bucket carrying its mark.
        let aws = try AWSProviderTests().rawClient(try await AWSTestServers.provider(region: region, endpoint: endpoint))
        let state = try await ws.state(name)
        let vpcID = try #require(state.resources[ResourceAddress(name: "vpc")]?.id)
        let subnet = try await aws.query("ec2", "CreateSubnet", [("VpcId", vpcID), ("CidrBlock", "10.50.16.0/20")])
        let subnetID = try #require(subnet.string("subnet", "subnetId"))
        let bucket = "\(name)-stray"
        _ = try await aws.send(service: "s3", operation: "CreateBucket", method: "PUT", path: "/\(bucket)",
                               body: Data("<CreateBucketConfiguration><LocationConstraint>\(region)</LocationConstraint></CreateBucketConfiguration>".utf8))
        _ = try await aws.send(service: "s3", operation: "PutBucketTagging", method: "PUT", path: "/\(bucket)", query: [("tagging", "")],
                               body: Data("<Tagging><TagSet><Tag><Key>ethstack:stack</Key><Value>\(name)</Value></Tag></TagSet></Tagging>".utf8))

        let before = try Data(contentsOf: URL(fileURLWithPath: ws.statePath))
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--state", "state.db"], in: ws.dir, environment: env, timeout: 120)
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("aws.subnet \(subnetID) (inside \(vpcID) (vpc))"), "\(r.stdout)")
        #expect(r.stdout.contains("aws.s3_bucket \(bucket) (carries the stack's mark)"), "\(r.stdout)")
        #expect(r.stdout.contains("2 unmanaged object(s)"), "\(r.stdout)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--state", "state.db", "--json"], in: ws.dir, environment: env, timeout: 120)
        #expect(r.status == 2)
        let json = try Value.parseJSON(r.stdout)
        #expect(json["drift"] == true)
        #expect(Set(json["unmanaged"]?.listValue?.compactMap { $0["id"]?.stringValue } ?? []) == [subnetID, bucket])
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--state", "state.db", "--markdown"], in: ws.dir, environment: env, timeout: 120)
        #expect(r.stdout.contains("**2 unmanaged object(s)**"), "\(r.stdout)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml", "--state", "state.db", "--sarif"], in: ws.dir, environment: env, timeout: 120)
        let sarif = try Value.parseJSON(r.stdout)
        let rules = sarif["runs"]?.listValue?.first?["results"]?.listValue?.compactMap { $0["ruleId"]?.stringValue } ?? []
        #expect(rules.filter { $0 == "ethstack.drift.unmanaged" }.count == 2, "\(rules)")
        // Drift writes nothing.
        #expect(try Data(contentsOf: URL(fileURLWithPath: ws.statePath)) == before)
    }

    @Test func aConfigMapMadeByHandInTheStacksNamespaceIsUnmanaged() async throws {
        let server = try await KubeStack.server(standardCRDs: false)
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        ws.write("stack.yaml", """
        stack: kube-unmanaged
        providers:
          kubernetes: { host: "\(server.url)", token: t }
        resources:
          namespace:
            type: kubernetes.manifest
            properties:
              manifest: { apiVersion: v1, kind: Namespace, metadata: { name: apps } }
          settings:
            type: kubernetes.manifest
            depends_on: [namespace]
            properties:
              manifest:
                apiVersion: v1
                kind: ConfigMap
                metadata: { name: settings, namespace: apps }
                data: { mode: a }
        """)
        var r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        _ = try server.create(try KubeJSON.parse(
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"stray","namespace":"apps"},"data":{"x":"1"}}"#))
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("kubernetes.manifest v1/ConfigMap/apps/stray (in namespace apps)"), "\(r.stdout)")
        #expect(!r.stdout.contains("settings ("), "the recorded ConfigMap is managed: \(r.stdout)")
    }
}

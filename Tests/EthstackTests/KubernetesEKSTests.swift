import AWSProvider
import Foundation
import HelmProvider
import KubeTestServer
import KubernetesProvider
import KurtosisProvider
import Testing
@testable import EthstackEngine
@testable import EthstackKubernetesClient
@testable import EthstackModel

/// An EKS cluster (moto) and Kubernetes objects on it (the Kubernetes API test server) in one stack:
/// the kubernetes provider is configured from the cluster the same apply creates.
///
/// moto gives every cluster an endpoint `https://RANDOM.RND.REGION.eks.amazonaws.com/` (RANDOM
/// fixed per moto process) and random text as the CA. A fault proxy in front of moto's EKS API
/// rewrites that endpoint to the test server's `http://127.0.0.1:PORT`; a plain-http host skips
/// CA handling, and the EKS token is generated (the test server accepts any token).
@Suite("Kubernetes on EKS in one run", .enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH"),
       .timeLimit(.minutes(5)))
struct KubernetesEKSTests {
    static let region = "eu-west-3"

    /// moto's endpoint for clusters in `region`, learnt from a probe cluster.
    static func motoEndpoint() async throws -> String {
        let aws = try await AWSTestServers.provider(region: region)
        let helper = AWSProviderTests()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let role = try await helper.create(aws, "aws.iam_role", "role", [
            "name": .string("probe-\(suffix)"), "assume_role_policy": .string(AWSEKSTests.trust),
        ])
        let vpc = try await helper.create(aws, "aws.vpc", "vpc", ["cidr_block": "10.99.0.0/16"])
        let subnet = try await helper.create(aws, "aws.subnet", "a", ["vpc_id": .string(vpc.id), "cidr_block": "10.99.1.0/24"])
        let cluster = try await helper.create(aws, "aws.eks_cluster", "probe", [
            "name": .string("probe-\(suffix)"), "role_arn": role.attributes["arn"] ?? .null, "subnet_ids": [.string(subnet.id)],
        ])
        return try #require(cluster.attributes["endpoint"]?.stringValue)
    }

    /// moto for AWS, with its EKS API behind a proxy that rewrites cluster endpoints to the
    /// Kubernetes API test server at `kubernetesAPI`: the providers' environment, and the proxy to stop.
    static func eksEnvironment(kubernetesAPI: String) async throws -> (environment: [String: String], proxy: Process) {
        let endpoint = try await motoEndpoint()
        let moto = try await AWSTestServers.moto()
        let proxy = try await AWSTestServers.faultProxy([], rewrite: "\(endpoint)|\(kubernetesAPI)|100000")
        return (["AWS_ENDPOINT_URL": moto, "AWS_ENDPOINT_URL_EKS": proxy.url, "AWS_ACCESS_KEY_ID": "AKIDTESTING",
                 "AWS_SECRET_ACCESS_KEY": "testing-secret", "HOME": "/nonexistent"], proxy.process)
    }

    static func stack(suffix: String, service: Bool = true) -> String {
        """
        stack: eks-same-run
        providers:
          aws: { region: \(region) }
          kubernetes:
            host: "${cluster.endpoint}"
            cluster_ca_certificate: "${cluster.certificate_authority}"
            eks_cluster_name: "${cluster.name}"
            region: \(region)
        resources:
          role:
            type: aws.iam_role
            properties:
              name: eks-\(suffix)
              assume_role_policy: '\(AWSEKSTests.trust.trimmingCharacters(in: .whitespacesAndNewlines))'
          vpc:
            type: aws.vpc
            properties: { cidr_block: 10.40.0.0/16 }
          subnet:
            type: aws.subnet
            for_each: { a: 1, b: 2 }
            properties:
              vpc_id: "${vpc.id}"
              cidr_block: "${cidrsubnet(vpc.cidr_block, 8, each.value)}"
          cluster:
            type: aws.eks_cluster
            properties:
              name: testnet-\(suffix)
              role_arn: "${role.arn}"
              subnet_ids: "${subnet[*].id}"
          namespace:
            type: kubernetes.manifest
            properties:
              manifest: { apiVersion: v1, kind: Namespace, metadata: { name: eth-testnet } }
              wait: { phase: Active, timeout: 20s }
        \(service ? """
          el_rpc:
            type: kubernetes.manifest
            properties:
              manifest:
                apiVersion: v1
                kind: Service
                metadata: { name: el-rpc, namespace: "${namespace.manifest.metadata.name}" }
                spec:
                  type: LoadBalancer
                  selector: { kurtosistech.com/id: el-1-reth-lighthouse }
                  ports: [{ name: rpc, port: 8545, targetPort: 8545 }]
              wait: { load_balancer: true, timeout: 20s }
        """ : "")
        outputs:
          rpc_host: { value: "${el_rpc.load_balancer_hostname}" }
        """
    }

    @Test func clusterAndObjectsInOneApply() async throws {
        let server = try await KubeStack.server(standardCRDs: false)
        defer { server.shutdown() }
        let (environment, proxy) = try await Self.eksEnvironment(kubernetesAPI: server.url)
        defer { proxy.terminate() }
        let ws = Workspace(providers: [AWSProvider(environment: environment), KubernetesProvider(environment: environment)])
        let suffix = UUID().uuidString.prefix(8).lowercased()
        ws.write("stack.yaml", Self.stack(suffix: suffix))

        // Plan from nothing: the cluster and every Kubernetes object are creates, with unknowns.
        let plan = try await ws.plan()
        #expect(plan.changes.count == 7 && plan.changes.allSatisfy { $0.action == .create })
        let ns = try #require(plan.changes.first { $0.address.description == "namespace" })
        #expect(ns.after?["id"]?.isUnknown == true && ns.after?["uid"]?.isUnknown == true)
        let rpc = try #require(plan.changes.first { $0.address.description == "el_rpc" })
        #expect(rpc.after?["load_balancer_hostname"]?.isUnknown == true)

        // One apply: the kubernetes provider is configured the moment the cluster exists.
        let summary = try await ws.apply()
        #expect(summary.succeeded, "\(summary.failures)")
        #expect(summary.created == 7)
        #expect(server.object(resource: "namespaces", name: "eth-testnet") != nil)
        let service = try #require(server.object(resource: "services", namespace: "eth-testnet", name: "el-rpc"))
        #expect(service["metadata"]?["annotations"]?["ethstack.io/address"]?.stringValue == "el_rpc")
        let state = try await ws.state("eks-same-run")
        #expect(state.resources[ResourceAddress(name: "el_rpc")]?.attributes["load_balancer_hostname"]?.stringValue?.isEmpty == false)

        // The next plan refreshes both providers and finds nothing to do.
        let again = try await ws.plan()
        #expect(!again.hasResourceChanges, "\(again.changes.filter { $0.action != .noop }.map(\.address))")
        #expect(again.drift.isEmpty, "\(again.drift.map(\.address))")

        // Destroy: the Kubernetes objects go first, through a provider still configured from the cluster.
        let log = KubeEventLog()
        let destroyed = try await ws.apply(destroy: true) { log.record($0) }
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        let order = log.lines
        let clusterStarted = try #require(order.firstIndex(of: "started cluster"))
        for object in ["namespace", "el_rpc"] {
            #expect((order.firstIndex(of: "completed \(object)") ?? Int.max) < clusterStarted, "\(order)")
        }
        #expect(server.object(resource: "namespaces", name: "eth-testnet") == nil)
        #expect(try await ws.state("eks-same-run").resources.isEmpty)
    }
}

extension KubernetesEKSTests {
    /// helm and kurtosis configured from the EKS cluster the same apply creates: the kubeconfig each
    /// call gets holds the cluster's endpoint and a freshly generated EKS token.
    @Test func helmAndKurtosisOnTheClusterOfTheSameRun() async throws {
        guard let helm = KTS.helmPath() else {
            Issue.record("helm not found: run Tests/Support/install-helm.sh"); return
        }
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let (environment, proxy) = try await Self.eksEnvironment(kubernetesAPI: server.url)
        defer { proxy.terminate() }
        let ws = Workspace(providers: [AWSProvider(environment: environment), HelmProvider(environment: environment),
                                       KurtosisProvider(environment: environment)])
        CLITools.writeTinyChart(ws)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let cluster = """
            host: "${cluster.endpoint}"
            cluster_ca_certificate: "${cluster.certificate_authority}"
            eks_cluster_name: "${cluster.name}"
            region: \(Self.region)
        """
        ws.write("stack.yaml", """
        stack: eks-cli
        providers:
          aws: { region: \(Self.region) }
          helm:
        \(cluster)
            helm_path: "\(helm)"
          kurtosis:
        \(cluster)
            kurtosis_path: "\(CLITools.kurtosisStandin)"
            config_dir: "\(ws.dir)/kt"
        resources:
          role:
            type: aws.iam_role
            properties:
              name: eks-cli-\(suffix)
              assume_role_policy: '\(AWSEKSTests.trust.trimmingCharacters(in: .whitespacesAndNewlines))'
          vpc: { type: aws.vpc, properties: { cidr_block: 10.41.0.0/16 } }
          subnet: { type: aws.subnet, properties: { vpc_id: "${vpc.id}", cidr_block: 10.41.1.0/24 } }
          cluster:
            type: aws.eks_cluster
            properties: { name: "cli-\(suffix)", role_arn: "${role.arn}", subnet_ids: ["${subnet.id}"] }
          monitoring:
            type: helm.release
            properties: { name: monitoring, namespace: monitoring, create_namespace: true, chart: ./charts/tiny }
          engine: { type: kurtosis.engine }
        """)
        let plan = try await ws.plan()
        #expect(plan.changes.count == 6 && plan.changes.allSatisfy { $0.action == .create })
        let summary = try await ws.apply()
        #expect(summary.succeeded && summary.created == 6, "\(summary.failures)")
        #expect(server.object(resource: "configmaps", namespace: "monitoring", name: "monitoring-config") != nil)
        let lines = try String(contentsOfFile: "\(ws.dir)/kt/kurtosis/standin-kubeconfig.log", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)  // cluster set, engine start
        for line in lines {
            let record = try Value.parseJSON(Data(line.utf8))
            #expect(record["server"]?.stringValue == server.url)
            #expect(record["token"]?.stringValue?.hasPrefix(EKSToken.prefix) == true)
            #expect(!FileManager.default.fileExists(atPath: record["kubeconfig"]?.stringValue ?? ""))
        }
        let again = try await ws.plan()
        #expect(!again.hasResourceChanges, "\(again.changes.filter { $0.action != .noop }.map(\.address))")
        let destroyed = try await ws.apply(destroy: true)
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        #expect(server.object(resource: "configmaps", namespace: "monitoring", name: "monitoring-config") == nil)
    }
}

/// Apply events as "started ADDR" / "completed ADDR" lines, in order.
final class KubeEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []

    func record(_ event: ApplyEvent) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case .started(let address, _): entries.append("started \(address)")
        case .completed(let address, _, _, _): entries.append("completed \(address)")
        case .progress(let address, _, let message, _): entries.append("progress \(address): \(message)")
        default: break
        }
    }

    var lines: [String] { lock.lock(); defer { lock.unlock() }; return entries }
}

import Foundation
import KubeTestServer
import Testing
@testable import AWSProvider
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackState
@testable import EthstackProviderAPI

/// `ethstack import --discover … --generate FILE` against moto: the AWS layer of the seed is made
/// (by ethstack, in its own region, through the real pipeline), then discovered by another stack
/// through a logging proxy that shows every call. The generated stack must validate, refer between
/// the objects instead of repeating their ids, plan no changes with the state written beside it,
/// and come out byte for byte the same the second time; discovery must make no mutating call.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"),
       .timeLimit(.minutes(5)))
struct DiscoveryTests {
    struct Run {
        var status: Int32
        var text: String
        var output: String
    }

    static func environment(_ endpoint: String) -> [String: String] {
        ["AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret",
         "HOME": "/nonexistent", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": ""]
    }

    /// Runs a discovery into `file` with its own state, and returns the generated text.
    static func discover(_ source: String, region: String, endpoint: String, in dir: String, file: String) throws -> Run {
        let r = try EthstackBinary.run(["import", "--discover", source, "--generate", file, "--stack-name", "adopted",
                                        "--state", "\(file).db", "--region", region, "--scope", "aws"],
                                       in: dir, environment: environment(endpoint), timeout: 120)
        let text = (try? String(contentsOfFile: "\(dir)/\(file)", encoding: .utf8)) ?? ""
        return Run(status: r.status, text: text, output: r.stdout + r.stderr)
    }

    /// The proxy log's calls as "METHOD Action-or-path", and whether each only reads.
    static func calls(_ log: String) throws -> [String] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            let method = parts.first ?? ""
            if parts.count == 3, let action = parts[2].split(separator: "&").first(where: { $0.hasPrefix("Action=") }) {
                return "\(method) \(action.dropFirst("Action=".count))"
            }
            let path = parts.count > 1 ? parts[1] : ""
            return "\(method) \(path.split(separator: "?").first ?? "")"
        }
    }

    static func isRead(_ call: String) -> Bool {
        let parts = call.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return false }
        if parts[0] == "GET" || parts[0] == "HEAD" { return true }
        return parts[0] == "POST" && ["Describe", "List", "Get"].contains { parts[1].hasPrefix($0) }
    }

    /// The generated stack's lines without comments (which name ids for people).
    static func code(_ text: String) -> String {
        text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
    }

    @Test(arguments: ["eks", "tag"])
    func theSeedsAWSLayerIsDiscoveredAndItsGeneratedStackPlansNoChanges(_ kind: String) async throws {
        let region = kind == "eks" ? "ap-southeast-4" : "ap-southeast-5"
        let stack = try await AWSStack(region: region)
        let applied = try await stack.apply()
        #expect(applied.succeeded, "\(applied.failures)")
        let made = try await stack.state().resources
        let source = kind == "eks" ? "eks:\(stack.clusterName)" : "tag:ethstack:stack=\(stack.stackName)"

        let proxy = try await AWSStackTests.loggingProxy()
        defer { proxy.process.terminate() }
        let dir = stack.workspace.dir
        let first = try Self.discover(source, region: region, endpoint: proxy.url, in: dir, file: "adopted.yaml")
        #expect(first.status == 0, "\(first.output)")
        let calls = try Self.calls(proxy.log)
        print("discovery \(source): \(first.output)")
        if ProcessInfo.processInfo.environment["ETHSTACK_SHOW_GENERATED"] != nil { print(first.text) }
        var counts: [String: Int] = [:]
        for c in calls { counts[c.split(separator: " ").prefix(2).joined(separator: " "), default: 0] += 1 }
        print("discovery calls by method and action: \(counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")
        let writes = calls.filter { !Self.isRead($0) }
        #expect(writes.isEmpty, "discovery must only read: \(writes)")

        // Every object the layer made (but the bucket, which is not part of a cluster) is adopted.
        let adopted = try await SQLStateStore.sqlite(path: "\(dir)/adopted.yaml.db").load(stack: "adopted").resources
        let expected = Set(made.values.filter { kind == "tag" || $0.type != "aws.s3_bucket" }.map(\.id))
        #expect(Set(adopted.values.map(\.id)) == expected, "missing: \(expected.subtracting(adopted.values.map(\.id)))")

        // References, not literal ids; families and variables.
        let code = Self.code(first.text)
        // (Names the user chose, a cluster's or a role's, are variables' defaults or properties.)
        for id in adopted.values.map(\.id) where ValueRenderer.looksLikeID(id) {
            #expect(!code.contains("\"\(id)\""), "literal id \(id) in the generated stack")
        }
        #expect(code.contains("${vpc.id}"), "\(first.text)")
        #expect(code.contains("for_each"), "\(first.text)")
        #expect(code.contains("${var.region}${each.key}"), "\(first.text)")
        #expect(code.contains(#"nat_gateway_id: "${nat_gateway.id}""#), "\(first.text)")
        #expect(code.contains(#"subnet_id: "${public_subnet[\"a\"].id}""#), "\(first.text)")
        #expect(code.contains(#"subnet_ids: "${private_subnet[*].id}""#), "\(first.text)")
        #expect(code.contains(#"cluster_name: "${eks_cluster.name}""#), "\(first.text)")
        #expect(code.contains(#"subnet_ids: "${concat(private_subnet[*].id, public_subnet[*].id)}""#), "\(first.text)")
        #expect(code.contains(#"Name: "${var.cluster_name}-private-${each.key}""#), "\(first.text)")
        #expect(code.contains(".arn}"), "roles by reference: \(first.text)")

        // THE test: the first plan of the generated stack, with its state, is empty.
        let plan = try EthstackBinary.run(["plan", "--stack", "adopted.yaml", "--state", "adopted.yaml.db", "--detailed-exitcode"],
                                          in: dir, environment: Self.environment(stack.endpoint))
        #expect(plan.status == 0, "\(plan.stdout)\n\(plan.stderr)\n\(first.text)")
        #expect(plan.stdout.contains("No changes."), "\(plan.stdout)")

        // Deterministic: the same deployment gives the same file.
        let second = try Self.discover(source, region: region, endpoint: stack.endpoint, in: dir, file: "again.yaml")
        #expect(second.status == 0, "\(second.output)")
        #expect(second.text == first.text)
    }

    /// moto has no add-ons, access entries or pod identity associations (404 "Not yet implemented"):
    /// through the EKS stand-in in front of it, they are discovered with the cluster and adopted.
    @Test func addOnsAccessEntriesAndPodIdentitiesOfAClusterAreAdoptedThroughTheStandIn() async throws {
        let region = "ap-south-2"
        let endpoint = try await AWSEKSAddonTests.standin()
        let aws = try await AWSTestServers.provider(region: region, endpoint: endpoint)
        let helper = AWSProviderTests()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (cluster, role) = try await AWSEKSAddonTests().cluster(aws, suffix)
        let cni = try await helper.create(aws, "aws.eks_addon", "vpc_cni", [
            "cluster_name": .string(cluster.id), "addon_name": "vpc-cni", "configuration_values": "{\"enableNetworkPolicy\": \"true\"}",
        ])
        let principal = "arn:aws:iam::123456789012:role/platform-team-\(suffix)"
        let entry = try await helper.create(aws, "aws.eks_access_entry", "team", [
            "cluster_name": .string(cluster.id), "principal_arn": .string(principal),
            "access_policies": [["policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"]],
        ])
        let association = try await helper.create(aws, "aws.eks_pod_identity_association", "logs", [
            "cluster_name": .string(cluster.id), "namespace": "logging", "service_account": "fluent-bit",
            "role_arn": role.attributes["arn"] ?? .null,
        ])

        let found = try await aws.discover(DiscoverRequest(selector: .eksCluster(cluster.id)))
        let ids = Set(found.objects.map(\.id))
        #expect(ids.isSuperset(of: [cluster.id, role.id, cni.id, entry.id, association.id]), "\(ids)")
        #expect(found.notes.isEmpty, "\(found.notes)")
        #expect(found.calls > 0)

        // Generated, adopted, planned in process: no changes; the principal nobody discovered stays literal, said so.
        let ws = Workspace(providers: [AWSProvider(environment: Self.environment(endpoint))])
        var options = StackGenerator.Options(stackName: "addons-\(suffix)", command: "test", region: region)
        options.providers = ["aws": ["region": "${var.region}"]]
        let output = StackGenerator(registry: ws.registry).generate(found.objects.map { .init(provider: "aws", object: $0) }, options: options)
        ws.write("stack.yaml", output.text)
        #expect(output.text.contains("was not discovered: kept literal"), "\(output.text)")
        #expect(output.text.contains(#"role_arn: "${iam_role.arn}""#), "\(output.text)")
        let session = try ws.session()
        try await Importer(session: session).adopt(output.placed, store: try await ws.store())
        let plan = try await ws.plan()
        #expect(!plan.hasChanges, "\(plan.changes.filter { $0.action != .noop }.map { "\($0.address) \($0.action)" })\n\(output.text)")
    }

    /// `context:NAME --namespace NS --scope cluster`: the Kubernetes objects of a namespace made by
    /// hand (Kubernetes API test server), generated and adopted; the plan of the stack is empty.
    @Test func theObjectsOfANamespaceAreAdoptedThroughAKubeconfigContext() async throws {
        let server = try await KubeStack.server(standardCRDs: false)
        defer { server.shutdown() }
        for manifest in [
            #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps","labels":{"team":"eth"}}}"#,
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"apps"},"data":{"mode":"a","peers":"8"}}"#,
            #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"el-rpc","namespace":"apps"},"spec":{"selector":{"app":"el"},"ports":[{"name":"rpc","port":8545,"targetPort":8545}]}}"#,
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"elsewhere","namespace":"default"},"data":{"x":"1"}}"#,
            // A Kurtosis enclave as Kurtosis leaves it in the cluster: its namespace, a service and its pod.
            #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kt-testnet","labels":{"kurtosistech.com/app-id":"kurtosis","kurtosistech.com/enclave-id":"e1"}}}"#,
            #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"el-1-reth-lighthouse","namespace":"kt-testnet","labels":{"kurtosistech.com/resource-type":"user-service","kurtosistech.com/id":"el-1-reth-lighthouse"}},"spec":{"ports":[{"name":"rpc","port":8545}]}}"#,
            #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"el-1-reth-lighthouse","namespace":"kt-testnet","labels":{"kurtosistech.com/resource-type":"user-service","kurtosistech.com/id":"el-1-reth-lighthouse"}},"spec":{"containers":[{"name":"el","image":"reth"}]}}"#,
        ] {
            _ = try server.create(try KubeJSON.parse(manifest))
        }
        let ws = Workspace()
        let kubeconfig = try KTS.kubeconfig(server, in: ws.dir)
        var env = ["KUBECONFIG": kubeconfig, "HOME": "/nonexistent"]
        // A Helm release installed by hand: adopted with its values as deployed; its objects are the release's.
        let helm = try #require(KTS.helmPath(), "helm not found: run Tests/Support/install-helm.sh")
        try FileManager.default.createDirectory(atPath: ws.dir + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: ws.dir + "/bin/kurtosis", withDestinationPath: CLITools.kurtosisStandin)
        env["PATH"] = (helm as NSString).deletingLastPathComponent + ":" + ws.dir + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        CLITools.writeTinyChart(ws)
        let installed = try await KTS.run(helm, ["install", "app", "\(ws.dir)/charts/tiny", "--namespace", "apps", "--kubeconfig", kubeconfig,
                                                 "--set", "greeting=hello"], env: env.merging(["HELM_CACHE_HOME": ws.dir + "/helm"]) { a, _ in a })
        #expect(installed.status == 0, "\(installed.stderr)")
        var r = try EthstackBinary.run(["import", "--discover", "context:test", "--namespace", "apps", "--namespace", "kt-testnet",
                                        "--scope", "cluster", "--generate", "apps.yaml", "--stack-name", "apps", "--state", "apps.db"], in: ws.dir, environment: env)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let text = (try? String(contentsOfFile: "\(ws.dir)/apps.yaml", encoding: .utf8)) ?? ""
        #expect(text.contains("configmap_settings:") && text.contains("service_el_rpc:") && text.contains("namespace_apps:"), "\(text)")
        #expect(!text.contains("elsewhere"), "only the namespaces asked for: \(text)")
        #expect(text.contains("depends_on:\n      - namespace_apps"), "\(text)")
        #expect(r.stderr.contains("the Kurtosis engine is not discovered"), "\(r.stderr)")
        #expect(text.contains("  release:\n    type: helm.release") && text.contains("greeting: \"hello\""), "\(text)")
        #expect(!text.contains("configmap_app_config"), "the release's ConfigMap is the release's: \(text)")
        #expect(text.contains("type: kurtosis.enclave") && text.contains("name: \"testnet\"") && text.contains("ignore_changes:"), "\(text)")
        #expect(!text.contains("el_1_reth"), "the enclave's objects are Kurtosis's: \(text)")
        r = try EthstackBinary.run(["plan", "--stack", "apps.yaml", "--state", "apps.db", "--detailed-exitcode"], in: ws.dir, environment: env)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)\n\(text)")
        // Again: the same bytes.
        r = try EthstackBinary.run(["import", "--discover", "context:test", "--namespace", "apps", "--namespace", "kt-testnet",
                                    "--scope", "cluster", "--generate", "again.yaml", "--stack-name", "apps", "--state", "again.db"], in: ws.dir, environment: env)
        #expect(r.status == 0)
        #expect((try? String(contentsOfFile: "\(ws.dir)/again.yaml", encoding: .utf8)) == text)
    }

    /// `eks:CLUSTER --namespace NS` (scope both): the AWS side and, through the cluster's endpoint
    /// (the EKS stand-in points it at the Kubernetes API test server), the cluster side, in one
    /// stack whose kubernetes provider is configured from the adopted cluster; its plan is empty.
    @Test func anEKSClustersAWSAndKubernetesSidesAreAdoptedTogether() async throws {
        let server = try await KubeStack.server(standardCRDs: false)
        defer { server.shutdown() }
        _ = try server.create(try KubeJSON.parse(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}}"#))
        _ = try server.create(try KubeJSON.parse(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"apps"},"data":{"mode":"a"}}"#))
        let upstream = try await AWSTestServers.moto()
        let port = AWSTestServers.freePort()
        let standin = try AWSTestServers.spawn([AWSTestServers.which("python3") ?? "python3",
                                                AWSTestServers.supportDirectory.appendingPathComponent("eks_api_standin.py").path, String(port), upstream],
                                               environment: ["EKS_STANDIN_CLUSTER_ENDPOINT": server.url])
        defer { standin.terminate() }
        let endpoint = "http://127.0.0.1:\(port)"
        try await AWSTestServers.waitUntilAnswering(endpoint + "/__standin/state")
        let region = "il-central-1"
        let aws = try await AWSTestServers.provider(region: region, endpoint: endpoint)
        let (cluster, _) = try await AWSEKSAddonTests().cluster(aws, UUID().uuidString.prefix(8).lowercased())

        let ws = Workspace()
        let env = Self.environment(endpoint)
        var r = try EthstackBinary.run(["import", "--discover", "eks:\(cluster.id)", "--namespace", "apps", "--generate", "whole.yaml",
                                        "--stack-name", "whole", "--state", "whole.db", "--region", region], in: ws.dir, environment: env,
                                       timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let text = (try? String(contentsOfFile: "\(ws.dir)/whole.yaml", encoding: .utf8)) ?? ""
        #expect(text.contains("type: aws.eks_cluster") && text.contains("configmap_settings:"), "\(text)")
        #expect(text.contains(#"host: "${eks_cluster.endpoint}""#), "\(text)")
        r = try EthstackBinary.run(["plan", "--stack", "whole.yaml", "--state", "whole.db", "--detailed-exitcode"], in: ws.dir,
                                   environment: env, timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)\n\(text)")
    }

    @Test func sourcesAreParsedWithTheirErrors() throws {
        #expect(try Discovery.SourceKind("eks:eth-testnet") == .eks("eth-testnet"))
        #expect(try Discovery.SourceKind("tag:ethstack:stack=eth-aws") == .tag(key: "ethstack:stack", value: "eth-aws"))
        #expect(try Discovery.SourceKind("context:kind-eth") == .context("kind-eth"))
        #expect(throws: DiagnosticsError.self) { try Discovery.SourceKind("ekss:x") }
        #expect(throws: DiagnosticsError.self) { try Discovery.SourceKind("tag:novalue") }
    }
}

import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel

/// The stack files shipped in stacks/ stay valid, and the whole seed deployment plans in one run.
@Suite struct StackFilesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static var stackFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(repository)/stacks")) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func everyShippedStackValidates() throws {
        #expect(Self.stackFiles.contains("ethereum-testnet.yaml"))
        #expect(Self.stackFiles.contains("example.yaml"))
        for file in Self.stackFiles {
            // ETHSTACK_VAR_ values of variables a stack does not declare are ignored.
            let result = try EthstackBinary.run(["validate", "--stack", "stacks/\(file)"], in: Self.repository,
                                                environment: ["ETHSTACK_VAR_grafana_htpasswd": "admin:x",
                                                              "ETHSTACK_VAR_validator_mnemonic": "test words"])
            #expect(result.status == 0, "\(file): \(result.stderr)")
        }
    }

    @Test func theWholeSeedPlansInOneRunWithProvidersConfiguredFromTheCluster() throws {
        let ws = Workspace()
        let r = try EthstackBinary.run(["plan", "--stack", "stacks/ethereum-testnet.yaml", "--state", "\(ws.dir)/seed.db",
                                        "--var", "grafana_htpasswd=admin:$2y$05$secrethash",
                                        "--var", "validator_mnemonic=test words", "--json"],
                                       in: Self.repository,
                                       environment: ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                                                     "AWS_ENDPOINT_URL": "http://127.0.0.1:9"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("secrethash"))
        let plan = try Value.parseJSON(r.stdout)
        let changes = plan["resource_changes"]?.listValue ?? []
        let types = Set(changes.compactMap { $0["type"]?.stringValue })
        for type in ["aws.vpc", "aws.eks_cluster", "aws.eks_node_group", "aws.s3_bucket", "helm.release",
                     "kubernetes.manifest", "kurtosis.engine", "kurtosis.enclave"] {
            #expect(types.contains(type), "the seed stack has a \(type)")
        }
        #expect(changes.allSatisfy { $0["change"]?["actions"] == ["create"] })
        // Objects on the cluster are planned before the cluster exists: their computed values are unknown.
        let rpc = try #require(changes.first { $0["address"] == "el_rpc" })
        #expect(rpc["change"]?["after_unknown"]?["load_balancer_hostname"] == true)
        #expect(plan["output_changes"]?["rpc_url"]?["after_unknown"] == true)
    }
}

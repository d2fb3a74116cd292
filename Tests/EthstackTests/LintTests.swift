import Foundation
import KubeTestServer
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackReview

/// `ethstack lint` and the lint section of `plan`, run with the real binary over the seed stack and
/// small fixtures: what the seed shipped before (a public Grafana, the package's mnemonic, an API
/// endpoint open to 0.0.0.0/0) is found, a fixed stack passes, suppressions expire.
@Suite struct LintTests {
    static let repository = StackFilesTests.repository
    static let offline = ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"]
    static let packageMnemonic = "giant issue aisle success illegal bike spike question tent bar rely arctic volcano long crawl hungry vocal artwork sniff fantasy very lucky have athlete"

    struct Report {
        var status: Int32
        var json: Value
        var stdout: String
        var stderr: String

        func results(_ rule: String, status: String? = nil) -> [Value] {
            (json["results"]?.listValue ?? []).filter { $0["rule"]?.stringValue == rule && (status == nil || $0["status"]?.stringValue == status) }
        }
        func failing(_ rule: String) -> [String] { results(rule, status: "fail").compactMap { $0["address"]?.stringValue } }
    }

    static func lint(_ args: [String], in dir: String = repository) throws -> Report {
        let r = try EthstackBinary.run(["lint", "--json"] + args, in: dir, environment: offline)
        #expect(r.status == 0 || r.status == 2, "\(r.stderr)")
        return Report(status: r.status, json: try Value.parseJSON(r.stdout), stdout: r.stdout, stderr: r.stderr)
    }

    static func seed(_ vars: [String], state: String) -> [String] {
        ["--stack", "stacks/ethereum-testnet.yaml", "--state", state, "--var", "grafana_htpasswd=admin:$2y$05$secrethash"]
            + vars.flatMap { ["--var", $0] }
    }

    // MARK: - The seed stack as it stands

    @Test func seedStackReportsTheOpenEndpointAndTheDefaultMnemonicAndPassesGrafana() throws {
        let ws = Workspace()
        // As it stands: admin_cidrs defaults to 0.0.0.0/0; the mnemonic is a required secret.
        let asIs = try Self.lint(Self.seed([], state: "\(ws.dir)/seed.db"))
        #expect(asIs.status == 2)
        #expect(asIs.failing("ETH-EKS-001") == ["cluster"])
        #expect(asIs.failing("ETH-SG-001") == ["cluster_access"], "443 open to the world on the API's security group")
        #expect(asIs.failing("ETH-EKS-002") == ["cluster"], "controllerManager and scheduler logs are off")
        // Grafana is behind the ingress with basic auth now: a pass, not a finding.
        #expect(asIs.results("ETH-MON-001", status: "pass").compactMap { $0["address"]?.stringValue } == ["grafana_ingress"])
        #expect(asIs.failing("ETH-MON-001").isEmpty)
        // Without a value for the mnemonic the enclave's args are unknown: unknown until apply, not a guess.
        #expect(asIs.results("ETH-KT-001", status: "unknown until apply").count == 1)
        // The ingress controller's load balancer is public on purpose: suppressed, with the reason.
        #expect(asIs.results("ETH-K8S-001").first { $0["address"] == "ingress_nginx" }?["suppressed"]?["reason"]?.stringValue?.contains("HTTP-01") == true)
        #expect(asIs.results("ETH-K8S-001", status: "pass").count == 3, "el_rpc, el_ws and cl_api answer only rpc_allowed_cidrs")
        // The accepted finding is listed as suppressed, with its reason.
        #expect(asIs.results("ETH-EKS-003").first?["suppressed"]?["reason"]?.stringValue?.contains("creates no KMS key") == true)
        // Given the package's public mnemonic, lint says so, and never prints it.
        let withDefault = try Self.lint(Self.seed(["validator_mnemonic=\(Self.packageMnemonic)"], state: "\(ws.dir)/seed.db"))
        #expect(withDefault.failing("ETH-KT-001") == ["testnet"])
        #expect(!withDefault.stdout.contains("giant issue"))
        // reth's namespaces behind the public RPC load balancers are restricted by el_extra_params.
        #expect(!withDefault.results("ETH-RPC-001", status: "pass").isEmpty)
        #expect(withDefault.failing("ETH-RPC-001").isEmpty)
    }

    @Test func fixedSeedStackPasses() throws {
        let ws = Workspace()
        let fixed = Self.seed(["validator_mnemonic=test test test test test test test test test test test junk",
                               "admin_cidrs=[203.0.113.0/24]",
                               "cluster_log_types=[api,audit,authenticator,controllerManager,scheduler]"], state: "\(ws.dir)/seed.db")
        let report = try Self.lint(fixed)
        #expect(report.status == 0, "\(report.json["results"]?.listValue?.filter { $0["status"] == "fail" && $0["suppressed"] == nil } ?? [])")
        #expect(report.json["summary"]?["findings"] == 0)
        #expect(report.json["summary"]?["unknown"] == 0)
        #expect(!report.stdout.contains("test test test"))
        // The text form says the same, and exits 0.
        let text = try EthstackBinary.run(["lint"] + fixed, in: Self.repository, environment: Self.offline)
        #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("Lint: 0 finding(s)"))
    }

    // MARK: - What the seed shipped before: a fixture that reproduces it

    static let before = """
    stack: lint-before
    variables:
      region: { type: string, default: us-east-1 }
    providers:
      aws: { region: "${var.region}" }
      kubernetes: { host: "${cluster.endpoint}", cluster_ca_certificate: "${cluster.certificate_authority}", eks_cluster_name: "${cluster.name}", region: "${var.region}" }
      kurtosis: { host: "${cluster.endpoint}", cluster_ca_certificate: "${cluster.certificate_authority}", eks_cluster_name: "${cluster.name}", region: "${var.region}" }
    resources:
      cluster:
        type: aws.eks_cluster
        properties:
          name: lint-before
          role_arn: arn:aws:iam::123456789012:role/eks
          subnet_ids: [subnet-1, subnet-2]
      testnet:
        type: kurtosis.enclave
        properties:
          name: testnet
          args:
            participants:
              - { el_type: reth, cl_type: lighthouse, count: 2 }
            additional_services: [grafana, prometheus]
      grafana:
        type: kubernetes.manifest
        properties:
          manifest:
            apiVersion: v1
            kind: Service
            metadata: { name: grafana-public, namespace: "${testnet.namespace}" }
            spec:
              type: LoadBalancer
              selector: { kurtosistech.com/id: grafana }
              ports: [{ name: http, port: 80, targetPort: 3000 }]
      rpc:
        type: kubernetes.manifest
        properties:
          manifest:
            apiVersion: v1
            kind: Service
            metadata: { name: el-rpc, namespace: "${testnet.namespace}" }
            spec:
              type: LoadBalancer
              selector: { kurtosistech.com/id: el-1-reth-lighthouse }
              ports: [{ name: rpc, port: 8545, targetPort: '${testnet.ports["el-1-reth-lighthouse"].rpc}' }]
      debug_pod:
        type: kubernetes.manifest
        properties:
          manifest:
            apiVersion: v1
            kind: Pod
            metadata: { name: debug, namespace: default }
            spec:
              hostNetwork: true
              containers:
                - { name: shell, image: busybox, securityContext: { privileged: true } }
      backups:
        type: aws.s3_bucket
        properties: { bucket: lint-before-backups, versioning: false, sse_algorithm: "", block_public_access: false }
      sg:
        type: aws.security_group
        properties:
          name: nodes
          vpc_id: vpc-1
          ingress:
            - { protocol: tcp, from_port: 30303, to_port: 30303, cidr_blocks: [0.0.0.0/0] }
            - { protocol: udp, from_port: 9000, to_port: 9000, cidr_blocks: [0.0.0.0/0] }
            - { protocol: tcp, from_port: 8545, to_port: 8545, cidr_blocks: [0.0.0.0/0] }
    """

    @Test func theSeedAsItShippedIsFoundRuleByRule() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.before)
        let r = try Self.lint(["--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"], in: ws.dir)
        #expect(r.status == 2)
        #expect(r.failing("ETH-EKS-001") == ["cluster"])
        #expect(r.failing("ETH-MON-001") == ["grafana"], "a LoadBalancer in front of Grafana, no authentication")
        #expect(Set(r.failing("ETH-K8S-001")) == ["grafana", "rpc"])
        #expect(r.failing("ETH-KT-001") == ["testnet"], "no mnemonic in the args: the package's public default")
        #expect(r.failing("ETH-RPC-001") == ["rpc"], "reth's default --http.api has admin, debug, txpool, trace")
        #expect(r.failing("ETH-K8S-003").contains("testnet") && r.failing("ETH-K8S-003").contains("debug_pod"))
        #expect(r.failing("ETH-K8S-004").count == 2, "hostNetwork and a privileged container")
        #expect(Set(r.failing("ETH-S3-001") + r.failing("ETH-S3-002") + r.failing("ETH-S3-003")) == ["backups"])
        // P2P ports open to the world pass; the RPC port does not.
        let sg = r.results("ETH-SG-001")
        #expect(sg.filter { $0["status"] == "pass" }.count == 2 && sg.filter { $0["status"] == "fail" }.count == 1)
        // Each result carries why, the fix and the checkov/trivy ids.
        let endpoint = try #require(r.results("ETH-EKS-001").first)
        #expect(endpoint["severity"] == "critical")
        #expect(endpoint["checkov"]?.listValue?.contains("CKV_AWS_38") == true && endpoint["trivy"]?.listValue?.contains("AWS-0041") == true)
        #expect(!(endpoint["why"]?.stringValue ?? "").isEmpty && !(endpoint["fix"]?.stringValue ?? "").isEmpty)

        // --severity: only critical counts, and there are critical findings.
        let critical = try EthstackBinary.run(["lint", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db", "--severity", "critical"],
                                              in: ws.dir, environment: Self.offline)
        #expect(critical.status == 2)
        #expect(critical.stdout.contains("CRITICAL ETH-MON-001 grafana"), "\(critical.stdout)")
        #expect(critical.stdout.contains("fix: "))

        // SARIF and Markdown.
        let sarif = try EthstackBinary.run(["lint", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db", "--sarif"], in: ws.dir, environment: Self.offline)
        let log = try Value.parseJSON(sarif.stdout)
        #expect(log["version"] == "2.1.0")
        let results = log["runs"]?.listValue?.first?["results"]?.listValue ?? []
        #expect(results.contains { $0["ruleId"] == "ETH-KT-001" && $0["level"] == "error" })
        let md = try EthstackBinary.run(["lint", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db", "--markdown"], in: ws.dir, environment: Self.offline)
        #expect(md.status == 2)
        #expect(md.stdout.hasPrefix("## ethstack lint: lint-before"))
        #expect(md.stdout.contains("| **critical** | ETH-MON-001 | `grafana` |"))
    }

    @Test func secretsEncryptionPassesWithAKey() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: kms
        providers:
          aws: { region: us-east-1 }
        resources:
          cluster:
            type: aws.eks_cluster
            properties:
              name: kms
              role_arn: arn:aws:iam::123456789012:role/eks
              subnet_ids: [subnet-1]
              secrets_kms_key_arn: arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555
        """)
        let r = try Self.lint(["--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"], in: ws.dir)
        #expect(r.results("ETH-EKS-003", status: "pass").count == 1)
    }

    @Test func rpcNamespacesAreCheckedOnTheParticipantTheServiceSelects() throws {
        let ws = Workspace()
        func stack(_ selected: String) -> String {
            """
            stack: rpc-select
            providers:
              aws: { region: us-east-1 }
              kubernetes: { host: "${cluster.endpoint}", cluster_ca_certificate: "${cluster.certificate_authority}", eks_cluster_name: "${cluster.name}", region: us-east-1 }
              kurtosis: { host: "${cluster.endpoint}", cluster_ca_certificate: "${cluster.certificate_authority}", eks_cluster_name: "${cluster.name}", region: us-east-1 }
            resources:
              cluster:
                type: aws.eks_cluster
                properties: { name: rpc-select, role_arn: "arn:aws:iam::123456789012:role/eks", subnet_ids: [subnet-1] }
              testnet:
                type: kurtosis.enclave
                properties:
                  name: testnet
                  args:
                    network_params: { preregistered_validator_keys_mnemonic: "\(LintTests.packageMnemonic.replacingOccurrences(of: "giant", with: "other"))" }
                    participants:
                      - { el_type: reth, cl_type: lighthouse, count: 2, el_extra_params: ["--http.api=eth,net,web3"] }
                      - { el_type: reth, cl_type: lighthouse, count: 1 }
              rpc:
                type: kubernetes.manifest
                properties:
                  manifest:
                    apiVersion: v1
                    kind: Service
                    metadata: { name: el-rpc, namespace: kt-testnet }
                    spec:
                      type: LoadBalancer
                      loadBalancerSourceRanges: [10.0.0.0/8]
                      selector: { kurtosistech.com/id: \(selected) }
                      ports: [{ name: rpc, port: 8545, targetPort: 8545 }]
            """
        }
        // el-2 is the second node of the first entry (restricted); el-3 the only node of the second (reth's default).
        ws.write("two.yaml", stack("el-2-reth-lighthouse"))
        let two = try Self.lint(["--stack", "two.yaml", "--state", "\(ws.dir)/a.db"], in: ws.dir)
        #expect(two.failing("ETH-RPC-001").isEmpty && two.results("ETH-RPC-001", status: "pass").count == 1, "\(two.results("ETH-RPC-001"))")
        ws.write("three.yaml", stack("el-3-reth-lighthouse"))
        let three = try Self.lint(["--stack", "three.yaml", "--state", "\(ws.dir)/b.db"], in: ws.dir)
        #expect(three.failing("ETH-RPC-001") == ["rpc"])
        #expect(three.results("ETH-RPC-001").count == 1)
    }

    // MARK: - Suppressions

    @Test func suppressionsNeedAReasonAndExpire() throws {
        let ws = Workspace()
        func stack(_ lint: String) -> String {
            """
            stack: lint-suppress
            providers:
              aws: { region: us-east-1 }
            resources:
              backups:
                type: aws.s3_bucket
                properties: { bucket: b, versioning: false }
            \(lint)
            """
        }
        ws.write("accepted.yaml", stack("    lint: { ignore: [CKV_AWS_21], reason: scratch bucket, until: 2999-12-31 }"))
        let accepted = try Self.lint(["--stack", "accepted.yaml", "--state", "\(ws.dir)/a.db"], in: ws.dir)
        #expect(accepted.status == 0, "a checkov id names the rule it maps to")
        #expect(accepted.results("ETH-S3-002").first?["suppressed"]?["reason"] == "scratch bucket")

        ws.write("expired.yaml", stack("    lint: { ignore: [ETH-S3-002], reason: scratch bucket, until: 2020-01-31 }"))
        let expired = try EthstackBinary.run(["lint", "--stack", "expired.yaml", "--state", "\(ws.dir)/e.db"], in: ws.dir, environment: Self.offline)
        #expect(expired.status == 2)
        #expect(expired.stdout.contains("expired on 2020-01-31"), "\(expired.stdout)")
        #expect(expired.stdout.contains("ETH-S3-002 backups"))

        ws.write("typo.yaml", stack("    lint: { ignore: [ETH-S3-02], reason: scratch bucket }"))
        let typo = try EthstackBinary.run(["lint", "--stack", "typo.yaml", "--state", "\(ws.dir)/t.db"], in: ws.dir, environment: Self.offline)
        #expect(typo.stdout.contains("names \"ETH-S3-02\", which no rule has"), "\(typo.stdout)")

        ws.write("noreason.yaml", stack("    lint: { ignore: [ETH-S3-002] }"))
        let noReason = try EthstackBinary.run(["lint", "--stack", "noreason.yaml"], in: ws.dir, environment: Self.offline)
        #expect(noReason.status == 1)
        #expect(noReason.stderr.contains("\"lint\" needs a \"reason\""), "\(noReason.stderr)")
    }

    // MARK: - Unknown until apply, decided after it

    @Test func anUnknownResultIsDecidedOnceApplyHasRecordedTheValue() async throws {
        let server = try await KubeStack.server()
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        // The Service's source ranges depend on another resource's id: known only after apply.
        ws.write("stack.yaml", Self.afterApply(server))
        let stack = try ws.session().stack
        let before = LintReport(plan: try await ws.plan(), stack: stack)
        #expect(before.results.filter { $0.rule.id == "ETH-K8S-001" }.map(\.status) == [.unknown])
        #expect(before.findings.isEmpty, "an unknown is not a finding")
        _ = try await ws.apply()
        let after = LintReport(plan: try await ws.plan(), stack: stack)
        let decided = after.results.filter { $0.rule.id == "ETH-K8S-001" }
        #expect(decided.map(\.status) == [.fail], "\(decided.map(\.message))")
        #expect(decided.first?.message.contains("0.0.0.0/0") == true)
    }

    @Test func applySaysWhatItDecidedOfTheUnknowns() async throws {
        let server = try await KubeStack.server()
        defer { server.shutdown() }
        let ws = Workspace()
        ws.write("stack.yaml", Self.afterApply(server))
        let r = try EthstackBinary.run(["apply", "--auto-approve", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Lint, decided after apply:\n  HIGH ETH-K8S-001 rpc: public load balancer el-rpc on port(s) 8545"), "\(r.stdout)")
        // Nothing was unknown the second time: no such section.
        let again = try EthstackBinary.run(["apply", "--auto-approve", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"], in: ws.dir)
        #expect(again.status == 0 && !again.stdout.contains("decided after apply"), "\(again.stdout)")
    }

    static func afterApply(_ server: KubeTestServer) -> String {
        """
        stack: lint-after-apply
        providers:
          kubernetes: { host: "\(server.url)", token: "not-a-real-token" }
        resources:
          ranges:
            type: core.data
            properties: { input: source ranges }
          rpc:
            type: kubernetes.manifest
            properties:
              manifest:
                apiVersion: v1
                kind: Service
                metadata: { name: el-rpc, namespace: default }
                spec:
                  type: LoadBalancer
                  loadBalancerSourceRanges: ['${ranges.id == "" ? "10.0.0.0/8" : "0.0.0.0/0"}']
                  selector: { app: reth }
                  ports: [{ name: rpc, port: 8545, targetPort: 8545 }]
        """
    }

    // MARK: - Every plan has a lint section

    @Test func planShowsTheLintInTextAndJSON() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.before)
        let text = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"], in: ws.dir, environment: Self.offline)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("Lint: "), "\(text.stdout)")
        #expect(text.stdout.contains("ETH-EKS-001 cluster"))
        let json = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db", "--json"], in: ws.dir, environment: Self.offline)
        let plan = try Value.parseJSON(json.stdout)
        #expect((plan["lint"]?["summary"]?["findings"]?.intValue ?? 0) > 0)
    }
}

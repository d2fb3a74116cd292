import Foundation
import KubeTestServer
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackReview

/// `ethstack plan --cost`, `ethstack cost`, `plan --markdown` and scripts/regenerate-prices, with
/// the real binary and the real script: figures a reviewer can check by hand against the table.
@Suite struct CostTests {
    static let repository = StackFilesTests.repository
    static let offline = LintTests.offline
    static let vendored = "\(repository)/Sources/EthstackReview/Cost/aws-prices.json"

    static func seedArgs(_ state: String, _ extra: [String] = []) -> [String] {
        ["--stack", "stacks/ethereum-testnet.yaml", "--state", state,
         "--var", "grafana_htpasswd=admin:$2y$05$secrethash",
         "--var", "validator_mnemonic=test test test test test test test test test test test junk",
         "--var", "alert_slack_url=https://hooks.slack.com/services/T0/B0/supersecret"] + extra
    }

    static func line(_ cost: Value, _ address: String, _ component: String) -> Value? {
        cost["lines"]?.listValue?.first { $0["address"]?.stringValue == address && ($0["component"]?.stringValue ?? "").hasPrefix(component) }
    }

    static func after(_ cost: Value, _ address: String, _ component: String) -> Double? {
        line(cost, address, component)?["monthly_after"]?.numberValue
    }

    @Test func seedStackMonthlyCostLineByLine() throws {
        let ws = Workspace()
        let r = try EthstackBinary.run(["plan", "--cost", "--json", "--prices", Self.vendored] + Self.seedArgs("\(ws.dir)/s.db"),
                                       in: Self.repository, environment: Self.offline)
        #expect(r.status == 0, "\(r.stderr)")
        let cost = try #require(try Value.parseJSON(r.stdout)["cost"])
        // 730 h a month at the table's us-east-1 prices.
        #expect(Self.after(cost, "cluster", "EKS control plane") == 73.0)
        #expect(Self.after(cost, "nodes", "worker instances (on-demand)") == 1489.2)       // 3 × 0.68 × 730
        #expect(Self.after(cost, "nodes", "worker root volumes") == 48.0)                  // 3 × 200 GB × 0.08
        #expect(Self.after(cost, "nat", "NAT gateway hours") == 32.85)                     // 0.045 × 730
        #expect(Self.after(cost, "nat_eip", "public IPv4") == 3.65)                        // 0.005 × 730
        for lb in ["el_rpc", "el_ws", "cl_api"] { #expect(Self.after(cost, lb, "network load balancer") == 16.43) }
        #expect(Self.after(cost, "ingress_nginx", "ingress-nginx controller") == 16.43)
        // 8 × 100,000 MB + 8 × 50,000 MB = 1,171.875 GiB of gp3 on fast-ssd.
        #expect(Self.after(cost, "testnet", "participants' volumes (16 × gp3)") == 93.75)
        #expect(Self.after(cost, "testnet", "participants' volumes: throughput") == 80.0)  // 16 × 125 MiB/s × 0.04
        #expect(Self.line(cost, "key_backups", "S3")?["kind"] == "usage-based")
        #expect(Self.line(cost, "nat", "NAT gateway data")?["kind"] == "usage-based")
        #expect(cost["price_date"] == "2026-07-20")
        #expect(cost["monthly"]?["before"] == 0)
        let total = try #require(cost["monthly"]?["after"]?.numberValue)
        let sum = (cost["lines"]?.listValue ?? []).compactMap { $0["monthly_after"]?.numberValue }.reduce(0, +)
        #expect(abs(total - sum) < 0.05)
        #expect(total > 1900 && total < 2000, "\(total)")
        #expect(!r.stdout.contains("supersecret") && !r.stdout.contains("junk"))

        // The text form and the budget.
        let text = try EthstackBinary.run(["plan", "--cost", "--prices", Self.vendored, "--max-monthly-delta", "1000"] + Self.seedArgs("\(ws.dir)/s.db"),
                                          in: Self.repository, environment: Self.offline)
        #expect(text.status == 3, "\(text.stderr)")
        #expect(text.stdout.contains("Monthly: before $0.00, after $"), "\(text.stdout)")
        #expect(text.stdout.contains("[3 × c5.4xlarge × 730 h at 0.68/Hrs, usagetype BoxUsage:c5.4xlarge]"))
        #expect(text.stderr.contains("over --max-monthly-delta"))
        let within = try EthstackBinary.run(["plan", "--prices", Self.vendored, "--max-monthly-delta", "5000"] + Self.seedArgs("\(ws.dir)/s.db"),
                                            in: Self.repository, environment: Self.offline)
        #expect(within.status == 0, "\(within.stderr)")
    }

    static let nodeStack = """
    stack: spot
    variables:
      capacity: { type: string, default: ON_DEMAND }
      types: { type: list, default: [c5.4xlarge] }
    providers:
      aws: { region: us-east-1 }
    resources:
      nodes:
        type: aws.eks_node_group
        properties:
          cluster_name: c
          name: workers
          node_role_arn: arn:aws:iam::123456789012:role/nodes
          subnet_ids: [subnet-1]
          instance_types: "${var.types}"
          capacity_type: "${var.capacity}"
          disk_size: 100
          min_size: 3
          max_size: 3
          desired_size: 3
    """

    @Test func spotWithSeveralInstanceTypesShowsTheDifference() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.nodeStack)
        // A table regenerated from the shipped Price List excerpt and a spot-price history.
        let fixtures = "\(Self.repository)/Tests/Fixtures/pricelist"
        let gen = try ScriptRun.run("/usr/bin/env", ["python3", "\(Self.repository)/scripts/regenerate-prices", "--source", fixtures,
                                                      "--instance-types", "c5.4xlarge,c5.2xlarge", "--spot-history", "\(fixtures)/spot-price-history.json",
                                                      "--out", "\(ws.dir)/prices.json"])
        #expect(gen.status == 0, "\(gen.stderr)")
        func monthly(_ vars: [String], prices: String) throws -> (Double, Value) {
            let r = try EthstackBinary.run(["plan", "--cost", "--json", "--prices", prices, "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"]
                                           + vars.flatMap { ["--var", $0] }, in: ws.dir, environment: Self.offline)
            #expect(r.status == 0, "\(r.stderr)")
            let cost = try #require(try Value.parseJSON(r.stdout)["cost"])
            return (Self.after(cost, "nodes", "worker instances") ?? -1, cost)
        }
        let (onDemand, _) = try monthly([], prices: "\(ws.dir)/prices.json")
        #expect(onDemand == 1489.2)                                  // 3 × 0.68 × 730
        let (spot, cost) = try monthly(["capacity=SPOT", "types=[c5.2xlarge,c5.4xlarge]"], prices: "\(ws.dir)/prices.json")
        #expect(abs(spot - 591.3) < 0.01, "\(spot)")                // 3 × 0.27 (the dearer type's highest us-east-1 spot price) × 730
        #expect(Self.line(cost, "nodes", "worker instances (spot)")?["note"]?.stringValue?.contains("upper bound") == true)
        // The vendored table has no spot prices (the Price List carries none): the on-demand bound, said so.
        let (bound, vendoredCost) = try monthly(["capacity=SPOT", "types=[c5.2xlarge,c5.4xlarge]"], prices: Self.vendored)
        #expect(bound == 1489.2)
        #expect(Self.line(vendoredCost, "nodes", "worker instances (spot)")?["note"]?.stringValue?.contains("no spot price in the table") == true)
    }

    @Test func regeneratedTableFollowsThePriceListLayout() throws {
        let ws = Workspace()
        let fixtures = "\(Self.repository)/Tests/Fixtures/pricelist"
        let gen = try ScriptRun.run("/usr/bin/env", ["python3", "\(Self.repository)/scripts/regenerate-prices", "--source", fixtures,
                                                      "--instance-types", "c5.4xlarge", "--out", "\(ws.dir)/prices.json"])
        #expect(gen.status == 0, "\(gen.stderr)")
        let table = try Value.parseJSON(try Data(contentsOf: URL(fileURLWithPath: "\(ws.dir)/prices.json")))
        let prices = try #require(table["prices"])
        #expect(prices["us-east-1/eks/cluster-hours"]?["usd"] == 0.1)
        #expect(prices["us-east-1/eks/cluster-hours"]?["sku"] == "TESTEKSCLUSTER1")
        // Linux, shared tenancy, on-demand: not the Windows, dedicated or reserved rows.
        #expect(prices["us-east-1/ec2/c5.4xlarge/on_demand"]?["usd"] == 0.68)
        #expect(prices["us-east-1/ec2/c5.4xlarge/on_demand"]?["sku"] == "TESTC54XLINUX01")
        // The first tier of a tiered price.
        #expect(prices["us-east-1/ebs/gp3/storage"]?["usd"] == 0.08)
        #expect(table["date"] == "2026-11-15")
        #expect(gen.stderr.contains("no price found for us-east-1/elb/network-hours"), "what the excerpt lacks is reported")
    }

    @Test func oldTableWarnsAndCostReadsState() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.nodeStack)
        var table = try Value.parseJSON(try Data(contentsOf: URL(fileURLWithPath: Self.vendored)))
        if case .map(var m) = table { m["date"] = "2000-01-01"; table = .map(m) }
        ws.write("old.json", table.jsonString(pretty: true))
        let r = try EthstackBinary.run(["plan", "--cost", "--prices", "\(ws.dir)/old.json", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"],
                                       in: ws.dir, environment: Self.offline)
        #expect(r.stdout.contains("days old (prices of 2000-01-01)"), "\(r.stdout)")
        // `ethstack cost` prices what state holds: nothing yet.
        let c = try EthstackBinary.run(["cost", "--json", "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"], in: ws.dir, environment: Self.offline)
        #expect(c.status == 0, "\(c.stderr)")
        #expect(try Value.parseJSON(c.stdout)["monthly"]?["after"] == 0)
        let bad = try EthstackBinary.run(["cost", "--prices", "\(ws.dir)/missing.json", "--stack", "stack.yaml"], in: ws.dir, environment: Self.offline)
        #expect(bad.status == 1 && bad.stderr.contains("cannot read the price table"))
    }

    // MARK: - Before and after, and what state holds

    @Test func aChangeShowsBeforeAfterAndDeltaAndCostReadsWhatStateHolds() async throws {
        let server = try await KubeStack.server()
        defer { server.shutdown() }
        let ws = KubeStack.workspace()
        func stack(_ annotations: String) -> String {
            """
            stack: lb-cost
            providers:
              kubernetes: { host: "\(server.url)", token: "not-a-real-token" }
            resources:
              rpc:
                type: kubernetes.manifest
                properties:
                  manifest:
                    apiVersion: v1
                    kind: Service
                    metadata: { name: el-rpc, namespace: default, annotations: \(annotations) }
                    spec:
                      type: LoadBalancer
                      loadBalancerSourceRanges: [10.0.0.0/8]
                      selector: { app: reth }
                      ports: [{ name: rpc, port: 8545, targetPort: 8545 }]
            """
        }
        let table = try PriceTable.load(path: Self.vendored)
        ws.write("stack.yaml", stack("{}"))
        _ = try await ws.apply()
        // State holds a classic load balancer (no annotation): 0.025 × 730.
        let held = CostEstimate(stack: "lb-cost", recorded: ReviewedInstance.recorded(try await ws.state("lb-cost")), table: table,
                                region: "us-east-1")
        #expect(held.after == 18.25 && held.delta == 0)
        let heldText = held.text(style: TextStyle(color: false))
        #expect(heldText.contains("  rpc classic load balancer: $18.25  [730 h at 0.025/Hrs") && heldText.contains("Monthly, what state holds: $18.25"), "\(heldText)")
        // The stack asks for an NLB: 0.0225 × 730 = 16.425; the plan's delta is the difference.
        ws.write("stack.yaml", stack("{ service.beta.kubernetes.io/aws-load-balancer-type: nlb }"))
        let change = CostEstimate(plan: try await ws.plan(), table: table, region: "us-east-1")
        #expect(change.before == 18.25)
        #expect(abs(change.after - 16.425) < 0.0001)
        #expect(abs(change.delta + 1.825) < 0.0001)
        #expect(change.text(style: TextStyle(color: false)).contains("Monthly: before $18.25, after $16.43, delta -$1.82"))
    }

    @Test func aChangedInstanceTypeIsPricedAtItsNewPrice() throws {
        let table = try PriceTable.load(path: Self.vendored)
        func nodes(_ type: String) -> [String: Value] {
            ["instance_types": .list([.string(type)]), "capacity_type": "ON_DEMAND", "desired_size": 3, "disk_size": 200]
        }
        let change = ResourceChange(address: "nodes", type: "aws.eks_node_group", provider: "aws", action: .replace,
                                    before: nodes("c5.4xlarge"), after: nodes("m5.4xlarge"))
        let plan = Plan(stack: "s", stackFile: "s.yaml", stackHash: "", lineage: nil, serial: 0, destroy: false, variables: [:],
                        changes: [change], outputChanges: [], drift: [], recovered: [], warnings: [])
        let cost = CostEstimate(plan: plan, table: table, region: "us-east-1")
        let line = try #require(cost.lines.first { $0.component == "worker instances (on-demand)" })
        #expect(line.before == 1489.2)                                   // 3 × 0.68 × 730
        #expect(abs((line.after ?? 0) - 1681.92) < 0.001)                 // 3 × 0.768 × 730
        #expect(line.priceKey == "us-east-1/ec2/m5.4xlarge/on_demand" && line.unitPrice == 0.768)
        #expect(abs(cost.delta - 192.72) < 0.001)
    }

    // MARK: - Markdown plans

    @Test func seedPlanAsMarkdownIsUnderTheLimitAndMasksSecrets() throws {
        let ws = Workspace()
        let r = try EthstackBinary.run(["plan", "--markdown", "--prices", Self.vendored] + Self.seedArgs("\(ws.dir)/s.db"),
                                       in: Self.repository, environment: Self.offline)
        #expect(r.status == 0, "\(r.stderr)")
        let md = r.stdout
        #expect(md.count < 65_536, "\(md.count)")
        #expect(md.hasPrefix("## ethstack plan: eth-testnet\n\n**Plan: "))
        let lint = try #require(md.range(of: "### Security lint")), cost = try #require(md.range(of: "### Cost estimate"))
        let changes = try #require(md.range(of: "### Changes"))
        #expect(lint.lowerBound < cost.lowerBound && cost.lowerBound < changes.lowerBound)
        #expect(md.contains("<details><summary>+ <code>cluster</code> (aws.eks_cluster) create</summary>"))
        #expect(!md.contains("secrethash") && !md.contains("supersecret") && !md.contains("junk"))
        #expect(md.contains("(sensitive)"))
    }

    @Test func largePlanMarkdownIsTruncatedWithANote() throws {
        let ws = Workspace()
        let big = String(repeating: "x", count: 400)
        ws.write("stack.yaml", """
        stack: big
        resources:
          item:
            type: core.data
            count: 400
            properties: { input: "\(big)-${count.index}" }
        """)
        let r = try EthstackBinary.run(["plan", "--markdown", "--prices", Self.vendored, "--stack", "stack.yaml", "--state", "\(ws.dir)/s.db"],
                                       in: ws.dir, environment: Self.offline)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.count <= 65_536)
        #expect(r.stdout.contains("more resource(s) not shown: the report is truncated to stay under 65536 characters"))
    }
}

/// Runs a program (the price script) with its output in files: no pipes to drain.
enum ScriptRun {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ executable: String, _ arguments: [String]) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-sub-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackModel

/// `checks:` in the stack language and `ethstack check`, against a real HTTP server on loopback
/// (Tests/Support/eth_node_stub.py: JSON-RPC and beacon-API stand-ins).
@Suite(.serialized) struct CheckTests {
    /// Starts the stub node on a free port; `stop()` kills it (SIGKILL: a child may inherit a
    /// blocked SIGTERM). It also exits by itself when this process dies or after 90 s.
    struct StubNode {
        let process: Process
        let url: String
        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        static func start(_ flags: [String] = []) async throws -> StubNode {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: AWSTestServers.which("python3") ?? "/usr/bin/python3")
            process.arguments = [AWSTestServers.supportDirectory.appendingPathComponent("eth_node_stub.py").path, "0",
                                 "--lifetime", "90"] + flags
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The stub binds port 0 and prints the port it got: no pre-picked port another test can take.
            let (reported, firstLine) = await AWSTestServers.reportedPort(of: process, out: out)
            guard let port = reported else { throw TestServerError.notReady("eth_node_stub.py printed \(firstLine.debugDescription)") }
            let node = StubNode(process: process, url: "http://127.0.0.1:\(port)")
            do {
                try await AWSTestServers.waitUntilAnswering(node.url + "/eth/v1/node/peer_count", timeout: 60)
            } catch {
                node.stop()
                throw error
            }
            return node
        }
    }

    static let stack = """
    stack: checks
    variables:
      base: { type: string, default: "http://127.0.0.1:9" }
      token: { type: string, default: none, sensitive: true }
    resources:
      node:
        type: core.data
        properties:
          input: { beacon: "${var.base}" }
    outputs:
      rpc_url: { value: "${var.base}/" }
    checks:
      blocks_advance:
        description: the execution layer produces blocks
        ethereum_rpc: { url: "${outputs.rpc_url}", method: eth_blockNumber }
        expect: { increases_within: 3s }
      peers:
        ethereum_rpc: { url: "${outputs.rpc_url}", method: net_peerCount, params: [] }
        expect: { at_least: 3 }
      el_synced:
        ethereum_rpc: { url: "${outputs.rpc_url}", method: eth_syncing }
        expect: { equals: false }
      beacon_health:
        http: { url: "${node.output.beacon}/eth/v1/node/health" }
        expect: { status: 200 }
      beacon_synced:
        http: { url: "${node.output.beacon}/eth/v1/node/syncing" }
        expect: { json: { "data.is_syncing": false, "data.sync_distance": 0 } }
      beacon_peers:
        http: { url: "${node.output.beacon}/eth/v1/node/peer_count" }
        expect: { path: data.connected, at_least: 5 }
      head_slot_advances:
        http: { url: "${node.output.beacon}/eth/v1/node/syncing" }
        expect: { path: data.head_slot, increases_within: 3s }
        timeout: 2s
      private:
        http: { url: "${node.output.beacon}/private/health", headers: { Authorization: "Bearer ${var.token}" } }
        expect: { status: 200 }
    """

    /// The output line of one check, with the padding after its name collapsed: "✗ peers net_peerCount …".
    func line(_ output: String, _ mark: String, _ name: String) -> String {
        let found = output.split(separator: "\n").first { $0.hasPrefix("\(mark) \(name) ") } ?? ""
        return found.replacingOccurrences(of: " +", with: " ", options: .regularExpression)
    }

    /// A workspace with the stack applied against `node`'s URL (state records it; `check` needs no --var).
    func applied(_ node: StubNode) throws -> Workspace {
        let ws = Workspace()
        ws.write("stack.yaml", Self.stack)
        let r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "base=\(node.url)"], in: ws.dir)
        #expect(r.status == 0, "\(r.stderr)")
        return ws
    }

    @Test func everyCheckPassesAgainstAHealthyNode() async throws {
        let node = try await StubNode.start(["--peers", "7", "--token", "t0ken-abc"])
        defer { node.stop() }
        let ws = try applied(node)
        let r = try EthstackBinary.run(["check", "--stack", "stack.yaml"], in: ws.dir,
                                       environment: ["ETHSTACK_VAR_token": "t0ken-abc"], timeout: 30)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        for name in ["blocks_advance", "peers", "el_synced", "beacon_health", "beacon_synced", "beacon_peers",
                     "head_slot_advances", "private"] {
            #expect(r.stdout.contains("✓ \(name)"), "\(name): \(r.stdout)")
        }
        #expect(r.stdout.contains("net_peerCount 0x7 (7) (at least 3)"), "\(r.stdout)")
        #expect(r.stdout.contains("Checks: 8 passed, 0 failed."))
        #expect(!r.stdout.contains("t0ken-abc") && !r.stderr.contains("t0ken-abc"))

        // Named checks only.
        let some = try EthstackBinary.run(["check", "--stack", "stack.yaml", "peers", "beacon_health"], in: ws.dir, timeout: 30)
        #expect(some.status == 0, "\(some.stdout)\n\(some.stderr)")
        #expect(some.stdout.contains("Checks: 2 passed, 0 failed."))
        #expect(!some.stdout.contains("blocks_advance"))
    }

    @Test func aStuckChainFailsWithTheObservedValues() async throws {
        let node = try await StubNode.start(["--stuck", "--peers", "1"])
        defer { node.stop() }
        let ws = try applied(node)
        ws.write("stack.yaml", Self.stack.replacingOccurrences(of: "increases_within: 3s", with: "increases_within: 1500ms"))
        let started = Date()
        let r = try EthstackBinary.run(["check", "--stack", "stack.yaml"], in: ws.dir, timeout: 30)
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("✗ blocks_advance"))
        #expect(line(r.stdout, "✗", "blocks_advance").contains("eth_blockNumber did not increase within 1.5s: 0x10 (16) → 0x10 (16)"), "\(r.stdout)")
        #expect(line(r.stdout, "✗", "peers").contains("net_peerCount 0x1 (1), expected at least 3"), "\(r.stdout)")
        #expect(line(r.stdout, "✗", "beacon_health").contains("GET HTTP 206, expected 200"), "\(r.stdout)")
        #expect(r.stdout.contains("data.is_syncing is true, expected false"), "\(r.stdout)")
        #expect(r.stdout.contains("✓ el_synced"))
        // Without the token the private endpoint answers 401.
        #expect(line(r.stdout, "✗", "private").contains("GET HTTP 401, expected 200"), "\(r.stdout)")
    }

    @Test func anUnreachableURLIsAFailedCheckWithTheErrorAndSecretsStayHidden() async throws {
        let ws = Workspace()
        let dead = AWSTestServers.freePort()
        ws.write("stack.yaml", """
        stack: dead
        variables:
          key: { type: string, default: s3cr3t-key, sensitive: true }
        resources:
          endpoint:
            type: core.data
            properties: { input: "http://127.0.0.1:\(dead)" }
        outputs:
          private_url: { value: "http://127.0.0.1:\(dead)/${var.key}/rpc", sensitive: true }
        checks:
          open:
            ethereum_rpc: { url: "${endpoint.output}", method: eth_blockNumber }
            expect: { at_least: 1 }
            timeout: 2s
            retries: 1
          hidden:
            http: { url: "${outputs.private_url}" }
            expect: { status: 200 }
            timeout: 2s
        """)
        #expect(try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir).status == 0)
        // Even the debug log of HTTP requests leaves out requests made with sensitive values.
        let r = try EthstackBinary.run(["check", "--stack", "stack.yaml"], in: ws.dir, environment: ["ETHSTACK_LOG": "debug"], timeout: 30)
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("http > POST http://127.0.0.1:\(dead)"), "\(r.stderr)")
        #expect(line(r.stdout, "✗", "open").contains("eth_blockNumber connection failed"), "\(r.stdout)")
        #expect(r.stdout.contains("2 attempts"), "\(r.stdout)")
        #expect(r.stdout.contains("http://127.0.0.1:\(dead)"))
        #expect(r.stdout.contains("✗ hidden"))
        #expect(r.stdout.contains("(sensitive value)"))
        #expect(!r.stdout.contains("s3cr3t-key") && !r.stderr.contains("s3cr3t-key"))

        let j = try EthstackBinary.run(["check", "--stack", "stack.yaml", "--json"], in: ws.dir, timeout: 30)
        #expect(j.status == 2)
        #expect(!j.stdout.contains("s3cr3t-key"))
        let json = try Value.parseJSON(j.stdout)
        let hidden = try #require(json["results"]?.listValue?.first { $0["name"] == "hidden" })
        #expect(hidden["url"] == "(sensitive value)")
        #expect(hidden["outcome"] == "failed")
    }

    /// Runbook 5.3 and 10.1 as the seed stack checks them: the genesis on both layers, a balance
    /// funded at genesis, and a signed transaction sent — again on every later run, where the node's
    /// "already known" / "nonce too low" refusal is accepted (`expect.accept_errors`).
    static let genesisStack = """
    stack: genesis
    variables:
      base: { type: string, default: "http://127.0.0.1:9" }
      account: { type: string, default: "0x5eed00000000000000000000000000000000c0de" }
      raw_tx: { type: string, sensitive: true }
    resources:
      node: { type: core.data, properties: { input: "${var.base}" } }
    checks:
      el_genesis:
        ethereum_rpc: { url: "${node.output}", method: eth_getBlockByNumber, params: ["0x0", false] }
        expect: { json: { number: 0 }, path: timestamp, at_least: 1 }
      cl_genesis:
        http: { url: "${node.output}/eth/v1/beacon/genesis" }
        expect: { json: { "data.genesis_fork_version": "0x10000038" }, path: data.genesis_time, at_least: 1 }
      prefunded_balance:
        ethereum_rpc: { url: "${node.output}", method: eth_getBalance, params: ["${var.account}", latest] }
        expect: { at_least: 1000000000000000000 }
      send_raw_transaction:
        ethereum_rpc: { url: "${node.output}", method: eth_sendRawTransaction, params: ["${var.raw_tx}"] }
        expect: { accept_errors: [already known, nonce too low] }
    """

    @Test func genesisBalanceAndTransactionChecksAndTheirFailures() async throws {
        let rawTx = "0x02f86f83" + String(repeating: "5ec7e7", count: 20)
        let environment = ["ETHSTACK_VAR_raw_tx": rawTx]
        func run(_ flags: [String]) async throws -> (first: EthstackBinary.Result, second: EthstackBinary.Result) {
            let node = try await StubNode.start(["--funded", "0x5EED00000000000000000000000000000000C0DE"] + flags)
            defer { node.stop() }
            let ws = Workspace()
            ws.write("stack.yaml", Self.genesisStack)
            let applied = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "base=\(node.url)"],
                                                 in: ws.dir, environment: environment)
            #expect(applied.status == 0, "\(applied.stderr)")
            let first = try EthstackBinary.run(["check", "--stack", "stack.yaml"], in: ws.dir, environment: environment, timeout: 30)
            let second = try EthstackBinary.run(["check", "--stack", "stack.yaml", "--json", "send_raw_transaction"], in: ws.dir,
                                                environment: environment, timeout: 30)
            return (first, second)
        }

        let healthy = try await run([])
        #expect(healthy.first.status == 0, "\(healthy.first.stdout)\n\(healthy.first.stderr)")
        #expect(healthy.first.stdout.contains("Checks: 4 passed, 0 failed."), "\(healthy.first.stdout)")
        #expect(line(healthy.first.stdout, "✓", "prefunded_balance").contains(#"eth_getBalance "0x3635c9adc5dea00000" (at least 1e+18)"#), "\(healthy.first.stdout)")
        #expect(line(healthy.first.stdout, "✓", "cl_genesis").contains("data.genesis_fork_version = 0x10000038"), "\(healthy.first.stdout)")
        // The transaction was sent by the first run: the second is refused, and that passes.
        #expect(healthy.second.status == 0, "\(healthy.second.stdout)\n\(healthy.second.stderr)")
        let again = try #require(try Value.parseJSON(healthy.second.stdout)["results"]?.listValue?.first)
        #expect(again["outcome"] == "passed")
        let message = again["message"]?.stringValue ?? ""
        #expect(message.contains("accepted error: JSON-RPC error -32000: already known")
                || message.contains("accepted error: JSON-RPC error -32003: nonce too low"), "\(message)")
        for r in [healthy.first, healthy.second] {
            #expect(!r.stdout.contains(rawTx) && !r.stderr.contains(rawTx))
        }

        // A node with no genesis block and a zero genesis time, the account unfunded, and the
        // transaction refused for another reason: every check fails and says why.
        let broken = try await run(["--broken-genesis", "--unfunded", "--reject-transactions"])
        #expect(broken.first.status == 2, "\(broken.first.stdout)\n\(broken.first.stderr)")
        #expect(broken.first.stdout.contains("Checks: 0 passed, 4 failed."), "\(broken.first.stdout)")
        #expect(line(broken.first.stdout, "✗", "el_genesis").contains("the answer has no timestamp"), "\(broken.first.stdout)")
        #expect(line(broken.first.stdout, "✗", "cl_genesis").contains("data.genesis_time = \"0\", expected at least 1"), "\(broken.first.stdout)")
        #expect(line(broken.first.stdout, "✗", "prefunded_balance").contains("0x0 (0), expected at least 1e+18"), "\(broken.first.stdout)")
        #expect(line(broken.first.stdout, "✗", "send_raw_transaction").contains("insufficient funds for gas * price + value"), "\(broken.first.stdout)")
        #expect(!broken.first.stdout.contains(rawTx))
    }

    @Test func aCheckWhoseWhenIsFalseIsSkippedNotFailed() async throws {
        let node = try await StubNode.start()
        defer { node.stop() }
        let ws = Workspace()
        ws.write("stack.yaml", """
            stack: conditional
            variables:
              base: { type: string }
              raw_tx: { type: string, sensitive: true, default: "" }
            resources:
              rpc:
                type: core.data
                properties: { input: "${var.base}" }
            checks:
              blocks:
                ethereum_rpc: { url: "${rpc.output}", method: eth_blockNumber }
                expect: { at_least: 0 }
              send:
                when: '${var.raw_tx != ""}'
                ethereum_rpc: { url: "${rpc.output}", method: eth_sendRawTransaction, params: ["${var.raw_tx}"] }
                expect: { accept_errors: [already known] }
            """)
        #expect(try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve", "--var", "base=\(node.url)"], in: ws.dir).status == 0)
        var r = try EthstackBinary.run(["check", "--stack", "stack.yaml", "--var", "base=\(node.url)"], in: ws.dir, timeout: 30)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Checks: 1 passed, 0 failed, 1 skipped."), "\(r.stdout)")
        #expect(line(r.stdout, "-", "send").contains("skipped"), "\(r.stdout)")
        r = try EthstackBinary.run(["check", "--stack", "stack.yaml", "--json", "--var", "base=\(node.url)"], in: ws.dir, timeout: 30)
        #expect(try Value.parseJSON(r.stdout)["summary"]?["skipped"] == 1, "\(r.stdout)")
        // With a value the check runs (and the stub answers a hash).
        r = try EthstackBinary.run(["check", "--stack", "stack.yaml", "send", "--var", "base=\(node.url)",
                                    "--var", "raw_tx=0x02f86f83\(String(repeating: "ab", count: 40))"], in: ws.dir, timeout: 30)
        #expect(!r.stdout.contains("skipped"), "\(r.stdout)")
        // A literal that is not a bool is refused where it is written.
        ws.write("bad.yaml", """
            stack: bad
            checks:
              c:
                when: maybe
                http: { url: "http://127.0.0.1:9/" }
                expect: { status: 200 }
            """)
        let bad = try EthstackBinary.run(["validate", "--stack", "bad.yaml"], in: ws.dir)
        #expect(bad.status == 1 && bad.stderr.contains("bad.yaml:4:") && bad.stderr.contains("\"when\" must be a bool"), "\(bad.stderr)")
    }

    @Test func acceptErrorsIsALoadedListForJSONRPCOnly() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: bad
        resources:
          node: { type: core.data, properties: { input: x } }
        checks:
          empty:
            ethereum_rpc: { url: "http://x", method: eth_sendRawTransaction }
            expect: { accept_errors: [] }
          not_rpc:
            http: { url: "http://x" }
            expect: { accept_errors: [already known] }
        """)
        let r = try EthstackBinary.run(["validate", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("\"accept_errors\" must be a list of texts"), "\(r.stderr)")
        #expect(r.stderr.contains("\"accept_errors\" applies to ethereum_rpc probes only"), "\(r.stderr)")
    }

    @Test func jsonOutputShape() async throws {
        let node = try await StubNode.start(["--peers", "2"])
        defer { node.stop() }
        let ws = try applied(node)
        let r = try EthstackBinary.run(["check", "--stack", "stack.yaml", "--json", "peers", "blocks_advance", "beacon_peers"],
                                       in: ws.dir, timeout: 30)
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
        let json = try Value.parseJSON(r.stdout)
        #expect(json["format_version"] == "1.0")
        #expect(json["stack"] == "checks")
        let results = try #require(json["results"]?.listValue)
        // In the order declared, whatever order they were named in.
        #expect(results.compactMap { $0["name"]?.stringValue } == ["blocks_advance", "peers", "beacon_peers"])
        let blocks = results[0]
        #expect(blocks["outcome"] == "passed")
        #expect(blocks["passed"] == true)
        #expect(blocks["probe"] == "ethereum_rpc")
        #expect(blocks["method"] == "eth_blockNumber")
        #expect(blocks["url"] == .string(node.url + "/"))
        #expect(blocks["description"] == "the execution layer produces blocks")
        let samples = blocks["observed"]?.listValue ?? []
        #expect(samples.count == 2)
        #expect((samples.last?.quantityValue ?? 0) > (samples.first?.quantityValue ?? 0))
        #expect((blocks["elapsed_seconds"]?.numberValue ?? -1) >= 0)
        #expect(blocks["attempts"] == 1)
        #expect(results[1]["outcome"] == "failed")
        #expect(results[1]["observed"] == ["0x2"])
        #expect(results[1]["message"] == "0x2 (2), expected at least 3")
        #expect(results[2]["outcome"] == "failed")
        #expect(results[2]["observed"] == ["2"])
        #expect(results[2]["message"]?.stringValue?.contains("expected at least 5") == true)
        #expect(json["summary"] == ["passed": 1, "failed": 2, "error": 0, "skipped": 0])
    }

    @Test func checksBeforeApplyAndUnknownNamesAreErrors() throws {
        let ws = Workspace()
        ws.write("stack.yaml", Self.stack)
        var r = try EthstackBinary.run(["check", "--stack", "stack.yaml", "peers", "beacon_health"], in: ws.dir, timeout: 30)
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        #expect(line(r.stdout, "!", "peers") == "! peers the url is not known: outputs.rpc_url is not recorded in state (apply the stack first)", "\(r.stdout)")
        #expect(line(r.stdout, "!", "beacon_health").contains("the url is not known: node.output is not recorded in state"), "\(r.stdout)")
        r = try EthstackBinary.run(["check", "--stack", "stack.yaml", "peer"], in: ws.dir, timeout: 30)
        #expect(r.status == 1)
        #expect(r.stderr.contains("no check named \"peer\" (did you mean \"peers\"?)"), "\(r.stderr)")
        r = try EthstackBinary.run(["check", "--help"], in: ws.dir)
        #expect(r.status == 0)
        #expect(r.stdout.contains("increases_within") && r.stdout.contains("ethstack check"))
    }

    @Test func loadingErrorsHavePositionsAndSuggestions() throws {
        let ws = Workspace()
        ws.write("stack.yaml", """
        stack: bad
        resources:
          node: { type: core.data, properties: { input: x } }
        outputs:
          rpc_url: { value: "http://x" }
        checks:
          typo_key:
            ethereum_rpc: { url: "${outputs.rpc_url}", method: eth_blockNumber }
            expct: { at_least: 1 }
          two_probes:
            ethereum_rpc: { url: "http://a", method: eth_blockNumber }
            http: { url: "http://a" }
            expect: { status: 200 }
          no_expect:
            http: { url: "http://a" }
          no_probe:
            expect: { status: 200 }
          bad_expect:
            http: { url: "http://a", methd: GET }
            expect: { at_lest: 1, at_most: many, increases_within: soon, status: 42 }
          bad_refs:
            http: { url: "${outputs.rpc_ur}/${node.outptu}/${nod.id}/${var.nope}" }
            expect: { json: [1] }
            timeout: forever
            retries: -1
          rpc_no_method:
            ethereum_rpc: { url: "http://a", params: nope }
            expect: { equals: 1 }
        """)
        let d = ws.diagnostics().map(\.description)
        func has(_ text: String, _ sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            #expect(d.contains { $0.hasSuffix(text) }, "missing \(text) in\n\(d.joined(separator: "\n"))", sourceLocation: sourceLocation)
        }
        has("stack.yaml:9:5: error: unknown key \"expct\" in check \"typo_key\" (did you mean \"expect\"?)")
        has("stack.yaml:7:3: error: check \"typo_key\" has no \"expect\" (status, at_least, at_most, equals, json, increases_within)")
        has("stack.yaml:12:5: error: check \"two_probes\" has two probes (\"ethereum_rpc\" and \"http\"): use one")
        has("stack.yaml:14:3: error: check \"no_expect\" has no \"expect\" (status, at_least, at_most, equals, json, increases_within)")
        has("stack.yaml:16:3: error: check \"no_probe\" has no probe: add \"ethereum_rpc\" or \"http\"")
        has("stack.yaml:19:30: error: unknown key \"methd\" in http of check \"bad_expect\" (did you mean \"method\"?)")
        has("stack.yaml:20:15: error: unknown key \"at_lest\" in expect of check \"bad_expect\" (did you mean \"at_least\"?)")
        has("stack.yaml:20:36: error: \"at_most\" must be a number, found string")
        has("stack.yaml:20:60: error: \"increases_within\": \"soon\" is not a duration (e.g. 500ms, 30s, 2m)")
        has("stack.yaml:20:74: error: \"status\" must be an HTTP status code (100-599), found 42")
        has("stack.yaml:23:21: error: \"json\" must be a map of dotted paths to expected values, found list")
        has("stack.yaml:24:14: error: \"timeout\": \"forever\" is not a duration (e.g. 500ms, 30s, 2m)")
        has("stack.yaml:25:14: error: \"retries\" must be a whole number from 0 to 100, found number")
        has("stack.yaml:27:5: error: ethereum_rpc of check \"rpc_no_method\" has no \"method\" (e.g. eth_blockNumber)")
        has("stack.yaml:27:46: error: \"params\" must be a list, found string")

        // References are checked once the structure is right: outputs, attributes, resources, variables.
        ws.write("refs.yaml", """
        stack: refs
        resources:
          node: { type: core.data, properties: { input: x } }
        outputs:
          rpc_url: { value: "http://x" }
        checks:
          bad_refs:
            http: { url: "${outputs.rpc_ur}/${node.outptu}/${nod.id}/${var.nope}" }
            expect: { equals: "${outputs.rpc_url}" }
        """)
        let r = ws.diagnostics("refs.yaml").map(\.description)
        #expect(r.contains { $0.hasSuffix("refs.yaml:8:29: error: no output named \"rpc_ur\" (did you mean \"rpc_url\"?)") }, "\(r)")
        #expect(r.contains { $0.hasSuffix("refs.yaml:8:44: error: core.data \"node\" has no attribute \"outptu\" (did you mean \"output\"?)") }, "\(r)")
        #expect(r.contains { $0.hasSuffix("refs.yaml:8:54: error: no resource named \"nod\" (did you mean \"node\"?)") }, "\(r)")
        #expect(r.contains { $0.hasSuffix("refs.yaml:8:68: error: no variable named \"nope\"") }, "\(r)")
        #expect(r.count == 4, "\(r)")
        // `outputs` is a root only inside checks.
        ws.write("outs.yaml", """
        stack: outs
        resources:
          node: { type: core.data, properties: { input: "${outputs.rpc_url}" } }
        outputs:
          rpc_url: { value: "http://x" }
        """)
        #expect(ws.diagnostics("outs.yaml").map(\.description).contains { $0.contains("no resource named \"outputs\"") })
    }

    @Test func quantitiesAndPaths() {
        #expect(Value.string("0x1a").quantityValue == 26)
        #expect(Value.string("12").quantityValue == 12)
        #expect(Value.number(3).quantityValue == 3)
        #expect(Value.string("0xde0b6b3a7640000").quantityValue == 1e18)
        #expect(Value.string("0x").quantityValue == nil)
        #expect(Value.string("twelve").quantityValue == nil)
        #expect(Value.bool(true).quantityValue == nil)
        let v: Value = ["data": ["head_slot": "42", "list": [["a": 1]]]]
        #expect(v.value(atPath: "data.head_slot") == "42")
        #expect(v.value(atPath: "data.list.0.a") == 1)
        #expect(v.value(atPath: "data.missing") == nil)
        #expect(v.value(atPath: "") == v)
    }
}

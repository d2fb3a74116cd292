import Foundation
import Testing
@testable import EthstackModel

/// The whole `stacks/ethereum-testnet.yaml`, every provider, against the real parts this machine has:
/// moto (+ the EKS stand-in, which points the cluster's endpoint at the Kubernetes API test server),
/// the real helm with the local charts of Tests/Support/charts, the Kurtosis stand-in and the
/// JSON-RPC/beacon stub — brought up by `scripts/local-testnet`, the newcomer's command, so both
/// stay one thing. Then: check passes, a no-op plan is empty, a participant-count change plans only
/// what it should, drift is found, every `ethstack` command in docs/ runs, and destroy leaves
/// nothing but the volumes the stack retains on purpose.
@Suite("The seed stack end to end", .serialized,
       .enabled(if: AWSTestServers.motoAvailable && EndToEnd.helm != nil, "needs moto_server and helm: scripts/install-deps --test"),
       .timeLimit(.minutes(5)))
struct EndToEndTests {
    @Test func theWholeSeedStackComesUpChecksDriftsAndGoesAway() async throws {
        let e2e = try EndToEnd()
        defer { e2e.down() }
        let up = try await e2e.script("up", timeout: 240)
        try #require(up.status == 0, "local-testnet up failed:\n\(up.stdout.suffix(4000))\n\(up.stderr.suffix(4000))")
        let env = try e2e.environment()

        // The runbook's verification, as code.
        let check = try await e2e.script("check", timeout: 120)
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr)")
        #expect(!check.stdout.contains(env["ETHSTACK_VAR_validator_mnemonic"] ?? "-"))
        #expect(!check.stdout.contains(env["ETHSTACK_VAR_smoke_transaction"] ?? "-"))
        // Runbook 5.3 and 10.1: genesis, the prefunded balance, a sent transaction — and sent
        // again by the second run, refused as already known (or mined), which passes.
        for name in ["el_genesis", "cl_genesis", "cl_past_genesis", "el_common_genesis", "prefunded_balance", "send_raw_transaction"] {
            #expect(check.stdout.contains("✓ \(name)"), "\(name): \(check.stdout)")
        }
        let again = try await e2e.ethstack(["check", "send_raw_transaction", "prefunded_balance"], env)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(again.stdout.contains("answered an accepted error"), "\(again.stdout)")

        // Runbook 9.4: the key-backup CronJob is in the cluster, suspended until a recipient is given
        // (docs/operations.md gives one, below).
        let backup = try await KTS.run("\(e2e.dir)/bin/kubectl", [
            "--server", env["KUBERNETES_API"] ?? "", "-n", "key-backup", "get", "cronjob", "validator-key-backup", "-o", "json",
        ], env: env)
        #expect(backup.status == 0, "\(backup.stderr)")
        let cron = try? Value.parseJSON(Data(backup.stdout.utf8))
        #expect(cron?["spec"]?["suspend"] == true, "\(backup.stdout.prefix(500))")
        #expect(cron?["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]?["serviceAccountName"] == "key-backup")

        // The job finds the validator clients by the package's label (the stand-in labels pods as
        // ethereum-package's label_maker does): the four VCs, nothing else.
        let vcs = try await KTS.run("\(e2e.dir)/bin/kubectl", [
            "--server", env["KUBERNETES_API"] ?? "", "-n", "kt-testnet", "get", "pods", "-o", "name",
            "-l", "kurtosistech.com.custom/ethereum-package.client-type=validator",
        ], env: env)
        #expect(vcs.stdout.split(separator: "\n").sorted() == ["pod/vc-1-reth-lighthouse", "pod/vc-2-reth-lighthouse",
                                                                "pod/vc-3-reth-lighthouse", "pod/vc-4-reth-lighthouse"], "\(vcs.stdout)\(vcs.stderr)")

        // Runbook 8.2: each participant's pods carry its zone (the stand-in applies node_selectors
        // as the package does: the participant's, else global_node_selectors).
        for (pod, zone) in [("el-1-reth-lighthouse", "us-east-1a"), ("vc-3-reth-lighthouse", "us-east-1b"),
                            ("cl-8-lighthouse-reth", "us-east-1c")] {
            let got = try await KTS.run("\(e2e.dir)/bin/kubectl", [
                "--server", env["KUBERNETES_API"] ?? "", "-n", "kt-testnet", "get", "pod", pod, "-o", "json",
            ], env: env)
            let selector = (try? Value.parseJSON(Data(got.stdout.utf8)))?["spec"]?["nodeSelector"]
            #expect(selector == .map(["role": "ethereum", "topology.kubernetes.io/zone": .string(zone)]), "\(pod): \(got.stdout.prefix(300))")
        }

        // Nothing changed: the next plan is empty (every provider refreshed).
        let noop = try await e2e.ethstack(["plan", "--detailed-exitcode"], env)
        #expect(noop.status == 0, "a no-op plan has changes:\n\(noop.stdout)\n\(noop.stderr)")

        // One more participant (entry 4, zone b: 2 -> 3 non-validating nodes): the enclave and the quota
        // computed from the same args change, and nothing else.
        let copy = try e2e.stacksCopy { args in
            args.replacingOccurrences(of: "count: 2\n    validator_count: 0", with: "count: 3\n    validator_count: 0")
        }
        let more = try await e2e.ethstack(["plan", "--json"], env, stack: "\(copy)/ethereum-testnet.yaml")
        #expect(more.status == 0, "\(more.stderr)")
        let changes = try EndToEnd.changes(more.stdout)
        #expect(changes["testnet"] == ["delete", "create"], "the enclave is replaced (Kurtosis cannot change one): \(changes)")
        #expect(changes["quota"] == ["update"], "\(changes)")
        // Nothing outside the enclave's namespace moves: no AWS, helm or engine change. Objects
        // whose manifests read the enclave's attributes are re-applied (known after apply).
        let outside = changes.keys.filter { !EndToEnd.inEnclaveNamespace.contains($0) && $0 != "testnet" }
        #expect(outside.isEmpty, "\(outside.sorted())")

        // Drift: a direct edit with kubectl and a node group scaled behind ethstack's back.
        let patched = try await KTS.run("\(e2e.dir)/bin/kubectl", [
            "--server", env["KUBERNETES_API"] ?? "", "-n", "kt-testnet", "patch", "service", "el-rpc", "--type", "merge",
            "-p", #"{"spec":{"loadBalancerSourceRanges":["0.0.0.0/0"]}}"#,
        ], env: env)
        #expect(patched.status == 0, "\(patched.stderr)")
        let scaled = try await KTS.run("/usr/bin/env", ["python3", "-c", EndToEnd.scaleNodeGroup, "eth-testnet", "eth-testnet-workers", "4"],
                                       env: env)
        #expect(scaled.status == 0, "\(scaled.stderr)")
        let drift = try await e2e.ethstack(["drift"], env)
        #expect(drift.status == 2, "drift should exit 2:\n\(drift.stdout)\n\(drift.stderr)")
        // Only what was changed: what the stack made (and what Helm, Kurtosis and controllers made for it) is not unmanaged.
        #expect(!drift.stdout.contains("unmanaged object(s)"), "\(drift.stdout)")
        #expect(drift.stdout.contains("el_rpc") && drift.stdout.contains("nodes"), "\(drift.stdout)")

        // Every ethstack command of the guides, in order; the cleanup guide destroys everything.
        let guides = try e2e.guideDirectory()
        for guide in ["deploy", "operations", "troubleshooting", "drift-ci", "cleanup"] {
            for command in try EndToEnd.commands(inGuide: guide) {
                let r = try await e2e.ethstack(command.arguments, env, stack: nil, cwd: guides, timeout: 150)
                #expect(command.acceptedExits.contains(r.status),
                        "docs/\(guide).md:\(command.line): `\(command.text)` exited \(r.status)\n\(r.stdout.suffix(3000))\n\(r.stderr.suffix(3000))")
                for secret in ["ETHSTACK_VAR_validator_mnemonic", "ETHSTACK_VAR_smoke_transaction"] {
                    #expect(!r.stdout.contains(env[secret] ?? "-") && !r.stderr.contains(env[secret] ?? "-"), "\(secret) in the output")
                }
            }
        }

        // destroy (the cleanup guide's) left nothing in moto or the test server but the volumes
        // the fast-ssd class retains on purpose (docs/cleanup.md says how to remove them).
        let state = try await e2e.ethstack(["state", "list"], env)
        #expect(state.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(state.stdout)")
        let left = try await e2e.script("leftovers", timeout: 60)
        try #require(left.status == 0, "\(left.stderr)")
        let leftovers = try Value.parseJSON(Data(left.stdout.utf8))
        #expect(leftovers["aws"]?.listValue?.isEmpty == true, "\(leftovers["aws"] ?? .null)")
        #expect(leftovers["kubernetes"]?.listValue?.isEmpty == true, "\(leftovers["kubernetes"] ?? .null)")
        let retained = leftovers["retained"]?.listValue?.compactMap(\.stringValue) ?? []
        #expect(!retained.isEmpty, "the Retain class should have kept the chain's volumes")

        let down = try await e2e.script("down", timeout: 120)
        #expect(down.status == 0, "\(down.stderr)")
    }
}

/// `scripts/local-testnet` in a private directory, and the ethstack binary pointed at it.
struct EndToEnd {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var helm: String? {
        ["/opt/ethstack-tools/bin/helm"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? AWSTestServers.which("helm")
    }
    let dir: String

    init() throws {
        dir = try KTS.tempDir("local-testnet")
    }

    var scriptEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LOCAL_TESTNET_DIR"] = dir
        env["ETHSTACK"] = EthstackBinary.path
        env["KUBE_TEST_SERVER"] = (EthstackBinary.path as NSString).deletingLastPathComponent + "/kube-test-server"
        return env
    }

    func script(_ command: String, timeout: Double) async throws -> KTS.ProcessResult {
        try await KTS.run("\(Self.repository)/scripts/local-testnet", [command], env: scriptEnvironment, cwd: Self.repository,
                          timeout: timeout)
    }

    /// Stops whatever is still running (a failed test), without waiting on a destroy.
    func down() {
        for name in ["charts", "rpc-stub", "beacon-stub", "eks-standin", "moto", "kube-test-server"] {
            if let text = try? String(contentsOfFile: "\(dir)/\(name).pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
            }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// The environment `scripts/local-testnet env` gives a shell: endpoints, state, PATH, secrets.
    func environment() throws -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for file in ["endpoints.env", "secrets.env"] {
            for line in try String(contentsOfFile: "\(dir)/\(file)", encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                var value = String(line[line.index(after: eq)...])
                if value.hasPrefix("'") && value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
                env[String(line[..<eq])] = value
            }
        }
        env["NO_COLOR"] = "1"
        return env
    }

    /// Runs ethstack on the local testnet: the seed stack (or `stack`) with the local variable file.
    /// Commands that read only state take no variables.
    static let stateOnly: Set<String> = ["output", "state", "lock"]

    func ethstack(_ arguments: [String], _ env: [String: String], stack: String? = "stacks/ethereum-testnet.yaml",
                  cwd: String = EndToEnd.repository, timeout: Double = 120) async throws -> KTS.ProcessResult {
        var args = arguments
        if let stack { args += ["--stack", stack] }
        if !Self.stateOnly.contains(args.first ?? "") { args += ["--var-file", env["LOCAL_TESTNET_VAR_FILE"] ?? ""] }
        return try await KTS.run(EthstackBinary.path, args, env: env, cwd: cwd, timeout: timeout)
    }

    /// A working directory for the guides' commands (their plan files land here), with stacks/.
    func guideDirectory() throws -> String {
        let path = "\(dir)/guides"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(path)/stacks", withDestinationPath: "\(Self.repository)/stacks")
        return path
    }

    /// A copy of stacks/ with args/network_params.yaml changed by `edit`.
    func stacksCopy(_ edit: (String) -> String) throws -> String {
        let copy = "\(dir)/stacks-copy"
        try FileManager.default.copyItem(atPath: "\(Self.repository)/stacks", toPath: copy)
        let args = "\(copy)/args/network_params.yaml"
        let text = try String(contentsOfFile: args, encoding: .utf8)
        let edited = edit(text)
        #expect(edited != text, "the edit changed nothing")
        try edited.write(toFile: args, atomically: true, encoding: .utf8)
        return copy
    }

    /// address -> actions, of every change that is not a no-op.
    static func changes(_ planJSON: String) throws -> [String: [String]] {
        let plan = try Value.parseJSON(Data(planJSON.utf8))
        var out: [String: [String]] = [:]
        for change in plan["resource_changes"]?.listValue ?? [] {
            let actions = change["change"]?["actions"]?.listValue?.compactMap(\.stringValue) ?? []
            if actions != ["no-op"], let address = change["address"]?.stringValue { out[address] = actions }
        }
        return out
    }

    /// The seed stack's objects in the enclave's namespace kt-<enclave> (Kurtosis deletes them with it).
    static let inEnclaveNamespace: Set<String> = [
        "limits", "quota", "default_deny", "allow_testnet", "allow_prometheus", "allow_ingress", "el_rpc", "el_ws", "cl_api",
        "grafana_auth", "grafana_ingress", "scrape_clients", "alert_rules", "el_snapshot", "snapshotter_account",
        "snapshotter_role", "snapshotter_binding", "snapshot_schedule", "key_backup_reader", "key_backup_reader_binding",
    ]

    /// UpdateNodegroupConfig through the EKS endpoint (botocore signs it; moto scales the group).
    static let scaleNodeGroup = """
    import os, sys, boto3
    eks = boto3.client("eks", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL_EKS"])
    n = int(sys.argv[3])
    eks.update_nodegroup_config(clusterName=sys.argv[1], nodegroupName=sys.argv[2],
                                scalingConfig={"minSize": 3, "maxSize": n, "desiredSize": n})
    """

    struct GuideCommand {
        var line: Int
        var text: String
        var arguments: [String]
        var acceptedExits: Set<Int32>
    }

    /// The `ethstack …` lines of a guide's fenced `sh` blocks, split like a shell would split them
    /// (quotes, no expansions). A trailing `# exit N` comment names the exit status the guide
    /// promises; otherwise 0. apply/destroy get --auto-approve (no terminal to answer on).
    /// Guides whose ethstack commands stand in CI workflows (```yaml fences, `run:` scripts) as well as in ```sh blocks.
    static let workflowGuides: Set<String> = ["drift-ci"]

    static func commands(inGuide guide: String) throws -> [GuideCommand] {
        let text = try String(contentsOfFile: "\(repository)/docs/\(guide).md", encoding: .utf8)
        let runnable = workflowGuides.contains(guide) ? ["```sh", "```yaml"] : ["```sh"]
        var inSh = false, inFence = false
        var commands: [GuideCommand] = []
        var pending = ""
        var pendingLine = 0
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") { inFence.toggle(); inSh = inFence && runnable.contains(line); continue }
            guard inSh else {
                #expect(!(inFence && line.hasPrefix("ethstack ")), "docs/\(guide).md:\(index + 1): an ethstack command outside a sh block is never run")
                continue
            }
            if pending.isEmpty && !line.hasPrefix("ethstack ") { continue }
            if pending.isEmpty { pendingLine = index + 1 }
            if line.hasSuffix("\\") { pending += line.dropLast() + " "; continue }
            pending += line
            var commandText = pending
            pending = ""
            var exits: Set<Int32> = [0]
            if let hash = commandText.range(of: " #") {
                let comment = commandText[hash.upperBound...].trimmingCharacters(in: .whitespaces)
                if comment.hasPrefix("exit ") {  // "exit 2", "exit 0 or 2"
                    exits = Set(comment.dropFirst(5).split(whereSeparator: { !$0.isNumber }).compactMap { Int32($0) })
                }
                commandText = String(commandText[..<hash.lowerBound])
            }
            var words = shellWords(commandText)
            words.removeFirst()  // ethstack
            if ["apply", "destroy"].contains(words.first ?? ""), !words.contains("--auto-approve") { words.append("--auto-approve") }
            commands.append(GuideCommand(line: pendingLine, text: commandText, arguments: words, acceptedExits: exits))
        }
        #expect(!commands.isEmpty, "docs/\(guide).md has no ethstack command")
        return commands
    }

    static func shellWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c; inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c); inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}

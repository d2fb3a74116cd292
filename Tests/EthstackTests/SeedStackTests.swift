import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackLanguage
@testable import EthstackModel
import EthstackYAML
import EthstackProviderAPI
@testable import KurtosisProvider

/// `stacks/ethereum-testnet.yaml` planned with the real binary, and what a real apply on EKS needs
/// from it: each test names the defect (issue 11) it guards against, and fails on the stack as it
/// was before.
@Suite struct SeedStackTests {
    static let repository = StackFilesTests.repository
    static let mnemonic = "test test test test test test test test test test test junk-secret-words"
    static let admin = "arn:aws:iam::123456789012:role/platform-team"

    /// The plan of the whole seed (JSON), made once: resource address → the change's `after`.
    static let plan: Result<(changes: [String: Value], raw: String, plan: Value), any Error> = Result {
        let ws = Workspace()
        let r = try EthstackBinary.run(["plan", "--stack", "stacks/ethereum-testnet.yaml", "--state", "\(ws.dir)/seed.db",
                                        "--var", "grafana_htpasswd=admin:$2y$05$secrethash",
                                        "--var", "validator_mnemonic=\(mnemonic)",
                                        "--var", "admin_cidrs=[203.0.113.0/24]",
                                        "--var", "admin_principal_arns=[\(admin)]", "--json"],
                                       in: repository,
                                       environment: ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                                                     "AWS_ENDPOINT_URL": "http://127.0.0.1:9"])
        guard r.status == 0 else { throw PlanFailed(stderr: r.stderr) }
        let plan = try Value.parseJSON(r.stdout)
        var changes: [String: Value] = [:]
        for change in plan["resource_changes"]?.listValue ?? [] {
            if let address = change["address"]?.stringValue { changes[address] = change["change"]?["after"] ?? .null }
        }
        return (changes, r.stdout, plan)
    }

    struct PlanFailed: Error { let stderr: String }

    static func after(_ address: String) throws -> Value {
        let changes = try plan.get().changes
        return try #require(changes[address], "the seed stack has \(address)")
    }

    static func yamlFile(_ path: String) throws -> Value {
        let text = try String(contentsOfFile: "\(repository)/stacks/\(path)", encoding: .utf8)
        return try #require(try YAMLParser.parse(text, file: path).first?.value)
    }

    static func addons() throws -> [String: Value] {
        var out: [String: Value] = [:]
        for (_, after) in try plan.get().changes {
            if let name = after["addon_name"]?.stringValue { out[name] = after }
        }
        return out
    }

    // MARK: - Storage never provisions: EKS add-ons with their own IAM

    @Test func addOnsAreManagedByEKSWithPodIdentityForTheEBSDriver() throws {
        let addons = try Self.addons()
        #expect(Set(addons.keys) == ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver", "snapshot-controller"])
        let cni = try Value.parseJSON(Data((addons["vpc-cni"]?["configuration_values"]?.stringValue ?? "").utf8))
        #expect(cni["enableNetworkPolicy"] == "true")
        let association = addons["aws-ebs-csi-driver"]?["pod_identity_associations"]?.listValue?.first
        #expect(association?["service_account"] == "ebs-csi-controller-sa")
        // The role the driver gets has the EBS policy and trusts EKS Pod Identity.
        let role = try Self.after("ebs_csi_role")
        #expect(role["policy_arns"]?.listValue?.contains("arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy") == true)
        #expect(role["assume_role_policy"]?.stringValue?.contains("pods.eks.amazonaws.com") == true)
        #expect(role["assume_role_policy"]?.stringValue?.contains("sts:TagSession") == true)
        // Fluent Bit's CloudWatch output gets its own role too.
        #expect(try Self.after("logs_identity")["service_account"] == "fluent-bit")
        // No Helm release of the EBS driver without IAM any more.
        #expect(try Self.plan.get().changes.values.allSatisfy { $0["chart"]?.stringValue != "aws-ebs-csi-driver" })
    }

    // MARK: - The endpoint, logs and who may use the cluster

    @Test func clusterEndpointCIDRsLoggingAndAccessEntries() throws {
        let cluster = try Self.after("cluster")
        #expect(cluster["public_access_cidrs"] == ["203.0.113.0/24"])
        #expect(cluster["enabled_cluster_log_types"]?.listValue?.contains("audit") == true)
        #expect(cluster["authentication_mode"] == "API_AND_CONFIG_MAP")
        let entry = try Self.after("admin_access[\"\(Self.admin)\"]")
        #expect(entry["principal_arn"]?.stringValue == Self.admin)
        #expect(entry["access_policies"]?.listValue?.first?["policy_arn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
    }

    // MARK: - Grafana behind basic auth

    @Test func grafanaIngressRequiresTheBasicAuthSecret() throws {
        let ingress = try Self.after("grafana_ingress")["manifest"]
        let annotations = ingress?["metadata"]?["annotations"]
        #expect(annotations?["nginx.ingress.kubernetes.io/auth-type"] == "basic")
        let secretName = try Self.after("grafana_auth")["manifest"]?["metadata"]?["name"]
        #expect(annotations?["nginx.ingress.kubernetes.io/auth-secret"] == secretName)
        #expect(annotations?["nginx.ingress.kubernetes.io/auth-realm"]?.stringValue?.isEmpty == false)
        #expect(!(try Self.plan.get().raw.contains("secrethash")))
    }

    // MARK: - The quota fits the enclave it limits

    static func millis(_ text: String) -> Int? {
        text.hasSuffix("m") ? Int(text.dropLast()) : Int(text).map { $0 * 1000 }
    }

    @Test func quotaIsDerivedFromTheParticipantsAndComesAfterTheLimitRange() throws {
        let args = try Self.yamlFile("args/network_params.yaml")
        var cpu = 0, memory = 0
        for p in args["participants"]?.listValue ?? [] {
            let count = p["count"]?.intValue ?? 1
            let hasVC = (p["validator_count"]?.intValue ?? 1) > 0
            cpu += count * ((p["el_max_cpu"]?.intValue ?? 0) + (p["cl_max_cpu"]?.intValue ?? 0) + (hasVC ? p["vc_max_cpu"]?.intValue ?? 0 : 0))
            memory += count * ((p["el_max_mem"]?.intValue ?? 0) + (p["cl_max_mem"]?.intValue ?? 0) + (hasVC ? p["vc_max_mem"]?.intValue ?? 0 : 0))
        }
        let hard = try Self.after("quota")["manifest"]?["spec"]?["hard"]
        let quotaCPU = try #require(hard?["limits.cpu"]?.stringValue.flatMap(Self.millis))
        let quotaMemory = try #require(hard?["limits.memory"]?.stringValue.flatMap { Int($0.dropLast(2)) })
        // The clients' limits, plus room for the snapshot job, the ACME solver and the package's services.
        #expect(quotaCPU >= cpu + 5000, "limits.cpu \(quotaCPU)m for \(cpu)m of participants")
        #expect(quotaMemory >= memory + 8192, "limits.memory \(quotaMemory)Mi for \(memory)Mi of participants")
        // The LimitRange first: once the quota counts limits, a pod without limits and no default is refused.
        let dependsOn = try Self.yamlFile("ethereum-testnet.yaml")["resources"]?["quota"]?["depends_on"]
        #expect(dependsOn?.listValue?.contains("limits") == true)
    }

    // MARK: - Snapshots of the volume Kurtosis really makes, with their RBAC

    @Test func snapshotsTargetTheKurtosisPVCAndTheCronJobHasItsAccount() throws {
        let snapshot = try Self.after("el_snapshot")["manifest"]
        #expect(snapshot?["spec"]?["source"]?["persistentVolumeClaimName"] == "data-el-1-reth-lighthouse")
        let cron = try Self.after("snapshot_schedule")["manifest"]
        let pod = cron?["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]
        #expect(pod?["containers"]?[0]?["args"]?[0]?.stringValue?.contains("persistentVolumeClaimName: data-el-1-reth-lighthouse") == true)
        let account = try Self.after("snapshotter_account")["manifest"]
        #expect(account?["kind"] == "ServiceAccount")
        #expect(pod?["serviceAccountName"] == account?["metadata"]?["name"])
        let role = try Self.after("snapshotter_role")["manifest"]
        #expect(role?["rules"]?[0]?["resources"] == ["volumesnapshots"])
        #expect(role?["rules"]?[0]?["verbs"]?.listValue?.contains("create") == true)
        #expect(try Self.after("snapshotter_binding")["manifest"]?["kind"] == "RoleBinding")
    }

    // MARK: - Network policies let Prometheus and the ACME solver in

    @Test func networkPoliciesAllowPrometheusAndTheACMESolver() throws {
        let prometheus = try Self.after("allow_prometheus")["manifest"]
        #expect(prometheus?["spec"]?["ingress"]?[0]?["from"]?[0]?["namespaceSelector"]?["matchLabels"]?["kubernetes.io/metadata.name"] == "monitoring")
        let ingress = try Self.after("allow_ingress")["manifest"]
        #expect(ingress?["spec"]?["ingress"]?[0]?["ports"]?.listValue?.contains { $0["port"] == 8089 } == true)
    }

    // MARK: - gp3 IOPS EBS accepts for 1 GiB volumes

    @Test func fastSSDIOPSAreValidForTheSmallestVolume() throws {
        let parameters = try Self.yamlFile("manifests/storageclass-fast-ssd.yaml")["parameters"]
        // gp3: 3,000 IOPS at any size, at most 500 per GiB above that; Kurtosis makes 1 GiB volumes.
        if let iops = parameters?["iops"]?.stringValue.flatMap(Int.init) { #expect(iops <= 3000, "iops \(iops) on a 1 GiB volume") }
        if let perGB = parameters?["iopsPerGB"]?.stringValue.flatMap(Int.init) {
            #expect(perGB <= 500)
            #expect(parameters?["allowAutoIOPSPerGBIncrease"] == "true")
        }
    }

    // MARK: - Kurtosis's config keys

    @Test func kurtosisConfigUsesKeysKurtosisReads() {
        let config = KurtosisEngine.configFile(["storage_class": "fast-ssd", "node_selectors": ["role": "ethereum"]], cluster: "eth")
        #expect(config.contains("config-version: 7\n"))
        #expect(config.contains("      node-selectors:\n        \"role\": \"ethereum\"\n"))
        #expect(!config.contains("engine-node-selectors"))
    }

    // MARK: - Args ethereum-package 6.1.0 runs

    @Test func argsPassTheFuluCheckWith256ValidatorsIn4Clients() throws {
        let args = try Self.yamlFile("args/network_params.yaml")
        let participants = args["participants"]?.listValue ?? []
        #expect(participants.contains { $0["supernode"] == true || ($0["validator_count"]?.intValue ?? 0) >= 128 })
        let validators = participants.reduce(0) { $0 + ($1["count"]?.intValue ?? 1) * ($1["validator_count"]?.intValue ?? 0) }
        let clients = participants.filter { ($0["validator_count"]?.intValue ?? 0) > 0 }.reduce(0) { $0 + ($1["count"]?.intValue ?? 1) }
        #expect(validators == 256 && clients == 4)
        #expect(participants.reduce(0) { $0 + ($1["count"]?.intValue ?? 1) } == 8)
        #expect(participants.allSatisfy { $0["vc_count"] == nil })
        let problems = try #require(EthereumPackageArgsValidator.shared).validate(
            ArgsNode(try #require(try YAMLParser.parse(String(contentsOfFile: "\(Self.repository)/stacks/args/network_params.yaml", encoding: .utf8),
                                                       file: "network_params.yaml").first)))
        #expect(problems.isEmpty, "\(problems.map(\.message))")
    }

    // MARK: - The public RPC

    @Test func publicRPCServesNoAdminNamespacesAndNoServiceExposesTheEngineAPI() throws {
        let args = try Self.yamlFile("args/network_params.yaml")
        for p in args["participants"]?.listValue ?? [] where p["el_type"] == "reth" {
            let api = (p["el_extra_params"]?.listValue ?? []).compactMap(\.stringValue).first { $0.hasPrefix("--http.api=") }
            let namespaces = Set((api ?? "--http.api=admin,debug").dropFirst("--http.api=".count).split(separator: ",").map(String.init))
            #expect(namespaces.isDisjoint(with: ["admin", "debug", "txpool", "trace"]), "\(namespaces)")
        }
        for (address, after) in try Self.plan.get().changes where after["manifest"]?["kind"] == "Service" {
            for port in after["manifest"]?["spec"]?["ports"]?.listValue ?? [] {
                #expect(port["port"] != 8551 && port["targetPort"] != 8551, "\(address) exposes the Engine API")
            }
        }
    }

    // MARK: - Alerts

    @Test func alertRulesAreSoundAndCoverFinalitySyncAndFullVolumes() throws {
        let manifest = try Self.yamlFile("manifests/prometheusrule-testnet.yaml")
        let rules = manifest["spec"]?["groups"]?[0]?["rules"]?.listValue ?? []
        let exprs = rules.compactMap { $0["expr"]?.stringValue }
        #expect(!exprs.contains { $0.contains("increase(beacon_head_slot") }, "increase() on a gauge")
        // The job regex (Prometheus anchors it) must not match kubelet.
        let nodeDown = try #require(exprs.first { $0.hasPrefix("up{") })
        let jobRegex = try #require(nodeDown.range(of: #"job=~"([^"]+)""#, options: .regularExpression)
            .map { String(nodeDown[$0].dropFirst(6).dropLast()) })
        let regex = try NSRegularExpression(pattern: "^(?:\(jobRegex))$")
        for job in ["kubelet", "kube-state-metrics", "node-exporter"] {
            #expect(regex.firstMatch(in: job, range: NSRange(job.startIndex..., in: job)) == nil, "\(jobRegex) matches \(job)")
        }
        #expect(regex.firstMatch(in: "el-1-reth-lighthouse", range: NSRange(location: 0, length: 20)) != nil)
        // The peer threshold is the one `ethstack check` uses.
        let stack = try String(contentsOfFile: "\(Self.repository)/stacks/ethereum-testnet.yaml", encoding: .utf8)
        let checkThreshold = try #require(stack.range(of: #"path: data.connected, at_least: (\d+)"#, options: .regularExpression)
            .map { stack[$0].split(separator: " ").last.map(String.init) ?? "" }.flatMap { Int($0.filter(\.isNumber)) })
        let peers = try #require(exprs.first { $0.contains("libp2p_peers") })
        #expect(peers.hasSuffix("< \(checkThreshold)"), "\(peers) vs the check's at_least \(checkThreshold)")
        #expect(exprs.contains { $0.contains("beacon_finalized_epoch") })
        #expect(exprs.contains { $0.contains("eth_exe_sync_is_syncing") })
        #expect(exprs.contains { $0.contains("kubelet_volume_stats_available_bytes") })
        // No empty Slack URL: without one, Alertmanager gets a receiver-less route.
        let none = try Self.yamlFile("manifests/alertmanager-none.yaml")
        #expect(none["global"]?["slack_api_url"] == nil)
        #expect(stack.contains(#"var.alert_slack_url == "" ? yamldecode(file("manifests/alertmanager-none.yaml"))"#))
    }

    // MARK: - Runbook 8.2: participants spread over the zones by node_selectors

    @Test func participantsArePinnedToZonesAndValidatorsSpreadOverThree() throws {
        // The args as the enclave gets them: templatefile() fills in the region.
        let stack = try String(contentsOfFile: "\(Self.repository)/stacks/ethereum-testnet.yaml", encoding: .utf8)
        #expect(stack.contains(#"templatefile("args/network_params.yaml", { validator_mnemonic = var.validator_mnemonic, smoke_account = var.smoke_account, region = var.region })"#))
        let text = try String(contentsOfFile: "\(Self.repository)/stacks/args/network_params.yaml", encoding: .utf8)
        let rendered = try #require(try YAMLParser.parse(text.replacingOccurrences(of: "${region}", with: "us-east-1"),
                                                         file: "network_params.yaml").first?.value)
        var perZone: [String: Int] = [:], validatorsPerZone: [String: Int] = [:]
        for p in rendered["participants"]?.listValue ?? [] {
            let selectors = p["node_selectors"]
            // A participant's selectors replace global_node_selectors: the node group's label is repeated.
            #expect(selectors?["role"] == "ethereum", "\(p)")
            let zone = try #require(selectors?["topology.kubernetes.io/zone"]?.stringValue)
            #expect(["us-east-1a", "us-east-1b", "us-east-1c"].contains(zone))
            let count = p["count"]?.intValue ?? 1
            perZone[zone, default: 0] += count
            if (p["validator_count"]?.intValue ?? 0) > 0 { validatorsPerZone[zone, default: 0] += count }
        }
        #expect(perZone.values.reduce(0, +) == 8)
        #expect(perZone.values.allSatisfy { $0 <= 3 }, "\(perZone)")
        // Every zone has a validator client, and no zone has more than half of them.
        #expect(validatorsPerZone.count == 3 && validatorsPerZone.values.allSatisfy { $0 <= 2 }, "\(validatorsPerZone)")
        // Validating entries first: el-1 (behind the load balancers) and vc-1..4 keep their names.
        let entries = rendered["participants"]?.listValue ?? []
        let firstIdle = entries.firstIndex { ($0["validator_count"]?.intValue ?? 0) == 0 } ?? entries.count
        #expect(entries[firstIdle...].allSatisfy { ($0["validator_count"]?.intValue ?? 0) == 0 })
    }

    // MARK: - Runbook 9.4: the validator keys, exported encrypted to the backup bucket

    @Test func validatorKeysAreExportedEncryptedToTheBucketByACronJob() throws {
        let cron = try #require(try Self.after("key_backup_schedule")["manifest"])
        #expect(cron["kind"] == "CronJob")
        #expect(cron["metadata"]?["namespace"] == "key-backup")
        // No age recipient given: suspended, so nothing is ever exported unencrypted.
        #expect(cron["spec"]?["suspend"] == true)
        let pod = try #require(cron["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"])
        #expect(pod["serviceAccountName"] == "key-backup")
        #expect(pod["volumes"]?[0]?["emptyDir"]?["medium"] == "Memory", "plaintext keys never on a node's disk")
        let steps = (pod["initContainers"]?.listValue ?? []) + (pod["containers"]?.listValue ?? [])
        #expect(steps.compactMap { $0["name"]?.stringValue } == ["export", "encrypt", "upload"])
        let script = steps.map { ($0["args"]?[0]?.stringValue ?? "") }.joined(separator: "\n")
        // Where ethereum-package puts the keys (EKS-KURTOSIS-FACTS.md §4) and Kurtosis's container name.
        #expect(script.contains("-l kurtosistech.com.custom/ethereum-package.client-type=validator"))
        #expect(script.contains("-c user-service-container"))
        #expect(script.contains("tar -C /validator-keys -cf - ."))
        #expect(script.contains(#"age "$@" -o"#) && script.contains("rm -rf /work/raw"))
        #expect(script.contains("--sse AES256"))
        #expect(steps[2]["env"]?[0]?["value"] == "eth-testnet-validator-keys-us-east-1")

        // The job's AWS identity may only put (encrypted) objects under validator-keys/.
        let role = try Self.after("key_backup_role")
        let policy = try Value.parseJSON(Data((role["inline_policies"]?["put-validator-key-backups"]?.stringValue ?? "").utf8))
        let statement = try #require(policy["Statement"]?[0])
        #expect(statement["Action"] == "s3:PutObject")
        #expect(statement["Resource"] == "arn:aws:s3:::eth-testnet-validator-keys-us-east-1/validator-keys/*")
        #expect(statement["Condition"]?["StringEquals"]?["s3:x-amz-server-side-encryption"] == "AES256")
        let identity = try Self.after("key_backup_identity")
        #expect(identity["namespace"] == "key-backup" && identity["service_account"] == "key-backup")
        // In the enclave's namespace: read pods and exec into them, nothing else.
        let reader = try Self.after("key_backup_reader")["manifest"]
        #expect(reader?["kind"] == "Role")
        #expect(reader?["rules"]?.listValue?.flatMap { $0["resources"]?.listValue ?? [] } == ["pods", "pods/exec"])
    }

    @Test func givenARecipientTheBackupRunsAndEncryptsToIt() throws {
        let ws = Workspace()
        let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
        let r = try EthstackBinary.run(["plan", "--stack", "stacks/ethereum-testnet.yaml", "--state", "\(ws.dir)/seed.db",
                                        "--var", "backup_age_recipients=[\(recipient)]", "--json"],
                                       in: Self.repository,
                                       environment: ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                                                     "AWS_ENDPOINT_URL": "http://127.0.0.1:9"])
        #expect(r.status == 0, "\(r.stderr)")
        let plan = try Value.parseJSON(r.stdout)
        let cron = plan["resource_changes"]?.listValue?.first { $0["address"] == "key_backup_schedule" }?["change"]?["after"]?["manifest"]
        #expect(cron?["spec"]?["suspend"] == false)
        let encrypt = cron?["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]?["initContainers"]?[1]
        #expect(encrypt?["env"]?[0]?["value"] == .string(recipient))
    }

    // MARK: - Runbook 5.3 and 10.1: genesis and RPC checks

    @Test func genesisAndRPCChecksAreDeclaredAndTheSmokeAccountIsPrefunded() throws {
        let stack = try Self.yamlFile("ethereum-testnet.yaml")
        let checks = stack["checks"]?.mapValue ?? [:]
        for name in ["el_genesis", "cl_genesis", "cl_past_genesis", "el_common_genesis", "prefunded_balance", "send_raw_transaction"] {
            #expect(checks[name] != nil, "no check \(name)")
        }
        #expect(checks["send_raw_transaction"]?["expect"]?["accept_errors"] == ["already known", "nonce too low"])
        #expect(stack["variables"]?["smoke_transaction"]?["sensitive"] == true)
        let args = try Self.yamlFile("args/network_params.yaml")
        // A JSON text, as the package's README writes it (it reaches the genesis generator json-encoded).
        let funded = try #require(args["network_params"]?["prefunded_accounts"]?.stringValue)
        #expect(try Value.parseJSON(Data(funded.utf8)) == .map(["${smoke_account}": .map(["balance": "1000ETH"])]))
    }

    // MARK: - The validator mnemonic

    @Test func validatorMnemonicIsASensitiveVariableAndNeverPrinted() throws {
        let stack = try Self.yamlFile("ethereum-testnet.yaml")
        let variable = stack["variables"]?["validator_mnemonic"]
        #expect(variable?["sensitive"] == true)
        #expect(variable?["default"] == nil)
        let args = try Self.yamlFile("args/network_params.yaml")
        #expect(args["network_params"]?["preregistered_validator_keys_mnemonic"] == "${validator_mnemonic}")
        #expect(!(try Self.plan.get().raw.contains("junk-secret-words")))
    }
}

fileprivate extension Value {
    subscript(_ index: Int) -> Value? {
        guard let list = listValue, list.indices.contains(index) else { return nil }
        return list[index]
    }
}

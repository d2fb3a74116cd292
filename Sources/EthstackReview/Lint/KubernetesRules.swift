import Foundation
import EthstackModel

/// Rules over Kubernetes manifests, Helm values and the Kurtosis enclave's ethereum-package args.
enum KubernetesRules {
    static let all: [LintRule] = [loadBalancerWorld, monitoringWithoutAuth, rpcNamespaces, limits, privileged, defaultMnemonic]

    // MARK: Reading manifests

    static func manifest(_ r: LintSubject) -> Value? { r.type == "kubernetes.manifest" ? r["manifest"] : nil }

    static func kind(_ m: Value) -> String? { Read.known(m["kind"])?.stringValue }

    struct ServiceView {
        var type: String
        var isInternal: Bool
        var sourceRanges: [String]?
        var ports: [(port: Int?, target: Int?, name: String)]
        var selector: [String: String]
        var name: String
    }

    /// A Service manifest's fields the rules read; nil when `m` is not a Service. `sourceRanges`
    /// nil means unknown until apply (ports and names must be known to say anything).
    static func service(_ m: Value) -> ServiceView? {
        guard kind(m) == "Service" else { return nil }
        let spec = m["spec"]
        let annotations = (Read.known(m["metadata"]?["annotations"])?.mapValue ?? [:]).compactMapValues(\.stringValue)
        var ranges: [String]? = []
        if let r = spec?["loadBalancerSourceRanges"] { ranges = Read.strings(r) }
        let ports = (spec?["ports"]?.listValue ?? []).map { p in
            (port: Read.port(p["port"]), target: Read.port(p["targetPort"]), name: Read.known(p["name"])?.stringValue ?? "")
        }
        return ServiceView(type: Read.known(spec?["type"])?.stringValue ?? "ClusterIP", isInternal: isInternal(annotations), sourceRanges: ranges,
                           ports: ports, selector: (Read.known(spec?["selector"])?.mapValue ?? [:]).compactMapValues(\.stringValue),
                           name: Read.known(m["metadata"]?["name"])?.stringValue ?? "")
    }

    static let monitoringPorts: Set<Int> = [3000, 9090, 9093]
    static let monitoringNames = ["grafana", "prometheus", "alertmanager"]

    static func isMonitoring(name: String, port: Int?) -> Bool {
        let lower = name.lowercased()
        return monitoringNames.contains { lower.contains($0) } || port.map { monitoringPorts.contains($0) } ?? false
    }

    // MARK: Load balancers

    static let loadBalancerWorld = LintRule(
        id: "ETH-K8S-001", severity: .high, title: "LoadBalancer Service open to the world on a port that is not P2P",
        why: "Without loadBalancerSourceRanges the cloud load balancer answers the whole internet on RPC, API or dashboard ports.",
        fix: "Set spec.loadBalancerSourceRanges to your ranges (or make the load balancer internal); only P2P ports (30303, 9000) belong to the world.",
        checkov: [], trivy: ["KSV-0108"], types: ["kubernetes.manifest", "helm.release"]
    ) { r in
        if r.type == "helm.release" {
            guard let s = ingressNginxService(r) else { return [] }
            return openToTheWorld(s, rangesValue: r["values"]?["controller"]?["service"]?["loadBalancerSourceRanges"])
        }
        guard let m = manifest(r), let s = service(m), s.type == "LoadBalancer" else { return [] }
        return openToTheWorld(s, rangesValue: m["spec"]?["loadBalancerSourceRanges"])
    }

    static func openToTheWorld(_ s: ServiceView, rangesValue: Value?) -> [LintOutcome] {
        if s.isInternal { return [.pass("internal load balancer")] }
        guard let ranges = s.sourceRanges else { return [.unknown("loadBalancerSourceRanges is known only after apply")] }
        let world = ranges.isEmpty || ranges.contains(where: Read.isWorld)
        if !world { return [.pass("answers only \(Read.list(ranges, from: rangesValue))")] }
        let ports = s.ports.compactMap(\.port)
        if ports.count == s.ports.count, !ports.isEmpty, ports.allSatisfy({ P2P.ports.contains($0) }) {
            return [.pass("open to the world on P2P ports only")]
        }
        let shown = s.ports.map { $0.port.map(String.init) ?? "(unknown)" }.joined(separator: ", ")
        return [.fail("public load balancer\(s.name.isEmpty ? "" : " \(s.name)") on port(s) \(shown) with \(ranges.isEmpty ? "no loadBalancerSourceRanges" : "loadBalancerSourceRanges \(Read.list(ranges))")")]
    }

    /// The controller Service of an ingress-nginx release, from its values and the chart's defaults
    /// (a LoadBalancer on 80 and 443, no source ranges); nil for other charts or when it is not a LoadBalancer.
    static func ingressNginxService(_ r: LintSubject) -> ServiceView? {
        guard Read.known(r["chart"])?.stringValue == "ingress-nginx" else { return nil }
        let svc = r["values"]?["controller"]?["service"]
        if Read.known(svc?["enabled"])?.boolValue == false { return nil }
        guard (Read.known(svc?["type"])?.stringValue ?? "LoadBalancer") == "LoadBalancer" else { return nil }
        let annotations = (Read.known(svc?["annotations"])?.mapValue ?? [:]).compactMapValues(\.stringValue)
        var ranges: [String]? = []
        if let v = svc?["loadBalancerSourceRanges"] { ranges = Read.strings(v) }
        return ServiceView(type: "LoadBalancer", isInternal: isInternal(annotations), sourceRanges: ranges,
                           ports: [(80, nil, "http"), (443, nil, "https")], selector: [:], name: "ingress-nginx-controller")
    }

    static func isInternal(_ annotations: [String: String]) -> Bool {
        ["true", "0.0.0.0/0"].contains(annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] ?? "")
            || annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    }

    // MARK: Grafana and Prometheus

    static let authAnnotations = ["nginx.ingress.kubernetes.io/auth-type", "nginx.ingress.kubernetes.io/auth-url",
                                  "alb.ingress.kubernetes.io/auth-type"]

    static let monitoringWithoutAuth = LintRule(
        id: "ETH-MON-001", severity: .critical, title: "Grafana or Prometheus reachable from outside without authentication",
        why: "ethereum-package's Grafana lets anonymous visitors in as Admin; Prometheus has no login at all.",
        fix: "Put it behind an Ingress with authentication (nginx.ingress.kubernetes.io/auth-type: basic and auth-secret), never a LoadBalancer or NodePort Service.",
        checkov: [], trivy: [], types: ["kubernetes.manifest", "helm.release"]
    ) { r in
        if r.type == "helm.release" {
            guard let values = r["values"] else { return [] }
            var out: [LintOutcome] = []
            for component in ["grafana", "prometheus"] {
                guard let t = values[component]?["service"]?["type"] else { continue }
                guard let type = Read.known(t)?.stringValue else { out.append(.unknown("values.\(component).service.type is known only after apply")); continue }
                out.append(["LoadBalancer", "NodePort"].contains(type)
                    ? .fail("values.\(component).service.type: \(type) exposes \(component) without authentication")
                    : .pass("\(component) is a \(type) Service"))
            }
            return out
        }
        guard let m = manifest(r) else { return [] }
        if let s = service(m), ["LoadBalancer", "NodePort"].contains(s.type) {
            let monitoring = isMonitoring(name: s.name, port: nil) || s.selector.values.contains { isMonitoring(name: $0, port: nil) }
                || s.ports.contains { p in isMonitoring(name: p.name, port: p.port) || isMonitoring(name: "", port: p.target) }
            return monitoring ? [.fail("\(s.type) Service \(s.name) reaches Grafana/Prometheus with no authentication in front")] : []
        }
        guard kind(m) == "Ingress" else { return [] }
        let spec = m["spec"]
        var backends: [Value] = []
        if let d = spec?["defaultBackend"]?["service"] { backends.append(d) }
        for rule in spec?["rules"]?.listValue ?? [] {
            for path in rule["http"]?["paths"]?.listValue ?? [] {
                if let b = path["backend"]?["service"] { backends.append(b) }
            }
        }
        let monitoring = backends.filter { b in
            isMonitoring(name: Read.known(b["name"])?.stringValue ?? "", port: Read.port(b["port"]?["number"]))
        }
        if monitoring.isEmpty { return [] }
        guard let annotations = Read.known(m["metadata"]?["annotations"] ?? .map([:]))?.mapValue else {
            return [.unknown("the Ingress's annotations are known only after apply")]
        }
        let auth = authAnnotations.filter { annotations[$0] != nil }
        return auth.isEmpty ? [.fail("Ingress in front of Grafana/Prometheus without authentication annotations")]
            : [.pass("Ingress in front of Grafana/Prometheus requires authentication (\(auth.joined(separator: ", ")))")]
    }

    // MARK: EL JSON-RPC

    static let sensitiveNamespaces = ["admin", "debug", "txpool", "trace", "all"]
    static let knownELTypes: Set<String> = ["reth", "geth", "nethermind", "besu", "erigon", "ethereumjs", "nimbus"]
    /// ethereum-package 6.1.0's reth launcher: `--http.api=admin,net,eth,web3,debug,txpool,trace`, `--ws.api=net,eth`.
    static let packageDefaults: [String: (http: [String], ws: [String])] = [
        "reth": (["admin", "net", "eth", "web3", "debug", "txpool", "trace"], ["net", "eth"]),
    ]

    /// The namespaces `flag` (`--http.api`) selects in a participant's el_extra_params (the last one wins), or nil.
    static func namespaces(_ flag: String, in params: [String]) -> [String]? {
        var found: [String]?
        for (i, p) in params.enumerated() {
            if p.hasPrefix(flag + "=") {
                found = String(p.dropFirst(flag.count + 1)).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            } else if p == flag, i + 1 < params.count {
                found = params[i + 1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        return found
    }

    static let rpcNamespaces = LintRule(
        id: "ETH-RPC-001", severity: .high, title: "EL JSON-RPC exposes admin, debug, txpool or trace on a public load balancer",
        why: "ethereum-package starts reth with --http.api=admin,net,eth,web3,debug,txpool,trace on 0.0.0.0: peers can be added, the head reset, the mempool read and CPU-bound traces run by strangers.",
        fix: "Add el_extra_params: [\"--http.api=eth,net,web3\"] to every participant (and keep --ws.api to eth,net), or make the load balancer internal.",
        checkov: [], trivy: [], types: ["kubernetes.manifest"]
    ) { r in
        guard let m = manifest(r), let s = service(m), s.type == "LoadBalancer", !s.isInternal else { return [] }
        let rpcPorts = s.ports.filter { [8545, 8546].contains($0.port ?? 0) || [8545, 8546].contains($0.target ?? 0) || ["rpc", "ws"].contains($0.name) }
        if rpcPorts.isEmpty { return [] }
        let enclaves = r.others.filter { $0.type == "kurtosis.enclave" }
        if enclaves.isEmpty { return [] }
        var out: [LintOutcome] = []
        for port in rpcPorts {
            let ws = port.port == 8546 || port.target == 8546 || port.name == "ws"
            let flag = ws ? "--ws.api" : "--http.api"
            for enclave in enclaves {
                guard let participants = Read.known(enclave.values["args"])?["participants"]?.listValue else {
                    out.append(.unknown("the args of \(enclave.address) are known only after apply"))
                    continue
                }
                let picked = selectedParticipant(s.selector, participants)
                for (i, p) in participants.enumerated() where picked == nil || picked == i {
                    let elType = p["el_type"]?.stringValue ?? "geth"
                    // The args are sensitive (the mnemonic): only names from known vocabularies are shown.
                    let shownType = knownELTypes.contains(elType) ? elType : "el_type"
                    let params = (p["el_extra_params"]?.listValue ?? []).compactMap(\.stringValue)
                    let label = "\(enclave.address) participants[\(i)] (\(shownType)) \(flag)"
                    guard let api = namespaces(flag, in: params) ?? packageDefaults[elType].map({ ws ? $0.ws : $0.http }) else {
                        out.append(.fail("\(label): not set, and the package's default for \(shownType) is not known to ethstack"))
                        continue
                    }
                    let exposed = api.filter { sensitiveNamespaces.contains($0) }
                    out.append(exposed.isEmpty ? .pass("\(label) serves none of \(sensitiveNamespaces.dropLast().joined(separator: ", "))")
                        : .fail("\(label) serves \(exposed.joined(separator: ",")) behind public load balancer \(s.name) port \(port.port.map(String.init) ?? "?")"))
                }
            }
        }
        return out
    }

    /// The participants entry whose EL pod a Service selects (`kurtosistech.com/id: el-3-reth-lighthouse`):
    /// the package numbers EL services from 1 across the entries, each `count` times. Nil when the
    /// selector names no EL service of these participants (then every entry is checked).
    static func selectedParticipant(_ selector: [String: String], _ participants: [Value]) -> Int? {
        guard let id = selector["kurtosistech.com/id"], id.hasPrefix("el-"),
              let n = Int(id.dropFirst(3).prefix { $0.isNumber }), n >= 1 else { return nil }
        var first = 1
        for (i, p) in participants.enumerated() {
            let count = max(1, p["count"]?.intValue ?? 1)
            if n < first + count { return i }
            first += count
        }
        return nil
    }

    // MARK: Containers

    /// (label, container) of a workload manifest; nil when `m` is not a workload.
    static func containers(_ m: Value) -> [(String, Value)]? {
        let podSpec: Value?
        switch kind(m) {
        case "Pod": podSpec = m["spec"]
        case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job": podSpec = m["spec"]?["template"]?["spec"]
        case "CronJob": podSpec = m["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]
        default: return nil
        }
        var out: [(String, Value)] = []
        for key in ["initContainers", "containers"] {
            for (i, c) in (podSpec?[key]?.listValue ?? []).enumerated() {
                out.append(("\(key)[\(i)] \(Read.known(c["name"])?.stringValue ?? "")", c))
            }
        }
        return out
    }

    static func podSpec(_ m: Value) -> Value? {
        switch kind(m) {
        case "Pod": return m["spec"]
        case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job": return m["spec"]?["template"]?["spec"]
        case "CronJob": return m["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]
        default: return nil
        }
    }

    static let limits = LintRule(
        id: "ETH-K8S-003", severity: .medium, title: "Container without CPU and memory limits",
        why: "One runaway client (a reth resync, a tracing request) starves the others on the node and takes validators offline.",
        fix: "Set resources.limits.cpu and .memory on every container; for the enclave, el_max_cpu/el_max_mem, cl_max_cpu/cl_max_mem (and vc_*) per participant.",
        checkov: ["CKV_K8S_11", "CKV_K8S_13"], trivy: ["KSV-0011", "KSV-0018"], types: ["kubernetes.manifest", "kurtosis.enclave"]
    ) { r in
        if r.type == "kurtosis.enclave" {
            guard let args = Read.known(r["args"]) else { return [.unknown("args are known only after apply")] }
            var out: [LintOutcome] = []
            for (i, p) in (args["participants"]?.listValue ?? []).enumerated() {
                var keys = ["el_max_cpu", "el_max_mem", "cl_max_cpu", "cl_max_mem"]
                if (p["validator_count"]?.intValue ?? 1) != 0 { keys += ["vc_max_cpu", "vc_max_mem"] }
                let missing = keys.filter { (p[$0]?.numberValue ?? 0) <= 0 }
                out.append(missing.isEmpty ? .pass("participants[\(i)] has limits")
                    : .fail("participants[\(i)] has no \(missing.joined(separator: ", ")) (0 means no limit)"))
            }
            return out
        }
        guard let m = manifest(r), let list = containers(m) else { return [] }
        return list.map { (item: (String, Value)) -> LintOutcome in
            let (label, c) = item
            let limits = c["resources"]?["limits"]
            if limits?.containsUnknown == true { return .unknown("\(label): limits are known only after apply") }
            let missing = ["cpu", "memory"].filter { limits?[$0] == nil }
            return missing.isEmpty ? .pass("\(label) has limits") : .fail("\(label) has no \(missing.joined(separator: "/")) limit")
        }
    }

    static let privileged = LintRule(
        id: "ETH-K8S-004", severity: .high, title: "Privileged pod (privileged container, hostNetwork or hostPID)",
        why: "A privileged container or the host's namespaces give whoever breaks into it the node, and every validator key on it.",
        fix: "Remove securityContext.privileged, hostNetwork and hostPID.",
        checkov: ["CKV_K8S_16", "CKV_K8S_19", "CKV_K8S_17"], trivy: ["KSV-0017", "KSV-0009", "KSV-0010"], types: ["kubernetes.manifest"]
    ) { r in
        guard let m = manifest(r), let list = containers(m) else { return [] }
        var out: [LintOutcome] = []
        let spec = podSpec(m)
        for key in ["hostNetwork", "hostPID"] {
            guard let v = spec?[key] else { continue }
            guard let on = Read.known(v)?.boolValue else { out.append(.unknown("\(key) is known only after apply")); continue }
            if on { out.append(.fail("\(key): true")) }
        }
        for (label, c) in list {
            guard let v = c["securityContext"]?["privileged"] else { continue }
            guard let on = Read.known(v)?.boolValue else { out.append(.unknown("\(label): privileged is known only after apply")); continue }
            if on { out.append(.fail("\(label) is privileged")) }
        }
        return out.isEmpty ? [.pass("no privileged container, no host namespaces")] : out
    }

    // MARK: The validator mnemonic

    /// ethereum-package's default `preregistered_validator_keys_mnemonic`, printed in its README
    /// (src/package_io/input_parser.star): every key derived from it is public.
    static let packageMnemonic = "giant issue aisle success illegal bike spike question tent bar rely arctic volcano long crawl hungry vocal artwork sniff fantasy very lucky have athlete"

    static let defaultMnemonic = LintRule(
        id: "ETH-KT-001", severity: .critical, title: "Validators use ethereum-package's public default mnemonic",
        why: "Anyone can derive every validator key from the public mnemonic: sign (and get the validators slashed) or take over withdrawals.",
        fix: "Set network_params.preregistered_validator_keys_mnemonic from a sensitive variable holding a fresh mnemonic (eth2-val-tools mnemonic).",
        checkov: [], trivy: [], types: ["kurtosis.enclave"]
    ) { r in
        guard let argsValue = r["args"] else { return [.fail("no args: the package's default mnemonic is used")] }
        guard let args = Read.known(argsValue) else { return [.unknown("args are known only after apply (a variable they use has no value yet)")] }
        guard let given = args["network_params"]?["preregistered_validator_keys_mnemonic"] else {
            return [.fail("network_params.preregistered_validator_keys_mnemonic is not set: the package's public default is used")]
        }
        let words = (given.stringValue ?? "").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if words == packageMnemonic { return [.fail("network_params.preregistered_validator_keys_mnemonic is the package's public default")] }
        if words.isEmpty { return [.fail("network_params.preregistered_validator_keys_mnemonic is empty")] }
        return [.pass("a mnemonic of the stack's own is set")]
    }
}

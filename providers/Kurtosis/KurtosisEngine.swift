import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI

/// `kurtosis.engine`: the Kurtosis engine on the cluster the provider points at. Kurtosis installs
/// it itself (`kurtosis cluster set NAME` + `kurtosis engine start`, namespace
/// `kurtosis-engine-<uuid>`); there is no Helm chart for it.
enum KurtosisEngine {
    static let schema = ResourceSchema(
        type: "kurtosis.engine",
        description: "The Kurtosis engine, started on the provider's cluster with `kurtosis engine start`.",
        attributes: [
            AttributeSchema("cluster", .string, .optional(default: "ethstack"), forcesReplacement: true,
                            description: "The Kurtosis cluster name written to kurtosis-config.yml and selected with `kurtosis cluster set`."),
            AttributeSchema("storage_class", .string, .optional(default: nil),
                            description: "The storage class of enclave volumes (persistent: true)."),
            AttributeSchema("enclave_size_mb", .number, .optional(default: nil), description: "Size of each enclave's data volume, MB."),
            AttributeSchema("node_selectors", .map(.string), .optional(default: .map([:])),
                            description: "Node selectors for the engine's pods."),
            AttributeSchema("timeout", .string, .optional(default: "15m")),
            AttributeSchema("id", .string, .computed, description: "The cluster name."),
            AttributeSchema("namespace", .string, .computed, description: "kurtosis-engine-<uuid>"),
            AttributeSchema("status", .string, .computed, observed: true, description: "running, or what is wrong"),
        ])

    /// kurtosis-config.yml for the cluster, `config-version: 7` (Kurtosis CLI ≥ 1.16.0): the v7 keys
    /// are `kubernetes-cluster-name`, `storage-class`, `enclave-size-in-megabytes`, `engine-node-name`,
    /// `node-selectors` and `tolerations` (kurtosis cli/cli/kurtosis_config/overrides_objects/v7/
    /// kubernetes_cluster_config_v7.go); `node-selectors` place the engine pod. Kurtosis ignores the
    /// cluster name (it uses the kubeconfig's current context) and never passes the enclave size on.
    static func configFile(_ planned: [String: Value], cluster: String) -> String {
        func q(_ s: String) -> String { Value.string(s).jsonString() }
        var config = "      kubernetes-cluster-name: \(q(cluster))\n"
        if let sc = planned["storage_class"]?.stringValue { config += "      storage-class: \(q(sc))\n" }
        if let size = planned["enclave_size_mb"]?.intValue { config += "      enclave-size-in-megabytes: \(size)\n" }
        let selectors = planned["node_selectors"]?.mapValue ?? [:]
        if !selectors.isEmpty {
            config += "      node-selectors:\n"
            for k in selectors.keys.sorted() { config += "        \(q(k)): \(q(selectors[k]?.stringValue ?? ""))\n" }
        }
        return """
        config-version: 7
        should-send-metrics: false
        kurtosis-clusters:
          \(q(cluster)):
            type: "kubernetes"
            config:
        \(config)
        """ + "\n"
    }

    static func read(_ request: ReadRequest, kube: KubernetesClient) async throws -> ReadResponse? {
        let cluster = request.prior["cluster"]?.stringValue ?? request.id
        guard let (namespace, status) = try await find(kube: kube) else { return nil }
        var attributes = request.prior
        attributes["cluster"] = .string(cluster)
        attributes["id"] = .string(cluster)
        attributes["namespace"] = .string(namespace)
        attributes["status"] = .string(status)
        return ReadResponse(id: cluster, attributes: attributes)
    }

    /// The annotation that marks an engine namespace as started by a stack (its value: the stack).
    static let stackAnnotation = "ethstack.io/stack"

    /// The engine's namespace (any `kurtosis-engine-*` that is not terminating).
    static func engineNamespace(kube: KubernetesClient) async throws -> KubernetesObject? {
        try await kube.list(apiVersion: "v1", kind: "Namespace").first { $0.name.hasPrefix("kurtosis-engine-") && !$0.isTerminating }
    }

    /// The engine's namespace and whether its pod runs.
    static func find(kube: KubernetesClient) async throws -> (String, String)? {
        guard let ns = try await engineNamespace(kube: kube) else { return nil }
        let pods = try await kube.list(apiVersion: "v1", kind: "Pod", namespace: ns.name)
        let running = pods.contains { $0[path: "status.phase"]?.stringValue == "Running" }
        return (ns.name, pods.isEmpty ? "no engine pod" : running ? "running" : "engine pod not running")
    }

    static func planChange(_ request: PlanChangeRequest) -> PlanChangeResponse {
        var planned = request.proposed
        planned["id"] = planned["cluster"] ?? .unknown
        if request.prior == nil || request.prior?["status"]?.stringValue != "running" {
            // Not running: the update restarts it.
            planned["status"] = "running"
        }
        if let prior = request.prior, schema.attributes.contains(where: {
            $0.isSettable && !(planned[$0.name] ?? .null).semanticallyEquals(prior[$0.name] ?? .null)
        }) {
            planned["namespace"] = .unknown
        }
        return PlanChangeResponse(planned: planned)
    }

    /// Writes the config, selects the cluster, starts (or restarts) the engine, waits for its pod.
    static func apply(_ planned: [String: Value], restart: Bool, address: ResourceAddress, stack: String,
                      progress: @escaping ProgressReporter, cli: KurtosisCLI, kube: KubernetesClient) async throws -> ApplyResponse {
        let operation = restart ? "update" : "create"
        let cluster = planned["cluster"]?.stringValue ?? "ethstack"
        if !restart, let running = try await engineNamespace(kube: kube), running.annotations[stackAnnotation] != stack {
            // An engine someone else started (by hand, another stack): never taken over.
            let owner = running.annotations[stackAnnotation].map { "stack \"\($0)\"" } ?? "no ethstack stack"
            throw ProviderError(.conflict, operation: operation, address: address,
                                message: "a Kurtosis engine already runs on this cluster (namespace \(running.name), started by \(owner)); ethstack does not take over an engine it did not start. To manage it from this stack, run: ethstack import \(address)=\(cluster)")
        }
        let timeout = parseDuration(planned["timeout"]?.stringValue ?? "15m") ?? 900
        let configDir = "\(cli.configDirectory)/kurtosis"
        do {
            try FileManager.default.createDirectory(atPath: configDir, withIntermediateDirectories: true)
            try configFile(planned, cluster: cluster).write(toFile: "\(configDir)/kurtosis-config.yml", atomically: true, encoding: .utf8)
        } catch {
            throw ProviderError(.failed, operation: operation, address: address, message: "cannot write \(configDir)/kurtosis-config.yml: \(error.localizedDescription)")
        }
        let set = try await cli.run(operation: operation, address: address, timeout: 120, progress: progress) { _ in
            ["cluster", "set", cluster]
        }
        guard set.succeeded else { throw KurtosisCLI.failure(set, command: "cluster set", operation: operation, address: address) }
        let verb = restart ? "restart" : "start"
        let start = try await cli.run(operation: operation, address: address, timeout: timeout, progress: progress) { _ in
            ["engine", verb]
        }
        guard start.succeeded else { throw KurtosisCLI.failure(start, command: "engine \(verb)", operation: operation, address: address) }
        let (namespace, status) = try await kube.poll(what: "the Kurtosis engine to run", timeout: min(timeout, 300),
                                                      progress: progress) { () -> (KubernetesClient.WaitCheck, (String, String)) in
            guard let found = try await find(kube: kube) else { return (.waiting("no kurtosis-engine-* namespace"), ("", "")) }
            return (found.1 == "running" ? .done : .waiting(found.1), found)
        }
        // The mark: what `find` looks for after an interrupted create.
        _ = try await kube.mergePatch(apiVersion: "v1", kind: "Namespace", namespace: nil, name: namespace,
                                      patch: ["metadata": ["annotations": .map([stackAnnotation: .string(stack)])]])
        var attributes = planned
        attributes["id"] = .string(cluster)
        attributes["namespace"] = .string(namespace)
        attributes["status"] = .string(status)
        return ApplyResponse(id: cluster, attributes: attributes)
    }

    static func delete(_ request: DeleteRequest, cli: KurtosisCLI, kube: KubernetesClient) async throws {
        let stop = try await cli.run(operation: "delete", address: request.address, timeout: 600, progress: request.progress) { _ in
            ["engine", "stop"]
        }
        guard stop.succeeded else { throw KurtosisCLI.failure(stop, command: "engine stop", operation: "delete", address: request.address) }
        // Gone means gone, not terminating: a new engine must not race the old namespace.
        try await kube.poll(what: "the engine namespace to be deleted", timeout: 600, progress: request.progress) {
            let left = try await kube.list(apiVersion: "v1", kind: "Namespace").map(\.name).filter { $0.hasPrefix("kurtosis-engine-") }
            return (left.isEmpty ? .done : .waiting("\(left.joined(separator: ", ")) still there"), ())
        }
    }
}

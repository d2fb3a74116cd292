import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI

/// `kurtosis.enclave`: a package run in an enclave (`kurtosis run --enclave NAME …`), read back
/// through the Kubernetes API (namespace `kt-<name>`, pods and services labelled
/// `kurtosistech.com/*`). Kurtosis cannot change a running enclave: any change of what runs in it
/// replaces it.
enum KurtosisEnclave {
    static let schema = ResourceSchema(
        type: "kurtosis.enclave",
        description: "A Kurtosis enclave running a package (ethereum-package). Kurtosis cannot update an enclave in place: a change of package, ref, args or production replaces it.",
        attributes: [
            AttributeSchema("name", .string, .required, forcesReplacement: true, description: "The enclave name (namespace kt-<name>)."),
            AttributeSchema("package", .string, .optional(default: .string(EnclaveArgs.defaultPackage)), forcesReplacement: true),
            AttributeSchema("ref", .string, .optional(default: .string(EthereumPackageAllowedKeys.version)), forcesReplacement: true,
                            description: "The package version (tag or commit), pinned."),
            AttributeSchema("args", .any, .optional(default: .map([:])), forcesReplacement: true,
                            description: "The package's arguments (network_params…), as a map; checked against ethereum-package's allow-lists."),
            AttributeSchema("production", .bool, .optional(default: true), forcesReplacement: true,
                            description: "--production: failed services restart."),
            AttributeSchema("image_download", .string, .optional(default: "missing"), description: "missing or always."),
            AttributeSchema("timeout", .string, .optional(default: "30m"), description: "How long `kurtosis run` may take."),
            AttributeSchema("id", .string, .computed, description: "The enclave name."),
            AttributeSchema("namespace", .string, .computed, description: "kt-<name>"),
            AttributeSchema("services", .list(.string), .computed, description: "The enclave's service names."),
            AttributeSchema("ports", .map(.map(.number)), .computed, description: "service → {port name → port number}"),
            AttributeSchema("status", .string, .computed, observed: true, description: "running, or which service is missing or not running"),
        ])

    static let userServices = "kurtosistech.com/resource-type=user-service"

    static func read(_ request: ReadRequest, kube: KubernetesClient) async throws -> ReadResponse? {
        let name = request.prior["name"]?.stringValue ?? request.id
        guard let live = try await observe(name: name, expected: request.prior["services"]?.listValue?.compactMap(\.stringValue),
                                           kube: kube) else { return nil }
        var attributes = request.prior
        for (k, v) in live { attributes[k] = v }
        if attributes["package"] == nil { attributes["package"] = .string(EnclaveArgs.defaultPackage) }
        return ReadResponse(id: name, attributes: attributes)
    }

    /// What runs in `kt-<name>` now: nil when the namespace is gone (or going).
    static func observe(name: String, expected: [String]?, kube: KubernetesClient) async throws -> [String: Value]? {
        let namespace = "kt-\(name)"
        guard let ns = try await kube.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: namespace),
              !ns.isTerminating else { return nil }
        let services = try await kube.list(apiVersion: "v1", kind: "Service", namespace: namespace, labelSelector: userServices)
        let pods = try await kube.list(apiVersion: "v1", kind: "Pod", namespace: namespace, labelSelector: userServices)
        var ports: [String: Value] = [:]
        for s in services {
            let svc = s.name
            guard !svc.isEmpty else { continue }
            var p: [String: Value] = [:]
            for port in s[path: "spec.ports"]?.listValue ?? [] {
                guard let number = port["port"]?.numberValue else { continue }
                p[port["name"]?.stringValue ?? "\(Int(number))"] = .number(number)
            }
            ports[svc] = .map(p)
        }
        var phase: [String: String] = [:]
        for pod in pods {
            let id = pod.labels["kurtosistech.com/id"] ?? pod.name
            let p = pod[path: "status.phase"]?.stringValue ?? "Unknown"
            if phase[id] != "Running" { phase[id] = p }
        }
        let names = ports.keys.sorted()
        var problems: [String] = []
        for svc in (expected ?? names) {
            if ports[svc] == nil {
                problems.append("service \(svc) missing")
            } else if let p = phase[svc], p != "Running" {
                problems.append("pod \(svc) \(p)")
            } else if phase[svc] == nil {
                problems.append("pod \(svc) missing")
            }
        }
        let status = problems.isEmpty ? "running" : "degraded: " + problems.joined(separator: ", ")
        return [
            "id": .string(name),
            "name": .string(name),
            "namespace": .string(namespace),
            "services": .list(names.map(Value.string)),
            "ports": .map(ports),
            "status": .string(status),
        ]
    }

    static func planChange(_ request: PlanChangeRequest) throws -> PlanChangeResponse {
        var planned = request.proposed
        if let name = planned["name"]?.stringValue {
            planned["id"] = .string(name)
            planned["namespace"] = .string("kt-\(name)")
        }
        if let mode = planned["image_download"]?.stringValue, mode != "missing", mode != "always" {
            throw ProviderError(.invalidInput, operation: "plan", address: request.address,
                                message: "image_download must be \"missing\" or \"always\", not \"\(mode)\"")
        }
        // Args from variables or other resources are checked here, without positions.
        if let args = planned["args"], !args.containsUnknown {
            let problems = EnclaveArgs.problems(args, package: planned["package"]?.stringValue, ref: planned["ref"]?.stringValue)
            if !problems.isEmpty {
                throw ProviderError(.invalidInput, operation: "plan", address: request.address,
                                    message: "args rejected by ethereum-package's allow-lists: " + problems.joined(separator: "; "))
            }
        }
        guard let prior = request.prior else {
            planned["status"] = "running"
            return PlanChangeResponse(planned: planned)
        }
        // A pod that is not running (a restart, an evicted or deleted pod) is drift, never a reason
        // to replace the enclave on its own: a new enclave is a new genesis, and the chain is lost.
        // The status stays what was observed; the plan warns with the reason and the repair, and
        // `--replace ADDR` replaces the enclave when that is really wanted.
        if let status = prior["status"]?.stringValue, status != "running" {
            for key in ["status", "services", "ports"] { planned[key] = prior[key] ?? .null }
            let name = planned["name"]?.stringValue ?? request.address.description
            return PlanChangeResponse(planned: planned, replacementReason: "Kurtosis cannot update an enclave in place",
                                      warnings: ["enclave \(name) is \(status); it is not replaced (a new enclave is a new genesis). "
                                                 + "`kurtosis service start \(name) SERVICE` recreates a deleted service's pod from its stored config "
                                                 + "and volumes; plan with --replace \(request.address) to start a new chain instead"])
        }
        return PlanChangeResponse(planned: planned, replacementReason: "Kurtosis cannot update an enclave in place")
    }

    static func create(_ request: CreateRequest, cli: KurtosisCLI, kube: KubernetesClient) async throws -> ApplyResponse {
        let planned = request.planned
        guard let name = planned["name"]?.stringValue else {
            throw ProviderError(.invalidInput, operation: "create", address: request.address, message: "name is required")
        }
        let package = planned["package"]?.stringValue ?? EnclaveArgs.defaultPackage
        let ref = planned["ref"]?.stringValue ?? EthereumPackageAllowedKeys.version
        let timeout = parseDuration(planned["timeout"]?.stringValue ?? "30m") ?? 1800
        // A namespace still terminating from an earlier enclave of this name would collide (kurtosis#2098).
        try await waitGone(name: name, timeout: 600, onlyIfTerminating: true, kube: kube, progress: request.progress)
        let args = planned["args"] ?? .map([:])
        request.progress("kurtosis run --enclave \(name) \(package)@\(ref)")
        let run = try await cli.run(operation: "create", address: request.address, timeout: timeout, progress: request.progress) { dir in
            // JSON is YAML: the args file. 0600, removed after the call; never on the command line.
            let argsFile = try dir.write("args.json", (args.isNull ? Value.map([:]) : args).jsonString())
            var a = ["run", "--enclave", name, "--args-file", argsFile]
            if planned["production"]?.boolValue ?? true { a.append("--production") }
            if let mode = planned["image_download"]?.stringValue { a += ["--image-download", mode] }
            a.append(ref.isEmpty ? package : "\(package)@\(ref)")
            return a
        }
        guard run.succeeded else { throw KurtosisCLI.failure(run, command: "run", operation: "create", address: request.address) }
        guard let live = try await observe(name: name, expected: nil, kube: kube) else {
            throw ProviderError(.failed, operation: "create", address: request.address,
                                message: "kurtosis run succeeded but namespace kt-\(name) is not there")
        }
        var attributes = planned
        for (k, v) in live { attributes[k] = v }
        return ApplyResponse(id: name, attributes: attributes)
    }

    static func delete(_ request: DeleteRequest, cli: KurtosisCLI, kube: KubernetesClient) async throws {
        let name = request.prior["name"]?.stringValue ?? request.id
        let rm = try await cli.run(operation: "delete", address: request.address, timeout: 600, progress: request.progress) { _ in
            ["enclave", "rm", "-f", name]
        }
        let text = (rm.stderr + rm.stdout).lowercased()
        guard rm.succeeded || text.contains("not found") || text.contains("no enclave") else {
            throw KurtosisCLI.failure(rm, command: "enclave rm", operation: "delete", address: request.address)
        }
        try await waitGone(name: name, timeout: 600, onlyIfTerminating: false, kube: kube, progress: request.progress)
    }

    /// Waits until namespace kt-<name> no longer exists (terminating counts as existing here).
    static func waitGone(name: String, timeout: Double, onlyIfTerminating: Bool, kube: KubernetesClient,
                         progress: @escaping ProgressReporter) async throws {
        let namespace = "kt-\(name)"
        guard let ns = try await kube.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: namespace) else { return }
        if onlyIfTerminating && !ns.isTerminating { return }
        try await kube.waitUntilGone(apiVersion: "v1", kind: "Namespace", namespace: nil, name: namespace, timeout: timeout,
                                     progress: progress)
    }
}

import Foundation
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI
import EthstackSubprocess
import ProviderSupport

/// `helm.release` through the `helm` CLI (v3): `upgrade --install`, `get metadata`/`get values`,
/// `uninstall`. Values go to helm as a 0600 file (`-f`), never on the command line.
///
/// Configuration: the cluster connection settings of the kubernetes provider
/// (`KubernetesConnectionSettings.schema`), and `helm_path`.
public struct HelmProvider: Provider {
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public var name: String { "helm" }

    public var configurationSchema: [AttributeSchema] {
        KubernetesConnectionSettings.schema + [
            AttributeSchema("helm_path", .string, .optional(default: nil),
                            description: "The helm executable; default: helm on PATH."),
        ]
    }

    public var resourceSchemas: [ResourceSchema] { [HelmRelease.schema] }

    public func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider {
        let executable: String
        do {
            executable = try Subprocess.locate("helm", configured: configuration.values["helm_path"]?.stringValue, setting: "helm_path")
        } catch let e as SubprocessError {
            throw ProviderError(.invalidConfiguration, operation: "configure helm", message: e.message)
        }
        let access = try ClusterAccess(settings: KubernetesConnectionSettings(
            values: configuration.values, environment: environment, baseDirectory: configuration.baseDirectory), provider: "helm")
        return ConfiguredHelm(cli: HelmCLI(executable: executable, access: access, baseDirectory: configuration.baseDirectory),
                              stack: configuration.stackName, baseDirectory: configuration.baseDirectory)
    }
}

enum HelmRelease {
    static let schema = ResourceSchema(
        type: "helm.release",
        description: "A Helm release, installed and upgraded with `helm upgrade --install`.",
        attributes: [
            AttributeSchema("name", .string, .required, forcesReplacement: true, description: "The release name."),
            AttributeSchema("namespace", .string, .optional(default: "default"), forcesReplacement: true),
            AttributeSchema("create_namespace", .bool, .optional(default: false)),
            AttributeSchema("chart", .string, .required,
                            description: "A chart name (with `repository`), an OCI reference (oci://…), a repo/chart name, or a local path relative to the stack."),
            AttributeSchema("repository", .string, .optional(default: nil), description: "The chart repository URL."),
            AttributeSchema("version", .string, .optionalComputed, description: "The chart version; the installed one when unset."),
            AttributeSchema("values", .any, .optional(default: .map([:])), description: "Chart values (a map), passed as a file."),
            AttributeSchema("sensitive_values", .any, .optional(default: nil), sensitive: true,
                            description: "Values merged over `values`, never shown."),
            AttributeSchema("wait", .bool, .optional(default: false)),
            AttributeSchema("timeout", .string, .optional(default: "5m0s")),
            AttributeSchema("atomic", .bool, .optional(default: false)),
            AttributeSchema("id", .string, .computed, description: "namespace/name"),
            AttributeSchema("revision", .number, .computed),
            AttributeSchema("status", .string, .computed, observed: true, description: "deployed, failed, pending-upgrade…"),
            AttributeSchema("app_version", .string, .computed),
        ])

    /// Deep merge of `over` into `base` (maps merge, everything else replaces), as helm merges `-f` files.
    static func merge(_ base: Value, _ over: Value) -> Value {
        guard let b = base.unmarked.mapValue, let o = over.unmarked.mapValue else {
            return over.isNull ? base : over
        }
        var out = b
        for (k, v) in o { out[k] = out[k].map { merge($0, v) } ?? v }
        let merged = Value.map(out)
        return merged.inheritingSensitivity(from: base, over)
    }
}

struct ConfiguredHelm: ConfiguredProvider {
    let cli: HelmCLI
    let stack: String
    let baseDirectory: String
    let readTimeout: Double = 120

    // MARK: read

    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        guard let (namespace, name) = HelmConfiguredParts.split(request.id) ?? parts(request.prior) else {
            throw ProviderError(.invalidInput, operation: "read", address: request.address, message: "bad release id \"\(request.id)\"")
        }
        guard let live = try await fetch(namespace: namespace, name: name, address: request.address) else { return nil }
        var attributes = request.prior
        for (k, v) in live where k != "values" { attributes[k] = v }
        // Values: helm reports what was supplied, merged. Unchanged → keep the configured split.
        let expected = HelmRelease.merge(request.prior["values"] ?? .map([:]), request.prior["sensitive_values"] ?? .null)
        let liveValues = live["values"] ?? .map([:])
        if !expected.semanticallyEquals(liveValues) {
            attributes["values"] = (request.prior["sensitive_values"]?.isNull ?? true) ? liveValues : liveValues.markedSensitive
            attributes["sensitive_values"] = .null
        }
        return ReadResponse(id: "\(namespace)/\(name)", attributes: attributes)
    }

    private func parts(_ attributes: [String: Value]) -> (String, String)? {
        guard let n = attributes["name"]?.stringValue else { return nil }
        return (attributes["namespace"]?.stringValue ?? "default", n)
    }

    /// The release as helm reports it, or nil when there is none.
    func fetch(namespace: String, name: String, address: ResourceAddress) async throws -> [String: Value]? {
        let meta = try await cli.run(operation: "read", address: address, timeout: readTimeout) { _ in
            ["get", "metadata", name, "--namespace", namespace, "-o", "json"]
        }
        if !meta.succeeded {
            if HelmCLI.releaseNotFound(meta) { return nil }
            throw HelmCLI.failure(meta, operation: "read", address: address)
        }
        let m = try parse(meta.stdout, what: "helm get metadata", address: address)
        let values = try await cli.run(operation: "read", address: address, timeout: readTimeout) { _ in
            ["get", "values", name, "--namespace", namespace, "-o", "json"]
        }
        guard values.succeeded else { throw HelmCLI.failure(values, operation: "read", address: address) }
        var userValues = try parse(values.stdout, what: "helm get values", address: address)
        if userValues.isNull { userValues = .map([:]) }
        var status = m["status"]?.stringValue
        if status == nil {
            let st = try await cli.run(operation: "read", address: address, timeout: readTimeout) { _ in
                ["status", name, "--namespace", namespace, "-o", "json"]
            }
            if st.succeeded { status = try parse(st.stdout, what: "helm status", address: address)["info"]?["status"]?.stringValue }
        }
        return [
            "id": .string("\(namespace)/\(name)"),
            "name": .string(name),
            "namespace": .string(namespace),
            "version": m["version"] ?? .null,
            "revision": m["revision"] ?? .null,
            "app_version": m["appVersion"] ?? .null,
            "status": status.map(Value.string) ?? .null,
            "values": userValues,
        ]
    }

    private func parse(_ text: String, what: String, address: ResourceAddress) throws -> Value {
        do {
            return try Value.parseJSON(text)
        } catch {
            throw ProviderError(.failed, operation: "read", address: address, message: "\(what) printed no JSON")
        }
    }

    // MARK: plan

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        var planned = request.proposed
        let namespace = planned["namespace"]?.stringValue ?? "default"
        if let name = planned["name"]?.stringValue { planned["id"] = .string("\(namespace)/\(name)") }
        guard let prior = request.prior else {
            planned["status"] = "deployed"
            return PlanChangeResponse(planned: planned)
        }
        let settable = HelmRelease.schema.attributes.filter { $0.isSettable && $0.name != "version" }.map(\.name)
        var changes = settable.contains { !(planned[$0] ?? .null).semanticallyEquals(prior[$0] ?? .null) }
        if let v = request.proposed["version"], !v.isUnknown, !v.semanticallyEquals(prior["version"] ?? .null) { changes = true }
        // A failed or pending release is put right by the next upgrade: plan one.
        if prior["status"]?.stringValue != "deployed" { changes = true }
        if changes {
            planned["status"] = "deployed"
            planned["revision"] = .unknown
            if request.proposed["version"]?.isUnknown ?? true { planned["version"] = .unknown }
            planned["app_version"] = .unknown
        }
        return PlanChangeResponse(planned: planned)
    }

    // MARK: apply

    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        try await upgradeInstall(request.planned, mark: request.mark, operation: "create", address: request.address,
                                 progress: request.progress)
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        try await upgradeInstall(request.planned, mark: request.mark, operation: "update", address: request.address,
                                 progress: request.progress)
    }

    private func upgradeInstall(_ planned: [String: Value], mark: ResourceMark, operation: String, address: ResourceAddress,
                                progress: @escaping ProgressReporter) async throws -> ApplyResponse {
        guard let name = planned["name"]?.stringValue, let chart = planned["chart"]?.stringValue else {
            throw ProviderError(.invalidInput, operation: operation, address: address, message: "name and chart are required")
        }
        let namespace = planned["namespace"]?.stringValue ?? "default"
        let timeoutText = planned["timeout"]?.stringValue ?? "5m0s"
        guard let timeout = parseDuration(timeoutText) else {
            throw ProviderError(.invalidInput, operation: operation, address: address,
                                message: "timeout \"\(timeoutText)\" is not a duration (e.g. 300s, 5m0s)")
        }
        let values = HelmRelease.merge(planned["values"] ?? .map([:]), planned["sensitive_values"] ?? .null)
        guard values.isNull || values.mapValue != nil else {
            throw ProviderError(.invalidInput, operation: operation, address: address, message: "values must be a map")
        }
        // A look-up that fails (an invalid name, no cluster) is left for `helm upgrade` to report.
        if operation == "create", (try? await fetch(namespace: namespace, name: name, address: address)) != nil,
           !(try await carriesMark(namespace: namespace, name: name, mark: mark, address: address)) {
            // A release of this name that this create did not install: never taken over.
            throw ProviderError(.conflict, operation: operation, address: address,
                                message: "helm release \(namespace)/\(name) already exists and was not installed by this stack (it carries no ethstack.io/stack=\(labelValue(stack)) mark of this create). To manage it from this stack, run: ethstack import \(address)=\(namespace)/\(name)")
        }
        progress("helm upgrade --install \(name) (namespace \(namespace))")
        let result = try await cli.run(operation: operation, address: address, timeout: timeout + 60, progress: progress) { dir in
            // JSON is YAML: the values file helm reads with -f. 0600, removed after the call.
            let valuesFile = try dir.write("values.json", (values.isNull ? Value.map([:]) : values).jsonString())
            var args = ["upgrade", "--install", name, resolveChart(chart), "--namespace", namespace,
                        "-f", valuesFile, "--timeout", timeoutText,
                        "--labels", "ethstack.io/stack=\(labelValue(stack)),ethstack.io/token=\(labelValue(mark.token))"]
            if let repo = planned["repository"]?.stringValue, !repo.isEmpty { args += ["--repo", repo] }
            if let version = planned["version"]?.stringValue, !version.isEmpty { args += ["--version", version] }
            if planned["create_namespace"]?.boolValue == true { args.append("--create-namespace") }
            if planned["wait"]?.boolValue == true { args.append("--wait") }
            if planned["atomic"]?.boolValue == true { args.append("--atomic") }
            return args
        }
        guard result.succeeded else { throw HelmCLI.failure(result, operation: operation, address: address) }
        guard let live = try await fetch(namespace: namespace, name: name, address: address) else {
            throw ProviderError(.failed, operation: operation, address: address, message: "helm reported success but release \(namespace)/\(name) is not there")
        }
        var attributes = planned
        for (k, v) in live where k != "values" { attributes[k] = v }
        return ApplyResponse(id: "\(namespace)/\(name)", attributes: attributes)
    }

    func delete(_ request: DeleteRequest) async throws {
        guard let (namespace, name) = HelmConfiguredParts.split(request.id) ?? parts(request.prior) else { return }
        let timeoutText = request.prior["timeout"]?.stringValue ?? "5m0s"
        let timeout = parseDuration(timeoutText) ?? 300
        request.progress("helm uninstall \(name) (namespace \(namespace))")
        let result = try await cli.run(operation: "delete", address: request.address, timeout: timeout + 60,
                                       progress: request.progress) { _ in
            var args = ["uninstall", name, "--namespace", namespace, "--timeout", timeoutText]
            if request.prior["wait"]?.boolValue == true { args.append("--wait") }
            return args
        }
        // Gone only when helm says the release is not there, not on any message with "not found"
        // in it (a missing namespace, CRD or kube context).
        if result.succeeded || HelmCLI.releaseNotFound(result) { return }
        throw HelmCLI.failure(result, operation: "delete", address: request.address)
    }

    func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        guard let (namespace, name) = HelmConfiguredParts.split(request.id) else {
            throw ProviderError(.invalidInput, operation: "import", address: request.address,
                                message: "import helm.release by \"namespace/name\", not \"\(request.id)\"")
        }
        guard var live = try await fetch(namespace: namespace, name: name, address: request.address) else { return nil }
        let meta = try await cli.run(operation: "import", address: request.address, timeout: readTimeout) { _ in
            ["get", "metadata", name, "--namespace", namespace, "-o", "json"]
        }
        let chartName = (try? Value.parseJSON(meta.stdout))?["chart"]?.stringValue
        live["chart"] = chartName.map(Value.string) ?? .null
        live["create_namespace"] = false
        live["repository"] = .null
        live["sensitive_values"] = .null
        live["wait"] = false
        live["atomic"] = false
        live["timeout"] = "5m0s"
        return ReadResponse(id: "\(namespace)/\(name)", attributes: live)
    }

    func find(_ request: FindRequest) async throws -> ReadResponse? {
        guard let (namespace, name) = parts(request.planned) else { return nil }
        guard let live = try await fetch(namespace: namespace, name: name, address: request.address),
              try await carriesMark(namespace: namespace, name: name, mark: request.mark, address: request.address) else { return nil }
        var attributes = request.planned
        for (k, v) in live where k != "values" { attributes[k] = v }
        return ReadResponse(id: "\(namespace)/\(name)", attributes: attributes)
    }

    // MARK: helpers

    /// Whether the release's labels carry this create's mark (stack and token), as `--labels` set them.
    func carriesMark(namespace: String, name: String, mark: ResourceMark, address: ResourceAddress) async throws -> Bool {
        let selector = "ethstack.io/stack=\(labelValue(stack)),ethstack.io/token=\(labelValue(mark.token))"
        let result = try await cli.run(operation: "find", address: address, timeout: readTimeout) { _ in
            ["list", "--namespace", namespace, "--filter", "^\(NSRegularExpression.escapedPattern(for: name))$", "--selector", selector,
             "--all", "-o", "json"]
        }
        guard result.succeeded else { throw HelmCLI.failure(result, operation: "find", address: address) }
        return !(try parse(result.stdout, what: "helm list", address: address).listValue ?? []).isEmpty
    }

    /// Local chart paths are relative to the stack; repository and OCI references pass through.
    func resolveChart(_ chart: String) -> String {
        if chart.hasPrefix("oci://") || chart.hasPrefix("http://") || chart.hasPrefix("https://") || chart.hasPrefix("/") {
            return chart
        }
        let local = "\(baseDirectory)/\(chart)"
        if chart.hasPrefix("./") || chart.hasPrefix("../") || FileManager.default.fileExists(atPath: local) { return local }
        return chart
    }

    /// A Kubernetes label value: [A-Za-z0-9._-], at most 63 characters, alphanumeric at both ends.
    func labelValue(_ s: String) -> String {
        var out = String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }.prefix(63))
        while let f = out.first, !(f.isLetter || f.isNumber) { out.removeFirst() }
        while let l = out.last, !(l.isLetter || l.isNumber) { out.removeLast() }
        return out
    }
}

enum HelmConfiguredParts {
    /// "namespace/name" → parts.
    static func split(_ id: String) -> (String, String)? {
        guard let slash = id.firstIndex(of: "/") else { return nil }
        let ns = String(id[..<slash]), name = String(id[id.index(after: slash)...])
        return ns.isEmpty || name.isEmpty ? nil : (ns, name)
    }
}

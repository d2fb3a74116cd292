import Foundation
import Synchronization
import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI

/// `kubernetes.manifest`: one Kubernetes object of any apiVersion/kind, applied with server-side
/// apply as field manager `field_manager` (default `ethstack`).
///
/// State keeps `manifest` as applied. A refresh projects the live object over the fields of that
/// manifest, so drift is a change of a field ethstack manages; fields other managers own (status,
/// defaults, a controller's annotations) are not drift. Name, namespace, kind or apiVersion group
/// changes replace the object.
struct ManifestResource: Sendable {
    let client: KubernetesClient
    let stack: String
    /// Set when the API server did not answer a plan-time dry run: the rest of the plan skips them.
    let dryRunsOff = OnceFlag()

    static let stackLabel = "ethstack.io/stack"
    static let addressAnnotation = "ethstack.io/address"

    static let schema = ResourceSchema(type: "kubernetes.manifest", description: "Any Kubernetes object, applied server-side.", attributes: [
        AttributeSchema("manifest", .any, .required, description: "The object: apiVersion, kind, metadata, spec…"),
        AttributeSchema("force_conflicts", .bool, .optional(default: .bool(false)),
                        description: "Take over fields another field manager owns."),
        AttributeSchema("wait", .any, .optional(default: nil),
                        description: "rollout, condition, phase, fields, load_balancer, timeout."),
        AttributeSchema("delete_propagation", .string, .optional(default: .string("Background")),
                        description: "Foreground, Background or Orphan."),
        AttributeSchema("field_manager", .string, .optional(default: .string("ethstack"))),
        AttributeSchema("id", .string, .computed, description: "apiVersion/kind/namespace/name (apiVersion/kind/name cluster-wide)."),
        AttributeSchema("uid", .string, .computed),
        AttributeSchema("resource_version", .string, .computed),
        AttributeSchema("object", .any, .computed, description: "The live object as last applied (without managedFields)."),
        AttributeSchema("load_balancer_hostname", .string, .computed, description: "A LoadBalancer Service's ingress hostname."),
        AttributeSchema("load_balancer_ip", .string, .computed, description: "A LoadBalancer Service's ingress IP."),
    ])

    static let volatileAttributes = ["uid", "resource_version", "object", "load_balancer_hostname", "load_balancer_ip"]

    // MARK: - Plan

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        var planned = request.proposed
        guard let manifest = request.proposed["manifest"], !manifest.isUnknown else {
            return PlanChangeResponse(planned: planned)
        }
        if !manifest.containsUnknown { try Self.validate(manifest, address: request.address) }
        if let wait = request.proposed["wait"], !wait.containsUnknown, !wait.isNull {
            _ = try WaitSpec(wait, address: request.address)
        }
        if let propagation = request.proposed["delete_propagation"]?.stringValue,
           !["Foreground", "Background", "Orphan"].contains(propagation) {
            throw ProviderError(.invalidInput, operation: "plan", address: request.address,
                                message: "delete_propagation must be Foreground, Background or Orphan, not \"\(propagation)\"")
        }
        var replace: [String] = []
        var reason: String?
        var warnings: [String] = []
        let priorManifest = request.prior?["manifest"]
        if let priorManifest {
            if Self.identityChanged(from: priorManifest, to: manifest) { replace.append("manifest") }
            if !manifest.semanticallyEquals(priorManifest) {
                // Applying changes the object: what it looks like afterwards is known after apply.
                for key in ["resource_version", "object"] { planned[key] = .unknown }
            }
        }
        let changing = priorManifest.map { !manifest.semanticallyEquals($0) } ?? true
        let settings = ["field_manager", "force_conflicts"].compactMap { request.proposed[$0] }
        if changing, !request.applying, replace.isEmpty, !manifest.containsUnknown, !settings.contains(where: \.containsUnknown) {
            switch try await dryRun(manifest, proposed: request.proposed, address: request.address) {
            case .accepted, .cannotTell: break
            // Without a prior object the plan is a create, or a replacement (--replace, tainted)
            // whose apply deletes the old object first: what the server says of the object that is
            // there now does not apply to it.
            case .refusedInPlace(let fields, let message):
                if priorManifest != nil {
                    replace.append("manifest")
                    reason = "the API server cannot change \(fields.joined(separator: ", ")) in place: \(message)"
                }
            case .conflict(let message):
                if priorManifest != nil { warnings.append("the apply will fail: \(message)") }
            case .unreachable(let message):
                warnings.append("the API server could not check this change: \(message)")
            }
        }
        return PlanChangeResponse(planned: planned, requiresReplacement: replace, replacementReason: reason, warnings: warnings)
    }

    /// What the API server says of applying a manifest, asked with a server-side dry run.
    enum DryRunVerdict: Sendable, Equatable {
        case accepted
        /// The server refuses to change these fields of the existing object (immutable fields).
        case refusedInPlace(fields: [String], message: String)
        /// Another field manager owns fields the manifest sets (and `force_conflicts` is off).
        case conflict(String)
        /// Nothing to say yet: its namespace or CRD comes later in this run, or a webhook cannot dry-run.
        case cannotTell
        case unreachable(String)
    }

    /// Server-side apply with `dryRun=All`, exactly as the apply will send it (same body, mark,
    /// field manager and force), so the plan learns now what the apply would meet: immutable
    /// fields become a replacement, a conflict with another manager a warning, and an object the
    /// server finds invalid an error with the server's message. This is what `kubectl diff` does.
    func dryRun(_ manifest: Value, proposed: [String: Value], address: ResourceAddress) async throws -> DryRunVerdict {
        if dryRunsOff.isSet { return .cannotTell }
        let body = Self.marked(manifest.deepUnmarked, stack: stack, address: address)
        do {
            _ = try await client.apply(body, fieldManager: proposed["field_manager"]?.stringValue ?? "ethstack",
                                       force: proposed["force_conflicts"]?.boolValue ?? false, dryRun: true)
            return .accepted
        } catch let error as KubernetesAPIError {
            if error.isFieldManagerConflict { return .conflict(ConfiguredKubernetes.message(error)) }
            guard error.code == 422 else { return .cannotTell }
            if let fields = Self.fieldsRefusedInPlace(error) { return .refusedInPlace(fields: fields, message: error.message) }
            throw error
        } catch KubernetesClientError.unknownKind {
            return .cannotTell
        } catch KubernetesClientError.transport(let failure) {
            // One unreachable answer is enough: later changes skip the check instead of waiting for
            // the same timeout, and of the checks already in flight only the first one says so.
            return dryRunsOff.set() ? .unreachable("\(failure)") : .cannotTell
        }
    }

    /// The fields of a 422 answer that the server refuses to change on an existing object: every
    /// cause says so (`field is immutable`, `updates to parameters are forbidden`, `spec is
    /// immutable after creation`, `may not change once set`); nil when any cause is another error.
    static func fieldsRefusedInPlace(_ error: KubernetesAPIError) -> [String]? {
        func refusal(_ text: String) -> Bool {
            let t = text.lowercased()
            return t.contains("immutable") || (t.contains("forbidden") && t.contains("updates to"))
                || t.contains("may not change once set") || t.contains("cannot be changed")
        }
        if error.causes.isEmpty { return refusal(error.message) ? ["(unnamed field)"] : nil }
        guard error.causes.allSatisfy({ refusal($0.message) }) else { return nil }
        var fields: [String] = []
        for cause in error.causes {
            let field = cause.field.isEmpty ? "(unnamed field)" : cause.field
            if !fields.contains(field) { fields.append(field) }
        }
        return fields
    }

    /// A change of name, namespace, kind or apiVersion group cannot be made in place.
    static func identityChanged(from old: Value, to new: Value) -> Bool {
        let a = KubernetesObject(old.deepUnmarked), b = KubernetesObject(new.deepUnmarked)
        func known(_ v: Value?) -> Bool { v.map { !$0.containsUnknown } ?? true }
        let paths = ["kind", "metadata.name", "metadata.namespace", "apiVersion"]
        guard paths.allSatisfy({ known(b[path: $0]) }) else { return false }
        return a.kind != b.kind || a.name != b.name || (a.namespace ?? "") != (b.namespace ?? "") || a.group != b.group
    }

    static func validate(_ manifest: Value, address: ResourceAddress) throws {
        let o = KubernetesObject(manifest.deepUnmarked)
        var problems: [String] = []
        if manifest.mapValue == nil { problems.append("manifest must be a map (an object)") } else {
            if o.apiVersion.isEmpty { problems.append("manifest needs apiVersion") }
            if o.kind.isEmpty { problems.append("manifest needs kind") }
            if o.name.isEmpty { problems.append("manifest needs metadata.name") }
        }
        if !problems.isEmpty {
            throw ProviderError(.invalidInput, operation: "plan", address: address, message: problems.joined(separator: "; "))
        }
    }

    // MARK: - Apply

    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        try await applyObject(planned: request.planned, mark: request.mark, address: request.address, progress: request.progress)
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        try await applyObject(planned: request.planned, mark: request.mark, address: request.address, progress: request.progress)
    }

    private func applyObject(planned: [String: Value], mark: ResourceMark, address: ResourceAddress,
                             progress: @escaping ProgressReporter) async throws -> ApplyResponse {
        guard let manifest = planned["manifest"]?.deepUnmarked, manifest.mapValue != nil else {
            throw ProviderError(.invalidInput, operation: "apply", address: address, message: "manifest must be a map")
        }
        let wait = try WaitSpec(planned["wait"] ?? .null, address: address)
        let body = Self.marked(manifest, stack: mark.stack, address: mark.address)
        let o = KubernetesObject(manifest)
        progress("applying \(o.kind) \(o.displayName)")
        var live = try await client.apply(body, fieldManager: planned["field_manager"]?.stringValue ?? "ethstack",
                                          force: planned["force_conflicts"]?.boolValue ?? false)
        if o.kind == "CustomResourceDefinition" {
            // Its kinds become servable: forget what discovery said before.
            await client.invalidateDiscovery()
        }
        if let waited = try await wait.wait(for: live, client: client, progress: progress) { live = waited }
        return ApplyResponse(id: Self.id(of: live), attributes: attributes(manifest: manifest, live: live, config: planned))
    }

    func delete(_ request: DeleteRequest) async throws {
        guard let ref = ObjectReference(id: request.id) else {
            throw ProviderError(.invalidInput, operation: "delete", address: request.address, message: "not a Kubernetes object id: \(request.id)")
        }
        let propagation = request.prior["delete_propagation"]?.stringValue ?? "Background"
        let timeout = (try? WaitSpec(request.prior["wait"] ?? .null, address: request.address))?.timeout ?? WaitSpec.defaultTimeout
        request.progress("deleting \(ref.kind) \(ref.displayName)")
        let accepted: Bool
        do {
            accepted = try await client.delete(apiVersion: ref.apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name,
                                               propagationPolicy: propagation)
        } catch KubernetesClientError.unknownKind {
            return  // its CRD is gone, and with it every object of the kind
        } catch let error as KubernetesAPIError where error.code == 403 && ref.namespace != nil {
            // Its namespace is terminating: the object goes with it.
            accepted = true
        }
        guard accepted else { return }
        do {
            try await client.waitUntilGone(apiVersion: ref.apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name,
                                           timeout: timeout, progress: request.progress)
        } catch KubernetesClientError.unknownKind {
            return
        }
    }

    // MARK: - Read, import, find

    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        guard let ref = ObjectReference(id: request.id) else {
            throw ProviderError(.invalidInput, operation: "read", address: request.address, message: "not a Kubernetes object id: \(request.id)")
        }
        let live: KubernetesObject?
        do {
            live = try await client.get(apiVersion: ref.apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name)
        } catch KubernetesClientError.unknownKind {
            return nil  // the kind is not served any more (CRD deleted): the object is gone
        }
        guard let live else { return nil }
        let priorManifest = request.prior["manifest"]?.deepUnmarked ?? .map([:])
        let projected = FieldProjection.project(FieldProjection.secretStringData(live.value, for: priorManifest, kind: ref.kind),
                                                over: priorManifest)
        var attributes = request.prior
        attributes["manifest"] = Self.sensitiveIfSecret(projected, kind: ref.kind)
        let replacedOutside = request.prior["uid"]?.stringValue.map { $0 != live.uid } ?? true
        if replacedOutside || !projected.semanticallyEquals(priorManifest) {
            // Changed outside: show the live object as it is now.
            let fresh = self.attributes(manifest: projected, live: live, config: request.prior)
            for key in Self.volatileAttributes { attributes[key] = fresh[key] }
        } else {
            // Fields other managers own (status, defaults) move all the time: not drift.
            for key in ["load_balancer_hostname", "load_balancer_ip"] where (attributes[key]?.stringValue ?? "").isEmpty {
                attributes[key] = self.attributes(manifest: projected, live: live, config: request.prior)[key]
            }
        }
        attributes["id"] = .string(Self.id(of: live))
        return ReadResponse(id: Self.id(of: live), attributes: attributes)
    }

    func importObject(_ request: ImportRequest) async throws -> ReadResponse? {
        guard let ref = ObjectReference(id: request.id) else {
            throw ProviderError(.invalidInput, operation: "import", address: request.address,
                                message: "an id is apiVersion/Kind/namespace/name, or apiVersion/Kind/name for cluster-scoped objects; got \(request.id)")
        }
        guard let live = try await client.get(apiVersion: ref.apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name) else {
            return nil
        }
        let manifest = Self.importedManifest(live.value)
        var config: [String: Value] = [:]
        for attr in Self.schema.attributes { if let d = attr.defaultValue { config[attr.name] = d } }
        return ReadResponse(id: Self.id(of: live), attributes: attributes(manifest: manifest, live: live, config: config))
    }

    func find(_ request: FindRequest) async throws -> ReadResponse? {
        guard let manifest = request.planned["manifest"]?.deepUnmarked, !manifest.containsUnknown else { return nil }
        let o = KubernetesObject(manifest)
        guard !o.apiVersion.isEmpty, !o.kind.isEmpty else { return nil }
        let info = try await client.resource(apiVersion: o.apiVersion, kind: o.kind)
        let candidates = try await client.list(apiVersion: o.apiVersion, kind: o.kind,
                                               namespace: info.namespaced ? (o.namespace ?? client.connection.defaultNamespace) : nil,
                                               labelSelector: "\(Self.stackLabel)=\(Self.labelValue(request.mark.stack))")
        guard let live = candidates.first(where: { $0.annotations[Self.addressAnnotation] == request.mark.address.description }) else { return nil }
        return ReadResponse(id: Self.id(of: live), attributes: attributes(manifest: manifest, live: live, config: request.planned))
    }

    // MARK: - Attributes

    func attributes(manifest: Value, live: KubernetesObject, config: [String: Value]) -> [String: Value] {
        var out: [String: Value] = [:]
        for attr in Self.schema.attributes where attr.isSettable {
            out[attr.name] = config[attr.name] ?? attr.defaultValue ?? .null
        }
        out["manifest"] = Self.sensitiveIfSecret(manifest, kind: live.kind)
        out["id"] = .string(Self.id(of: live))
        out["uid"] = .string(live.uid ?? "")
        out["resource_version"] = .string(live.resourceVersion ?? "")
        out["object"] = Self.sensitiveIfSecret(Self.cleaned(live.value), kind: live.kind)
        let ingress = live[path: "status.loadBalancer.ingress.0"]
        out["load_balancer_hostname"] = .string(ingress?["hostname"]?.stringValue ?? "")
        out["load_balancer_ip"] = .string(ingress?["ip"]?.stringValue ?? "")
        return out
    }

    /// A Secret's content is sensitive wherever it appears.
    static func sensitiveIfSecret(_ value: Value, kind: String) -> Value {
        kind == "Secret" ? value.markedSensitive : value
    }

    /// The live object without `managedFields` (large, and nobody's business in state).
    static func cleaned(_ object: Value) -> Value {
        guard var map = object.mapValue, var metadata = map["metadata"]?.mapValue else { return object }
        metadata["managedFields"] = nil
        map["metadata"] = .map(metadata)
        return .map(map)
    }

    /// What import records as the manifest: the object without server-set metadata and status.
    static func importedManifest(_ object: Value) -> Value {
        guard var map = object.mapValue else { return object }
        map["status"] = nil
        if var metadata = map["metadata"]?.mapValue {
            for key in ["managedFields", "uid", "resourceVersion", "creationTimestamp", "generation", "selfLink", "deletionTimestamp"] {
                metadata[key] = nil
            }
            map["metadata"] = .map(metadata)
        }
        return .map(map)
    }

    /// The manifest with ethstack's mark: label `ethstack.io/stack`, annotation `ethstack.io/address`.
    static func marked(_ manifest: Value, stack: String, address: ResourceAddress) -> Value {
        guard var map = manifest.mapValue else { return manifest }
        var metadata = map["metadata"]?.mapValue ?? [:]
        var labels = metadata["labels"]?.mapValue ?? [:]
        labels[stackLabel] = .string(labelValue(stack))
        metadata["labels"] = .map(labels)
        var annotations = metadata["annotations"]?.mapValue ?? [:]
        annotations[addressAnnotation] = .string(address.description)
        metadata["annotations"] = .map(annotations)
        map["metadata"] = .map(metadata)
        return .map(map)
    }

    /// A label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric.
    static func labelValue(_ text: String) -> String {
        var s = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "-" }.prefix(63))
        while let f = s.first, !(f.isLetter || f.isNumber) { s.removeFirst() }
        while let l = s.last, !(l.isLetter || l.isNumber) { s.removeLast() }
        return s
    }

    static func id(of object: KubernetesObject) -> String {
        ObjectReference(apiVersion: object.apiVersion, kind: object.kind, namespace: object.namespace, name: object.name).id
    }
}

/// apiVersion/kind/namespace/name — the id of a `kubernetes.manifest`.
struct ObjectReference: Sendable, Hashable {
    var apiVersion: String
    var kind: String
    var namespace: String?
    var name: String

    init(apiVersion: String, kind: String, namespace: String?, name: String) {
        self.apiVersion = apiVersion; self.kind = kind; self.namespace = namespace; self.name = name
    }

    /// Parses `v1/Kind/ns/name`, `v1/Kind/name`, `group/version/Kind/ns/name`, `group/version/Kind/name`.
    init?(id: String) {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty }), let first = parts.first else { return nil }
        let core = Self.isVersion(first)
        let versionParts = core ? 1 : 2
        let rest = parts.dropFirst(versionParts)
        guard rest.count == 2 || rest.count == 3, parts.count > versionParts else { return nil }
        apiVersion = parts.prefix(versionParts).joined(separator: "/")
        let r = Array(rest)
        kind = r[0]
        namespace = r.count == 3 ? r[1] : nil
        name = r[r.count - 1]
    }

    /// `v1`, `v1beta1`, `v2alpha3`: a version, not a group name.
    static func isVersion(_ s: String) -> Bool {
        guard s.hasPrefix("v"), let digit = s.dropFirst().first, digit.isNumber else { return false }
        return s.dropFirst().allSatisfy { $0.isLetter || $0.isNumber } && (s.contains("alpha") || s.contains("beta") || s.dropFirst().allSatisfy(\.isNumber))
    }

    var id: String { [apiVersion, kind, namespace, name].compactMap { $0 }.joined(separator: "/") }
    var displayName: String { namespace.map { "\($0)/\(name)" } ?? name }
}

/// A flag that is set once and read from any task.
final class OnceFlag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    /// Sets the flag; true for the caller that set it first.
    @discardableResult
    func set() -> Bool { state.withLock { was in defer { was = true }; return !was } }
}

import Foundation
import EthstackAWSClient
import EthstackHTTP
import EthstackModel

/// A Kubernetes API client over the engine's libcurl `HTTPClient`, shared by every provider that
/// talks to a cluster (`kubernetes`, `kurtosis`, `helm` read-backs).
///
///     let connection = try KubeConfig.load(environment: env).connection(context: nil)
///     let client = try KubernetesClient(connection: connection)
///     let pods = try await client.list(apiVersion: "v1", kind: "Pod", namespace: "kt-testnet",
///                                      labelSelector: "kurtosistech.com/resource-type=user-service")
///     let applied = try await client.apply(object, fieldManager: "ethstack", force: false)
///
/// - Any apiVersion/kind (CRDs too) is mapped to its REST path by discovery, cached for the
///   client's life; a miss is looked up again once (a CRD created earlier in the run is found).
/// - Error answers throw `KubernetesAPIError` (decoded `Status`: code, reason, message, causes);
///   no answer throws `KubernetesClientError.transport`. `get` returns nil on 404, `delete`
///   returns false when the object was already gone.
/// - Throttling (429), 5xx and failed connections are retried with backoff; a 401 with a
///   generated token (EKS, token file) makes a fresh token and tries once more.
/// - Tokens and keys never appear in errors or logs.
///
/// One client per run and connection; it is `Sendable` and safe to use from many tasks at once.
public final class KubernetesClient: Sendable {
    public let connection: KubernetesConnection
    private let http: HTTPClient
    private let tls: KubernetesTLSFiles
    private let tokens: KubernetesTokenCache
    private let discovery: KubernetesDiscovery
    /// Attempts per request for retryable failures.
    public let maxAttempts: Int
    /// First retry delay in seconds (doubles per attempt).
    public let retryBaseDelay: Double

    /// `maxConcurrentRequests`: requests in flight at once (the run's `--parallelism`).
    public init(connection: KubernetesConnection, userAgent: String = "ethstack", maxAttempts: Int = 4,
                retryBaseDelay: Double = 0.2, maxConcurrentRequests: Int = 10) throws {
        self.connection = connection
        let tls = try KubernetesTLSFiles(connection)
        var options = HTTPClientOptions()
        options.userAgent = userAgent
        options.timeout = connection.requestTimeout
        options.verifyTLS = !connection.insecureSkipTLSVerify
        options.caBundlePath = tls.caPath
        options.clientCertificatePath = tls.certificatePath
        options.clientKeyPath = tls.keyPath
        options.maxConcurrentTransfers = maxConcurrentRequests
        self.http = HTTPClient(options: options)
        self.tls = tls
        self.tokens = KubernetesTokenCache(connection.auth)
        self.maxAttempts = max(1, maxAttempts)
        self.retryBaseDelay = retryBaseDelay
        let http = self.http, tokens = self.tokens, server = connection.server
        self.discovery = KubernetesDiscovery { path in
            let response = try await KubernetesClient.send(http: http, tokens: tokens, server: server, method: "GET", path: path,
                                                           query: [], body: nil, contentType: nil, attempts: max(1, maxAttempts),
                                                           baseDelay: retryBaseDelay)
            if response.status == 404 { return nil }
            guard response.status < 300 else { throw KubernetesAPIError(response: response, operation: "GET \(path)") }
            return try KubernetesClient.decode(response, operation: "GET \(path)")
        }
    }

    // MARK: - Requests

    /// Sends one request (with retries and auth) and returns the response whatever its status.
    /// `path` is absolute (`/api/v1/namespaces`); `query` values are encoded here.
    public func send(method: String, path: String, query: [(String, String)] = [], body: Data? = nil,
                     contentType: String? = nil) async throws -> HTTPResponse {
        try await Self.send(http: http, tokens: tokens, server: connection.server, method: method, path: path, query: query,
                            body: body, contentType: contentType, attempts: maxAttempts, baseDelay: retryBaseDelay)
    }

    /// Sends a request and decodes the JSON answer; an error status throws `KubernetesAPIError`.
    public func json(method: String, path: String, query: [(String, String)] = [], body: Value? = nil,
                     contentType: String = "application/json") async throws -> Value {
        let data = body.map { Data($0.jsonString().utf8) }
        let response = try await send(method: method, path: path, query: query, body: data,
                                      contentType: data == nil ? nil : contentType)
        let operation = "\(method) \(path)"
        guard (200..<300).contains(response.status) else { throw KubernetesAPIError(response: response, operation: operation) }
        return try Self.decode(response, operation: operation)
    }

    // MARK: - Discovery

    /// The REST resource for an apiVersion and kind (CRDs included). Throws
    /// `KubernetesClientError.unknownKind` when the cluster does not serve it.
    public func resource(apiVersion: String, kind: String) async throws -> KubernetesResourceInfo {
        try await discovery.resource(apiVersion: apiVersion, kind: kind)
    }

    /// Every resource of a group/version (`"apps/v1"`), empty when not served.
    public func resources(apiVersion: String) async throws -> [KubernetesResourceInfo] {
        try await discovery.resources(KubernetesGroupVersion(apiVersion))
    }

    /// Served API groups: name (core is `""`) → preferred version and all versions.
    public func apiGroups(refresh: Bool = false) async throws -> [String: (preferred: String, versions: [String])] {
        try await discovery.apiGroups(refresh: refresh)
    }

    /// Drops every cached discovery answer.
    public func invalidateDiscovery() async { await discovery.invalidate() }

    /// `gitVersion` of `/version` (`v1.32.0`).
    public func serverVersion() async throws -> String {
        try await json(method: "GET", path: "/version")["gitVersion"]?.stringValue ?? ""
    }

    // MARK: - Objects

    /// The object, or nil when it does not exist. `namespace` is ignored for cluster-scoped kinds
    /// and defaults to the connection's namespace for namespaced ones.
    public func get(apiVersion: String, kind: String, namespace: String?, name: String) async throws -> KubernetesObject? {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        do {
            return KubernetesObject(try await json(method: "GET", path: info.objectPath(namespace: namespaceFor(info, namespace), name: name)))
        } catch let error as KubernetesAPIError where error.isNotFound {
            return nil
        }
    }

    /// Objects of a kind in one namespace, or in all namespaces when `namespace` is nil.
    public func list(apiVersion: String, kind: String, namespace: String? = nil, labelSelector: String? = nil,
                     fieldSelector: String? = nil) async throws -> [KubernetesObject] {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        var query: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
        let list = try await json(method: "GET", path: info.collectionPath(namespace: info.namespaced ? namespace : nil), query: query)
        // Items of a list carry no apiVersion/kind: put them back.
        return (list["items"]?.listValue ?? []).map { item in
            var map = item.mapValue ?? [:]
            if map["apiVersion"] == nil { map["apiVersion"] = .string(apiVersion) }
            if map["kind"] == nil { map["kind"] = .string(kind) }
            return KubernetesObject(.map(map))
        }
    }

    /// Server-side apply (`PATCH application/apply-patch+yaml` with a JSON body): creates or updates
    /// the fields `object` sets, owned by `fieldManager`. A conflict with another manager throws a
    /// `KubernetesAPIError` with `isFieldManagerConflict` (see `fieldConflicts`) unless `force`.
    /// `dryRun`: the server's answer without storing anything.
    public func apply(_ object: Value, fieldManager: String = "ethstack", force: Bool = false,
                      dryRun: Bool = false) async throws -> KubernetesObject {
        let (info, namespace, name) = try await locate(object)
        var query: [(String, String)] = [("fieldManager", fieldManager)]
        if force { query.append(("force", "true")) }
        if dryRun { query.append(("dryRun", "All")) }
        var body = object
        if info.namespaced, var map = body.mapValue, var metadata = map["metadata"]?.mapValue, metadata["namespace"] == nil {
            metadata["namespace"] = .string(namespace ?? connection.defaultNamespace)
            map["metadata"] = .map(metadata)
            body = .map(map)
        }
        return KubernetesObject(try await json(method: "PATCH", path: info.objectPath(namespace: namespace, name: name), query: query,
                                               body: body, contentType: "application/apply-patch+yaml"))
    }

    /// Creates the object (`POST`); `AlreadyExists` throws.
    public func create(_ object: Value, fieldManager: String? = nil, dryRun: Bool = false) async throws -> KubernetesObject {
        let (info, namespace, _) = try await locate(object)
        var query: [(String, String)] = []
        if let fieldManager { query.append(("fieldManager", fieldManager)) }
        if dryRun { query.append(("dryRun", "All")) }
        return KubernetesObject(try await json(method: "POST", path: info.collectionPath(namespace: namespace), query: query, body: object))
    }

    /// A JSON merge patch (`application/merge-patch+json`) of an existing object.
    public func mergePatch(apiVersion: String, kind: String, namespace: String?, name: String, patch: Value,
                           fieldManager: String? = nil, subresource: String? = nil) async throws -> KubernetesObject {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        var path = info.objectPath(namespace: namespaceFor(info, namespace), name: name)
        if let subresource { path += "/\(subresource)" }
        var query: [(String, String)] = []
        if let fieldManager { query.append(("fieldManager", fieldManager)) }
        return KubernetesObject(try await json(method: "PATCH", path: path, query: query, body: patch,
                                               contentType: "application/merge-patch+json"))
    }

    /// Asks for deletion; true when the server accepted it, false when the object was already gone.
    /// The object may linger (finalizers, a terminating namespace): see `waitUntilGone`.
    /// `propagationPolicy`: `Foreground`, `Background` or `Orphan`.
    @discardableResult
    public func delete(apiVersion: String, kind: String, namespace: String?, name: String,
                       propagationPolicy: String? = nil) async throws -> Bool {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        var body: Value?
        if let propagationPolicy {
            body = .map(["apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": .string(propagationPolicy)])
        }
        do {
            _ = try await json(method: "DELETE", path: info.objectPath(namespace: namespaceFor(info, namespace), name: name), body: body)
            return true
        } catch let error as KubernetesAPIError where error.isNotFound {
            return false
        }
    }

    // MARK: - Waiting (polling with backoff)

    /// Polls the object until `check` returns `.done`, for at most `timeout` seconds. `check` sees
    /// nil while the object does not exist. Reports `check`'s progress text through `progress`
    /// (when it changes, and every 10 s). Returns the last object seen.
    public func wait(apiVersion: String, kind: String, namespace: String?, name: String, what: String, timeout: Double,
                     progress: @escaping @Sendable (String) -> Void = { _ in },
                     check: @escaping @Sendable (KubernetesObject?) -> WaitCheck) async throws -> KubernetesObject? {
        try await poll(what: what, timeout: timeout, progress: progress) {
            let object = try await self.get(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name)
            return (check(object), object)
        }
    }

    /// Polls until the object no longer exists (namespaces wait for their contents and finalizers).
    public func waitUntilGone(apiVersion: String, kind: String, namespace: String?, name: String, timeout: Double,
                              progress: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        _ = try await wait(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name,
                           what: "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name) to be deleted", timeout: timeout,
                           progress: progress) { object in
            guard let object else { return .done }
            if let since = object.deletionTimestamp { return .waiting("terminating since \(since)") }
            return .waiting("still present")
        }
    }

    /// What a wait's check says about the object it saw.
    public enum WaitCheck: Sendable, Equatable {
        case done
        /// Not yet; the text says what is missing ("2/3 replicas ready").
        case waiting(String)
        /// It will never get there (a failed condition); stop with this message.
        case failed(String)
    }

    /// The generic poll loop (the model's `poll`): backoff from 0.1 s up to 5 s, bounded by `timeout`.
    public func poll<T: Sendable>(what: String, timeout: Double, progress: @escaping @Sendable (String) -> Void = { _ in },
                                  _ step: @escaping @Sendable () async throws -> (WaitCheck, T)) async throws -> T {
        do {
            return try await EthstackModel.poll(what: what, timeout: timeout,
                                                 backoff: Backoff(baseDelay: 0.1, maxDelay: 5, multiplier: 1.5, jitter: false),
                                                 progress: progress) { () -> PollStep<T> in
                let (state, value) = try await step()
                switch state {
                case .done: return .done(value)
                case .waiting(let text): return .waiting(text)
                case .failed(let message): return .failed(message)
                }
            }
        } catch PollError.timedOut(let what, let seconds, let last) {
            throw KubernetesClientError.waitTimedOut(what: what, seconds: seconds, last: last)
        } catch PollError.failed(let what, let message) {
            throw KubernetesClientError.invalidResponse("\(what): \(message)")
        }
    }

    // MARK: - Helpers

    /// Path-segment escaping for names and namespaces.
    public static func escape(_ segment: String) -> String { SigV4Signer.uriEncode(segment, keepSlash: false) }

    private func namespaceFor(_ info: KubernetesResourceInfo, _ namespace: String?) -> String? {
        guard info.namespaced else { return nil }
        if let namespace, !namespace.isEmpty { return namespace }
        return connection.defaultNamespace
    }

    private func locate(_ object: Value) async throws -> (KubernetesResourceInfo, String?, String) {
        let o = KubernetesObject(object)
        guard !o.apiVersion.isEmpty, !o.kind.isEmpty else {
            throw KubernetesClientError.configuration("a Kubernetes object needs apiVersion and kind")
        }
        guard !o.name.isEmpty else {
            throw KubernetesClientError.configuration("\(o.kind) needs metadata.name")
        }
        let info = try await resource(apiVersion: o.apiVersion, kind: o.kind)
        return (info, namespaceFor(info, o.namespace), o.name)
    }

    package static func decode(_ response: HTTPResponse, operation: String) throws -> Value {
        if response.body.isEmpty { return .null }
        do { return try Value.parseJSON(response.body) } catch {
            throw KubernetesClientError.invalidResponse("\(operation) answered \(response.status) with a body that is not JSON")
        }
    }

    static func send(http: HTTPClient, tokens: KubernetesTokenCache, server: String, method: String, path: String,
                     query: [(String, String)], body: Data?, contentType: String?, attempts: Int,
                     baseDelay: Double) async throws -> HTTPResponse {
        var url = server + path
        if !query.isEmpty {
            url += "?" + query.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
        }
        let backoff = Backoff(baseDelay: baseDelay, maxDelay: 10)
        var refreshedToken = false
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPRequest(method: method, url: url, body: body ?? Data())
            request.headers.append(HTTPHeader("Accept", "application/json"))
            if let contentType { request.headers.append(HTTPHeader("Content-Type", contentType)) }
            let authorization: String?
            do { authorization = try tokens.authorization() } catch let e as KubernetesClientError { throw e } catch {
                throw KubernetesClientError.configuration("cannot make a token for the Kubernetes API: \(error)")
            }
            if let authorization { request.headers.append(HTTPHeader("Authorization", authorization)) }
            do {
                let response = try await http.send(request)
                if response.status == 401, !refreshedToken {
                    refreshedToken = true
                    tokens.invalidate()
                    continue
                }
                if [429, 500, 502, 503, 504].contains(response.status), attempt < attempts {
                    if let retryAfter = response.header("Retry-After").flatMap(Double.init) {
                        try await Task.sleep(nanoseconds: UInt64(min(retryAfter, 10) * 1e9))
                    } else {
                        try await backoff.sleep(afterAttempt: attempt - 1)
                    }
                    continue
                }
                return response
            } catch let error as HTTPTransportError {
                if error.kind == .cancelled { throw CancellationError() }
                if error.retryable, attempt < attempts {
                    try await backoff.sleep(afterAttempt: attempt - 1)
                    continue
                }
                throw KubernetesClientError.transport(error)
            }
        }
    }
}

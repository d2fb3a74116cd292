import EthstackEngine
import Foundation

/// A minimal, read-only Kubernetes API client (GET and LIST) for reading enclave state back, on the
/// engine's HTTPClient. Bearer tokens and CA bundles only. (Private to this provider until the
/// engine's shared Kubernetes client is merged; then this should go.)
final class KubeReader: Sendable {
    let server: String
    private let token: String?
    private let http: HTTPClient
    private let caDirectory: PrivateDirectory?

    init(endpoint: ClusterAccess.Endpoint) throws {
        var options = HTTPClientOptions()
        options.timeout = 30
        options.userAgent = "ethstack-kurtosis"
        var dir: PrivateDirectory?
        if endpoint.insecure {
            options.verifyTLS = false
        } else if let pem = endpoint.caPEM {
            let d = try PrivateDirectory(prefix: "ethstack-kube-ca")
            options.caBundlePath = try d.write("ca.pem", pem)
            dir = d
        }
        server = endpoint.server.hasSuffix("/") ? String(endpoint.server.dropLast()) : endpoint.server
        token = endpoint.token
        caDirectory = dir
        http = HTTPClient(options: options)
    }

    deinit { caDirectory?.remove() }

    /// The object at `path`, or nil on 404.
    func get(_ path: String, operation: String, address: String) async throws -> Value? {
        var request = HTTPRequest(method: "GET", url: server + path, headers: [HTTPHeader("Accept", "application/json")])
        if let token { request.setHeader("Authorization", "Bearer \(token)") }
        let response: HTTPResponse
        do {
            response = try await http.send(request)
        } catch let e as HTTPTransportError {
            throw ProviderError(e.retryable ? .unavailable : .failed, operation: operation, address: address,
                                message: "Kubernetes API \(server): \(e.message)")
        }
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else {
            let message = (try? Value.parseJSON(response.body))?["message"]?.stringValue ?? "HTTP \(response.status)"
            let kind: ProviderError.Kind = response.status == 401 || response.status == 403 ? .unauthorized
                : response.status >= 500 ? .unavailable : .failed
            throw ProviderError(kind, operation: operation, address: address, message: "GET \(path): \(message)")
        }
        do {
            return try Value.parseJSON(response.body)
        } catch {
            throw ProviderError(.failed, operation: operation, address: address, message: "GET \(path): not JSON")
        }
    }

    /// The items of a list, optionally filtered by a label selector.
    func list(_ path: String, labelSelector: String? = nil, operation: String, address: String) async throws -> [Value] {
        var full = path
        if let labelSelector {
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            full += "?labelSelector=" + (labelSelector.addingPercentEncoding(withAllowedCharacters: allowed) ?? labelSelector)
        }
        return try await get(full, operation: operation, address: address)?["items"]?.listValue ?? []
    }

    static func isTerminating(_ object: Value) -> Bool {
        object["metadata"]?["deletionTimestamp"].map { !$0.isNull } ?? false
            || object["status"]?["phase"]?.stringValue == "Terminating"
    }
}

import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI

// What every provider that talks to Kubernetes shares on the provider side of the boundary: the
// settings' schema for `configurationSchema`, and client failures as `ProviderError`s.

extension KubernetesConnectionSettings {
    /// The attributes of these settings, for a provider's `configurationSchema`.
    public static let schema: [AttributeSchema] = [
        AttributeSchema("host", .string, .optional(default: nil), description: "API server URL; with it the kubeconfig is not read."),
        AttributeSchema("cluster_ca_certificate", .string, .optional(default: nil), description: "CA bundle: PEM or base64 PEM."),
        AttributeSchema("token", .string, .optional(default: nil), sensitive: true, description: "Bearer token."),
        AttributeSchema("client_certificate", .string, .optional(default: nil), description: "Client certificate: PEM or base64 PEM."),
        AttributeSchema("client_key", .string, .optional(default: nil), sensitive: true, description: "Client key: PEM or base64 PEM."),
        AttributeSchema("insecure", .bool, .optional(default: .bool(false)), description: "Skip TLS verification."),
        AttributeSchema("eks_cluster_name", .string, .optional(default: nil), description: "Generate an EKS token for this cluster."),
        AttributeSchema("region", .string, .optional(default: nil), description: "AWS region of the EKS cluster."),
        AttributeSchema("aws_profile", .string, .optional(default: nil), description: "AWS profile for the EKS token."),
        AttributeSchema("config_path", .string, .optional(default: nil), description: "kubeconfig file(s), colon-separated."),
        AttributeSchema("kubeconfig", .string, .optional(default: nil), sensitive: true,
                        description: "A kubeconfig's content inline, or its path (as config_path)."),
        AttributeSchema("context", .string, .optional(default: nil), description: "kubeconfig context; default current-context."),
        AttributeSchema("namespace", .string, .optional(default: nil), description: "Namespace for objects that name none."),
        AttributeSchema("request_timeout", .number, .optional(default: .number(60)), description: "Seconds per API request."),
    ]
}

extension ProviderError {
    /// A failure of a `KubernetesClient` call as a provider error: the kind from the HTTP status (or
    /// from what failed), retryable as the client says; `message` replaces the error's own text.
    /// A `ProviderError` or any other error is returned unchanged.
    public static func kubernetes(_ error: any Error, operation: String, address: ResourceAddress?, message: String? = nil) -> any Error {
        if let error = error as? KubernetesAPIError {
            let kind: Kind
            switch error.code {
            case 400, 422: kind = .invalidInput
            case 401, 403: kind = .unauthorized
            case 404: kind = .notFound
            case 409: kind = .conflict
            case 429: kind = .throttled
            case 500...: kind = .unavailable
            default: kind = .failed
            }
            return ProviderError(kind, operation: operation, address: address, message: message ?? error.description,
                                 retryable: error.retryable)
        }
        if let error = error as? KubernetesClientError {
            let kind: Kind
            switch error {
            case .configuration: kind = .invalidConfiguration
            case .unknownKind: kind = .invalidInput
            case .transport: kind = .unavailable
            case .invalidResponse: kind = .failed
            case .waitTimedOut: kind = .timeout
            }
            return ProviderError(kind, operation: operation, address: address, message: message ?? error.description,
                                 retryable: error.retryable)
        }
        return error
    }
}

import Foundation

/// Service endpoints, resolved like the AWS SDKs: the provider's `endpoints` map, then
/// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the public AWS endpoint.
struct AWSEndpoints: Sendable {
    var region: String
    /// From the provider configuration, keyed by lower-case service name.
    var configured: [String: String]
    var environment: [String: String]

    /// The services ethstack calls and their environment-variable suffixes.
    static let services = ["ec2": "EC2", "iam": "IAM", "eks": "EKS", "s3": "S3", "sts": "STS"]

    func endpoint(for service: String) -> AWSServiceEndpoint {
        // IAM is global: signed for us-east-1 in the aws partition.
        let signingRegion = service == "iam" ? "us-east-1" : region
        let key = Self.services[service] ?? service.uppercased()
        let custom = configured[service] ?? nonEmpty(environment["AWS_ENDPOINT_URL_\(key)"]) ?? nonEmpty(environment["AWS_ENDPOINT_URL"])
        if let custom {
            return AWSServiceEndpoint(url: Self.trimmed(custom), signingRegion: signingRegion, signingName: service, isCustom: true)
        }
        let url: String
        switch service {
        case "iam": url = "https://iam.amazonaws.com"
        default: url = "https://\(service).\(region).amazonaws.com"
        }
        return AWSServiceEndpoint(url: url, signingRegion: signingRegion, signingName: service, isCustom: false)
    }

    static func trimmed(_ url: String) -> String {
        var u = url
        while u.hasSuffix("/") { u.removeLast() }
        return u
    }

    private func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }
}

import Foundation
import EthstackAWSClient
import EthstackHTTP

/// The bearer token EKS accepts, generated natively (what `aws eks get-token` prints): a presigned
/// STS `GetCallerIdentity` URL whose signature covers the `x-k8s-aws-id: CLUSTER` header,
/// `k8s-aws-v1.` + base64url(URL) without padding. Valid for 15 minutes; the URL expires in 60 s
/// on the STS side but EKS honours the token for its own 15-minute window.
public enum EKSToken {
    public static let prefix = "k8s-aws-v1."
    /// Seconds a generated token is reused before a new one is made.
    public static let reuseSeconds: Double = 600

    public static func generate(_ source: EKSTokenSource, date: Date = Date()) throws -> String {
        let endpoint = source.stsEndpoint ?? "https://sts.\(source.region).amazonaws.com"
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        let signer = SigV4Signer(credentials: source.credentials, region: source.region, service: "sts")
        let url = try signer.presign(
            method: "GET", url: "\(base)/?Action=GetCallerIdentity&Version=2011-06-15",
            headers: [HTTPHeader("x-k8s-aws-id", source.clusterName)], expires: 60, date: date)
        return prefix + base64URL(Data(url.utf8))
    }

    static func base64URL(_ data: Data) -> String {
        var s = data.base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}

/// Hands out the bearer token for a connection, regenerating EKS tokens and re-reading token files
/// when they get old.
final class KubernetesTokenCache: @unchecked Sendable {
    private let auth: KubernetesAuth
    private let lock = NSLock()
    private var cached: (token: String, made: Date)?

    package init(_ auth: KubernetesAuth) { self.auth = auth }

    /// The `Authorization` header value, or nil when the connection has no token auth.
    package func authorization(now: Date = Date()) throws -> String? {
        switch auth {
        case .none: return nil
        case .bearer(let token): return "Bearer \(token)"
        case .basic(let user, let password): return "Basic \(Data("\(user):\(password)".utf8).base64EncodedString())"
        case .tokenFile(let path):
            return "Bearer \(try cachedToken(now: now, maxAge: 60) { try Self.readTokenFile(path) })"
        case .eks(let source):
            return "Bearer \(try cachedToken(now: now, maxAge: EKSToken.reuseSeconds) { try EKSToken.generate(source, date: now) })"
        }
    }

    /// Forget the cached token (after a 401, a new one is made).
    func invalidate() { lock.lock(); cached = nil; lock.unlock() }

    private func cachedToken(now: Date, maxAge: Double, make: () throws -> String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let cached, now.timeIntervalSince(cached.made) < maxAge { return cached.token }
        let token = try make()
        cached = (token, now)
        return token
    }

    private static func readTokenFile(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw KubernetesClientError.configuration("cannot read the token file \(path)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

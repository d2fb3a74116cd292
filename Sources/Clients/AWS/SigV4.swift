import Crypto
import Foundation
import EthstackHTTP

/// AWS credentials. `description` never shows the secret or the session token.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where they came from ("environment", "profile default", "provider configuration").
    public var source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String { "AWSCredentials(\(accessKeyID), from \(source))" }
}

/// AWS Signature Version 4: header signing and presigned (query-string) URLs.
///
/// Implemented once for every AWS call ethstack makes; the Kubernetes provider uses `presign` for
/// the EKS token. Checked against AWS's published test-suite vectors and botocore.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    package static let algorithm = "AWS4-HMAC-SHA256"
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// Never signed: proxies and clients change them.
    static let unsignedHeaders: Set<String> = ["authorization", "expect", "user-agent", "transfer-encoding", "x-amzn-trace-id", "content-length"]

    /// S3 signs the path as is; every other service normalises it and encodes it twice.
    var encodesPathTwice: Bool { service != "s3" }

    /// Adds `Host`, `X-Amz-Date`, `X-Amz-Security-Token` (with session credentials) and
    /// `Authorization` to the request. `payloadHash` defaults to the SHA-256 of the body;
    /// S3 requests also get `X-Amz-Content-Sha256`.
    public func sign(_ request: inout HTTPRequest, date: Date = Date(), payloadHash: String? = nil) throws {
        guard let parts = URLParts(request.url) else {
            throw HTTPTransportError(.invalidRequest, url: request.url, message: "not an absolute http(s) URL")
        }
        let stamp = Self.timestamp(date)
        request.headers.removeAll { ["authorization", "x-amz-date"].contains($0.name.lowercased()) }
        if request.header("Host") == nil { request.headers.append(HTTPHeader("Host", parts.hostHeader)) }
        request.headers.append(HTTPHeader("X-Amz-Date", stamp))
        if let token = credentials.sessionToken { request.setHeader("X-Amz-Security-Token", token) }
        let hash = payloadHash ?? Self.hex(SHA256.hash(data: request.body))
        if service == "s3" { request.setHeader("X-Amz-Content-Sha256", hash) }

        let canonical = canonicalRequest(method: request.method, parts: parts, headers: request.headers, payloadHash: hash)
        let signature = self.signature(canonicalRequest: canonical.text, timestamp: stamp)
        let scope = credentialScope(stamp)
        request.headers.append(HTTPHeader(
            "Authorization",
            "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"))
    }

    /// A presigned URL: the signature travels in the query string, valid for `expires` seconds.
    /// `headers` are signed too (the client must send them), e.g. `x-k8s-aws-id` for an EKS token.
    /// The payload is signed as empty (S3: `UNSIGNED-PAYLOAD`).
    public func presign(method: String = "GET", url: String, headers: [HTTPHeader] = [], expires: Int,
                        date: Date = Date()) throws -> String {
        guard var parts = URLParts(url) else {
            throw HTTPTransportError(.invalidRequest, url: url, message: "not an absolute http(s) URL")
        }
        let stamp = Self.timestamp(date)
        var allHeaders = headers
        if !allHeaders.contains(where: { $0.name.lowercased() == "host" }) {
            allHeaders.append(HTTPHeader("Host", parts.hostHeader))
        }
        let signedHeaders = Self.canonicalHeaders(allHeaders).names
        var query = parts.queryItems
        query.append(("X-Amz-Algorithm", Self.algorithm))
        query.append(("X-Amz-Credential", "\(credentials.accessKeyID)/\(credentialScope(stamp))"))
        query.append(("X-Amz-Date", stamp))
        query.append(("X-Amz-Expires", String(expires)))
        query.append(("X-Amz-SignedHeaders", signedHeaders))
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        parts.queryItems = query
        let hash = service == "s3" ? Self.unsignedPayload : Self.emptyPayloadHash
        let canonical = canonicalRequest(method: method, parts: parts, headers: allHeaders, payloadHash: hash)
        let signature = self.signature(canonicalRequest: canonical.text, timestamp: stamp)
        return "\(parts.scheme)://\(parts.hostHeader)\(parts.path.isEmpty ? "/" : parts.path)?\(Self.canonicalQuery(query))&X-Amz-Signature=\(signature)"
    }

    // MARK: - The steps, internal so tests can check each against the published vectors

    struct CanonicalRequest { var text: String; var signedHeaders: String }

    func canonicalRequest(method: String, url: String, headers: [HTTPHeader], payloadHash: String) -> CanonicalRequest? {
        URLParts(url).map { canonicalRequest(method: method, parts: $0, headers: headers, payloadHash: payloadHash) }
    }

    func canonicalRequest(method: String, parts: URLParts, headers: [HTTPHeader], payloadHash: String) -> CanonicalRequest {
        let (headerText, names) = Self.canonicalHeaders(headers)
        let text = [
            method.uppercased(),
            canonicalURI(parts.path),
            Self.canonicalQuery(parts.queryItems),
            headerText,
            names,
            payloadHash,
        ].joined(separator: "\n")
        return CanonicalRequest(text: text, signedHeaders: names)
    }

    func stringToSign(canonicalRequest: String, timestamp: String) -> String {
        [Self.algorithm, timestamp, credentialScope(timestamp),
         Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    package func signature(canonicalRequest: String, timestamp: String) -> String {
        let day = String(timestamp.prefix(8))
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let toSign = stringToSign(canonicalRequest: canonicalRequest, timestamp: timestamp)
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key))
    }

    func credentialScope(_ timestamp: String) -> String {
        "\(timestamp.prefix(8))/\(region)/\(service)/aws4_request"
    }

    func canonicalURI(_ path: String) -> String {
        if path.isEmpty { return "/" }
        guard encodesPathTwice else { return path }
        // Remove dot segments, keep a trailing slash, then encode the (already encoded) path again.
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        let normalised = "/" + segments.joined(separator: "/")
        return Self.uriEncode(normalised, keepSlash: true)
    }

    static func canonicalQuery(_ items: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = items.map { item in
            (uriEncode(item.0, keepSlash: false), uriEncode(item.1, keepSlash: false))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    static func canonicalHeaders(_ headers: [HTTPHeader]) -> (text: String, names: String) {
        var merged: [String: [String]] = [:]
        for h in headers {
            let name = h.name.lowercased()
            if unsignedHeaders.contains(name) { continue }
            let value = h.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            merged[name, default: []].append(value)
        }
        let names = merged.keys.sorted()
        let text = names.map { "\($0):\(merged[$0, default: []].joined(separator: ","))\n" }.joined()
        return (text, names.joined(separator: ";"))
    }

    /// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, upper-case hex.
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepSlash && byte == 0x2F) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x7E
    }

    /// `20150830T123600Z`, UTC.
    public static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    package static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// The pieces of an absolute URL that signing needs; the query kept as decoded pairs in order.
struct URLParts {
    package var scheme: String
    package var host: String
    package var port: Int?
    /// Percent-encoded, as in the URL.
    package var path: String
    package var queryItems: [(String, String)]

    package init?(_ url: String) {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = c.host, !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = c.port
        self.path = c.percentEncodedPath
        var items: [(String, String)] = []
        if let q = c.percentEncodedQuery, !q.isEmpty {
            for pair in q.split(separator: "&", omittingEmptySubsequences: true) {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(kv[0])
                let value = kv.count > 1 ? String(kv[1]) : ""
                items.append((name.removingPercentEncoding ?? name, value.removingPercentEncoding ?? value))
            }
        }
        self.queryItems = items
    }

    /// `host` or `host:port` when the port is not the scheme's default.
    var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        guard let port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) else { return bracketed }
        return "\(bracketed):\(port)"
    }
}

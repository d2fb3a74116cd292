import Foundation

/// One header field. Kept as an ordered list: names may repeat and order can matter to a signer.
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// An HTTP request as every provider builds it: method, absolute URL, headers, body.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [HTTPHeader]
    public var body: Data
    /// Overrides the client's total timeout for this request (seconds).
    public var timeout: Double?
    /// Sent on a new connection, never a reused one. libcurl silently sends a request again when
    /// a reused connection dies before any answer, which for a create without an idempotency
    /// token could make a second object; a fresh connection is never retried that way.
    public var freshConnection: Bool

    public init(method: String, url: String, headers: [HTTPHeader] = [], body: Data = Data(), timeout: Double? = nil,
                freshConnection: Bool = false) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.freshConnection = freshConnection
    }

    /// The first value of a header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Replaces every header of that name with one value.
    public mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        headers.append(HTTPHeader(name, value))
    }
}

/// A response: status, headers (of the last response when redirects or 100-continue came first), body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: Data

    public init(status: Int, headers: [HTTPHeader], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A failure below HTTP: the request got no response. Whether a retry can help is said by `retryable`.
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalidRequest = "invalid request"
        case connection = "connection failed"
        case timeout = "timed out"
        case tls = "TLS verification failed"
        case cancelled
    }

    public var kind: Kind
    /// The URL without its query string (which may carry a presigned signature).
    public var url: String
    public var message: String
    /// libcurl's error code, when it came from libcurl.
    public var curlCode: Int?

    public init(_ kind: Kind, url: String, message: String, curlCode: Int? = nil) {
        self.kind = kind
        self.url = HTTPRedaction.urlWithoutQuery(url)
        self.message = message
        self.curlCode = curlCode
    }

    /// Connection failures and timeouts may succeed on another try; TLS and invalid requests never do.
    public var retryable: Bool { kind == .connection || kind == .timeout }

    public var description: String { "\(kind.rawValue): \(url): \(message)" }
}

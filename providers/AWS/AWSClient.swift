import Foundation
import EthstackAWSClient
import EthstackHTTP
import EthstackModel
import EthstackProviderAPI

/// An error answer from an AWS API: its code and message, as the API said them.
struct AWSAPIError: Error, Sendable, CustomStringConvertible {
    var service: String
    var operation: String
    var status: Int
    var code: String
    var message: String
    var requestID: String?

    var description: String { "\(operation): \(code): \(message)" }

    var isThrottling: Bool { AWSClient.throttlingCodes.contains(code) || status == 429 }
    var retryable: Bool { isThrottling || (500...599).contains(status) || AWSClient.transientCodes.contains(code) }
    var isNotFound: Bool {
        status == 404 || code.hasSuffix(".NotFound") || code.hasSuffix("NotFound") || code == "NoSuchEntity"
            || code == "ResourceNotFoundException" || code == "NoSuchBucket"
    }

    /// The typed error the engine sees, carrying the API's code and message and the resource's address.
    func providerError(address: ResourceAddress?) -> ProviderError {
        let kind: ProviderError.Kind
        if isThrottling {
            kind = .throttled
        } else if (500...599).contains(status) {
            kind = .unavailable
        } else if isNotFound {
            kind = .notFound
        } else if ["AuthFailure", "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId",
                   "SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken", "InvalidAccessKeyId"].contains(code)
                    || status == 401 || status == 403 {
            kind = .unauthorized
        } else if code == "DependencyViolation" || code.contains("AlreadyExists") || code.contains("InUse")
                    || code.hasSuffix(".Duplicate") || code.hasSuffix("Conflict") || code == "BucketAlreadyExists"
                    || code == "BucketNotEmpty" || status == 409 {
            kind = .conflict
        } else if code.hasPrefix("Invalid") || code.hasPrefix("Malformed") || code.contains("Validation")
                    || code == "MissingParameter" || code == "UnknownParameter" || status == 400 {
            kind = .invalidInput
        } else {
            kind = .failed
        }
        return ProviderError(kind, operation: operation, address: address, message: "\(code): \(message)", retryable: retryable)
    }
}

/// How AWS calls are retried: the engine's capped exponential backoff with jitter.
struct RetryPolicy: Sendable {
    var maxAttempts: Int = 6
    var baseDelay: Double = 0.25
    var maxDelay: Double = 20

    func delay(afterAttempt attempt: Int) -> Double {
        Backoff(baseDelay: baseDelay, maxDelay: maxDelay).delay(afterAttempt: attempt)
    }
}

/// Where one service is reached and how requests to it are signed.
struct AWSServiceEndpoint: Sendable {
    /// Base URL without trailing slash: `https://ec2.us-east-1.amazonaws.com`.
    var url: String
    var signingRegion: String
    var signingName: String
    /// Set by `AWS_ENDPOINT_URL*` or the provider's `endpoints`: S3 then uses path-style addressing.
    var isCustom: Bool
}

/// Signs, sends and retries AWS calls, and turns error answers into `AWSAPIError`s.
struct AWSClient: Sendable {
    let http: HTTPClient
    /// nil when the chain found none: the first call fails with `missingCredentials`.
    let credentials: AWSCredentials?
    var missingCredentials = ""
    let region: String
    let endpoints: AWSEndpoints
    let retry: RetryPolicy
    /// Requests sent (every attempt), for discovery's report.
    let counter = AWSCallCounter()

    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
        "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "EC2ThrottledException",
    ]
    static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable",
        "ServerException", "ServiceException",
    ]

    /// Whether sending a request twice can make a second object: a create the API gives no
    /// idempotency token for (CreateVpc, AllocateAddress, CreateSecurityGroup…). Such a request is
    /// retried only when it surely was not processed; otherwise the caller looks the object up by
    /// its mark before trying again.
    static func mayDuplicate(_ operation: String, tokenSent: Bool) -> Bool {
        guard !tokenSent else { return false }
        return (operation.hasPrefix("Create") && operation != "CreateTags") || operation.hasPrefix("Allocate")
            || operation.hasPrefix("Run")
    }

    /// Whether a failure proves the request was not processed: throttled, or never connected.
    static func surelyNotProcessed(_ failure: any Error) -> Bool {
        if let error = failure as? AWSAPIError { return error.isThrottling }
        if let error = failure as? HTTPTransportError {
            // CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT
            return error.kind == .connection && [5, 6, 7].contains(error.curlCode ?? -1)
        }
        return false
    }

    /// Sends one request to a service; retries throttling, 5xx and connection failures (a create
    /// without idempotency token only when it surely was not processed: `mayDuplicate`). Returns only
    /// successful (< 300) answers, throws `AWSAPIError` for error answers.
    func send(service: String, operation: String, method: String, path: String = "/", query: [(String, String)] = [],
              headers: [HTTPHeader] = [], body: Data = Data(), hostPrefix: String? = nil,
              idempotent: Bool = true) async throws -> HTTPResponse {
        let endpoint = endpoints.endpoint(for: service)
        var url = endpoint.url
        if let hostPrefix, var c = URLComponents(string: url), let host = c.host {
            c.host = hostPrefix + host
            url = c.string ?? url
        }
        url += path
        if !query.isEmpty { url += "?" + query.map { "\(SigV4Signer.uriEncode($0.0, keepSlash: false))=\(SigV4Signer.uriEncode($0.1, keepSlash: false))" }.joined(separator: "&") }
        guard let credentials else {
            throw ProviderError(.invalidConfiguration, operation: operation,
                                message: "\(missingCredentials): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the provider's access_key/secret_key")
        }
        let signer = SigV4Signer(credentials: credentials, region: endpoint.signingRegion, service: endpoint.signingName)

        var attempt = 0
        while true {
            try Task.checkCancellation()
            var request = HTTPRequest(method: method, url: url, headers: headers, body: body, freshConnection: !idempotent)
            try signer.sign(&request)
            let failure: any Error
            do {
                counter.increment()
                let response = try await http.send(request)
                if response.status < 300 { return response }
                let error = Self.parseError(response, service: service, operation: operation)
                guard error.retryable else { throw error }
                failure = error
            } catch let error as HTTPTransportError where error.retryable {
                failure = error
            }
            attempt += 1
            if attempt >= retry.maxAttempts || (!idempotent && !Self.surelyNotProcessed(failure)) {
                if var transport = failure as? HTTPTransportError {
                    // Still a transport error: whether the server processed the request is unknown.
                    transport.message += " (\(operation), after \(attempt) attempt\(attempt == 1 ? "" : "s"))"
                    throw transport
                }
                throw failure
            }
            try await Task.sleep(nanoseconds: UInt64(retry.delay(afterAttempt: attempt - 1) * 1_000_000_000))
        }
    }

    static func parseError(_ response: HTTPResponse, service: String, operation: String) -> AWSAPIError {
        let requestID = response.header("x-amzn-RequestId") ?? response.header("x-amz-request-id")
        var code = ""
        var message = ""
        if let type = response.header("X-Amzn-ErrorType") {
            code = String(type.split(separator: ":").first ?? Substring(type))
        }
        let contentType = response.header("Content-Type") ?? ""
        if !response.body.isEmpty {
            if contentType.contains("json") || response.body.first == UInt8(ascii: "{") {
                if let json = try? Value.parseJSON(response.body) {
                    message = json["message"]?.stringValue ?? json["Message"]?.stringValue ?? ""
                    if code.isEmpty, let t = json["__type"]?.stringValue ?? json["code"]?.stringValue {
                        code = String(t.split(separator: "#").last ?? Substring(t))
                    }
                }
            } else if let xml = XMLTree.parse(response.body) {
                if code.isEmpty { code = xml.first(named: "Code")?.text ?? "" }
                message = xml.first(named: "Message")?.text ?? ""
            }
        }
        if code.isEmpty {
            code = switch response.status {
            case 404: "NotFound"
            case 403: "AccessDenied"
            case 429: "TooManyRequestsException"
            case 503: "ServiceUnavailable"
            default: "HTTP\(response.status)"
            }
        }
        if message.isEmpty { message = "HTTP status \(response.status)" }
        return AWSAPIError(service: service, operation: operation, status: response.status, code: code,
                           message: message, requestID: requestID)
    }

    // MARK: - Query APIs (EC2, IAM, STS): form-encoded POST, XML answer

    static let queryVersions = ["ec2": "2016-11-15", "iam": "2010-05-08", "sts": "2011-06-15"]

    func query(_ service: String, _ action: String, _ parameters: [(String, String)] = []) async throws -> XMLTree {
        var form = [("Action", action), ("Version", Self.queryVersions[service] ?? "")]
        form += parameters
        let body = form.map { "\(SigV4Signer.uriEncode($0.0, keepSlash: false))=\(SigV4Signer.uriEncode($0.1, keepSlash: false))" }
            .joined(separator: "&")
        let tokenSent = parameters.contains { $0.0 == "ClientToken" || $0.0 == "ClientRequestToken" }
        let response = try await send(service: service, operation: action, method: "POST",
                                      headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                      body: Data(body.utf8),
                                      idempotent: !Self.mayDuplicate(action, tokenSent: tokenSent))
        guard let xml = XMLTree.parse(response.body) else {
            throw AWSAPIError(service: service, operation: action, status: response.status, code: "MalformedResponse",
                              message: "the answer is not XML")
        }
        return xml
    }

    // MARK: - REST/JSON APIs (EKS)

    func json(_ service: String, _ operation: String, method: String, path: String, query: [(String, String)] = [],
              body: Value? = nil) async throws -> Value {
        var headers: [HTTPHeader] = []
        var data = Data()
        if let body {
            headers.append(HTTPHeader("Content-Type", "application/json"))
            data = Data(body.jsonString().utf8)
        }
        let tokenSent = body?["clientRequestToken"] != nil
        let response = try await send(service: service, operation: operation, method: method, path: path, query: query,
                                      headers: headers, body: data, idempotent: !Self.mayDuplicate(operation, tokenSent: tokenSent))
        if response.body.isEmpty { return .map([:]) }
        do {
            return try Value.parseJSON(response.body)
        } catch {
            throw AWSAPIError(service: service, operation: operation, status: response.status, code: "MalformedResponse",
                              message: "the answer is not JSON")
        }
    }
}

import CCurlShim
import CLibCurl
import Dispatch
import Foundation

/// How an `HTTPClient` connects. TLS verification is on unless a caller turns it off explicitly.
public struct HTTPClientOptions: Sendable {
    /// Seconds to establish a connection.
    public var connectTimeout: Double = 10
    /// Seconds for a whole request, unless the request sets its own.
    public var timeout: Double = 120
    public var verifyTLS: Bool = true
    /// A PEM file of CA certificates to trust instead of the system's.
    public var caBundlePath: String?
    /// A PEM client certificate file for mutual TLS (e.g. a kubeconfig's `client-certificate`).
    public var clientCertificatePath: String?
    /// The PEM private key file of `clientCertificatePath`.
    public var clientKeyPath: String?
    /// Idle easy handles (and their open connections) kept for reuse.
    public var maxIdleHandles: Int = 16
    /// Transfers in flight at once per client (each provider configuration has its own); more
    /// wait their turn without holding a thread. 10, as the default `--parallelism` and boto3's
    /// connection pool, which keeps bursts under the APIs' rate limits. Measured against moto: a
    /// refresh of 27 AWS objects took 0.17 s at 10 at once, 0.61 s at 2 (what a concurrent
    /// Dispatch queue allowed on 2 cores).
    public var maxConcurrentTransfers: Int = 10
    public var userAgent: String = "ethstack"
    /// Debug log of requests and responses, secrets redacted. nil: no logging.
    public var log: HTTPLogSink? = HTTPLogSink.fromEnvironment()

    public init() {}
}

/// The HTTP client every provider shares: libcurl underneath, an async API on top.
///
/// `curl_easy_perform` blocks, so each transfer runs on a thread of its own from Dispatch's
/// overcommitting pool, never on the Swift cooperative pool; the caller's task is suspended on a
/// continuation until it finishes. (A concurrent queue would not do: on Linux it runs only as many
/// blocking transfers at once as there are cores, so 40 requests to a remote API queued two by two
/// on a 2-core machine. A serial queue per transfer gets its own thread.) How many run at once is
/// bounded by `maxConcurrentTransfers`. Easy
/// handles are pooled: a handle keeps its connections alive, so consecutive requests to the same
/// host reuse them. Cancelling the calling task aborts the transfer.
public final class HTTPClient: Sendable {
    /// A timeout in seconds as curl's milliseconds, never trapping: NaN, zero and negative mean no
    /// limit (curl's 0), anything beyond about 24 days (or infinite) is 24 days.
    public static func milliseconds(_ seconds: Double) -> Int {
        guard seconds.isFinite else { return seconds > 0 ? Int(Int32.max) : 0 }
        guard seconds > 0 else { return 0 }
        return seconds * 1000 >= Double(Int32.max) ? Int(Int32.max) : max(1, Int(seconds * 1000))
    }

    public let options: HTTPClientOptions
    private let pool: EasyHandlePool
    private let gate: TransferGate

    public init(options: HTTPClientOptions = HTTPClientOptions()) {
        CurlGlobal.initialize()
        self.options = options
        self.pool = EasyHandlePool(maxIdle: options.maxIdleHandles)
        self.gate = TransferGate(limit: options.maxConcurrentTransfers)
    }

    /// Sends the request; returns whatever HTTP status came back. Throws `HTTPTransportError`
    /// only when no response was received.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            await gate.enter()
            defer { gate.leave() }
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                DispatchQueue(label: "ethstack.http.transfer", qos: .userInitiated).async {
                    continuation.resume(with: Result { try self.perform(request, cancellation: flag) })
                }
            }
        } onCancel: {
            flag.cancel()
        }
    }

    // MARK: - The blocking transfer

    private func perform(_ request: HTTPRequest, cancellation: CancellationFlag) throws -> HTTPResponse {
        if cancellation.isCancelled {
            throw HTTPTransportError(.cancelled, url: request.url, message: "cancelled before it started")
        }
        guard let handle = pool.take() else {
            throw HTTPTransportError(.invalidRequest, url: request.url, message: "curl_easy_init failed")
        }
        var reusable = true
        defer { pool.give(handle, reusable: reusable) }

        let started = Date()
        log(request)

        let state = TransferState(cancellation: cancellation)
        let statePointer = Unmanaged.passRetained(state)
        defer { statePointer.release() }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        var setupError: CURLcode = CURLE_OK
        func set(_ code: CURLcode) { if code != CURLE_OK, setupError == CURLE_OK { setupError = code } }

        set(ethstack_setopt_str(handle, CURLOPT_URL, request.url))
        set(ethstack_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        if request.freshConnection { set(ethstack_setopt_long(handle, CURLOPT_FRESH_CONNECT, 1)) }
        set(ethstack_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(options.connectTimeout)))
        set(ethstack_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout ?? options.timeout)))
        set(ethstack_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, options.verifyTLS ? 1 : 0))
        set(ethstack_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, options.verifyTLS ? 2 : 0))
        if let ca = options.caBundlePath { set(ethstack_setopt_str(handle, CURLOPT_CAINFO, ca)) }
        if let cert = options.clientCertificatePath { set(ethstack_setopt_str(handle, CURLOPT_SSLCERT, cert)) }
        if let key = options.clientKeyPath { set(ethstack_setopt_str(handle, CURLOPT_SSLKEY, key)) }
        set(ethstack_setopt_str(handle, CURLOPT_USERAGENT, options.userAgent))
        set(ethstack_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        // Only HTTP(S): a URL from a stack must not reach file:// or other protocols.
        set(ethstack_setopt_str(handle, CURLOPT_PROTOCOLS_STR, "http,https"))

        set(ethstack_setopt_write_callback(handle, curlWriteBody))
        set(ethstack_setopt_ptr(handle, CURLOPT_WRITEDATA, statePointer.toOpaque()))
        set(ethstack_setopt_header_callback(handle, curlWriteHeader))
        set(ethstack_setopt_ptr(handle, CURLOPT_HEADERDATA, statePointer.toOpaque()))
        set(ethstack_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        set(ethstack_setopt_ptr(handle, CURLOPT_XFERINFOFUNCTION, unsafeBitCast(curlProgress, to: UnsafeMutableRawPointer.self)))
        set(ethstack_setopt_ptr(handle, CURLOPT_XFERINFODATA, statePointer.toOpaque()))

        let method = request.method.uppercased()
        switch method {
        case "GET" where request.body.isEmpty:
            set(ethstack_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case "HEAD":
            set(ethstack_setopt_long(handle, CURLOPT_NOBODY, 1))
        default:
            // POSTFIELDS with an explicit size sends the body as is (also for PUT, DELETE, PATCH)
            // and a Content-Length, even when the body is empty.
            set(ethstack_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            request.body.withUnsafeBytes { raw in
                let bytes = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)
                // COPYPOSTFIELDS: libcurl keeps its own copy, the Data may go away.
                set(ethstack_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes)))
            }
            set(ethstack_setopt_str(handle, CURLOPT_CUSTOMREQUEST, method))
        }

        var sawContentType = false
        for header in request.headers {
            if header.name.caseInsensitiveCompare("Content-Type") == .orderedSame { sawContentType = true }
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        // libcurl adds these by default; the caller decides (and signs) what is sent.
        headerList = curl_slist_append(headerList, "Expect:")
        if !sawContentType { headerList = curl_slist_append(headerList, "Content-Type:") }
        set(ethstack_setopt_ptr(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList)))

        if setupError != CURLE_OK {
            reusable = false
            throw HTTPTransportError(.invalidRequest, url: request.url, message: curlMessage(setupError),
                                     curlCode: Int(setupError.rawValue))
        }

        let code = curl_easy_perform(handle)
        if code != CURLE_OK {
            reusable = false
            let error = transportError(code, url: request.url, cancelled: cancellation.isCancelled)
            options.log?.write("http \(method) \(HTTPRedaction.redactedURL(request.url)) -> \(error.kind.rawValue): \(error.message)")
            throw error
        }
        var status = 0
        _ = ethstack_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let response = HTTPResponse(status: status, headers: state.headers, body: state.body)
        log(response, method: method, url: request.url, elapsed: Date().timeIntervalSince(started))
        return response
    }

    private func transportError(_ code: CURLcode, url: String, cancelled: Bool) -> HTTPTransportError {
        let message = curlMessage(code)
        let kind: HTTPTransportError.Kind
        switch code {
        case CURLE_ABORTED_BY_CALLBACK where cancelled: kind = .cancelled
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM: kind = .tls
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT: kind = .invalidRequest
        default: kind = .connection
        }
        return HTTPTransportError(kind, url: url, message: message, curlCode: Int(code.rawValue))
    }

    private func curlMessage(_ code: CURLcode) -> String {
        guard let text = curl_easy_strerror(code) else { return "curl error \(code.rawValue)" }
        return String(cString: text)
    }

    // MARK: - Debug logging, secrets redacted

    private func log(_ request: HTTPRequest) {
        guard let sink = options.log else { return }
        var line = "http > \(request.method) \(HTTPRedaction.redactedURL(request.url))"
        for h in request.headers {
            line += "\n  \(h.name): \(HTTPRedaction.redactedHeaderValue(name: h.name, value: h.value))"
        }
        line += "\n  (\(request.body.count) bytes of body)"
        sink.write(line)
    }

    private func log(_ response: HTTPResponse, method: String, url: String, elapsed: TimeInterval) {
        guard let sink = options.log else { return }
        var line = "http < \(response.status) \(method) \(HTTPRedaction.redactedURL(url)) in \(Int(elapsed * 1000)) ms"
        for h in response.headers {
            line += "\n  \(h.name): \(HTTPRedaction.redactedHeaderValue(name: h.name, value: h.value))"
        }
        line += "\n  (\(response.body.count) bytes of body)"
        sink.write(line)
    }
}

// MARK: - libcurl plumbing

/// `curl_global_init` must run once per process before any other libcurl call.
enum CurlGlobal {
    private static let initialized: Bool = {
        curl_global_init(3)  // CURL_GLOBAL_ALL: SSL | WIN32
        return true
    }()

    static func initialize() { _ = initialized }
}

/// Set from the task's cancellation handler, read by libcurl's progress callback.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    package func cancel() { lock.lock(); cancelled = true; lock.unlock() }
    package var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
}

/// What the callbacks of one transfer fill. Used by one thread at a time (the one in curl_easy_perform).
final class TransferState {
    package var body = Data()
    package var headers: [HTTPHeader] = []
    package let cancellation: CancellationFlag
    package init(cancellation: CancellationFlag) { self.cancellation = cancellation }
}

/// At most `limit` transfers at once; the others wait, suspended (no thread held), first come
/// first served.
final class TransferGate: @unchecked Sendable {
    private let lock = NSLock()
    private var available: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    package init(limit: Int) { available = max(1, limit) }

    package func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if available > 0 {
                available -= 1
                lock.unlock()
                continuation.resume()
            } else {
                waiting.append(continuation)
                lock.unlock()
            }
        }
    }

    package func leave() {
        lock.lock()
        if waiting.isEmpty {
            available += 1
            lock.unlock()
        } else {
            let next = waiting.removeFirst()
            lock.unlock()
            next.resume()
        }
    }
}

/// Idle easy handles. Handles are only ever used by one transfer at a time.
final class EasyHandlePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [UnsafeMutableRawPointer] = []
    private let maxIdle: Int

    package init(maxIdle: Int) { self.maxIdle = maxIdle }

    package func take() -> UnsafeMutableRawPointer? {
        lock.lock()
        let handle = idle.popLast()
        lock.unlock()
        return handle ?? curl_easy_init()
    }

    /// Resets the handle's options (keeping its connection cache) and keeps it for the next transfer.
    package func give(_ handle: UnsafeMutableRawPointer, reusable: Bool) {
        guard reusable else { curl_easy_cleanup(handle); return }
        curl_easy_reset(handle)
        lock.lock()
        if idle.count < maxIdle {
            idle.append(handle)
            lock.unlock()
        } else {
            lock.unlock()
            curl_easy_cleanup(handle)
        }
    }

    deinit {
        for handle in idle { curl_easy_cleanup(handle) }
    }
}

private let curlWriteBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    guard let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    if let data, length > 0 {
        state.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length)
    }
    return length
}

private let curlWriteHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    guard let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard let data, length > 0 else { return length }
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        // A new response starts (after 100 Continue or a redirect): keep only the last one's headers.
        state.headers.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        state.headers.append(HTTPHeader(name, value))
    }
    return length
}

private let curlProgress: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
    context, _, _, _, _ in
    guard let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    return state.cancellation.isCancelled ? 1 : 0
}

import Foundation

/// Capped exponential backoff with jitter: the one delay schedule every retry loop and poll in
/// ethstack uses (AWS calls, Kubernetes calls, waiters).
public struct Backoff: Sendable {
    public var baseDelay: Double
    public var maxDelay: Double
    public var multiplier: Double
    /// Full jitter between half and all of the delay, so that parallel callers spread out.
    public var jitter: Bool

    public init(baseDelay: Double, maxDelay: Double, multiplier: Double = 2, jitter: Bool = true) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before attempt `attempt + 1` (attempt counts from 0).
    public func delay(afterAttempt attempt: Int) -> Double {
        let ceiling = min(maxDelay, baseDelay * pow(multiplier, Double(max(0, attempt))))
        return jitter ? Double.random(in: (ceiling / 2)...ceiling) : ceiling
    }

    public func sleep(afterAttempt attempt: Int, atMost limit: Double? = nil) async throws {
        var seconds = delay(afterAttempt: attempt)
        if let limit { seconds = min(seconds, max(0, limit)) }
        try await Task.sleep(nanoseconds: saturatingNanoseconds(seconds))
    }
}

/// What one look at something being waited for found.
public enum PollStep<T: Sendable>: Sendable {
    case done(T)
    /// Not yet; the text says what is missing ("2/3 replicas ready").
    case waiting(String)
    /// It will never get there (a failed condition).
    case failed(String)
}

public enum PollError: Error, Sendable {
    case timedOut(what: String, seconds: Double, last: String)
    case failed(what: String, message: String)
}

/// Looks with `step` until it is done, with backoff, bounded by `timeout`, telling `progress` what
/// it is waiting for (when that changes, and at most every 10 s otherwise).
public func poll<T: Sendable>(what: String, timeout: Double, backoff: Backoff,
                              progress: (String) -> Void = { _ in },
                              _ step: () async throws -> PollStep<T>) async throws -> T {
    let started = Date()
    var attempt = 0
    var lastText = ""
    var lastReport = Date.distantPast
    while true {
        switch try await step() {
        case .done(let value):
            return value
        case .failed(let message):
            throw PollError.failed(what: what, message: message)
        case .waiting(let text):
            let elapsed = Date().timeIntervalSince(started)
            if elapsed >= timeout { throw PollError.timedOut(what: what, seconds: timeout, last: text) }
            if text != lastText || Date().timeIntervalSince(lastReport) >= 10 {
                progress("waiting for \(what): \(text) (\(Int(elapsed))s)")
                lastText = text
                lastReport = Date()
            }
            try await backoff.sleep(afterAttempt: attempt, atMost: timeout - elapsed)
            attempt += 1
        }
    }
}

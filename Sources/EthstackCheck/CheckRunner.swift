import Foundation
import EthstackEngine
import EthstackHTTP
import EthstackLanguage
import EthstackModel

/// How one check came out.
public struct CheckResult: Sendable {
    public enum Outcome: String, Sendable {
        /// The probe answered and every expectation held.
        case passed
        /// The probe answered wrongly, or not at all (an unreachable URL is a failed check).
        case failed
        /// The check could not be run: a value it needs is not in state, or does not evaluate.
        case error
        /// Its `when` condition is false.
        case skipped
    }

    public var name: String
    public var description: String?
    /// `ethereum_rpc` or `http`.
    public var probe: String
    /// The JSON-RPC method, or the HTTP method.
    public var method: String
    /// The URL probed, or "(sensitive value)" when it was made from a sensitive value.
    public var target: String
    public var outcome: CheckResult.Outcome
    /// The values seen: one sample, or the first and the last for `increases_within`.
    public var observed: [Value]
    public var message: String
    /// Seconds from the first request to the verdict.
    public var elapsed: Double
    public var attempts: Int
}

/// The `check` stage: evaluates each check's expressions against recorded state (attributes,
/// outputs, variables — no provider calls, no plan), runs the probes in parallel over the engine's
/// HTTP client, and judges the answers.
public struct CheckRunner: Sendable {
    public let stack: StackDeclaration
    public let variables: [String: Value]
    public let state: StackState
    public let client: HTTPClient
    /// For probes whose URL or headers are sensitive: never logs, even with ETHSTACK_LOG=debug.
    let quietClient: HTTPClient

    public init(stack: StackDeclaration, variables: [String: Value], state: StackState, client: HTTPClient? = nil) {
        self.stack = stack
        self.variables = variables
        self.state = state
        let client = client ?? HTTPClient()
        self.client = client
        var quiet = client.options
        quiet.log = nil
        self.quietClient = HTTPClient(options: quiet)
    }

    /// The checks named (all when empty), in the order declared. An unknown name is an error.
    public func select(_ names: [String]) throws -> [CheckDeclaration] {
        guard !names.isEmpty else { return stack.checks }
        let known = stack.checks.map(\.name)
        var d = DiagnosticCollector()
        for n in names where !known.contains(n) {
            d.error(nil, "no check named \"\(n)\"", hint: didYouMean(n, in: known))
        }
        try d.throwIfErrors()
        return stack.checks.filter { names.contains($0.name) }
    }

    /// Runs the checks in parallel; results come back in the order given.
    public func run(_ checks: [CheckDeclaration]) async -> [CheckResult] {
        let scope = self.scope()
        var results: [Int: CheckResult] = [:]
        await withTaskGroup(of: (Int, CheckResult).self) { group in
            for (i, c) in checks.enumerated() {
                group.addTask { (i, await CheckExecution(check: c, scope: scope, client: client, quietClient: quietClient).run()) }
            }
            for await (i, r) in group { results[i] = r }
        }
        return checks.indices.compactMap { results[$0] }
    }

    /// What names mean in checks: variables, each resource as recorded (unknown when not in
    /// state), and `outputs` (the recorded outputs; declared ones not recorded yet are unknown).
    func scope() -> EvaluationScope {
        EvaluationScope.recorded(stack: stack, variables: variables, state: state)
    }
}

/// One check being run.
struct CheckExecution: Sendable {
    let check: CheckDeclaration
    let scope: EvaluationScope
    let client: HTTPClient
    let quietClient: HTTPClient

    /// A request ready to send, and how to show it.
    struct Prepared: Sendable {
        var request: HTTPRequest
        var target: String
        var method: String
        /// The URL or a header came from a sensitive value: the request is not logged.
        var sensitive = false
    }

    /// One answer, reduced to what expectations look at.
    struct Sample: Sendable {
        var status: Int?
        /// The JSON-RPC result, or the HTTP body (parsed JSON when it is JSON, else text).
        var answer: Value
        /// `answer` at `expect.path` (the answer itself without one).
        var value: Value
        /// The JSON-RPC error's message, when `expect.accept_errors` accepted it: the call was
        /// answered and refused for a reason the check counts as success ("already known" for a
        /// transaction sent before). No result, so no other expectation is judged.
        var acceptedError: String? = nil
    }

    enum Verdict: Sendable {
        case pass(String)
        case fail(String)
    }

    struct CheckFailure: Error { var message: String }

    func run() async -> CheckResult {
        let started = Date()
        var result = CheckResult(name: check.name, description: check.description, probe: check.probeKind.rawValue,
                                 method: "", target: "", outcome: .error, observed: [], message: "", elapsed: 0, attempts: 0)
        let prepared: Prepared
        let expected: [String: Value]
        do {
            if let when = check.when {
                // Only whether the condition holds is used, never shown: a condition on a secret is fine.
                guard let holds = try evaluate("when", when, what: "when").deepUnmarked.boolValue else {
                    throw CheckFailure(message: "\"when\" must be a bool")
                }
                if !holds {
                    result.outcome = .skipped
                    result.message = "skipped: its \"when\" condition is false"
                    return result
                }
            }
            prepared = try prepare()
            expected = try evaluateExpectations()
        } catch let e as CheckFailure {
            result.message = e.message
            return result
        } catch let e as DiagnosticsError {
            result.message = e.diagnostics.map(\.description).joined(separator: "; ")
            return result
        } catch {
            result.message = "\(error)"
            return result
        }
        result.method = prepared.method
        result.target = prepared.target

        let pause = min(1.0, check.timeout)
        while true {
            result.attempts += 1
            let (verdict, observed) = await attempt(prepared, expected)
            result.observed = observed.map(\.redacted)
            switch verdict {
            case .pass(let m):
                result.outcome = .passed
                result.message = m
            case .fail(let m):
                result.outcome = .failed
                result.message = m
            }
            if result.outcome == .passed || result.attempts > check.retries || Task.isCancelled { break }
            try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
        }
        result.elapsed = Date().timeIntervalSince(started)
        return result
    }

    // MARK: - Evaluation against state

    private func evaluate(_ key: String, _ node: ConfigNode, what: String) throws -> Value {
        let v = try Evaluator(scope: scope).evaluate(node)
        if v.containsUnknown {
            // Name what is missing: a resource not in state, or an output not recorded.
            var missing: [String] = []
            for r in node.references where r.root != "var" {
                let root = scope.resources[r.root]
                let attribute = r.firstAttribute.flatMap { root?[$0] }
                let unknown = root?.isUnknown ?? true || (r.root == "outputs" && (attribute?.containsUnknown ?? true))
                let name = r.firstAttribute.map { "\(r.root).\($0)" } ?? r.root
                if unknown, !missing.contains(name) { missing.append(name) }
            }
            let subject = missing.isEmpty ? "a value it uses is" : missing.joined(separator: ", ") + (missing.count == 1 ? " is" : " are")
            throw CheckFailure(message: "\(what) is not known: \(subject) not recorded in state (apply the stack first)")
        }
        return v
    }

    func prepare() throws -> Prepared {
        let kind = check.probeKind.rawValue
        guard let urlNode = check.probeSetting("url") else { throw CheckFailure(message: "\(kind) has no url") }
        let urlValue = try evaluate("url", urlNode, what: "the url")
        guard let url = urlValue.unmarked.interpolatedString, !url.isEmpty else {
            throw CheckFailure(message: "the url must be a string, found \(urlValue.typeName)")
        }
        let urlSensitive = urlValue.containsSensitive
        let target = urlSensitive ? "(sensitive value)" : url
        var request = HTTPRequest(method: "GET", url: url, timeout: check.timeout)

        switch check.probeKind {
        case .ethereumRPC:
            let methodValue = try evaluate("method", check.probeSetting("method") ?? .literal(.null, check.probeLocation), what: "the method")
            guard let method = methodValue.unmarked.stringValue, !method.isEmpty else {
                throw CheckFailure(message: "the JSON-RPC method must be a string, found \(methodValue.typeName)")
            }
            var params: Value = .list([])
            var sensitive = urlSensitive
            if let p = check.probeSetting("params") {
                let marked = try evaluate("params", p, what: "params")
                if marked.containsSensitive { sensitive = true }
                params = marked.deepUnmarked
                guard params.listValue != nil else { throw CheckFailure(message: "params must be a list, found \(params.typeName)") }
            }
            let body: Value = .map(["jsonrpc": "2.0", "id": 1, "method": .string(method), "params": params])
            request.method = "POST"
            request.body = Data(body.jsonString().utf8)
            request.setHeader("Content-Type", "application/json")
            return Prepared(request: request, target: target, method: method, sensitive: sensitive)
        case .http:
            var sensitive = urlSensitive
            var method = "GET"
            if let m = check.probeSetting("method") {
                let v = try evaluate("method", m, what: "the method")
                guard let s = v.unmarked.stringValue, !s.isEmpty, s.allSatisfy({ $0.isLetter }) else {
                    throw CheckFailure(message: "the HTTP method must be a word such as GET, found \(v.typeName)")
                }
                method = s.uppercased()
            }
            request.method = method
            if let h = check.probeSetting("headers") {
                let v = try evaluate("headers", h, what: "the headers")
                guard let m = v.unmarked.mapValue else { throw CheckFailure(message: "headers must be a map, found \(v.typeName)") }
                if v.containsSensitive { sensitive = true }
                for name in m.keys.sorted() {
                    guard let text = m[name]?.interpolatedString else {
                        throw CheckFailure(message: "header \(name) must be a string")
                    }
                    request.headers.append(HTTPHeader(name, text))
                }
            }
            if let b = check.probeSetting("body") {
                let marked = try evaluate("body", b, what: "the body")
                if marked.containsSensitive { sensitive = true }
                let v = marked.deepUnmarked
                switch v {
                case .string(let s): request.body = Data(s.utf8)
                case .null: break
                default:
                    request.body = Data(v.jsonString().utf8)
                    if request.header("Content-Type") == nil { request.setHeader("Content-Type", "application/json") }
                }
            }
            return Prepared(request: request, target: target, method: method, sensitive: sensitive)
        }
    }

    func evaluateExpectations() throws -> [String: Value] {
        var out: [String: Value] = [:]
        for e in check.expect {
            let v = try evaluate(e.key, e.value, what: "expect.\(e.key)")
            switch e.key {
            case "status":
                guard let n = v.quantityValue, n >= 100, n <= 599 else { throw CheckFailure(message: "expect.status must be an HTTP status code") }
            case "at_least", "at_most":
                guard v.quantityValue != nil else { throw CheckFailure(message: "expect.\(e.key) must be a number, found \(v.typeName)") }
            case "json":
                guard v.unmarked.mapValue != nil else { throw CheckFailure(message: "expect.json must be a map of paths to values") }
            case "path":
                guard v.unmarked.stringValue != nil else { throw CheckFailure(message: "expect.path must be a dotted path") }
            case "accept_errors":
                guard let list = v.unmarked.listValue, list.allSatisfy({ $0.unmarked.stringValue != nil }) else {
                    throw CheckFailure(message: "expect.accept_errors must be a list of texts")
                }
            default: break
            }
            out[e.key] = v
        }
        return out
    }

    // MARK: - Probing

    /// One attempt: a sample judged against the expectations, polled while `increases_within` waits.
    func attempt(_ prepared: Prepared, _ expected: [String: Value]) async -> (Verdict, [Value]) {
        let first: Sample
        switch await sample(prepared, expected) {
        case .failure(let e): return (.fail(e.message), [])
        case .success(let s): first = s
        }
        if let accepted = first.acceptedError {
            return (.pass("\(prepared.method) answered an accepted error: \(accepted)"), [.string(accepted)])
        }
        let failures = judge(first, expected)
        if !failures.isEmpty { return (.fail(failures.joined(separator: "; ")), [first.value]) }
        guard let window = check.increasesWithin else {
            return (.pass(summary(first, expected) + passNote(expected)), [first.value])
        }
        guard let start = first.value.quantityValue else {
            return (.fail("\(subject(expected))\(describe(first.value)) is not a number, so it cannot increase"), [first.value])
        }
        let began = Date()
        let deadline = began.addingTimeInterval(window)
        let interval = min(1.0, max(0.1, window / 10))
        var last = first.value
        var lastError: String?
        while Date() < deadline {
            if Task.isCancelled { return (.fail("cancelled"), [first.value, last]) }
            let wait = min(interval, max(0, deadline.timeIntervalSinceNow))
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            switch await sample(prepared, expected) {
            case .failure(let e):
                lastError = e.message
            case .success(let s):
                lastError = nil
                last = s.value
                if let n = s.value.quantityValue, n > start {
                    let took = Date().timeIntervalSince(began)
                    return (.pass("\(subject(expected))\(describe(first.value)) → \(describe(s.value)) within \(formatSeconds(took))"), [first.value, s.value])
                }
            }
        }
        var message = "\(subject(expected))did not increase within \(formatSeconds(window)): \(describe(first.value)) → \(describe(last))"
        if let lastError { message += " (last request: \(lastError))" }
        return (.fail(message), [first.value, last])
    }

    /// "data.head_slot = " when `expect.path` selects the value, else nothing.
    private func subject(_ expected: [String: Value]) -> String {
        expected["path"]?.unmarked.stringValue.map { "\($0) = " } ?? ""
    }

    /// What a passing sample showed: the status, the value compared, the json paths checked.
    private func summary(_ s: Sample, _ expected: [String: Value]) -> String {
        var parts: [String] = []
        if let status = s.status { parts.append("HTTP \(status)") }
        if s.status == nil || expected["path"] != nil || expected["equals"] != nil
            || expected["at_least"] != nil || expected["at_most"] != nil {
            parts.append(subject(expected) + describe(s.value))
        }
        if let paths = expected["json"]?.unmarked.mapValue {
            for path in paths.keys.sorted() {
                parts.append("\(path) = \(s.answer.value(atPath: path).map(describe) ?? "null")")
            }
        }
        return parts.joined(separator: ", ")
    }

    private func passNote(_ expected: [String: Value]) -> String {
        var notes: [String] = []
        if let n = expected["at_least"] { notes.append("at least \(describe(n))") }
        if let n = expected["at_most"] { notes.append("at most \(describe(n))") }
        return notes.isEmpty ? "" : " (\(notes.joined(separator: ", ")))"
    }

    func sample(_ prepared: Prepared, _ expected: [String: Value]) async -> Result<Sample, CheckFailure> {
        let response: HTTPResponse
        do {
            response = try await (prepared.sensitive ? quietClient : client).send(prepared.request)
        } catch let e as HTTPTransportError {
            // The URL is shown beside the result (or hidden when sensitive); not repeated here.
            return .failure(CheckFailure(message: "\(e.kind.rawValue): \(e.message)"))
        } catch {
            return .failure(CheckFailure(message: "\(error)"))
        }
        let parsed = (try? Value.parseJSON(response.body)) ?? .string(String(response.bodyText.prefix(2000)))
        var answer = parsed
        switch check.probeKind {
        case .ethereumRPC:
            guard (200..<300).contains(response.status) else {
                return .failure(CheckFailure(message: "HTTP \(response.status)\(snippet(response))"))
            }
            if let error = parsed["error"], !error.isNull {
                let code = error["code"].flatMap(\.quantityValue).map { " \(Value.formatNumber($0))" } ?? ""
                let text = error["message"]?.stringValue ?? error.jsonString()
                let accepted = expected["accept_errors"]?.unmarked.listValue?.compactMap { $0.unmarked.stringValue } ?? []
                if accepted.contains(where: { !$0.isEmpty && text.range(of: $0, options: .caseInsensitive) != nil }) {
                    return .success(Sample(status: nil, answer: .null, value: .null, acceptedError: "JSON-RPC error\(code): \(text)"))
                }
                return .failure(CheckFailure(message: "JSON-RPC error\(code): \(text)"))
            }
            guard let result = parsed["result"] else {
                return .failure(CheckFailure(message: "not a JSON-RPC answer\(snippet(response))"))
            }
            answer = result
        case .http:
            break
        }
        var value = answer
        if let path = expected["path"]?.unmarked.stringValue {
            guard let v = answer.value(atPath: path) else {
                return .failure(CheckFailure(message: "HTTP \(response.status): the answer has no \(path)\(snippet(response))"))
            }
            value = v
        }
        return .success(Sample(status: check.probeKind == .http ? response.status : nil, answer: answer, value: value))
    }

    private func snippet(_ response: HTTPResponse) -> String {
        let text = response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return "" }
        return ": " + (text.count > 200 ? String(text.prefix(200)) + "…" : text)
    }

    /// Every expectation the sample does not meet (`increases_within` aside).
    func judge(_ s: Sample, _ expected: [String: Value]) -> [String] {
        var failures: [String] = []
        if let status = s.status {
            if let want = expected["status"]?.quantityValue {
                if Double(status) != want { failures.append("HTTP \(status), expected \(Value.formatNumber(want))") }
            } else if !(200..<300).contains(status) {
                failures.append("HTTP \(status), expected a 2xx status")
            }
        }
        if let n = expected["at_least"], let want = n.quantityValue {
            if let got = s.value.quantityValue {
                if got < want { failures.append("\(subject(expected))\(describe(s.value)), expected at least \(describe(n))") }
            } else {
                failures.append("\(subject(expected))\(describe(s.value)) is not a number (expected at least \(describe(n)))")
            }
        }
        if let n = expected["at_most"], let want = n.quantityValue {
            if let got = s.value.quantityValue {
                if got > want { failures.append("\(subject(expected))\(describe(s.value)), expected at most \(describe(n))") }
            } else {
                failures.append("\(subject(expected))\(describe(s.value)) is not a number (expected at most \(describe(n)))")
            }
        }
        if let want = expected["equals"], !matches(s.value, want) {
            failures.append("\(subject(expected))\(describe(s.value)), expected \(describe(want))")
        }
        if let paths = expected["json"]?.unmarked.mapValue {
            for path in paths.keys.sorted() {
                guard let want = paths[path] else { continue }
                guard let got = s.answer.value(atPath: path) else {
                    failures.append("\(path) is missing, expected \(describe(want))")
                    continue
                }
                if !matches(got, want) { failures.append("\(path) is \(describe(got)), expected \(describe(want))") }
            }
        }
        return failures
    }

    /// Equality as an operator means it: a number matches the same quantity written as hex or a
    /// decimal string; everything else compares by value.
    func matches(_ got: Value, _ want: Value) -> Bool {
        if case .number(let n) = want.unmarked { return got.quantityValue == n }
        return got.deepUnmarked.semanticallyEquals(want.deepUnmarked)
    }

    /// A value for a message: hex quantities with their decimal value, secrets hidden.
    func describe(_ v: Value) -> String {
        if v.containsSensitive { return "(sensitive value)" }
        if case .string(let s) = v, s.hasPrefix("0x"), s.count <= 18, let n = v.quantityValue {
            return "\(s) (\(Value.formatNumber(n)))"
        }
        let text = v.jsonString()
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

/// "1.2s", "350ms", "2m5s".
public func formatSeconds(_ s: Double) -> String {
    if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
    if s < 60 { return String(format: "%.1fs", s) }
    let whole = Int(s.rounded())
    return "\(whole / 60)m\(whole % 60)s"
}

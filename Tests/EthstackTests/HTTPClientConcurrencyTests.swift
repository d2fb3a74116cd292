import Foundation
import KubeTestServer
import Testing
@testable import EthstackEngine
@testable import EthstackHTTP

/// The shared HTTP client runs blocking libcurl transfers off the Swift pool: many requests at
/// once really are in flight at once (a concurrent Dispatch queue ran only one per core), up to
/// `maxConcurrentTransfers`, and no more.
@Suite struct HTTPClientConcurrencyTests {
    @Test func concurrentRequestsOverlapUpToTheLimit() async throws {
        var options = KubeTestServer.Options()
        options.responseDelay = 0.5
        let server = try await KubeTestServer.start(port: 0, options: options)
        defer { server.shutdown() }
        let client = HTTPClient(options: HTTPClientOptions())
        #expect(client.options.maxConcurrentTransfers == 10)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<30 {
                group.addTask { try await client.send(HTTPRequest(method: "GET", url: server.url + "/version", timeout: 30)).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 30 && statuses.allSatisfy { $0 == 200 })
        // 30 requests held 0.5 s each by the server: well more than one per core at a time, never
        // more than the limit.
        #expect(server.peakConcurrentRequests > 2 && server.peakConcurrentRequests <= 10, "\(server.peakConcurrentRequests)")

        // A limit of one: one at a time, in turn.
        options.responseDelay = 0.2
        let other = try await KubeTestServer.start(port: 0, options: options)
        defer { other.shutdown() }
        var one = HTTPClientOptions()
        one.maxConcurrentTransfers = 1
        let serial = HTTPClient(options: one)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { _ = try await serial.send(HTTPRequest(method: "GET", url: other.url + "/version", timeout: 30)) } }
            try await group.waitForAll()
        }
        #expect(other.peakConcurrentRequests == 1)
    }
}

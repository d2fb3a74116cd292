import Foundation
import Testing
import EthstackEngine

/// Retries through a fault-injecting proxy (Tests/Support/fault_proxy.py) in front of moto.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"))
struct AWSRetryTests {
    func proxyStats(_ url: String) async throws -> Value {
        let response = try await HTTPClient().send(HTTPRequest(method: "GET", url: url + "/__proxy/stats"))
        return try Value.parseJSON(response.body)
    }

    @Test func throttlingServerErrorsAndDroppedConnectionsAreRetried() async throws {
        let proxy = try await AWSTestServers.faultProxy(["503", "400:Throttling", "429", "drop", "400:RequestLimitExceeded", "500"])
        defer { proxy.process.terminate() }
        let aws = try await AWSTestServers.provider(region: "sa-east-1", endpoint: proxy.url, extra: ["max_retries": 8])
        let vpc = try await aws.create(CreateRequest(type: "aws.vpc", address: "vpc",
                                                     planned: ["cidr_block": "10.9.0.0/16", "enable_dns_support": true,
                                                               "enable_dns_hostnames": false, "tags": [:]],
                                                     mark: testMark("vpc")))
        #expect(vpc.id.hasPrefix("vpc-"))
        let stats = try await proxyStats(proxy.url)
        #expect(stats["faults"] == 6)
    }

    @Test func retriesGiveUpAndSayWhy() async throws {
        let proxy = try await AWSTestServers.faultProxy(["503", "503", "503"])
        defer { proxy.process.terminate() }
        let aws = try await AWSTestServers.provider(region: "ca-central-1", endpoint: proxy.url, extra: ["max_retries": 2])
        do {
            _ = try await aws.read(ReadRequest(type: "aws.vpc", address: "vpc", id: "vpc-12345678", prior: [:]))
            Issue.record("three 503s with two retries should fail")
        } catch let error as ProviderError {
            #expect(error.kind == .unavailable)
            #expect(error.retryable)
            #expect(error.address == "vpc")
        }
        #expect(try await proxyStats(proxy.url)["requests"] == 3)
    }

    @Test func nonRetryableErrorsAreNotRetried() async throws {
        let proxy = try await AWSTestServers.faultProxy(["400:UnauthorizedOperation"])
        defer { proxy.process.terminate() }
        let aws = try await AWSTestServers.provider(region: "ap-northeast-1", endpoint: proxy.url)
        do {
            _ = try await aws.read(ReadRequest(type: "aws.vpc", address: "vpc", id: "vpc-12345678", prior: [:]))
            Issue.record("UnauthorizedOperation should fail at once")
        } catch let error as ProviderError {
            #expect(error.kind == .unauthorized)
            #expect(error.message == "UnauthorizedOperation: injected by fault_proxy")
        }
        #expect(try await proxyStats(proxy.url)["requests"] == 1)
    }
}

import Foundation
import Testing
import EthstackEngine
import EthstackHTTP
import EthstackModel
import EthstackProviderAPI

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

/// Waiters poll with backoff: moto makes NAT gateways available at once, so a proxy makes the
/// first answers say `pending`.
@Suite(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH: skipped (CI installs moto[server] 5.2)"))
struct AWSWaiterTests {
    final class Messages: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ m: String) { lock.lock(); items.append(m); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
    }

    @Test func natGatewayCreateWaitsUntilAvailable() async throws {
        let proxy = try await AWSTestServers.faultProxy([], rewrite: "<state>available</state>|<state>pending</state>|3")
        defer { proxy.process.terminate() }
        // The VPC, subnet and address directly (their answers say "available" too), the NAT through the proxy.
        let direct = try await AWSTestServers.provider(region: "eu-south-1")
        let vpc = try await AWSProviderTests().create(direct, "aws.vpc", "vpc", ["cidr_block": "10.40.0.0/16"])
        let subnet = try await AWSProviderTests().create(direct, "aws.subnet", "s", ["vpc_id": .string(vpc.id), "cidr_block": "10.40.1.0/24"])
        let eip = try await AWSProviderTests().create(direct, "aws.eip", "ip", [:])
        let aws = try await AWSTestServers.provider(region: "eu-south-1", endpoint: proxy.url)
        let messages = Messages()
        let nat = try await aws.create(CreateRequest(type: "aws.nat_gateway", address: "nat",
                                                     planned: ["subnet_id": .string(subnet.id), "allocation_id": .string(eip.id), "tags": [:]],
                                                     mark: testMark("nat"), progress: { messages.add($0) }))
        #expect(nat.attributes["state"] == "available")
        #expect(messages.all.contains { $0.hasPrefix("waiting for NAT gateway \(nat.id) to be available") })
        let stats = try await HTTPClient().send(HTTPRequest(method: "GET", url: proxy.url + "/__proxy/stats"))
        #expect(try Value.parseJSON(stats.body)["rewrites"] == 3)
    }
}

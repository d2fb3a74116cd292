import Foundation
import Testing
@testable import AWSProvider
@testable import EthstackEngine
@testable import EthstackAWSClient
@testable import EthstackProviderAPI

@Suite struct AWSCredentialTests {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ethstack-aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func environmentKeysWin() throws {
        let chain = AWSCredentialChain(environment: [
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok",
            "AWS_REGION": "eu-west-1", "HOME": "/nonexistent",
        ])
        let r = try chain.resolve()
        #expect(r.credentials.accessKeyID == "AKIDENV")
        #expect(r.credentials.sessionToken == "tok")
        #expect(r.region == "eu-west-1")
    }

    @Test func explicitKeysBeatEnvironment() throws {
        let chain = AWSCredentialChain(environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/nonexistent"])
        let r = try chain.resolve(accessKey: "AKIDCONF", secretKey: "s2", region: "us-west-2")
        #expect(r.credentials.accessKeyID == "AKIDCONF")
        #expect(r.region == "us-west-2")
    }

    @Test func profileFromSharedFiles() throws {
        let dir = try tempDir()
        let creds = dir.appendingPathComponent("credentials")
        let config = dir.appendingPathComponent("config")
        try """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = d

            [testnet]
            aws_access_key_id = AKIDTESTNET
            aws_secret_access_key = t
            aws_session_token = session
            """.write(to: creds, atomically: true, encoding: .utf8)
        try """
            [default]
            region = us-east-2
            # comment
            [profile testnet]
            region = eu-central-1
            """.write(to: config, atomically: true, encoding: .utf8)
        let env = ["AWS_SHARED_CREDENTIALS_FILE": creds.path, "AWS_CONFIG_FILE": config.path, "HOME": "/nonexistent"]
        let byDefault = try AWSCredentialChain(environment: env).resolve()
        #expect(byDefault.credentials.accessKeyID == "AKIDDEFAULT")
        #expect(byDefault.region == "us-east-2")

        var withProfile = env
        withProfile["AWS_PROFILE"] = "testnet"
        let testnet = try AWSCredentialChain(environment: withProfile).resolve()
        #expect(testnet.credentials.accessKeyID == "AKIDTESTNET")
        #expect(testnet.credentials.sessionToken == "session")
        #expect(testnet.region == "eu-central-1")

        let explicit = try AWSCredentialChain(environment: env).resolve(profile: "testnet", region: "ap-south-1")
        #expect(explicit.credentials.accessKeyID == "AKIDTESTNET")
        #expect(explicit.region == "ap-south-1")

        #expect(throws: AWSCredentialChain.ChainError.self) {
            try AWSCredentialChain(environment: env).resolve(profile: "missing")
        }
    }

    /// No credentials is a configuration error of the first call, not of configure: a plan from an
    /// empty state makes no call and works without them (FirstCommandTests).
    @Test func noCredentialsIsAConfigurationErrorOfTheFirstCall() async throws {
        let provider = try await AWSProvider(environment: ["HOME": "/nonexistent"])
            .configure(ProviderConfiguration(values: ["region": "us-east-1"], stackName: "s", baseDirectory: "/tmp"))
        do {
            _ = try await provider.read(ReadRequest(type: "aws.vpc", address: "vpc", id: "vpc-1", prior: [:]))
            Issue.record("a call should fail without credentials")
        } catch let error as ProviderError {
            #expect(error.kind == .invalidConfiguration)
            #expect(error.message.contains("no AWS credentials"))
        }
        // Half-given credentials are refused at once.
        await #expect(throws: ProviderError.self) {
            _ = try await AWSProvider(environment: ["HOME": "/nonexistent", "AWS_ACCESS_KEY_ID": "AKID"])
                .configure(ProviderConfiguration(values: ["region": "us-east-1"], stackName: "s", baseDirectory: "/tmp"))
        }
    }

    @Test func endpointsResolveLikeTheSDKs() {
        let env = ["AWS_ENDPOINT_URL": "http://localhost:5000/", "AWS_ENDPOINT_URL_EKS": "http://eks.local:1"]
        let endpoints = AWSEndpoints(region: "eu-west-1", configured: ["s3": "http://s3.local"], environment: env)
        #expect(endpoints.endpoint(for: "ec2").url == "http://localhost:5000")
        #expect(endpoints.endpoint(for: "eks").url == "http://eks.local:1")
        #expect(endpoints.endpoint(for: "s3").url == "http://s3.local")
        #expect(endpoints.endpoint(for: "iam").signingRegion == "us-east-1")
        #expect(endpoints.endpoint(for: "ec2").signingRegion == "eu-west-1")

        let aws = AWSEndpoints(region: "eu-west-1", configured: [:], environment: [:])
        #expect(aws.endpoint(for: "ec2").url == "https://ec2.eu-west-1.amazonaws.com")
        #expect(aws.endpoint(for: "iam").url == "https://iam.amazonaws.com")
        #expect(aws.endpoint(for: "s3").isCustom == false)
    }
}

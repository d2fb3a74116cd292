import Foundation
import Testing
@testable import EthstackEngine
@testable import EthstackAWSClient
@testable import EthstackHTTP
@testable import EthstackLanguage

/// SigV4 against AWS's published test-suite vectors (aws-sig-v4-test-suite: get-vanilla,
/// get-vanilla-query-order-key-case, get-vanilla-query-order-value, post-x-www-form-urlencoded)
/// and, for session tokens and presigned URLs, against botocore 1.x (`SigV4Auth`, `SigV4QueryAuth`,
/// `S3SigV4QueryAuth`) signing the same requests offline.
@Suite struct AWSSigV4Tests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let date = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    let signer = SigV4Signer(credentials: AWSSigV4Tests.credentials, region: "us-east-1", service: "service")

    func signed(_ method: String, _ url: String, headers: [HTTPHeader] = [], body: String = "") throws -> HTTPRequest {
        var request = HTTPRequest(method: method, url: url, headers: headers, body: Data(body.utf8))
        try signer.sign(&request, date: Self.date)
        return request
    }

    @Test func timestampIsUTC() {
        #expect(SigV4Signer.timestamp(Self.date) == "20150830T123600Z")
    }

    @Test func getVanilla() throws {
        let canonical = signer.canonicalRequest(
            method: "GET", url: "https://example.amazonaws.com/",
            headers: [HTTPHeader("Host", "example.amazonaws.com"), HTTPHeader("X-Amz-Date", "20150830T123600Z")],
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(canonical?.text == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signer.stringToSign(canonicalRequest: canonical?.text ?? "", timestamp: "20150830T123600Z") == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        let request = try signed("GET", "https://example.amazonaws.com/")
        #expect(request.header("Authorization") == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(request.header("X-Amz-Date") == "20150830T123600Z")
        #expect(request.header("Host") == "example.amazonaws.com")
    }

    @Test func getVanillaQueryOrderKeyCase() throws {
        let request = try signed("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1")
        #expect(request.header("Authorization")?.hasSuffix("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") == true)
        let canonical = signer.canonicalRequest(method: "GET", url: request.url, headers: request.headers, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(canonical?.text.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
    }

    @Test func getVanillaQueryOrderValue() throws {
        let request = try signed("GET", "https://example.amazonaws.com/?Param1=value2&Param1=Value1")
        #expect(request.header("Authorization")?.hasSuffix("Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1") == true)
    }

    @Test func postXWWWFormURLEncoded() throws {
        let request = try signed("POST", "https://example.amazonaws.com/",
                                 headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1")
        let canonical = signer.canonicalRequest(
            method: "POST", url: "https://example.amazonaws.com/",
            headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded"), HTTPHeader("Host", "example.amazonaws.com"),
                      HTTPHeader("X-Amz-Date", "20150830T123600Z")],
            payloadHash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e")
        #expect(canonical?.text == """
            POST
            /

            content-type:application/x-www-form-urlencoded
            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            content-type;host;x-amz-date
            9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e
            """)
        #expect(request.header("Authorization") == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
    }

    @Test func sessionTokenIsSignedAsBotocoreDoes() throws {
        var creds = Self.credentials
        creds.sessionToken = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
        var request = HTTPRequest(method: "GET", url: "https://example.amazonaws.com/")
        try SigV4Signer(credentials: creds, region: "us-east-1", service: "service").sign(&request, date: Self.date)
        #expect(request.header("Authorization") == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=c8db8b9676d526f735dac5330f17623554c6cad1e2980d321903e9a3884c051b")
        #expect(request.header("X-Amz-Security-Token") == creds.sessionToken)
        #expect(!creds.description.contains("wJalr"))
        #expect(!creds.description.contains("AQoD"))
    }

    /// The EKS token is a presigned STS GetCallerIdentity URL with `x-k8s-aws-id` signed.
    @Test func presignedSTSGetCallerIdentityForEKSToken() throws {
        let sts = SigV4Signer(credentials: Self.credentials, region: "us-east-1", service: "sts")
        let url = try sts.presign(url: "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
                                  headers: [HTTPHeader("x-k8s-aws-id", "eth-testnet")], expires: 60, date: Self.date)
        #expect(url == "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=8a23a567d80a15f02825cb14867318566f2b3bdf67820b6b73be5cdce20bde99")
    }

    @Test func presignedS3URLUsesUnsignedPayload() throws {
        let s3 = SigV4Signer(credentials: Self.credentials, region: "us-east-1", service: "s3")
        let url = try s3.presign(url: "https://examplebucket.s3.amazonaws.com/test.txt", expires: 86400, date: Self.date)
        #expect(url.hasSuffix("X-Amz-Signature=22f95d09b0190803168fd8aa457df8a63da2968679a9db522dc3ede3c488fc6f"))
    }

    @Test func nonS3PathsAreNormalisedAndEncodedTwice() {
        #expect(signer.canonicalURI("/a/./b/../c%20d") == "/a/c%2520d")
        let s3 = SigV4Signer(credentials: Self.credentials, region: "us-east-1", service: "s3")
        #expect(s3.canonicalURI("/bucket/a%20b") == "/bucket/a%20b")
    }

    @Test func redactionHidesSecrets() {
        #expect(HTTPRedaction.redactedHeaderValue(name: "Authorization", value: "AWS4-HMAC-SHA256 Credential=…") == "<redacted>")
        #expect(HTTPRedaction.redactedHeaderValue(name: "X-Amz-Security-Token", value: "abc") == "<redacted>")
        #expect(HTTPRedaction.redactedHeaderValue(name: "Content-Type", value: "text/xml") == "text/xml")
        let url = HTTPRedaction.redactedURL("https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Signature=abcd&X-Amz-Security-Token=tok")
        #expect(url == "https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>")
    }
}

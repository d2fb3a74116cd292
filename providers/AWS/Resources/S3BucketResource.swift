import Crypto
import Foundation
import EthstackAWSClient
import EthstackHTTP
import EthstackModel
import EthstackProviderAPI

/// `aws.s3_bucket`: the bucket, its versioning, default encryption, public access block and tags.
/// The id is the bucket name. S3 has no idempotency token: the name is the idempotency key, and a
/// bucket we already own is adopted only when it carries our mark (or no mark yet).
struct S3BucketResource: AWSResourceType {
    static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    let schema = ResourceSchema(type: "aws.s3_bucket", description: "An S3 bucket.", attributes: [
        AttributeSchema("bucket", .string, .required, forcesReplacement: true),
        AttributeSchema("versioning", .bool, .optional(default: false)),
        AttributeSchema("sse_algorithm", .string, .optional(default: "AES256"), description: "Default encryption: AES256 or aws:kms."),
        AttributeSchema("kms_key_id", .string, .optional(default: nil), description: "KMS key for aws:kms."),
        AttributeSchema("block_public_access", .bool, .optional(default: true), description: "All four public access block settings."),
        AttributeSchema("force_destroy", .bool, .optional(default: false), description: "Delete all objects (and versions) on destroy."),
        AttributeSchema("lifecycle_rules", .list(.any), .optional(default: .list([])),
                        description: "Lifecycle rules: {id, prefix, enabled, expiration_days, noncurrent_version_expiration_days, abort_incomplete_multipart_upload_days}."),
        AttributeSchema("tags", .map(.string), .optional(default: .map([:]))),
        AttributeSchema("id", .string, .computed),
        AttributeSchema("arn", .string, .computed),
        AttributeSchema("region", .string, .computed),
    ])

    // MARK: - Lifecycle rules

    /// One lifecycle rule, normalised: every key present (null = not set), rules sorted by id.
    struct LifecycleRule: Comparable {
        var id: String
        var prefix: String
        var enabled: Bool
        var expiration: Int?
        var noncurrentExpiration: Int?
        var abortMultipart: Int?

        static func < (a: LifecycleRule, b: LifecycleRule) -> Bool { (a.id, a.prefix) < (b.id, b.prefix) }

        var value: Value {
            func days(_ d: Int?) -> Value { d.map { .number(Double($0)) } ?? .null }
            return .map(["id": .string(id), "prefix": .string(prefix), "enabled": .bool(enabled),
                         "expiration_days": days(expiration), "noncurrent_version_expiration_days": days(noncurrentExpiration),
                         "abort_incomplete_multipart_upload_days": days(abortMultipart)])
        }

        var xml: String {
            var out = "<Rule><ID>\(xmlEscape(id))</ID><Filter><Prefix>\(xmlEscape(prefix))</Prefix></Filter>"
                + "<Status>\(enabled ? "Enabled" : "Disabled")</Status>"
            if let expiration { out += "<Expiration><Days>\(expiration)</Days></Expiration>" }
            if let noncurrentExpiration {
                out += "<NoncurrentVersionExpiration><NoncurrentDays>\(noncurrentExpiration)</NoncurrentDays></NoncurrentVersionExpiration>"
            }
            if let abortMultipart {
                out += "<AbortIncompleteMultipartUpload><DaysAfterInitiation>\(abortMultipart)</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
            }
            return out + "</Rule>"
        }
    }

    static func lifecycleRules(_ value: Value?) -> [LifecycleRule] {
        (value?.listValue ?? []).enumerated().compactMap { index, rule -> LifecycleRule? in
            guard let m = rule.mapValue else { return nil }
            return LifecycleRule(id: m.string("id") ?? "rule-\(index + 1)", prefix: m.string("prefix") ?? "", enabled: m.bool("enabled") ?? true,
                                 expiration: m.int("expiration_days"), noncurrentExpiration: m.int("noncurrent_version_expiration_days"),
                                 abortMultipart: m.int("abort_incomplete_multipart_upload_days"))
        }.sorted()
    }

    static func lifecycleRules(_ xml: XMLTree?) -> [LifecycleRule] {
        (xml?.children("Rule") ?? []).map { r in
            LifecycleRule(id: r.string("ID") ?? "", prefix: r.string("Filter", "Prefix") ?? r.string("Prefix") ?? "",
                          enabled: r.string("Status") == "Enabled", expiration: r.string("Expiration", "Days").flatMap { Int($0) },
                          noncurrentExpiration: r.string("NoncurrentVersionExpiration", "NoncurrentDays").flatMap { Int($0) },
                          abortMultipart: r.string("AbortIncompleteMultipartUpload", "DaysAfterInitiation").flatMap { Int($0) })
        }.sorted()
    }

    func planChange(prior: [String: Value]?, proposed: [String: Value]) -> [String: Value] {
        var planned = proposed
        if let v = proposed["lifecycle_rules"], !v.containsUnknown, !v.isNull {
            planned["lifecycle_rules"] = .list(Self.lifecycleRules(v).map(\.value))
        }
        return planned
    }

    // MARK: - Requests

    private func send(_ ctx: AWSContext, _ operation: String, _ method: String, bucket: String, key: String = "",
                      query: [(String, String)] = [], body: String? = nil, headers: [HTTPHeader] = []) async throws -> HTTPResponse {
        let endpoint = ctx.client.endpoints.endpoint(for: "s3")
        let encodedKey = key.isEmpty ? "" : "/" + SigV4Signer.uriEncode(key, keepSlash: true)
        var allHeaders = headers
        var data = Data()
        if let body {
            data = Data(body.utf8)
            allHeaders.append(HTTPHeader("Content-Type", "application/xml"))
            allHeaders.append(HTTPHeader("Content-MD5", Data(Insecure.MD5.hash(data: data)).base64EncodedString()))
        }
        if endpoint.isCustom {
            return try await ctx.client.send(service: "s3", operation: operation, method: method, path: "/\(bucket)\(encodedKey)",
                                             query: query, headers: allHeaders, body: data)
        }
        return try await ctx.client.send(service: "s3", operation: operation, method: method, path: encodedKey.isEmpty ? "/" : encodedKey,
                                         query: query, headers: allHeaders, body: data, hostPrefix: "\(bucket).")
    }

    private func getXML(_ ctx: AWSContext, _ operation: String, bucket: String, _ sub: String) async throws -> XMLTree? {
        let response = try await send(ctx, operation, "GET", bucket: bucket, query: [(sub, "")])
        return XMLTree.parse(response.body)
    }

    // MARK: - Read

    func read(id: String, prior: [String: Value], _ ctx: AWSContext) async throws -> [String: Value]? {
        do {
            _ = try await send(ctx, "HeadBucket", "HEAD", bucket: id)
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
        async let versioning = getXML(ctx, "GetBucketVersioning", bucket: id, "versioning")
        async let encryption = optional(["ServerSideEncryptionConfigurationNotFoundError"]) {
            try await getXML(ctx, "GetBucketEncryption", bucket: id, "encryption")
        }
        async let publicAccess = optional(["NoSuchPublicAccessBlockConfiguration"]) {
            try await getXML(ctx, "GetPublicAccessBlock", bucket: id, "publicAccessBlock")
        }
        async let tagging = optional(["NoSuchTagSet", "NoSuchTagSetError"]) {
            try await getXML(ctx, "GetBucketTagging", bucket: id, "tagging")
        }
        async let lifecycle = optional(["NoSuchLifecycleConfiguration"]) {
            try await getXML(ctx, "GetBucketLifecycleConfiguration", bucket: id, "lifecycle")
        }
        let sse = try await encryption?.first(named: "ApplyServerSideEncryptionByDefault")
        let block = try await publicAccess
        let blocked = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"].allSatisfy {
            block?.first(named: $0)?.text == "true"
        }
        let tags = Self.tags(try await tagging)
        return [
            "id": .string(id),
            "bucket": .string(id),
            "versioning": .bool(try await versioning?.first(named: "Status")?.text == "Enabled"),
            "sse_algorithm": .string(sse?.string("SSEAlgorithm") ?? ""),
            "kms_key_id": sse?.string("KMSMasterKeyID").map(Value.string) ?? .null,
            "block_public_access": .bool(blocked),
            "force_destroy": .bool(prior.bool("force_destroy") ?? false),
            "lifecycle_rules": .list(Self.lifecycleRules(try await lifecycle).map(\.value)),
            "tags": EC2.userTagsValue(tags),
            "arn": .string("arn:aws:s3:::\(id)"),
            "region": .string(ctx.region),
        ]
    }

    /// nil when S3 answers one of `codes` ("this configuration is not set").
    private func optional(_ codes: Set<String>, _ body: () async throws -> XMLTree?) async throws -> XMLTree? {
        do {
            return try await body()
        } catch let error as AWSAPIError where codes.contains(error.code) {
            return nil
        }
    }

    static func tags(_ xml: XMLTree?) -> [String: String] {
        var out: [String: String] = [:]
        for tag in xml?.child("TagSet")?.children("Tag") ?? [] {
            if let key = tag.string("Key") { out[key] = tag.string("Value") ?? "" }
        }
        return out
    }

    // MARK: - Create, update

    func create(_ planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext, progress: ProgressReporter) async throws -> String {
        guard let bucket = planned.string("bucket"), !bucket.isEmpty else {
            throw AWSAPIError(service: "s3", operation: "CreateBucket", status: 400, code: "InvalidBucketName", message: "bucket is empty")
        }
        let body = ctx.region == "us-east-1" ? nil :
            "<CreateBucketConfiguration xmlns=\"\(Self.namespace)\"><LocationConstraint>\(xmlEscape(ctx.region))</LocationConstraint></CreateBucketConfiguration>"
        // A bucket of this name that exists already is adopted only when it carries this create's
        // mark (an earlier try of the same create); anyone else's is refused, never taken over.
        if let tags = try await existingTags(bucket, ctx) {
            guard MarkTags.matches(tags, mark) else { throw Self.foreign(bucket, tags: tags, mark: mark) }
        } else {
            do {
                _ = try await send(ctx, "CreateBucket", "PUT", bucket: bucket, body: body)
            } catch let error as AWSAPIError where error.code == "BucketAlreadyOwnedByYou" {
                // It did not exist a moment ago: this is our own CreateBucket whose answer was lost
                // and that the client sent again; unless someone else's mark went on it meanwhile.
                let tags = try await existingTags(bucket, ctx) ?? [:]
                if tags.keys.contains(where: MarkTags.isMarkTag), !MarkTags.matches(tags, mark) {
                    throw Self.foreign(bucket, tags: tags, mark: mark)
                }
            }
        }
        return try await afterCreating(bucket) {
            try await putTags(bucket, planned, mark, ctx)
            try await configure(bucket, prior: nil, planned: planned, ctx)
            return bucket
        }
    }

    /// The bucket's tags; nil when there is no such bucket (in this account).
    private func existingTags(_ bucket: String, _ ctx: AWSContext) async throws -> [String: String]? {
        do {
            return Self.tags(try await optional(["NoSuchTagSet", "NoSuchTagSetError"]) {
                try await getXML(ctx, "GetBucketTagging", bucket: bucket, "tagging")
            })
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }

    /// The error for a bucket of the planned name that this stack did not make.
    static func foreign(_ bucket: String, tags: [String: String], mark: ResourceMark) -> AWSAPIError {
        let owner = tags[MarkTags.stack].map { "stack \"\($0)\" (\(tags[MarkTags.address] ?? "?"))" } ?? "no ethstack stack"
        return AWSAPIError(service: "s3", operation: "CreateBucket", status: 409, code: "BucketAlreadyExists",
                           message: "bucket \(bucket) already exists and belongs to \(owner); ethstack does not take over an object it did not make. To manage it from this stack, run: ethstack import \(mark.address)=\(bucket)")
    }

    private func putTags(_ bucket: String, _ planned: [String: Value], _ mark: ResourceMark, _ ctx: AWSContext) async throws {
        let tags = EC2.userTags(planned).merging(MarkTags.tags(mark)) { _, markValue in markValue }
        let body = "<Tagging xmlns=\"\(Self.namespace)\"><TagSet>"
            + tags.keys.sorted().map { "<Tag><Key>\(xmlEscape($0))</Key><Value>\(xmlEscape(tags[$0] ?? ""))</Value></Tag>" }.joined()
            + "</TagSet></Tagging>"
        _ = try await send(ctx, "PutBucketTagging", "PUT", bucket: bucket, query: [("tagging", "")], body: body)
    }

    private func configure(_ bucket: String, prior: [String: Value]?, planned: [String: Value], _ ctx: AWSContext) async throws {
        let versioning = planned.bool("versioning") ?? false
        if versioning != (prior?.bool("versioning") ?? false) {
            // A bucket that was never versioned cannot be "Suspended" into anything useful: skip.
            if versioning || prior != nil {
                let status = versioning ? "Enabled" : "Suspended"
                _ = try await send(ctx, "PutBucketVersioning", "PUT", bucket: bucket, query: [("versioning", "")],
                                   body: "<VersioningConfiguration xmlns=\"\(Self.namespace)\"><Status>\(status)</Status></VersioningConfiguration>")
            }
        }
        let sse = planned.string("sse_algorithm") ?? "AES256"
        let kms = planned.string("kms_key_id")
        if prior == nil || sse != prior?.string("sse_algorithm") || kms != prior?.string("kms_key_id") {
            if sse.isEmpty {
                _ = try await send(ctx, "DeleteBucketEncryption", "DELETE", bucket: bucket, query: [("encryption", "")])
            } else {
                let key = kms.map { "<KMSMasterKeyID>\(xmlEscape($0))</KMSMasterKeyID>" } ?? ""
                let body = "<ServerSideEncryptionConfiguration xmlns=\"\(Self.namespace)\"><Rule><ApplyServerSideEncryptionByDefault>"
                    + "<SSEAlgorithm>\(xmlEscape(sse))</SSEAlgorithm>\(key)</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
                _ = try await send(ctx, "PutBucketEncryption", "PUT", bucket: bucket, query: [("encryption", "")], body: body)
            }
        }
        let block = planned.bool("block_public_access") ?? true
        if prior == nil || block != prior?.bool("block_public_access") {
            if block {
                let body = "<PublicAccessBlockConfiguration xmlns=\"\(Self.namespace)\"><BlockPublicAcls>true</BlockPublicAcls>"
                    + "<IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy>"
                    + "<RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>"
                _ = try await send(ctx, "PutPublicAccessBlock", "PUT", bucket: bucket, query: [("publicAccessBlock", "")], body: body)
            } else if prior != nil {
                _ = try await send(ctx, "DeletePublicAccessBlock", "DELETE", bucket: bucket, query: [("publicAccessBlock", "")])
            }
        }
        let rules = Self.lifecycleRules(planned["lifecycle_rules"])
        if rules != Self.lifecycleRules(prior?["lifecycle_rules"]) { try await putLifecycle(bucket, rules, ctx) }
    }

    private func putLifecycle(_ bucket: String, _ rules: [LifecycleRule], _ ctx: AWSContext) async throws {
        if rules.isEmpty {
            _ = try await send(ctx, "DeleteBucketLifecycle", "DELETE", bucket: bucket, query: [("lifecycle", "")])
        } else {
            let body = "<LifecycleConfiguration xmlns=\"\(Self.namespace)\">" + rules.map(\.xml).joined() + "</LifecycleConfiguration>"
            _ = try await send(ctx, "PutBucketLifecycleConfiguration", "PUT", bucket: bucket, query: [("lifecycle", "")], body: body)
        }
    }

    func update(id: String, prior: [String: Value], planned: [String: Value], mark: ResourceMark, _ ctx: AWSContext,
                progress: ProgressReporter) async throws {
        try await configure(id, prior: prior, planned: planned, ctx)
        if EC2.userTags(prior) != EC2.userTags(planned) { try await putTags(id, planned, mark, ctx) }
    }

    // MARK: - Delete, find

    func delete(id: String, prior: [String: Value], _ ctx: AWSContext, progress: ProgressReporter) async throws {
        if prior.bool("force_destroy") == true {
            try await emptyBucket(id, ctx, progress: progress)
        }
        do {
            _ = try await send(ctx, "DeleteBucket", "DELETE", bucket: id)
        } catch let error as AWSAPIError where error.isNotFound {
            return
        }
    }

    private func emptyBucket(_ bucket: String, _ ctx: AWSContext, progress: ProgressReporter) async throws {
        while true {
            let xml: XMLTree?
            do {
                xml = try await getXML(ctx, "ListObjectVersions", bucket: bucket, "versions")
            } catch let error as AWSAPIError where error.isNotFound {
                return
            }
            let entries = (xml?.children("Version") ?? []) + (xml?.children("DeleteMarker") ?? [])
            if entries.isEmpty { return }
            progress("deleting \(entries.count) object versions")
            for entry in entries {
                guard let key = entry.string("Key") else { continue }
                var query: [(String, String)] = []
                if let version = entry.string("VersionId"), version != "null" { query.append(("versionId", version)) }
                _ = try await send(ctx, "DeleteObject", "DELETE", bucket: bucket, key: key, query: query)
            }
        }
    }

    /// After a crash between CreateBucket and PutBucketTagging the bucket exists without any tag:
    /// it is the interrupted create's own when it carries no ethstack mark at all and was made
    /// after that create started (S3's CreationDate; 5 s allowed for clock skew).
    func find(mark: ResourceMark, planned: [String: Value], started: Date?, _ ctx: AWSContext) async throws -> String? {
        if let found = try await find(mark: mark, planned: planned, ctx) { return found }
        guard let started, let bucket = planned.string("bucket"), !bucket.isEmpty,
              let tags = try await existingTags(bucket, ctx), !tags.keys.contains(where: MarkTags.isMarkTag) else { return nil }
        let response = try await ctx.client.send(service: "s3", operation: "ListBuckets", method: "GET", path: "/")
        guard let xml = XMLTree.parse(response.body) else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        for entry in xml.first(named: "Buckets")?.children("Bucket") ?? [] where entry.string("Name") == bucket {
            guard let text = entry.string("CreationDate"), let created = formatter.date(from: text) ?? plain.date(from: text) else { return nil }
            return created >= started.addingTimeInterval(-5) ? bucket : nil
        }
        return nil
    }

    func find(mark: ResourceMark, planned: [String: Value], _ ctx: AWSContext) async throws -> String? {
        guard let bucket = planned.string("bucket"), !bucket.isEmpty else { return nil }
        do {
            let tags = Self.tags(try await optional(["NoSuchTagSet", "NoSuchTagSetError"]) {
                try await getXML(ctx, "GetBucketTagging", bucket: bucket, "tagging")
            })
            return MarkTags.matches(tags, mark) ? bucket : nil
        } catch let error as AWSAPIError where error.isNotFound {
            return nil
        }
    }
}

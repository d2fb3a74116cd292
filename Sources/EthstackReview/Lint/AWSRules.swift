import Foundation
import EthstackModel

/// Rules over the AWS provider's planned values.
enum AWSRules {
    static let all: [LintRule] = [eksPublicEndpoint, eksLogging, eksSecretsEncryption, securityGroupWorld,
                                  s3Encryption, s3Versioning, s3PublicAccess]

    static let eksPublicEndpoint = LintRule(
        id: "ETH-EKS-001", severity: .critical, title: "EKS API endpoint public to 0.0.0.0/0",
        why: "Anyone on the internet can reach the Kubernetes API and try credentials or exploits against it.",
        fix: "Set public_access_cidrs to your admin ranges, or endpoint_public_access: false and reach the private endpoint.",
        checkov: ["CKV_AWS_38", "CKV_AWS_39"], trivy: ["AWS-0041", "AWS-0040"], types: ["aws.eks_cluster"]
    ) { r in
        let publicAccess = Read.known(r["endpoint_public_access"])
        if publicAccess == nil, r["endpoint_public_access"] != nil { return [.unknown("endpoint_public_access is known only after apply")] }
        if publicAccess?.boolValue == false { return [.pass("the public endpoint is off")] }
        // Unset, EKS opens the public endpoint to 0.0.0.0/0.
        guard r["public_access_cidrs"] != nil else { return [.fail("public endpoint on, public_access_cidrs unset (EKS uses 0.0.0.0/0)")] }
        guard let cidrs = Read.strings(r["public_access_cidrs"]) else { return [.unknown("public_access_cidrs is known only after apply")] }
        let world = cidrs.filter(Read.isWorld)
        if cidrs.isEmpty || !world.isEmpty {
            return [.fail("public endpoint open to \(world.isEmpty ? "0.0.0.0/0 (empty list)" : Read.list(world))")]
        }
        return [.pass("public endpoint limited to \(Read.list(cidrs, from: r["public_access_cidrs"]))")]
    }

    static let requiredLogs = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

    static let eksLogging = LintRule(
        id: "ETH-EKS-002", severity: .medium, title: "EKS control-plane logging incomplete",
        why: "Without all five control-plane logs an incident (who changed what, which login failed) cannot be traced.",
        fix: "enabled_cluster_log_types: [api, audit, authenticator, controllerManager, scheduler]",
        checkov: ["CKV_AWS_37"], trivy: ["AWS-0038"], types: ["aws.eks_cluster"]
    ) { r in
        guard let types = Read.strings(r["enabled_cluster_log_types"] ?? .list([])) else {
            return [.unknown("enabled_cluster_log_types is known only after apply")]
        }
        let missing = requiredLogs.filter { !types.contains($0) }
        return missing.isEmpty ? [.pass("all five control-plane logs on")] : [.fail("missing control-plane logs: \(missing.joined(separator: ", "))")]
    }

    static let eksSecretsEncryption = LintRule(
        id: "ETH-EKS-003", severity: .high, title: "EKS secrets not encrypted with a KMS key",
        why: "Kubernetes Secrets (the validator mnemonic's, Grafana's htpasswd) sit in etcd without envelope encryption.",
        fix: "Set secrets_kms_key_arn to a KMS key (EKS envelope-encrypts Secrets with it; it cannot be removed later).",
        checkov: ["CKV_AWS_58"], trivy: ["AWS-0039"], types: ["aws.eks_cluster"]
    ) { r in
        guard let key = r["secrets_kms_key_arn"], !key.isNull else { return [.fail("no secrets_kms_key_arn: Secrets are not envelope-encrypted")] }
        guard let known = Read.known(key) else { return [.unknown("secrets_kms_key_arn is known only after apply")] }
        return (known.stringValue ?? "").isEmpty ? [.fail("secrets_kms_key_arn is empty")] : [.pass("Secrets are encrypted with a KMS key")]
    }

    static let securityGroupWorld = LintRule(
        id: "ETH-SG-001", severity: .high, title: "Security group open to the world on a port that is not P2P",
        why: "Only devp2p (30303) and libp2p (9000/9001) need the whole internet; RPC, APIs, dashboards and SSH do not.",
        fix: "Give the rule's cidr_blocks your own ranges; open only 30303 and 9000 to 0.0.0.0/0.",
        checkov: ["CKV_AWS_277", "CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260"], trivy: ["AWS-0107"], types: ["aws.security_group"]
    ) { r in
        guard let ingress = Read.known(r["ingress"] ?? .list([]))?.listValue else { return [.unknown("ingress is known only after apply")] }
        var out: [LintOutcome] = []
        for (i, rule) in ingress.enumerated() {
            let blocks = (rule["cidr_blocks"]?.listValue ?? []).compactMap(\.stringValue)
                + (rule["ipv6_cidr_blocks"]?.listValue ?? []).compactMap(\.stringValue)
            let world = blocks.filter(Read.isWorld)
            let protocolName = rule["protocol"]?.stringValue ?? (rule["protocol"]?.intValue.map(String.init) ?? "tcp")
            let all = protocolName == "-1" || protocolName == "all"
            let from = all ? 0 : (Read.port(rule["from_port"]) ?? 0)
            let to = all ? 65535 : (Read.port(rule["to_port"]) ?? from)
            let ports = from == to ? "\(from)" : "\(from)-\(to)"
            let label = "ingress[\(i)] \(all ? "all traffic" : "\(protocolName) \(ports)")"
            if world.isEmpty {
                out.append(.pass("\(label) from \(blocks.isEmpty ? "other security groups" : Read.list(blocks, from: r["ingress"]))"))
            } else if from <= to, P2P.covers(from...to) {
                out.append(.pass("\(label) from the world is P2P"))
            } else {
                out.append(.fail("\(label) open to \(Read.list(world))"))
            }
        }
        return out
    }

    static let s3Encryption = LintRule(
        id: "ETH-S3-001", severity: .high, title: "S3 bucket without default encryption",
        why: "Objects (validator-key backups) would be stored unencrypted at rest.",
        fix: "sse_algorithm: AES256 (or aws:kms with kms_key_id).",
        checkov: ["CKV_AWS_19"], trivy: ["AWS-0088"], types: ["aws.s3_bucket"]
    ) { r in
        guard let sse = r["sse_algorithm"] else { return [.pass("default encryption AES256 (the provider's default)")] }
        guard let known = Read.known(sse) else { return [.unknown("sse_algorithm is known only after apply")] }
        let name = known.stringValue ?? ""
        return name.isEmpty ? [.fail("no default encryption")] : [.pass("default encryption \(name)")]
    }

    static let s3Versioning = LintRule(
        id: "ETH-S3-002", severity: .medium, title: "S3 bucket without versioning",
        why: "An overwrite or delete (by mistake or by an attacker) of a backup cannot be undone.",
        fix: "versioning: true",
        checkov: ["CKV_AWS_21"], trivy: ["AWS-0090"], types: ["aws.s3_bucket"]
    ) { r in
        guard let v = r["versioning"] else { return [.fail("versioning off (the provider's default)")] }
        guard let on = Read.known(v)?.boolValue else { return [.unknown("versioning is known only after apply")] }
        return on ? [.pass("versioning on")] : [.fail("versioning off")]
    }

    static let s3PublicAccess = LintRule(
        id: "ETH-S3-003", severity: .high, title: "S3 bucket without a public access block",
        why: "One public ACL or policy would publish the bucket's objects to the internet.",
        fix: "block_public_access: true",
        checkov: ["CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV2_AWS_6"],
        trivy: ["AWS-0086", "AWS-0087", "AWS-0091", "AWS-0093", "AWS-0094"], types: ["aws.s3_bucket"]
    ) { r in
        guard let v = r["block_public_access"] else { return [.pass("public access blocked (the provider's default)")] }
        guard let on = Read.known(v)?.boolValue else { return [.unknown("block_public_access is known only after apply")] }
        return on ? [.pass("public access blocked")] : [.fail("no public access block")]
    }
}

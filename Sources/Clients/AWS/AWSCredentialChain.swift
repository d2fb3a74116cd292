import Foundation

/// Finds AWS credentials and the region the way the AWS SDKs do, from explicit settings, the
/// environment and the shared files (`~/.aws/credentials`, `~/.aws/config`).
///
/// Order: explicit keys → an explicit profile → `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
/// (+ `AWS_SESSION_TOKEN`) → the profile `AWS_PROFILE` (or `default`) from the shared files.
/// Region: explicit → `AWS_REGION` → `AWS_DEFAULT_REGION` → the profile's `region`.
public struct AWSCredentialChain: Sendable {
    public var environment: [String: String]
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public struct Resolved: Sendable {
        public var credentials: AWSCredentials
        public var region: String?
        public var profile: String?
    }

    public enum ChainError: Error, Sendable, CustomStringConvertible {
        case noCredentials(tried: [String])
        case incomplete(String)
        case profileNotFound(String, files: [String])

        public var description: String {
            switch self {
            case .noCredentials(let tried): return "no AWS credentials found (tried \(tried.joined(separator: ", ")))"
            case .incomplete(let what): return what
            case .profileNotFound(let name, let files):
                return "AWS profile \"\(name)\" not found in \(files.joined(separator: " or "))"
            }
        }
    }

    public func resolve(accessKey: String? = nil, secretKey: String? = nil, sessionToken: String? = nil,
                        profile explicitProfile: String? = nil, region explicitRegion: String? = nil) throws -> Resolved {
        let envRegion = nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"])
        if let accessKey = nonEmpty(accessKey) {
            guard let secretKey = nonEmpty(secretKey) else {
                throw ChainError.incomplete("access_key is set but secret_key is not")
            }
            let creds = AWSCredentials(accessKeyID: accessKey, secretAccessKey: secretKey, sessionToken: nonEmpty(sessionToken),
                                       source: "provider configuration")
            let region = nonEmpty(explicitRegion) ?? envRegion ?? (try? profileSettings(defaultProfileName))?["region"]
            return Resolved(credentials: creds, region: region, profile: nil)
        }
        if let name = nonEmpty(explicitProfile) {
            return try fromProfile(name, explicitRegion: explicitRegion, envRegion: envRegion)
        }
        if let id = nonEmpty(environment["AWS_ACCESS_KEY_ID"]) {
            guard let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"]) else {
                throw ChainError.incomplete("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
            }
            let creds = AWSCredentials(accessKeyID: id, secretAccessKey: secret,
                                       sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"]), source: "environment")
            let region = nonEmpty(explicitRegion) ?? envRegion ?? (try? profileSettings(defaultProfileName))?["region"]
            return Resolved(credentials: creds, region: region, profile: nil)
        }
        do {
            return try fromProfile(defaultProfileName, explicitRegion: explicitRegion, envRegion: envRegion)
        } catch ChainError.profileNotFound {
            throw ChainError.noCredentials(tried: ["provider configuration", "AWS_ACCESS_KEY_ID", "profile \(defaultProfileName) in \(credentialsFile)"])
        }
    }

    var defaultProfileName: String { nonEmpty(environment["AWS_PROFILE"]) ?? "default" }

    package var home: String { environment["HOME"] ?? NSHomeDirectory() }
    var credentialsFile: String { nonEmpty(environment["AWS_SHARED_CREDENTIALS_FILE"]) ?? "\(home)/.aws/credentials" }
    package var configFile: String { nonEmpty(environment["AWS_CONFIG_FILE"]) ?? "\(home)/.aws/config" }

    private func fromProfile(_ name: String, explicitRegion: String?, envRegion: String?) throws -> Resolved {
        let settings = try profileSettings(name)
        guard let id = nonEmpty(settings["aws_access_key_id"]) else {
            throw ChainError.incomplete("AWS profile \"\(name)\" has no aws_access_key_id (only static keys are supported)")
        }
        guard let secret = nonEmpty(settings["aws_secret_access_key"]) else {
            throw ChainError.incomplete("AWS profile \"\(name)\" has no aws_secret_access_key")
        }
        let creds = AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: nonEmpty(settings["aws_session_token"]),
                                   source: "profile \(name)")
        return Resolved(credentials: creds, region: nonEmpty(explicitRegion) ?? envRegion ?? nonEmpty(settings["region"]), profile: name)
    }

    /// The profile's settings: the config file's `[profile NAME]` (`[default]`), overridden by the
    /// credentials file's `[NAME]`.
    func profileSettings(_ name: String) throws -> [String: String] {
        let config = Self.parseINI(read(configFile))
        let creds = Self.parseINI(read(credentialsFile))
        let configSection = name == "default" ? (config["default"] ?? config["profile default"]) : config["profile \(name)"]
        guard configSection != nil || creds[name] != nil else {
            throw ChainError.profileNotFound(name, files: [credentialsFile, configFile])
        }
        return (configSection ?? [:]).merging(creds[name] ?? [:]) { _, fromCredentials in fromCredentials }
    }

    private func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// `[section]` headers and `key = value` lines; `#` and `;` start comments; keys lower-cased.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(whereSeparator: \.isWhitespace).joined(separator: " ")
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: [:]][key] = value
        }
        return sections
    }

    private func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }
}

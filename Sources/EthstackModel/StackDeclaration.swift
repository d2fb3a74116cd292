import Foundation

/// A value from the stack file before evaluation: literals, templates with `${…}`, lists and maps,
/// every node with its position.
public indirect enum ConfigNode: Sendable {
    case literal(Value, SourceLocation)
    case template(Template)
    case list([ConfigNode], SourceLocation)
    case map([ConfigEntry], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .literal(_, let l), .list(_, let l), .map(_, let l): return l
        case .template(let t): return t.location
        }
    }

    /// Every reference in the node, in the order written.
    public var references: [Reference] {
        var out: [Reference] = []
        collect(into: &out)
        return out
    }

    private func collect(into out: inout [Reference]) {
        switch self {
        case .literal: break
        case .template(let t): out.append(contentsOf: t.references)
        case .list(let items, _): for i in items { i.collect(into: &out) }
        case .map(let entries, _): for e in entries { e.value.collect(into: &out) }
        }
    }

    /// The value, when the node holds no expression at all (checkable at load time).
    public var literalValue: Value? {
        switch self {
        case .literal(let v, _): return v
        case .template: return nil
        case .list(let items, _):
            var out: [Value] = []
            for i in items { guard let v = i.literalValue else { return nil }; out.append(v) }
            return .list(out)
        case .map(let entries, _):
            var out: [String: Value] = [:]
            for e in entries { guard let v = e.value.literalValue else { return nil }; out[e.key] = v }
            return .map(out)
        }
    }

    public var entries: [ConfigEntry]? {
        if case .map(let e, _) = self { return e }
        return nil
    }
}

public struct ConfigEntry: Sendable {
    public var key: String
    public var keyLocation: SourceLocation
    public var value: ConfigNode

    package init(key: String, keyLocation: SourceLocation, value: ConfigNode) {
        self.key = key
        self.keyLocation = keyLocation
        self.value = value
    }
}

public struct VariableDeclaration: Sendable {
    public enum VariableType: String, Sendable { case string, number, bool, list, map, any }
    public var name: String
    public var location: SourceLocation
    public var type: VariableType
    public var defaultValue: Value?
    public var sensitive: Bool
    public var description: String?

    package init(name: String, location: SourceLocation, type: VariableType, defaultValue: Value? = nil, sensitive: Bool, description: String? = nil) {
        self.name = name
        self.location = location
        self.type = type
        self.defaultValue = defaultValue
        self.sensitive = sensitive
        self.description = description
    }
}

/// A provider configuration: `aws`, or a second one `aws.backup` that resources pick with `provider:`.
public struct ProviderDeclaration: Sendable {
    /// `aws` or `aws.backup`.
    public var name: String
    /// The provider plugin's name: `aws`.
    public var providerName: String
    public var location: SourceLocation
    public var configuration: ConfigNode?

    package init(name: String, providerName: String, location: SourceLocation, configuration: ConfigNode? = nil) {
        self.name = name
        self.providerName = providerName
        self.location = location
        self.configuration = configuration
    }
}

public struct Lifecycle: Sendable, Hashable {
    public var preventDestroy = false
    public var createBeforeDestroy = false
    public var ignoreChanges: [String] = []
    public init() {}
}

/// Drift a resource's owners expect (`drift: { ignore: [...], reason: "...", until: 2027-03-01 }`):
/// `ethstack drift` lists it as ignored, with the reason, instead of failing the nightly job.
public struct DriftIgnore: Sendable, Hashable {
    /// Attribute paths (`desired_size`, `manifest.metadata.annotations`): a path ignores what is under it.
    public var attributes: [String]
    public var reason: String
    /// The last day (YYYY-MM-DD) the entry applies; after it, drift reports it again with a warning.
    public var until: String?
    public var location: SourceLocation

    public init(attributes: [String], reason: String, until: String?, location: SourceLocation) {
        self.attributes = attributes
        self.reason = reason
        self.until = until
        self.location = location
    }

    /// `YYYY-MM-DD` as the start of that day, UTC.
    public static func parseDay(_ text: String) -> Date? {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, text.count == 10, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let components = DateComponents(year: parts[0], month: parts[1], day: parts[2])
        guard components.isValidDate(in: calendar) else { return nil }
        return calendar.date(from: components)
    }

    /// Whether the entry has expired at `now` (it covers the whole `until` day).
    public func expired(at now: Date) -> Bool { Self.expired(until: until, at: now) }

    /// Whether a suppression that lasts `until` (YYYY-MM-DD, the whole day) has expired at `now`.
    public static func expired(until: String?, at now: Date) -> Bool {
        guard let until, let day = parseDay(until) else { return false }
        return now >= day.addingTimeInterval(86_400)
    }

    /// Whether `path` (dotted) is at or under one of the ignored attributes.
    public func ignores(_ path: String) -> Bool {
        attributes.contains { path == $0 || path.hasPrefix($0 + ".") || path.hasPrefix($0 + "[") }
    }
}

/// Lint findings a resource's owners accept (`lint: { ignore: [RULE, …], reason: "…", until: 2027-03-01 }`),
/// written next to the resource like `drift:`. After `until` the findings count again.
public struct LintIgnore: Sendable, Hashable {
    /// Rule ids (`ETH-EKS-001`), or the checkov/trivy ids the rules map to.
    public var rules: [String]
    public var reason: String
    public var until: String?
    public var location: SourceLocation

    public init(rules: [String], reason: String, until: String?, location: SourceLocation) {
        self.rules = rules
        self.reason = reason
        self.until = until
        self.location = location
    }

    public func expired(at now: Date) -> Bool { DriftIgnore.expired(until: until, at: now) }
}

/// What the user wrote for one resource.
public struct ResourceDeclaration: Sendable {
    public var name: String
    public var location: SourceLocation
    public var type: String
    public var typeLocation: SourceLocation
    public var properties: [ConfigEntry]
    public var propertiesLocation: SourceLocation
    public var dependsOn: [(name: String, location: SourceLocation)]
    public var forEach: ConfigNode?
    public var count: ConfigNode?
    /// The provider configuration's name, when not the default one for the type.
    public var provider: (name: String, location: SourceLocation)?
    public var lifecycle: Lifecycle
    public var driftIgnore: DriftIgnore? = nil
    public var lintIgnore: LintIgnore? = nil

    /// The provider configuration that manages it: `provider:` or the type's prefix.
    public var providerConfigurationName: String {
        provider?.name ?? String(type.split(separator: ".").first ?? "")
    }

    /// All references in properties, for_each and count.
    public var references: [Reference] {
        var refs = properties.flatMap(\.value.references)
        if let forEach { refs += forEach.references }
        if let count { refs += count.references }
        return refs
    }

    package init(name: String, location: SourceLocation, type: String, typeLocation: SourceLocation, properties: [ConfigEntry], propertiesLocation: SourceLocation, dependsOn: [(name: String, location: SourceLocation)], forEach: ConfigNode? = nil, count: ConfigNode? = nil, provider: (name: String, location: SourceLocation)? = nil, lifecycle: Lifecycle, driftIgnore: DriftIgnore? = nil) {
        self.name = name
        self.location = location
        self.type = type
        self.typeLocation = typeLocation
        self.properties = properties
        self.propertiesLocation = propertiesLocation
        self.dependsOn = dependsOn
        self.forEach = forEach
        self.count = count
        self.provider = provider
        self.lifecycle = lifecycle
        self.driftIgnore = driftIgnore
    }
}

public struct OutputDeclaration: Sendable {
    public var name: String
    public var location: SourceLocation
    public var value: ConfigNode
    public var sensitive: Bool
    public var description: String?

    package init(name: String, location: SourceLocation, value: ConfigNode, sensitive: Bool, description: String? = nil) {
        self.name = name
        self.location = location
        self.value = value
        self.sensitive = sensitive
        self.description = description
    }
}

/// A check of a running deployment (`checks:`): one probe and what its answer must satisfy.
/// Expressions in it are evaluated against recorded state by `ethstack check`, never planned.
public struct CheckDeclaration: Sendable {
    public enum ProbeKind: String, Sendable { case ethereumRPC = "ethereum_rpc", http }

    public var name: String
    public var location: SourceLocation
    public var description: String?
    public var probeKind: ProbeKind
    public var probeLocation: SourceLocation
    /// The probe's settings: `url`, `method`, `params` (ethereum_rpc); `url`, `method`, `headers`, `body` (http).
    public var probe: [ConfigEntry]
    /// `status`, `at_least`, `at_most`, `equals`, `json`, `path` (the rest of `expect` is below).
    public var expect: [ConfigEntry]
    /// `increases_within`, seconds: sample, then poll until a greater value or the time is up.
    public var increasesWithin: Double?
    /// Seconds per request (default 10).
    public var timeout: Double
    /// Further attempts after a failed one.
    public var retries: Int
    /// A condition (a bool): when it is false the check is skipped, not failed (a check that needs
    /// an optional value, such as a signed smoke transaction, says so).
    public var when: ConfigNode?

    public func probeSetting(_ key: String) -> ConfigNode? { probe.first { $0.key == key }?.value }
    public func expectation(_ key: String) -> ConfigNode? { expect.first { $0.key == key }?.value }

    /// Every reference in the probe and the expectations.
    public var references: [Reference] {
        probe.flatMap(\.value.references) + expect.flatMap(\.value.references) + (when?.references ?? [])
    }

    package init(name: String, location: SourceLocation, description: String? = nil, probeKind: ProbeKind, probeLocation: SourceLocation, probe: [ConfigEntry], expect: [ConfigEntry], increasesWithin: Double? = nil, timeout: Double, retries: Int, when: ConfigNode? = nil) {
        self.name = name
        self.location = location
        self.description = description
        self.probeKind = probeKind
        self.probeLocation = probeLocation
        self.probe = probe
        self.expect = expect
        self.increasesWithin = increasesWithin
        self.timeout = timeout
        self.retries = retries
        self.when = when
    }
}

/// One stack file, loaded: declarations only, nothing evaluated.
public struct StackDeclaration: Sendable {
    public var name: String
    public var description: String?
    public var file: String
    /// sha256 of the file's bytes, hex: binds saved plans to the stack they were made from.
    public var contentHash: String
    public var variables: [VariableDeclaration]
    public var providers: [ProviderDeclaration]
    public var resources: [ResourceDeclaration]
    public var outputs: [OutputDeclaration]
    public var checks: [CheckDeclaration] = []
    /// `import:` entries: existing objects the stack's resources adopt.
    public var imports: [ImportDeclaration] = []
    /// Whether `file()` may read outside the stack file's directory tree (`--allow-file-outside-stack`).
    public var allowFileOutsideStack = false

    /// The stack file's directory, absolute: relative paths in the stack are relative to it.
    public var baseDirectory: String {
        let dir = (file as NSString).deletingLastPathComponent
        let absolute = dir.hasPrefix("/") ? dir : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(dir)
        return (absolute as NSString).standardizingPath
    }

    public func resource(named name: String) -> ResourceDeclaration? {
        resources.first { $0.name == name }
    }

    package init(name: String, description: String? = nil, file: String, contentHash: String, variables: [VariableDeclaration], providers: [ProviderDeclaration], resources: [ResourceDeclaration], outputs: [OutputDeclaration], checks: [CheckDeclaration] = []) {
        self.name = name
        self.description = description
        self.file = file
        self.contentHash = contentHash
        self.variables = variables
        self.providers = providers
        self.resources = resources
        self.outputs = outputs
        self.checks = checks
    }
}

/// The type of an attribute's value.
public indirect enum AttributeType: Sendable, Hashable, CustomStringConvertible {
    case string, number, bool, any
    case list(AttributeType)
    case map(AttributeType)

    public var description: String {
        switch self {
        case .string: return "string"
        case .number: return "number"
        case .bool: return "bool"
        case .any: return "any"
        case .list(let t): return "list(\(t))"
        case .map(let t): return "map(\(t))"
        }
    }

    /// Whether `value` fits this type. Unknown values fit every type.
    public func accepts(_ value: Value) -> Bool {
        let v = value.unmarked
        if case .unknown = v { return true }
        if case .null = v { return true }
        switch (self, v) {
        case (.any, _): return true
        case (.string, .string): return true
        case (.string, .number), (.string, .bool): return true  // converted, as YAML users expect
        case (.number, .number): return true
        case (.number, .string(let s)): return Value.decimal(s) != nil
        case (.bool, .bool): return true
        case (.list(let t), .list(let items)): return items.allSatisfy { t.accepts($0) }
        case (.map(let t), .map(let entries)): return entries.values.allSatisfy { t.accepts($0) }
        default: return false
        }
    }

    /// Converts `value` to this type where YAML makes that natural (`port: 8545` for a string).
    public func convert(_ value: Value) -> Value {
        switch (self, value) {
        case (_, .sensitive(let inner)): return .sensitive(convert(inner))
        case (.string, .number(let n)): return .string(Value.formatNumber(n))
        case (.string, .bool(let b)): return .string(b ? "true" : "false")
        case (.number, .string(let s)): return Value.decimal(s).map(Value.number) ?? value
        case (.list(let t), .list(let items)): return .list(items.map { t.convert($0) })
        case (.map(let t), .map(let entries)): return .map(entries.mapValues { t.convert($0) })
        default: return value
        }
    }
}

/// One attribute of a resource type: what the user may set, what the provider computes.
public struct AttributeSchema: Sendable {
    public enum Presence: Sendable {
        /// The user must set it.
        case required
        /// The user may set it; `default` applies otherwise.
        case optional(default: Value?)
        /// Only the provider sets it.
        case computed
        /// The user may set it; otherwise the provider computes it.
        case optionalComputed
    }

    public var name: String
    public var type: AttributeType
    public var presence: Presence
    /// A change of this attribute cannot be made in place: the object is replaced.
    public var forcesReplacement: Bool
    /// The value is a secret: never shown.
    public var sensitive: Bool
    /// A computed value that tells whether what ethstack manages is healthy (an enclave's status):
    /// a change of it is drift, though the provider computes it. Other computed values never are.
    public var observed: Bool
    public var description: String

    public init(_ name: String, _ type: AttributeType, _ presence: Presence, forcesReplacement: Bool = false,
                sensitive: Bool = false, observed: Bool = false, description: String = "") {
        self.name = name
        self.type = type
        self.presence = presence
        self.forcesReplacement = forcesReplacement
        self.sensitive = sensitive
        self.observed = observed
        self.description = description
    }

    /// Whether a change of this attribute outside ethstack is drift: what the stack sets, and
    /// observed health; never what the server populates by itself (versions, timestamps).
    public var isDriftRelevant: Bool { isSettable || observed }

    public var isRequired: Bool { if case .required = presence { return true }; return false }
    public var isComputed: Bool {
        switch presence {
        case .computed, .optionalComputed: return true
        default: return false
        }
    }
    public var isSettable: Bool { if case .computed = presence { return false }; return true }
    public var defaultValue: Value? { if case .optional(let d) = presence { return d }; return nil }
}

/// The schema of one resource type (`core.data`, `aws.vpc`).
public struct ResourceSchema: Sendable {
    public var type: String
    public var description: String
    /// Bumped when the stored shape of the attributes changes, so old state can be migrated.
    public var version: Int
    public var attributes: [AttributeSchema]
    private var index: [String: Int]

    public init(type: String, description: String, version: Int = 1, attributes: [AttributeSchema]) {
        self.type = type
        self.description = description
        self.version = version
        self.attributes = attributes
        self.index = Dictionary(attributes.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public subscript(name: String) -> AttributeSchema? {
        index[name].map { attributes[$0] }
    }

    public var attributeNames: [String] { attributes.map(\.name) }

    /// The provider prefix of the type: `aws` for `aws.vpc`.
    public var providerName: String { String(type.split(separator: ".").first ?? "") }
}

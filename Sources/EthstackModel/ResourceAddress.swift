/// The key of one instance of a resource expanded with `count` or `for_each`.
public enum InstanceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    case index(Int)
    case key(String)

    public var description: String {
        switch self {
        case .index(let i): return "[\(i)]"
        case .key(let k): return "[\"\(k)\"]"
        }
    }

    public var value: Value {
        switch self {
        case .index(let i): return .number(Double(i))
        case .key(let k): return .string(k)
        }
    }

    public static func < (a: InstanceKey, b: InstanceKey) -> Bool {
        switch (a, b) {
        case (.index(let x), .index(let y)): return x < y
        case (.key(let x), .key(let y)): return x < y
        case (.index, .key): return true
        case (.key, .index): return false
        }
    }
}

/// The address of a resource instance: `cluster`, `subnet["a"]`, `copies[0]`. The key everywhere.
public struct ResourceAddress: Sendable, Hashable, Comparable, LosslessStringConvertible, Codable {
    public var name: String
    public var key: InstanceKey?

    public init(name: String, key: InstanceKey? = nil) {
        self.name = name
        self.key = key
    }

    public var description: String {
        key.map { name + $0.description } ?? name
    }

    /// Parses `name`, `name[3]`, `name["key"]`.
    public init?(_ text: String) {
        guard let bracket = text.firstIndex(of: "[") else {
            guard !text.isEmpty, !text.contains("]") else { return nil }
            self.init(name: text)
            return
        }
        let name = String(text[..<bracket])
        guard !name.isEmpty, text.hasSuffix("]") else { return nil }
        let inner = text[text.index(after: bracket)..<text.index(before: text.endIndex)]
        if inner.hasPrefix("\""), inner.hasSuffix("\""), inner.count >= 2 {
            self.init(name: name, key: .key(String(inner.dropFirst().dropLast())))
        } else if let i = Int(inner) {
            self.init(name: name, key: .index(i))
        } else {
            return nil
        }
    }

    public static func < (a: ResourceAddress, b: ResourceAddress) -> Bool {
        if a.name != b.name { return a.name < b.name }
        switch (a.key, b.key) {
        case (nil, nil): return false
        case (nil, _): return true
        case (_, nil): return false
        case (let x?, let y?): return x < y
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = ResourceAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid address \(text)"))
        }
        self = address
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

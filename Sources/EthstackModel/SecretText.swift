import Foundation

/// Secrets as text: the strings under sensitive marks, and whether another value repeats one.
///
/// A provider may build a value from a sensitive input (an id made from a path, a URL with a token
/// in it) and return it in an attribute its schema does not call sensitive. Such a value is marked
/// too: it is found by content, since nothing else says where it came from.
extension Value {
    /// Secrets shorter than this are not searched for (a two-letter secret would mark everything).
    public static let shortestSearchedSecret = 4

    /// Every string marked sensitive itself in `values` (a sensitive variable's text, a string made
    /// from one). The plain leaves of a container marked as a whole — a decoded document with one
    /// secret in it — are not: "reth" or "main" would then mark everything that mentions them.
    public static func sensitiveStrings<S: Sequence>(in values: S) -> [String] where S.Element == Value {
        var found = Set<String>()
        func walk(_ value: Value) {
            switch value {
            case .sensitive(.string(let s)) where s.count >= shortestSearchedSecret: found.insert(s)
            case .sensitive(let inner): walk(inner)
            case .list(let items): for item in items { walk(item) }
            case .map(let entries): for item in entries.values { walk(item) }
            default: break
            }
        }
        for value in values { walk(value) }
        return found.sorted()
    }

    /// Whether any string inside this value contains one of `secrets`.
    public func repeatsAny(of secrets: [String]) -> Bool {
        guard !secrets.isEmpty else { return false }
        switch self {
        case .string(let s): return secrets.contains { s.contains($0) }
        case .sensitive(let inner): return inner.repeatsAny(of: secrets)
        case .list(let items): return items.contains { $0.repeatsAny(of: secrets) }
        case .map(let entries): return entries.contains { $0.key.repeatsAny(of: secrets) || $0.value.repeatsAny(of: secrets) }
        default: return false
        }
    }
}

extension Value {
    /// This value marked sensitive where it repeats one of `secrets`: whole when it is fully known,
    /// else part by part (an unknown stays a plain unknown: later stages look for it).
    public func markingRepeats(of secrets: [String]) -> Value {
        guard !secrets.isEmpty, !isSensitive else { return self }
        guard containsUnknown else { return repeatsAny(of: secrets) ? markedSensitive : self }
        switch self {
        case .list(let items): return .list(items.map { $0.markingRepeats(of: secrets) })
        case .map(let entries): return .map(entries.mapValues { $0.markingRepeats(of: secrets) })
        default: return self
        }
    }
}

extension String {
    /// Whether this text contains one of `secrets`.
    public func repeatsAny(of secrets: [String]) -> Bool { secrets.contains { contains($0) } }
}

extension String {
    /// This text with every occurrence of `secrets` replaced by "(sensitive value)" — for messages
    /// that quote what they were given (a provider's error naming the value it refused).
    public func redacting(_ secrets: [String]) -> String {
        var out = self
        // Longest first, so a secret containing another is replaced whole.
        for secret in secrets.sorted(by: { $0.count > $1.count }) where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "(sensitive value)")
        }
        return out
    }
}

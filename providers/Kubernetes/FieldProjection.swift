import EthstackModel

/// The live object seen through a manifest: only the fields the manifest sets, so that what other
/// managers add (status, defaults, their own labels) is not compared.
enum FieldProjection {
    /// Maps keep the manifest's keys (a key missing live is left out, which reads as a change);
    /// lists of the same length are projected item by item, others are taken as they are live
    /// (items projected where the manifest has an item at that index); scalars come from live.
    static func project(_ live: Value, over manifest: Value) -> Value {
        switch (live.unmarked, manifest.unmarked) {
        case (.map(let l), .map(let m)):
            var out: [String: Value] = [:]
            for (key, sub) in m {
                guard let value = l[key] else { continue }
                out[key] = project(value, over: sub)
            }
            return .map(out)
        case (.list(let l), .list(let m)):
            return .list(l.enumerated().map { i, item in i < m.count ? project(item, over: m[i]) : item })
        case (.number(let n), .string(let s)) where Double(s) == n:
            return manifest  // `"8545"` written, 8545 stored
        case (.string(let s), .number(let n)) where Double(s) == n:
            return manifest
        case (.bool(let b), .string(let s)) where s == (b ? "true" : "false"):
            return manifest
        default:
            return live
        }
    }
}

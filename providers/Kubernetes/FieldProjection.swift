import EthstackModel
import Foundation

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

    /// The API server folds a Secret's `stringData` into base64 `data` and never returns
    /// `stringData`: the live Secret gets back, as `stringData`, the decoded `data` of the keys the
    /// manifest writes that way, so a Secret written with `stringData` is not seen as changed.
    static func secretStringData(_ live: Value, for manifest: Value, kind: String) -> Value {
        guard kind == "Secret", case .map(var object) = live.unmarked,
              let keys = manifest["stringData"]?.mapValue?.keys, let data = object["data"]?.unmarked.mapValue else { return live }
        var stringData = object["stringData"]?.unmarked.mapValue ?? [:]
        for key in keys {
            guard let encoded = data[key]?.unmarked.stringValue, let bytes = Data(base64Encoded: encoded),
                  let text = String(data: bytes, encoding: .utf8) else { continue }
            stringData[key] = .string(text)
        }
        object["stringData"] = .map(stringData)
        return .map(object)
    }
}

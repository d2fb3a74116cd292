import Foundation

/// The longest duration `parseDuration` accepts (about 31 years): anything longer — "inf",
/// "1e300s" — is a mistake, and would trap where it becomes nanoseconds.
public let maxDurationSeconds = 1e9

/// Parses Go-style durations, as used in stack files and on the command line: "1h2m3s", "500ms",
/// "1.5s", "90" (seconds). Returns seconds, or nil when the text is not a duration (or is longer
/// than `maxDurationSeconds`, not finite).
public func parseDuration(_ text: String) -> Double? {
    guard let seconds = parseDurationUnbounded(text), seconds.isFinite, seconds <= maxDurationSeconds else { return nil }
    return seconds
}

/// Nanoseconds for `Task.sleep`, saturating instead of trapping on huge, negative or NaN input.
public func saturatingNanoseconds(_ seconds: Double) -> UInt64 {
    guard seconds.isFinite else { return seconds > 0 ? UInt64.max : 0 }
    let ns = seconds * 1_000_000_000
    if ns <= 0 { return 0 }
    if ns >= 18_000_000_000_000_000_000 { return UInt64.max }
    return UInt64(ns)
}

private func parseDurationUnbounded(_ text: String) -> Double? {
    let chars = Array(text.trimmingCharacters(in: .whitespaces))
    guard !chars.isEmpty else { return nil }
    if let n = Double(String(chars)), n >= 0 { return n }
    var total = 0.0
    var number = ""
    var i = 0
    while i < chars.count {
        let c = chars[i]
        if c.isNumber || c == "." {
            number.append(c)
            i += 1
            continue
        }
        var unit = String(c)
        if c == "m", i + 1 < chars.count, chars[i + 1] == "s" { unit = "ms"; i += 1 }
        i += 1
        guard let n = Double(number) else { return nil }
        number = ""
        switch unit {
        case "h": total += n * 3600
        case "m": total += n * 60
        case "s": total += n
        case "ms": total += n / 1000
        default: return nil
        }
    }
    return number.isEmpty ? total : nil
}

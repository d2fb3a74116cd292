import EthstackModel

extension Functions {
    /// `timeadd` and `formatdate`, as Terraform 1.0.3 has them (RFC 3339 timestamps, Go durations).
    /// `timestamp()` is left out: a plan must not change each time it is made.
    static let timeFunctions: [String: LibraryFunction] = [
        "timeadd": LibraryFunction(arity: 2...2) { a in
            let t = try Timestamp.parse(try a.string(0), a, argument: 0)
            let duration = try parseGoDuration(try a.string(1), a)
            return .string(t.adding(nanoseconds: duration).rfc3339)
        },
        "formatdate": LibraryFunction(arity: 2...2) { a in
            let t = try Timestamp.parse(try a.string(1), a, argument: 1)
            return .string(try t.format(try a.string(0), a))
        },
    ]

    /// A point in time as written: the local wall clock's seconds since 1970 (without the offset),
    /// the fraction in nanoseconds, and the UTC offset in seconds.
    struct Timestamp {
        var localSeconds: Int64
        var nanoseconds: Int64
        var offset: Int

        static func parse(_ text: String, _ a: FunctionArguments, argument: Int) throws -> Timestamp {
            let c = Array(text.utf8)
            func fail() -> DiagnosticsError {
                a.fail(argument, "not a valid RFC3339 timestamp: \"\(text)\" (expected like 2018-01-02T23:12:01Z)")
            }
            func digits(_ at: Int, _ n: Int) throws -> Int64 {
                guard at + n <= c.count else { throw fail() }
                var v: Int64 = 0
                for i in at..<(at + n) {
                    guard c[i] >= 48, c[i] <= 57 else { throw fail() }
                    v = v * 10 + Int64(c[i] - 48)
                }
                return v
            }
            func expect(_ at: Int, _ chars: String) throws {
                guard at < c.count, chars.utf8.contains(c[at]) else { throw fail() }
            }
            let year = try digits(0, 4)
            try expect(4, "-")
            let month = try digits(5, 2)
            try expect(7, "-")
            let day = try digits(8, 2)
            try expect(10, "Tt")
            let hour = try digits(11, 2)
            try expect(13, ":")
            let minute = try digits(14, 2)
            try expect(16, ":")
            let second = try digits(17, 2)
            guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second < 60 else {
                throw fail()
            }
            var i = 19
            var nanos: Int64 = 0
            if i < c.count, c[i] == UInt8(ascii: ".") {
                i += 1
                var scale: Int64 = 100_000_000
                let start = i
                while i < c.count, c[i] >= 48, c[i] <= 57 {
                    nanos += Int64(c[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
                guard i > start else { throw fail() }
            }
            var offset = 0
            guard i < c.count else { throw fail() }
            if c[i] == UInt8(ascii: "Z") || c[i] == UInt8(ascii: "z") {
                i += 1
            } else {
                try expect(i, "+-")
                let sign = c[i] == UInt8(ascii: "-") ? -1 : 1
                let h = try digits(i + 1, 2)
                try expect(i + 3, ":")
                let m = try digits(i + 4, 2)
                guard h < 24, m < 60 else { throw fail() }
                offset = sign * Int(h * 3600 + m * 60)
                i += 6
            }
            guard i == c.count else { throw fail() }
            let days = daysFromCivil(year: year, month: month, day: day)
            return Timestamp(localSeconds: days * 86400 + hour * 3600 + minute * 60 + second, nanoseconds: nanos, offset: offset)
        }

        func adding(nanoseconds delta: Int64) -> Timestamp {
            let total = nanoseconds + delta % 1_000_000_000
            var t = self
            t.localSeconds += delta / 1_000_000_000 + (total >= 1_000_000_000 ? 1 : total < 0 ? -1 : 0)
            t.nanoseconds = ((total % 1_000_000_000) + 1_000_000_000) % 1_000_000_000
            return t
        }

        var fields: (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, weekday: Int64) {
            let days = localSeconds >= 0 ? localSeconds / 86400 : (localSeconds - 86399) / 86400
            let seconds = localSeconds - days * 86400
            let (y, m, d) = civilFromDays(days)
            // 1970-01-01 was a Thursday (4, counting Sunday as 0).
            let weekday = ((days % 7) + 11) % 7
            return (y, m, d, seconds / 3600, seconds % 3600 / 60, seconds % 60, weekday)
        }

        func zone(colon: Bool, utcAs: String?) -> String {
            if offset == 0, let utcAs { return utcAs }
            let sign = offset < 0 ? "-" : "+"
            let h = abs(offset) / 3600, m = abs(offset) % 3600 / 60
            return sign + two(Int64(h)) + (colon ? ":" : "") + two(Int64(m))
        }

        /// Go's `time.RFC3339`: no fraction of a second.
        var rfc3339: String {
            let f = fields
            return "\(four(f.year))-\(two(f.month))-\(two(f.day))T\(two(f.hour)):\(two(f.minute)):\(two(f.second))" + zone(colon: true, utcAs: "Z")
        }

        static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                             "October", "November", "December"]
        static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

        /// Terraform's `formatdate` spec: runs of one letter are verbs (YYYY YY MMMM MMM MM M DD D
        /// EEEE EEE hh h HH H AA aa mm m ss s ZZZZZ ZZZZ ZZZ Z), `'…'` is literal text (`''` a quote),
        /// anything else is copied.
        func format(_ spec: String, _ a: FunctionArguments) throws -> String {
            let f = fields
            let c = Array(spec)
            var out = ""
            var i = 0
            while i < c.count {
                let ch = c[i]
                if ch == "'" {
                    var j = i + 1
                    var literal = ""
                    var closed = false
                    while j < c.count {
                        if c[j] == "'" {
                            if j + 1 < c.count, c[j + 1] == "'" { literal.append("'"); j += 2; continue }
                            closed = true
                            break
                        }
                        literal.append(c[j])
                        j += 1
                    }
                    if j == i + 1, closed { out.append("'"); i = j + 1; continue }
                    guard closed else { throw a.fail(0, "unterminated literal '") }
                    out += literal
                    i = j + 1
                    continue
                }
                guard ch.isASCII, ch.isLetter else { out.append(ch); i += 1; continue }
                var j = i
                while j < c.count, c[j] == ch { j += 1 }
                let verb = String(c[i..<j])
                i = j
                let hour12 = f.hour % 12 == 0 ? 12 : f.hour % 12
                switch verb {
                case "YYYY": out += four(f.year)
                case "YY": out += two(f.year % 100)
                case "MMMM": out += Timestamp.months[Int(f.month) - 1]
                case "MMM": out += String(Timestamp.months[Int(f.month) - 1].prefix(3))
                case "MM": out += two(f.month)
                case "M": out += String(f.month)
                case "DD": out += two(f.day)
                case "D": out += String(f.day)
                case "EEEE": out += Timestamp.weekdays[Int(f.weekday)]
                case "EEE": out += String(Timestamp.weekdays[Int(f.weekday)].prefix(3))
                case "hh": out += two(f.hour)
                case "h": out += String(f.hour)
                case "HH": out += two(hour12)
                case "H": out += String(hour12)
                case "AA": out += f.hour < 12 ? "AM" : "PM"
                case "aa": out += f.hour < 12 ? "am" : "pm"
                case "mm": out += two(f.minute)
                case "m": out += String(f.minute)
                case "ss": out += two(f.second)
                case "s": out += String(f.second)
                case "ZZZZZ": out += zone(colon: true, utcAs: nil)
                case "ZZZZ": out += zone(colon: false, utcAs: nil)
                case "ZZZ": out += zone(colon: false, utcAs: "UTC")
                case "Z": out += zone(colon: true, utcAs: "Z")
                default:
                    let hints = ["Y": "YYYY or YY", "M": "MMMM, MMM, MM or M", "D": "DD or D", "E": "EEEE or EEE", "h": "hh or h",
                                 "H": "HH or H", "A": "AA", "a": "aa", "m": "mm or m", "s": "ss or s", "Z": "ZZZZZ, ZZZZ, ZZZ or Z"]
                    if let hint = hints[String(ch)] {
                        throw a.fail(0, "invalid date format verb \"\(verb)\": must be \(hint)")
                    }
                    throw a.fail(0, "invalid date format verb \"\(verb)\"")
                }
            }
            return out
        }
    }

    static func two(_ n: Int64) -> String { n < 10 && n >= 0 ? "0\(n)" : String(n) }
    static func four(_ n: Int64) -> String { n >= 0 && n < 1000 ? String(repeating: "0", count: 4 - String(n).count) + String(n) : String(n) }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Go's `time.ParseDuration`: `[-+]` then one or more `<number><unit>` (ns us µs ms s m h), or "0".
    static func parseGoDuration(_ text: String, _ a: FunctionArguments) throws -> Int64 {
        func fail(_ why: String) -> DiagnosticsError { a.fail(1, "time: \(why) in duration \"\(text)\"") }
        var c = Substring(text)
        var negative = false
        if let first = c.first, first == "-" || first == "+" { negative = first == "-"; c = c.dropFirst() }
        if c == "0" { return 0 }
        guard !c.isEmpty else { throw a.fail(1, "time: invalid duration \"\(text)\"") }
        let units: [String: Double] = ["ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9]
        var total = 0.0
        while !c.isEmpty {
            let number = c.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", let value = Double(number.hasPrefix(".") ? "0" + number : String(number)) else {
                throw a.fail(1, "time: invalid duration \"\(text)\"")
            }
            c = c.dropFirst(number.count)
            let unit = c.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            guard !unit.isEmpty else { throw fail("missing unit") }
            guard let scale = units[String(unit)] else { throw a.fail(1, "time: unknown unit \"\(unit)\" in duration \"\(text)\"") }
            c = c.dropFirst(unit.count)
            total += value * scale
        }
        guard total < 9.2e18 else { throw a.fail(1, "time: invalid duration \"\(text)\"") }
        return Int64(negative ? -total : total)
    }
}

import Foundation
import EthstackModel

/// The vendored, dated price table (`aws-prices.json`, rewritten by scripts/regenerate-prices from
/// the AWS Price List bulk files): one entry per key `region/service/item[/capacity]`.
public struct PriceTable: Sendable {
    public struct Price: Sendable {
        public var usd: Double
        public var unit: String
        public var sku: String?
        public var usagetype: String?
    }

    /// The day the prices were observed (YYYY-MM-DD).
    public var date: String
    public var hoursPerMonth: Double
    public var prices: [String: Price]
    /// Where the table came from.
    public var path: String

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(json: Value, path: String) throws {
        guard let date = json["date"]?.stringValue, DriftIgnore.parseDay(date) != nil else {
            throw LoadError(description: "\(path): the price table has no \"date\" (YYYY-MM-DD)")
        }
        guard let entries = json["prices"]?.mapValue else { throw LoadError(description: "\(path): the price table has no \"prices\" map") }
        var prices: [String: Price] = [:]
        for (key, e) in entries {
            guard let usd = e["usd"]?.numberValue ?? e["usd"]?.stringValue.flatMap(Double.init), usd >= 0 else {
                throw LoadError(description: "\(path): price \"\(key)\" has no \"usd\" number")
            }
            prices[key] = Price(usd: usd, unit: e["unit"]?.stringValue ?? "", sku: e["sku"]?.stringValue, usagetype: e["usagetype"]?.stringValue)
        }
        self.date = date
        self.hoursPerMonth = json["hours_per_month"]?.numberValue ?? 730
        self.prices = prices
        self.path = path
    }

    public static func load(path: String) throws -> PriceTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "cannot read the price table \(path)")
        }
        do {
            return try PriceTable(json: try Value.parseJSON(data), path: path)
        } catch let e as LoadError {
            throw e
        } catch {
            throw LoadError(description: "\(path): not a price table: \(error)")
        }
    }

    /// The table shipped with ethstack: `$ETHSTACK_PRICES`, or the resource bundle next to the
    /// executable (SwiftPM's layout), found without trapping when it is missing.
    public static func bundled(executable: String = CommandLine.arguments.first ?? "") throws -> PriceTable {
        if let env = ProcessInfo.processInfo.environment["ETHSTACK_PRICES"], !env.isEmpty { return try load(path: env) }
        let exeDir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [exeDir, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].flatMap { dir in
            ["ethstack_EthstackReview.resources/aws-prices.json", "ethstack_EthstackReview.bundle/Contents/Resources/aws-prices.json"]
                .map { dir.appendingPathComponent($0).path }
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw LoadError(description: "ethstack's price table (aws-prices.json) is not installed next to the executable: pass --prices FILE or set ETHSTACK_PRICES")
        }
        return try load(path: found)
    }

    /// Days between the table's date and `now`.
    public func age(at now: Date) -> Int {
        guard let day = DriftIgnore.parseDay(date) else { return 0 }
        return Int(now.timeIntervalSince(day) / 86_400)
    }

    public subscript(key: String) -> Price? { prices[key] }
}

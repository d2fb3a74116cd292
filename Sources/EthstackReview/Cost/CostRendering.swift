import Foundation
import EthstackEngine
import EthstackModel

extension CostEstimate {
    func money(_ x: Double?) -> String { x.map(usd) ?? "-" }

    func signed(_ x: Double) -> String { (x >= 0 ? "+" : "") + usd(x) }

    var totalsLine: String {
        let bound = incomplete ? "at least " : ""
        if recordedOnly { return "Monthly, what state holds: \(bound)\(usd(after))" }
        return "Monthly: before \(usd(before)), after \(bound)\(usd(after)), delta \(bound)\(signed(delta))"
    }

    func price(_ l: Line) -> String {
        guard let p = l.unitPrice else { return "no price" }
        return "\(String(format: "%g", p))/\(l.unit)"
    }

    func reference(_ l: Line) -> String { l.sku.map { "SKU \($0)" } ?? "usagetype \(l.usagetype ?? l.priceKey)" }

    // MARK: Text

    public func text(style: TextStyle) -> String {
        var out = style.bold("Cost") + " (prices of \(priceDate), \(region), \(fmt(hoursPerMonth)) h a month):\n"
        for w in warnings { out += style.yellow("Warning: ") + w + "\n" }
        for l in lines where l.kind == .fixed || l.kind == .unknown || l.kind == .unpriced {
            let figures = l.kind != .fixed ? "(\(l.kind.rawValue): \(l.quantity))"
                : recordedOnly ? money(l.after) : "\(money(l.before)) -> \(money(l.after))"
            out += "  \(style.bold(l.address.description)) \(l.component): \(figures)"
            if l.kind == .fixed { out += "  [\(l.quantity) at \(price(l)), \(reference(l))]" }
            out += "\n"
            if let note = l.note { out += style.dim("      \(note)") + "\n" }
        }
        let usage = lines.filter { $0.kind == .usage }
        if !usage.isEmpty {
            out += "  Usage-based, not in the total:\n"
            for l in usage { out += "    \(l.address) \(l.component): \(price(l)) (\(l.quantity))\n" }
        }
        out += style.bold(totalsLine) + "\n"
        return out
    }

    // MARK: JSON

    public func jsonValue() -> Value {
        func num(_ x: Double?) -> Value { x.map { .number(($0 * 100).rounded() / 100) } ?? .null }
        let items: [Value] = lines.map { l in
            .map(["address": .string(l.address.description), "type": .string(l.type), "component": .string(l.component),
                  "kind": .string(l.kind.rawValue), "price_key": .string(l.priceKey), "sku": l.sku.map(Value.string) ?? .null,
                  "usagetype": l.usagetype.map(Value.string) ?? .null, "unit_price": l.unitPrice.map(Value.number) ?? .null,
                  "unit": .string(l.unit), "quantity": .string(l.quantity), "monthly_before": num(l.before),
                  "monthly_after": num(l.after), "note": l.note.map(Value.string) ?? .null])
        }
        return .map([
            "format_version": .string(Self.formatVersion), "stack": .string(stack), "currency": "USD",
            "region": .string(region), "price_date": .string(priceDate), "price_table_age_days": .number(Double(tableAgeDays)),
            "hours_per_month": .number(hoursPerMonth),
            "monthly": .map(["before": num(before), "after": num(after), "delta": num(delta), "incomplete": .bool(incomplete)]),
            "lines": .list(items), "warnings": .list(warnings.map(Value.string)),
        ])
    }

    public func json() -> String { jsonValue().jsonString(pretty: true) }

    // MARK: Markdown

    public func markdownSection(level: String = "###") -> String {
        var s = "\(level) Cost estimate\n\n**\(totalsLine)** (prices of \(priceDate), \(region)).\n"
        for w in warnings { s += "\n> ⚠️ \(ReportFormats.plainCell(w))\n" }
        s += "\n| resource | component | quantity | before | after | price |\n|---|---|---|---|---|---|\n"
        for l in lines where l.kind != .usage {
            let figures = l.kind == .fixed ? "\(money(l.before)) | \(money(l.after))" : "\(l.kind.rawValue) | "
            s += "| `\(l.address)` | \(ReportFormats.plainCell(l.component)) | \(ReportFormats.plainCell(l.quantity)) | \(figures) | \(ReportFormats.plainCell(price(l) + ", " + reference(l))) |\n"
        }
        let usage = lines.filter { $0.kind == .usage }
        if !usage.isEmpty {
            s += "\nUsage-based, not in the total: " + usage.map { "`\($0.address)` \(ReportFormats.plainCell($0.component)) (\(price($0)))" }
                .joined(separator: "; ") + ".\n"
        }
        return s
    }
}

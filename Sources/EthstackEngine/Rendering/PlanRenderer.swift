import EthstackModel
/// Renders a plan as people read it, in Terraform's shape.
public struct PlanRenderer {
    public var style: TextStyle
    public init(style: TextStyle) { self.style = style }

    public func render(_ plan: Plan) -> String {
        var out = ""
        if !plan.recovered.isEmpty {
            out += style.bold("Operations a previous run left in flight:") + "\n"
            for line in plan.recovered { out += "  \(line)\n" }
            out += "\n"
        }
        if !plan.drift.isEmpty {
            out += style.bold("Objects have changed outside of ethstack:") + "\n\n"
            for d in plan.drift {
                switch d.kind {
                case .deleted:
                    out += "  # \(style.bold(d.address.description)) has been deleted\n"
                    out += "  " + style.red("-") + " resource \"\(d.type)\" \"\(d.address.name)\" {\n"
                    out += "      id = \(renderScalar(d.before["id"] ?? .null))\n    }\n\n"
                case .changed:
                    out += "  # \(style.bold(d.address.description)) has changed\n"
                    out += "  " + style.yellow("~") + " resource \"\(d.type)\" \"\(d.address.name)\" {\n"
                    let width = d.attributes.map(\.count).max() ?? 0
                    for name in d.attributes {
                        out += renderUpdate(name: name, width: width, before: d.before[name] ?? .null,
                                            after: d.after?[name] ?? .null, indent: 6, forces: false)
                    }
                    out += "    }\n\n"
                }
            }
        }
        if !plan.forget.isEmpty {
            out += "Deleted outside ethstack and no longer in the stack; apply drops their records: "
            out += plan.forget.map(\.description).joined(separator: ", ") + "\n\n"
        }
        let visible = plan.changes.filter { $0.action != .noop || $0.importID != nil }
        if visible.isEmpty && plan.forget.isEmpty && !plan.outputChanges.contains(where: { $0.action != .noop }) {
            out += style.bold("No changes.") + " Your infrastructure matches the configuration.\n"
            for w in plan.warnings { out += "\n" + style.yellow("Warning: ") + w + "\n" }
            return out
        }
        if !visible.isEmpty {
            out += "ethstack will perform the following actions:\n\n"
            for change in visible { out += renderChange(change) + "\n" }
        }
        let imports = plan.toImport > 0 ? "\(plan.toImport) to import, " : ""
        out += style.bold("Plan:") + " \(imports)\(plan.toAdd) to add, \(plan.toChange) to change, \(plan.toDestroy) to destroy.\n"
        let outputs = plan.outputChanges.filter { $0.action != .noop }
        if !outputs.isEmpty {
            out += "\nChanges to Outputs:\n"
            let width = outputs.map(\.name.count).max() ?? 0
            for o in outputs {
                let name = o.name.padding(toLength: width, withPad: " ", startingAt: 0)
                switch o.action {
                case .create:
                    out += "  " + style.green("+") + " \(name) = \(renderValue(o.after ?? .null, indent: 4, sensitive: o.sensitive))\n"
                case .delete:
                    out += "  " + style.red("-") + " \(name) = \(renderValue(o.before ?? .null, indent: 4, sensitive: o.sensitive)) -> null\n"
                default:
                    out += "  " + style.yellow("~") + " \(name) = \(renderValue(o.before ?? .null, indent: 4, sensitive: o.sensitive)) -> \(renderValue(o.after ?? .null, indent: 4, sensitive: o.sensitive))\n"
                }
            }
        }
        for w in plan.warnings { out += "\n" + style.yellow("Warning: ") + w + "\n" }
        for v in plan.violations {
            out += "\n" + style.red("Error: ") + v.message + "; this plan cannot be applied (remove prevent_destroy from the stack first)\n"
        }
        return out
    }

    func header(_ change: ResourceChange) -> (String, String) {
        let a = style.bold(change.address.description)
        switch change.action {
        case .create:
            let why = change.reason == .createBecauseGoneOutside ? " (it was deleted outside ethstack)" : ""
            return ("  # \(a) will be created\(why)", "  " + style.green("+"))
        case .update: return ("  # \(a) will be updated in place", "  " + style.yellow("~"))
        case .replace:
            let why: String
            switch change.reason {
            case .replaceByRequest: why = ", as requested"
            case .replaceBecauseTainted: why = " (it is tainted: its last create or update failed)"
            default: why = change.note.map { " (\($0))" } ?? ""
            }
            let symbol = change.createBeforeDestroy ? style.green("+") + "/" + style.red("-") : style.red("-") + "/" + style.green("+")
            return ("  # \(a) must be replaced\(why)", symbol)
        case .delete:
            let why: String
            switch change.reason {
            case .deleteBecauseNoResourceConfig: why = " (its declaration is gone from the stack)"
            case .deleteBecauseCountIndex: why = " (its index is out of range for count)"
            case .deleteBecauseEachKey: why = " (its key is not in for_each)"
            default: why = ""
            }
            return ("  # \(a) will be destroyed\(why)", "  " + style.red("-"))
        case .noop: return ("", "   ")
        }
    }

    public func renderChange(_ change: ResourceChange) -> String {
        var (comment, symbol) = header(change)
        if let id = change.importID {
            // As Terraform: an import alone "will be imported"; with a change, the header says where from.
            comment = change.action == .noop ? "  # \(style.bold(change.address.description)) will be imported"
                : comment + "\n  # (imported from \(Value.string(id).jsonString()))"
        }
        var out = comment + "\n" + symbol + " resource \"\(change.type)\" \"\(change.address.name)\" {\n"
        let before = change.before ?? [:]
        let after = change.after ?? [:]
        let names = Set(before.keys).union(after.keys).sorted()
        switch change.action {
        case .create:
            let shown = names.filter { !(after[$0]?.isNull ?? true) }
            let width = shown.map(\.count).max() ?? 0
            for n in shown {
                out += "      " + style.green("+") + " \(pad(n, width)) = \(renderValue(after[n]!, indent: 8))\n"
            }
        case .delete:
            let shown = names.filter { !(before[$0]?.isNull ?? true) }
            let width = shown.map(\.count).max() ?? 0
            for n in shown {
                out += "      " + style.red("-") + " \(pad(n, width)) = \(renderValue(before[n]!, indent: 8)) -> null\n"
            }
        case .update, .replace:
            let changed = names.filter { !(before[$0] ?? .null).semanticallyEquals(after[$0] ?? .null) || (after[$0]?.containsUnknown ?? false) }
            let width = (changed + (before["id"] != nil ? ["id"] : [])).map(\.count).max() ?? 0
            if let id = before["id"], !changed.contains("id") {
                out += "        \(pad("id", width)) = \(renderValue(id, indent: 8))\n"
            }
            for n in changed {
                out += renderUpdate(name: n, width: width, before: before[n] ?? .null, after: after[n] ?? .null,
                                    indent: 6, forces: change.replacePaths.contains(n))
            }
            let hidden = names.count - changed.count - (before["id"] != nil && !changed.contains("id") ? 1 : 0)
            if hidden > 0 { out += style.dim("        # (\(hidden) unchanged attribute\(hidden == 1 ? "" : "s") hidden)") + "\n" }
        case .noop:
            if let id = change.importID { out += "        id = \(renderValue(.string(id), indent: 8))\n" }
            let hidden = names.filter { $0 != "id" }.count
            if hidden > 0 { out += style.dim("        # (\(hidden) unchanged attribute\(hidden == 1 ? "" : "s") hidden)") + "\n" }
        }
        out += "    }\n"
        return out
    }

    func renderUpdate(name: String, width: Int, before: Value, after: Value, indent: Int, forces: Bool) -> String {
        let lead = String(repeating: " ", count: indent)
        let suffix = forces ? style.red(" # forces replacement") : ""
        if before.isNull {
            return lead + style.green("+") + " \(pad(name, width)) = \(renderValue(after, indent: indent + 2))\(suffix)\n"
        }
        if after.isNull {
            return lead + style.red("-") + " \(pad(name, width)) = \(renderValue(before, indent: indent + 2)) -> null\(suffix)\n"
        }
        // Maps show what changed inside them, as Terraform does.
        if !before.isSensitive, !after.isSensitive, case .map(let b) = before, case .map(let a) = after {
            var out = lead + style.yellow("~") + " \(pad(name, width)) = {\(suffix)\n"
            let keys = Set(b.keys).union(a.keys).sorted()
            let changed = keys.filter { !(b[$0] ?? .null).semanticallyEquals(a[$0] ?? .null) || (a[$0]?.containsUnknown ?? false) }
            let inner = changed.map { Value.string($0).jsonString().count }.max() ?? 0
            for k in changed {
                out += renderUpdate(name: Value.string(k).jsonString(), width: inner, before: b[k] ?? .null, after: a[k] ?? .null,
                                    indent: indent + 4, forces: false)
            }
            let hidden = keys.count - changed.count
            if hidden > 0 {
                out += String(repeating: " ", count: indent + 6) + style.dim("# (\(hidden) unchanged element\(hidden == 1 ? "" : "s") hidden)") + "\n"
            }
            return out + String(repeating: " ", count: indent + 4) + "}\n"
        }
        return lead + style.yellow("~") + " \(pad(name, width)) = \(renderValue(before, indent: indent + 2)) -> \(renderValue(after, indent: indent + 2))\(suffix)\n"
    }

    func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    func renderScalar(_ v: Value) -> String { renderValue(v, indent: 0) }

    /// A value as HCL-ish text; sensitive values and unknowns never show their content.
    public func renderValue(_ value: Value, indent: Int, sensitive: Bool = false) -> String {
        if sensitive || value.isSensitive { return style.dim("(sensitive value)") }
        switch value {
        case .unknown: return style.dim("(known after apply)")
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return Value.formatNumber(n)
        case .string(let s):
            if s.contains("\n") {
                let lead = String(repeating: " ", count: indent + 2)
                let body = s.split(separator: "\n", omittingEmptySubsequences: false).map { lead + $0 }.joined(separator: "\n")
                return "<<-EOT\n\(body)\n\(String(repeating: " ", count: indent))EOT"
            }
            return Value.string(s).jsonString()
        case .list(let items):
            if items.isEmpty { return "[]" }
            let lead = String(repeating: " ", count: indent + 2)
            return "[\n" + items.map { lead + renderValue($0, indent: indent + 2) + "," }.joined(separator: "\n") + "\n" + String(repeating: " ", count: indent) + "]"
        case .map(let m):
            if m.isEmpty { return "{}" }
            let lead = String(repeating: " ", count: indent + 2)
            let width = m.keys.map { Value.string($0).jsonString().count }.max() ?? 0
            return "{\n" + m.keys.sorted().map { k in
                lead + pad(Value.string(k).jsonString(), width) + " = " + renderValue(m[k]!, indent: indent + 2)
            }.joined(separator: "\n") + "\n" + String(repeating: " ", count: indent) + "}"
        case .sensitive:
            return style.dim("(sensitive value)")
        }
    }
}

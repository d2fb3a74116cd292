import EthstackModel
import EthstackYAML

/// The stack's `import:` list (see `ImportDeclaration`). Kept apart from the rest of the loader:
/// one entry is `to` (an address whose key may be an expression), `id` and an optional `for_each`.
extension StackLoader {
    static let importKeys = ["to", "id", "for_each"]

    func loadImports(_ node: YAMLNode, _ d: inout DiagnosticCollector) -> [ImportDeclaration] {
        switch node {
        case .sequence(let items, _):
            return items.compactMap { loadImport($0, &d) }
        case .scalar(let t, .plain, _, _) where t.isEmpty || t == "null" || t == "~":
            return []
        default:
            d.error(node.location, "\"import\" must be a list of entries with \"to\" and \"id\", found \(node.kindName)")
            return []
        }
    }

    private func loadImport(_ node: YAMLNode, _ d: inout DiagnosticCollector) -> ImportDeclaration? {
        guard case .mapping(let pairs, let location) = node else {
            d.error(node.location, "an import entry must be a map with \"to\" and \"id\", found \(node.kindName)")
            return nil
        }
        var to: (text: String, location: SourceLocation, quoted: Bool)?
        var id: ConfigNode?
        var forEach: ConfigNode?
        var seen = Set<String>()
        for (keyNode, value) in pairs {
            guard let key = keyNode.scalarText else {
                d.error(keyNode.location, "keys in an import entry must be plain strings, found \(keyNode.kindName)")
                continue
            }
            guard seen.insert(key).inserted else {
                d.error(keyNode.location, "duplicate key \"\(key)\" in an import entry")
                continue
            }
            switch key {
            case "to":
                if case .scalar(let text, let style, _, let loc) = value {
                    to = (text, loc, style == .quoted)
                } else {
                    d.error(value.location, "\"to\" must be an address (vpc, subnet[\"a\"], subnet[each.key]), found \(value.kindName)")
                }
            case "id": id = configNode(value, &d)
            case "for_each": forEach = configNode(value, &d)
            default:
                d.error(keyNode.location, "unknown key \"\(key)\" in an import entry", hint: didYouMean(key, in: Self.importKeys))
            }
        }
        guard let to else {
            d.error(location, "an import entry needs \"to\": the address of the resource that adopts the object")
            return nil
        }
        guard let id else {
            d.error(location, "an import entry needs \"id\": the id the provider knows the object by")
            return nil
        }
        guard let (name, key) = importTarget(to.text, at: to.location, quoted: to.quoted, &d) else { return nil }
        return ImportDeclaration(location: location, resource: name, resourceLocation: to.location, key: key, id: id,
                                 forEach: forEach)
    }

    /// `name`, `name["key"]`, `name[0]`, `name[each.key]` or `name["${each.key}"]`: the resource name
    /// and the key as a config node (nil without one).
    private func importTarget(_ text: String, at location: SourceLocation, quoted: Bool,
                              _ d: inout DiagnosticCollector) -> (String, ConfigNode?)? {
        let bad = "\"to\" must be an address such as vpc, subnet[\"a\"], node[0] or subnet[each.key], found \"\(text)\""
        guard let bracket = text.firstIndex(of: "[") else {
            guard isImportName(text) else { d.error(location, bad); return nil }
            return (text, nil)
        }
        let name = String(text[..<bracket])
        guard isImportName(name), text.hasSuffix("]") else { d.error(location, bad); return nil }
        let inner = String(text[text.index(after: bracket)..<text.index(before: text.endIndex)])
        // Where the key starts in the file (a quoted scalar's text starts one column later).
        let keyLocation = location.advanced(by: name.count + 1 + (quoted ? 1 : 0))
        if inner.count >= 2, inner.hasPrefix("\""), inner.hasSuffix("\"") {
            let content = String(inner.dropFirst().dropLast())
            guard content.contains("${") else { return (name, .literal(.string(content), keyLocation)) }
            do {
                return (name, .template(try ExpressionParser.parseTemplate(content, at: keyLocation.advanced(by: 1))))
            } catch let e as DiagnosticsError {
                d.append(contentsOf: e.diagnostics)
            } catch {
                d.error(keyLocation, "\(error)")
            }
            return nil
        }
        if let index = Int(inner) { return (name, .literal(.number(Double(index)), keyLocation)) }
        do {
            let expression = try ExpressionParser.parseExpression(inner, at: keyLocation)
            return (name, .template(Template(parts: [.expression(expression)], location: keyLocation)))
        } catch let e as DiagnosticsError {
            d.append(contentsOf: e.diagnostics)
        } catch {
            d.error(keyLocation, "\(error)")
        }
        return nil
    }

    private func isImportName(_ s: String) -> Bool {
        guard let first = s.first, first.isLetter || first == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
    }
}

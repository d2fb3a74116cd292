import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML element: name (without namespace prefix), text, children in order.
struct XMLTree: Sendable {
    var name: String
    var text: String = ""
    var children: [XMLTree] = []

    /// The first direct child with that name.
    func child(_ name: String) -> XMLTree? { children.first { $0.name == name } }
    func children(_ name: String) -> [XMLTree] { children.filter { $0.name == name } }

    /// Follows a path of direct children: `root["vpcSet", "item"]`.
    subscript(_ path: String...) -> XMLTree? {
        var node: XMLTree? = self
        for name in path { node = node?.child(name) }
        return node
    }

    /// The text of the child at the path, nil when absent.
    func string(_ path: String...) -> String? {
        var node: XMLTree? = self
        for name in path { node = node?.child(name) }
        return node?.text
    }

    /// The `item`/`member` elements of a list child (`<vpcSet><item>…`).
    func items(_ listName: String) -> [XMLTree] {
        guard let list = child(listName) else { return [] }
        return list.children.filter { $0.name == "item" || $0.name == "member" }
    }

    /// Depth-first search for the first element with that name, self included.
    func first(named name: String) -> XMLTree? {
        if self.name == name { return self }
        for c in children { if let found = c.first(named: name) { return found } }
        return nil
    }

    static func parse(_ data: Data) -> XMLTree? {
        let delegate = XMLTreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        parser.shouldProcessNamespaces = false
        guard parser.parse() else { return nil }
        return delegate.root
    }
}

private final class XMLTreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLTree] = []
    var root: XMLTree?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        let local = elementName.split(separator: ":").last.map(String.init) ?? elementName
        stack.append(XMLTree(name: local))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard var done = stack.popLast() else { return }
        if !done.children.isEmpty { done.text = done.text.trimmingCharacters(in: .whitespacesAndNewlines) }
        if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
    }
}

/// Builds small XML request bodies (S3) with escaping.
func xmlEscape(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default: out.append(c)
        }
    }
    return out
}

import CLibYAML
import Foundation
import EthstackModel

/// Parses YAML text with libyaml's event API into `YAMLNode`s that keep `file:line:col`.
///
/// Anchors and aliases are resolved by copying the anchored node. A syntax error is reported as a
/// diagnostic with libyaml's position and message.
public enum YAMLParser {
    /// Bounds that keep a hostile document from hanging or crashing the process: each is a
    /// positioned error the moment it is crossed.
    public struct Limits: Sendable {
        /// How deeply collections may nest (counting what aliases bring in).
        public var maxDepth = 512
        /// How many nodes aliases may produce in all ("billion laughs": nested aliases that
        /// multiply), counting every node of every aliased tree.
        public var maxAliasNodes = 1_000_000
        public init() {}
    }

    public static func parse(_ text: String, file: String, limits: Limits = Limits()) throws -> [YAMLNode] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw DiagnosticsError([.error(nil, "could not initialise the YAML parser")])
        }
        defer { yaml_parser_delete(&parser) }

        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer -> [YAMLNode] in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = Builder(file: file, limits: limits)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let mark = parser.problem_mark
                    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
                    var message = "invalid YAML: \(problem)"
                    if let context = parser.context { message += " \(String(cString: context))" }
                    throw DiagnosticsError([.error(
                        SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1), message)])
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.handle(&event)
            }
            return builder.documents
        }
    }

    private struct Builder {
        /// An open collection. A class, so that appending does not copy the array it holds
        /// (a value-typed frame made loading a 10,000-resource map quadratic).
        final class Frame {
            let isMapping: Bool
            package let location: SourceLocation
            let anchor: String?
            /// Nodes in this collection's tree, with aliases expanded; the height of that tree.
            var size = 1
            var height = 1
            package var items: [YAMLNode] = []
            package var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            var pendingKey: YAMLNode?
            package init(isMapping: Bool, location: SourceLocation, anchor: String?) {
                self.isMapping = isMapping
                self.location = location
                self.anchor = anchor
            }
        }

        package let file: String
        let limits: Limits
        package var stack: [Frame] = []
        /// Each anchored node with its size and height (aliases expanded), to bound what aliases produce.
        package var anchors: [String: (node: YAMLNode, size: Int, height: Int)] = [:]
        package var documents: [YAMLNode] = []
        var aliasNodes = 0

        init(file: String, limits: Limits) {
            self.file = file
            self.limits = limits
        }

        package func location(_ mark: yaml_mark_t) -> SourceLocation {
            SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1)
        }

        package static func string(_ ptr: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            guard let ptr else { return nil }
            return String(cString: UnsafeRawPointer(ptr).assumingMemoryBound(to: CChar.self))
        }

        package mutating func handle(_ event: inout yaml_event_t) throws {
            let loc = location(event.start_mark)
            switch event.type {
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let text: String
                if let value = scalar.value {
                    let raw = UnsafeRawBufferPointer(start: value, count: scalar.length)
                    text = String(decoding: raw, as: UTF8.self)
                } else {
                    text = ""
                }
                let style: YAMLNode.ScalarStyle
                switch scalar.style {
                case YAML_SINGLE_QUOTED_SCALAR_STYLE, YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .quoted
                case YAML_LITERAL_SCALAR_STYLE, YAML_FOLDED_SCALAR_STYLE: style = .block
                default: style = .plain
                }
                let node = YAMLNode.scalar(text, style, tag: Builder.string(scalar.tag), loc)
                if let anchor = Builder.string(scalar.anchor) { anchors[anchor] = (node, 1, 1) }
                add(node, size: 1, height: 1)
            case YAML_ALIAS_EVENT:
                let name = Builder.string(event.data.alias.anchor) ?? ""
                guard let anchored = anchors[name] else {
                    throw DiagnosticsError([.error(loc, "unknown YAML alias *\(name)")])
                }
                aliasNodes += anchored.size
                guard aliasNodes <= limits.maxAliasNodes else {
                    throw DiagnosticsError([.error(loc, "YAML aliases expand to more than \(limits.maxAliasNodes) nodes (nested aliases that multiply, as in \"billion laughs\"): refused")])
                }
                guard stack.count + anchored.height <= limits.maxDepth else {
                    throw DiagnosticsError([.error(loc, "the alias *\(name) nests values more than \(limits.maxDepth) levels deep")])
                }
                add(anchored.node, size: anchored.size, height: anchored.height)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard stack.count < limits.maxDepth else {
                    throw DiagnosticsError([.error(loc, "values nest more than \(limits.maxDepth) levels deep")])
                }
                let mapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = mapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
                stack.append(Frame(isMapping: mapping, location: loc, anchor: Builder.string(anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { return }
                let node: YAMLNode = frame.isMapping ? .mapping(frame.pairs, frame.location) : .sequence(frame.items, frame.location)
                if let anchor = frame.anchor { anchors[anchor] = (node, frame.size, frame.height) }
                add(node, size: frame.size, height: frame.height)
            default:
                break
            }
        }

        package mutating func add(_ node: YAMLNode, size: Int, height: Int) {
            guard let top = stack.last else {
                documents.append(node)
                return
            }
            top.size += size
            top.height = max(top.height, height + 1)
            guard top.isMapping else {
                top.items.append(node)
                return
            }
            if let key = top.pendingKey {
                // YAML merge key: `<<: *defaults` copies the aliased map's entries.
                if key.scalarText == "<<", case .mapping(let merged, _) = node {
                    top.pairs.append(contentsOf: merged)
                } else {
                    top.pairs.append((key: key, value: node))
                }
                top.pendingKey = nil
            } else {
                top.pendingKey = node
            }
        }
    }
}

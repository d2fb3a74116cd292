import Foundation
import EthstackModel
import EthstackProviderAPI
import EthstackYAML

/// The enclave's `args` as a tree with positions (from the stack file, from a YAML file named by
/// `${yamldecode(file("…"))}`, or without positions from an evaluated value). `opaque` is a part
/// not known at validation time (an expression).
indirect enum ArgsNode {
    case map([(key: String, keyLocation: SourceLocation?, value: ArgsNode)], SourceLocation?)
    case list([ArgsNode], SourceLocation?)
    case scalar(Value, SourceLocation?)
    case opaque

    init(_ node: ConfigNode) {
        switch node {
        case .literal(let v, let l): self = .scalar(v, l)
        case .template: self = .opaque
        case .list(let items, let l): self = .list(items.map(ArgsNode.init), l)
        case .map(let entries, let l): self = .map(entries.map { ($0.key, $0.keyLocation, ArgsNode($0.value)) }, l)
        }
    }

    init(_ node: YAMLNode) {
        switch node {
        case .scalar(let text, let style, let tag, let l): self = .scalar(YAMLNode.resolveScalarPublic(text, style: style, tag: tag), l)
        case .sequence(let items, let l): self = .list(items.map(ArgsNode.init), l)
        case .mapping(let pairs, let l):
            self = .map(pairs.map { ($0.key.scalarText ?? "", $0.key.location, ArgsNode($0.value)) }, l)
        }
    }

    init(_ value: Value) {
        switch value.unmarked {
        case .map(let m): self = .map(m.keys.sorted().map { ($0, nil, ArgsNode(m[$0] ?? .null)) }, nil)
        case .list(let items): self = .list(items.map(ArgsNode.init), nil)
        case .unknown: self = .opaque
        case let v: self = .scalar(v, nil)
        }
    }
}

extension YAMLNode {
    static func resolveScalarPublic(_ text: String, style: ScalarStyle, tag: String?) -> Value {
        YAMLNode.scalar(text, style, tag: tag, .unknown).value
    }
}

/// ethereum-package's allow-lists (`src/package_io/sanity_check.star`): unknown keys fail a real
/// run minutes in; ethstack rejects them at plan time, with position and the closest valid key.
struct EthereumPackageArgsValidator {
    let topLevel: Set<String>
    let participantKeys: Set<String>
    let matrix: [String: Set<String>]
    let portPublisher: [String: Set<String>]
    let subcategories: [String: Set<String>]
    let additionalServices: Set<String>
    let trueblocksScrape: Set<String>

    static let shared: EthereumPackageArgsValidator? = {
        guard let root = try? Value.parseJSON(EthereumPackageAllowedKeys.json).mapValue else { return nil }
        func strings(_ v: Value?) -> Set<String> { Set((v?.listValue ?? []).compactMap(\.stringValue)) }
        func sets(_ v: Value?) -> [String: Set<String>] { (v?.mapValue ?? [:]).mapValues { strings($0) } }
        let sub = sets(root["SUBCATEGORY_PARAMS"])
        let extra = Set((root["ADDITIONAL_CATEGORY_PARAMS"]?.mapValue ?? [:]).keys)
        return EthereumPackageArgsValidator(
            topLevel: Set(sub.keys).union(extra).union(["participants", "participants_matrix", "port_publisher", "additional_services"]),
            participantKeys: strings(root["PARTICIPANT_CATEGORIES"]?["participants"]),
            matrix: sets(root["PARTICIPANT_MATRIX_PARAMS"]?["participants_matrix"]),
            portPublisher: sets(root["PORT_PUBLISHER_PARAMS"]?["port_publisher"]),
            subcategories: sub,
            additionalServices: strings(root["ADDITIONAL_SERVICES_PARAMS"]),
            trueblocksScrape: strings(root["TRUEBLOCKS_NESTED_PARAMS"]?["scrape"]))
    }()

    struct Problem {
        var path: String
        var location: SourceLocation?
        var message: String
        var hint: String?
    }

    func validate(_ args: ArgsNode) -> [Problem] {
        var out: [Problem] = []
        guard case .map(let entries, _) = args else {
            if case .opaque = args { return [] }
            return [Problem(path: "args", location: location(args), message: "args must be a map", hint: nil)]
        }
        keys(entries, allowed: topLevel, path: "", what: "a top-level ethereum-package parameter", &out)
        for (key, _, value) in entries {
            switch key {
            case "participants":
                forEachMap(in: value) { e, i in
                    keys(e, allowed: participantKeys, path: "participants[\(i)].", what: "a participant parameter", &out)
                }
            case "participants_matrix":
                guard case .map(let m, _) = value else { continue }
                keys(m, allowed: Set(matrix.keys), path: "participants_matrix.", what: "a participants_matrix section", &out)
                for (section, _, list) in m {
                    guard let allowed = matrix[section], !allowed.isEmpty else { continue }
                    forEachMap(in: list) { e, i in
                        keys(e, allowed: allowed, path: "participants_matrix.\(section)[\(i)].", what: "a participants_matrix.\(section) parameter", &out)
                    }
                }
            case "port_publisher":
                guard case .map(let m, _) = value else { continue }
                keys(m, allowed: Set(portPublisher.keys), path: "port_publisher.", what: "a port_publisher section", &out)
                for (section, _, inner) in m {
                    guard let allowed = portPublisher[section], case .map(let e, _) = inner else { continue }
                    keys(e, allowed: allowed, path: "port_publisher.\(section).", what: "a port_publisher.\(section) parameter", &out)
                }
            case "additional_services":
                guard case .list(let items, _) = value else { continue }
                for item in items {
                    guard case .scalar(let v, let loc) = item, let name = v.stringValue else { continue }
                    if !additionalServices.contains(name) {
                        out.append(Problem(path: "additional_services", location: loc,
                                           message: "unknown additional service \"\(name)\" for ethereum-package \(EthereumPackageAllowedKeys.version)",
                                           hint: didYouMean(name, in: additionalServices)))
                    }
                }
            default:
                guard let allowed = subcategories[key], case .map(let e, _) = value else { continue }
                keys(e, allowed: allowed, path: "\(key).", what: "a \(key) parameter", &out)
                if key == "trueblocks_params", let scrape = e.first(where: { $0.key == "scrape" }), case .map(let s, _) = scrape.value {
                    keys(s, allowed: trueblocksScrape, path: "trueblocks_params.scrape.", what: "a trueblocks_params.scrape parameter", &out)
                }
            }
        }
        return out
    }

    private func keys(_ entries: [(key: String, keyLocation: SourceLocation?, value: ArgsNode)], allowed: Set<String>,
                      path: String, what: String, _ out: inout [Problem]) {
        for (key, loc, _) in entries where !allowed.contains(key) {
            out.append(Problem(path: path + key, location: loc,
                               message: "\"\(key)\" is not \(what) of ethereum-package \(EthereumPackageAllowedKeys.version)",
                               hint: didYouMean(key, in: allowed)))
        }
    }

    private func forEachMap(in node: ArgsNode, _ body: ([(key: String, keyLocation: SourceLocation?, value: ArgsNode)], Int) -> Void) {
        guard case .list(let items, _) = node else { return }
        for (i, item) in items.enumerated() {
            if case .map(let e, _) = item { body(e, i) }
        }
    }

    private func location(_ node: ArgsNode) -> SourceLocation? {
        switch node {
        case .map(_, let l), .list(_, let l), .scalar(_, let l): return l
        case .opaque: return nil
        }
    }
}

enum EnclaveArgs {
    static let defaultPackage = "github.com/ethpandaops/ethereum-package"

    /// Whether the allow-lists apply: ethereum-package at the version they were read from.
    static func isValidated(package: String?, ref: String?) -> Bool {
        let p = (package ?? defaultPackage).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return p == defaultPackage && (ref ?? EthereumPackageAllowedKeys.version) == EthereumPackageAllowedKeys.version
    }

    /// Load-time check of `args` as written: literal YAML in the stack, or the YAML file named by
    /// `${yamldecode(file("args.yaml"))}` (parsed here so errors point into that file).
    static func diagnostics(_ request: ValidateResourceRequest) -> [Diagnostic] {
        func literal(_ key: String) -> String? {
            request.properties.first { $0.key == key }.flatMap { $0.value.literalValue?.stringValue }
        }
        guard let argsEntry = request.properties.first(where: { $0.key == "args" }),
              isValidated(package: literal("package"), ref: literal("ref")),
              let validator = EthereumPackageArgsValidator.shared else { return [] }
        var out: [Diagnostic] = []
        let tree: ArgsNode
        switch argsEntry.value {
        case .template(let t):
            guard let path = fileArgument(t) else { return [] }
            let full = path.hasPrefix("/") ? path : "\(request.baseDirectory)/\(path)"
            guard let data = FileManager.default.contents(atPath: full) else { return [] }  // file() reports it
            do {
                guard let doc = try YAMLParser.parse(String(decoding: data, as: UTF8.self), file: full).first else { return [] }
                tree = ArgsNode(doc)
            } catch let e as DiagnosticsError {
                return e.diagnostics
            } catch {
                return [.error(t.location, "\(path): \(error)")]
            }
        default:
            tree = ArgsNode(argsEntry.value)
        }
        for p in validator.validate(tree) {
            out.append(.error(p.location ?? argsEntry.keyLocation, "\(request.name).args: \(p.message)", hint: p.hint))
        }
        return out
    }

    /// `"${yamldecode(file("x.yaml"))}"` or `"${yamldecode(templatefile("x.yaml", {…}))}"` → "x.yaml"
    /// (a template's `${name}` placeholders are plain YAML strings, so its keys check as they are).
    static func fileArgument(_ t: Template) -> String? {
        guard let e = t.singleExpression, case .call("yamldecode", let args, _) = e, args.count == 1 else { return nil }
        switch args[0] {
        case .call("file", let fileArgs, _) where fileArgs.count == 1,
             .call("templatefile", let fileArgs, _) where fileArgs.count == 2:
            guard case .literal(let v, _) = fileArgs[0], let path = v.stringValue else { return nil }
            return path
        default:
            return nil
        }
    }

    /// Plan-time check of an evaluated value (no positions): args that came from variables.
    static func problems(_ args: Value, package: String?, ref: String?) -> [String] {
        guard isValidated(package: package, ref: ref), let validator = EthereumPackageArgsValidator.shared else { return [] }
        return validator.validate(ArgsNode(args)).map { p in
            "\(p.path): \(p.message)" + (p.hint.map { " (\($0))" } ?? "")
        }
    }
}

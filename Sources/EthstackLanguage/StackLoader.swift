import Crypto
import EthstackModel
import EthstackYAML
import Foundation

/// Loads a stack file into declarations. Knows one file and the resource schemas; does no
/// cross-resource work (references are checked by `StackValidator`). Reports every problem at once.
public struct StackLoader {
    /// What the loader (and evaluation of the loaded stack) may do with the file system and how
    /// large an input it takes.
    public struct Options: Sendable {
        /// `file()` may read outside the stack file's directory tree (`--allow-file-outside-stack`).
        public var allowFileOutsideStack = false
        /// The largest stack file read (16 MiB); a larger one is refused before it is parsed.
        public var maxFileBytes = 16 << 20
        /// Limits on the YAML: nesting depth, nodes produced by aliases.
        public var yaml = YAMLParser.Limits()
        public init() {}
    }

    public let schemas: @Sendable (String) -> ResourceSchema?
    public let knownTypes: [String]
    public var options = Options()

    /// `schemas` answers for the resource types the providers offer; `knownTypes` names them all
    /// (for "did you mean"). The engine builds both from its provider registry.
    public init(schemas: @escaping @Sendable (String) -> ResourceSchema?, knownTypes: [String]) {
        self.schemas = schemas
        self.knownTypes = knownTypes
    }

    public func load(file path: String) throws -> StackDeclaration {
        var info = stat()
        if stat(path, &info) == 0, Int(info.st_size) > options.maxFileBytes {
            throw DiagnosticsError([.error(SourceLocation(file: path, line: 1, column: 1),
                                           "the stack file is \(info.st_size) bytes: at most \(options.maxFileBytes)")])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticsError([.error(nil, "cannot read stack file \(path)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DiagnosticsError([.error(SourceLocation(file: path, line: 1, column: 1), "the stack file is not UTF-8 text")])
        }
        let hash = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        return try load(text: text, file: path, contentHash: hash)
    }

    public func load(text: String, file: String, contentHash: String? = nil) throws -> StackDeclaration {
        guard text.utf8.count <= options.maxFileBytes else {
            throw DiagnosticsError([.error(SourceLocation(file: file, line: 1, column: 1),
                                           "the stack file is \(text.utf8.count) bytes: at most \(options.maxFileBytes)")])
        }
        let documents = try YAMLParser.parse(text, file: file, limits: options.yaml)
        var diagnostics = DiagnosticCollector()
        let start = SourceLocation(file: file, line: 1, column: 1)
        guard documents.count <= 1 else {
            throw DiagnosticsError([.error(documents[1].location, "a stack file holds one YAML document")])
        }
        guard let root = documents.first else {
            throw DiagnosticsError([.error(start, "the stack file is empty: expected a map with \"stack\" and \"resources\"")])
        }
        guard case .mapping(let pairs, _) = root else {
            throw DiagnosticsError([.error(root.location, "expected a map at the top of the stack file, found \(root.kindName)")])
        }
        let top = uniqueEntries(pairs, in: "the stack", &diagnostics)
        let topKeys = StackLoader.topKeys
        for (key, entry) in top where !topKeys.contains(key) {
            diagnostics.error(entry.keyLocation, "unknown top-level key \"\(key)\"", hint: didYouMean(key, in: topKeys))
        }

        var name = ""
        if let entry = top["stack"] {
            if let s = string(entry.value, "stack", &diagnostics) {
                if s.isEmpty || s.contains(where: { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                    diagnostics.error(entry.value.location, "the stack name \"\(s)\" may contain only letters, digits, \"-\" and \"_\"")
                }
                name = s
            }
        } else {
            diagnostics.error(start, "missing required top-level key \"stack\" (the stack's name, which names its state)")
        }
        let description = top["description"].flatMap { string($0.value, "description", &diagnostics) }

        var variables: [VariableDeclaration] = []
        if let entry = top["variables"], let map = mapping(entry.value, "variables", &diagnostics) {
            for (varName, e) in uniqueOrdered(map, in: "variables", &diagnostics) {
                variables.append(loadVariable(varName, e, &diagnostics))
            }
        }

        var providers: [ProviderDeclaration] = []
        if let entry = top["providers"], let map = mapping(entry.value, "providers", &diagnostics) {
            for (providerName, e) in uniqueOrdered(map, in: "providers", &diagnostics) {
                let plugin = String(providerName.split(separator: ".").first ?? "")
                var config: ConfigNode?
                switch e.valueNode {
                case .mapping: config = configNode(e.valueNode, &diagnostics)
                case .scalar(let t, .plain, _, _) where t.isEmpty || t == "null" || t == "~": config = nil
                default: diagnostics.error(e.valueNode.location, "provider \"\(providerName)\": expected a map of settings, found \(e.valueNode.kindName)")
                }
                providers.append(ProviderDeclaration(name: providerName, providerName: plugin, location: e.keyLocation, configuration: config))
            }
        }

        var resources: [ResourceDeclaration] = []
        if let entry = top["resources"] {
            if let map = mapping(entry.value, "resources", &diagnostics) {
                resources.reserveCapacity(map.count)
                for (resourceName, e) in uniqueOrdered(map, in: "resources", &diagnostics) {
                    if let r = loadResource(resourceName, e, &diagnostics) { resources.append(r) }
                }
            }
        }

        var outputs: [OutputDeclaration] = []
        if let entry = top["outputs"], let map = mapping(entry.value, "outputs", &diagnostics) {
            for (outputName, e) in uniqueOrdered(map, in: "outputs", &diagnostics) {
                if let o = loadOutput(outputName, e, &diagnostics) { outputs.append(o) }
            }
        }

        var checks: [CheckDeclaration] = []
        if let entry = top["checks"], let map = mapping(entry.value, "checks", &diagnostics) {
            for (checkName, e) in uniqueOrdered(map, in: "checks", &diagnostics) {
                if let c = loadCheck(checkName, e, &diagnostics) { checks.append(c) }
            }
        }

        let imports = top["import"].map { loadImports($0.value, &diagnostics) } ?? []

        try diagnostics.throwIfErrors()
        var stack = StackDeclaration(name: name, description: description, file: file,
                                     contentHash: contentHash ?? SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined(),
                                     variables: variables, providers: providers, resources: resources, outputs: outputs,
                                     checks: checks)
        stack.allowFileOutsideStack = options.allowFileOutsideStack
        stack.imports = imports
        return stack
    }

    // MARK: - Sections

    private func loadVariable(_ name: String, _ e: Entry, _ d: inout DiagnosticCollector) -> VariableDeclaration {
        var v = VariableDeclaration(name: name, location: e.keyLocation, type: .any, defaultValue: nil, sensitive: false, description: nil)
        guard case .mapping(let pairs, _) = e.valueNode else {
            // `name: value` is shorthand for a default.
            v.defaultValue = e.valueNode.value
            return v
        }
        let keys = StackLoader.variableKeys
        for (key, entry) in uniqueEntries(pairs, in: "variable \"\(name)\"", &d) {
            switch key {
            case "type":
                if let t = string(entry.value, "type", &d) {
                    if let vt = VariableDeclaration.VariableType(rawValue: t) { v.type = vt } else {
                        d.error(entry.value.location, "unknown variable type \"\(t)\"",
                                hint: didYouMean(t, in: ["string", "number", "bool", "list", "map", "any"]) ?? "expected string, number, bool, list, map or any")
                    }
                }
            case "default": v.defaultValue = entry.value.value
            case "sensitive": v.sensitive = bool(entry.value, "sensitive", &d) ?? false
            case "description": v.description = string(entry.value, "description", &d)
            default:
                d.error(entry.keyLocation, "unknown key \"\(key)\" in variable \"\(name)\"", hint: didYouMean(key, in: keys))
            }
        }
        if let def = v.defaultValue, !VariableValues.fits(def, v.type) {
            d.error(e.keyLocation, "the default of variable \"\(name)\" is a \(def.typeName), not a \(v.type.rawValue)")
        }
        return v
    }

    package static let topKeys = ["stack", "description", "variables", "providers", "resources", "outputs", "checks", "import"]
    package static let variableKeys = ["type", "default", "sensitive", "description"]
    package static let outputKeys = ["value", "sensitive", "description"]
    package static let lifecycleKeys = ["prevent_destroy", "create_before_destroy", "ignore_changes"]
    package static let resourceKeys = ["type", "properties", "depends_on", "for_each", "count", "provider", "lifecycle", "drift", "lint", "description"]

    private func loadResource(_ name: String, _ e: Entry, _ d: inout DiagnosticCollector) -> ResourceDeclaration? {
        if !isIdentifier(name) {
            d.error(e.keyLocation, "invalid resource name \"\(name)\": use letters, digits, \"_\" and \"-\", starting with a letter")
        }
        guard case .mapping(let pairs, let loc) = e.valueNode else {
            d.error(e.valueNode.location, "resource \"\(name)\": expected a map with \"type\" and \"properties\", found \(e.valueNode.kindName)")
            return nil
        }
        let entries = uniqueEntries(pairs, in: "resource \"\(name)\"", &d)
        for (key, entry) in entries where !StackLoader.resourceKeys.contains(key) {
            d.error(entry.keyLocation, "unknown key \"\(key)\" in resource \"\(name)\"", hint: didYouMean(key, in: StackLoader.resourceKeys))
        }
        guard let typeEntry = entries["type"] else {
            d.error(e.keyLocation, "resource \"\(name)\" has no \"type\"")
            return nil
        }
        guard let type = string(typeEntry.value, "type", &d) else { return nil }
        let schema = schemas(type)
        if schema == nil {
            d.error(typeEntry.value.location, "unknown resource type \"\(type)\"", hint: didYouMean(type, in: knownTypes))
        }

        var properties: [ConfigEntry] = []
        var propertiesLocation = loc
        if let p = entries["properties"] {
            propertiesLocation = p.value.location
            switch configNode(p.value, &d) {
            case .map(let list, _): properties = list
            case .literal(.null, _): break
            case let other?: d.error(other.location, "resource \"\(name)\": \"properties\" must be a map, found \(p.value.kindName)")
            case nil: break
            }
        }
        if let schema {
            for prop in properties {
                guard let attr = schema[prop.key] else {
                    d.error(prop.keyLocation, "unknown property \"\(prop.key)\" for \(type)",
                            hint: didYouMean(prop.key, in: schema.attributes.filter(\.isSettable).map(\.name)))
                    continue
                }
                if !attr.isSettable {
                    d.error(prop.keyLocation, "\"\(prop.key)\" of \(type) is computed by the provider and cannot be set")
                }
                if let v = prop.value.literalValue, !attr.type.accepts(v) {
                    d.error(prop.value.location, "property \"\(prop.key)\" of \(type) must be a \(attr.type), found \(v.typeName)")
                }
            }
            let given = Set(properties.map(\.key))
            for attr in schema.attributes where attr.isRequired && !given.contains(attr.name) {
                d.error(entries["properties"]?.keyLocation ?? e.keyLocation,
                        "resource \"\(name)\" (\(type)) is missing the required property \"\(attr.name)\"")
            }
        }

        var dependsOn: [(String, SourceLocation)] = []
        if let dep = entries["depends_on"] {
            if case .sequence(let items, _) = dep.value {
                for item in items {
                    if let s = string(item, "depends_on", &d) {
                        // Accept both `vpc` and `${vpc}`.
                        var n = s
                        if n.hasPrefix("${"), n.hasSuffix("}") { n = String(n.dropFirst(2).dropLast()).trimmingCharacters(in: .whitespaces) }
                        dependsOn.append((n, item.location))
                    }
                }
            } else {
                d.error(dep.value.location, "\"depends_on\" must be a list of resource names, found \(dep.value.kindName)")
            }
        }
        let forEach = entries["for_each"].flatMap { configNode($0.value, &d) }
        let count = entries["count"].flatMap { configNode($0.value, &d) }
        if let fe = entries["for_each"], entries["count"] != nil {
            d.error(fe.keyLocation, "resource \"\(name)\" sets both \"for_each\" and \"count\": use one")
        }
        var provider: (String, SourceLocation)?
        if let p = entries["provider"], let s = string(p.value, "provider", &d) { provider = (s, p.value.location) }

        var lifecycle = Lifecycle()
        if let l = entries["lifecycle"] {
            if case .mapping(let lp, _) = l.value {
                let keys = StackLoader.lifecycleKeys
                for (key, entry) in uniqueEntries(lp, in: "lifecycle", &d) {
                    switch key {
                    case "prevent_destroy": lifecycle.preventDestroy = bool(entry.value, key, &d) ?? false
                    case "create_before_destroy": lifecycle.createBeforeDestroy = bool(entry.value, key, &d) ?? false
                    case "ignore_changes":
                        if case .sequence(let items, _) = entry.value {
                            for item in items {
                                guard let path = string(item, "ignore_changes", &d) else { continue }
                                let attr = String(path.split(separator: ".").first ?? "")
                                if let schema, schema[attr] == nil {
                                    d.error(item.location, "ignore_changes: \(type) has no attribute \"\(attr)\"",
                                            hint: didYouMean(attr, in: schema.attributeNames))
                                }
                                lifecycle.ignoreChanges.append(path)
                            }
                        } else {
                            d.error(entry.value.location, "\"ignore_changes\" must be a list of attribute names")
                        }
                    default:
                        d.error(entry.keyLocation, "unknown key \"\(key)\" in lifecycle", hint: didYouMean(key, in: keys))
                    }
                }
            } else {
                d.error(l.value.location, "\"lifecycle\" must be a map")
            }
        }
        var expectedDrift: DriftIgnore?
        if let entry = entries["drift"] { expectedDrift = driftIgnore(entry.value, schema: schema, type: type, &d) }
        var resource = ResourceDeclaration(name: name, location: e.keyLocation, type: type, typeLocation: typeEntry.value.location,
                                           properties: properties, propertiesLocation: propertiesLocation,
                                           dependsOn: dependsOn, forEach: forEach, count: count, provider: provider, lifecycle: lifecycle,
                                           driftIgnore: expectedDrift)
        if let entry = entries["lint"] { resource.lintIgnore = lintIgnore(entry.value, &d) }
        return resource
    }

    /// `lint: { ignore: [RULE, …], reason: "…", until: YYYY-MM-DD }`. Rule ids are checked by the
    /// lint itself (the language does not know the rules): an unknown id is reported there.
    private func lintIgnore(_ node: YAMLNode, _ d: inout DiagnosticCollector) -> LintIgnore? {
        guard let s = suppression(node, key: "lint", what: "the rules whose findings are accepted", item: "rule id", { _, _, _ in }, &d)
        else { return nil }
        return LintIgnore(rules: s.items, reason: s.reason, until: s.until, location: s.location)
    }

    /// The shape `drift:` and `lint:` share: `{ ignore: [...], reason: "...", until: YYYY-MM-DD }`;
    /// nil when it has no reason (an error is reported). `check` sees each ignored item.
    private func suppression(_ node: YAMLNode, key: String, what: String, item: String,
                             _ check: (String, YAMLNode, inout DiagnosticCollector) -> Void,
                             _ d: inout DiagnosticCollector) -> (items: [String], reason: String, until: String?, location: SourceLocation)? {
        guard case .mapping(let pairs, let location) = node else {
            d.error(node.location, "\"\(key)\" must be a map: { ignore: [\(item), …], reason: \"…\", until: YYYY-MM-DD }")
            return nil
        }
        let keys = ["ignore", "reason", "until"]
        let entries = uniqueEntries(pairs, in: key, &d)
        for (k, entry) in entries where !keys.contains(k) {
            d.error(entry.keyLocation, "unknown key \"\(k)\" in \(key)", hint: didYouMean(k, in: keys))
        }
        var items: [String] = []
        if let ignore = entries["ignore"] {
            if case .sequence(let nodes, _) = ignore.value {
                for n in nodes {
                    guard let text = string(n, "\(key).ignore", &d) else { continue }
                    check(text, n, &d)
                    items.append(text)
                }
            } else {
                d.error(ignore.value.location, "\"\(key).ignore\" must be a list of \(item)s")
            }
        } else {
            d.error(location, "\"\(key)\" needs \"ignore\": \(what)")
        }
        var reason = ""
        if let entry = entries["reason"] { reason = string(entry.value, "\(key).reason", &d) ?? "" }
        if reason.isEmpty { d.error(location, "\"\(key)\" needs a \"reason\": say why this is accepted") }
        var until: String?
        if let u = entries["until"], let text = string(u.value, "\(key).until", &d) {
            if DriftIgnore.parseDay(text) == nil {
                d.error(u.value.location, "\(key).until: \"\(text)\" is not a date (YYYY-MM-DD)")
            }
            until = text
        }
        return reason.isEmpty ? nil : (items, reason, until, location)
    }

    /// `drift: { ignore: [attribute, …], reason: "…", until: YYYY-MM-DD }`.
    private func driftIgnore(_ node: YAMLNode, schema: ResourceSchema?, type: String, _ d: inout DiagnosticCollector) -> DriftIgnore? {
        guard let s = suppression(node, key: "drift", what: "the attributes whose drift is expected", item: "attribute", { path, n, d in
            let attr = String(path.split(whereSeparator: { $0 == "." || $0 == "[" }).first ?? "")
            if let schema, schema[attr] == nil {
                d.error(n.location, "drift.ignore: \(type) has no attribute \"\(attr)\"", hint: didYouMean(attr, in: schema.attributeNames))
            }
        }, &d) else { return nil }
        return DriftIgnore(attributes: s.items, reason: s.reason, until: s.until, location: s.location)
    }

    private func loadOutput(_ name: String, _ e: Entry, _ d: inout DiagnosticCollector) -> OutputDeclaration? {
        guard case .mapping(let pairs, _) = e.valueNode else {
            guard let node = configNode(e.valueNode, &d) else { return nil }
            return OutputDeclaration(name: name, location: e.keyLocation, value: node, sensitive: false, description: nil)
        }
        let entries = uniqueEntries(pairs, in: "output \"\(name)\"", &d)
        let keys = StackLoader.outputKeys
        for (key, entry) in entries where !keys.contains(key) {
            d.error(entry.keyLocation, "unknown key \"\(key)\" in output \"\(name)\"", hint: didYouMean(key, in: keys))
        }
        guard let valueEntry = entries["value"] else {
            d.error(e.keyLocation, "output \"\(name)\" has no \"value\"")
            return nil
        }
        guard let node = configNode(valueEntry.value, &d) else { return nil }
        return OutputDeclaration(name: name, location: e.keyLocation, value: node,
                                 sensitive: entries["sensitive"].flatMap { bool($0.value, "sensitive", &d) } ?? false,
                                 description: entries["description"].flatMap { string($0.value, "description", &d) })
    }

    package static let checkKeys = ["description", "ethereum_rpc", "http", "expect", "timeout", "retries", "when"]
    package static let probeKeys: [CheckDeclaration.ProbeKind: [String]] = [
        .ethereumRPC: ["url", "method", "params"],
        .http: ["url", "method", "headers", "body"],
    ]
    package static let expectKeys = ["status", "at_least", "at_most", "equals", "json", "path", "increases_within", "accept_errors"]

    private func loadCheck(_ name: String, _ e: Entry, _ d: inout DiagnosticCollector) -> CheckDeclaration? {
        if !isIdentifier(name) {
            d.error(e.keyLocation, "invalid check name \"\(name)\": use letters, digits, \"_\" and \"-\", starting with a letter")
        }
        guard case .mapping(let pairs, _) = e.valueNode else {
            d.error(e.valueNode.location, "check \"\(name)\": expected a map with a probe (\"ethereum_rpc\" or \"http\") and \"expect\", found \(e.valueNode.kindName)")
            return nil
        }
        let entries = uniqueOrdered(pairs, in: "check \"\(name)\"", &d)
        var probeKind: CheckDeclaration.ProbeKind?
        var probeEntry: Entry?
        var expectEntry: Entry?
        var description: String?
        var timeout = 10.0
        var retries = 0
        var when: ConfigNode?
        var ok = true
        for (key, entry) in entries {
            switch key {
            case "when":
                when = configNode(entry.value, &d)
                if let v = when?.literalValue, v.unmarked.boolValue == nil {
                    d.error(entry.value.location, "\"when\" must be a bool (an expression such as '${var.x != \"\"}'), found \(v.typeName)")
                    ok = false
                }
            case "description": description = string(entry.value, "description", &d)
            case "ethereum_rpc", "http":
                if let kind = probeKind {
                    d.error(entry.keyLocation, "check \"\(name)\" has two probes (\"\(kind.rawValue)\" and \"\(key)\"): use one")
                    ok = false
                } else {
                    probeKind = CheckDeclaration.ProbeKind(rawValue: key)
                    probeEntry = entry
                }
            case "expect": expectEntry = entry
            case "timeout":
                if let t = durationLiteral(entry.value, "timeout", &d) {
                    if t <= 0 { d.error(entry.value.location, "\"timeout\" must be more than 0") } else { timeout = t }
                }
            case "retries":
                if case .number(let n) = entry.value.value, n >= 0, n.rounded() == n, n <= 100 {
                    retries = Int(n)
                } else {
                    d.error(entry.value.location, "\"retries\" must be a whole number from 0 to 100, found \(entry.value.value.typeName)")
                }
            default:
                d.error(entry.keyLocation, "unknown key \"\(key)\" in check \"\(name)\"", hint: didYouMean(key, in: StackLoader.checkKeys))
            }
        }
        guard let probeKind, let probeEntry else {
            d.error(e.keyLocation, "check \"\(name)\" has no probe: add \"ethereum_rpc\" or \"http\"")
            return nil
        }
        guard let expectEntry else {
            d.error(e.keyLocation, "check \"\(name)\" has no \"expect\" (status, at_least, at_most, equals, json, increases_within)")
            return nil
        }

        // The probe.
        var probe: [ConfigEntry] = []
        let allowedProbe = StackLoader.probeKeys[probeKind] ?? []
        switch configNode(probeEntry.value, &d) {
        case .map(let list, _)?: probe = list
        case let other?:
            d.error(other.location, "check \"\(name)\": \"\(probeKind.rawValue)\" must be a map (\(allowedProbe.joined(separator: ", "))), found \(probeEntry.value.kindName)")
            ok = false
        case nil: ok = false
        }
        for p in probe where !allowedProbe.contains(p.key) {
            d.error(p.keyLocation, "unknown key \"\(p.key)\" in \(probeKind.rawValue) of check \"\(name)\"", hint: didYouMean(p.key, in: allowedProbe))
            ok = false
        }
        if !probe.contains(where: { $0.key == "url" }) {
            d.error(probeEntry.keyLocation, "\(probeKind.rawValue) of check \"\(name)\" has no \"url\"")
            ok = false
        }
        if probeKind == .ethereumRPC, !probe.contains(where: { $0.key == "method" }) {
            d.error(probeEntry.keyLocation, "ethereum_rpc of check \"\(name)\" has no \"method\" (e.g. eth_blockNumber)")
            ok = false
        }
        for p in probe {
            guard let v = p.value.literalValue else { continue }
            switch p.key {
            case "url", "method":
                if v.stringValue == nil { d.error(p.value.location, "\"\(p.key)\" must be a string, found \(v.typeName)"); ok = false }
            case "params":
                if v.listValue == nil { d.error(p.value.location, "\"params\" must be a list, found \(v.typeName)"); ok = false }
            case "headers":
                if v.mapValue.map({ $0.values.allSatisfy { $0.interpolatedString != nil } }) != true {
                    d.error(p.value.location, "\"headers\" must be a map of strings, found \(v.typeName)"); ok = false
                }
            default: break
            }
        }

        // The expectations.
        var expect: [ConfigEntry] = []
        var increasesWithin: Double?
        guard case .mapping(let expectPairs, _) = expectEntry.value else {
            d.error(expectEntry.value.location, "check \"\(name)\": \"expect\" must be a map (\(StackLoader.expectKeys.joined(separator: ", "))), found \(expectEntry.value.kindName)")
            return nil
        }
        for (key, entry) in uniqueOrdered(expectPairs, in: "expect", &d) {
            guard StackLoader.expectKeys.contains(key) else {
                d.error(entry.keyLocation, "unknown key \"\(key)\" in expect of check \"\(name)\"", hint: didYouMean(key, in: StackLoader.expectKeys))
                ok = false
                continue
            }
            if key == "increases_within" {
                if let t = durationLiteral(entry.value, key, &d) {
                    if t <= 0 { d.error(entry.value.location, "\"increases_within\" must be more than 0") } else { increasesWithin = t }
                } else { ok = false }
                continue
            }
            guard let node = configNode(entry.value, &d) else { ok = false; continue }
            if let v = node.literalValue {
                switch key {
                case "status":
                    if case .number(let n) = v, n >= 100, n <= 599, n.rounded() == n {} else {
                        d.error(node.location, "\"status\" must be an HTTP status code (100-599), found \(v.jsonString())"); ok = false
                    }
                    if probeKind != .http { d.error(entry.keyLocation, "\"status\" applies to http probes only"); ok = false }
                case "at_least", "at_most":
                    if v.quantityValue == nil {
                        d.error(node.location, "\"\(key)\" must be a number, found \(v.typeName)"); ok = false
                    }
                case "json":
                    if v.mapValue == nil { d.error(node.location, "\"json\" must be a map of dotted paths to expected values, found \(v.typeName)"); ok = false }
                case "path":
                    if v.stringValue == nil { d.error(node.location, "\"path\" must be a dotted path such as data.head_slot, found \(v.typeName)"); ok = false }
                case "accept_errors":
                    if v.listValue.map({ !$0.isEmpty && $0.allSatisfy { ($0.stringValue ?? "").isEmpty == false } }) != true {
                        d.error(node.location, "\"accept_errors\" must be a list of texts found in a JSON-RPC error's message, such as [already known], found \(v.jsonString())"); ok = false
                    }
                default: break
                }
            }
            if key == "accept_errors", probeKind != .ethereumRPC {
                d.error(entry.keyLocation, "\"accept_errors\" applies to ethereum_rpc probes only"); ok = false
            }
            expect.append(ConfigEntry(key: key, keyLocation: entry.keyLocation, value: node))
        }
        if expect.isEmpty && increasesWithin == nil {
            d.error(expectEntry.keyLocation, "check \"\(name)\": \"expect\" is empty", hint: "expected any of \(StackLoader.expectKeys.joined(separator: ", "))")
            ok = false
        }
        guard ok else { return nil }
        return CheckDeclaration(name: name, location: e.keyLocation, description: description, probeKind: probeKind,
                                probeLocation: probeEntry.keyLocation, probe: probe, expect: expect,
                                increasesWithin: increasesWithin, timeout: timeout, retries: retries, when: when)
    }

    /// A duration written as text ("30s", "1m30s") or a number of seconds.
    private func durationLiteral(_ node: YAMLNode, _ what: String, _ d: inout DiagnosticCollector) -> Double? {
        switch node.value {
        case .number(let n) where n >= 0: return n
        case .string(let s):
            if let t = parseDuration(s) { return t }
            d.error(node.location, "\"\(what)\": \"\(s)\" is not a duration (e.g. 500ms, 30s, 2m)")
            return nil
        default:
            d.error(node.location, "\"\(what)\" must be a duration (e.g. 30s), found \(node.value.typeName)")
            return nil
        }
    }

    // MARK: - Helpers

    struct Entry {
        package var keyLocation: SourceLocation
        package var value: YAMLNode
        var valueNode: YAMLNode { value }
    }

    /// Map entries by key; a duplicate key is an error at the second occurrence.
    private func uniqueEntries(_ pairs: [(key: YAMLNode, value: YAMLNode)], in context: String,
                               _ d: inout DiagnosticCollector) -> [String: Entry] {
        var out: [String: Entry] = [:]
        for (key, value) in uniqueOrderedPairs(pairs, in: context, &d) { out[key] = value }
        return out
    }

    private func uniqueOrdered(_ pairs: [(key: YAMLNode, value: YAMLNode)], in context: String,
                               _ d: inout DiagnosticCollector) -> [(String, Entry)] {
        uniqueOrderedPairs(pairs, in: context, &d)
    }

    private func uniqueOrderedPairs(_ pairs: [(key: YAMLNode, value: YAMLNode)], in context: String,
                                    _ d: inout DiagnosticCollector) -> [(String, Entry)] {
        var seen: [String: SourceLocation] = [:]
        var out: [(String, Entry)] = []
        out.reserveCapacity(pairs.count)
        for (key, value) in pairs {
            guard let k = key.scalarText else {
                d.error(key.location, "keys in \(context) must be plain strings, found \(key.kindName)")
                continue
            }
            if let first = seen[k] {
                d.error(key.location, "duplicate key \"\(k)\" in \(context) (first defined at \(first.line):\(first.column))")
                continue
            }
            seen[k] = key.location
            out.append((k, Entry(keyLocation: key.location, value: value)))
        }
        return out
    }

    private func mapping(_ node: YAMLNode, _ what: String, _ d: inout DiagnosticCollector) -> [(key: YAMLNode, value: YAMLNode)]? {
        switch node {
        case .mapping(let pairs, _): return pairs
        case .scalar(let t, .plain, _, _) where t.isEmpty || t == "null" || t == "~": return []
        default:
            d.error(node.location, "\"\(what)\" must be a map, found \(node.kindName)")
            return nil
        }
    }

    private func string(_ node: YAMLNode, _ what: String, _ d: inout DiagnosticCollector) -> String? {
        if case .scalar(let s, _, _, _) = node { return s }
        d.error(node.location, "\"\(what)\" must be a string, found \(node.kindName)")
        return nil
    }

    private func bool(_ node: YAMLNode, _ what: String, _ d: inout DiagnosticCollector) -> Bool? {
        if case .bool(let b) = node.value { return b }
        d.error(node.location, "\"\(what)\" must be true or false, found \(node.value.typeName)")
        return nil
    }

    private func isIdentifier(_ s: String) -> Bool {
        guard let first = s.first, first.isLetter || first == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
    }

    /// Turns a YAML node into a config node, parsing `${…}` in strings.
    func configNode(_ node: YAMLNode, _ d: inout DiagnosticCollector) -> ConfigNode? {
        switch node {
        case .scalar(let text, let style, let tag, let loc):
            let value = YAMLNode.resolveScalar(text, style: style, tag: tag)
            guard case .string(let s) = value, s.contains("${") else { return .literal(value, loc) }
            do {
                // A quoted scalar's text starts one column after its position.
                let template = try ExpressionParser.parseTemplate(s, at: loc, columnOffset: style == .quoted ? 1 : 0)
                return .template(template)
            } catch let error as DiagnosticsError {
                d.append(contentsOf: error.diagnostics)
                return nil
            } catch {
                d.error(loc, "\(error)")
                return nil
            }
        case .sequence(let items, let loc):
            return .list(items.compactMap { configNode($0, &d) }, loc)
        case .mapping(let pairs, let loc):
            var entries: [ConfigEntry] = []
            for (k, entry) in uniqueOrderedPairs(pairs, in: "this map", &d) {
                if let v = configNode(entry.value, &d) {
                    entries.append(ConfigEntry(key: k, keyLocation: entry.keyLocation, value: v))
                }
            }
            return .map(entries, loc)
        }
    }
}

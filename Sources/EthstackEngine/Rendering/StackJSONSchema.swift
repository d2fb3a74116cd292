import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// A JSON Schema (draft-07) of the stack language, generated from the providers' schemas: the
/// top-level keys, variables, outputs, checks, and for every resource type its settable properties
/// with their types, descriptions and required keys. Editors (the YAML language server) complete
/// and check stacks with it; `ethstack schema --json` prints it and `schema/ethstack-stack.schema.json`
/// holds it. Wherever a value may be written, a string with `${ … }` is accepted too.
public enum StackJSONSchema {
    public static func generate(registry: ProviderRegistry) -> Value {
        var definitions: [String: Value] = [
            "expression": ["type": "string", "pattern": "\\$\\{", "description": "an expression: ${ … }"],
            "resource": resourceDefinition(registry),
        ]
        for type in registry.resourceTypes {
            guard let schema = registry.schema(for: type) else { continue }
            definitions[type] = object(schema.attributes, description: schema.description)
        }
        return [
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "ethstack stack",
            "description": "An ethstack stack file: variables, providers, resources, outputs and checks.",
            "type": "object",
            "required": ["stack"],
            "additionalProperties": false,
            "properties": .map([
                "stack": ["type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "The stack's name, which names its state."],
                "description": ["type": "string"],
                "variables": ["type": "object", "additionalProperties": variableDefinition()],
                "providers": providersDefinition(registry),
                "resources": ["type": "object", "additionalProperties": ["$ref": "#/definitions/resource"]],
                "outputs": ["type": "object", "additionalProperties": outputDefinition()],
                "checks": ["type": "object", "additionalProperties": checkDefinition()],
                "import": ["type": "array", "description": "Existing objects to adopt, planned and applied like any change.",
                           "items": ["type": "object", "required": ["to", "id"], "additionalProperties": false, "properties": [
                               "to": ["type": "string", "description": "the resource address that adopts it, e.g. subnet[each.key]"],
                               "id": ["type": "string", "description": "the object's id at its provider"],
                               "for_each": ["type": ["object", "array", "string"], "description": "a map, a list of strings, or an expression"],
                           ]]],
            ]),
            "definitions": .map(definitions),
        ]
    }

    /// A value of `type`, or an expression; null is always accepted (it means "not set").
    static func typeSchema(_ type: AttributeType) -> Value {
        let expression: Value = ["$ref": "#/definitions/expression"]
        switch type {
        case .any: return [:]
        // Numbers and bools are written as text where a string is expected.
        case .string: return ["type": ["string", "number", "boolean", "null"]]
        case .number: return ["anyOf": [["type": ["number", "null"]], ["type": "string", "pattern": "^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$"], expression]]
        case .bool: return ["anyOf": [["type": ["boolean", "null"]], expression]]
        case .list(let element): return ["anyOf": [["type": "array", "items": typeSchema(element)], ["type": "null"], expression]]
        case .map(let element): return ["anyOf": [["type": "object", "additionalProperties": typeSchema(element)], ["type": "null"], expression]]
        }
    }

    /// An object of the settable attributes (computed ones cannot be set), nothing else.
    static func object(_ attributes: [AttributeSchema], description: String) -> Value {
        var properties: [String: Value] = [:]
        for a in attributes where a.isSettable {
            var p = typeSchema(a.type).mapValue ?? [:]
            var text = a.description
            if a.forcesReplacement { text += text.isEmpty ? "Changing it replaces the object." : " Changing it replaces the object." }
            if a.sensitive { text += text.isEmpty ? "Sensitive." : " Sensitive." }
            if !text.isEmpty { p["description"] = .string(text) }
            if let d = a.defaultValue, !d.isNull { p["default"] = d }
            properties[a.name] = .map(p)
        }
        var out: [String: Value] = ["type": "object", "properties": .map(properties), "additionalProperties": false]
        let required = attributes.filter(\.isRequired).map(\.name).sorted()
        if !required.isEmpty { out["required"] = .list(required.map(Value.string)) }
        if !description.isEmpty { out["description"] = .string(description) }
        return .map(out)
    }

    static func resourceDefinition(_ registry: ProviderRegistry) -> Value {
        let types = registry.resourceTypes
        let stringList: Value = ["type": "array", "items": ["type": "string"]]
        // One branch per type: its properties are checked against that type's definition.
        let branches: [Value] = types.map { type in
            ["if": ["properties": ["type": ["const": .string(type)]], "required": ["type"]],
             "then": ["properties": ["properties": ["$ref": .string("#/definitions/\(type)")]]]]
        }
        var properties: [String: Value] = [
            "type": ["enum": .list(types.map(Value.string)), "description": "provider.kind"],
            "properties": ["type": ["object", "null"]],
            "depends_on": stringList,
            "for_each": ["type": ["object", "array", "string"], "description": "a map, a list of strings, or an expression"],
            "count": ["anyOf": [["type": "integer", "minimum": 0], ["$ref": "#/definitions/expression"]]],
            "provider": ["type": "string", "description": "a second provider configuration, such as aws.backup"],
            "lifecycle": ["type": "object", "additionalProperties": false, "properties": [
                "prevent_destroy": ["type": "boolean"], "create_before_destroy": ["type": "boolean"], "ignore_changes": stringList,
            ]],
            "drift": ["type": "object", "additionalProperties": false, "required": ["reason"], "properties": [
                "ignore": stringList, "reason": ["type": "string"], "until": ["type": "string"],
            ]],
            "lint": ["type": "object", "additionalProperties": false, "required": ["reason"], "properties": [
                "ignore": stringList, "reason": ["type": "string"], "until": ["type": "string"],
            ]],
            "description": ["type": "string"],
        ]
        // The loader's list of keys is the authority: a key it adds later is still allowed here.
        for key in StackLoader.resourceKeys where properties[key] == nil { properties[key] = [:] }
        return ["type": "object", "required": ["type"], "additionalProperties": false,
                "properties": .map(properties), "allOf": .list(branches)]
    }

    static func providersDefinition(_ registry: ProviderRegistry) -> Value {
        var patterns: [String: Value] = [:]
        for name in registry.providers.keys.sorted() {
            guard let provider = registry.provider(named: name) else { continue }
            let config: Value = provider.configurationSchema.isEmpty
                ? ["type": ["object", "null"]]
                : ["anyOf": [object(provider.configurationSchema, description: "settings of provider \(name)"), ["type": "null"]]]
            // `aws` and a second configuration such as `aws.backup`.
            patterns["^\(name)(\\..+)?$"] = config
        }
        return ["type": "object", "patternProperties": .map(patterns), "additionalProperties": false]
    }

    static func variableDefinition() -> Value {
        let declaration: Value = ["type": "object", "additionalProperties": false, "properties": [
            "type": ["enum": ["string", "number", "bool", "list", "map", "any"]],
            "default": [:], "sensitive": ["type": "boolean"], "description": ["type": "string"],
        ]]
        // `name: value` is shorthand for a default; a map with other keys is a declaration.
        return ["anyOf": [declaration, ["not": ["type": "object"]]]]
    }

    static func outputDefinition() -> Value {
        ["type": "object", "required": ["value"], "additionalProperties": false, "properties": [
            "value": [:], "sensitive": ["type": "boolean"], "description": ["type": "string"],
        ]]
    }

    static func checkDefinition() -> Value {
        var properties: [String: Value] = ["description": ["type": "string"], "timeout": ["type": ["string", "number"]],
                                           "retries": ["type": "integer", "minimum": 0, "maximum": 100],
                                           "when": ["type": ["boolean", "string"], "description": "a condition: the check is skipped when it is false"]]
        for (kind, keys) in StackLoader.probeKeys {
            properties[kind.rawValue] = ["type": "object", "additionalProperties": false,
                                         "properties": .map(Dictionary(uniqueKeysWithValues: keys.map { ($0, [:]) }))]
        }
        properties["expect"] = ["type": "object", "additionalProperties": false,
                                "properties": .map(Dictionary(uniqueKeysWithValues: StackLoader.expectKeys.map { ($0, [:]) }))]
        return ["type": "object", "required": ["expect"], "additionalProperties": false, "properties": .map(properties)]
    }
}

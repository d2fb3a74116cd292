import Foundation
import EthstackModel
import EthstackProviderAPI

/// `core.data` and `core.sleep`: resources that live only in ethstack's state.
public struct CoreProvider: Provider {
    public init() {}
    public var name: String { "core" }

    public var resourceSchemas: [ResourceSchema] {
        [
            ResourceSchema(type: "core.data", description: "Stores a value in state, like Terraform's terraform_data: `output` mirrors `input`; a change to `triggers` replaces it.", attributes: [
                AttributeSchema("input", .any, .optional(default: nil), description: "Any value; exposed again as `output`."),
                AttributeSchema("triggers", .any, .optional(default: nil), forcesReplacement: true,
                                description: "Any value; a change replaces the resource."),
                AttributeSchema("id", .string, .computed, description: "A random id, fixed at creation."),
                AttributeSchema("output", .any, .computed, description: "The value of `input` after apply."),
            ]),
            ResourceSchema(type: "core.sleep", description: "Waits on create and/or destroy.", attributes: [
                AttributeSchema("create_duration", .string, .optional(default: nil), description: "How long create waits: 30s, 1m30s, 500ms."),
                AttributeSchema("destroy_duration", .string, .optional(default: nil), description: "How long delete waits."),
                AttributeSchema("triggers", .any, .optional(default: nil), forcesReplacement: true,
                                description: "Any value; a change replaces the resource."),
                AttributeSchema("id", .string, .computed, description: "The time of creation, RFC 3339."),
            ]),
        ]
    }

    public func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider {
        ConfiguredCore()
    }
}

struct ConfiguredCore: ConfiguredProvider {
    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        // Nothing exists outside state: what state recorded is what exists.
        ReadResponse(id: request.id, attributes: request.prior)
    }

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        var planned = request.proposed
        if request.type == "core.data" {
            planned["output"] = request.proposed["input"] ?? .null
        }
        return PlanChangeResponse(planned: planned)
    }

    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        var attributes = request.planned
        switch request.type {
        case "core.data":
            let id = UUID().uuidString.lowercased()
            attributes["id"] = .string(id)
            attributes["output"] = request.planned["input"] ?? .null
            return ApplyResponse(id: id, attributes: attributes)
        case "core.sleep":
            if let text = request.planned["create_duration"]?.stringValue {
                try await sleep(text, operation: "create", address: request.address, progress: request.progress)
            }
            let id = ISO8601DateFormatter().string(from: Date())
            attributes["id"] = .string(id)
            return ApplyResponse(id: id, attributes: attributes)
        default:
            throw ProviderError(.unsupported, operation: "create", address: request.address, message: "unknown type \(request.type)")
        }
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        var attributes = request.planned
        attributes["id"] = .string(request.id)
        if request.type == "core.data" { attributes["output"] = request.planned["input"] ?? .null }
        return ApplyResponse(id: request.id, attributes: attributes)
    }

    func delete(_ request: DeleteRequest) async throws {
        if request.type == "core.sleep", let text = request.prior["destroy_duration"]?.stringValue {
            try await sleep(text, operation: "delete", address: request.address, progress: request.progress)
        }
    }

    func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        // There is nothing outside state to adopt; importing creates the record with the given id.
        ReadResponse(id: request.id, attributes: ["id": .string(request.id), "input": .null, "output": .null, "triggers": .null])
    }

    private func sleep(_ text: String, operation: String, address: ResourceAddress, progress: ProgressReporter) async throws {
        guard let seconds = parseDuration(text) else {
            throw ProviderError(.invalidInput, operation: operation, address: address,
                                message: "\"\(text)\" is not a duration (use e.g. 500ms, 30s, 1m30s, 2h; at most \(Int(maxDurationSeconds))s)")
        }
        progress("sleeping \(text)")
        try await Task.sleep(nanoseconds: saturatingNanoseconds(seconds))
    }
}

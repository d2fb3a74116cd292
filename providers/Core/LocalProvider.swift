import Crypto
import Foundation
import EthstackModel
import EthstackProviderAPI

/// `local.file`: a file on the machine running ethstack, written atomically.
public struct LocalProvider: Provider {
    public init() {}
    public var name: String { "local" }

    public var resourceSchemas: [ResourceSchema] {
        [
            ResourceSchema(type: "local.file", description: "A file written atomically (temporary file + rename).", attributes: [
                AttributeSchema("path", .string, .required, forcesReplacement: true,
                                description: "Where to write the file; relative paths are relative to the stack file."),
                AttributeSchema("content", .string, .required, description: "The file's content."),
                AttributeSchema("file_permission", .string, .optional(default: "0644"), description: "Octal mode, e.g. \"0600\"."),
                AttributeSchema("id", .string, .computed, description: "The file's absolute path."),
                AttributeSchema("sha256", .string, .computed, description: "sha256 of the content, hex."),
            ]),
        ]
    }

    public func configure(_ configuration: ProviderConfiguration) async throws -> any ConfiguredProvider {
        ConfiguredLocal(baseDirectory: configuration.baseDirectory)
    }
}

struct ConfiguredLocal: ConfiguredProvider {
    let baseDirectory: String

    func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
        return (full as NSString).standardizingPath
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    func read(_ request: ReadRequest) async throws -> ReadResponse? {
        guard let path = request.prior["path"]?.stringValue else { return nil }
        let full = absolute(path)
        guard let data = FileManager.default.contents(atPath: full) else { return nil }
        var attributes = request.prior
        attributes["content"] = .string(String(decoding: data, as: UTF8.self))
        attributes["sha256"] = .string(Self.sha256(data))
        attributes["id"] = .string(full)
        if let attrs = try? FileManager.default.attributesOfItem(atPath: full),
           let mode = attrs[.posixPermissions] as? NSNumber {
            attributes["file_permission"] = .string(String(format: "%04o", mode.intValue & 0o7777))
        }
        return ReadResponse(id: full, attributes: attributes)
    }

    func planChange(_ request: PlanChangeRequest) async throws -> PlanChangeResponse {
        var planned = request.proposed
        if let content = request.proposed["content"], case .string(let s) = content.unmarked {
            // The hash of a secret is as good as the secret for a short one: keep it sensitive too.
            let hash = Value.string(Self.sha256(Data(s.utf8)))
            planned["sha256"] = content.isSensitive ? hash.markedSensitive : hash
        }
        if let path = request.proposed["path"]?.stringValue {
            planned["id"] = .string(absolute(path))
            // The same file spelt another way (relative here, absolute after an import) is no change.
            if let priorPath = request.prior?["path"]?.stringValue, priorPath != path, absolute(priorPath) == absolute(path) {
                planned["path"] = .string(priorPath)
            }
        }
        if let mode = request.proposed["file_permission"]?.stringValue, let n = Int(mode, radix: 8) {
            planned["file_permission"] = .string(String(format: "%04o", n))
        }
        return PlanChangeResponse(planned: planned)
    }

    func create(_ request: CreateRequest) async throws -> ApplyResponse {
        try write(request.planned, address: request.address, operation: "create")
    }

    func update(_ request: UpdateRequest) async throws -> ApplyResponse {
        try write(request.planned, address: request.address, operation: "update")
    }

    func delete(_ request: DeleteRequest) async throws {
        guard let path = request.prior["path"]?.stringValue else { return }
        let full = absolute(path)
        if unlink(full) != 0, errno != ENOENT {
            throw ProviderError(.failed, operation: "delete \(full)", address: request.address, message: String(cString: strerror(errno)))
        }
    }

    func importResource(_ request: ImportRequest) async throws -> ReadResponse? {
        try await read(ReadRequest(type: request.type, address: request.address, id: request.id,
                                   prior: ["path": .string(request.id), "file_permission": "0644"]))
    }

    /// A create that was in flight when ethstack stopped: adopt the file if it holds what we meant to write.
    func find(_ request: FindRequest) async throws -> ReadResponse? {
        guard let path = request.planned["path"]?.stringValue,
              let found = try await read(ReadRequest(type: request.type, address: request.address, id: path, prior: request.planned))
        else { return nil }
        return found.attributes["content"]?.stringValue == request.planned["content"]?.stringValue ? found : nil
    }

    private func write(_ planned: [String: Value], address: ResourceAddress, operation: String) throws -> ApplyResponse {
        guard let path = planned["path"]?.stringValue else {
            throw ProviderError(.invalidInput, operation: operation, address: address, message: "path is not set")
        }
        let content = planned["content"]?.unmarked.stringValue ?? ""
        let modeText = planned["file_permission"]?.stringValue ?? "0644"
        guard let mode = Int(modeText, radix: 8), mode >= 0, mode <= 0o7777 else {
            throw ProviderError(.invalidInput, operation: operation, address: address, message: "file_permission \"\(modeText)\" is not an octal mode like 0644")
        }
        let full = absolute(path)
        let directory = (full as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ProviderError(.failed, operation: "\(operation) \(directory)", address: address, message: "\(error.localizedDescription)")
        }
        // Write a temporary file beside the target and rename it over: readers never see half a file.
        let temp = directory + "/." + ((full as NSString).lastPathComponent) + ".ethstack-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let data = Data(content.utf8)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, mode_t(mode))
        guard fd >= 0 else {
            throw ProviderError(.failed, operation: "\(operation) \(full)", address: address, message: String(cString: strerror(errno)))
        }
        var ok = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fchmod(fd, mode_t(mode)) == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, full) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temp)
            throw ProviderError(.failed, operation: "\(operation) \(full)", address: address, message: message)
        }
        var attributes = planned
        attributes["id"] = .string(full)
        attributes["sha256"] = .string(Self.sha256(data))
        attributes["file_permission"] = .string(String(format: "%04o", mode))
        return ApplyResponse(id: full, attributes: attributes)
    }
}

/// The built-in providers, for the executable to register.
public enum BuiltinProviders {
    public static var all: [any Provider] { [CoreProvider(), LocalProvider()] }
}

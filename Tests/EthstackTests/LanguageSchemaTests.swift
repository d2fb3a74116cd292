import AWSProvider
import CoreProvider
import Foundation
import HelmProvider
import KubernetesProvider
import KurtosisProvider
import Testing
@testable import EthstackEngine
@testable import EthstackProviderAPI
@testable import EthstackModel
@testable import EthstackYAML

/// The JSON Schema of the stack language: the published file is the generator's output, every
/// shipped stack satisfies it, and it rejects what the loader rejects (a misspelt property).
@Suite struct LanguageSchemaTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let publishedPath = "\(repository)/schema/ethstack-stack.schema.json"

    /// The providers the `ethstack` executable registers.
    static let cliProviders: [any Provider] = [AWSProvider(), KubernetesProvider(), HelmProvider(), KurtosisProvider()]

    static func generated() -> String {
        StackJSONSchema.generate(registry: ProviderRegistry(BuiltinProviders.all + Self.cliProviders)).jsonString(pretty: true) + "\n"
    }

    static func validator() throws -> JSONSchemaValidator {
        JSONSchemaValidator(root: try Value.parseJSON(try String(contentsOfFile: publishedPath, encoding: .utf8)))
    }

    static func document(_ yaml: String) throws -> Value {
        try YAMLParser.parse(yaml, file: "s.yaml").first?.value ?? .null
    }

    @Test func thePublishedFileIsTheCommandsOutput() throws {
        let published = try String(contentsOfFile: Self.publishedPath, encoding: .utf8)
        let r = try EthstackBinary.run(["schema", "--json"], in: Self.repository)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == published, "regenerate it: ethstack schema --json > schema/ethstack-stack.schema.json")
        #expect(Self.generated() == published)
    }

    @Test func everyResourceTypeIsDescribed() throws {
        let schema = try Value.parseJSON(try String(contentsOfFile: Self.publishedPath, encoding: .utf8))
        let definitions = schema["definitions"]?.mapValue ?? [:]
        let registry = ProviderRegistry(BuiltinProviders.all + Self.cliProviders)
        #expect(registry.resourceTypes.count > 20)
        for type in registry.resourceTypes {
            let settable = registry.schema(for: type)?.attributes.filter(\.isSettable).map(\.name) ?? []
            let properties = definitions[type]?["properties"]?.mapValue?.keys.sorted() ?? []
            #expect(properties == settable.sorted(), "\(type)")
        }
        #expect(definitions["aws.vpc"]?["required"] == ["cidr_block"])
        #expect(definitions["aws.vpc"]?["properties"]?["cidr_block"]?["description"]?.stringValue?.isEmpty == false)
    }

    @Test func everyShippedStackSatisfiesTheSchema() throws {
        let validator = try Self.validator()
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(Self.repository)/stacks").filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 3)
        for file in files {
            let text = try String(contentsOfFile: "\(Self.repository)/stacks/\(file)", encoding: .utf8)
            let problems = validator.validate(try Self.document(text))
            #expect(problems.isEmpty, "\(file): \(problems)")
        }
    }

    @Test func misspeltAndMistypedPropertiesAreRejected() throws {
        let validator = try Self.validator()
        let good = """
        stack: demo
        variables: { cidr: 10.0.0.0/16, n: { type: number, default: 2 } }
        resources:
          vpc:
            type: aws.vpc
            count: '${var.n}'
            properties: { cidr_block: '${var.cidr}', enable_dns_hostnames: true }
        outputs:
          id: { value: '${vpc[0].id}' }
        """
        #expect(validator.validate(try Self.document(good)).isEmpty)
        let misspelt = good.replacingOccurrences(of: "enable_dns_hostnames", with: "enable_dns_hostname")
        #expect(validator.validate(try Self.document(misspelt)).contains("/resources/vpc/properties: property \"enable_dns_hostname\" is not allowed"))
        let mistyped = good.replacingOccurrences(of: "enable_dns_hostnames: true", with: "enable_dns_hostnames: [1]")
        #expect(!validator.validate(try Self.document(mistyped)).isEmpty)
        let missing = good.replacingOccurrences(of: "cidr_block: '${var.cidr}', ", with: "")
        #expect(validator.validate(try Self.document(missing)).contains("/resources/vpc/properties: missing required property \"cidr_block\""))
        let unknownType = good.replacingOccurrences(of: "aws.vpc", with: "aws.vcp")
        #expect(!validator.validate(try Self.document(unknownType)).isEmpty)
        let unknownKey = good.replacingOccurrences(of: "count:", with: "cuont:")
        #expect(validator.validate(try Self.document(unknownKey)).contains("/resources/vpc: property \"cuont\" is not allowed"))
        let topLevel = good.replacingOccurrences(of: "outputs:", with: "output:")
        #expect(validator.validate(try Self.document(topLevel)).contains(": property \"output\" is not allowed"))
    }
}

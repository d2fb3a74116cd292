import ArgumentParser
import EthstackEngine
import EthstackModel

struct SchemaCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print a JSON Schema of the stack language, for editors.",
        discussion: """
        Generated from the providers' schemas: every resource type's properties, their types, \
        descriptions and required keys. The same file is published as \
        schema/ethstack-stack.schema.json. For the YAML language server, put this line at the top \
        of a stack file:
          # yaml-language-server: $schema=../schema/ethstack-stack.schema.json

        Example:
          ethstack schema --json > ethstack-stack.schema.json
        """)

    @Flag(name: .long, help: "Print JSON (the only format; accepted for scripts that say so).")
    var json = false

    func execute() async throws {
        printOut(StackJSONSchema.generate(registry: Providers.registry).jsonString(pretty: true) + "\n")
    }
}

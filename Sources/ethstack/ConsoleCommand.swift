import ArgumentParser
import EthstackEngine
import EthstackModel
import Foundation

struct ConsoleCommand: EthstackCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Evaluate expressions against the stack's variables and recorded state.",
        discussion: """
        Reads one expression per line (without ${ }), from a terminal with a prompt or from stdin \
        for scripts, and prints each value: strings quoted, lists and maps as JSON, sensitive \
        values as (sensitive value), what state has not recorded as (known after apply). Names: \
        var.NAME, resources as recorded (NAME.attr, NAME[0].attr, NAME[*].attr), outputs.NAME. \
        Errors are printed with <console>:line:column and evaluation goes on; the exit status is 1 \
        when a line failed. Reads state only: no lock, no provider. A required variable without a \
        value is unknown.

        Examples:
          echo 'cidrsubnet("10.0.0.0/16", 4, 2)' | ethstack console --stack stacks/example.yaml
          ethstack console --stack stacks/ethereum-testnet.yaml
          > [for s in aws_subnet[*] : s.cidr_block]
        """)

    @OptionGroup var stackOptions: StackOptions
    @OptionGroup var stateOptions: StateOptions

    func execute() async throws {
        let session = try stackOptions.open(unsetRequiredIsUnknown: true)
        let name = session.stack.name
        let state = try await stateOptions.withStore(for: name, create: false) { try await $0?.load(stack: name) } ?? .empty(name)
        let console = Console(scope: .recorded(stack: session.stack, variables: session.variables, state: state))
        let interactive = isatty(0) == 1
        var failed = false
        var number = 0
        while true {
            if interactive { FileHandle.standardError.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            number += 1
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { continue }
            if interactive, text == "exit" || text == "quit" { break }
            switch console.answer(text, lineNumber: number) {
            case .success(let shown):
                printOut(shown + "\n")
            case .failure(let error):
                failed = true
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
            }
        }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        if failed { throw ExitCode(1) }
    }
}

import Foundation
import Testing
@testable import EthstackLanguage
@testable import EthstackModel

/// The README's first command plans the whole seed stack on a fresh machine: no cloud account, no
/// secrets, the embedded SQLite default. Credentials are needed only when a call is made; a
/// required secret without a value is unknown in a plan and refused by apply.
@Suite struct FirstCommandTests {
    /// The machine's environment without AWS credentials, ethstack variables or state settings.
    static var freshEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("AWS_") && !key.hasPrefix("ETHSTACK_")
        }
        env["HOME"] = "/nonexistent"  // no ~/.aws
        env["NO_COLOR"] = "1"
        return env
    }

    @Test func theSeedStackPlansWithoutCredentialsOrSecretsAndApplyRefuses() async throws {
        let dir = try KTS.tempDir("first-command")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/stacks", withDestinationPath: "\(EndToEnd.repository)/stacks")

        let plan = try await KTS.run(EthstackBinary.path, ["plan", "--stack", "stacks/ethereum-testnet.yaml"],
                                     env: Self.freshEnvironment, cwd: dir, timeout: 60)
        #expect(plan.status == 0, "\(plan.stdout.suffix(2000))\n\(plan.stderr)")
        #expect(plan.stdout.contains("to add, 0 to change, 0 to destroy."), "\(plan.stdout.suffix(500))")
        #expect(plan.stdout.contains("(sensitive value)"))
        // The plan wrote no state (the default path, state/eth-testnet.db, relative to the directory).
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/state/eth-testnet.db"))

        // apply refuses before any call, naming the secret and how to give it.
        let apply = try await KTS.run(EthstackBinary.path, ["apply", "--stack", "stacks/ethereum-testnet.yaml", "--auto-approve"],
                                      env: Self.freshEnvironment, cwd: dir, timeout: 60)
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("\"validator_mnemonic\" is required but has no value"), "\(apply.stderr)")
        #expect(apply.stderr.contains("ETHSTACK_VAR_validator_mnemonic"))
    }

    @Test func aMissingSensitiveVariableIsUnknownOnlyWhenAskedFor() throws {
        let declarations = [
            VariableDeclaration(name: "secret", location: .unknown, type: .string, sensitive: true),
            VariableDeclaration(name: "plain", location: .unknown, type: .string, defaultValue: "x", sensitive: false),
        ]
        var inputs = VariableInputs(environment: [:])
        #expect(throws: DiagnosticsError.self) { try VariableValues.resolve(declarations, inputs: inputs) }
        inputs.unsetSensitiveIsUnknown = true
        let values = try VariableValues.resolve(declarations, inputs: inputs)
        #expect(values["secret"]?.isUnknown == true && values["secret"]?.containsSensitive == true)
        #expect(values["plain"] == "x")
        // A required variable that is not sensitive is still an error: only secrets may be absent.
        let required = [VariableDeclaration(name: "region", location: .unknown, type: .string, sensitive: false)]
        #expect(throws: DiagnosticsError.self) { try VariableValues.resolve(required, inputs: inputs) }
        // A given value wins.
        inputs.assignments = ["secret=s3cret"]
        #expect(try VariableValues.resolve(declarations, inputs: inputs)["secret"]?.unmarked == "s3cret")
    }
}

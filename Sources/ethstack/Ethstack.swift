import AWSProvider
import ArgumentParser
import CoreProvider
import EthstackEngine
import KubernetesProvider
import Foundation
import HelmProvider
import KurtosisProvider
import EthstackProviderAPI

@main
struct Ethstack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ethstack",
        abstract: "Declarative plan/apply for Ethereum testnets on Kubernetes.",
        discussion: """
        One YAML stack file describes the deployment; ethstack plans the changes against the state it \
        recorded in SQLite and applies them in dependency order.

        Example:
          ethstack plan --stack stacks/example.yaml
          ethstack apply --stack stacks/example.yaml --auto-approve
        """,
        version: PlanJSON.version,
        subcommands: [Validate.self, PlanCommand.self, ApplyCommand.self, DestroyCommand.self, ImportCommand.self, DriftCommand.self, GraphCommand.self,
                      OutputCommand.self, StateCommand.self, LockCommand.self, CheckCommand.self, LintCommand.self, CostCommand.self,
                      SchemaCommand.self, ConsoleCommand.self]
    )
}

/// The providers this executable offers.
enum Providers {
    static var registry: ProviderRegistry {
        ProviderRegistry(BuiltinProviders.all + [AWSProvider(), KubernetesProvider(), HelmProvider(), KurtosisProvider()])
    }
}

import Foundation
import KubeTestServer
@testable import KurtosisProvider
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackYAML

/// The whole seed shape through the real pipeline: a Helm release (real helm), the Kurtosis engine
/// and an 8-participant reth/lighthouse enclave (the stand-in kurtosis), all against the API test server.
@Suite(.serialized) struct KurtosisProviderTests {
    static func stack(kubeconfig: String, host: String, helm: String, configDir: String) -> String {
        """
        stack: testnet
        variables:
          greeting: { type: string, default: hello }
          genesis_delay: { type: number, default: 120 }
          grafana_password: { type: string, sensitive: true, default: "graf-s3cret" }
        providers:
          helm: { kubeconfig: "\(kubeconfig)", helm_path: "\(helm)" }
          kurtosis: { host: "\(host)", token: "t0ken-s3cret", kurtosis_path: "\(CLITools.kurtosisStandin)", config_dir: "\(configDir)" }
        resources:
          monitoring:
            type: helm.release
            properties:
              name: monitoring
              namespace: monitoring
              create_namespace: true
              chart: ./charts/tiny
              values: { greeting: "${var.greeting}" }
              sensitive_values: { password: "${var.grafana_password}" }
          engine:
            type: kurtosis.engine
            properties:
              storage_class: gp3
              node_selectors: { role: kurtosis }
          testnet:
            type: kurtosis.enclave
            depends_on: [engine]
            properties:
              name: testnet
              package: github.com/ethpandaops/ethereum-package
              ref: "6.1.0"
              args:
                participants:
                  - el_type: reth
                    cl_type: lighthouse
                    count: 8
                    validator_count: 32
                network_params:
                  network: kurtosis
                  genesis_delay: "${var.genesis_delay}"
                additional_services: [prometheus, grafana]
        outputs:
          rpc_port: { value: "${testnet.ports[\\"el-1-reth-lighthouse\\"].rpc}" }
        """
    }

    @Test(.timeLimit(.minutes(5))) func seedStackAppliesPlansEmptyReplacesOnArgsShowsDriftAndDestroys() async throws {
        guard let helm = KTS.helmPath() else {
            Issue.record("helm not found: run Tests/Support/install-helm.sh"); return
        }
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let ws = Workspace(registry: CLITools.registry)
        let kubeconfig = try KTS.kubeconfig(server, in: ws.dir)
        CLITools.writeTinyChart(ws)
        let configDir = "\(ws.dir)/kurtosis-config"
        ws.write("stack.yaml", Self.stack(kubeconfig: kubeconfig, host: server.url, helm: helm, configDir: configDir))

        let first = try await ws.plan()
        #expect(first.toAdd == 3)
        let applied = try await ws.apply()
        #expect(applied.succeeded && applied.created == 3, "\(applied.failures)")

        // What the engine created, as the real one would.
        let engineNamespaces = server.objects(resource: "namespaces").compactMap { $0.at("metadata.name")?.stringValue }
            .filter { $0.hasPrefix("kurtosis-engine-") }
        #expect(engineNamespaces.count == 1)
        let services = server.objects(resource: "services", namespace: "kt-testnet")
        #expect(services.count == 8 * 3 + 2)
        let pods = server.objects(resource: "pods", namespace: "kt-testnet")
        #expect(pods.allSatisfy { $0.at("status.phase") == "Running" })
        #expect(pods.allSatisfy { $0.at("spec.restartPolicy") == "Always" })  // --production
        let config = try String(contentsOfFile: "\(configDir)/kurtosis/kurtosis-config.yml", encoding: .utf8)
        #expect(config.contains("storage-class: \"gp3\"") && config.contains("\"role\": \"kurtosis\""))
        let argv = try String(contentsOfFile: "\(configDir)/kurtosis/standin-argv.log", encoding: .utf8)
        #expect(argv.contains(#"["cluster", "set", "ethstack"]"#))
        #expect(!argv.contains("t0ken-s3cret"))  // the token travels in the private kubeconfig only
        let runLine = try #require(argv.split(separator: "\n").first { $0.hasPrefix(#"["run""#) })
        #expect(runLine.contains(#""--enclave", "testnet", "--args-file""#))
        #expect(runLine.contains(#""--production", "--image-download", "missing", "github.com/ethpandaops/ethereum-package@6.1.0"]"#))

        let state = try await ws.state("testnet")
        let enclave = try #require(state.resources[("testnet" as ResourceAddress)])
        #expect(enclave.attributes["namespace"] == "kt-testnet")
        #expect(enclave.attributes["status"] == "running")
        let names = enclave.attributes["services"]?.listValue?.compactMap(\.stringValue) ?? []
        #expect(names.count == 26 && names.contains("el-8-reth-lighthouse") && names.contains("cl-1-lighthouse-reth")
                && names.contains("vc-1-reth-lighthouse"))
        #expect(enclave.attributes["ports"]?["el-1-reth-lighthouse"]?["rpc"]?.intValue == 8545)
        #expect(enclave.attributes["ports"]?["cl-1-lighthouse-reth"]?["http"]?.intValue == 4000)
        #expect(state.outputs["rpc_port"]?.value.intValue == 8545)
        #expect(state.resources[("engine" as ResourceAddress)]?.attributes["status"] == "running")

        // Nothing changed: an empty plan.
        let second = try await ws.plan()
        #expect(!second.hasResourceChanges, "\(CLITools.text(second))")
        #expect(second.drift.isEmpty, "\(second.drift.map(\.attributes))")

        // A values change updates the release in place; the enclave stays.
        let values = try await ws.plan(vars: ["greeting=bonjour"])
        #expect(values.changes.first { $0.address.description == "monitoring" }?.action == .update)
        #expect(values.changes.first { $0.address.description == "testnet" }?.action == .noop)
        #expect(!CLITools.text(values).contains("graf-s3cret"))

        // An args change replaces the enclave, and the plan says which attribute forces it.
        let args = try await ws.plan(vars: ["genesis_delay=300"])
        let replace = try #require(args.changes.first { $0.address.description == "testnet" })
        #expect(replace.action == .replace && replace.replacePaths == ["args"])
        #expect(CLITools.text(args).contains("forces replacement"))
        #expect(CLITools.text(args).contains("# testnet must be replaced (Kurtosis cannot update an enclave in place)"))
        let replaced = try await ws.apply(vars: ["genesis_delay=300"])
        #expect(replaced.succeeded && replaced.replaced == 1, "\(replaced.failures)")
        #expect(server.objects(resource: "services", namespace: "kt-testnet").count == 26)

        // A pod deleted behind ethstack's back: drift with the reason and a warning saying how to
        // repair it, but no new enclave (that would be a new genesis) unless asked with --replace.
        try server.delete(resource: "pods", namespace: "kt-testnet", name: "el-3-reth-lighthouse")
        let drift = try await ws.plan(vars: ["genesis_delay=300"])
        let entry = try #require(drift.drift.first { $0.address.description == "testnet" })
        #expect(entry.attributes.contains("status"))
        #expect(entry.after?["status"]?.stringValue?.contains("pod el-3-reth-lighthouse missing") == true)
        #expect(drift.changes.first { $0.address.description == "testnet" }?.action == .noop)
        #expect(drift.warnings.contains { $0.contains("testnet: enclave testnet is degraded: pod el-3-reth-lighthouse missing; it is not replaced")
                                          && $0.contains("kurtosis service start testnet SERVICE") && $0.contains("--replace testnet") },
                "\(drift.warnings)")
        #expect(!drift.hasResourceChanges)
        var replaceOptions = PlanOptions()
        replaceOptions.replace = [try #require(ResourceAddress("testnet"))]
        let asked = try await ws.plan(vars: ["genesis_delay=300"], options: replaceOptions)
        #expect(asked.changes.first { $0.address.description == "testnet" }?.action == .replace)

        // Destroy removes all of it.
        let destroyed = try await ws.apply(vars: ["genesis_delay=300"], destroy: true)
        #expect(destroyed.succeeded && destroyed.deleted == 3, "\(destroyed.failures)")
        #expect(server.object(resource: "namespaces", name: "kt-testnet") == nil)
        #expect(server.objects(resource: "namespaces").allSatisfy { !($0.at("metadata.name")?.stringValue ?? "").hasPrefix("kurtosis-engine-") })
        #expect(server.object(resource: "configmaps", namespace: "monitoring", name: "monitoring-config") == nil)
        #expect(try await ws.state("testnet").resources.isEmpty)
    }

    @Test func argsTypoInTheStackFailsWithLineAndColumn() throws {
        let ws = Workspace(registry: CLITools.registry)
        let text = """
        stack: typo
        resources:
          testnet:
            type: kurtosis.enclave
            properties:
              name: testnet
              args:
                participants:
                  - el_tpye: reth
                    count: 8
                network_params: { genesis_dealy: 20 }
                additional_services: [prometheus, grafanna]
        """
        ws.write("stack.yaml", text)
        let ds = ws.diagnostics()
        #expect(ds.count == 3, "\(ds)")
        let typo = try #require(ds.first { $0.message.contains("el_tpye") })
        #expect(typo.location?.line == 9 && typo.location?.column == 13, "\(typo)")
        #expect(typo.location?.file.hasSuffix("stack.yaml") == true)
        #expect(typo.hint == "did you mean \"el_type\"?")
        #expect(ds.contains { $0.message.contains("genesis_dealy") && $0.hint == "did you mean \"genesis_delay\"?" && $0.location?.line == 11 })
        #expect(ds.contains { $0.message.contains("grafanna") && $0.hint == "did you mean \"grafana\"?" })
    }

    @Test func argsTypoInAFilePointsIntoTheFile() throws {
        let ws = Workspace(registry: CLITools.registry)
        ws.write("args.yaml", """
        # network_params for 8 reth + lighthouse
        participants:
          - el_type: reth
            cl_tpye: lighthouse
            count: 8
        """)
        ws.write("stack.yaml", """
        stack: typo
        resources:
          testnet:
            type: kurtosis.enclave
            properties:
              name: testnet
              args: '${yamldecode(file("args.yaml"))}'
        """)
        let ds = ws.diagnostics()
        let typo = try #require(ds.first)
        #expect(ds.count == 1)
        #expect(typo.location?.file.hasSuffix("args.yaml") == true, "\(typo)")
        #expect(typo.location?.line == 4 && typo.location?.column == 5, "\(typo)")
        #expect(typo.hint == "did you mean \"cl_type\"?")
        #expect("\(typo)".contains("args.yaml:4:5"))
    }

    /// Args that only exist after evaluation (a variable) are checked when planned, without positions.
    @Test func argsFromAVariableAreCheckedAtPlanTime() async throws {
        let ws = Workspace(registry: CLITools.registry)
        ws.write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: 'http://127.0.0.1:9'}}]\nusers: [{name: t, user: {}}]\ncontexts: [{name: t, context: {cluster: t, user: t}}]\ncurrent-context: t\n")
        ws.write("stack.yaml", """
        stack: vars
        variables:
          args: { type: map, default: { participants: [ { el_tpye: reth } ] } }
        providers:
          kurtosis: { kubeconfig: kubeconfig, kurtosis_path: "\(CLITools.kurtosisStandin)", config_dir: kt }
        resources:
          net: { type: kurtosis.enclave, properties: { name: net, args: "${var.args}" } }
        """)
        #expect(ws.diagnostics().isEmpty)
        await #expect { try await ws.plan() } throws: {
            "\($0)".contains("participants[0].el_tpye") && "\($0)".contains("did you mean \"el_type\"?")
        }
    }

    @Test func otherPackagesAndRefsAreNotCheckedAgainstTheseLists() throws {
        let ws = Workspace(registry: CLITools.registry)
        ws.write("stack.yaml", """
        stack: other
        resources:
          a: { type: kurtosis.enclave, properties: { name: a, ref: "5.0.0", args: { el_tpye: x } } }
          b: { type: kurtosis.enclave, properties: { name: b, package: github.com/example/pkg, args: { anything: 1 } } }
        """)
        #expect(ws.diagnostics().isEmpty)
    }

    @Test func embeddedAllowListsEqualTheReferenceFile() throws {
        let repoCopy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("providers/Kurtosis/ethereum-package-6.1.0-allowed-keys.json").path
        let copy = try String(contentsOfFile: repoCopy, encoding: .utf8)
        #expect(copy.trimmingCharacters(in: .newlines) == EthereumPackageAllowedKeys.json)
        let shared = "/work/shared/reference/ethereum-package-6.1.0-allowed-keys.json"
        if let reference = try? String(contentsOfFile: shared, encoding: .utf8) {
            #expect(reference == copy)
        }
        #expect(EthereumPackageArgsValidator.shared != nil)
    }

    @Test func theExampleArgsFilePasses() throws {
        let path = "/work/shared/reference/network_params.8x-reth-lighthouse.example.yaml"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let doc = try #require(try YAMLParser.parse(text, file: path).first)
        let problems = try #require(EthereumPackageArgsValidator.shared).validate(ArgsNode(doc))
        #expect(problems.isEmpty, "\(problems.map(\.message))")
    }
}

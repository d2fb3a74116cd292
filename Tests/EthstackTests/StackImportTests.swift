@testable import AWSProvider
import Foundation
import KubeTestServer
import KubernetesProvider
import Testing
@testable import EthstackEngine
@testable import EthstackModel

/// `import:` entries in a stack: existing objects adopted through a plan and an apply, like any change.
@Suite struct StackImportTests {
    /// Two files that exist before the stack does, and a stack that adopts them with one entry.
    static func adoptingWorkspace(content b: String = "bravo") -> Workspace {
        let ws = Workspace()
        ws.write("existing-a.txt", "alpha")
        ws.write("existing-b.txt", b)
        ws.write("stack.yaml", """
        stack: adopt
        resources:
          files:
            type: local.file
            for_each: { a: alpha, b: bravo }
            properties: { path: "existing-${each.key}.txt", content: "${each.value}" }
          extra:
            type: core.data
            properties: { input: "${files[\\"a\\"].sha256}" }
        import:
          - to: files[each.key]
            for_each: { a: "\(ws.dir)/existing-a.txt", b: "\(ws.dir)/existing-b.txt" }
            id: "${each.value}"
        """)
        return ws
    }

    @Test func importsArePlannedThenAppliedAndTheStackPlansCleanAfterwards() async throws {
        let ws = Self.adoptingWorkspace()
        let plan = try await ws.plan()
        #expect(plan.toImport == 2)
        #expect(plan.toAdd == 1, "only extra is created")
        let imported = plan.changes.filter { $0.importID != nil }
        #expect(imported.map(\.address.description) == ["files[\"a\"]", "files[\"b\"]"])
        #expect(imported.allSatisfy { $0.action == .noop }, "the files match the stack")
        // What refers to an imported object sees its values at plan time.
        #expect(plan.changes.first { $0.address.name == "extra" }?.after?["input"]?.containsUnknown == false)

        let text = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(text.contains("# files[\"a\"] will be imported"), "\(text)")
        #expect(text.contains("Plan: 2 to import, 1 to add, 0 to change, 0 to destroy."), "\(text)")
        let json = try Value.parseJSON(PlanJSON.render(plan))
        #expect(json["summary"]?["import"]?.intValue == 2)
        let first = json["resource_changes"]?.listValue?.first { $0["address"] == "files[\"a\"]" }
        #expect(first?["change"]?["importing"]?["id"]?.stringValue == "\(ws.dir)/existing-a.txt")

        let summary = try await ws.apply()
        #expect(summary.succeeded, "\(summary.failures)")
        #expect(summary.imported == 2 && summary.created == 1 && summary.updated == 0, "\(summary.line)")
        #expect(summary.line.hasPrefix("2 imported, 1 added"))
        let state = try await ws.state("adopt")
        #expect(state.resources[ResourceAddress(name: "files", key: .key("b"))]?.id == "\(ws.dir)/existing-b.txt")

        // The entries stay in the stack: once recorded under the same id, they are done.
        let again = try await ws.plan()
        #expect(!again.hasChanges, "\(again.changes.filter { $0.action != .noop || $0.importID != nil }.map(\.address))")
        #expect(again.toImport == 0)
    }

    @Test func anImportedObjectThatDiffersIsImportedAndUpdatedInOneApply() async throws {
        let ws = Self.adoptingWorkspace(content: "changed by hand")
        let plan = try await ws.plan()
        let b = try #require(plan.changes.first { $0.address == ResourceAddress(name: "files", key: .key("b")) })
        #expect(b.importID != nil && b.action == .update)
        let text = PlanRenderer(style: TextStyle(color: false)).render(plan)
        #expect(text.contains("will be updated in place\n  # (imported from \"\(ws.dir)/existing-b.txt\")"), "\(text)")
        #expect(text.contains("Plan: 2 to import, 1 to add, 1 to change, 0 to destroy."), "\(text)")
        let summary = try await ws.apply()
        #expect(summary.succeeded && summary.imported == 2 && summary.updated == 1, "\(summary.line) \(summary.failures)")
        #expect(try String(contentsOfFile: "\(ws.dir)/existing-b.txt", encoding: .utf8) == "bravo")
        #expect(try await !ws.plan().hasChanges)
    }

    @Test func aSavedPlanKeepsItsImports() async throws {
        let ws = Self.adoptingWorkspace()
        let plan = try await ws.plan()
        let path = "\(ws.dir)/saved.plan"
        try PlanFile.write(plan, targets: [], replace: [], to: path)
        let saved = try PlanFile.read(path)
        #expect(saved.plan.toImport == 2)
        #expect(saved.plan.changes.compactMap(\.importID).sorted() == ["\(ws.dir)/existing-a.txt", "\(ws.dir)/existing-b.txt"])
    }

    @Test func importsToWhatTheStackDoesNotDeclareAreRefusedWithTheReason() async throws {
        let ws = Workspace()
        ws.write("a.txt", "alpha")
        func diagnostics(_ imports: String) async -> String {
            ws.write("stack.yaml", """
            stack: refuse
            resources:
              files:
                type: local.file
                for_each: { a: alpha }
                properties: { path: "${each.key}.txt", content: "${each.value}" }
              single:
                type: local.file
                properties: { path: a.txt, content: alpha }
            import:
            \(imports)
            """)
            do {
                _ = try await ws.plan()
                return ""
            } catch {
                return "\(error)"
            }
        }
        var text = await diagnostics("  - { to: file, id: \(ws.dir)/a.txt }")
        #expect(text.contains("import: no resource named \"file\""), "\(text)")
        #expect(text.contains("files"), "did you mean: \(text)")
        text = await diagnostics("  - { to: 'files[\"z\"]', id: \(ws.dir)/a.txt }")
        #expect(text.contains("the stack declares no instance files[\"z\"]"), "\(text)")
        #expect(text.contains("files[\"a\"]"), "\(text)")
        text = await diagnostics("  - { to: files, id: \(ws.dir)/a.txt }")
        #expect(text.contains("\"files\" has for_each: name an instance"), "\(text)")
        text = await diagnostics("  - { to: 'single[\"a\"]', id: \(ws.dir)/a.txt }")
        #expect(text.contains("has neither for_each nor count"), "\(text)")
        text = await diagnostics("  - { to: 'files[each.key]', id: \(ws.dir)/a.txt }")
        #expect(text.contains("\"each\" is only available"), "\(text)")
        text = await diagnostics("  - { to: single, id: \(ws.dir)/nothere.txt }")
        #expect(text.contains("import single:") && text.contains("does not exist"), "\(text)")
        text = await diagnostics("  - { to: single, id: \(ws.dir)/a.txt }\n  - { to: single, id: \(ws.dir)/a.txt }")
        #expect(text.contains("single is imported twice"), "\(text)")
        text = await diagnostics("  - { to: single }")
        #expect(text.contains("an import entry needs \"id\""), "\(text)")
        text = await diagnostics("  - { to: single, id: x, form: y }")
        #expect(text.contains("unknown key \"form\" in an import entry"), "\(text)")

        // Already in state under another id: refused, with the way out.
        _ = await diagnostics("  - { to: single, id: \(ws.dir)/a.txt }")
        #expect(try await ws.apply().succeeded)
        ws.write("b.txt", "alpha")
        text = await diagnostics("  - { to: single, id: \(ws.dir)/b.txt }")
        #expect(text.contains("single is already in state as \(ws.dir)/a.txt"), "\(text)")
        #expect(text.contains("ethstack state rm single"), "\(text)")
    }

    @Test func theCommandLineShowsAndAppliesImports() throws {
        let ws = Self.adoptingWorkspace()
        var r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--detailed-exitcode"], in: ws.dir)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stdout.contains("Plan: 2 to import, 1 to add, 0 to change, 0 to destroy."), "\(r.stdout)")
        r = try EthstackBinary.run(["apply", "--stack", "stack.yaml", "--auto-approve"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("files[\"a\"]: imported"), "\(r.stdout)")
        #expect(r.stdout.contains("2 imported, 1 added"), "\(r.stdout)")
        r = try EthstackBinary.run(["plan", "--stack", "stack.yaml", "--detailed-exitcode"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("No changes."))
        r = try EthstackBinary.run(["drift", "--stack", "stack.yaml"], in: ws.dir)
        #expect(r.status == 0, "\(r.stdout)")
    }
}

/// `import:` against the real servers: objects made directly through the AWS API (moto) and the
/// Kubernetes API (the test server), adopted by a stack.
@Suite(.timeLimit(.minutes(5)))
struct StackImportServerTests {
    @Test(.enabled(if: AWSTestServers.motoAvailable, "moto_server is not on PATH"))
    func aVPCAndItsSubnetsMadeByHandAreImportedWithForEach() async throws {
        let region = "ap-southeast-3"
        let endpoint = try await AWSTestServers.moto()
        let aws = try AWSProviderTests().rawClient(try await AWSTestServers.provider(region: region, endpoint: endpoint))
        // By hand: a VPC and two subnets, tagged as a person would.
        let vpcXML = try await aws.query("ec2", "CreateVpc", [("CidrBlock", "10.42.0.0/16"),
            ("TagSpecification.1.ResourceType", "vpc"), ("TagSpecification.1.Tag.1.Key", "Name"), ("TagSpecification.1.Tag.1.Value", "handmade")])
        let vpcID = try #require(vpcXML.string("vpc", "vpcId"))
        var subnets: [String: String] = [:]
        for (zone, cidr) in [("a", "10.42.0.0/20"), ("b", "10.42.16.0/20")] {
            let xml = try await aws.query("ec2", "CreateSubnet", [("VpcId", vpcID), ("CidrBlock", cidr),
                                                                  ("AvailabilityZone", "\(region)\(zone)")])
            subnets[zone] = try #require(xml.string("subnet", "subnetId"))
        }

        let ws = Workspace(providers: [AWSProvider(environment: [
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "HOME": "/nonexistent",
        ])])
        ws.write("stack.yaml", """
        stack: handmade-\(UUID().uuidString.prefix(8).lowercased())
        variables:
          region: { default: \(region) }
        providers:
          aws: { region: "${var.region}" }
        resources:
          vpc:
            type: aws.vpc
            properties:
              cidr_block: 10.42.0.0/16
              tags: { Name: handmade }
          subnet:
            type: aws.subnet
            for_each: { a: 0, b: 1 }
            properties:
              vpc_id: "${vpc.id}"
              cidr_block: "${cidrsubnet(vpc.cidr_block, 4, each.value)}"
              availability_zone: "${var.region}${each.key}"
        import:
          - to: vpc
            id: \(vpcID)
          - to: subnet[each.key]
            for_each: { a: \(subnets["a"] ?? ""), b: \(subnets["b"] ?? "") }
            id: "${each.value}"
        """)
        let plan = try await ws.plan()
        #expect(plan.toImport == 3)
        #expect(plan.changes.allSatisfy { $0.action == .noop }, "\(plan.changes.map { "\($0.address) \($0.action)" })")
        #expect(PlanRenderer(style: TextStyle(color: false)).render(plan).contains("Plan: 3 to import, 0 to add, 0 to change, 0 to destroy."))
        let summary = try await ws.apply()
        #expect(summary.succeeded && summary.imported == 3 && summary.created == 0, "\(summary.line) \(summary.failures)")
        let state = try await ws.state(ws.session().stack.name)
        #expect(state.resources[ResourceAddress(name: "vpc")]?.id == vpcID)
        #expect(state.resources[ResourceAddress(name: "subnet", key: .key("b"))]?.id == subnets["b"])
        #expect(state.resources[ResourceAddress(name: "subnet", key: .key("a"))]?.dependencies == [ResourceAddress(name: "vpc")])
        let again = try await ws.plan()
        #expect(!again.hasChanges && again.drift.isEmpty)
    }

    @Test func aConfigMapMadeByHandIsImportedAndItsChangeApplied() async throws {
        let server = try await KubeStack.server(standardCRDs: false)
        defer { server.shutdown() }
        _ = try server.create(try KubeJSON.parse(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}}"#))
        _ = try server.create(try KubeJSON.parse(
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"apps"},"data":{"mode":"a"}}"#))
        let ws = KubeStack.workspace()
        ws.write("stack.yaml", """
        stack: kube-adopt
        providers:
          kubernetes: { host: "\(server.url)", token: t }
        resources:
          settings:
            type: kubernetes.manifest
            properties:
              # The object's fields belong to the field manager that made it: adopting them is a takeover.
              force_conflicts: true
              manifest:
                apiVersion: v1
                kind: ConfigMap
                metadata: { name: settings, namespace: apps }
                data: { mode: b }
        import:
          - to: settings
            id: v1/ConfigMap/apps/settings
        """)
        let plan = try await ws.plan()
        let change = try #require(plan.changes.first)
        #expect(change.importID == "v1/ConfigMap/apps/settings")
        #expect(change.action == .update, "\(change.action)")
        #expect(plan.toImport == 1 && plan.toChange == 1)
        #expect(PlanRenderer(style: TextStyle(color: false)).render(plan).contains("# (imported from \"v1/ConfigMap/apps/settings\")"))
        let summary = try await ws.apply()
        #expect(summary.succeeded && summary.imported == 1 && summary.updated == 1, "\(summary.line) \(summary.failures)")
        #expect(server.object(resource: "configmaps", namespace: "apps", name: "settings")?.at("data.mode")?.stringValue == "b")
        #expect(try await !ws.plan().hasChanges)
    }
}

import CoreProvider
import Foundation
import HelmProvider
import KubeTestServer
import KurtosisProvider
import Testing
@testable import EthstackEngine
@testable import EthstackModel
@testable import EthstackProviderAPI
@testable import EthstackSubprocess

/// Shared by the Helm and Kurtosis tests: real helm, the stand-in kurtosis, the API test server.
enum CLITools {
    static var registry: ProviderRegistry {
        ProviderRegistry(BuiltinProviders.all + [HelmProvider(), KurtosisProvider()])
    }

    /// Tests/Support/kurtosis-standin (Python 3).
    static var kurtosisStandin: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/kurtosis-standin").path
    }

    /// A chart written by hand: one ConfigMap showing two values.
    static func writeTinyChart(_ ws: Workspace, version: String = "0.1.0") {
        ws.write("charts/tiny/Chart.yaml", """
        apiVersion: v2
        name: tiny
        version: \(version)
        appVersion: "1.0"

        """)
        ws.write("charts/tiny/templates/configmap.yaml", """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-config
        data:
          greeting: {{ .Values.greeting | default "none" | quote }}
          password: {{ .Values.password | default "" | quote }}

        """)
    }

    static func text(_ plan: Plan) -> String { PlanRenderer(style: TextStyle(color: false)).render(plan) }
}

@Suite(.serialized) struct HelmProviderTests {
    /// `wait: true` passes --wait: helm returns when the chart's Deployment is rolled out (its
    /// ReplicaSet ready), which the API test server's controllers bring about.
    @Test(.timeLimit(.minutes(5))) func waitingReleaseReturnsWhenItsDeploymentIsReady() async throws {
        guard let helm = KTS.helmPath() else {
            Issue.record("helm not found: run Tests/Support/install-helm.sh"); return
        }
        var options = KubeTestServer.Options()
        options.workloadReadyDelay = 1
        let server = try await KubeTestServer.start(port: 0, options: options)
        defer { server.shutdown() }
        let ws = Workspace(registry: CLITools.registry)
        let kubeconfig = try KTS.kubeconfig(server, in: ws.dir)
        ws.write("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
        ws.write("charts/web/templates/deployment.yaml", """
        apiVersion: apps/v1
        kind: Deployment
        metadata: { name: "{{ .Release.Name }}" }
        spec:
          replicas: 2
          selector: { matchLabels: { app: "{{ .Release.Name }}" } }
          template:
            metadata: { labels: { app: "{{ .Release.Name }}" } }
            spec: { containers: [ { name: web, image: "nginx:1.27" } ] }

        """)
        ws.write("stack.yaml", """
        stack: helmwait
        providers:
          helm: { kubeconfig: "\(kubeconfig)", helm_path: "\(helm)" }
        resources:
          web:
            type: helm.release
            properties: { name: web, namespace: default, chart: ./charts/web, wait: true, timeout: 60s }
        """)
        let applied = try await ws.apply()
        #expect(applied.succeeded, "\(applied.failures)")
        // Returned only once the rollout was done.
        let deployment = try #require(server.object(group: "apps", resource: "deployments", namespace: "default", name: "web"))
        #expect(deployment.at("status.readyReplicas") == 2)
        let replicaSet = try #require(server.objects(group: "apps", resource: "replicasets", namespace: "default").first)
        #expect(replicaSet.at("status.readyReplicas") == 2)
        #expect(try await ws.state("helmwait").resources[("web" as ResourceAddress)]?.attributes["status"] == "deployed")
    }

    @Test(.timeLimit(.minutes(5))) func releaseInstallsUpdatesInPlaceAndUninstalls() async throws {
        guard let helm = KTS.helmPath() else {
            Issue.record("helm not found: run Tests/Support/install-helm.sh"); return
        }
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let ws = Workspace(registry: CLITools.registry)
        let kubeconfig = try KTS.kubeconfig(server, in: ws.dir)
        CLITools.writeTinyChart(ws)
        ws.write("stack.yaml", """
        stack: helmtest
        variables:
          greeting: { type: string, default: hello }
          password: { type: string, sensitive: true, default: "s3cret-pw-42" }
        providers:
          helm: { kubeconfig: "\(kubeconfig)", helm_path: "\(helm)" }
        resources:
          app:
            type: helm.release
            properties:
              name: app
              namespace: apps
              create_namespace: true
              chart: ./charts/tiny
              values: { greeting: "${var.greeting}" }
              sensitive_values: { password: "${var.password}" }
        """)
        let first = try await ws.plan()
        #expect(first.changes.first?.action == .create)
        #expect(!CLITools.text(first).contains("s3cret-pw-42"))
        let applied = try await ws.apply()
        #expect(applied.succeeded, "\(applied.failures)")
        let cm = try #require(server.object(resource: "configmaps", namespace: "apps", name: "app-config"))
        #expect(cm.at("data.greeting") == "hello")
        #expect(cm.at("data.password") == "s3cret-pw-42")
        let state = try await ws.state("helmtest")
        let app = try #require(state.resources[("app" as ResourceAddress)])
        #expect(app.id == "apps/app")
        #expect(app.attributes["status"] == "deployed")
        #expect(app.attributes["version"] == "0.1.0")
        #expect(app.attributes["revision"]?.intValue == 1)

        let second = try await ws.plan()
        #expect(!second.hasResourceChanges, "\(CLITools.text(second))")
        #expect(second.drift.isEmpty)

        // The release carries the stack's mark; it can be imported by namespace/name.
        let record = server.objects(resource: "secrets", namespace: "apps").first { $0["type"] == "helm.sh/release.v1" }
        #expect(record?.at("metadata.labels")?["ethstack.io/stack"] == "helmtest")
        let provider = try await HelmProvider().configure(ProviderConfiguration(
            values: ["kubeconfig": .string(kubeconfig), "helm_path": .string(helm)], stackName: "helmtest", baseDirectory: ws.dir))
        let imported = try await provider.importResource(ImportRequest(type: "helm.release", address: "app", id: "apps/app"))
        #expect(imported?.attributes["chart"] == "tiny" && imported?.attributes["version"] == "0.1.0")
        #expect(imported?.attributes["values"]?["greeting"] == "hello")
        #expect(try await provider.importResource(ImportRequest(type: "helm.release", address: "app", id: "apps/nothing")) == nil)
        await #expect(throws: ProviderError.self) {
            try await provider.importResource(ImportRequest(type: "helm.release", address: "app", id: "no-slash"))
        }

        let changed = try await ws.plan(vars: ["greeting=bonjour"])
        #expect(changed.changes.first?.action == .update)
        #expect(!CLITools.text(changed).contains("s3cret-pw-42"))
        let updated = try await ws.apply(vars: ["greeting=bonjour"])
        #expect(updated.succeeded && updated.updated == 1, "\(updated.failures)")
        #expect(server.object(resource: "configmaps", namespace: "apps", name: "app-config")?.at("data.greeting") == "bonjour")
        #expect(try await ws.state("helmtest").resources[("app" as ResourceAddress)]?.attributes["revision"]?.intValue == 2)

        // Deleted behind ethstack's back (the release record is a Secret): drift, and created again.
        for secret in server.objects(resource: "secrets", namespace: "apps") {
            if let name = secret.at("metadata.name")?.stringValue { try server.delete(resource: "secrets", namespace: "apps", name: name) }
        }
        let gone = try await ws.plan(vars: ["greeting=bonjour"])
        #expect(gone.drift.first?.kind == .deleted)
        #expect(gone.changes.first?.action == .create)
        let recreated = try await ws.apply(vars: ["greeting=bonjour"])
        #expect(recreated.succeeded && recreated.created == 1, "\(recreated.failures)")
        #expect(server.object(resource: "configmaps", namespace: "apps", name: "app-config")?.at("data.greeting") == "bonjour")

        let destroyed = try await ws.apply(vars: ["greeting=bonjour"], destroy: true)
        #expect(destroyed.succeeded, "\(destroyed.failures)")
        #expect(try await ws.state("helmtest").resources.isEmpty)
        #expect(server.object(resource: "configmaps", namespace: "apps", name: "app-config") == nil)
    }

    @Test(.timeLimit(.minutes(5))) func releaseNameWithShellMetacharactersIsOneArgument() async throws {
        guard let helm = KTS.helmPath() else {
            Issue.record("helm not found: run Tests/Support/install-helm.sh"); return
        }
        let server = try await KubeTestServer.start(port: 0)
        defer { server.shutdown() }
        let ws = Workspace(registry: CLITools.registry)
        let kubeconfig = try KTS.kubeconfig(server, in: ws.dir)
        CLITools.writeTinyChart(ws)
        let evil = "x; touch PWNED && echo $(id) `id` > OWNED"
        // The kubeconfig inline, as a block scalar.
        let inline = try String(contentsOfFile: kubeconfig, encoding: .utf8).split(separator: "\n").map { "      " + $0 }.joined(separator: "\n")
        ws.write("stack.yaml", """
        stack: evil
        providers:
          helm:
            helm_path: "\(helm)"
            kubeconfig: |
        \(inline)
        resources:
          app:
            type: helm.release
            properties: { name: "\(evil)", chart: ./charts/tiny }
        """)
        let summary = try await ws.apply()
        // helm itself rejects the name, quoting it whole: it arrived as one argv entry.
        let failure = try #require(summary.failures.first)
        #expect(failure.message.lowercased().contains("release name is invalid: \(evil)".lowercased()), "\(failure.message)")
        #expect(!FileManager.default.fileExists(atPath: "\(ws.dir)/PWNED"))
        #expect(!FileManager.default.fileExists(atPath: "\(ws.dir)/OWNED"))
    }

    @Test func missingHelmIsAClearError() async throws {
        let ws = Workspace(registry: CLITools.registry)
        ws.write("stack.yaml", """
        stack: nohelm
        providers:
          helm: { kubeconfig: "\(ws.dir)/kubeconfig", helm_path: "\(ws.dir)/no-such-helm" }
        resources:
          app: { type: helm.release, properties: { name: app, chart: ./chart } }
        """)
        ws.write("kubeconfig", "apiVersion: v1\nkind: Config\n")
        await #expect { try await ws.plan() } throws: { "\($0)".contains("helm_path") && "\($0)".contains("no-such-helm") }
        #expect(throws: SubprocessError.self) { try Subprocess.locate("helm", configured: nil, setting: "helm_path", path: ws.dir) }
        do {
            _ = try Subprocess.locate("helm", configured: nil, setting: "helm_path", path: ws.dir)
        } catch {
            #expect("\(error)" == "helm not found on PATH; install it or set helm_path")
        }
    }
}

@Suite struct HelmSubprocessTests {
    @Test func argumentsAreNeverInterpretedByAShell() async throws {
        let args = ["%s\n", "a; touch /tmp/x", "$(id)", "`id`", "it's \"quoted\"", "*"]
        let r = try await Subprocess.run(SubprocessRequest(executable: "/usr/bin/printf", arguments: args, environment: [:], timeout: 10))
        #expect(r.status == 0)
        #expect(r.stdout == args.dropFirst().map { $0 + "\n" }.joined())
    }

    @Test func linesAreStreamedAndSecretsRedacted() async throws {
        let lines = LinesBox()
        let r = try await Subprocess.run(SubprocessRequest(
            executable: "/usr/bin/printf", arguments: ["one\ntoken=hunter2\nthree"], environment: [:], timeout: 10,
            progress: { lines.append($0) }, redactions: ["hunter2"]))
        #expect(lines.all == ["one", "token=(sensitive value)", "three"])
        #expect(!r.stdout.contains("hunter2"))
    }

    @Test(.timeLimit(.minutes(5))) func timeoutKillsTheProgram() async throws {
        let start = Date()
        await #expect { try await Subprocess.run(SubprocessRequest(executable: "/bin/sleep", arguments: ["30"], environment: [:], timeout: 0.5)) }
            throws: { ($0 as? SubprocessError)?.kind == .timedOut && "\($0)".contains("within") }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test(.timeLimit(.minutes(5))) func cancellationStopsTheProgram() async throws {
        let start = Date()
        let task = Task { try await Subprocess.run(SubprocessRequest(executable: "/bin/sleep", arguments: ["30"], environment: [:], timeout: 60)) }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func workingDirectoryIsHonoured() async throws {
        let dir = try PrivateDirectory(prefix: "ethstack-cwd")
        defer { dir.remove() }
        let r = try await Subprocess.run(SubprocessRequest(executable: "/bin/pwd", arguments: [], environment: [:],
                                                           workingDirectory: dir.path, timeout: 10))
        #expect(r.stdout.trimmingCharacters(in: .newlines) == dir.path)
    }

    /// A tool that ignores SIGTERM and leaves a child of its own holding the pipes: SIGKILL to the
    /// whole process group after the grace period, and the call returns.
    @Test(.timeLimit(.minutes(5))) func stubbornProgramsAndTheirChildrenAreKilled() async throws {
        let script = "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); subprocess.Popen(['/bin/sleep', '30']); time.sleep(30)"
        var request = SubprocessRequest(executable: "/usr/bin/python3", arguments: ["-c", script], environment: [:], timeout: 0.5)
        request.killGrace = 0.5
        let start = Date()
        await #expect { try await Subprocess.run(request) } throws: { ($0 as? SubprocessError)?.kind == .timedOut }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func environmentIsOnlyWhatIsPassed() async throws {
        let r = try await Subprocess.run(SubprocessRequest(executable: "/usr/bin/env", arguments: [], environment: ["ONLY": "this"], timeout: 10))
        #expect(r.stdout == "ONLY=this\n")
    }

    @Test func privateFilesAreOwnerOnlyAndRemoved() throws {
        let dir = try PrivateDirectory(prefix: "ethstack-test")
        let file = try dir.write("kubeconfig", "token: abc")
        let attrs = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let dirAttrs = try FileManager.default.attributesOfItem(atPath: dir.path)
        #expect((dirAttrs[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        dir.remove()
        #expect(!FileManager.default.fileExists(atPath: dir.path))
    }

    @Test func goDurations() {
        #expect(parseDuration("5m0s") == 300)
        #expect(parseDuration("1h30m") == 5400)
        #expect(parseDuration("90") == 90)
        #expect(parseDuration("soon") == nil)
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

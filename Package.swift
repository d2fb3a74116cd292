// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "ethstack",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ethstack", targets: ["ethstack"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // Only the test-only Kubernetes API test server (KubeTestServer) uses SwiftNIO.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // System C libraries the owner chose (Debian: libyaml-dev, libcurl4-openssl-dev, libsqlite3-dev, libpq-dev).
        .systemLibrary(name: "CLibYAML", path: "Sources/CLibYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CLibCurl", path: "Sources/CLibCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLibSQLite", path: "Sources/CLibSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        // curl_easy_setopt is variadic and cannot be called from Swift: non-variadic wrappers.
        .target(name: "CCurlShim", dependencies: ["CLibCurl"], path: "Sources/CCurlShim"),

        // The layers, bottom to top; a target imports only those below it (the compiler enforces it:
        // each one's README states its boundary). Inside the package, `package` access crosses
        // targets; `public` is for what providers and the command line use.

        // Model: values (unknown, sensitive), addresses, declarations with positions, schemas, diagnostics.
        .target(name: "EthstackModel", path: "Sources/EthstackModel", exclude: ["README.md"]),
        // YAML documents as positioned nodes (libyaml), for the language and for kubeconfig files.
        .target(name: "EthstackYAML", dependencies: ["EthstackModel", "CLibYAML"], path: "Sources/EthstackYAML", exclude: ["README.md"]),
        // The stack language: loading one file, expressions, functions, evaluation, variables.
        .target(
            name: "EthstackLanguage",
            dependencies: ["EthstackModel", "EthstackYAML", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/EthstackLanguage", exclude: ["README.md"]
        ),
        // The provider API: the protocol, its request/response values, ProviderError, the registry.
        .target(name: "EthstackProviderAPI", dependencies: ["EthstackModel"], path: "Sources/EthstackProviderAPI",
                exclude: ["README.md"]),

        // Client libraries providers use; none knows about providers or the engine.
        .target(name: "EthstackHTTP", dependencies: ["CCurlShim", "CLibCurl"], path: "Sources/Clients/HTTP"),
        .target(name: "EthstackAWSClient",
                dependencies: ["EthstackHTTP", .product(name: "Crypto", package: "swift-crypto")],
                path: "Sources/Clients/AWS"),
        .target(name: "EthstackKubernetesClient",
                dependencies: ["EthstackModel", "EthstackYAML", "EthstackHTTP", "EthstackAWSClient"],
                path: "Sources/Clients/Kubernetes"),
        .target(name: "EthstackSubprocess", path: "Sources/Clients/Subprocess"),

        // The engine: graph, plan, apply, journal recovery, the state protocol, rendering.
        .target(
            name: "EthstackEngine",
            dependencies: [
                "EthstackModel", "EthstackLanguage", "EthstackProviderAPI",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/EthstackEngine",
            exclude: ["README.md"]
        ),
        // Checks: a stack's `checks:` probed over HTTP against what state records.
        .target(name: "EthstackCheck",
                dependencies: ["EthstackModel", "EthstackLanguage", "EthstackEngine", "EthstackHTTP"],
                path: "Sources/EthstackCheck", exclude: ["README.md"]),

        // Review: the security lint and the offline cost estimate over a plan, and their renderings.
        .target(name: "EthstackReview", dependencies: ["EthstackModel", "EthstackEngine"],
                path: "Sources/EthstackReview", exclude: ["README.md"],
                // The vendored, dated price table (scripts/regenerate-prices rewrites it).
                resources: [.copy("Cost/aws-prices.json")]),

        // What providers that reach a Kubernetes cluster share: connection settings' schema,
        // client errors as ProviderErrors, cluster access for CLI tools (helm, kurtosis).
        .target(
            name: "ProviderSupport",
            dependencies: ["EthstackModel", "EthstackProviderAPI", "EthstackKubernetesClient", "EthstackSubprocess"],
            path: "providers/Support", exclude: ["README.md"]
        ),
        // State drivers: one SQL store over SQLite (libsqlite3) and PostgreSQL (libpq); knows the
        // engine's state protocol and SQL, nothing of providers, plans or the CLI.
        .target(
            name: "EthstackState",
            dependencies: ["EthstackEngine", "CLibSQLite", "CLibPQ", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/EthstackState",
            exclude: ["README.md"]
        ),
        // Built-in provider: core.data, core.sleep, local.file.
        .target(
            name: "CoreProvider",
            dependencies: ["EthstackModel", "EthstackProviderAPI", .product(name: "Crypto", package: "swift-crypto")],
            path: "providers/Core"
        ),
        // AWS provider: EC2, IAM, EKS, S3 over the HTTP client with SigV4.
        .target(
            name: "AWSProvider",
            dependencies: ["EthstackModel", "EthstackProviderAPI", "EthstackHTTP", "EthstackAWSClient",
                           .product(name: "Crypto", package: "swift-crypto")],
            path: "providers/AWS"
        ),
        // Kubernetes provider: kubernetes.manifest over the Kubernetes client.
        .target(
            name: "KubernetesProvider",
            dependencies: ["EthstackModel", "EthstackProviderAPI", "EthstackKubernetesClient", "ProviderSupport"],
            path: "providers/Kubernetes"
        ),
        // Helm provider: helm.release through the helm CLI (argument vector, values as a file).
        .target(name: "HelmProvider",
                dependencies: ["EthstackModel", "EthstackProviderAPI", "EthstackKubernetesClient", "EthstackSubprocess",
                               "ProviderSupport"],
                path: "providers/Helm"),
        // Kurtosis provider: kurtosis.engine and kurtosis.enclave through the kurtosis CLI, read back
        // through the Kubernetes API; enclave args checked against ethereum-package's allow-lists.
        .target(name: "KurtosisProvider",
                dependencies: ["EthstackModel", "EthstackYAML", "EthstackProviderAPI", "EthstackKubernetesClient",
                               "EthstackSubprocess", "ProviderSupport"],
                path: "providers/Kurtosis",
                exclude: ["ethereum-package-6.1.0-allowed-keys.json"]),
        .executableTarget(
            name: "ethstack",
            dependencies: [
                "EthstackModel", "EthstackYAML", "EthstackLanguage", "EthstackProviderAPI", "EthstackEngine", "EthstackState", "EthstackCheck",
                "EthstackReview", "CoreProvider", "AWSProvider", "KubernetesProvider", "HelmProvider", "KurtosisProvider",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ethstack"
        ),
        .executableTarget(
            name: "ethstack-bench",
            dependencies: ["EthstackModel", "EthstackLanguage", "EthstackProviderAPI", "EthstackEngine", "EthstackState", "CoreProvider",
                           "KubernetesProvider", "KubeTestServer"],
            path: "Tests/Benchmarks"
        ),
        // Kubernetes API test server (a fake kube-apiserver for tests), in-process library + executable.
        .target(
            name: "KubeTestServer",
            dependencies: [
                "CLibYAML",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/Support/KubeTestServer",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "kube-test-server",
            dependencies: ["KubeTestServer"],
            path: "Tests/Support/kube-test-server"
        ),
        .testTarget(
            name: "EthstackTests",
            dependencies: ["EthstackModel", "EthstackYAML", "EthstackLanguage", "EthstackProviderAPI", "EthstackHTTP",
                           "EthstackAWSClient", "EthstackKubernetesClient", "EthstackSubprocess", "EthstackEngine", "EthstackState",
                           "EthstackCheck", "EthstackReview", "ProviderSupport", "CoreProvider", "AWSProvider", "KubernetesProvider",
                           "HelmProvider", "KurtosisProvider", "ethstack", "KubeTestServer"],
            path: "Tests/EthstackTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)

// A libFuzzer target for the stack loader and the expression parser. It needs -sanitize=fuzzer
// (libFuzzer supplies `main`), so it exists only when scripts/fuzz builds it (ETHSTACK_FUZZ=1).
if Context.environment["ETHSTACK_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "ethstack-fuzz",
        dependencies: ["EthstackModel", "EthstackLanguage", "EthstackProviderAPI", "CoreProvider"],
        path: "Tests/Fuzz", exclude: ["corpus", "README.md"],
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    ))
    package.products.append(.executable(name: "ethstack-fuzz", targets: ["ethstack-fuzz"]))
}

// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "ethstack",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ethstack", targets: ["ethstack"]),
        .library(name: "EthstackEngine", targets: ["EthstackEngine"]),
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

        // The engine: stack language, evaluation, graph, plan, apply, state, provider API, transport.
        .target(
            name: "EthstackEngine",
            dependencies: [
                "CLibYAML", "CCurlShim", "CLibCurl",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/EthstackEngine",
            exclude: ["README.md", "Providers/README.md"]
        ),
        // State drivers: one SQL store over SQLite (libsqlite3) and PostgreSQL (libpq); knows the
        // engine's state protocol and SQL, nothing of providers, plans or the CLI.
        .target(
            name: "EthstackState",
            dependencies: ["EthstackEngine", "CLibSQLite", "CLibPQ"],
            path: "Sources/EthstackState",
            exclude: ["README.md"]
        ),
        // Built-in provider: core.data, core.sleep, local.file.
        .target(
            name: "CoreProvider",
            dependencies: ["EthstackEngine", .product(name: "Crypto", package: "swift-crypto")],
            path: "providers/Core"
        ),
        // AWS provider: EC2, IAM, EKS, S3 over the engine's HTTP transport with SigV4.
        .target(
            name: "AWSProvider",
            dependencies: ["EthstackEngine", .product(name: "Crypto", package: "swift-crypto")],
            path: "providers/AWS"
        ),
        // Kubernetes provider: kubernetes.manifest over the engine's Kubernetes client.
        .target(
            name: "KubernetesProvider",
            dependencies: ["EthstackEngine"],
            path: "providers/Kubernetes"
        ),
        // Helm provider: helm.release through the helm CLI (argument vector, values as a file).
        .target(name: "HelmProvider", dependencies: ["EthstackEngine"], path: "providers/Helm"),
        // Kurtosis provider: kurtosis.engine and kurtosis.enclave through the kurtosis CLI, read back
        // through the Kubernetes API; enclave args checked against ethereum-package's allow-lists.
        .target(name: "KurtosisProvider", dependencies: ["EthstackEngine"], path: "providers/Kurtosis",
                exclude: ["ethereum-package-6.1.0-allowed-keys.json"]),
        .executableTarget(
            name: "ethstack",
            dependencies: [
                "EthstackEngine", "EthstackState", "CoreProvider", "AWSProvider", "KubernetesProvider", "HelmProvider",
                "KurtosisProvider", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ethstack"
        ),
        .executableTarget(
            name: "ethstack-bench",
            dependencies: ["EthstackEngine", "EthstackState", "CoreProvider", "KubernetesProvider", "KubeTestServer"],
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
            dependencies: ["EthstackEngine", "EthstackState", "CoreProvider", "AWSProvider", "KubernetesProvider",
                           "HelmProvider", "KurtosisProvider", "ethstack", "KubeTestServer"],
            path: "Tests/EthstackTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.1
// Benchmarks for Linkstamp, kept in their own package so that `swift build` at the root never
// resolves or builds package-benchmark. Run them with `swift package benchmark` in this folder.
import PackageDescription

let package = Package(
    name: "LinkstampBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Linkstamp", path: "../"),
        // Only the malloc interposer: allocation counts are what the thresholds gate.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "LinkstampBenchmarks",
            dependencies: [
                .product(name: "Linkstamp", package: "Linkstamp"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/LinkstampBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The fixed workload scripts/instruction-gate counts under callgrind.
        .executableTarget(
            name: "InstructionWorkload",
            dependencies: [.product(name: "Linkstamp", package: "Linkstamp")],
            path: "InstructionWorkload",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

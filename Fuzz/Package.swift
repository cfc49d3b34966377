// swift-tools-version:6.1
// libFuzzer targets for Linkstamp, kept in their own package so that `swift build` at the root
// never needs `-sanitize=fuzzer`. The invariants live in the root package's `FuzzChecks` library
// (the test suite replays Fuzz/Seeds and Fuzz/Regressions through them); this package only adds
// the libFuzzer driver. Build and run through `scripts/fuzz` (it passes `-sanitize=fuzzer` and
// links with lld: gold cannot link libFuzzer's `main` next to SwiftPM's entry point).
import PackageDescription

let package = Package(
    name: "LinkstampFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Linkstamp", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "linkstamp-fuzz",
            dependencies: [.product(name: "FuzzChecks", package: "Linkstamp")],
            path: "Sources/linkstamp-fuzz",
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)

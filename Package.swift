// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Linkstamp",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Linkstamp", targets: ["Linkstamp"]),
        .executable(name: "linkstamp", targets: ["linkstamp"]),
        // `linkstamp filter` alone, for Postfix pipe(8) and Exim (one process per message): no
        // argument parser, no servers' packages; anything else it hands to `linkstamp filter`.
        .executable(name: "linkstamp-filter", targets: ["linkstamp-filter"]),
        // The fuzz targets' invariants, for the nested Fuzz/ package and the replay tests.
        .library(name: "FuzzChecks", targets: ["FuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // The tracking endpoint (`linkstamp serve`, issue 11): HTTP server, logs, metrics, lifecycle.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.25.0"),
        // STARTTLS in the SMTP door (issue 12).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        // Webhook delivery from the tracking endpoint (issue 11).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Shared suppression list and events for several nodes (`database_url`, issue 11).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]
        ),
        // The bytes core under every parser: ASCII, memchr, unfolding, base64, ISO 8601, SMTPReply.
        .target(name: "MailBytes", swiftSettings: strict),
        .target(name: "MIME", dependencies: ["MailBytes"], swiftSettings: strict),
        // SMTPAPI reads RFC 2047 words through MIME's one decoder and charset table.
        .target(name: "SMTPAPI", dependencies: ["MailBytes", "MIME"], swiftSettings: strict),
        .target(name: "LinkScan", dependencies: ["MailBytes"], swiftSettings: strict),
        .target(
            name: "CSSInline", dependencies: ["CLibXML2", "MailBytes"], exclude: ["README.md"], swiftSettings: strict
        ),
        .target(
            name: "Tracking",
            dependencies: ["MailBytes", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The pure pipeline: prepare a message once, stamp each copy. No I/O.
        .target(
            name: "LinkstampPipeline",
            dependencies: ["MailBytes", "SMTPAPI", "MIME", "LinkScan", "CSSInline", "Tracking"],
            swiftSettings: strict
        ),
        // The relay's I/O around it: filter outputs, events, configuration and suppression files.
        .target(
            name: "LinkstampDeliver",
            dependencies: ["LinkstampPipeline", "SMTPAPI", "Tracking"],
            swiftSettings: strict
        ),
        // The front door: re-exports both (`import Linkstamp`), plus the bench's corpus reader.
        .target(
            name: "Linkstamp",
            dependencies: ["MailBytes", "LinkstampPipeline", "LinkstampDeliver", "SMTPAPI", "MIME", "Tracking"],
            swiftSettings: strict
        ),
        // The tracking endpoint behind `linkstamp serve`: redirects, pixels, unsubscribe, journal.
        .target(
            name: "TrackingServer",
            dependencies: [
                "Tracking", "Linkstamp", "SMTPAPI", "MailBytes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        // PostgreSQL-backed suppression list and event journal, shared by several filter/serve nodes.
        .target(
            name: "PostgresState",
            dependencies: [
                "Linkstamp", "TrackingServer", "SMTPAPI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The SMTP door: a pure ESMTP state machine and the SwiftNIO server and relay client around it.
        .target(
            name: "SMTPDoor",
            dependencies: [
                "Linkstamp", "SMTPAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The `filter` process without the argument parser: both executables run it.
        .target(name: "LinkstampFilterCommand", dependencies: ["Linkstamp", "SMTPAPI"], swiftSettings: strict),
        .executableTarget(
            name: "linkstamp-filter",
            dependencies: ["Linkstamp", "LinkstampFilterCommand"],
            path: "Sources/linkstamp-filter",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "linkstamp",
            dependencies: [
                "Linkstamp", "CSSInline", "TrackingServer", "SMTPDoor", "PostgresState", "LinkstampFilterCommand",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FuzzChecks",
            dependencies: ["SMTPAPI", "MIME", "LinkScan", "CSSInline", "Tracking", "Linkstamp"],
            swiftSettings: strict
        ),
        // Shared by the test targets only (a seeded generator, the corpus locator, golden files);
        // no product includes it.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "SMTPAPITests", dependencies: ["SMTPAPI", "MailBytes", "TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "MIMETests", dependencies: ["MIME", "TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "LinkScanTests", dependencies: ["LinkScan", "TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "CSSInlineTests", dependencies: ["CSSInline", "TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "MailBytesTests", dependencies: ["MailBytes", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TrackingTests", dependencies: ["Tracking", "MailBytes", "TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "TrackingServerTests",
            dependencies: [
                "TrackingServer", "Tracking", "Linkstamp", "MIME", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LinkstampTests",
            dependencies: [
                "Linkstamp", "LinkstampPipeline", "LinkstampDeliver", "MailBytes", "SMTPAPI", "MIME", "Tracking",
                "LinkScan", "TestSupport",
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzChecks"], swiftSettings: strict),
        // The README's library example as written, compiled with `import Linkstamp` alone.
        .testTarget(name: "LibraryExampleTests", dependencies: ["Linkstamp"], swiftSettings: strict),
        // Against a real PostgreSQL server: each test starts a throwaway cluster (skipped with a
        // printed reason when PostgreSQL is not installed, a failure when CI is set).
        .testTarget(
            name: "PostgresStateTests",
            dependencies: [
                "PostgresState", "TestSupport", "TrackingServer", "Linkstamp", "SMTPAPI", "SMTPDoor", "Tracking",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SMTPDoorTests",
            dependencies: [
                "SMTPDoor", "TestSupport", "Linkstamp", "SMTPAPI", "Tracking",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
    ]
)

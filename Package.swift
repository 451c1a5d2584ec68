// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "arb",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "arb", targets: ["arb"]),
        .executable(name: "arbadmin", targets: ["arbadmin"]),
        .executable(name: "arb-exchange", targets: ["arb-exchange"]),
        .library(name: "OrderStateMachine", targets: ["OrderStateMachine"]),
        .library(name: "ArbEngine", targets: ["ArbEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Already built for AsyncHTTPClient; named for the email sink's STARTTLS.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The venues' book feeds: a kept websocket client on the NIO stack AsyncHTTPClient already brings.
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // `arbadmin serve` only (ArbDashboard): the trader's own targets never import them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The trader's live counters (swift-metrics' API; Prometheus text from `arb run --metrics-listen`).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libcrypto (Debian's libssl-dev) for Kalshi's RSA-PSS request signatures: a system
        // library costs nothing to build, where swift-crypto would add minutes to every clean build.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Polymarket: secp256k1 ECDSA (recoverable, RFC 6979) and nettle's Keccak-f permutation
        // and HMAC-SHA256, from Debian's libsecp256k1-dev and nettle-dev.
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        .systemLibrary(
            name: "CNettle",
            pkgConfig: "nettle",
            providers: [.apt(["nettle-dev"])]
        ),
        .target(name: "OrderStateMachine", dependencies: ["CSQLite"]),
        // Below the engine and the venue adapters: the Venue protocol, clocks, small-file reads.
        .target(
            name: "ArbKit",
            dependencies: [
                "OrderStateMachine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Kalshi's Trade API v2 behind `Venue`. Imports nothing above ArbKit.
        .target(
            name: "KalshiVenue",
            dependencies: [
                "ArbKit",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Polymarket's CLOB V2 behind `Venue`: EIP-712 orders, L2 HMAC. Imports nothing above ArbKit.
        .target(
            name: "PolymarketVenue",
            dependencies: [
                "ArbKit",
                "CSecp256k1",
                "CNettle",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ArbEngine",
            dependencies: [
                "OrderStateMachine",
                "ArbKit",
                "KalshiVenue",
                "PolymarketVenue",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // An HTTP/1 server on 127.0.0.1 that hands each request to one function, upgrading
        // websocket handshakes on the same port: the base of the loopback exchange and of the
        // tests' exchanges and webhook receivers. SwiftNIO's own handlers, already built for
        // AsyncHTTPClient and the websocket client: no package added.
        .target(
            name: "LoopbackHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // The loopback exchange: Kalshi's and Polymarket's API subsets on 127.0.0.1 over paper
        // venues (`arb-exchange`, `arb run --demo loopback`).
        .target(
            name: "LoopbackExchange",
            dependencies: [
                "ArbEngine",
                "OrderStateMachine",
                "KalshiVenue",
                "PolymarketVenue",
                "COpenSSL",
                "LoopbackHTTP",
            ]
        ),
        .executableTarget(
            name: "arb-exchange",
            dependencies: [
                "LoopbackExchange",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "arb",
            dependencies: [
                "ArbEngine",
                "LoopbackExchange",
                "LoopbackHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `--metrics-listen`: swift-metrics' Prometheus backend (a library, no server: the
                // text is served by LoopbackHTTP's NIO server).
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "arbadmin",
            dependencies: [
                "ArbEngine",
                "ArbDashboard",
                "OrderStateMachine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `arbadmin serve`: the web dashboard, its JSON API and Prometheus metrics. Its own
        // target, so `swift run arb run` never compiles a web server.
        .target(
            name: "ArbDashboard",
            dependencies: [
                "ArbEngine",
                "OrderStateMachine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "arb-bench",
            dependencies: [
                // Built with it, so `swift run -c release arb-bench` finds `arb` beside itself.
                "arb",
                "ArbEngine",
                "ArbDashboard",
                "OrderStateMachine",
                "CSQLite",
                "COpenSSL",
                "KalshiVenue",
                "PolymarketVenue",
                // wire_detect_to_request: the loopback exchange in process, and the begin commit's timer.
                "LoopbackExchange",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Small child process for the cross-process tests (dedup race, crash mid-transaction).
        .executableTarget(
            name: "arb-store-probe",
            dependencies: ["OrderStateMachine"],
            path: "Tests/StoreProbe"
        ),
        // One support target for both test targets: temporary directories, the process runner,
        // waiting on an event.
        .target(name: "ArbTestSupport", path: "Tests/ArbTestSupport"),
        // An SMTP server on 127.0.0.1 (STARTTLS, implicit TLS, AUTH) for the email sink's tests.
        .target(
            name: "LoopbackSMTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/LoopbackSMTP"
        ),
        // A Kalshi exchange on 127.0.0.1 for the adapter's tests: checks every request's
        // signature, keeps its own record of orders and fills, answers as the venue documents.
        .target(
            name: "KalshiLoopback",
            dependencies: ["KalshiVenue", "COpenSSL", "LoopbackHTTP", "LoopbackExchange"],
            path: "Tests/KalshiLoopback"
        ),
        // A Polymarket CLOB on 127.0.0.1 for the adapter's tests: checks every L2 HMAC and
        // recovers the signer of every posted order.
        .target(
            name: "PolymarketLoopback",
            dependencies: ["PolymarketVenue", "LoopbackHTTP"],
            path: "Tests/PolymarketLoopback"
        ),
        .testTarget(
            name: "OrderStateMachineTests",
            dependencies: ["OrderStateMachine", "ArbTestSupport", "arb-store-probe"]
        ),
        .testTarget(
            name: "ArbEngineTests",
            dependencies: [
                "ArbEngine",
                "OrderStateMachine",
                "ArbTestSupport",
                "KalshiVenue",
                "KalshiLoopback",
                "PolymarketVenue",
                "PolymarketLoopback",
                "LoopbackHTTP",
                "LoopbackSMTP",
                "LoopbackExchange",
                // The built binaries, for the CLI and crash tests.
                "arb",
                "arbadmin",
                "arb-exchange",
                .product(name: "Logging", package: "swift-log"),
                // The browser test drives headless chromium over the DevTools protocol.
                .product(name: "WSClient", package: "swift-websocket"),
                // The venues' HTTP transport against scripted and TLS servers.
                "ArbKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "arb",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "arb", targets: ["arb"]),
        .executable(name: "arbadmin", targets: ["arbadmin"]),
        .library(name: "OrderStateMachine", targets: ["OrderStateMachine"]),
        .library(name: "ArbEngine", targets: ["ArbEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "OrderStateMachine", dependencies: ["CSQLite"]),
        .target(
            name: "ArbEngine",
            dependencies: [
                "OrderStateMachine",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "arb",
            dependencies: [
                "ArbEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "arbadmin",
            dependencies: [
                "ArbEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Small child process for the cross-process tests (dedup race, crash mid-transaction).
        .executableTarget(
            name: "arb-store-probe",
            dependencies: ["OrderStateMachine"],
            path: "Tests/StoreProbe"
        ),
        .testTarget(
            name: "OrderStateMachineTests",
            dependencies: ["OrderStateMachine", "arb-store-probe"]
        ),
        .testTarget(
            name: "ArbEngineTests",
            dependencies: ["ArbEngine", "arb"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

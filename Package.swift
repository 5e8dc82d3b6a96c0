// swift-tools-version:6.0
import PackageDescription

// The agent links libcoap statically: Debian ships libcoap-3-openssl.a next to the .so,
// and a Pi should not need libcoap installed to run the agent.
let staticLibCoAP: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-l:libcoap-3-openssl.a"]),
    .linkedLibrary("ssl"),
    .linkedLibrary("crypto"),
]

let package = Package(
    name: "nanoedge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nanoedge-agent", targets: ["nanoedge-agent"]),
        .executable(name: "nanoedge", targets: ["nanoedge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries
        // No pkgConfig: its --libs would link libcoap's .so; CoAP links the archive instead.
        .systemLibrary(name: "CCoAP", providers: [.apt(["libcoap3-dev"])]),
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(name: "CBlueZ", pkgConfig: "bluez", providers: [.apt(["libbluetooth-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // Portable building blocks (no Foundation: the agent uses them)
        .target(name: "JSON"),
        .target(name: "TOML"),
        .target(name: "Site", dependencies: ["JSON"]),
        .target(name: "Hardware", dependencies: ["TOML"]),

        // OS-bound wrappers
        .target(name: "Reactor"),
        .target(name: "CoAP", dependencies: ["CCoAP", "Reactor"], linkerSettings: staticLibCoAP),
        .target(name: "CryptoEVP", dependencies: ["COpenSSL"]),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        .target(name: "BLE", dependencies: ["Hardware", "Reactor"]),
        // The libbluetooth side of BLE; the agent links it once it scans on a real controller.
        .target(name: "BLEBlueZ", dependencies: ["BLE", "CBlueZ", "Hardware", "Reactor"]),
        .target(name: "SimulatedBoard", dependencies: ["Hardware", "Reactor", "BLE"]),

        // Roles
        .target(name: "Agent", dependencies: [
            "CoAP", "Reactor", "Hardware", "SimulatedBoard", "Site", "JSON", "TOML", "CryptoEVP",
        ]),
        .target(name: "Gateway", dependencies: [
            "CoAP", "Reactor", "Site", "JSON", "SQLite", "CryptoEVP",
        ]),

        // A whole simulated site of real processes, for the demo and the end-to-end tests
        .target(name: "SiteSimulation", dependencies: [
            "Gateway", "Site", "SimulatedBoard", "Hardware", "CryptoEVP",
        ]),

        // Executables
        .executableTarget(name: "nanoedge-agent", dependencies: ["Agent"]),
        .executableTarget(name: "nanoedge", dependencies: [
            "Gateway", "SiteSimulation", "SimulatedBoard", "CoAP", "Site", "JSON", "SQLite", "CryptoEVP",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Advertising reports parsed per second, for Benchmarks/ble.sh
        .executableTarget(name: "BLEBench", dependencies: ["BLE", "Hardware"]),

        // libFuzzer targets (make fuzz): only BLE and what it needs, so the fuzz build stays small
        .executableTarget(name: "FuzzHCIEvents", dependencies: ["BLE", "Hardware"]),
        .executableTarget(name: "FuzzADStructures", dependencies: ["BLE", "Hardware"]),

        // Tests
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "TOMLTests", dependencies: ["TOML"]),
        .testTarget(name: "SiteTests", dependencies: ["Site", "JSON"]),
        .testTarget(name: "HardwareTests", dependencies: ["Hardware", "SimulatedBoard", "Reactor"]),
        .testTarget(name: "BLETests", dependencies: ["BLE", "BLEBlueZ", "CBlueZ", "Hardware", "SimulatedBoard", "Reactor"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "CoAPTests", dependencies: ["CoAP", "Reactor"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "Site", "SQLite", "JSON", "CryptoEVP"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Site", "JSON"]),
        .testTarget(name: "EndToEndTests", dependencies: ["SiteSimulation", "Gateway", "Site", "JSON", "CoAP"]),
    ],
    swiftLanguageModes: [.v6]
)

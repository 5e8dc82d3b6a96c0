// swift-tools-version:6.1
import PackageDescription
import Foundation

// The agent links libcoap statically: Debian ships libcoap-3-openssl.a next to the .so,
// and a Pi should not need libcoap installed to run the agent.
let staticLibCoAP: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-l:libcoap-3-openssl.a"]),
    .linkedLibrary("ssl"),
    .linkedLibrary("crypto"),
]

// libgpiod 1.6 (Debian 12, bookworm) and 2.x (Debian 13, trixie, sid) have different APIs: GPIO
// compiles its v2 backend when gpiod.h is v2. The manifest reads the build host's header, so a
// build against other headers (a sysroot, -Xcc -I) says which with NANOEDGE_LIBGPIOD=1 or 2.
let libgpiodV2: Bool = {
    switch Context.environment["NANOEDGE_LIBGPIOD"] ?? "" {
    case "1": return false
    case "2": return true
    case "":
        // Clang's search order: /usr/local first.
        let header = ["/usr/local/include/gpiod.h", "/usr/include/gpiod.h"]
            .first { FileManager.default.fileExists(atPath: $0) }
        return header.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?
            .contains("gpiod_request_config") ?? false
    case let other: fatalError("NANOEDGE_LIBGPIOD must be 1 or 2, not \(other)")
    }
}()
let libgpiodSettings: [SwiftSetting] = libgpiodV2 ? [.define("LIBGPIOD_V2")] : []

// `make release` links the agent as a static executable (docs/building.md): glibc and every C
// library from their archives, libcurl from ota/toolchain/static-libs.sh. NANOEDGE_STATIC_AGENT=1
// gives a fixed-address executable, =pie a static-pie. Linker settings only, so the modules the agent
// shares with the server compile the same either way.
let staticAgent: [LinkerSetting] = {
    switch Context.environment["NANOEDGE_STATIC_AGENT"] ?? "" {
    case "": return []
    case "1": return [.unsafeFlags(["-static-executable"])]
    case "pie": return [.unsafeFlags(["-static-executable", "-Xclang-linker", "-static-pie"])]
    case let other: fatalError("NANOEDGE_STATIC_AGENT must be 1 or pie, not \(other)")
    }
}()

let package = Package(
    name: "nanoedge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nanoedge-agent", targets: ["nanoedge-agent"]),
        .executable(name: "nanoedge", targets: ["nanoedge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The gateway's and the update server's HTTP side only; the agent never links these. No
        // default traits: they pull in swift-configuration, which nothing here uses.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries
        // No pkgConfig: its --libs would link libcoap's .so; CoAP links the archive instead.
        .systemLibrary(name: "CCoAP", providers: [.apt(["libcoap3-dev"])]),
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(name: "CBlueZ", pkgConfig: "bluez", providers: [.apt(["libbluetooth-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Linux system calls glibc does not wrap (openat2); headers only.
        .systemLibrary(name: "CLinux"),

        // Portable building blocks (no Foundation: the agent uses them)
        .target(name: "JSON"),
        .target(name: "TOML"),
        .target(name: "Site", dependencies: ["JSON"]),
        .target(name: "Hardware", dependencies: ["TOML"]),

        // OS-bound wrappers
        // Leveled lines on stderr with sd-daemon priority prefixes under journald (agent and servers).
        .target(name: "DaemonLog"),
        .target(name: "Reactor"),
        .target(name: "CoAP", dependencies: ["CCoAP", "Reactor"], linkerSettings: staticLibCoAP),
        .target(name: "CryptoEVP", dependencies: ["COpenSSL"]),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        .target(name: "Postgres", dependencies: ["CPostgres"]),
        .target(name: "GPIO", dependencies: ["CGPIOD", "Hardware", "Reactor"], swiftSettings: libgpiodSettings),
        // Crash-safe file replacement (temp + fsync + rename + fsync of the directory), with a
        // syscall seam for fault injection; shared by the event log, TUF and the updater.
        .target(name: "DurableFile"),
        // OCI image layouts, tar and layer unpacking (zlib, libzstd); shared by the agent's updater
        // and the update server.
        .target(name: "OCI", dependencies: ["JSON", "CryptoEVP", "CZlib", "CZstd", "CLinux"]),
        // Writing tars and layouts (release tooling, tests); kept out of the agent.
        .target(name: "OCITools", dependencies: ["OCI", "JSON", "CryptoEVP"]),
        // A/B slots for binaries and containers, the update lifecycle, tryboot (the agent's updater).
        .target(name: "Updater", dependencies: ["OCI", "DurableFile", "JSON", "CryptoEVP", "CZlib"]),

        // Release metadata (TUF): the model, verification, the client's state machine and the
        // repository side. No Foundation and no network: the agent and the update server share it.
        .target(name: "TUF", dependencies: ["JSON", "CryptoEVP", "DurableFile"]),
        // The signing side (update server, key ceremony); devices never link it.
        .target(name: "TUFRepository", dependencies: ["TUF", "JSON", "CryptoEVP", "DurableFile"]),
        // Streaming, resumable, verified downloads over libcurl; and the TUF client's transport on it.
        .target(name: "Download", dependencies: ["CCurl", "CryptoEVP", "DurableFile"]),
        .target(name: "TUFNetwork", dependencies: ["TUF", "Download"]),
        // The time TUF expiry is checked against on a Pi without a real-time clock: NTP's, the gateway's, a floor.
        .target(name: "TrustedTime", dependencies: ["TUF", "DurableFile", "CLinux"]),
        .target(name: "BLE", dependencies: ["Hardware", "Reactor"]),
        // The libbluetooth side of BLE; the agent links it once it scans on a real controller.
        .target(name: "BLEBlueZ", dependencies: ["BLE", "CBlueZ", "Hardware", "Reactor"]),
        .target(name: "SimulatedBoard", dependencies: ["Hardware", "Reactor", "BLE"]),

        // Roles
        .target(name: "Agent", dependencies: [
            "CoAP", "Reactor", "Hardware", "GPIO", "BLE", "BLEBlueZ", "SimulatedBoard", "Site", "JSON", "TOML", "CryptoEVP",
            "DurableFile", "Download", "TUF", "TUFNetwork", "TrustedTime", "Updater", "Releases", "DaemonLog",
        ]),
        .target(name: "GatewayPolicy", dependencies: ["TOML"]),
        .target(name: "Gateway", dependencies: [
            "CoAP", "Reactor", "Site", "JSON", "SQLite", "CryptoEVP", "GatewayPolicy", "TOML",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // swift-log's handler for the servers, writing as DaemonLog does.
        .target(name: "ServerLogging", dependencies: ["DaemonLog", .product(name: "Logging", package: "swift-log")]),
        // The fleet page's HTML, shared by the gateway's and the update server's web side.
        .target(name: "FleetPage"),
        // Idle timeouts, per-address connection caps and access tokens for both HTTP servers.
        .target(name: "HTTPGuard", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
        ]),
        // The gateway's HTTP side: the site page, /metrics, the export stream.
        .target(name: "SiteWeb", dependencies: [
            "Gateway", "FleetPage", "Site", "JSON", "HTTPGuard",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),

        // OTA: what a release and an assignment are (portable, the agent may use them), the rollout
        // state machine, the update server's state and the server itself.
        .target(name: "Releases", dependencies: ["JSON"]),
        .target(name: "Rollout", dependencies: ["Releases"]),
        .target(name: "UpdateStore", dependencies: ["Rollout", "Releases", "JSON", "SQLite", "Postgres", "CryptoEVP"]),
        .target(name: "UpdateServer", dependencies: [
            "UpdateStore", "Rollout", "Releases", "JSON", "CryptoEVP", "CoAP", "Reactor", "Hardware", "TOML", "TUF", "TUFRepository", "DurableFile",
            "FleetPage", "OCI", "HTTPGuard",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // A whole simulated site of real processes, for the demo and the end-to-end tests
        .target(name: "SiteSimulation", dependencies: [
            "Gateway", "Site", "SimulatedBoard", "Hardware", "CryptoEVP", "JSON",
        ]),

        // Executables
        .executableTarget(name: "nanoedge-agent", dependencies: [
            "Agent", "CoAP", "TUF", "TUFNetwork", "DurableFile", "Updater", "JSON", "OCI", "Site", "DaemonLog",
        ], linkerSettings: staticAgent),
        .executableTarget(name: "nanoedge", dependencies: [
            "Gateway", "GatewayPolicy", "TOML", "SiteSimulation", "SimulatedBoard", "CoAP", "Site", "JSON", "SQLite",
            "CryptoEVP", "TUF", "TUFRepository", "DurableFile", "SiteWeb", "UpdateServer", "UpdateStore", "Releases", "Rollout", "HTTPGuard", "Download",
            "DaemonLog", "ServerLogging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        // Advertising reports parsed per second, for Benchmarks/ble.sh
        .executableTarget(name: "BLEBench", dependencies: ["BLE", "Hardware"]),

        // libFuzzer targets (make fuzz): each links only its parser's module and what that needs,
        // never a server, so the fuzz build stays small
        .executableTarget(name: "FuzzHCIEvents", dependencies: ["BLE", "Hardware"]),
        .executableTarget(name: "FuzzADStructures", dependencies: ["BLE", "Hardware"]),
        .target(name: "FuzzSupport", dependencies: ["JSON"]),
        .executableTarget(name: "FuzzJSON", dependencies: ["JSON", "FuzzSupport"]),
        .executableTarget(name: "FuzzTOML", dependencies: ["TOML", "FuzzSupport"]),
        .executableTarget(name: "FuzzSiteWire", dependencies: ["Site", "JSON", "FuzzSupport"]),
        .executableTarget(name: "FuzzTUFMetadata", dependencies: ["TUF", "JSON", "FuzzSupport"]),
        .executableTarget(name: "FuzzOCITar", dependencies: ["OCI", "FuzzSupport"]),
        .executableTarget(name: "FuzzOCIPath", dependencies: ["OCI", "FuzzSupport"]),
        .executableTarget(name: "FuzzUpdateServerBodies", dependencies: [
            "Releases", "Rollout", "UpdateStore", "JSON", "FuzzSupport",
        ]),

        // Tests
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "DaemonLogTests", dependencies: ["DaemonLog"]),
        .testTarget(name: "TUFTests", dependencies: ["TUF", "TUFRepository", "JSON", "CryptoEVP", "DurableFile", "Download", "TUFNetwork"],
                    exclude: ["python"]),
        .testTarget(name: "TOMLTests", dependencies: ["TOML"]),
        .testTarget(name: "SiteTests", dependencies: ["Site", "JSON"]),
        .testTarget(name: "HardwareTests", dependencies: ["Hardware", "SimulatedBoard", "Reactor"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "GPIOTests", dependencies: ["GPIO", "CGPIOD", "Hardware"], swiftSettings: libgpiodSettings),
        .testTarget(name: "BLETests", dependencies: ["BLE", "BLEBlueZ", "CBlueZ", "Hardware", "SimulatedBoard", "Reactor"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "CoAPTests", dependencies: ["CoAP", "Reactor"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "GatewayPolicy", "Site", "SQLite", "JSON", "CryptoEVP"]),
        .testTarget(name: "GatewayPolicyTests", dependencies: ["GatewayPolicy", "TOML"]),
        .testTarget(name: "FleetPageTests", dependencies: ["FleetPage"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Site", "JSON", "TrustedTime"]),
        .testTarget(name: "TrustedTimeTests", dependencies: ["TrustedTime", "TUF"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "OCITools", "JSON", "CryptoEVP"]),
        .testTarget(name: "UpdaterTests", dependencies: ["Updater", "OCI", "OCITools", "JSON", "CryptoEVP", "DurableFile"]),
        .testTarget(name: "RolloutTests", dependencies: ["Rollout", "Releases", "JSON"]),
        .testTarget(name: "UpdateServerTests", dependencies: [
            "UpdateServer", "UpdateStore", "Rollout", "Releases", "JSON", "CoAP", "Reactor", "CryptoEVP", "Postgres", "TUF", "TUFRepository",
            "OCI", "OCITools",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], exclude: ["python"]),
        .testTarget(name: "EndToEndTests", dependencies: ["SiteSimulation", "Gateway", "Site", "JSON", "CoAP", "CryptoEVP", "OCI", "OCITools"],
                    exclude: ["python"]),
    ],
    swiftLanguageModes: [.v6]
)

import DaemonLog
import Foundation
import HTTPGuard
import TOML

/// The update server's settings, as its TOML config file (`--config`) holds them: one top-level key
/// per option of `nanoedge update-server serve`, named as the option with underscores. The same type
/// carries the defaults and the command line, so that one merge says which wins (flags, then the
/// file, then the defaults) and one check covers them all.
struct UpdateServerConfig: Equatable {
    var data: String?
    var database: String?
    var http: String?
    var adminHttp: String?
    var tlsCert: String?
    var tlsKey: String?
    var idleTimeoutS: Int64?
    var maxConnectionsPerAddress: Int64?
    var coap: String?
    var push: Bool?
    var repo: String?
    var keys: String?
    var passphraseEnv: String?
    var boards: [String]?
    var poolSize: Int64?
    var maxArtifactMib: Int64?
    var logLevel: String?

    /// What the server runs with when neither the file nor the command line says otherwise. The
    /// push port is not the gateway's 5684, so that both run on one host.
    static let defaults = UpdateServerConfig(
        http: "0.0.0.0:8080", adminHttp: "127.0.0.1:8081",
        idleTimeoutS: ConnectionLimits().idleTimeoutSeconds, maxConnectionsPerAddress: Int64(ConnectionLimits().perAddress),
        coap: "0.0.0.0:5686", push: true, poolSize: 4, maxArtifactMib: 4096, logLevel: "info")

    /// The file's keys by type, each with the setting it fills: the one table that loading and
    /// merging read, so a new option is one line here. docs/update-server.md lists the same keys.
    private static var texts: [(key: String, path: WritableKeyPath<UpdateServerConfig, String?>)] {
        [("data", \.data), ("database", \.database), ("http", \.http), ("admin_http", \.adminHttp),
         ("tls_cert", \.tlsCert), ("tls_key", \.tlsKey), ("coap", \.coap), ("repo", \.repo), ("keys", \.keys),
         ("passphrase_env", \.passphraseEnv), ("log_level", \.logLevel)]
    }
    private static var integers: [(key: String, path: WritableKeyPath<UpdateServerConfig, Int64?>)] {
        [("idle_timeout_s", \.idleTimeoutS), ("max_connections_per_address", \.maxConnectionsPerAddress),
         ("pool_size", \.poolSize), ("max_artifact_mib", \.maxArtifactMib)]
    }
    static var keys: [String] { texts.map(\.key) + integers.map(\.key) + ["push", "boards"] }

    /// Each value of `other` that is set replaces this one's.
    func overridden(by other: UpdateServerConfig) -> UpdateServerConfig {
        var merged = self
        for (_, path) in Self.texts { merged[keyPath: path] = other[keyPath: path] ?? self[keyPath: path] }
        for (_, path) in Self.integers { merged[keyPath: path] = other[keyPath: path] ?? self[keyPath: path] }
        merged.push = other.push ?? push
        merged.boards = other.boards ?? boards
        return merged
    }

    /// Reads a config file; unknown keys and wrong types are refused with the key's name.
    static func load(path: String) throws -> UpdateServerConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CommandFailure("cannot read the update server config \(path): \(error.localizedDescription)")
        }
        do {
            let root = try TOML.parse(text)
            if let bad = root.keys.sorted().first(where: { !keys.contains($0) }) {
                throw CommandFailure("\(path): \(bad): unknown key; the update server config has "
                    + keys.joined(separator: ", ") + " (docs/update-server.md)")
            }
            var config = UpdateServerConfig()
            for (key, field) in texts { config[keyPath: field] = try root.string(key) }
            for (key, field) in integers { config[keyPath: field] = try root.integer(key) }
            config.push = try root.bool("push")
            config.boards = try root.strings("boards")
            return config
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }

    /// The merged settings make sense together; `source` says where they came from.
    func check(source: String) throws {
        func refuse(_ key: String, _ why: String) -> CommandFailure {
            CommandFailure("\(source): \(key): \(why)")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw refuse("tls_cert/tls_key", "they go together: the certificate chain and its private key")
        }
        for (key, value) in [("http", http), ("coap", coap)] {
            guard let value else { throw refuse(key, "missing") }
            do { _ = try ListenAddress.parse(value) } catch { throw refuse(key, "\"\(value)\": \(error.description)") }
        }
        if let adminHttp, adminHttp != "off" {
            do { _ = try ListenAddress.parse(adminHttp) } catch { throw refuse("admin_http", "\"\(adminHttp)\": \(error.description)") }
        }
        guard let idle = idleTimeoutS, (1...3600).contains(idle) else { throw refuse("idle_timeout_s", "must be from 1 to 3600") }
        guard let perAddress = maxConnectionsPerAddress, (1...100_000).contains(perAddress) else {
            throw refuse("max_connections_per_address", "must be from 1 to 100000")
        }
        guard let pool = poolSize, (1...256).contains(pool) else { throw refuse("pool_size", "must be from 1 to 256") }
        guard let mib = maxArtifactMib, (1...(1 << 20)).contains(mib) else {
            throw refuse("max_artifact_mib", "must be from 1 to 1048576")
        }
        if let logLevel, LogLevel(name: logLevel) == nil { throw refuse("log_level", "\"\(logLevel)\": expected \(LogLevel.names)") }
    }
}

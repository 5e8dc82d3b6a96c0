import CryptoEVP
import DaemonLog
import JSON
import Site

#if canImport(Glibc)
import Glibc
#endif

/// Applies the signed configs the gateway publishes for this device's roles, without a restart.
///
/// A config is applied only if its signature verifies with the pinned key, it is for one of this
/// device's roles, its version is above the one applied last, and every setting is in range.
/// Applied configs are kept (signature and all) in `<state_dir>/remote-config.json`, re-verified
/// and re-applied at start, so a restart keeps the settings. Every outcome is reported as a
/// `config` event, which is how the gateway learns the applied version.
final class RemoteConfigApplier {
    private let key: PublicKey?
    private let roles: Set<DeviceRole>
    private let directory: String
    private let record: EventSink
    static let fileName = "remote-config.json"
    private(set) var applied: [DeviceRole: SignedRemoteConfig] = [:]
    /// The settings in force, from every applied config.
    var settings: [RemoteSetting: Int64] {
        var merged: [RemoteSetting: Int64] = [:]
        for config in applied.values { merged.merge(config.config.settings) { $1 } }
        return merged
    }
    /// Called with the settings in force after each change (and once at start).
    var onSettings: ([RemoteSetting: Int64]) -> Void = { _ in }
    var log: (LogLevel, String) -> Void = { _, _ in }
    /// Configs already refused, so a republished document is not reported again and again.
    private var refused: Set<String> = []

    init(publicKey: [UInt8]?, roles: Set<DeviceRole>, stateDirectory: String, record: @escaping EventSink) {
        key = publicKey.flatMap { try? PublicKey(ed25519Raw: $0) }
        self.roles = roles
        directory = stateDirectory
        self.record = record
        load()
    }

    /// The applied version per role, as registration reports it.
    var versions: [String: Int64] {
        Dictionary(uniqueKeysWithValues: applied.map { ($0.key.rawValue, $0.value.config.version) })
    }

    func start() { onSettings(settings) }

    func apply(_ configs: [SignedRemoteConfig]) {
        var changed = false
        for signed in configs {
            let config = signed.config
            if let current = applied[config.role], current.config.version >= config.version { continue }
            let fingerprint = "\(config.role.rawValue)/\(config.version)/\(signed.keyID)"
            if refused.contains(fingerprint) { continue }
            if let problem = check(signed) {
                refused.insert(fingerprint)
                log(.warning, "agent: config \(config.role.rawValue) v\(config.version) refused: \(problem)")
                record(.config, ["role": .string(config.role.rawValue), "version": .int(config.version),
                                 "applied": false, "error": .string(problem)])
                continue
            }
            applied[config.role] = signed
            changed = true
            log(.notice, "agent: config \(config.role.rawValue) v\(config.version) applied: "
                + config.settings.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: ", "))
            record(.config, ["role": .string(config.role.rawValue), "version": .int(config.version), "applied": true])
        }
        guard changed else { return }
        save()
        onSettings(settings)
    }

    /// Why a config may not be applied, or nil.
    private func check(_ signed: SignedRemoteConfig) -> String? {
        guard let key else {
            return "this device pins no config signing key ([remote_config] public_key_file)"
        }
        guard roles.contains(signed.config.role) else {
            return "this device has no \(signed.config.role.rawValue) role"
        }
        guard key.verify(signature: signed.signature, data: signed.config.signedBytes()) else {
            return "the signature does not verify with the pinned key (signed by key \(signed.keyID.prefix(16)))"
        }
        do {
            try signed.config.validate()
        } catch {
            return error.description
        }
        return nil
    }

    private func save() {
        let document = JSON.array(applied.values.sorted { $0.config.role.rawValue < $1.config.role.rawValue }.map(\.json))
        do {
            try EventLog.writeFileAtomically(directory: directory, name: Self.fileName, bytes: document.bytes())
        } catch {
            // The settings are in force; only a restart would lose them, and the gateway republishes.
            log(.error, "agent: applied configs not saved: \(error)")
        }
    }

    private func load() {
        guard case .success(let file) = readSmallFile(directory + "/" + Self.fileName, limit: 64 * 1024),
              let items = (try? JSON.parse(file.bytes))?.arrayValue
        else { return }
        for item in items {
            guard let signed = try? SignedRemoteConfig(json: item) else { continue }
            // Checked again: the file is not trusted more than the network.
            if check(signed) == nil { applied[signed.config.role] = signed }
        }
    }
}

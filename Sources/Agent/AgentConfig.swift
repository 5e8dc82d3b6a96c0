import CryptoEVP
import DaemonLog
import Hardware
import Site
import TOML
import TrustedTime

#if canImport(Glibc)
import Glibc
#endif

/// The agent's configuration (`/etc/nanoedge/agent.toml`), loaded and checked at start-up so that a
/// wrong setting stops the agent with a message naming the file and the key, instead of failing later.
/// See docs/agent.md, "Configuration", for every key.
///
/// Relative paths resolve against the directory of the config file. Loading also reads the board
/// profile, the PSK and (for the scanner role) the site key.
public struct AgentConfig: Sendable {
    public enum Scheme: String, Sendable {
        /// CoAP over DTLS with the device's PSK.
        case coaps
        /// Plain CoAP: only with `[gateway] allow_plain = true`, for a lab.
        case coap
    }

    /// The config file, as an absolute path.
    public var path: String

    // [device]
    /// The DTLS PSK identity issued by `nanoedge keys device`.
    public var deviceID: String
    public var pskFile: String
    /// The DTLS pre-shared key (16 to 64 bytes). Kept out of `description`.
    public var key: [UInt8]
    /// A room id in the gateway's registry.
    public var location: String
    /// In the order the config lists them, without duplicates.
    public var roles: [DeviceRole]
    public var board: BoardProfile
    /// Where the board profile was looked for, in order.
    public var boardSearchPaths: [String]
    public var stateDirectory: String
    /// What the agent logs (`[device] log_level`; `--log-level` wins).
    public var logLevel: LogLevel = .info
    /// The offline event log's directory.
    public var eventLogDirectory: String { stateDirectory + "/events" }

    // [gateway]
    public var gatewayURI: String
    public var gatewayScheme: Scheme
    /// A host name or an IP address; an IPv6 address is given without brackets.
    public var gatewayHost: String
    public var gatewayPort: UInt16
    /// The raw `allow_plain` setting. Whether plain CoAP is actually used is `usesPlainCoAP`.
    public var allowPlain: Bool
    /// True when the gateway URI is `coap://` (which needs `allow_plain`); DTLS otherwise.
    public var usesPlainCoAP: Bool { gatewayScheme == .coap }
    public var ackTimeoutMilliseconds: Int
    public var maxRetransmit: Int
    /// How often to re-register when idle, to notice a restarted gateway.
    public var heartbeatMilliseconds: Int

    // [scanner]
    /// The default BLE scan window.
    public var scanWindowMilliseconds: Int
    /// Nil when no site key was loaded (no scanner role, or raw addresses without a key file).
    public var siteKeyFile: String?
    /// Tags leave the Pi only as HMAC-SHA256(site key, address), truncated. Kept out of `description`.
    public var siteKey: [UInt8]?
    /// Report BLE addresses unhashed: for a lab only.
    public var rawAddresses: Bool

    // [display]
    /// Run on present with the content file appended; empty for none.
    public var displayCommand: [String]
    public var contentDirectory: String

    // [simulator]
    /// The simulated board's control socket, when the board is simulated.
    public var simulatorSocket: String

    // [remote_config]
    /// The raw Ed25519 public key config pushes must be signed with; nil refuses every push.
    public var remoteConfigKey: [UInt8]?

    // [updates]
    /// Where and how the agent takes releases from the update server; nil without `[updates]`.
    public var updates: UpdateSettings?

    // [time]
    /// Which clocks the agent believes for TUF expiry, and where it keeps its time floor (docs/tuf.md).
    public var time: TrustedTimeSettings

    /// Problems that do not stop the agent (e.g. a group-readable key file), for the start-up log.
    public var warnings: [String]

    public static let defaultStateDirectory = "/var/lib/nanoedge"
    public static let defaultSiteKeyFile = "/etc/nanoedge/site.key"
    public static let defaultSimulatorSocket = "/run/nanoedge/sim.sock"

    /// Reads and checks the config file at `path`.
    public static func load(path: String) throws(AgentConfigError) -> AgentConfig {
        let bytes: [UInt8]
        switch readSmallFile(path, limit: 1 << 20) {
        case .success(let file):
            bytes = file.bytes
        case .failure(let failure):
            throw AgentConfigError(.file, path: path, key: nil, errno: failure.errno,
                                   "cannot read the config: \(failure.text); "
                                       + "pass the agent's config with --config FILE")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw AgentConfigError(.syntax, path: path, key: nil, "the config is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// Parses and checks config text. `path` names the file in errors, and its directory is where
    /// relative paths resolve.
    public static func parse(_ text: String, path: String) throws(AgentConfigError) -> AgentConfig {
        let root: TOMLTable
        do {
            root = try TOML.parse(text)
        } catch {
            throw AgentConfigError(.syntax, path: path, key: nil, "\(error.description); fix the TOML syntax")
        }
        let reader = ConfigReader(path: path, directory: directoryOf(absolute(path)))
        return try reader.read(root)
    }
}

extension AgentConfig: CustomStringConvertible, CustomDebugStringConvertible {
    /// A summary for logs; the keys are never printed.
    public var description: String {
        let roleList = roles.map(\.rawValue).joined(separator: ",")
        let host = gatewayHost.contains(":") ? "[\(gatewayHost)]" : gatewayHost
        return "agent config \(path): device \(deviceID) at \(location), roles \(roleList), "
            + "board \(board.name), gateway \(gatewayScheme.rawValue)://\(host):\(gatewayPort), "
            + "state \(stateDirectory), psk \(key.count) bytes (redacted)"
            + (siteKey.map { ", site key \($0.count) bytes (redacted)" } ?? "")
            + (updates.map { ", updates from \($0.server) (token redacted)" } ?? "")
    }

    public var debugDescription: String { description }
}

/// A config that cannot be used: which file, which key, what is wrong and what to do.
///
/// Codes can grow, so compare `code` with the static codes rather than switching exhaustively.
public struct AgentConfigError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case file = "config file unreadable"
            case syntax = "config syntax error"
            case missingKey = "missing key"
            case unknownKey = "unknown key"
            case invalidValue = "invalid value"
            case boardNotFound = "board profile not found"
            case invalidBoard = "invalid board profile"
            case keyFile = "key file unusable"
            case insecureKeyFile = "key file readable by others"
            case missingHardware = "role not supported by the board"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        public static let file = Code(.file)
        public static let syntax = Code(.syntax)
        public static let missingKey = Code(.missingKey)
        public static let unknownKey = Code(.unknownKey)
        public static let invalidValue = Code(.invalidValue)
        public static let boardNotFound = Code(.boardNotFound)
        public static let invalidBoard = Code(.invalidBoard)
        public static let keyFile = Code(.keyFile)
        public static let insecureKeyFile = Code(.insecureKeyFile)
        public static let missingHardware = Code(.missingHardware)
    }

    public let code: Code
    /// The config file.
    public let path: String
    /// The dotted key at fault, e.g. "device.board".
    public let key: String?
    /// The errno behind the error, when reading a file failed.
    public let errno: Int32?
    private let problem: String

    init(_ code: Code, path: String, key: String?, errno: Int32? = nil, _ problem: String) {
        self.code = code
        self.path = path
        self.key = key
        self.errno = errno
        self.problem = problem
    }

    public var description: String {
        "\(path): " + (key.map { "\($0): " } ?? "") + problem
    }
}

// MARK: - Reading

/// Reads the config's tables, with errors that name the file and the dotted key.
private struct ConfigReader {
    let path: String
    /// The config file's directory (absolute), where relative paths resolve.
    let directory: String

    private static let known: [String: Set<String>] = [
        "device": ["id", "psk_file", "location", "roles", "board", "boards_dir", "state_dir", "log_level"],
        "gateway": ["uri", "allow_plain", "ack_timeout_ms", "max_retransmit", "heartbeat_ms"],
        "scanner": ["window_ms", "site_key_file", "raw_addresses"],
        "guidance": [],
        "display": ["command", "content_dir"],
        "simulator": ["socket"],
        "remote_config": ["public_key_file"],
        "updates": ["server", "token_file", "metadata_dir", "poll_interval_s", "poll_jitter_s", "push_uri",
                    "push_psk_file", "ca", "pin", "insecure_http"],
        "time": ["system_clock", "skew_s"],
    ]

    func read(_ root: TOMLTable) throws(AgentConfigError) -> AgentConfig {
        try rejectUnknown(root)
        var warnings: [String] = []

        // [device]
        guard try table(root, "device") != nil else {
            throw AgentConfigError(.missingKey, path: path, key: "device",
                                   "missing table [device]; it needs id, psk_file, location, roles and board")
        }
        let deviceID = try requiredString(root, "device.id", "the PSK identity from `nanoedge keys device`")
        try checkDeviceID(deviceID)
        let location = try requiredString(root, "device.location", "a room id from the gateway's registry")
        if location.isEmpty {
            throw invalid("device.location", "must not be empty; use a room id from the gateway's registry")
        }
        let roles = try readRoles(root)
        let stateDirectory = resolve(try string(root, "device.state_dir")
            ?? AgentConfig.defaultStateDirectory)
        let pskFile = resolve(try requiredString(root, "device.psk_file", "the path of the device's hex PSK file"))
        let key = try readKeyFile(pskFile, key: "device.psk_file", what: "PSK", warnings: &warnings)

        // The board, with the directories it was looked for in.
        let boardName = try requiredString(root, "device.board", "a board profile name such as \"rpi4b\" or \"sim\"")
        var searchPaths: [String] = []
        if let boards = try string(root, "device.boards_dir") {
            searchPaths.append(resolve(boards))
        }
        searchPaths += BoardProfile.standardSearchPaths
        searchPaths += [join(directory, "boards"), join(directory, "../boards")]
        var seen = Set<String>()
        searchPaths = searchPaths.filter { seen.insert($0).inserted }
        let board: BoardProfile
        do {
            board = try BoardProfile.load(name: boardName, searchPaths: searchPaths)
        } catch {
            let code: AgentConfigError.Code = error.code == .profileNotFound ? .boardNotFound : .invalidBoard
            throw AgentConfigError(code, path: path, key: "device.board", errno: error.errno, error.description)
        }
        try checkHardware(roles: roles, board: board)

        // [gateway]
        guard try table(root, "gateway") != nil else {
            throw AgentConfigError(.missingKey, path: path, key: "gateway",
                                   "missing table [gateway]; it needs uri = \"coaps://HOST:5684\"")
        }
        let uri = try requiredString(root, "gateway.uri", "the gateway's address, e.g. \"coaps://gateway.local:5684\"")
        let allowPlain = try bool(root, "gateway.allow_plain") ?? false
        let endpoint = try parseURI(uri, allowPlain: allowPlain)
        if endpoint.scheme == .coap {
            warnings.append("\(path): gateway.uri is plain coap://: events and commands travel unencrypted "
                                + "(lab use only)")
        }
        let ackTimeout = try milliseconds(root, "gateway.ack_timeout_ms", default: 1000, range: 100...60_000)
        let maxRetransmit = try integer(root, "gateway.max_retransmit", default: 3, range: 0...20)
        let heartbeat = try milliseconds(root, "gateway.heartbeat_ms", default: 5000, range: 100...3_600_000)

        // [scanner]
        let window = try milliseconds(root, "scanner.window_ms", default: 3000, range: 100...60_000)
        let rawAddresses = try bool(root, "scanner.raw_addresses") ?? false
        let keyFileSetting = try string(root, "scanner.site_key_file")
        var siteKeyFile: String?
        var siteKey: [UInt8]?
        // Without the site key the scanner could only report raw addresses, so it is required
        // unless raw addresses were asked for.
        if roles.contains(.scanner) && (!rawAddresses || keyFileSetting != nil) {
            let file = resolve(keyFileSetting ?? AgentConfig.defaultSiteKeyFile)
            siteKey = try readKeyFile(file, key: "scanner.site_key_file", what: "site key", warnings: &warnings)
            siteKeyFile = file
        }
        if roles.contains(.scanner) && rawAddresses {
            warnings.append("\(path): scanner.raw_addresses = true: BLE addresses leave the Pi unhashed (lab use only)")
        }

        // [display]
        let commandText = try string(root, "display.command") ?? ""
        var command = commandText.split(separator: " ").map(String.init)
        if let program = command.first, program.contains("/") {
            command[0] = resolve(program)
        }
        let contentDirectory = resolve(try string(root, "display.content_dir")
            ?? join(stateDirectory, "content"))

        // [simulator]
        let socket = resolve(try string(root, "simulator.socket")
            ?? AgentConfig.defaultSimulatorSocket)

        // [remote_config]: the pinned Ed25519 key of whoever signs config pushes.
        var configKey: [UInt8]?
        if let file = try string(root, "remote_config.public_key_file") {
            configKey = try readPublicKeyFile(resolve(file), key: "remote_config.public_key_file")
        }

        let updates = try readUpdates(root, stateDirectory: stateDirectory, warnings: &warnings)

        // [time]
        var systemClock = SystemClockTrust.synchronised
        if let text = try string(root, "time.system_clock") {
            guard let trust = SystemClockTrust(rawValue: text) else {
                throw invalid("time.system_clock", "\"\(text)\" is not one of \"synchronised\" (the default: "
                                  + "believe the clock once NTP set it), \"never\" (only the gateway's time) or "
                                  + "\"always\" (the clock as it is, for a lab without NTP)")
            }
            systemClock = trust
        }
        let skew = try integer(root, "time.skew_s", default: Int(TrustedTimeSettings.defaultSkewSeconds),
                               range: 0...86_400)
        let time = TrustedTimeSettings(floorPath: join(stateDirectory, "time-floor"), systemClock: systemClock,
                                       skewSeconds: Int64(skew))

        var logLevel = LogLevel.info
        if let text = try string(root, "device.log_level") {
            guard let level = LogLevel(name: text) else {
                throw invalid("device.log_level", "\"\(text)\" is not a level: \(LogLevel.names)")
            }
            logLevel = level
        }

        var config = AgentConfig(
            path: absolute(path), deviceID: deviceID, pskFile: pskFile, key: key, location: location, roles: roles,
            board: board, boardSearchPaths: searchPaths, stateDirectory: stateDirectory,
            gatewayURI: uri, gatewayScheme: endpoint.scheme, gatewayHost: endpoint.host, gatewayPort: endpoint.port,
            allowPlain: allowPlain, ackTimeoutMilliseconds: ackTimeout, maxRetransmit: maxRetransmit,
            heartbeatMilliseconds: heartbeat, scanWindowMilliseconds: window, siteKeyFile: siteKeyFile,
            siteKey: siteKey, rawAddresses: rawAddresses, displayCommand: command, contentDirectory: contentDirectory,
            simulatorSocket: socket, remoteConfigKey: configKey, updates: updates, time: time, warnings: warnings)
        config.logLevel = logLevel
        return config
    }

    // MARK: Keys and values

    /// Unknown tables and keys are errors: a typo would otherwise silently fall back to a default.
    private func rejectUnknown(_ root: TOMLTable) throws(AgentConfigError) {
        let tables = ConfigReader.known.keys.sorted().map { "[\($0)]" }.joined(separator: ", ")
        for name in root.keys.sorted() {
            guard let keys = ConfigReader.known[name] else {
                throw AgentConfigError(.unknownKey, path: path, key: name,
                                       "unknown key; the config has the tables \(tables)")
            }
            guard let section = try table(root, name) else { continue }
            for key in section.keys.sorted() where !keys.contains(key) {
                let hint = keys.isEmpty
                    ? "[\(name)] takes no keys"
                    : "known keys in [\(name)]: \(keys.sorted().joined(separator: ", "))"
                throw AgentConfigError(.unknownKey, path: path, key: "\(name).\(key)", "unknown key; \(hint)")
            }
        }
    }

    private func string(_ root: TOMLTable, _ key: String) throws(AgentConfigError) -> String? {
        try optional(root, key) { table, key throws(TOMLError) in try table.string(key) }
    }

    private func requiredString(_ root: TOMLTable, _ key: String,
                                _ expected: String) throws(AgentConfigError) -> String {
        try required(root, key, expected) { table, key throws(TOMLError) in try table.string(key) }
    }

    private func bool(_ root: TOMLTable, _ key: String) throws(AgentConfigError) -> Bool? {
        try optional(root, key) { table, key throws(TOMLError) in try table.bool(key) }
    }

    private func table(_ root: TOMLTable, _ name: String) throws(AgentConfigError) -> TOMLTable? {
        try optional(root, name) { table, key throws(TOMLError) in try table.table(key) }
    }

    private func optional<T>(_ root: TOMLTable, _ key: String,
                             _ read: (TOMLTable, String) throws(TOMLError) -> T?) throws(AgentConfigError) -> T? {
        do {
            return try read(root, key)
        } catch {
            throw AgentConfigError(.invalidValue, path: path, key: key, error.description)
        }
    }

    private func required<T>(_ root: TOMLTable, _ key: String, _ expected: String,
                             _ read: (TOMLTable, String) throws(TOMLError) -> T?) throws(AgentConfigError) -> T {
        guard let value = try optional(root, key, read) else {
            throw AgentConfigError(.missingKey, path: path, key: key, "missing; set it to \(expected)")
        }
        return value
    }

    private func integer(_ root: TOMLTable, _ key: String, default value: Int,
                         range: ClosedRange<Int>) throws(AgentConfigError) -> Int {
        let read = try optional(root, key) { table, key throws(TOMLError) in try table.integer(key) }
        guard let number = read else { return value }
        guard number >= Int64(range.lowerBound) && number <= Int64(range.upperBound) else {
            throw invalid(key, "\(number) is out of range; use \(range.lowerBound) to \(range.upperBound) "
                              + "(default \(value))")
        }
        return Int(number)
    }

    private func milliseconds(_ root: TOMLTable, _ key: String, default value: Int,
                              range: ClosedRange<Int>) throws(AgentConfigError) -> Int {
        try integer(root, key, default: value, range: range)
    }

    private func invalid(_ key: String, _ problem: String) -> AgentConfigError {
        AgentConfigError(.invalidValue, path: path, key: key, problem)
    }

    /// The id is a DTLS identity and a path segment of the device's command resource (same rule as the CLI's ids).
    private func checkDeviceID(_ id: String) throws(AgentConfigError) {
        let allowed = id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "@"):
                true
            default:
                false
            }
        }
        guard !id.isEmpty, id.utf8.count <= 64, allowed else {
            throw invalid("device.id", "\"\(id)\" must be 1 to 64 letters, digits, '-', '_', '.' or '@'; "
                              + "use the identity `nanoedge keys device` issued")
        }
    }

    private func readRoles(_ root: TOMLTable) throws(AgentConfigError) -> [DeviceRole] {
        let known = DeviceRole.allCases.map(\.rawValue).joined(separator: ", ")
        let expected = "a list such as [\"presence\", \"scanner\"] (known: \(known))"
        let names = try required(root, "device.roles", expected) { table, key throws(TOMLError) in
            try table.strings(key)
        }
        guard !names.isEmpty else { throw invalid("device.roles", "list at least one role: \(known)") }
        var roles: [DeviceRole] = []
        for name in names {
            guard let role = DeviceRole(rawValue: name) else {
                throw invalid("device.roles", "unknown role \"\(name)\"; known roles: \(known)")
            }
            guard !roles.contains(role) else { throw invalid("device.roles", "role \"\(name)\" is listed twice") }
            roles.append(role)
        }
        return roles
    }

    /// Each role needs hardware the board profile must list; the simulator provides BLE on any profile.
    private func checkHardware(roles: [DeviceRole], board: BoardProfile) throws(AgentConfigError) {
        for role in roles {
            let missing: String?
            switch role {
            case .scanner: missing = board.bleAdapter == nil && !board.simulated ? "a BLE adapter ([ble] adapter)" : nil
            case .presence: missing = board.pir == nil ? "a PIR line (gpio.pir)" : nil
            case .guidance: missing = board.leds.isEmpty ? "LEDs (gpio.leds)" : nil
            case .display: missing = nil
            }
            if let missing {
                throw AgentConfigError(.missingHardware, path: path, key: "device.roles",
                                       "role \"\(role.rawValue)\" needs \(missing), but board \"\(board.name)\" "
                                           + "(\(board.path)) has none; remove the role or use a board profile "
                                           + "that has it")
            }
        }
    }

    /// A key file's bytes and mode, or an error naming the key, the file and `fix`.
    private func readKeyContents(_ file: String, key: String, what: String,
                                 fix: String) throws(AgentConfigError) -> KeyFileContents {
        switch readSmallFile(file, limit: 4096) {
        case .success(let read):
            return read
        case .failure(let failure):
            throw AgentConfigError(.keyFile, path: path, key: key, errno: failure.errno,
                                   "cannot read the \(what) \(file): \(failure.text); \(fix)")
        }
    }

    /// Reads a pinned Ed25519 public key (64 hex digits). Anyone may read it, but nobody else may
    /// change it: a replaced key would let its owner push configs.
    private func readPublicKeyFile(_ file: String, key: String) throws(AgentConfigError) -> [UInt8] {
        let contents = try readKeyContents(file, key: key, what: "config signing public key",
                                           fix: "copy the .pub file `nanoedge keys config-key` wrote, or remove the setting")
        if contents.mode & 0o022 != 0 {
            throw AgentConfigError(.insecureKeyFile, path: path, key: key,
                                   "the config signing public key \(file) is writable by other users (mode "
                                       + "\(String(contents.mode & 0o777, radix: 8))); run `chmod 644 \(file)`")
        }
        guard let bytes = Hex.decode(String(decoding: contents.bytes, as: UTF8.self)), bytes.count == 32 else {
            throw AgentConfigError(.keyFile, path: path, key: key,
                                   "\(file) does not hold an Ed25519 public key (64 hex digits); use the .pub "
                                       + "file `nanoedge keys config-key` wrote")
        }
        return bytes
    }

    /// Reads a hex key file: 16 to 64 bytes, and not open to other users.
    private func readKeyFile(_ file: String, key: String, what: String,
                             warnings: inout [String]) throws(AgentConfigError) -> [UInt8] {
        let contents = try readKeyContents(file, key: key, what: "\(what) file",
                                           fix: "provision it (`nanoedge keys device`) or fix the path")
        let permissions = contents.mode & 0o777
        let octal = String(permissions, radix: 8)
        if permissions & 0o007 != 0 {
            throw AgentConfigError(.insecureKeyFile, path: path, key: key,
                                   "the \(what) file \(file) has mode \(octal), so any user can read or change it; "
                                       + "run `chmod 600 \(file)` (and consider the key exposed)")
        }
        if permissions & 0o070 != 0 {
            warnings.append("\(path): \(key): the \(what) file \(file) has mode \(octal) and is open to its group; "
                                + "`chmod 600 \(file)` unless that group is meant to read it")
        }
        guard let bytes = Hex.decode(String(decoding: contents.bytes, as: UTF8.self)) else {
            throw AgentConfigError(.keyFile, path: path, key: key,
                                   "the \(what) file \(file) is not hex; it must hold the key as hex digits "
                                       + "(as `nanoedge keys device` writes it)")
        }
        guard (16...64).contains(bytes.count) else {
            throw AgentConfigError(.keyFile, path: path, key: key,
                                   "the \(what) in \(file) is \(bytes.count) bytes; it must be 16 to 64 bytes "
                                       + "(32 to 128 hex digits)")
        }
        return bytes
    }

    // MARK: [updates]

    private func readUpdates(_ root: TOMLTable, stateDirectory: String,
                             warnings: inout [String]) throws(AgentConfigError) -> UpdateSettings? {
        guard try table(root, "updates") != nil else { return nil }
        let server = try requiredString(root, "updates.server", "the update server's base URL, e.g. "
                                            + "\"https://updates.example:8080\"")
        let lower = server.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), server.utf8.count > 8,
              !server.utf8.contains(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        else { throw invalid("updates.server", "\"\(server)\" is not an http:// or https:// base URL; use e.g. "
                                 + "\"https://updates.example:8080\"") }
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        // The device token is a bearer token: on plain HTTP anyone on the network can take it.
        let insecureHTTP = try bool(root, "updates.insecure_http") ?? false
        let plain = lower.hasPrefix("http://")
        if plain && !insecureHTTP {
            throw invalid("updates.server", "\"\(server)\" is plain http://, which would send the device token in "
                              + "clear; use https:// with updates.ca (docs/update-server.md, TLS), or set "
                              + "updates.insecure_http = true for a lab network")
        }
        var ca: String?
        if let file = try string(root, "updates.ca") {
            let resolved = resolve(file)
            guard access(resolved, R_OK) == 0 else {
                throw AgentConfigError(.keyFile, path: path, key: "updates.ca", errno: errno,
                                       "cannot read the update server's CA file \(resolved); copy the site's "
                                           + "update-ca.pem there or fix the path")
            }
            ca = resolved
        }
        let pin = try string(root, "updates.pin")
        if let pin {
            let pins = pin.split(separator: ";", omittingEmptySubsequences: false)
            guard pins.allSatisfy({ $0.hasPrefix("sha256//") && $0.utf8.count == 52 && $0.hasSuffix("=") }) else {
                throw invalid("updates.pin", "\"\(pin)\" is not a public key pin; use \"sha256//\" and the base64 "
                                  + "SHA-256 of the server's public key (44 characters), several joined by \";\"")
            }
        }
        if plain && (ca != nil || pin != nil) {
            throw invalid("updates.server", "\"\(server)\" is plain http://, so updates.ca and updates.pin would "
                              + "never be checked; use https://")
        }
        let tokenFile = resolve(try requiredString(root, "updates.token_file",
                                                   "the device token file `nanoedge devices add` wrote"))
        let token = try readTokenFile(tokenFile)
        let metadata = resolve(try string(root, "updates.metadata_dir") ?? join(stateDirectory, "tuf"))
        let interval = try integer(root, "updates.poll_interval_s", default: 300, range: 1...86_400)
        let jitter = try integer(root, "updates.poll_jitter_s", default: 60, range: 0...3600)
        var push: UpdateSettings.Push?
        if let uri = try string(root, "updates.push_uri") {
            let endpoint = try parseURI(uri, allowPlain: false, key: "updates.push_uri")
            guard let pskFile = try string(root, "updates.push_psk_file") else {
                throw AgentConfigError(.missingKey, path: path, key: "updates.push_psk_file",
                                       "missing; push needs the DTLS key `nanoedge devices add` wrote (ID.psk)")
            }
            let file = resolve(pskFile)
            let key = try readKeyFile(file, key: "updates.push_psk_file", what: "update server PSK", warnings: &warnings)
            push = UpdateSettings.Push(host: endpoint.host, port: endpoint.port, pskFile: file, key: key)
        } else if try string(root, "updates.push_psk_file") != nil {
            throw invalid("updates.push_psk_file", "is set without updates.push_uri; set both to observe the "
                              + "update server's push, or neither to poll only")
        }
        return UpdateSettings(server: base, tokenFile: tokenFile, token: token, metadataDirectory: metadata,
                              pollIntervalSeconds: interval, pollJitterSeconds: jitter, push: push,
                              caFile: ca, pinnedPublicKey: pin, insecureHTTP: insecureHTTP)
    }

    /// A device token (`ned_…`), not open to other users.
    private func readTokenFile(_ file: String) throws(AgentConfigError) -> String {
        let key = "updates.token_file"
        let contents: KeyFileContents
        switch readSmallFile(file, limit: 4096) {
        case .success(let read):
            contents = read
        case .failure(let failure):
            throw AgentConfigError(.keyFile, path: path, key: key, errno: failure.errno,
                                   "cannot read the device token file \(file): \(failure.text); provision it "
                                       + "(`nanoedge devices add ID --out-dir DIR` writes ID.token) or fix the path")
        }
        if contents.mode & 0o007 != 0 {
            throw AgentConfigError(.insecureKeyFile, path: path, key: key,
                                   "the device token file \(file) has mode \(String(contents.mode & 0o777, radix: 8)), "
                                       + "so any user can read it; run `chmod 600 \(file)`")
        }
        let token = String(decoding: contents.bytes.filter { $0 > 0x20 && $0 < 0x7F }, as: UTF8.self)
        guard token.hasPrefix("ned_"), token.utf8.count > 8 else {
            throw AgentConfigError(.keyFile, path: path, key: key,
                                   "\(file) does not hold a device token (ned_…); use the ID.token file "
                                       + "`nanoedge devices add` wrote")
        }
        return token
    }

    // MARK: The gateway URI

    private struct Endpoint {
        var scheme: AgentConfig.Scheme
        var host: String
        var port: UInt16
    }

    private func parseURI(_ uri: String, allowPlain: Bool, key: String = "gateway.uri") throws(AgentConfigError) -> Endpoint {
        let form = "use coaps://HOST[:PORT], e.g. \"coaps://gateway.local:5684\" or \"coaps://[::1]\""
        let bytes = Array(uri.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
              bytes[colon...].starts(with: "://".utf8)
        else { throw invalid(key, "\"\(uri)\" is not a URI; \(form)") }
        let schemeText = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        guard let scheme = AgentConfig.Scheme(rawValue: schemeText) else {
            throw invalid(key, "scheme \"\(schemeText)\" is not supported; \(form)")
        }
        if scheme == .coap && !allowPlain {
            throw invalid(key, "plain coap:// is off: use coaps:// (DTLS with the device's PSK), "
                              + "or set allow_plain = true under [gateway] for a lab")
        }
        var rest = bytes[(colon + 3)...]
        if rest.last == UInt8(ascii: "/") { rest = rest.dropLast() }
        for byte in "/?#@".utf8 where rest.contains(byte) {
            throw invalid(key, "\"\(uri)\" has a path, query or user part; the agent needs only the host "
                              + "and port: \(form)")
        }
        var host: String
        var portText: Substring?
        if rest.first == UInt8(ascii: "[") {
            guard let close = rest.firstIndex(of: UInt8(ascii: "]")) else {
                throw invalid(key, "\"\(uri)\" opens an IPv6 address with '[' but never closes it")
            }
            host = String(decoding: rest[(rest.startIndex + 1)..<close], as: UTF8.self)
            let after = rest[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else {
                    throw invalid(key, "\"\(uri)\": expected ':PORT' after ']'")
                }
                portText = Substring(String(decoding: after.dropFirst(), as: UTF8.self))
            }
            let hexOrColon = host.utf8.allSatisfy {
                isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
            }
            guard host.contains(":"), hexOrColon else {
                throw invalid(key, "\"\(host)\" in brackets is not an IPv6 address")
            }
        } else {
            let text = String(decoding: rest, as: UTF8.self)
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw invalid(key, "\"\(uri)\": put an IPv6 address in brackets, e.g. \"coaps://[::1]:5684\"")
            }
            host = String(parts[0])
            portText = parts.count == 2 ? parts[1] : nil
            let hostBytes = host.utf8.allSatisfy {
                isHexDigit($0) || isLetter($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
            }
            guard hostBytes else { throw invalid(key, "\"\(host)\" is not a host name or IP address; \(form)") }
        }
        guard !host.isEmpty else { throw invalid(key, "\"\(uri)\" has no host; \(form)") }
        var port: UInt16 = scheme == .coaps ? 5684 : 5683
        if let portText {
            guard let number = UInt16(portText), number > 0 else {
                throw invalid(key, "port \"\(portText)\" must be a number from 1 to 65535")
            }
            port = number
        }
        return Endpoint(scheme: scheme, host: host, port: port)
    }

    private func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    private func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    // MARK: Paths

    private func resolve(_ value: String) -> String {
        value.hasPrefix("/") ? value : join(directory, value)
    }
}

private func join(_ directory: String, _ name: String) -> String {
    var relative = Substring(name)
    while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
    if relative.isEmpty || relative == "." { return directory }
    return directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
}

/// `path` made absolute against the working directory, so a later chdir cannot change its meaning.
private func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return join(cwd, path)
}

private func directoryOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

// MARK: - Files

struct KeyFileContents {
    var bytes: [UInt8]
    var mode: mode_t
}

struct FileFailure: Error {
    var errno: Int32?
    var text: String
}

/// A small regular file with its mode, read with plain libc (no Foundation in the agent).
func readSmallFile(_ path: String, limit: Int) -> Result<KeyFileContents, FileFailure> {
    func failure(_ code: Int32) -> FileFailure {
        let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return FileFailure(errno: code, text: text)
    }
    var fd: Int32
    repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
    guard fd >= 0 else { return .failure(failure(errno)) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { return .failure(failure(errno)) }
    guard info.st_mode & S_IFMT == S_IFREG else { return .failure(FileFailure(errno: nil, text: "not a regular file")) }
    guard Int(info.st_size) <= limit else {
        return .failure(FileFailure(errno: nil,
                                    text: "\(info.st_size) bytes is more than the \(limit) this file may hold"))
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return .failure(failure(errno))
        }
        if count == 0 { break }
        bytes += chunk[0..<count]
        if bytes.count > limit {
            return .failure(FileFailure(errno: nil, text: "more than the \(limit) bytes this file may hold"))
        }
    }
    return .success(KeyFileContents(bytes: bytes, mode: info.st_mode))
}

import Agent
import Site
import Testing
import TrustedTime

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

/// The checkout's boards/, found from this file's path (Tests/AgentTests/AgentConfigTests.swift).
private let repositoryBoards: String = {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/boards"
}()

private let pskHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
private let siteKeyHex = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"

/// A temp directory holding agent.toml and its key files; removed at the end of the test.
private struct ConfigDirectory: ~Copyable {
    let path: String

    init() {
        var template = Array("/tmp/nanoedge-agentconfig-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        write("psk", pskHex + "\n", mode: 0o600)
        write("site.key", siteKeyHex + "\n", mode: 0o600)
    }

    deinit { removeTree(path) }

    var configPath: String { path + "/agent.toml" }

    func write(_ name: String, _ text: String, mode: mode_t = 0o644) {
        let file = path + "/" + name
        guard let handle = fopen(file, "w") else { preconditionFailure("fopen \(file): errno \(errno)") }
        fputs(text, handle)
        fclose(handle)
        chmod(file, mode)
    }

    func makeDirectory(_ name: String) {
        mkdir(path + "/" + name, 0o755)
    }

    /// The example from the brief, with this directory's key files and the checkout's boards.
    func example(board: String = "sim", roles: String = #"["presence", "scanner"]"#,
                 uri: String = "coaps://127.0.0.1:5684", gatewayExtra: String = "", deviceExtra: String = "") -> String {
        """
        # /etc/nanoedge/agent.toml
        [device]
        id = "entrance-1"                  # the DTLS PSK identity issued by `nanoedge keys device`
        psk_file = "\(path)/psk"
        location = "entrance"
        roles = \(roles)
        board = "\(board)"
        boards_dir = "\(repositoryBoards)"
        state_dir = "\(path)/state"
        \(deviceExtra)

        [gateway]
        uri = "\(uri)"
        ack_timeout_ms = 1000
        max_retransmit = 3
        heartbeat_ms = 5000
        \(gatewayExtra)

        [scanner]
        window_ms = 3000
        site_key_file = "\(path)/site.key"
        raw_addresses = false

        [guidance]
        # nothing required

        [display]
        command = ""
        content_dir = "\(path)/content"

        [simulator]
        socket = "\(path)/sim.sock"
        """
    }

    func load(_ text: String) throws(AgentConfigError) -> AgentConfig {
        write("agent.toml", text)
        return try AgentConfig.load(path: configPath)
    }
}


// MARK: - Tests

@Suite struct AgentConfigTests {
    @Test func theDocumentedExampleLoads() throws {
        let directory = ConfigDirectory()
        let config = try directory.load(directory.example())
        #expect(config.path == directory.configPath)
        #expect(config.deviceID == "entrance-1")
        #expect(config.location == "entrance")
        #expect(config.roles == [.presence, .scanner])
        #expect(config.board.name == "sim")
        #expect(config.board.simulated)
        #expect(config.boardSearchPaths.first == repositoryBoards)
        #expect(config.key == HexBytes.decode(pskHex))
        #expect(config.siteKey == HexBytes.decode(siteKeyHex))
        #expect(config.siteKeyFile == directory.path + "/site.key")
        #expect(config.gatewayScheme == .coaps)
        #expect(config.usesPlainCoAP == false)
        #expect(config.gatewayHost == "127.0.0.1")
        #expect(config.gatewayPort == 5684)
        #expect(config.ackTimeoutMilliseconds == 1000)
        #expect(config.maxRetransmit == 3)
        #expect(config.heartbeatMilliseconds == 5000)
        #expect(config.scanWindowMilliseconds == 3000)
        #expect(config.rawAddresses == false)
        #expect(config.displayCommand.isEmpty)
        #expect(config.contentDirectory == directory.path + "/content")
        #expect(config.simulatorSocket == directory.path + "/sim.sock")
        #expect(config.stateDirectory == directory.path + "/state")
        #expect(config.eventLogDirectory == directory.path + "/state/events")
        #expect(config.warnings.isEmpty)
    }

    @Test func defaultsApplyWhenOptionalKeysAreLeftOut() throws {
        let directory = ConfigDirectory()
        let config = try directory.load("""
            [device]
            id = "room-a"
            psk_file = "psk"
            location = "room-a"
            roles = ["display"]
            board = "sim"
            boards_dir = "\(repositoryBoards)"

            [gateway]
            uri = "coaps://gateway.local"
            """)
        #expect(config.gatewayPort == 5684)
        #expect(config.ackTimeoutMilliseconds == 1000)
        #expect(config.maxRetransmit == 3)
        #expect(config.heartbeatMilliseconds == 5000)
        #expect(config.scanWindowMilliseconds == 3000)
        #expect(config.stateDirectory == AgentConfig.defaultStateDirectory)
        #expect(config.contentDirectory == AgentConfig.defaultStateDirectory + "/content")
        #expect(config.simulatorSocket == AgentConfig.defaultSimulatorSocket)
        // No scanner role: no site key needed.
        #expect(config.siteKey == nil)
        #expect(config.time == TrustedTimeSettings(floorPath: AgentConfig.defaultStateDirectory + "/time-floor",
                                                   systemClock: .synchronised, skewSeconds: 300))
    }

    @Test func theTimeTableSaysWhichClockToBelieve() throws {
        let directory = ConfigDirectory()
        let config = try directory.load(directory.example() + "\n[time]\nsystem_clock = \"never\"\nskew_s = 30\n")
        #expect(config.time.systemClock == .never)
        #expect(config.time.skewSeconds == 30)
        #expect(config.time.floorPath == config.stateDirectory + "/time-floor")
        let error = try #require(throws: AgentConfigError.self) {
            try directory.load(directory.example() + "\n[time]\nsystem_clock = \"ntp\"\n")
        }
        #expect(error.key == "time.system_clock")
        #expect(error.description.contains("\"never\" (only the gateway's time)"))
    }

    @Test func aMissingBoardProfileNamesTheBoardAndTheAvailableOnes() throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) { try directory.load(directory.example(board: "rpi9")) }
        #expect(error.code == .boardNotFound)
        #expect(error.key == "device.board")
        #expect(error.path == directory.configPath)
        #expect(error.description.hasPrefix(directory.configPath + ": device.board: "))
        #expect(error.description.contains("\"rpi9\""))
        #expect(error.description.contains(repositoryBoards))
        #expect(error.description.contains("available boards: rpi3b, rpi4b, rpi5, sim, sim-aarch64, zero2w"))
    }

    @Test func aMissingPSKFileIsReported() throws {
        let directory = ConfigDirectory()
        unlink(directory.path + "/psk")
        let error = try #require(throws: AgentConfigError.self) { try directory.load(directory.example()) }
        #expect(error.code == .keyFile)
        #expect(error.key == "device.psk_file")
        #expect(error.errno == ENOENT)
        #expect(error.description.contains(directory.path + "/psk"))
        #expect(error.description.contains("No such file"))
    }

    @Test(arguments: ["not hex at all", "0011223", "00112233445566778899aabbccddee", String(repeating: "ab", count: 65)])
    func aPSKThatIsNotHexOrHasTheWrongLengthIsRefused(contents: String) throws {
        let directory = ConfigDirectory()
        directory.write("psk", contents, mode: 0o600)
        let error = try #require(throws: AgentConfigError.self) { try directory.load(directory.example()) }
        #expect(error.code == .keyFile)
        #expect(error.key == "device.psk_file")
        #expect(error.description.contains("hex") || error.description.contains("16 to 64 bytes"))
    }

    @Test func aKeyFileOthersCanReadIsRefusedAndAGroupReadableOneWarns() throws {
        let directory = ConfigDirectory()
        chmod(directory.path + "/psk", 0o644)
        let error = try #require(throws: AgentConfigError.self) { try directory.load(directory.example()) }
        #expect(error.code == .insecureKeyFile)
        #expect(error.description.contains("chmod 600"))

        chmod(directory.path + "/psk", 0o640)
        let config = try directory.load(directory.example())
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.contains("640") == true)
    }

    @Test func theScannerRoleNeedsTheSiteKey() throws {
        let directory = ConfigDirectory()
        unlink(directory.path + "/site.key")
        let error = try #require(throws: AgentConfigError.self) { try directory.load(directory.example()) }
        #expect(error.key == "scanner.site_key_file")
        #expect(error.code == .keyFile)
        // Without the scanner role the missing key does not matter.
        let config = try directory.load(directory.example(roles: #"["presence", "guidance"]"#))
        #expect(config.siteKey == nil)
    }

    @Test func plainCoAPIsRefusedUnlessAllowed() throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) {
            try directory.load(directory.example(uri: "coap://127.0.0.1"))
        }
        #expect(error.code == .invalidValue)
        #expect(error.key == "gateway.uri")
        #expect(error.description.contains("allow_plain = true"))

        let config = try directory.load(directory.example(uri: "coap://127.0.0.1", gatewayExtra: "allow_plain = true"))
        #expect(config.gatewayScheme == .coap)
        #expect(config.usesPlainCoAP)
        #expect(config.allowPlain)
        #expect(config.gatewayPort == 5683)
        #expect(config.warnings.contains { $0.contains("unencrypted") })
    }

    @Test(arguments: [
        ("coaps://[::1]", "::1", UInt16(5684)),
        ("coaps://[fe80::1%eth0]:6000", "", 0),
        ("coaps://[2001:db8::7]:5700/", "2001:db8::7", 5700),
        ("COAPS://gateway.local:6000", "gateway.local", 6000),
        ("coaps://10.0.0.2/", "10.0.0.2", 5684),
    ])
    func gatewayURIsParse(uri: String, host: String, port: UInt16) throws {
        let directory = ConfigDirectory()
        if host.isEmpty {
            // A zone id is not accepted: the agent talks to a gateway by routable address or name.
            #expect(throws: AgentConfigError.self) { try directory.load(directory.example(uri: uri)) }
            return
        }
        let config = try directory.load(directory.example(uri: uri))
        #expect(config.gatewayHost == host)
        #expect(config.gatewayPort == port)
    }

    @Test(arguments: ["http://gateway", "gateway:5684", "coaps://::1", "coaps://host:0", "coaps://host:70000",
                      "coaps://host/path", "coaps://", "coaps://user@host", "coaps://[::1"])
    func badGatewayURIsAreRefused(uri: String) throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) { try directory.load(directory.example(uri: uri)) }
        #expect(error.key == "gateway.uri")
        #expect(error.code == .invalidValue)
    }

    @Test func anUnknownRoleIsRefusedWithTheKnownOnes() throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) {
            try directory.load(directory.example(roles: #"["presence", "camera"]"#))
        }
        #expect(error.code == .invalidValue)
        #expect(error.key == "device.roles")
        #expect(error.description.contains("\"camera\""))
        #expect(error.description.contains("presence, scanner, guidance, display"))
    }

    @Test func relativePathsResolveAgainstTheConfigDirectory() throws {
        let directory = ConfigDirectory()
        directory.makeDirectory("keys")
        directory.write("keys/psk", pskHex, mode: 0o600)
        directory.write("keys/site.key", siteKeyHex, mode: 0o600)
        // A boards/ next to the config is searched without boards_dir.
        directory.makeDirectory("boards")
        directory.write("boards/sim.toml", """
            name = "sim"
            simulated = true
            [gpio]
            chip_label = "nanoedge-sim"
            pir = "GPIO17"
            """)
        let config = try directory.load("""
            [device]
            id = "entrance-1"
            psk_file = "keys/psk"
            location = "entrance"
            roles = ["presence", "scanner", "display"]
            board = "sim"
            state_dir = "./state"

            [gateway]
            uri = "coaps://127.0.0.1"

            [scanner]
            site_key_file = "keys/site.key"

            [display]
            command = "bin/show --fullscreen"

            [simulator]
            socket = "run/sim.sock"
            """)
        #expect(config.pskFile == directory.path + "/keys/psk")
        #expect(config.key == HexBytes.decode(pskHex))
        #expect(config.siteKeyFile == directory.path + "/keys/site.key")
        #expect(config.stateDirectory == directory.path + "/state")
        #expect(config.contentDirectory == directory.path + "/state/content")
        #expect(config.simulatorSocket == directory.path + "/run/sim.sock")
        #expect(config.displayCommand == [directory.path + "/bin/show", "--fullscreen"])
        #expect(config.board.path == directory.path + "/boards/sim.toml")
    }

    @Test func aRelativeConfigPathIsMadeAbsolute() throws {
        let directory = ConfigDirectory()
        directory.write("agent.toml", directory.example().replacingOccurrences(of: directory.path + "/psk", with: "psk"))
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let cwd = try #require(getcwd(&buffer, buffer.count).map { String(cString: $0) })
        // The working directory is process-wide, so reach the config from it instead of calling chdir.
        let depth = cwd.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + directory.path.dropFirst() + "/agent.toml"
        let config = try AgentConfig.load(path: relative)
        #expect(config.path.hasPrefix("/"))
        #expect(config.pskFile.hasPrefix("/"))
        #expect(config.pskFile.hasSuffix(directory.path + "/psk"))
        #expect(config.key == HexBytes.decode(pskHex))
    }

    @Test(arguments: [
        ("presence", "a PIR line"),
        ("guidance", "LEDs"),
        ("scanner", "a BLE adapter"),
    ])
    func aRoleTheBoardCannotServeIsRefused(role: String, needs: String) throws {
        let directory = ConfigDirectory()
        directory.makeDirectory("boards")
        directory.write("boards/bare.toml", """
            name = "bare"
            description = "a board with nothing wired"
            [gpio]
            chip_label = "pinctrl-bcm2711"
            """)
        let text = directory.example(board: "bare", roles: "[\"\(role)\"]")
            .replacingBoardsDirectory(with: directory.path + "/boards")
        let error = try #require(throws: AgentConfigError.self) { try directory.load(text) }
        #expect(error.code == .missingHardware)
        #expect(error.key == "device.roles")
        #expect(error.description.contains("\"\(role)\" needs \(needs)"))
        #expect(error.description.contains("\"bare\""))
    }

    @Test func theSimulatedBoardServesTheScannerWithoutAnAdapter() throws {
        let directory = ConfigDirectory()
        directory.makeDirectory("boards")
        directory.write("boards/sim.toml", """
            name = "sim"
            simulated = true
            [gpio]
            chip_label = "nanoedge-sim"
            """)
        let text = directory.example(roles: #"["scanner"]"#).replacingBoardsDirectory(with: directory.path + "/boards")
        let config = try directory.load(text)
        #expect(config.board.bleAdapter == nil)
        #expect(config.roles == [.scanner])
    }

    @Test func anUnknownKeyIsRefused() throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) {
            try directory.load(directory.example(deviceExtra: "boards-dir = \"x\""))
        }
        #expect(error.code == .unknownKey)
        #expect(error.key == "device.boards-dir")
        #expect(error.description.contains("boards_dir"))
    }

    @Test func aMissingRequiredKeyIsNamed() throws {
        let directory = ConfigDirectory()
        let text = directory.example().split(separator: "\n").filter { !$0.hasPrefix("location") }.joined(separator: "\n")
        let error = try #require(throws: AgentConfigError.self) { try directory.load(text) }
        #expect(error.code == .missingKey)
        #expect(error.key == "device.location")
    }

    @Test func aMissingConfigFileIsReported() throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) {
            try AgentConfig.load(path: directory.path + "/nope.toml")
        }
        #expect(error.code == .file)
        #expect(error.errno == ENOENT)
        #expect(error.description.contains("nope.toml"))
    }

    @Test func aSyntaxErrorGivesTheLine() throws {
        let directory = ConfigDirectory()
        let error = try #require(throws: AgentConfigError.self) { try directory.load("[device\nid = 1\n") }
        #expect(error.code == .syntax)
        #expect(error.description.contains("line 1"))
    }

    @Test func theKeysStayOutOfTheDescription() throws {
        let directory = ConfigDirectory()
        let config = try directory.load(directory.example())
        let text = "\(config)"
        #expect(!text.contains(pskHex))
        #expect(!text.contains(siteKeyHex))
        #expect(text.contains("redacted"))
        #expect(text.contains("entrance-1"))
    }
}

@Suite struct UpdateSettingsConfigTests {
    private func updates(_ directory: borrowing ConfigDirectory, _ body: String) -> String {
        directory.example() + "\n\n[updates]\n" + body + "\n"
    }

    @Test func theUpdatesSectionLoadsWithItsDefaults() throws {
        let directory = ConfigDirectory()
        directory.write("device.token", "ned_0123456789abcdef\n", mode: 0o600)
        let config = try directory.load(updates(directory, """
            server = "http://127.0.0.1:8080/"
            token_file = "device.token"
            insecure_http = true
            """))
        let settings = try #require(config.updates)
        #expect(settings.server == "http://127.0.0.1:8080")
        #expect(settings.token == "ned_0123456789abcdef")
        #expect(settings.metadataDirectory == directory.path + "/state/tuf")
        #expect(settings.pollIntervalSeconds == 300 && settings.pollJitterSeconds == 60)
        #expect(settings.push == nil)
        #expect(settings.metadataURL == "http://127.0.0.1:8080/metadata/")
        #expect(!config.description.contains("ned_"))
        #expect(try directory.load(directory.example()).updates == nil)
        #expect(settings.insecureHTTP && settings.caFile == nil)
    }

    /// The server's CA and key pin reach every transfer the agent makes to it.
    @Test func caAndPinReachTheTransfers() throws {
        let directory = ConfigDirectory()
        directory.write("device.token", "ned_0123456789abcdef\n", mode: 0o600)
        directory.write("update-ca.pem", "-----BEGIN CERTIFICATE-----\n", mode: 0o644)
        let pin = "sha256//" + String(repeating: "A", count: 43) + "="
        let config = try directory.load(updates(directory, """
            server = "https://updates.example:8443"
            token_file = "device.token"
            ca = "update-ca.pem"
            pin = "\(pin)"
            """))
        let options = try #require(config.updates?.downloadOptions)
        #expect(options.caFile == directory.path + "/update-ca.pem")
        #expect(options.pinnedPublicKey == pin)
        #expect(config.updates?.insecureHTTP == false)
    }

    @Test func pushTakesTheUpdateServersKey() throws {
        let directory = ConfigDirectory()
        directory.write("device.token", "ned_0123456789abcdef\n", mode: 0o600)
        let config = try directory.load(updates(directory, """
            server = "https://updates.example"
            token_file = "device.token"
            poll_interval_s = 2
            poll_jitter_s = 0
            push_uri = "coaps://127.0.0.1:5699"
            push_psk_file = "psk"
            """))
        let push = try #require(config.updates?.push)
        #expect(push.host == "127.0.0.1" && push.port == 5699 && push.key == HexBytes.decode(pskHex))
        #expect(config.updates?.pollIntervalSeconds == 2 && config.updates?.pollJitterSeconds == 0)
    }

    @Test(arguments: [
        ("server = \"ftp://x\"\ntoken_file = \"device.token\"", "updates.server", "http:// or https://"),
        ("server = \"https://x:1\"", "updates.token_file", "missing"),
        ("server = \"https://x:1\"\ntoken_file = \"open.token\"", "updates.token_file", "chmod 600"),
        ("server = \"https://x:1\"\ntoken_file = \"psk\"", "updates.token_file", "device token (ned_"),
        ("server = \"https://x:1\"\ntoken_file = \"device.token\"\npoll_interval_s = 0", "updates.poll_interval_s", "out of range"),
        ("server = \"https://x:1\"\ntoken_file = \"device.token\"\npush_uri = \"coaps://h\"", "updates.push_psk_file", "missing"),
        ("server = \"https://x:1\"\ntoken_file = \"device.token\"\npush_uri = \"coap://h\"\npush_psk_file = \"psk\"", "updates.push_uri", "coaps://"),
        ("server = \"https://x:1\"\ntoken_file = \"device.token\"\npoll = 3", "updates.poll", "unknown key"),
        ("server = \"http://x:1\"\ntoken_file = \"device.token\"", "updates.server", "insecure_http = true"),
        ("server = \"http://x:1\"\ntoken_file = \"device.token\"\ninsecure_http = true\nca = \"psk\"", "updates.server",
         "never be checked"),
        ("server = \"https://x:1\"\ntoken_file = \"device.token\"\nca = \"missing.pem\"", "updates.ca", "cannot read"),
        ("server = \"https://x:1\"\ntoken_file = \"device.token\"\npin = \"sha256//short\"", "updates.pin",
         "not a public key pin"),
    ])
    func mistakesNameTheKey(body: String, key: String, message: String) {
        let directory = ConfigDirectory()
        directory.write("device.token", "ned_0123456789abcdef\n", mode: 0o600)
        directory.write("open.token", "ned_0123456789abcdef\n", mode: 0o644)
        #expect {
            try directory.load(updates(directory, body))
        } throws: { error in
            "\(error)".contains(key) && "\(error)".contains(message)
        }
    }
}

private extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }

    func replacingBoardsDirectory(with directory: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("boards_dir") ? "boards_dir = \"\(directory)\"" : String($0) }
            .joined(separator: "\n")
    }
}

private enum HexBytes {
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }
}

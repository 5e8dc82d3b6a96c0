import Foundation
import Testing

/// What an operator meets first on every binary: `--version`, usage errors, one default per option,
/// the two CoAP services on one host, the update server's config file, and log lines journald can
/// rank. All through the built executables.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DaemonConventionsTests {
    let directory: CLIFixture.TemporaryDirectory

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
    }

    /// The version `make deb` names the packages after.
    static var sourceVersion: String {
        get throws {
            let text = try String(contentsOf: CLIFixture.packageRoot.appendingPathComponent("Sources/Site/ProductVersion.swift"),
                                  encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("public let productVersion = ") })
            return String(line.split(separator: "\"")[1])
        }
    }

    static func agent(_ arguments: [String]) throws -> CLIFixture.Result {
        let binary = URL(fileURLWithPath: try CLIFixture.binary()).deletingLastPathComponent().appendingPathComponent("nanoedge-agent").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIFixture.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                 stderr: String(decoding: stderr, as: UTF8.self))
    }

    // MARK: Versions and usage

    @Test func bothBinariesPrintTheirVersionAndExitZero() throws {
        let version = try Self.sourceVersion
        let server = try CLIFixture.run(["--version"])
        #expect(server.status == 0, "\(server)")
        #expect(server.stdout == "nanoedge \(version)\n", "\(server)")
        let agent = try Self.agent(["--version"])
        #expect(agent.status == 0, "\(agent)")
        #expect(agent.stdout == "nanoedge-agent \(version)\n", "\(agent)")
    }

    @Test func usageErrorsExit64OnEveryBinary() throws {
        #expect(try CLIFixture.run(["gateway", "--no-such-option"]).status == 64)
        for arguments in [["--no-such-option"], ["--config"], ["--log-level", "loud", "--config", "x.toml"],
                          ["update", "--no-such-option"], ["tuf", "refresh"]] {
            let result = try Self.agent(arguments)
            #expect(result.status == 64, "nanoedge-agent \(arguments.joined(separator: " ")): \(result)")
        }
        let badLevel = try CLIFixture.run(["gateway", "--log-level", "loud"])
        #expect(badLevel.status == 64, "\(badLevel)")
        #expect(badLevel.stderr.contains("debug, info, notice, warning, error or critical"), "\(badLevel)")
    }

    @Test func noOptionStatesItsDefaultTwice() throws {
        // Every command's help, from the root down through the subcommands it lists.
        var pending: [[String]] = [[]]
        var seen = 0
        while let path = pending.popLast() {
            let help = try CLIFixture.run(path + ["--help"])
            #expect(help.status == 0, "\(path): \(help)")
            seen += 1
            // Options wrap over lines: join each option's text before counting.
            let text = help.stdout.replacingOccurrences(of: "\n      ", with: " ")
            for line in text.split(separator: "\n") {
                let mentions = line.components(separatedBy: "(default").count - 1
                #expect(mentions <= 1, "nanoedge \(path.joined(separator: " ")) --help: \(line)")
            }
            // "  NAME   abstract" lines up to the blank line ("  See 'nanoedge help …'" is not a command).
            if let start = help.stdout.range(of: "SUBCOMMANDS:\n") {
                for line in help.stdout[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.isEmpty { break }
                    guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first,
                          name.allSatisfy({ $0.isLowercase || $0 == "-" }) else { continue }
                    if name != "help" { pending.append(path + [String(name)]) }
                }
            }
            #expect(seen < 200, "the walk does not terminate: \(path)")
            if seen >= 200 { break }
        }
        #expect(seen > 30, "walked \(seen) commands")
    }

    // MARK: Ports

    static func waitFor(_ text: String, in path: String, seconds: Int = 20) async throws -> String {
        for _ in 0..<(seconds * 10) {
            let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if log.contains(text) { return log }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIFixture.SetupError(description: "\(path) never said \"\(text)\": \((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")")
    }

    func updateData() throws -> String {
        let data = directory.path + "/data"
        if !FileManager.default.fileExists(atPath: data + "/repository") {
            try CLIFixture.succeed(["keys", "init", "--repo", data + "/repository"])
        }
        return data
    }

    /// `nanoedge ARGS` with stderr to `log`; JOURNAL_STREAM set to that file's device and inode when asked.
    func start(_ arguments: [String], log: String, journal: Bool = false) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CLIFixture.binary())
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        if journal {
            var info = stat()
            try #require(stat(log, &info) == 0)
            var environment = ProcessInfo.processInfo.environment
            environment["JOURNAL_STREAM"] = "\(info.st_dev):\(info.st_ino)"
            process.environment = environment
        }
        try process.run()
        return process
    }

    @Test func theUpdateServerRefusesTheGatewaysPortAndNamesIt() async throws {
        let coap = UpdateServerCLITests.freePort()
        let gateway = try start(["gateway", "--db", directory.path + "/site.db", "--listen", "127.0.0.1:\(coap)", "--quiet"],
                                log: directory.path + "/gateway.log")
        defer { gateway.terminate(); gateway.waitUntilExit() }
        _ = try await Self.waitFor("listening on coaps://", in: directory.path + "/gateway.log")
        let refused = try CLIFixture.run(["update-server", "--data", try updateData(), "--http",
                                          "127.0.0.1:\(UpdateServerCLITests.freePort())", "--admin-http", "off",
                                          "--coap", "0.0.0.0:\(coap)", "--boards", CLIFixture.packageRoot.path + "/boards"])
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("UDP port \(coap) is already taken by pid \(gateway.processIdentifier) ("), "\(refused)")
        #expect(refused.stderr.contains("gateway --db"), "the holder's command line: \(refused)")
        #expect(refused.stderr.contains("--no-push"), "what to do about it: \(refused)")
    }

    @Test func theGatewayRefusesTheUpdateServersPushPortAndNamesIt() async throws {
        let coap = UpdateServerCLITests.freePort()
        let http = UpdateServerCLITests.freePort()
        let server = try start(["update-server", "--data", try updateData(), "--http", "127.0.0.1:\(http)",
                                "--admin-http", "off", "--coap", "127.0.0.1:\(coap)",
                                "--boards", CLIFixture.packageRoot.path + "/boards"],
                               log: directory.path + "/server.log")
        defer { server.terminate(); server.waitUntilExit() }
        _ = try await Self.waitFor("push on coaps://", in: directory.path + "/server.log")
        let refused = try CLIFixture.run(["gateway", "--db", directory.path + "/site.db", "--listen", "0.0.0.0:\(coap)"])
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("UDP port \(coap) is already taken by pid \(server.processIdentifier) ("), "\(refused)")
        #expect(refused.stderr.contains("update-server"), "\(refused)")
        #expect(refused.stderr.contains("5686"), "\(refused)")
    }

    // MARK: The update server's config file

    @Test func theConfigFileSetsWhatFlagsDoNotAndFlagsWin() async throws {
        let data = try updateData()
        let fromFile = UpdateServerCLITests.freePort()
        let fromFlag = UpdateServerCLITests.freePort()
        let config = directory.path + "/update-server.toml"
        try """
            # every serve option has a key
            data = "\(data)"
            http = "127.0.0.1:\(fromFile)"
            admin_http = "off"
            push = false
            boards = ["\(CLIFixture.packageRoot.path)/boards"]
            log_level = "warning"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // The file alone: its port, and at warning the start-up notice is not written.
        let quiet = try start(["update-server", "--config", config], log: directory.path + "/file.log")
        try await HTTPHoldsTests.waitUntilServing("http://127.0.0.1:\(fromFile)/metadata/root.json")
        quiet.terminate(); quiet.waitUntilExit()
        let quietLog = try String(contentsOfFile: directory.path + "/file.log", encoding: .utf8)
        #expect(!quietLog.contains("HTTP on"), "log_level = warning keeps notices out: \(quietLog)")

        // Flags over the file: another port, and --log-level over log_level.
        let loud = try start(["update-server", "--config", config, "--http", "127.0.0.1:\(fromFlag)", "--log-level", "info"],
                             log: directory.path + "/flag.log")
        defer { loud.terminate(); loud.waitUntilExit() }
        try await HTTPHoldsTests.waitUntilServing("http://127.0.0.1:\(fromFlag)/metadata/root.json")
        _ = try await Self.waitFor("update-server: HTTP on 127.0.0.1:\(fromFlag),", in: directory.path + "/flag.log")
        #expect(try HTTPHoldsTests.curl(["--max-time", "1", "-f", "http://127.0.0.1:\(fromFile)/metadata/root.json"]).status != 0,
                "the file's port is not served when a flag replaces it")

        // The token verbs read the data directory from the same file.
        try CLIFixture.succeed(["update-server", "token", "create", "ops", "--config", config, "--out", directory.path + "/ops.token"])
        let tokens = try CLIFixture.succeed(["update-server", "token", "list", "--config", config])
        #expect(tokens.stdout.contains("ops"))
    }

    @Test func aConfigFileMistakeNamesTheKey() throws {
        let config = directory.path + "/bad.toml"
        for (text, expected) in [
            ("data = \"/srv\"\nhttp_port = 80\n", "http_port: unknown key"),
            ("data = \"/srv\"\npool_size = 0\n", "pool_size: must be from 1 to 256"),
            ("data = \"/srv\"\ncoap = \"5686\"\n", "coap: \"5686\": expected HOST:PORT"),
            ("data = \"/srv\"\nlog_level = \"loud\"\n", "log_level: \"loud\": expected debug"),
            ("data = \"/srv\"\ntls_cert = \"/etc/cert.pem\"\n", "tls_cert/tls_key: they go together"),
            ("push = \"no\"\n", "push"),
        ] {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let result = try CLIFixture.run(["update-server", "--config", config])
            #expect(result.status == 1, "\(text): \(result)")
            #expect(result.stderr.contains(expected), "\(text): \(result)")
        }
        let noData = try CLIFixture.run(["update-server", "--http", "127.0.0.1:1"])
        #expect(noData.stderr.contains("no data directory: pass --data DIR, or set data"), "\(noData)")
    }

    // MARK: Journal

    @Test func underJournaldLinesCarryTheirPriority() async throws {
        let log = directory.path + "/journal.log"
        let gateway = try start(["gateway", "--db", directory.path + "/site.db",
                                 "--listen", "127.0.0.1:\(UpdateServerCLITests.freePort())", "--quiet"], log: log, journal: true)
        _ = try await Self.waitFor("<5>gateway: listening on coaps://", in: log)
        gateway.terminate(); gateway.waitUntilExit()
        let text = try await Self.waitFor("<5>gateway: stopped", in: log)
        for line in text.split(separator: "\n") {
            #expect(line.first == "<" && line.dropFirst().first?.isNumber == true && line.dropFirst(2).first == ">",
                    "every line has a priority: \(line)")
        }
        // The same daemon on a terminal or a file: no prefixes.
        let plainLog = directory.path + "/plain.log"
        let plain = try start(["gateway", "--db", directory.path + "/site.db",
                               "--listen", "127.0.0.1:\(UpdateServerCLITests.freePort())", "--quiet"], log: plainLog)
        let plainText = try await Self.waitFor("gateway: listening on coaps://", in: plainLog)
        plain.terminate(); plain.waitUntilExit()
        #expect(!plainText.contains("<5>"), "\(plainText)")
    }
}

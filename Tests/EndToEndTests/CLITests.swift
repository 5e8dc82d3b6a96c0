import Foundation
import Gateway
import JSON
import Site
import Testing

/// The `nanoedge` command line, run as a process against a temporary site database.
@Suite struct CLITests {
    let directory: CLIFixture.TemporaryDirectory
    var db: [String] { ["--db", directory.path + "/site.db"] }

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
    }

    private func json(_ result: CLIFixture.Result) throws -> JSON {
        try JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A room and a person, which most events need.
    private func addRoomAndPerson() throws {
        try CLIFixture.succeed(["registry", "room", "add", "room-1", "--name", "Room 1", "--kind", "meeting"] + db)
        try CLIFixture.succeed(["registry", "person", "add", "alice", "--name", "Alice Example"] + db)
    }

    // MARK: Registry

    @Test func registryRoundTrip() throws {
        try CLIFixture.succeed(["registry", "room", "add", "entrance", "--name", "Entrance", "--kind", "entrance"] + db)
        try CLIFixture.succeed(["registry", "room", "add", "room-1", "--name", "Room 1", "--kind", "meeting",
                                "--guidance", "backward"] + db)
        try CLIFixture.succeed(["registry", "person", "add", "alice", "--name", "Alice Example"] + db)
        try CLIFixture.succeed(["registry", "person", "add", "bob", "--name", "Bob"] + db)
        let tag = try CLIFixture.succeed(["registry", "tag", "add", "--person", "alice",
                                          "--id", "0123456789ABCDEF01234567", "--label", "alice-badge"] + db)
        #expect(tag.stdout.contains("0123456789abcdef01234567"))
        try CLIFixture.succeed(["registry", "event", "add", "weekly-sync", "--title", "Weekly sync",
                                "--room", "room-1", "--invite", "alice", "--invite", "bob",
                                "--starts", "2026-11-22T10:00Z", "--ends", "2026-11-22T11:30Z",
                                "--content", "Agenda: demo"] + db)

        let rooms = try json(CLIFixture.succeed(["registry", "room", "list", "--json"] + db))
        #expect(rooms == [
            ["id": "entrance", "name": "Entrance", "kind": "entrance", "guidance": "forward"],
            ["id": "room-1", "name": "Room 1", "kind": "meeting", "guidance": "backward"],
        ])
        let persons = try json(CLIFixture.succeed(["registry", "person", "list", "--json"] + db))
        #expect(persons == [["id": "alice", "name": "Alice Example"], ["id": "bob", "name": "Bob"]])
        let tags = try json(CLIFixture.succeed(["registry", "tag", "list", "--json"] + db))
        #expect(tags == [["id": "0123456789abcdef01234567", "person": "alice", "label": "alice-badge"]])
        let events = try json(CLIFixture.succeed(["registry", "event", "list", "--json"] + db))
        #expect(events == [[
            "id": "weekly-sync", "title": "Weekly sync", "room": "room-1",
            "startsAt": .int(1_795_341_600_000), "endsAt": .int(1_795_347_000_000),
            "starts": "2026-11-22T10:00:00.000Z", "ends": "2026-11-22T11:30:00.000Z",
            "invitees": ["alice", "bob"], "content": "Agenda: demo",
        ]])

        let text = try CLIFixture.succeed(["registry", "event", "list"] + db).stdout
        #expect(text.contains("weekly-sync"))
        #expect(text.contains("2026-11-22T10:00:00.000Z"))
        #expect(text.contains("alice,bob"))

        // A room that an event uses stays; removing the event frees it.
        let inUse = try CLIFixture.run(["registry", "room", "remove", "room-1"] + db)
        #expect(inUse.status == 1)
        #expect(inUse.stderr.hasPrefix("error: room \"room-1\" is still used"), "\(inUse)")
        try CLIFixture.succeed(["registry", "event", "remove", "weekly-sync"] + db)
        try CLIFixture.succeed(["registry", "room", "remove", "room-1"] + db)
        try CLIFixture.succeed(["registry", "person", "remove", "alice"] + db)
        // Removing a person removes their tags.
        #expect(try json(CLIFixture.succeed(["registry", "tag", "list", "--json"] + db)) == [])
        #expect(try json(CLIFixture.succeed(["registry", "person", "list", "--json"] + db)) == [
            ["id": "bob", "name": "Bob"],
        ])
        #expect(try json(CLIFixture.succeed(["registry", "event", "list", "--json"] + db)) == [])
    }

    @Test func eventContentFromFile() throws {
        try addRoomAndPerson()
        let file = directory.path + "/agenda.md"
        try "# Agenda\n\n- demo\n".write(toFile: file, atomically: true, encoding: .utf8)
        try CLIFixture.succeed(["registry", "event", "add", "e1", "--title", "T", "--room", "room-1",
                                "--invite", "alice", "--starts", "now", "--ends", "+1h",
                                "--content-file", file] + db)
        let events = try json(CLIFixture.succeed(["registry", "event", "list", "--json"] + db))
        #expect(events[0]?["content"] == "# Agenda\n\n- demo\n")
    }

    @Test func unknownRoomForAnEventFails() throws {
        try addRoomAndPerson()
        let result = try CLIFixture.run(["registry", "event", "add", "e1", "--title", "T", "--room", "nowhere",
                                         "--invite", "alice", "--starts", "now", "--ends", "+1h",
                                         "--content", "x"] + db)
        #expect(result.status == 1)
        #expect(result.stderr == "error: unknown room \"nowhere\"\n", "\(result)")
        #expect(result.stdout.isEmpty)
    }

    @Test func duplicatesAndUnknownReferencesFail() throws {
        try addRoomAndPerson()
        let duplicate = try CLIFixture.run(["registry", "person", "add", "alice", "--name", "Again"] + db)
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr == "error: person \"alice\" already exists\n")
        let stranger = try CLIFixture.run(["registry", "event", "add", "e1", "--title", "T", "--room", "room-1",
                                           "--invite", "mallory", "--starts", "now", "--ends", "+1h",
                                           "--content", "x"] + db)
        #expect(stranger.status == 1)
        #expect(stranger.stderr.contains("unknown person \"mallory\""), "\(stranger)")
        let tagForNobody = try CLIFixture.run(["registry", "tag", "add", "--person", "nobody",
                                               "--id", "0123456789abcdef01234567"] + db)
        #expect(tagForNobody.status == 1)
        #expect(tagForNobody.stderr == "error: unknown person \"nobody\"\n")
        let missing = try CLIFixture.run(["registry", "room", "remove", "attic"] + db)
        #expect(missing.stderr == "error: unknown room \"attic\"\n")
    }

    @Test func listingWithoutADatabaseSaysSoAndCreatesNothing() throws {
        let result = try CLIFixture.run(["registry", "person", "list"] + db)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: no site database at \(directory.path)/site.db"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/site.db"))
    }

    // MARK: Tags

    /// TagHasher's tag ids (HMAC-SHA256 of the upper-cased address, first 12 bytes), computed
    /// independently, with the address given in either case.
    @Test(arguments: [
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "AA:BB:CC:DD:EE:01", "33edd448f4fd42f12b5a65f8"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "aa:bb:cc:dd:ee:01", "33edd448f4fd42f12b5a65f8"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "00:11:22:33:44:55", "1e6e1cedcc957768c86b5ae1"),
        (String(repeating: "ab", count: 32), "AA:BB:CC:DD:EE:01", "85c6904660f358a423145804"),
        (String(repeating: "ab", count: 32), "00:11:22:33:44:55", "bd01b0bf8cd1871bfa6cd8d5"),
    ])
    func tagAddressIsHashedLikeTagHasher(siteKey: String, address: String, tagID: String) throws {
        let keyFile = directory.path + "/site.key"
        try (siteKey + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        try CLIFixture.succeed(["registry", "person", "add", "alice", "--name", "Alice"] + db)
        let added = try CLIFixture.succeed(["registry", "tag", "add", "--person", "alice", "--address", address,
                                            "--site-key", keyFile] + db)
        #expect(added.stdout == "added tag \(tagID) for alice\n")
        let tags = try json(CLIFixture.succeed(["registry", "tag", "list", "--json"] + db))
        #expect(tags == [["id": .string(tagID), "person": "alice", "label": ""]])
        #expect(!tags.serialized().lowercased().contains(address.lowercased()))
    }

    static var hasOpenSSL: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    /// A key from `keys site-key`, checked against OpenSSL's own HMAC.
    @Test(.enabled(if: hasOpenSSL)) func generatedSiteKeyHashesTags() throws {
        let keyFile = directory.path + "/keys/site.key"
        try CLIFixture.succeed(["keys", "site-key", "--out", keyFile])
        let key = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 64)
        try CLIFixture.succeed(["registry", "person", "add", "alice", "--name", "Alice"] + db)
        try CLIFixture.succeed(["registry", "tag", "add", "--person", "alice", "--address", "de:ad:be:ef:00:01",
                                "--site-key", keyFile] + db)

        let openssl = Process()
        let input = Pipe()
        let output = Pipe()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:\(key)"]
        openssl.standardInput = input
        openssl.standardOutput = output
        try openssl.run()
        input.fileHandleForWriting.write(Data("DE:AD:BE:EF:00:01".utf8))
        try input.fileHandleForWriting.close()
        openssl.waitUntilExit()
        let digest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: " ").last.map { String($0.prefix(24)) } ?? ""

        let tags = try json(CLIFixture.succeed(["registry", "tag", "list", "--json"] + db))
        #expect(tags[0]?["id"] == .string(digest))
    }

    @Test(arguments: [
        (["--person", "alice"], "give --address with --site-key, or --id"),
        (["--person", "alice", "--address", "AA:BB:CC:DD:EE:01"], "--address needs --site-key"),
        (["--person", "alice", "--address", "AA:BB:CC:DD:EE", "--site-key", "k"], "invalid --address"),
        (["--person", "alice", "--id", "abc"], "expected 24 hex digits"),
        (["--person", "alice", "--id", "0123456789abcdef01234567", "--address", "AA:BB:CC:DD:EE:01"],
         "either --address or --id"),
    ])
    func tagAddUsageErrors(arguments: [String], message: String) throws {
        let result = try CLIFixture.run(["registry", "tag", "add"] + arguments + db)
        #expect(result.status == 64)
        #expect(result.stderr.contains(message), "\(result)")
    }

    // MARK: Keys and devices

    @Test func deviceKeyFileIsPrivateAndNeverOverwrittenSilently() throws {
        try CLIFixture.succeed(["registry", "room", "add", "entrance", "--name", "Entrance", "--kind", "entrance"] + db)
        let keyFile = directory.path + "/keys/entrance-pi.psk"
        let issued = try CLIFixture.succeed(["keys", "device", "entrance-pi", "--location", "entrance",
                                             "--role", "presence", "--role", "scanner", "--out", keyFile] + db)
        let key = try String(contentsOfFile: keyFile, encoding: .utf8)
        #expect(key.count == 65 && key.hasSuffix("\n"))
        #expect(key.dropLast().allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(!issued.stdout.contains(key.dropLast()), "the key must never be printed")
        #expect(issued.stdout.contains("PSK identity: entrance-pi"))
        #expect(issued.stdout.contains(keyFile))
        #expect(issued.stderr.isEmpty)

        let fileMode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(fileMode == 0o600)
        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory.path + "/keys")[
            .posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/keys") == ["entrance-pi.psk"])

        // Without --force neither the file nor the provisioned key changes.
        let again = try CLIFixture.run(["keys", "device", "entrance-pi", "--location", "entrance",
                                        "--role", "presence", "--out", keyFile] + db)
        #expect(again.status == 1)
        #expect(again.stderr.hasPrefix("error: "), "\(again)")
        #expect(again.stderr.contains("--force"))
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8) == key)
        let other = try CLIFixture.run(["keys", "device", "corridor-pi", "--location", "entrance",
                                        "--role", "guidance", "--out", keyFile] + db)
        #expect(other.status == 1)
        #expect(other.stderr == "error: \(keyFile) already exists; pass --force to replace it\n")
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8) == key)

        let devices = try json(CLIFixture.succeed(["devices", "--json"] + db))
        #expect(devices == [[
            "id": "entrance-pi", "roles": ["presence", "scanner"], "location": "entrance", "board": "",
            "version": "", "lastSeen": nil, "registeredAt": nil,
        ]])
        let table = try CLIFixture.succeed(["devices"] + db).stdout
        #expect(table.contains("presence,scanner"))
        #expect(table.contains("never"))
        #expect(!table.contains(key.dropLast()))

        try CLIFixture.succeed(["keys", "device", "entrance-pi", "--location", "entrance", "--role", "presence",
                                "--out", keyFile, "--force"] + db)
        let replaced = try String(contentsOfFile: keyFile, encoding: .utf8)
        #expect(replaced != key)
        #expect(try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int == 0o600)
        let store = try SiteStore(path: directory.path + "/site.db", readOnly: true)
        #expect(try store.deviceKey(identity: "entrance-pi").map(hex) == String(replaced.dropLast()))
        #expect(try store.device(id: "entrance-pi")?.roles == ["presence"])
    }

    @Test func deviceNeedsARole() throws {
        let result = try CLIFixture.run(["keys", "device", "pi", "--location", "entrance",
                                         "--out", directory.path + "/pi.psk"] + db)
        #expect(result.status == 64)
        #expect(result.stderr.contains("at least one --role"))
        let unknown = try CLIFixture.run(["keys", "device", "pi", "--location", "entrance", "--role", "toaster",
                                          "--out", directory.path + "/pi.psk"] + db)
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("presence"))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/pi.psk"))
    }

    @Test func siteKeyIsPrivateAndReplacedOnlyWithForce() throws {
        let keyFile = directory.path + "/site.key"
        try CLIFixture.succeed(["keys", "site-key", "--out", keyFile])
        let key = try String(contentsOfFile: keyFile, encoding: .utf8)
        #expect(try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int == 0o600)
        let refused = try CLIFixture.run(["keys", "site-key", "--out", keyFile])
        #expect(refused.status == 1)
        #expect(refused.stderr == "error: \(keyFile) already exists; pass --force to replace it\n")
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8) == key)
        try CLIFixture.succeed(["keys", "site-key", "--out", keyFile, "--force"])
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8) != key)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["site.key"])
    }

    // MARK: Time parsing

    @Test(arguments: [
        ("2026-11-22T10:00Z", 1_795_341_600_000),
        ("2026-11-22T10:00:01Z", 1_795_341_601_000),
        ("2026-11-22T10:00:01.123Z", 1_795_341_601_123),
        ("2026-11-22T10:00:01.5Z", 1_795_341_601_500),
        ("2028-02-29T23:59:59Z", 1_835_481_599_000),
        ("2000-03-01T00:00Z", 951_868_800_000),
        ("1970-01-01T00:00Z", 0),
    ] as [(String, Int64)])
    func isoTimes(text: String, milliseconds: Int64) throws {
        try addRoomAndPerson()
        try CLIFixture.succeed(["registry", "event", "add", "e1", "--title", "T", "--room", "room-1",
                                "--invite", "alice", "--starts", text, "--ends", "2100-01-01T00:00Z",
                                "--content", "x"] + db)
        let events = try json(CLIFixture.succeed(["registry", "event", "list", "--json"] + db))
        #expect(events[0]?["startsAt"] == .int(milliseconds))
    }

    @Test(arguments: [
        ("now", 0),
        ("+30m", 30 * 60_000),
        ("-5m", -5 * 60_000),
        ("+2h", 2 * 3_600_000),
        ("+90s", 90_000),
        ("+1d", 86_400_000),
    ] as [(String, Int64)])
    func relativeTimes(text: String, offset: Int64) throws {
        try addRoomAndPerson()
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        try CLIFixture.succeed(["registry", "event", "add", "e1", "--title", "T", "--room", "room-1",
                                "--invite", "alice", "--starts", text, "--ends", "+2d", "--content", "x"] + db)
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        let events = try json(CLIFixture.succeed(["registry", "event", "list", "--json"] + db))
        let startsAt = try #require(events[0]?["startsAt"]?.intValue)
        #expect((before + offset - 1000)...(after + offset + 1000) ~= startsAt)
        let endsAt = try #require(events[0]?["endsAt"]?.intValue)
        #expect((before + 2 * 86_400_000 - 1000)...(after + 2 * 86_400_000 + 1000) ~= endsAt)
    }

    @Test(arguments: [
        ("tomorrow", "not a date"),
        ("+5x", "unknown unit \"x\""),
        ("+m", "expected now, +Nm"),
        ("+-5m", "expected now, +Nm"),
        ("2026-11-22T10:00", "times are UTC"),
        ("2026-11-22T10:00+01:00", "times are UTC"),
        ("2026-11-22 10:00Z", "needs a time"),
        ("2026-02-30T10:00Z", "day 30 is not 1…28"),
        ("2026-13-01T10:00Z", "month 13"),
        ("2026-11-22T24:00Z", "hour 24"),
        ("2026-11-22T10:60Z", "minute 60"),
        ("2026-11-22T10:00:00Zz", "after the Z"),
    ])
    func badTimesAreUsageErrors(text: String, reason: String) throws {
        let result = try CLIFixture.run(["registry", "event", "add", "e1", "--title", "T", "--room", "room-1",
                                         "--invite", "alice", "--starts", text, "--ends", "+1h",
                                         "--content", "x"] + db)
        #expect(result.status == 64)
        #expect(result.stderr.contains("The value '\(text)' is invalid for '--starts <time>'"), "\(result)")
        #expect(result.stderr.contains(reason), "\(result)")
        #expect(result.stderr.contains("YYYY-MM-DDTHH:MM"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/site.db"))
    }

    @Test func endBeforeStartFails() throws {
        try addRoomAndPerson()
        let result = try CLIFixture.run(["registry", "event", "add", "e1", "--title", "T", "--room", "room-1",
                                         "--invite", "alice", "--starts", "2026-11-22T10:00Z",
                                         "--ends", "2026-11-22T09:00Z", "--content", "x"] + db)
        #expect(result.status == 1)
        #expect(result.stderr == "error: event \"e1\" would end (2026-11-22T09:00:00.000Z) before it starts "
            + "(2026-11-22T10:00:00.000Z)\n")
    }

    // MARK: Visits

    /// Two visits as the gateway records them: alice presented, then an unknown tag.
    private func recordVisits() throws {
        let store = try SiteStore(path: directory.path + "/site.db")
        let t0: Int64 = 1_795_341_600_000
        let first = try store.createVisit(device: "entrance-pi", at: t0)
        for (offset, status, detail) in [
            (Int64(0), VisitStatus(.initial), ""), (1, VisitStatus(.detected), ""),
            (1_123, VisitStatus(.scanned), "1 tag"), (1_124, VisitStatus(.authenticated), "alice for Weekly sync"),
            (2_000, VisitStatus(.guided), ""), (30_000, VisitStatus(.presented), "room-1"),
        ] {
            try store.appendVisitLog(VisitLogEntry(visit: first, status: status, at: t0 + offset, detail: detail))
        }
        try store.updateVisit(id: first, person: "alice", meeting: "weekly-sync", room: "room-1")
        try store.closeVisit(id: first, at: t0 + 30_000)
        let second = try store.createVisit(device: "entrance-pi", at: t0 + 60_000)
        for (offset, status) in [(Int64(0), VisitStatus(.initial)), (1, VisitStatus(.detected)),
                                 (3_000, VisitStatus(.scanned)), (3_001, VisitStatus.not(.authenticated))] {
            try store.appendVisitLog(VisitLogEntry(visit: second, status: status, at: t0 + 60_000 + offset))
        }
    }

    @Test func visitLogAndSummary() throws {
        try recordVisits()
        let log = try CLIFixture.succeed(["visits"] + db).stdout.split(separator: "\n")
        #expect(log.count == 10)
        #expect(log.contains("visit 1  2026-11-22T10:00:01.124Z  AUTHENTICATED  alice for Weekly sync"))
        #expect(log.last == "visit 2  2026-11-22T10:01:03.001Z  NOT AUTHENTICATED")

        let lines = try CLIFixture.succeed(["visits", "--json"] + db).stdout.split(separator: "\n")
        #expect(lines.count == 10)
        let last = try JSON.parse(String(lines[9]))
        #expect(last["status"] == "NOT AUTHENTICATED")
        #expect(last["visit"] == .int(2))
        #expect(last["time"] == "2026-11-22T10:01:03.001Z")

        let summary = try CLIFixture.succeed(["visits", "summary"] + db).stdout.split(separator: "\n")
        #expect(summary.count == 3)
        #expect(summary[0].hasPrefix("visit 1  2026-11-22T10:00:00.000Z  entrance-pi  alice  weekly-sync  room-1"))
        #expect(summary[0].hasSuffix("INIT > DETECTED > SCANNED > AUTHENTICATED > GUIDED > PRESENTED"))
        #expect(summary[1].hasSuffix("SCANNED > NOT AUTHENTICATED  (open)"))
        #expect(summary[2] == "2 visits, 1 PRESENTED, 1 NOT AUTHENTICATED")

        let totals = try json(CLIFixture.succeed(["visits", "summary", "--json"] + db))["totals"]
        #expect(totals == ["visits": 2, "presented": 1, "notAuthenticated": 1])
    }

    @Test func visitsFollowPrintsNewLines() async throws {
        try recordVisits()
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: try CLIFixture.binary())
        process.arguments = ["visits", "--follow"] + db
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        try await Task.sleep(for: .milliseconds(500))
        let store = try SiteStore(path: directory.path + "/site.db")
        let third = try store.createVisit(device: "entrance-pi", at: 1_795_341_700_000)
        try store.appendVisitLog(VisitLogEntry(visit: third, status: VisitStatus(.detected), at: 1_795_341_700_000))

        // Wait for the new line: it shows that --follow polls and flushes through a pipe.
        let received = LockedText()
        output.fileHandleForReading.readabilityHandler = { handle in
            received.append(String(decoding: handle.availableData, as: UTF8.self))
        }
        defer { output.fileHandleForReading.readabilityHandler = nil }
        let deadline = Date().addingTimeInterval(10)
        while !received.value.contains("visit 3 "), Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let text = received.value
        #expect(text.contains("visit 2  2026-11-22T10:01:03.001Z  NOT AUTHENTICATED"))
        #expect(text.contains("visit 3  2026-11-22T10:01:40.000Z  DETECTED"))
        #expect(process.isRunning)
    }

    // MARK: Simulator

    @Test func simWithoutABoardFails() throws {
        let socket = directory.path + "/missing.sock"
        let result = try CLIFixture.run(["sim", "--socket", socket, "leds"])
        #expect(result.status == 1)
        #expect(result.stderr == "error: no simulated board listening at \(socket): is the agent running with "
            + "board = \"sim\"?\n")
    }

    @Test func simSendsTheWordsAndReportsTheBoardsErrors() throws {
        let socket = directory.path + "/b.sock"
        let board = try FakeBoardSocket(path: socket) { request in
            switch request {
            case "leds": "led0=0 led1=1 led2=0 led3=0"
            case let text where text.hasPrefix("beacon add"): "ok"
            default: "error: unknown command \"\(request)\"; try help"
            }
        }
        defer { board.stop() }

        let leds = try CLIFixture.succeed(["sim", "--socket", socket, "leds"])
        #expect(leds.stdout == "led0=0 led1=1 led2=0 led3=0\n")
        // A negative RSSI is a word of the request, not an option.
        let beacon = try CLIFixture.succeed(["sim", "--socket", socket, "beacon", "add", "AA:BB:CC:DD:EE:01",
                                             "-55", "alice-badge"])
        #expect(beacon.stdout == "ok\n")
        let wrong = try CLIFixture.run(["sim", "--socket", socket, "fly", "--high"])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.isEmpty)
        #expect(wrong.stderr == "error: unknown command \"fly --high\"; try help\n")
        #expect(board.requests == ["leds", "beacon add AA:BB:CC:DD:EE:01 -55 alice-badge", "fly --high"])
    }

    // MARK: Gateway options

    @Test(arguments: [
        ("5684", "expected HOST:PORT"),
        ("::1:5684", "put an IPv6 address in brackets"),
        ("[::1]5684", "expected :PORT"),
        ("[::1:5684", "missing \"]\""),
        ("localhost:0", "the port must be a number from 1 to 65535"),
        ("localhost:70000", "the port must be a number from 1 to 65535"),
        (":5684", "the host is empty"),
    ])
    func badListenAddresses(text: String, reason: String) throws {
        let result = try CLIFixture.run(["gateway", "--listen", text] + db)
        #expect(result.status == 64)
        #expect(result.stderr.contains("The value '\(text)' is invalid for '--listen <host:port>'"), "\(result)")
        #expect(result.stderr.contains(reason), "\(result)")
    }
}

/// Output collected on FileHandle's reading thread.
private final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""

    func append(_ more: String) {
        lock.lock()
        text += more
        lock.unlock()
    }

    var value: String {
        lock.lock()
        defer { lock.unlock() }
        return text
    }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

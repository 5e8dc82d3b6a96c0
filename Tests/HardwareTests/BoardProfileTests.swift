import Hardware
import Testing

@Suite struct BoardProfileTests {
    static let boards: [(name: String, chip: String)] = [
        ("rpi3b", "pinctrl-bcm2835"), ("rpi4b", "pinctrl-bcm2711"), ("rpi5", "pinctrl-rp1"),
        ("zero2w", "pinctrl-bcm2835"), ("sim", "nanoedge-sim"), ("sim-aarch64", "nanoedge-sim"),
    ]

    @Test func everyProfileFileIsCovered() {
        #expect(BoardProfile.available(in: [boardsDirectory]) == Self.boards.map(\.name).sorted())
    }

    @Test(arguments: boards)
    func profileLoads(board: (name: String, chip: String)) throws {
        let profile = try BoardProfile.load(name: board.name, searchPaths: [boardsDirectory])
        #expect(profile.name == board.name)
        #expect(profile.chipLabel == board.chip)
        #expect(profile.path == boardsDirectory + "/\(board.name).toml")
        #expect(profile.pir == .name("GPIO17"))
        #expect(profile.leds == ["GPIO22", "GPIO23", "GPIO24", "GPIO25"].map { .name($0) })
        #expect(profile.bleAdapter == "hci0")
        #expect(profile.simulated == board.name.hasPrefix("sim"))
        #expect(!profile.summary.isEmpty)
    }

    @Test func simulatedProfileHasNoWarmUpOrGlitchFilter() throws {
        let sim = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        #expect(sim.pirTiming == .init(warmupMs: 0, minHighMs: 0, holdMs: 0, stuckHighMs: 600_000))
    }

    @Test func aarch64SimulatorIsTheSimulatorThatTakesAArch64Releases() throws {
        let sim = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        var aarch64 = try BoardProfile.load(name: "sim-aarch64", searchPaths: [boardsDirectory])
        #expect(sim.architecture == nil && aarch64.architecture == "aarch64")
        aarch64.name = sim.name
        aarch64.summary = sim.summary
        aarch64.architecture = nil
        aarch64.path = sim.path
        #expect(aarch64 == sim)
    }

    @Test func realBoardsWarmUpForAMinute() throws {
        let pi = try BoardProfile.load(name: "rpi4b", searchPaths: [boardsDirectory])
        #expect(pi.pirTiming == .init(warmupMs: 60_000, minHighMs: 50, holdMs: 2_000, stuckHighMs: 600_000))
    }

    @Test func firstDirectoryWins() throws {
        let overrides = makeTemporaryDirectory()
        defer { removeTree(overrides) }
        writeFile(overrides + "/rpi4b.toml", """
            name = "rpi4b"
            [gpio]
            chip_label = "custom-label"
            pir = 4
            """)
        let profile = try BoardProfile.load(name: "rpi4b", searchPaths: [overrides, boardsDirectory])
        #expect(profile.chipLabel == "custom-label")
        #expect(profile.pir == .offset(4))
        #expect(profile.leds.isEmpty)
        #expect(profile.bleAdapter == nil)
        #expect(profile.pirTiming == PIRFilter.Configuration())
    }

    @Test func missingBoardListsWhatWasSearchedAndWhatExists() {
        let nowhere = uniqueTemporaryPath(".missing")
        #expect {
            try BoardProfile.load(name: "rpi9", searchPaths: [boardsDirectory, nowhere])
        } throws: { error in
            let error = error as! HardwareError
            let text = error.description
            return error.code == .profileNotFound && text.contains("\"rpi9\"") && text.contains(boardsDirectory)
                && text.contains("\(nowhere) (missing)")
                && text.contains("available boards: rpi3b, rpi4b, rpi5, sim, sim-aarch64, zero2w")
        }
    }

    @Test(arguments: ["../boards/rpi4b", "rpi4b.toml", ""])
    func namesThatAreNotBoardNamesAreNotFound(name: String) {
        #expect {
            try BoardProfile.load(name: name, searchPaths: [boardsDirectory])
        } throws: { error in
            (error as! HardwareError).code == .profileNotFound
        }
    }

    static let badProfiles: [(text: String, key: String, problem: String)] = [
        ("name = \"x\"\n", "gpio", "missing table [gpio]"),
        ("name = \"x\"\n[gpio]\npir = \"GPIO17\"\n", "gpio.chip_label", "missing; expected a string"),
        ("name = \"x\"\n[gpio]\nchip_label = 5\n", "gpio.chip_label", "expected a string, found the integer 5"),
        ("[gpio]\nchip_label = \"c\"\n", "name", "missing"),
        ("name = 1\n[gpio]\nchip_label = \"c\"\n", "name", "found the integer 1"),
        ("name = \"x\"\nsimulated = \"yes\"\n[gpio]\nchip_label = \"c\"\n", "simulated", "expected true or false"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\nleds = \"GPIO22\"\n", "gpio.leds", "expected an array"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\nleds = [\"GPIO22\", 1.5]\n", "gpio.leds[1]", "found the float 1.5"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\npir = -3\n", "gpio.pir", "line offset"),
        ("name = \"x\"\n[gpio]\nchip-label = \"c\"\n", "gpio.chip-label", "unknown key"),
        ("name = \"x\"\ncolour = \"red\"\n[gpio]\nchip_label = \"c\"\n", "colour", "unknown key"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\npir = \"GPIO22\"\nleds = [\"GPIO22\"]\n", "gpio", "used twice"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\n[ble]\nadapter = \"bt0\"\n", "ble.adapter", "hci0"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\n[pir]\nhold_ms = -1\n", "pir.hold_ms", "must not be negative"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\n[pir]\nhold_ms = \"2s\"\n", "pir.hold_ms", "integer of milliseconds"),
        ("name = \"x\"\n[gpio]\nchip_label = \"c\"\n[pir]\nmin_high_ms = 500\nstuck_high_ms = 100\n",
         "pir.stuck_high_ms", "greater than pir.min_high_ms"),
        ("name = \"x\"\ngpio = 3\n", "gpio", "expected a table"),
    ]

    @Test(arguments: badProfiles)
    func badKeyIsNamedWithTheFile(bad: (text: String, key: String, problem: String)) {
        #expect {
            try BoardProfile.parse(bad.text, path: "/etc/nanoedge/boards/x.toml")
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .invalidProfile && error.description.contains("/etc/nanoedge/boards/x.toml")
                && error.description.contains("key \"\(bad.key)\"") && error.description.contains(bad.problem)
        }
    }

    @Test func badKeyInAFileNamesThatFile() {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        writeFile(directory + "/lab.toml", "name = \"lab\"\n[gpio]\nchip_label = \"c\"\n[pir]\nwarmup_ms = true\n")
        #expect {
            try BoardProfile.load(name: "lab", searchPaths: [directory])
        } throws: { error in
            let text = (error as! HardwareError).description
            return text.contains(directory + "/lab.toml") && text.contains("key \"pir.warmup_ms\"")
                && text.contains("found the boolean true")
        }
    }

    @Test func nameMustMatchTheFile() {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        writeFile(directory + "/lab.toml", "name = \"rpi4b\"\n[gpio]\nchip_label = \"c\"\n")
        #expect {
            try BoardProfile.load(name: "lab", searchPaths: [directory])
        } throws: { error in
            let text = (error as! HardwareError).description
            return text.contains("key \"name\"") && text.contains("lab.toml")
        }
    }

    @Test func invalidTOMLGivesTheFileAndPosition() {
        #expect {
            try BoardProfile.parse("name = \"x\"\n[gpio\n", path: "boards/x.toml")
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .invalidProfile && error.description.contains("boards/x.toml")
                && error.description.contains("2")
        }
    }
}

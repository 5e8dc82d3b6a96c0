import Foundation
@testable import Agent
import Hardware
import Testing

private let boards: String = {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/boards"
}()

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "nanoedge-board-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct BoardCheckTests {
    @Test func aRealBoardWithoutChipOrAdapterFailsWithReasons() throws {
        let profile = try BoardProfile.load(name: "rpi5", searchPaths: [boards])
        let empty = temporaryDirectory()
        defer { removeTree(empty) }
        var check = BoardCheck(profile: profile)
        check.deviceDirectory = empty
        check.bluetoothClassDirectory = empty
        let findings = check.run()
        let (text, ok) = BoardCheck.report(findings)
        #expect(!ok)
        #expect(text.contains("ok    board rpi5 (Raspberry Pi 5)"))
        #expect(text.contains("FAIL  gpio chip \"pinctrl-rp1\": no GPIO chip with label \"pinctrl-rp1\""))
        #expect(text.contains("FAIL  ble hci0: no such adapter (adapters found: none)"))
        #expect(text.hasSuffix("result: 3 problem(s)\n"))
    }

    @Test func anAdapterThatExistsIsReported() throws {
        let profile = try BoardProfile.load(name: "zero2w", searchPaths: [boards])
        let sys = temporaryDirectory()
        defer { removeTree(sys) }
        try FileManager.default.createDirectory(atPath: sys + "/hci0", withIntermediateDirectories: true)
        var check = BoardCheck(profile: profile)
        check.deviceDirectory = sys
        check.bluetoothClassDirectory = sys
        check.probeSocket = false
        let findings = check.run()
        #expect(findings.contains(BoardCheck.Finding(ok: true, text: "ble hci0: present (\(sys)/hci0)")))
    }

    @Test func theSimulatedBoardHasNothingToProbe() throws {
        let profile = try BoardProfile.load(name: "sim", searchPaths: [boards])
        let (text, ok) = BoardCheck.report(BoardCheck(profile: profile).run())
        #expect(ok)
        #expect(text.contains("simulated board: no hardware to probe"))
    }
}

@Suite struct FileDisplayTests {
    @Test func presentWritesTitleAndContentAndHideRemovesIt() throws {
        let root = temporaryDirectory()
        defer { removeTree(root) }
        let display = FileDisplay(directory: root + "/content")
        try display.present(title: "Weekly sync", content: Array("Agenda".utf8))
        let path = root + "/content/current.txt"
        #expect(FileManager.default.contents(atPath: path) == Data("Weekly sync\nAgenda".utf8))
        try display.hide()
        #expect(!FileManager.default.fileExists(atPath: path))
        try display.hide()  // hiding twice is fine
    }
}

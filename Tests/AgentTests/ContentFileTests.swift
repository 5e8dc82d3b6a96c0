import Foundation
@testable import Agent
import Testing

@Suite struct ContentFileTests {
    @Test func contentIsWrittenWholeIntoANewDirectoryWithNoTemporaryLeft() throws {
        let root = NSTemporaryDirectory() + "nanoedge-content-\(UUID().uuidString)"
        defer { removeTree(root) }
        let directory = root + "/content"
        let body = Array("Weekly sync\n\n1. Agenda".utf8)
        try EventLog.writeFileAtomically(directory: directory, name: "weekly-sync.txt", bytes: body)
        try EventLog.writeFileAtomically(directory: directory, name: "weekly-sync.txt", bytes: body + [0x21])
        #expect(FileManager.default.contents(atPath: directory + "/weekly-sync.txt") == Data(body + [0x21]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["weekly-sync.txt"])
    }

    @Test func anUnwritableDirectorySaysWhatWasNotWritten() {
        #expect { try EventLog.writeFileAtomically(directory: "/proc/nanoedge-no", name: "x.txt", bytes: [1]) } throws: { error in
            "\(error)".contains("x.txt was not written")
        }
    }
}

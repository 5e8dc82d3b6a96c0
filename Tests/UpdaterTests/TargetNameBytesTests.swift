import JSON
import Testing
import Updater

// The slot file name is a file system name: a "/" hidden in one Swift Character with a prepend
// (U+0600) or combining (U+0301) scalar is still a separator, so these names must be refused.
@Suite struct TargetNameBytesTests {
    private func target(name: String, file: String?) throws -> TargetDescription {
        var custom: [String: JSON] = ["kind": "binary", "version": "1.0.0", "boards": ["sim"]]
        if let file { custom["file"] = .string(file) }
        let json: JSON = ["length": 1, "hashes": ["sha256": .string(String(repeating: "0", count: 64))],
                          "custom": .object(custom)]
        return try TargetDescription(json: json, name: name)
    }

    @Test(arguments: ["x\u{0600}/..", "a/\u{0301}b", "..\u{0600}/x", "a\u{0}b"])
    func customFileWithAHiddenSlashIsRefused(file: String) {
        #expect(throws: UpdateError.self) { try target(name: "agent.bin", file: file) }
    }

    @Test func aTargetNameEndingInAHiddenDotDotIsRefused() {
        // The last segment by bytes is "..", which names no file.
        #expect(throws: UpdateError.self) { try target(name: "releases/x\u{0600}/..", file: nil) }
    }

    @Test func fileNameFromTheTargetNameIsItsLastByteSegment() throws {
        let fileName = try target(name: "releases/a/\u{0301}agent", file: nil).fileName
        #expect(Array(fileName.utf8) == Array("\u{0301}agent".utf8))
    }
}

import Foundation
import Testing

/// The CLI's tables show control characters and bidi overrides as escapes (TerminalText), through
/// the same `printTable` that prints device-supplied fields such as board, version and last error.
@Suite struct TerminalOutputTests {
    @Test func tableCellsCannotDriveTheTerminal() throws {
        let directory = try CLIFixture.TemporaryDirectory()
        let db = ["--db", directory.path + "/site.db"]
        try CLIFixture.succeed(["registry", "person", "add", "eve", "--name", "Eve\u{1B}[2J\u{202E}x\r\nfake  1"] + db)
        let out = try CLIFixture.succeed(["registry", "person", "list"] + db).stdout
        let bytes = Array(out.utf8)
        #expect(!bytes.contains(0x1B) && !bytes.contains(0x0D))
        #expect(!out.unicodeScalars.contains("\u{202E}"))
        #expect(out.contains(#"Eve\x1B[2J\u{202E}x\r\nfake  1"#))
    }
}

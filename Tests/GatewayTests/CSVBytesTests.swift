import Gateway
import JSON
import Testing

// A spreadsheet reads CSV per byte. Each value hides a separator, a quote or a formula start inside
// one Swift Character: CRLF, or a combining (U+0301) or prepend (U+0600) scalar next to it.
@Suite struct CSVBytesTests {
    private func field(_ text: String) -> String {
        SiteExport.csvLine(["type": "presence", "device": "pi-1", "at": "t", "state": .string(text)], kind: .presence)
    }

    @Test(arguments: [
        ("on\r\n=1+1", "presence,pi-1,t,\"on\r\n=1+1\""),
        ("a\"\u{0301},b", "presence,pi-1,t,\"a\"\"\u{0301},b\""),
        ("x\u{0600},y", "presence,pi-1,t,\"x\u{0600},y\""),
        ("=\u{0301}1+1", "presence,pi-1,t,\"'=\u{0301}1+1\""),
        ("@\u{0301}SUM(A1)", "presence,pi-1,t,\"'@\u{0301}SUM(A1)\""),
        ("\tcmd", "presence,pi-1,t,\"'\tcmd\""),
        ("\r\n", "presence,pi-1,t,\"'\r\n\""),
    ])
    func fieldsAreQuotedByBytes(text: String, expected: String) {
        #expect(Array(field(text).utf8) == Array(expected.utf8))
    }

    @Test func aCRLFValueCannotStartARow() {
        let line = field("on\r\n=cmd|' /C calc'!A0")
        // Outside quotes there are no line breaks left.
        var quoted = false
        for byte in line.utf8 {
            if byte == UInt8(ascii: "\"") { quoted.toggle() }
            #expect(quoted || (byte != 0x0A && byte != 0x0D))
        }
    }
}

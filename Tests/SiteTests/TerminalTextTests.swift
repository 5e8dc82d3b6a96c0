import Site
import Testing

// Device-supplied text printed by the CLIs. Before TerminalText the CLI printed these raw.
@Suite struct TerminalTextTests {
    @Test(arguments: [
        ("\u{1B}[2J\u{1B}]0;owned\u{07}", "\\x1B[2J\\x1B]0;owned\\x07"),     // clear screen, retitle
        ("\u{1B}\u{0301}[31mred", "\\x1B\u{0301}[31mred"),                   // ESC merged into one Character
        ("ok\r\nfake-row  healthy", "ok\\r\\nfake-row  healthy"),            // CRLF is one Character
        ("a\u{0}b\tc\u{7F}", "a\\x00b\\tc\\x7F"),
        ("\u{9B}2J", "\\u{009B}2J"),                                         // C1 CSI
        ("user\u{202E}gnp.exe", "user\\u{202E}gnp.exe"),                     // right-to-left override
        ("\u{2066}a\u{2069}\u{202A}\u{202C}", "\\u{2066}a\\u{2069}\\u{202A}\\u{202C}"),
    ])
    func controlsBecomeVisibleEscapes(text: String, expected: String) {
        #expect(Array(TerminalText.safe(text).utf8) == Array(expected.utf8))
    }

    @Test func plainTextAndOtherScalarsAreKept() {
        let text = "pi-1 rpi4b 1.2.0 é\u{0301} \u{0600}x 日本"
        #expect(TerminalText.safe(text) == text)
    }

    @Test func multilineTextKeepsLineFeedsOnly() {
        #expect(TerminalText.safe("a\nb\r\n\u{1B}c", keepingNewlines: true) == "a\nb\\r\n\\x1Bc")
    }
}

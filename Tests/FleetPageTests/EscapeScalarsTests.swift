import FleetPage
import Testing

// A browser tokenizes HTML per code point. Each input puts a special character into one Swift
// Character with a combining scalar after it (U+0301) or a prepend scalar before it (U+0600).
@Suite struct EscapeScalarsTests {
    @Test(arguments: [
        ("x\"\u{0301} onmouseover=alert(1) \"", "x&quot;\u{0301} onmouseover=alert(1) &quot;"),
        ("\u{0600}\" onfocus=alert(1) autofocus x=\"", "\u{0600}&quot; onfocus=alert(1) autofocus x=&quot;"),
        ("'\u{0301}", "&#39;\u{0301}"),
        ("<\u{0301}img src=x onerror=alert(1)>\u{0301}", "&lt;\u{0301}img src=x onerror=alert(1)&gt;\u{0301}"),
        ("&\u{0301}lt;", "&amp;\u{0301}lt;"),
    ])
    func everySpecialScalarIsEscaped(text: String, expected: String) {
        #expect(Array(escape(text).utf8) == Array(expected.utf8))
    }

    @Test func lastErrorCannotLeaveTheTitleAttribute() {
        let hostile = "boom\"\u{0301} onmouseover=\"alert(1)"
        let page = FleetPage(title: "fleet", devices: [
            .init(id: "pi-1", board: "rpi4b", version: "1", slot: "a", health: "rolled back", lastSeen: 0,
                  lastError: hostile),
        ])
        let html = page.render(now: 1)
        // Raw quote bytes left in the tag after `class="badge`: its closing one and title's two.
        let badge = html.split(separator: "<span class=\"badge").dropFirst().first.map(String.init) ?? ""
        let title = badge.split(separator: ">", maxSplits: 1).first.map(String.init) ?? ""
        #expect(title.utf8.filter { $0 == UInt8(ascii: "\"") }.count == 3, "class=\"…\" and title=\"…\" only")
        let bytes = Array(html.utf8)
        let rawQuoteAndAcute: [UInt8] = [0x22, 0xCC, 0x81]
        #expect(!bytes.indices.contains { bytes[$0...].starts(with: rawQuoteAndAcute) })
    }
}

/// Text from devices and servers, made safe to print on a terminal.
///
/// Works per Unicode scalar, never per `Character`: an escape byte followed by a combining scalar is
/// one `Character` but still starts an escape sequence. Control characters become visible escapes
/// so a device cannot move the cursor, retitle the window, fake a new output line or reorder what
/// follows it.
public enum TerminalText {
    /// C0 controls (tab and, unless `keepingNewlines`, line feed included), DEL, C1 controls and the
    /// bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) are written as `\n`,
    /// `\r`, `\t`, `\xNN` or `\u{NNNN}`; everything else is kept.
    public static func safe(_ text: String, keepingNewlines: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            switch value {
            case 0x0A where keepingNewlines: out.unicodeScalars.append(scalar)
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00..<0x20, 0x7F: out += "\\x" + hex(value, digits: 2)
            case 0x80...0x9F, 0x202A...0x202E, 0x2066...0x2069: out += "\\u{" + hex(value, digits: 4) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.utf8.count)) + text
    }
}

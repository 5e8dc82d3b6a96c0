/// A role name as a file and URL name: python's `urllib.parse.quote(name, "")`, which keeps only
/// letters, digits and `_.-~` and percent-encodes every other UTF-8 byte (`/` included).
public func quoteRoleName(_ name: String) -> String {
    var out = ""
    for byte in name.utf8 {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
             UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let digits = Array("0123456789ABCDEF")
            out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
        }
    }
    return out
}

/// A target path as the path of a download URL: `/` stays a separator, every byte a URL path
/// cannot hold (space, controls, non-ASCII, ``"<>\^`{|}``) is percent-encoded, as urllib3 does to
/// the URLs python-tuf's `download_target` builds. `?` and `#` are encoded too, where urllib3 would
/// start a query or a fragment: a target path is a path. Existing `%XX` escapes are kept when
/// every `%` is one (urllib3's rule); `.` and `..` segments are left to the HTTP library, which
/// removes them like urllib3.
public func quoteTargetPath(_ path: String) -> String {
    let bytes = Array(path.utf8)
    func isHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }
    func isEscape(at index: Int) -> Bool {
        index + 2 < bytes.count && isHex(bytes[index + 1]) && isHex(bytes[index + 2])
    }
    var percents = 0, escapes = 0
    for index in bytes.indices where bytes[index] == UInt8(ascii: "%") {
        percents += 1
        if isEscape(at: index) { escapes += 1 }
    }
    let keepEscapes = percents == escapes
    let digits = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
             UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","),
             UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"):
            out.append(byte)
        case UInt8(ascii: "%") where keepEscapes && isEscape(at: index):
            // Kept, with upper-case hex digits as urllib3 writes them.
            for offset in 0...2 {
                let kept = bytes[index + offset]
                out.append((0x61...0x66).contains(kept) ? kept - 0x20 : kept)
            }
            index += 2
        default:
            out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
        }
        index += 1
    }
    return String(decoding: out, as: UTF8.self)
}

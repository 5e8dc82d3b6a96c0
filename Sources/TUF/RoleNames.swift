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

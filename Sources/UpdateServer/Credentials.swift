import CryptoEVP

/// Bearer tokens and device keys. Tokens are 256 random bits, so a plain SHA-256 is enough to store
/// them: nobody can guess one from its hash, and a slow password hash would only slow every request.
public enum Credentials {
    /// A new admin token: `nea_` and 64 hex digits.
    public static func newAdminToken() -> String { "nea_" + Hex.encode(secureRandomBytes(32)) }

    /// A new device token: `ned_` and 64 hex digits.
    public static func newDeviceToken() -> String { "ned_" + Hex.encode(secureRandomBytes(32)) }

    /// A new DTLS pre-shared key, as hex.
    public static func newPSK() -> String { Hex.encode(secureRandomBytes(32)) }

    /// What the store keeps of a token.
    public static func hash(_ token: String) -> String { Hex.encode(Digest.sha256(Array(token.utf8))) }

    /// The token of an `Authorization: Bearer …` header, if it is one.
    public static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingSpaces
        return token.isEmpty ? nil : token
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// Names that end up in URLs, file names and log lines: 1 to 64 of letters, digits, `-_.@`
/// (targets also `+`).
public enum Names {
    public static func isIdentifier(_ text: String, extra: Set<UInt8> = []) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 64 else { return false }
        guard text.first != ".", text.first != "-" else { return false }
        return text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "@") || extra.contains(byte)
        }
    }

    public static func rule(_ what: String, _ text: String) -> String {
        "invalid \(what) \"\(text)\": use 1 to 64 letters, digits, \"-\", \"_\", \".\" or \"@\", not starting with \".\" or \"-\""
    }
}

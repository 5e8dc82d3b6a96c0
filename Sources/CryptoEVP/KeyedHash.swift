import COpenSSL

/// HMAC-SHA256 and SHA-256 through OpenSSL's EVP interface.
public enum Digest {
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = data.withUnsafeBufferPointer { input in
            EVP_Digest(input.baseAddress, input.count, &out, &length, EVP_sha256(), nil)
        }
        return out
    }

    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, &out, &length)
            }
        }
        return out
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    let ok = RAND_bytes(&out, Int32(count))
    precondition(ok == 1, "OpenSSL RAND_bytes failed")
    return out
}

/// Lower-case hex, and back.
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil unless `text` is an even number of hex digits (surrounding white space ignored).
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8).filter { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}

/// Turns a BLE address into the site's tag id: HMAC-SHA256 keyed with the site key, truncated.
/// Raw addresses never leave the Pi; the registry stores the same hash.
public struct TagHasher: Sendable {
    public let siteKey: [UInt8]
    public init(siteKey: [UInt8]) { self.siteKey = siteKey }

    public func tagID(forAddress address: String) -> String {
        let normalised = String(decoding: address.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
        return Hex.encode(Array(Digest.hmacSHA256(key: siteKey, Array(normalised.utf8)).prefix(12)))
    }
}

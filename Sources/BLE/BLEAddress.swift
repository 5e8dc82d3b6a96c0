/// A 48-bit Bluetooth device address.
///
/// HCI sends addresses least significant byte first; `value` holds them the way they are written,
/// so `AA:BB:CC:DD:EE:FF` is 0xAABBCCDDEEFF. Cheap to hash, so the dedupe filter keys on it.
public struct BLEAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    /// Six bytes in HCI order (least significant first).
    init(hciBytes bytes: [UInt8], at offset: Int) {
        var v: UInt64 = 0
        for index in stride(from: offset + 5, through: offset, by: -1) { v = v << 8 | UInt64(bytes[index]) }
        value = v
    }

    /// "AA:BB:CC:DD:EE:FF" in either case; nil otherwise.
    public init?(_ text: String) {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 6 else { return nil }
        var v: UInt64 = 0
        for group in groups {
            guard group.utf8.count == 2, let byte = UInt8(group, radix: 16) else { return nil }
            v = v << 8 | UInt64(byte)
        }
        value = v
    }

    /// Six bytes in HCI order (least significant first), as a command or report carries them.
    public var hciBytes: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// "AA:BB:CC:DD:EE:FF", upper case: the form `Advertisement.address` and the tag hash use.
    public var description: String {
        let digits: StaticString = "0123456789ABCDEF"
        var out = [UInt8](repeating: UInt8(ascii: ":"), count: 17)
        digits.withUTF8Buffer { hex in
            for index in 0..<6 {
                let byte = Int(truncatingIfNeeded: value >> (8 * (5 - index))) & 0xFF
                out[index * 3] = hex[byte >> 4]
                out[index * 3 + 1] = hex[byte & 0xF]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (lhs: BLEAddress, rhs: BLEAddress) -> Bool { lhs.value < rhs.value }
}

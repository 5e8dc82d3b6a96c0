extension JSON {
    /// Compact JSON text with object keys in UTF-8 byte order, so equal values
    /// always produce identical output (stable hashes, diffable logs).
    public func serialized() -> String {
        String(decoding: bytes(), as: UTF8.self)
    }

    /// UTF-8 bytes of `serialized()`.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let value):
            out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value):
            out.append(contentsOf: String(value).utf8)
        case .double(let value):
            // JSON has no NaN or infinity; null is what JavaScript emits too.
            // `description` is the shortest text that round-trips and is valid JSON for finite values.
            out.append(contentsOf: (value.isFinite ? value.description : "null").utf8)
        case .string(let value):
            writeEscaped(value, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in JSON.sortedMembers(members).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeEscaped(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Byte order, not `String.<`: Swift compares strings after Unicode
    /// normalization, which other implementations do not do.
    static func sortedMembers(_ members: [String: JSON]) -> [(key: String, value: JSON)] {
        members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    private func writeEscaped(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x00..<0x20: out.append(contentsOf: #"\u00"#.utf8); out.append(contentsOf: hex2(byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

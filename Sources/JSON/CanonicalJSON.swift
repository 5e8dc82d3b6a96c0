// OLPC canonical JSON, byte for byte as securesystemslib's `encode_canonical` writes it, which
// is what TUF signs and what key ids hash: object keys sorted by code point (UTF-8 byte order
// is the same order), no white space, only `"` and `\` escaped (every other byte, control
// characters included, is written as is), integers only, the result in UTF-8.

extension JSON {
    /// The canonical form of this value.
    ///
    /// Throws for any `.double`, integral or not: securesystemslib refuses Python floats, so a
    /// document with `2.0` or `1e3` has no canonical form and cannot carry a valid signature.
    public func canonicalBytes() throws(JSONError) -> [UInt8] {
        var out: [UInt8] = []
        try writeCanonical(to: &out)
        return out
    }

    /// Parses `bytes` and returns the value only if it has a canonical form: a document with a
    /// float anywhere (or an integer beyond 64 bits, which parses as one) is refused here, at
    /// the input, rather than when its signature fails to verify.
    public static func parseCanonicalizable(
        _ bytes: some Collection<UInt8>, limits: JSONLimits = .init()
    ) throws(JSONError) -> JSON {
        let value = try parse(bytes, limits: limits)
        try value.checkCanonicalizable()
        return value
    }

    private func checkCanonicalizable() throws(JSONError) {
        switch self {
        case .null, .bool, .int, .string:
            return
        case .double(let value):
            throw JSONError("canonical JSON has no floats, found the number \(value)")
        case .array(let elements):
            for element in elements { try element.checkCanonicalizable() }
        case .object(let members):
            for value in members.values { try value.checkCanonicalizable() }
        }
    }

    private func writeCanonical(to out: inout [UInt8]) throws(JSONError) {
        switch self {
        case .null, .bool, .int:
            write(to: &out)
        case .double(let value):
            throw JSONError("canonical JSON has no floats, found the number \(value)")
        case .string(let value):
            JSON.writeCanonicalString(value, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try element.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in JSON.sortedMembers(members).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeCanonicalString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                try member.value.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeCanonicalString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSON {
    /// Parses strict RFC 8259 JSON. Duplicate object keys are rejected rather than
    /// resolved, because two parsers picking different duplicates is a classic
    /// way to smuggle values past a signature check.
    public static func parse(
        _ bytes: some Collection<UInt8>, limits: JSONLimits = .init()
    ) throws(JSONError) -> JSON {
        let count = bytes.count
        guard count <= limits.maxBytes else {
            throw JSONError("input of \(count) bytes exceeds the limit of \(limits.maxBytes) bytes")
        }
        var parser = JSONParser(input: Array(bytes), limits: limits)
        return try parser.parseDocument()
    }

    public static func parse(_ text: String, limits: JSONLimits = .init()) throws(JSONError) -> JSON {
        try parse(text.utf8, limits: limits)
    }
}

private enum ASCII {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
}

/// Renders a byte for an error message: printable ASCII quoted, anything else in hex.
func describeByte(_ byte: UInt8) -> String {
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    return "byte 0x" + hex2(byte)
}

func hex2(_ byte: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

private struct JSONParser {
    let input: [UInt8]
    let limits: JSONLimits
    var pos = 0

    init(input: [UInt8], limits: JSONLimits) {
        self.input = input
        self.limits = limits
    }

    private var peek: UInt8? { pos < input.count ? input[pos] : nil }

    private func error(_ message: String, at offset: Int? = nil) -> JSONError {
        JSONError(message, offset: offset ?? pos)
    }

    /// Truncated input is the common failure, so it is named; otherwise the offset says where.
    private func unexpected(_ expectation: String) -> JSONError {
        error(pos < input.count ? expectation : "unexpected end of input, \(expectation)")
    }

    mutating func parseDocument() throws(JSONError) -> JSON {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if let byte = peek { throw error("unexpected \(describeByte(byte)) after JSON value") }
        return value
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            pos += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSON {
        guard let byte = peek else { throw error("unexpected end of input, expected a value") }
        switch byte {
        case ASCII.openBrace: return try parseObject(depth: depth + 1)
        case ASCII.openBracket: return try parseArray(depth: depth + 1)
        case ASCII.quote: return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case ASCII.minus, ASCII.zero...ASCII.nine: return try parseNumber()
        default: throw error("expected a value, found \(describeByte(byte))")
        }
    }

    private mutating func expectLiteral(_ word: String) throws(JSONError) {
        let start = pos
        for expected in word.utf8 {
            guard peek == expected else { throw error("invalid literal, expected '\(word)'", at: start) }
            pos += 1
        }
    }

    private mutating func enter(depth: Int) throws(JSONError) {
        if depth > limits.maxDepth {
            throw error("nesting exceeds the limit of \(limits.maxDepth) levels")
        }
        pos += 1
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> JSON {
        try enter(depth: depth)
        var elements: [JSON] = []
        skipWhitespace()
        if peek == ASCII.closeBracket {
            pos += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if peek == ASCII.closeBracket, !elements.isEmpty { throw error("trailing comma in array") }
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch peek {
            case ASCII.comma: pos += 1
            case ASCII.closeBracket: pos += 1; return .array(elements)
            default: throw unexpected("expected ',' or ']' in array")
            }
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONError) -> JSON {
        try enter(depth: depth)
        var members: [String: JSON] = [:]
        skipWhitespace()
        if peek == ASCII.closeBrace {
            pos += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek == ASCII.quote else {
                if peek == ASCII.closeBrace, !members.isEmpty { throw error("trailing comma in object") }
                throw unexpected("expected a string key in object")
            }
            let keyStart = pos
            let key = try parseString()
            if members[key] != nil { throw error("duplicate key '\(key)' in object", at: keyStart) }
            skipWhitespace()
            guard peek == ASCII.colon else { throw unexpected("expected ':' after object key") }
            pos += 1
            skipWhitespace()
            members[key] = try parseValue(depth: depth)
            skipWhitespace()
            switch peek {
            case ASCII.comma: pos += 1
            case ASCII.closeBrace: pos += 1; return .object(members)
            default: throw unexpected("expected ',' or '}' in object")
            }
        }
    }

    // MARK: Numbers

    private func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= ASCII.zero && byte <= ASCII.nine
    }

    private mutating func skipDigits() {
        while isDigit(peek) { pos += 1 }
    }

    private mutating func parseNumber() throws(JSONError) -> JSON {
        let start = pos
        if peek == ASCII.minus { pos += 1 }
        guard isDigit(peek) else { throw unexpected("expected a digit in number") }
        if peek == ASCII.zero {
            pos += 1
            if isDigit(peek) { throw error("leading zeros are not allowed in numbers", at: start) }
        } else {
            skipDigits()
        }
        var integral = true
        if peek == ASCII.dot {
            integral = false
            pos += 1
            guard isDigit(peek) else { throw unexpected("expected a digit after decimal point") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if peek == ASCII.plus || peek == ASCII.minus { pos += 1 }
            guard isDigit(peek) else { throw unexpected("expected a digit in exponent") }
            skipDigits()
        }
        let text = String(decoding: input[start..<pos], as: UTF8.self)
        // Integers too large for Int64 still carry a valid number, just not exactly.
        if integral, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw error("number out of range", at: start)
        }
        return .double(value)
    }

    // MARK: Strings

    private mutating func parseString() throws(JSONError) -> String {
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let byte = peek else { throw error("unterminated string", at: start) }
            switch byte {
            case ASCII.quote:
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case ASCII.backslash:
                try parseEscape(into: &out)
            case 0x00..<0x20:
                throw error("unescaped control character \(describeByte(byte)) in string")
            case 0x20..<0x80:
                out.append(byte)
                pos += 1
            default:
                let length = try validateUTF8Sequence()
                out.append(contentsOf: input[pos..<pos + length])
                pos += length
            }
            if out.count > limits.maxStringBytes {
                throw error("string exceeds the limit of \(limits.maxStringBytes) bytes", at: start)
            }
        }
    }

    /// Returns the length of the well-formed UTF-8 sequence at `pos` (Unicode table 3-7),
    /// which excludes overlong forms, surrogates and values above U+10FFFF.
    private func validateUTF8Sequence() throws(JSONError) -> Int {
        let lead = input[pos]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw error("invalid UTF-8 lead byte 0x\(hex2(lead))")
        }
        for index in 1..<length {
            let offset = pos + index
            let range = index == 1 ? secondRange : 0x80...0xBF
            guard offset < input.count, range.contains(input[offset]) else {
                throw error("invalid UTF-8 sequence")
            }
        }
        return length
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(JSONError) {
        let start = pos
        pos += 1
        guard let byte = peek else { throw error("unterminated string escape", at: start) }
        pos += 1
        switch byte {
        case ASCII.quote, ASCII.backslash, ASCII.slash: out.append(byte)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4(escapeStart: start)
            if (0xDC00...0xDFFF).contains(scalar) {
                throw error("lone low surrogate in \\u escape", at: start)
            }
            if (0xD800...0xDBFF).contains(scalar) {
                let lowStart = pos
                guard peek == ASCII.backslash, pos + 1 < input.count, input[pos + 1] == UInt8(ascii: "u") else {
                    throw error("lone high surrogate in \\u escape", at: start)
                }
                pos += 2
                let low = try parseHex4(escapeStart: lowStart)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw error("lone high surrogate in \\u escape", at: start)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            // Surrogates were handled above, so this always succeeds.
            out.append(contentsOf: Unicode.Scalar(scalar)!.utf8)
        default:
            throw error("invalid escape \(describeByte(byte)) in string", at: start)
        }
    }

    private mutating func parseHex4(escapeStart: Int) throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek, let digit = hexValue(byte) else {
                throw error("expected 4 hex digits in \\u escape", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }
}

func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

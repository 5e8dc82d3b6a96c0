public enum TOML {
    /// Parses a TOML 1.0 document.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(input: Array(text.utf8))
        return try parser.parseDocument()
    }
}

// MARK: - Parse tree

// Mutable nodes used only while parsing. They record how each table came to
// exist, which is what TOML's redefinition rules depend on.
private final class TableNode {
    enum Origin {
        /// Created as a parent of a header path; a later `[header]` may still define it.
        case implicit
        /// Defined by a `[header]` (or the root); closed to dotted keys from other sections.
        case header
        /// Created by a dotted key; closed to headers.
        case dotted
    }

    var origin: Origin
    var entries: [String: Entry] = [:]

    init(origin: Origin) {
        self.origin = origin
    }

    func freeze() -> TOMLTable {
        TOMLTable(entries.mapValues { entry in
            switch entry {
            case .value(let value): value
            case .table(let node): .table(node.freeze())
            case .tableArray(let array): .array(array.tables.map { .table($0.freeze()) })
            }
        })
    }
}

private final class TableArrayNode {
    var tables: [TableNode]

    init(_ tables: [TableNode]) {
        self.tables = tables
    }
}

/// Plain values (including inline tables and static arrays) are immutable once written.
private enum Entry {
    case value(TOMLValue)
    case table(TableNode)
    case tableArray(TableArrayNode)
}

// MARK: - Parser

private enum Byte {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let backslash = UInt8(ascii: "\\")
    static let hash = UInt8(ascii: "#")
    static let equals = UInt8(ascii: "=")
    static let dot = UInt8(ascii: ".")
    static let comma = UInt8(ascii: ",")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
}

/// Guards the recursion of nested arrays and inline tables.
private let maxNesting = 64
/// Each dotted part is a table level, and building, freezing and freeing tables recurses per level:
/// 50,000 parts overflowed the stack.
private let maxKeyParts = 64

private struct TOMLParser {
    let input: [UInt8]
    var pos = 0
    let root = TableNode(origin: .header)
    var current: TableNode
    var currentPath: [String] = []

    init(input: [UInt8]) {
        self.input = input
        current = root
        // Tolerate a UTF-8 byte order mark written by some editors.
        if input.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3 }
    }

    private var peek: UInt8? { pos < input.count ? input[pos] : nil }

    private func byte(at offset: Int) -> UInt8? {
        offset < input.count ? input[offset] : nil
    }

    // MARK: Errors

    private func error(_ message: String, at offset: Int? = nil) -> TOMLError {
        let offset = min(offset ?? pos, input.count)
        var line = 1
        var lineStart = 0
        for index in 0..<offset where input[index] == Byte.lf {
            line += 1
            lineStart = index + 1
        }
        // Columns count characters (scalars), not bytes: skip UTF-8 continuation bytes.
        let column = input[lineStart..<offset].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
        return TOMLError(message, line: line, column: column)
    }

    private func unexpected(_ expectation: String) -> TOMLError {
        error(pos < input.count ? expectation : "unexpected end of input, \(expectation)")
    }

    // MARK: Document structure

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        while true {
            skipSpaces()
            guard let byte = peek else { break }
            switch byte {
            case Byte.hash, Byte.lf, Byte.cr:
                try endLine()
            case Byte.openBracket:
                try parseHeader()
                try endLine(after: "table header")
            default:
                try parseKeyValue(into: current, path: currentPath)
                try endLine(after: "value")
            }
        }
        return root.freeze()
    }

    private mutating func skipSpaces() {
        while let byte = peek, byte == Byte.space || byte == Byte.tab { pos += 1 }
    }

    /// Consumes trailing spaces, an optional comment and the newline (or end of input).
    private mutating func endLine(after context: String? = nil) throws(TOMLError) {
        skipSpaces()
        if peek == Byte.hash { try skipComment() }
        guard let byte = peek else { return }
        guard byte == Byte.lf || byte == Byte.cr else {
            throw error("expected a newline" + (context.map { " after \($0)" } ?? ""))
        }
        try consumeNewline()
    }

    private mutating func consumeNewline() throws(TOMLError) {
        if peek == Byte.cr {
            guard byte(at: pos + 1) == Byte.lf else { throw error("carriage return must be followed by a line feed") }
            pos += 1
        }
        pos += 1
    }

    private mutating func skipComment() throws(TOMLError) {
        while let byte = peek, byte != Byte.lf {
            if byte == Byte.cr, self.byte(at: pos + 1) == Byte.lf { return }
            if isForbiddenControl(byte) { throw error("control character \(describe(byte)) in comment") }
            pos += 1
        }
    }

    /// Whitespace, newlines and comments, as allowed between array elements.
    private mutating func skipBlank() throws(TOMLError) {
        while let byte = peek {
            switch byte {
            case Byte.space, Byte.tab: pos += 1
            case Byte.lf, Byte.cr: try consumeNewline()
            case Byte.hash: try skipComment()
            default: return
            }
        }
    }

    // MARK: Tables

    private mutating func parseHeader() throws(TOMLError) {
        pos += 1
        let isArray = peek == Byte.openBracket
        if isArray { pos += 1 }
        skipSpaces()
        let keyStart = pos
        let key = try parseKey()
        skipSpaces()
        let closing = isArray ? "expected ']]' after array of tables name" : "expected ']' after table name"
        guard peek == Byte.closeBracket else { throw unexpected(closing) }
        pos += 1
        if isArray {
            guard peek == Byte.closeBracket else { throw unexpected(closing) }
            pos += 1
        }

        var node = root
        var path: [String] = []
        for part in key.dropLast() {
            path.append(part)
            switch node.entries[part] {
            case nil:
                let child = TableNode(origin: .implicit)
                node.entries[part] = .table(child)
                node = child
            case .table(let child):
                node = child
            case .tableArray(let array):
                // A sub-table header continues the most recent [[array]] element.
                node = array.tables[array.tables.count - 1]
            case .value:
                throw error("key '\(display(path))' is already defined", at: keyStart)
            }
        }
        let last = key[key.count - 1]
        path.append(last)
        let table = TableNode(origin: .header)
        switch (node.entries[last], isArray) {
        case (nil, false):
            node.entries[last] = .table(table)
        case (nil, true):
            node.entries[last] = .tableArray(TableArrayNode([table]))
        case (.tableArray(let array), true):
            array.tables.append(table)
        case (.table(let existing), false) where existing.origin == .implicit:
            existing.origin = .header
            current = existing
            currentPath = path
            return
        case (.table, false):
            throw error("table '\(display(path))' is already defined", at: keyStart)
        case (.table, true):
            throw error("cannot redefine table '\(display(path))' as an array of tables", at: keyStart)
        case (.tableArray, false):
            throw error("table '\(display(path))' is already defined as an array of tables", at: keyStart)
        case (.value, _):
            throw error("key '\(display(path))' is already defined", at: keyStart)
        }
        current = table
        currentPath = path
    }

    // MARK: Keys

    private mutating func parseKeyValue(into table: TableNode, path: [String], depth: Int = 0) throws(TOMLError) {
        let keyStart = pos
        let key = try parseKey()
        skipSpaces()
        guard peek == Byte.equals else { throw unexpected("expected '=' after key") }
        pos += 1
        skipSpaces()
        // Dotted parts nest tables too, so inline tables under them count them towards the limit.
        let value = try parseValue(depth: depth + key.count - 1)
        try insert(value, key: key, into: table, path: path, at: keyStart)
    }

    private func insert(
        _ value: TOMLValue, key: [String], into table: TableNode, path: [String], at offset: Int
    ) throws(TOMLError) {
        var node = table
        var path = path
        for part in key.dropLast() {
            path.append(part)
            switch node.entries[part] {
            case nil:
                let child = TableNode(origin: .dotted)
                node.entries[part] = .table(child)
                node = child
            case .table(let child) where child.origin != .header:
                // Once extended by dotted keys, a header may no longer define it.
                child.origin = .dotted
                node = child
            case .table:
                throw error("table '\(display(path))' is already defined", at: offset)
            case .tableArray:
                throw error("cannot add keys to array of tables '\(display(path))' with dotted keys", at: offset)
            case .value:
                throw error("key '\(display(path))' is already defined", at: offset)
            }
        }
        let last = key[key.count - 1]
        path.append(last)
        guard node.entries[last] == nil else {
            throw error("key '\(display(path))' is already defined", at: offset)
        }
        node.entries[last] = .value(value)
    }

    private mutating func parseKey() throws(TOMLError) -> [String] {
        var parts = [try parseSimpleKey()]
        while true {
            let save = pos
            skipSpaces()
            guard peek == Byte.dot else {
                pos = save
                return parts
            }
            pos += 1
            skipSpaces()
            guard parts.count < maxKeyParts else {
                throw error("a key has more than \(maxKeyParts) dotted parts")
            }
            parts.append(try parseSimpleKey())
        }
    }

    private mutating func parseSimpleKey() throws(TOMLError) -> String {
        switch peek {
        case Byte.quote:
            if startsWith(Byte.quote, count: 3) { throw error("multi-line strings cannot be keys") }
            return try parseBasicString()
        case Byte.apostrophe:
            if startsWith(Byte.apostrophe, count: 3) { throw error("multi-line strings cannot be keys") }
            return try parseLiteralString()
        default:
            let start = pos
            while let byte = peek, isBareKeyByte(byte) { pos += 1 }
            guard pos > start else { throw unexpected("expected a key") }
            return String(decoding: input[start..<pos], as: UTF8.self)
        }
    }

    private func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Renders a key path for messages, quoting parts that are not bare keys.
    private func display(_ path: [String]) -> String {
        path.map { part in
            if !part.isEmpty, part.utf8.allSatisfy(isBareKeyByte) { return part }
            return "\"" + part + "\""
        }.joined(separator: ".")
    }

    // MARK: Values

    private mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLValue {
        guard let byte = peek else { throw unexpected("expected a value") }
        switch byte {
        case Byte.quote:
            return .string(startsWith(Byte.quote, count: 3) ? try parseMultilineString(literal: false)
                                                            : try parseBasicString())
        case Byte.apostrophe:
            return .string(startsWith(Byte.apostrophe, count: 3) ? try parseMultilineString(literal: true)
                                                                 : try parseLiteralString())
        case Byte.openBracket:
            return try parseArray(depth: depth + 1)
        case Byte.openBrace:
            return try parseInlineTable(depth: depth + 1)
        default:
            return try parseScalar()
        }
    }

    private mutating func enter(depth: Int) throws(TOMLError) {
        if depth > maxNesting { throw error("nesting exceeds the limit of \(maxNesting) levels") }
        pos += 1
    }

    private mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLValue {
        try enter(depth: depth)
        var elements: [TOMLValue] = []
        while true {
            try skipBlank()
            if peek == Byte.closeBracket {
                pos += 1
                return .array(elements)
            }
            elements.append(try parseValue(depth: depth))
            try skipBlank()
            switch peek {
            case Byte.comma: pos += 1
            case Byte.closeBracket: pos += 1; return .array(elements)
            default: throw unexpected("expected ',' or ']' in array")
            }
        }
    }

    private mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        try enter(depth: depth)
        let table = TableNode(origin: .dotted)
        skipSpaces()
        if peek == Byte.closeBrace {
            pos += 1
            return .table(table.freeze())
        }
        while true {
            skipSpaces()
            switch peek {
            case Byte.closeBrace: throw error("trailing comma is not allowed in an inline table")
            case Byte.lf, Byte.cr: throw error("newline is not allowed in an inline table")
            default: break
            }
            try parseKeyValue(into: table, path: [], depth: depth)
            skipSpaces()
            switch peek {
            case Byte.comma: pos += 1
            case Byte.closeBrace: pos += 1; return .table(table.freeze())
            case Byte.lf, Byte.cr: throw error("newline is not allowed in an inline table")
            default: throw unexpected("expected ',' or '}' in inline table")
            }
        }
    }

    // MARK: Strings

    private func startsWith(_ byte: UInt8, count: Int) -> Bool {
        pos + count <= input.count && input[pos..<pos + count].allSatisfy { $0 == byte }
    }

    /// Control characters other than tab must be escaped (or, in multi-line strings, be newlines).
    private func isForbiddenControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != Byte.tab) || byte == 0x7F
    }

    private func describe(_ byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let digits = Array("0123456789ABCDEF")
        return "U+00" + String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }

    private mutating func parseBasicString() throws(TOMLError) -> String {
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let byte = peek else { throw error("unterminated string", at: start) }
            switch byte {
            case Byte.quote:
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case Byte.backslash:
                try parseEscape(into: &out)
            case Byte.lf, Byte.cr:
                throw error("unterminated string", at: start)
            default:
                if isForbiddenControl(byte) { throw error("control character \(describe(byte)) must be escaped") }
                out.append(byte)
                pos += 1
            }
        }
    }

    private mutating func parseLiteralString() throws(TOMLError) -> String {
        let start = pos
        pos += 1
        let contentStart = pos
        while true {
            guard let byte = peek, byte != Byte.lf, byte != Byte.cr else {
                throw error("unterminated string", at: start)
            }
            if byte == Byte.apostrophe {
                pos += 1
                return String(decoding: input[contentStart..<pos - 1], as: UTF8.self)
            }
            if isForbiddenControl(byte) { throw error("control character \(describe(byte)) in literal string") }
            pos += 1
        }
    }

    /// Multi-line basic (`"""`) or literal (`'''`) string. CRLF is normalized to LF
    /// so a config edited on Windows yields the same value.
    private mutating func parseMultilineString(literal: Bool) throws(TOMLError) -> String {
        let start = pos
        let delimiter = literal ? Byte.apostrophe : Byte.quote
        pos += 3
        // A newline right after the opening delimiter is trimmed.
        if peek == Byte.lf || peek == Byte.cr { try consumeNewline() }
        var out: [UInt8] = []
        while true {
            guard let byte = peek else { throw error("unterminated multi-line string", at: start) }
            switch byte {
            case delimiter:
                var run = 0
                while self.byte(at: pos + run) == delimiter { run += 1 }
                pos += run
                if run >= 3 {
                    // Up to two delimiter characters may sit right before the closing delimiter.
                    guard run <= 5 else { throw error("too many quotes at end of multi-line string", at: pos - run) }
                    out.append(contentsOf: repeatElement(delimiter, count: run - 3))
                    return String(decoding: out, as: UTF8.self)
                }
                out.append(contentsOf: repeatElement(delimiter, count: run))
            case Byte.backslash where !literal:
                if try !skipLineEndingBackslash() { try parseEscape(into: &out) }
            case Byte.lf, Byte.cr:
                try consumeNewline()
                out.append(Byte.lf)
            default:
                if isForbiddenControl(byte) { throw error("control character \(describe(byte)) must be escaped") }
                out.append(byte)
                pos += 1
            }
        }
    }

    /// A backslash followed only by whitespace up to the end of the line joins
    /// the lines, dropping all whitespace and newlines up to the next character.
    private mutating func skipLineEndingBackslash() throws(TOMLError) -> Bool {
        var scan = pos + 1
        while let byte = byte(at: scan), byte == Byte.space || byte == Byte.tab { scan += 1 }
        guard let byte = byte(at: scan), byte == Byte.lf || byte == Byte.cr else { return false }
        pos = scan
        while let byte = peek, byte == Byte.space || byte == Byte.tab || byte == Byte.lf || byte == Byte.cr {
            if byte == Byte.lf || byte == Byte.cr { try consumeNewline() } else { pos += 1 }
        }
        return true
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(TOMLError) {
        let start = pos
        pos += 1
        guard let byte = peek else { throw error("unterminated string", at: start) }
        pos += 1
        switch byte {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case Byte.quote, Byte.backslash: out.append(byte)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = byte == UInt8(ascii: "u") ? 4 : 8
            var code: UInt32 = 0
            for _ in 0..<digits {
                guard let digit = peek.flatMap(hexValue) else {
                    throw error("expected \(digits) hex digits in unicode escape", at: start)
                }
                code = code << 4 | UInt32(digit)
                pos += 1
            }
            guard let scalar = Unicode.Scalar(code) else {
                throw error("unicode escape is not a valid scalar value", at: start)
            }
            out.append(contentsOf: scalar.utf8)
        case 0x21..<0x7F:
            throw error("invalid escape sequence '\\\(Character(Unicode.Scalar(byte)))'", at: start)
        default:
            throw error("invalid escape sequence", at: start)
        }
    }

    // MARK: Numbers, booleans, dates

    private func isTokenByte(_ byte: UInt8) -> Bool {
        isBareKeyByte(byte) || byte == UInt8(ascii: "+") || byte == Byte.dot || byte == UInt8(ascii: ":")
    }

    private mutating func parseScalar() throws(TOMLError) -> TOMLValue {
        let start = pos
        while let byte = peek, isTokenByte(byte) { pos += 1 }
        // RFC 3339 lets a space separate date and time: "1979-05-27 07:32:00".
        if pos - start == 10, input[start + 4] == UInt8(ascii: "-"), peek == Byte.space,
           let next = byte(at: pos + 1), isDigit(next) {
            pos += 1
            while let byte = peek, isTokenByte(byte) { pos += 1 }
        }
        guard pos > start else { throw unexpected("expected a value") }
        let token = Array(input[start..<pos])
        let text = String(decoding: token, as: UTF8.self)
        switch text {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        if token.contains(UInt8(ascii: ":")) || (token.count >= 10 && token[4] == UInt8(ascii: "-") && isDigit(token[0])) {
            guard isValidDateTime(token) else { throw error("invalid date-time '\(text)'", at: start) }
            return .datetime(text)
        }
        if let integer = try parseInteger(token, at: start) { return .integer(integer) }
        if isValidFloat(token) {
            let digits = String(decoding: token.filter { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: "+") }, as: UTF8.self)
            if let value = Double(digits) { return .float(value) }
        }
        throw error("invalid value '\(text)'", at: start)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Digits of `isDigit` with single underscores allowed only between digits.
    private func isValidDigitRun(_ run: ArraySlice<UInt8>, _ isDigit: (UInt8) -> Bool) -> Bool {
        guard let first = run.first, let last = run.last, isDigit(first), isDigit(last) else { return false }
        var previousUnderscore = false
        for byte in run {
            if byte == UInt8(ascii: "_") {
                if previousUnderscore { return false }
                previousUnderscore = true
            } else {
                guard isDigit(byte) else { return false }
                previousUnderscore = false
            }
        }
        return true
    }

    /// Nil when the token is not integer-shaped; throws when it is but does not fit Int64.
    private func parseInteger(_ token: [UInt8], at start: Int) throws(TOMLError) -> Int64? {
        var body = token[...]
        var sign = ""
        if let first = body.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            sign = first == UInt8(ascii: "-") ? "-" : ""
            body = body.dropFirst()
        }
        var radix = 10
        if body.count > 2, body.first == UInt8(ascii: "0") {
            switch body[body.startIndex + 1] {
            case UInt8(ascii: "x"): radix = 16
            case UInt8(ascii: "o"): radix = 8
            case UInt8(ascii: "b"): radix = 2
            default: break
            }
            if radix != 10 {
                // Prefixed integers are unsigned in TOML.
                guard token.count == body.count else { return nil }
                body = body.dropFirst(2)
            }
        }
        let valid: Bool
        switch radix {
        case 16: valid = isValidDigitRun(body) { hexValue($0) != nil }
        case 8: valid = isValidDigitRun(body) { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }
        case 2: valid = isValidDigitRun(body) { $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") }
        default: valid = isValidDigitRun(body, isDigit) && (body.count == 1 || body.first != UInt8(ascii: "0"))
        }
        guard valid else { return nil }
        let digits = sign + String(decoding: body.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        guard let value = Int64(digits, radix: radix) else { throw error("integer out of range", at: start) }
        return value
    }

    /// `[+-]? int ( frac exp? | exp )` with TOML's underscore rules and no leading zeros.
    private func isValidFloat(_ token: [UInt8]) -> Bool {
        var body = token[...]
        if let first = body.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { body = body.dropFirst() }
        let exponentIndex = body.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let mantissa = body[..<(exponentIndex ?? body.endIndex)]
        let dotIndex = mantissa.firstIndex(of: Byte.dot)
        let integerPart = mantissa[..<(dotIndex ?? mantissa.endIndex)]
        guard isValidDigitRun(integerPart, isDigit),
              integerPart.count == 1 || integerPart.first != UInt8(ascii: "0") else { return false }
        if let dotIndex, !isValidDigitRun(mantissa[(dotIndex + 1)...], isDigit) { return false }
        guard let exponentIndex else { return dotIndex != nil }
        var exponent = body[(exponentIndex + 1)...]
        if let first = exponent.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            exponent = exponent.dropFirst()
        }
        return isValidDigitRun(exponent, isDigit)
    }

    /// RFC 3339 shapes TOML allows: offset date-time, local date-time, local date, local time.
    /// Field ranges are checked; the calendar only as far as days per month.
    private func isValidDateTime(_ token: [UInt8]) -> Bool {
        var rest = token[...]
        var hasDate = false
        if rest.count >= 10, rest[rest.startIndex + 4] == UInt8(ascii: "-") {
            guard let year = number(rest, 0, 4), rest[rest.startIndex + 7] == UInt8(ascii: "-"),
                  let month = number(rest, 5, 2), let day = number(rest, 8, 2),
                  (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return false }
            hasDate = true
            rest = rest.dropFirst(10)
            if rest.isEmpty { return true }
            guard let separator = rest.first,
                  separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == Byte.space
            else { return false }
            rest = rest.dropFirst()
        }
        guard rest.count >= 8, let hour = number(rest, 0, 2), rest[rest.startIndex + 2] == UInt8(ascii: ":"),
              let minute = number(rest, 3, 2), rest[rest.startIndex + 5] == UInt8(ascii: ":"),
              let second = number(rest, 6, 2), hour <= 23, minute <= 59, second <= 60 else { return false }
        rest = rest.dropFirst(8)
        if rest.first == Byte.dot {
            let fraction = rest.dropFirst().prefix(while: isDigit)
            guard !fraction.isEmpty else { return false }
            rest = rest.dropFirst(1 + fraction.count)
        }
        if rest.isEmpty { return true }
        // Only a full date-time may carry an offset.
        guard hasDate else { return false }
        if rest.elementsEqual([UInt8(ascii: "Z")]) || rest.elementsEqual([UInt8(ascii: "z")]) { return true }
        guard rest.count == 6, rest.first == UInt8(ascii: "+") || rest.first == UInt8(ascii: "-"),
              let offsetHour = number(rest, 1, 2), rest[rest.startIndex + 3] == UInt8(ascii: ":"),
              let offsetMinute = number(rest, 4, 2) else { return false }
        return offsetHour <= 23 && offsetMinute <= 59
    }

    /// The decimal number in `length` digits at `offset` from the start of `bytes`.
    private func number(_ bytes: ArraySlice<UInt8>, _ offset: Int, _ length: Int) -> Int? {
        let start = bytes.startIndex + offset
        guard start + length <= bytes.endIndex else { return nil }
        var value = 0
        for byte in bytes[start..<start + length] {
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

import JSON
import Testing

/// The error thrown when parsing `input`, or nil when it parses.
private func parseError(_ input: some Collection<UInt8>, limits: JSONLimits = .init()) -> JSONError? {
    do {
        _ = try JSON.parse(input, limits: limits)
        return nil
    } catch {
        return error
    }
}

private func parseError(_ text: String, limits: JSONLimits = .init()) -> JSONError? {
    parseError(Array(text.utf8), limits: limits)
}

private func nested(_ depth: Int, open: String = "[", close: String = "]") -> String {
    String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
}

@Suite struct JSONParserTests {
    @Test func parsesScalars() throws {
        #expect(try JSON.parse("null") == .null)
        #expect(try JSON.parse("true") == .bool(true))
        #expect(try JSON.parse("false") == .bool(false))
        #expect(try JSON.parse("42") == .int(42))
        #expect(try JSON.parse("-7") == .int(-7))
        #expect(try JSON.parse("\"hi\"") == .string("hi"))
        #expect(try JSON.parse(" \t\r\n 1 \r\n") == .int(1))
    }

    @Test func parsesNestedDocument() throws {
        let text = """
        {
          "seq": 17,
          "device": {"id": "entrance-1", "roles": ["presence", "scanner"]},
          "rssi": -61.5,
          "ok": true,
          "note": null,
          "empty": {"a": [], "b": {}}
        }
        """
        let value = try JSON.parse(text)
        #expect(value["seq"] == .int(17))
        #expect(value["device"]?["id"]?.stringValue == "entrance-1")
        #expect(value["device"]?["roles"]?[1] == .string("scanner"))
        #expect(value["rssi"] == .double(-61.5))
        #expect(value["ok"]?.boolValue == true)
        #expect(value["note"]?.isNull == true)
        #expect(value["empty"] == ["a": [], "b": [:]])
        #expect(value.objectValue?.count == 6)
    }

    @Test func parsesFromByteCollections() throws {
        let bytes: [UInt8] = Array(#"{"a":[1,2]}"#.utf8)
        #expect(try JSON.parse(bytes) == ["a": [1, 2]])
        #expect(try JSON.parse(bytes[...]) == ["a": [1, 2]])
    }

    @Test(arguments: [
        ("0", JSON.int(0)),
        ("-0", .int(0)),
        ("9223372036854775807", .int(.max)),
        ("-9223372036854775808", .int(.min)),
        // One past the Int64 range: still a number, no longer exact.
        ("9223372036854775808", .double(9223372036854775808.0)),
        ("-9223372036854775809", .double(-9223372036854775809.0)),
        ("1.5", .double(1.5)),
        ("-0.0025", .double(-0.0025)),
        ("0.1", .double(0.1)),
        ("1e2", .double(100)),
        ("1E+2", .double(100)),
        ("-2.5e-3", .double(-0.0025)),
        ("2.0", .double(2.0)),
        ("5e-324", .double(.leastNonzeroMagnitude)),
        ("1.7976931348623157e308", .double(1.7976931348623157e308)),
    ])
    func parsesNumbers(text: String, expected: JSON) throws {
        #expect(try JSON.parse(text) == expected)
    }

    @Test(arguments: [
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
        (#""\u0041\u00e9\u20AC""#, "Aé€"),
        (#""\u0000""#, "\u{0}"),
        // Surrogate pairs, in both hex cases.
        (#""\uD83D\uDE00""#, "😀"),
        (#""\ud83d\ude00!""#, "😀!"),
        (#""\uDBFF\uDFFF""#, "\u{10FFFF}"),
        // Raw multi-byte UTF-8 of every length.
        ("\"é€😀\"", "é€😀"),
        ("\"\u{7F}\"", "\u{7F}"),
    ])
    func decodesStrings(text: String, expected: String) throws {
        #expect(try JSON.parse(text) == .string(expected))
    }

    @Test(arguments: [
        ("", 0, "unexpected end of input, expected a value"),
        ("   ", 3, "unexpected end of input, expected a value"),
        ("[", 1, "unexpected end of input, expected a value"),
        ("[1,2,]", 5, "trailing comma in array"),
        ("[1,,2]", 3, "expected a value, found ','"),
        ("[1 2]", 3, "expected ',' or ']' in array"),
        (#"{"a":1,}"#, 7, "trailing comma in object"),
        (#"{"a":1 "b":2}"#, 7, "expected ',' or '}' in object"),
        (#"{"a":1"#, 6, "unexpected end of input, expected ',' or '}' in object"),
        ("{,}", 1, "expected a string key in object"),
        ("{a:1}", 1, "expected a string key in object"),
        (#"{"a" 1}"#, 5, "expected ':' after object key"),
        (#"{"a":1,"a":2}"#, 7, "duplicate key 'a' in object"),
        (#"{"x":{"k":1,"k":1}}"#, 12, "duplicate key 'k' in object"),
        ("// c\n1", 0, "expected a value, found '/'"),
        ("[1] /* c */", 4, "unexpected '/' after JSON value"),
        ("[1]x", 3, "unexpected 'x' after JSON value"),
        ("1 2", 2, "unexpected '2' after JSON value"),
        ("'a'", 0, "expected a value, found '''"),
        ("tru", 0, "invalid literal, expected 'true'"),
        ("nul", 0, "invalid literal, expected 'null'"),
        ("fals3", 0, "invalid literal, expected 'false'"),
        ("True", 0, "expected a value, found 'T'"),
        ("NaN", 0, "expected a value, found 'N'"),
        ("-Infinity", 1, "expected a digit in number"),
        ("01", 0, "leading zeros are not allowed in numbers"),
        ("-01", 0, "leading zeros are not allowed in numbers"),
        ("[00]", 1, "leading zeros are not allowed in numbers"),
        ("+1", 0, "expected a value, found '+'"),
        (".5", 0, "expected a value, found '.'"),
        ("-", 1, "unexpected end of input, expected a digit in number"),
        ("1.", 2, "unexpected end of input, expected a digit after decimal point"),
        ("1.e5", 2, "expected a digit after decimal point"),
        ("1e", 2, "unexpected end of input, expected a digit in exponent"),
        ("1e+", 3, "unexpected end of input, expected a digit in exponent"),
        ("1e400", 0, "number out of range"),
        ("[-1e400]", 1, "number out of range"),
        (#""abc"#, 0, "unterminated string"),
        ("[\"a\u{1}b\"]", 3, "unescaped control character byte 0x01 in string"),
        ("\"a\nb\"", 2, "unescaped control character byte 0x0A in string"),
        ("\"a\tb\"", 2, "unescaped control character byte 0x09 in string"),
        (#""\x""#, 1, "invalid escape 'x' in string"),
        (#""\'""#, 1, "invalid escape ''' in string"),
        (#""\"#, 1, "unterminated string escape"),
        (#""\u12""#, 1, #"expected 4 hex digits in \u escape"#),
        (#""\u12G4""#, 1, #"expected 4 hex digits in \u escape"#),
        (#""\uD800""#, 1, #"lone high surrogate in \u escape"#),
        (#""ab\uD83D\u0041""#, 3, #"lone high surrogate in \u escape"#),
        (#""\uD83Dx""#, 1, #"lone high surrogate in \u escape"#),
        (#""\uD83D\uD83D""#, 1, #"lone high surrogate in \u escape"#),
        (#""\uDC00""#, 1, #"lone low surrogate in \u escape"#),
        (#""\uDE00\uD83D""#, 1, #"lone low surrogate in \u escape"#),
        (#""\uD83D\u12""#, 7, #"expected 4 hex digits in \u escape"#),
    ])
    func rejectsMalformedText(text: String, offset: Int, message: String) {
        let error = parseError(text)
        #expect(error?.offset == offset)
        #expect(error?.message == message)
        #expect(error?.description == "invalid JSON at byte \(offset): \(message)")
    }

    @Test(arguments: [
        ([0x22, 0xC0, 0xAF, 0x22], 1, "invalid UTF-8 lead byte 0xC0"),            // overlong '/'
        ([0x22, 0xE0, 0x80, 0xAF, 0x22], 1, "invalid UTF-8 sequence"),            // overlong, 3 bytes
        ([0x22, 0xED, 0xA0, 0x80, 0x22], 1, "invalid UTF-8 sequence"),            // encoded surrogate
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1, "invalid UTF-8 sequence"),      // above U+10FFFF
        ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], 1, "invalid UTF-8 lead byte 0xF5"),
        ([0x22, 0x61, 0x80, 0x22], 2, "invalid UTF-8 lead byte 0x80"),            // stray continuation
        ([0x22, 0xE2, 0x82, 0x22], 1, "invalid UTF-8 sequence"),                  // truncated
        ([0x22, 0xE2, 0x82], 1, "invalid UTF-8 sequence"),                        // truncated at end
        ([0x22, 0xFF, 0x22], 1, "invalid UTF-8 lead byte 0xFF"),
        ([0xEF, 0xBB, 0xBF, 0x31], 0, "expected a value, found byte 0xEF"),       // BOM
        ([0x31, 0x00], 1, "unexpected byte 0x00 after JSON value"),
    ] as [([UInt8], Int, String)])
    func rejectsMalformedBytes(bytes: [UInt8], offset: Int, message: String) {
        let error = parseError(bytes)
        #expect(error?.offset == offset)
        #expect(error?.message == message)
    }

    @Test func depthLimitCountsArraysAndObjects() throws {
        #expect(try JSON.parse(nested(32))[0] != nil)
        let tooDeep = parseError(nested(33))
        #expect(tooDeep?.message == "nesting exceeds the limit of 32 levels")
        #expect(tooDeep?.offset == 32)

        let limits = JSONLimits(maxDepth: 2)
        #expect(parseError("[[1]]", limits: limits) == nil)
        #expect(parseError(#"{"a":{"b":1}}"#, limits: limits) == nil)
        #expect(parseError("[[[1]]]", limits: limits)?.offset == 2)
        #expect(parseError(#"{"a":{"b":{}}}"#, limits: limits)?.offset == 10)
        #expect(parseError(#"[{"b":[]}]"#, limits: limits)?.message == "nesting exceeds the limit of 2 levels")
        #expect(parseError("1", limits: JSONLimits(maxDepth: 0)) == nil)
        #expect(parseError("[]", limits: JSONLimits(maxDepth: 0))?.offset == 0)
    }

    @Test func sizeLimitAppliesToWholeInput() throws {
        // A 64 KiB string document (quotes included) is accepted; one byte more is not.
        let fits = "\"" + String(repeating: "a", count: 64 * 1024 - 2) + "\""
        let limits = JSONLimits(maxStringBytes: 64 * 1024)
        #expect(try JSON.parse(fits, limits: limits).stringValue?.utf8.count == 64 * 1024 - 2)

        let error = parseError(fits + " ", limits: limits)
        #expect(error?.offset == nil)
        #expect(error?.message == "input of 65537 bytes exceeds the limit of 65536 bytes")
        #expect(error?.description == "input of 65537 bytes exceeds the limit of 65536 bytes")
        #expect(parseError("[1, 2]", limits: JSONLimits(maxBytes: 5))?.message ==
            "input of 6 bytes exceeds the limit of 5 bytes")
    }

    @Test func stringLimitCountsDecodedBytesOfValuesAndKeys() {
        let limits = JSONLimits(maxStringBytes: 4)
        #expect(parseError(#""abcd""#, limits: limits) == nil)
        #expect(parseError(#""\u00e9\u00e9""#, limits: limits) == nil) // 12 bytes of text, 4 decoded
        let tooLong = parseError(#"["abcde"]"#, limits: limits)
        #expect(tooLong?.offset == 1)
        #expect(tooLong?.message == "string exceeds the limit of 4 bytes")
        #expect(parseError(#"{"abcde":1}"#, limits: limits)?.offset == 1)
        #expect(parseError("\"ééé\"", limits: limits)?.message == "string exceeds the limit of 4 bytes")
    }

    @Test func defaultLimits() {
        let limits = JSONLimits()
        #expect(limits.maxDepth == 32)
        #expect(limits.maxBytes == 65536)
        #expect(limits.maxStringBytes == 32768)
    }
}

@Suite struct JSONAccessorTests {
    let value: JSON = [
        "seq": 7, "ratio": 0.5, "whole": 3.0, "name": "x", "flag": false,
        "list": [1, "two"], "nothing": nil,
    ]

    @Test func subscriptsReturnNilForWrongShapes() {
        #expect(value["seq"] == .int(7))
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(value["list"]?[1] == "two")
        #expect(value["list"]?[2] == nil)
        #expect(value["list"]?[-1] == nil)
        #expect(value["list"]?["seq"] == nil)
        #expect(JSON.string("a")["a"] == nil)
    }

    @Test func typedAccessors() {
        #expect(value["seq"]?.intValue == 7)
        #expect(value["seq"]?.doubleValue == 7.0)
        #expect(value["whole"]?.intValue == 3)
        #expect(value["ratio"]?.intValue == nil)
        #expect(value["ratio"]?.doubleValue == 0.5)
        #expect(JSON.double(1e19).intValue == nil)
        #expect(value["name"]?.stringValue == "x")
        #expect(value["name"]?.intValue == nil)
        #expect(value["seq"]?.stringValue == nil)
        #expect(value["flag"]?.boolValue == false)
        #expect(value["seq"]?.boolValue == nil)
        #expect(value["list"]?.arrayValue == [1, "two"])
        #expect(value["name"]?.arrayValue == nil)
        #expect(value.objectValue?["name"] == "x")
        #expect(value["list"]?.objectValue == nil)
        #expect(value["nothing"]?.isNull == true)
        #expect(value["flag"]?.isNull == false)
    }

    @Test func literalsBuildMatchingCases() {
        let literal: JSON = [nil, true, 1, 2.5, "s", [], [:]]
        #expect(literal == .array([.null, .bool(true), .int(1), .double(2.5), .string("s"), .array([]), .object([:])]))
    }
}

@Suite struct JSONFieldReaderTests {
    let message: JSON = [
        "seq": 17, "big": 2.0, "name": "gate", "on": true, "items": [1], "meta": ["k": "v"],
        "nothing": nil, "frac": 1.5,
    ]

    @Test func readsPresentFields() throws {
        #expect(try message.required("nothing") == .null)
        #expect(try message.requiredInt("seq") == 17)
        #expect(try message.requiredInt("big") == 2)
        #expect(try message.requiredDouble("seq") == 17.0)
        #expect(try message.requiredString("name") == "gate")
        #expect(try message.requiredBool("on") == true)
        #expect(try message.requiredArray("items") == [1])
        #expect(try message.requiredObject("meta") == ["k": "v"])
        #expect(try message.optionalString("name") == "gate")
        #expect(try message.optionalInt("seq") == 17)
        #expect(try message.optionalBool("on") == true)
    }

    @Test func optionalReadersTreatMissingAndNullAsAbsent() throws {
        #expect(try message.optionalString("absent") == nil)
        #expect(try message.optionalString("nothing") == nil)
        #expect(try message.optionalInt("absent") == nil)
        #expect(try message.optionalInt("nothing") == nil)
        #expect(try message.optionalBool("nothing") == nil)
    }

    @Test(arguments: [
        ("missing", "missing field 'absent'"),
        ("int-wrong", "field 'name' must be an integer"),
        ("int-frac", "field 'frac' must be an integer"),
        ("string-wrong", "field 'seq' must be a string"),
        ("string-null", "field 'nothing' must be a string"),
        ("bool-wrong", "field 'seq' must be a boolean"),
        ("array-wrong", "field 'meta' must be an array"),
        ("object-wrong", "field 'items' must be an object"),
        ("double-wrong", "field 'name' must be a number"),
        ("optional-string-wrong", "field 'seq' must be a string"),
        ("optional-int-wrong", "field 'name' must be an integer"),
        ("optional-bool-wrong", "field 'name' must be a boolean"),
        ("not-object", "expected a JSON object"),
        ("optional-not-object", "expected a JSON object"),
    ])
    func reportsReadableErrors(reader: String, expected: String) {
        let json = message
        var thrown: JSONError?
        do {
            switch reader {
            case "missing": _ = try json.requiredString("absent")
            case "int-wrong": _ = try json.requiredInt("name")
            case "int-frac": _ = try json.requiredInt("frac")
            case "string-wrong": _ = try json.requiredString("seq")
            case "string-null": _ = try json.requiredString("nothing")
            case "bool-wrong": _ = try json.requiredBool("seq")
            case "array-wrong": _ = try json.requiredArray("meta")
            case "object-wrong": _ = try json.requiredObject("items")
            case "double-wrong": _ = try json.requiredDouble("name")
            case "optional-string-wrong": _ = try json.optionalString("seq")
            case "optional-int-wrong": _ = try json.optionalInt("name")
            case "optional-bool-wrong": _ = try json.optionalBool("name")
            case "not-object": _ = try JSON.array([]).required("seq")
            case "optional-not-object": _ = try JSON.string("x").optionalInt("seq")
            default: Issue.record("unknown reader \(reader)")
            }
        } catch {
            thrown = error
        }
        #expect(thrown?.message == expected)
        #expect(thrown?.offset == nil)
        #expect(thrown?.description == expected)
    }
}

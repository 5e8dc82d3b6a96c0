import JSON
import Testing

private func canonical(_ value: JSON) throws -> String {
    String(decoding: try value.canonicalBytes(), as: UTF8.self)
}

private func canonicalError(_ value: JSON) -> JSONError? {
    do {
        _ = try value.canonicalBytes()
        return nil
    } catch {
        return error
    }
}

@Suite struct JSONSerializerTests {
    @Test func serializesCompactly() {
        let value: JSON = ["b": [1, 2.5, nil, true, false], "a": "x", "c": [:], "d": []]
        #expect(value.serialized() == #"{"a":"x","b":[1,2.5,null,true,false],"c":{},"d":[]}"#)
        #expect(value.bytes() == Array(value.serialized().utf8))
        #expect(value.description == value.serialized())
        #expect("\(value)" == value.serialized())
    }

    @Test func sortsKeysByUTF8Bytes() {
        let value: JSON = ["z": 1, "a": 2, "B": 3, "aa": 4, "": 5, "é": 6, "~": 7]
        #expect(value.serialized() == #"{"":5,"B":3,"a":2,"aa":4,"z":1,"~":7,"é":6}"#)
    }

    @Test func sortOrderIgnoresUnicodeNormalization() {
        // "e" + combining acute normalizes to U+00E9, which Swift's String `<` orders after "f";
        // its bytes (65 CC 81) order before "f" (66), and byte order is what other implementations use.
        let value: JSON = ["f": 1, "e\u{301}": 2]
        #expect(value.serialized() == "{\"e\u{301}\":2,\"f\":1}")
        #expect(value.bytes() == [0x7B, 0x22, 0x65, 0xCC, 0x81, 0x22, 0x3A, 0x32, 0x2C,
                                  0x22, 0x66, 0x22, 0x3A, 0x31, 0x7D])
    }

    @Test(arguments: [
        ("plain", #""plain""#),
        ("q\"b\\s/", #""q\"b\\s/""#),
        ("\n\r\t\u{8}\u{C}", #""\n\r\t\b\f""#),
        ("\u{0}\u{1}\u{1F}", #""\u0000\u0001\u001F""#),
        ("\u{7F}é€😀", "\"\u{7F}é€😀\""),
        ("\u{2028}", "\"\u{2028}\""),
    ])
    func escapesMinimally(string: String, expected: String) throws {
        #expect(JSON.string(string).serialized() == expected)
        #expect(try JSON.parse(expected) == .string(string))
    }

    @Test(arguments: [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (-0.0, "-0.0"),
        (1e-7, "1e-07"),
        (1e20, "1e+20"),
        (123456789.125, "123456789.125"),
        (.leastNonzeroMagnitude, "5e-324"),
        (.greatestFiniteMagnitude, "1.7976931348623157e+308"),
    ] as [(Double, String)])
    func serializesDoublesShortestRoundTrip(value: Double, expected: String) throws {
        #expect(JSON.double(value).serialized() == expected)
        let parsed = try JSON.parse(expected)
        #expect(parsed == .double(value))
        #expect(parsed.doubleValue?.sign == value.sign)
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(JSON.array([.double(.infinity), .double(-.infinity), .double(.nan)]).serialized() ==
            "[null,null,null]")
    }

    @Test func serializesInt64Boundaries() throws {
        #expect(JSON.int(.max).serialized() == "9223372036854775807")
        #expect(JSON.int(.min).serialized() == "-9223372036854775808")
        #expect(try JSON.parse(JSON.int(.min).serialized()) == .int(.min))
    }

    @Test func roundTripsThroughText() throws {
        let value: JSON = [
            "seq": .int(.max),
            "neg": .int(.min),
            "ratio": 0.30000000000000004,
            "text": "line1\nline2 \"quoted\" \\ tab\t nul\u{0} ☃ 😀",
            "nested": ["list": [[], [:], [nil, false]], "deep": [["x": [1, 2.75]]]],
            "unicode-key-é": true,
        ]
        let text = value.serialized()
        #expect(try JSON.parse(text) == value)
        #expect(try JSON.parse(value.bytes()) == value)
        // Serialization is deterministic, so a second pass is byte-identical.
        #expect(try JSON.parse(text).serialized() == text)
    }

    @Test func reformatsParsedInput() throws {
        let text = " { \"b\" : [ 1 , 2 ] ,\n \"a\" : { \"y\" : \"\\u0041\" , \"x\" : 1e2 } } "
        #expect(try JSON.parse(text).serialized() == #"{"a":{"x":100.0,"y":"A"},"b":[1,2]}"#)
    }
}

@Suite struct JSONCanonicalTests {
    @Test func sortsKeysAndKeepsNewlinesRaw() throws {
        #expect(try canonical(["b": 1, "a": "x\ny"]) == "{\"a\":\"x\ny\",\"b\":1}")
    }

    // Expected outputs from securesystemslib's encode_canonical documentation and behaviour.
    @Test(arguments: [
        (JSON.string(""), #""""#),
        ([1, 2, 3], "[1,2,3]"),
        ([], "[]"),
        (["A": [99]], #"{"A":[99]}"#),
        (["x": 3, "y": 2], #"{"x":3,"y":2}"#),
        (["a": nil, "b": true, "c": false], #"{"a":null,"b":true,"c":false}"#),
        (.int(.min), "-9223372036854775808"),
        (["b": 1, "B": 2, "a": [:]], #"{"B":2,"a":{},"b":1}"#),
    ] as [(JSON, String)])
    func matchesKnownEncodings(value: JSON, expected: String) throws {
        #expect(try canonical(value) == expected)
    }

    @Test func escapesOnlyQuoteAndBackslash() throws {
        let value = JSON.string("q\"b\\ t\t c\u{1} d\u{7F} é/")
        let bytes = try value.canonicalBytes()
        #expect(bytes == [0x22] + Array("q\\\"b\\\\ t\t c\u{1} d\u{7F} é/".utf8) + [0x22])
    }

    // securesystemslib refuses every Python float, integral or not.
    @Test(arguments: [
        (JSON.double(1.5), "canonical JSON has no floats, found the number 1.5"),
        (["a": [0.1]], "canonical JSON has no floats, found the number 0.1"),
        (.double(2.0), "canonical JSON has no floats, found the number 2.0"),
        (.double(.nan), "canonical JSON has no floats, found the number nan"),
        (.double(1e19), "canonical JSON has no floats, found the number 1e+19"),
    ] as [(JSON, String)])
    func rejectsFloats(value: JSON, message: String) {
        let error = canonicalError(value)
        #expect(error?.message == message)
        #expect(error?.offset == nil)
    }

    @Test(arguments: ["[1.0]", #"{"a":{"b":1e3}}"#, "[18446744073709551616]"])
    func parsingForCanonicalFormRejectsFloats(text: String) {
        #expect(throws: JSONError.self) { try JSON.parseCanonicalizable(Array(text.utf8)) }
        #expect((try? JSON.parse(text)) != nil)
    }

    @Test func parsingForCanonicalFormKeepsIntegersAndStrings() throws {
        let value = try JSON.parseCanonicalizable(Array(#"{"n":-9223372036854775808,"s":"\u0001"}"#.utf8))
        #expect(value["n"] == .int(.min))
        // The escape decodes to U+0001, which canonical JSON writes as the raw byte.
        #expect(try value.canonicalBytes() == Array("{\"n\":-9223372036854775808,\"s\":\"\u{1}\"}".utf8))
    }

    @Test func encodesTUFStyleMetadata() throws {
        let signed: JSON = [
            "_type": "root",
            "spec_version": "1.0.31",
            "version": 3,
            "expires": "2030-01-01T00:00:00Z",
            "consistent_snapshot": true,
            "keys": ["ab12": ["keytype": "ed25519", "scheme": "ed25519", "keyval": ["public": "9f"]]],
            "roles": ["root": ["keyids": ["ab12"], "threshold": 1]],
        ]
        let expected = #"{"_type":"root","consistent_snapshot":true,"expires":"2030-01-01T00:00:00Z","#
            + #""keys":{"ab12":{"keytype":"ed25519","keyval":{"public":"9f"},"scheme":"ed25519"}},"#
            + #""roles":{"root":{"keyids":["ab12"],"threshold":1}},"spec_version":"1.0.31","version":3}"#
        #expect(try canonical(signed) == expected)
        // Same bytes whatever order the document arrived in.
        let reordered = try JSON.parse(#"{"version":3,"roles":{"root":{"threshold":1,"keyids":["ab12"]}},"#
            + #""keys":{"ab12":{"keyval":{"public":"9f"},"scheme":"ed25519","keytype":"ed25519"}},"#
            + #""spec_version":"1.0.31","expires":"2030-01-01T00:00:00Z","consistent_snapshot":true,"_type":"root"}"#)
        #expect(try reordered.canonicalBytes() == Array(expected.utf8))
    }
}

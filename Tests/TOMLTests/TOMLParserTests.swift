import Testing
import TOML

/// The error thrown when parsing `text`, or nil when it parses.
private func parseError(_ text: String) -> TOMLError? {
    do {
        _ = try TOML.parse(text)
        return nil
    } catch {
        return error
    }
}

/// The value of key `v` in a one-line document `v = <value>`.
private func value(_ literal: String) throws -> TOMLValue? {
    try TOML.parse("v = " + literal)["v"]
}

private let agentConfig = """
    # nanoedge agent
    [device]
    id = "entrance-1"
    roles = ["presence", "scanner"]
    board = "sim"
    [gateway]
    uri = "coaps://127.0.0.1:5684"
    [scanner]
    window_ms = 3_000
    [[leds]]
    name = "led0"
    line = "GPIO17"
    [[leds]]
    name = "led1"  # status
    line = "GPIO27"
    active_low = true
    """

@Suite struct TOMLDocumentTests {
    @Test func parsesAgentConfig() throws {
        let config = try TOML.parse(agentConfig)
        #expect(config.keys == ["device", "gateway", "leds", "scanner"])
        #expect(try config.requiredString("device.id") == "entrance-1")
        #expect(try config.requiredStrings("device.roles") == ["presence", "scanner"])
        #expect(try config.string("device.board") == "sim")
        #expect(try config.requiredString("gateway.uri") == "coaps://127.0.0.1:5684")
        #expect(try config.requiredInteger("scanner.window_ms") == 3000)
        #expect(try config.double("scanner.window_ms") == 3000.0)

        let leds = try config.requiredTables("leds")
        #expect(leds.count == 2)
        #expect(try leds[0].requiredString("name") == "led0")
        #expect(try leds[0].requiredString("line") == "GPIO17")
        #expect(try leds[0].bool("active_low") == nil)
        #expect(try leds[1].requiredString("name") == "led1")
        #expect(try leds[1].requiredBool("active_low") == true)

        #expect(config.value(at: "device.id") == .string("entrance-1"))
        #expect(config["device"]?.tableValue?["board"] == .string("sim"))
        #expect(config.value(at: "device.missing") == nil)
        #expect(config.value(at: "device.id.deeper") == nil)
    }

    @Test func buildsExpectedTree() throws {
        let table = try TOML.parse("""
            title = "x"
            [a.b]
            c = 1
            [a]
            d = 2
            """)
        let expected = TOMLTable([
            "title": .string("x"),
            "a": .table(TOMLTable(["b": .table(TOMLTable(["c": .integer(1)])), "d": .integer(2)])),
        ])
        #expect(table == expected)
    }

    @Test func acceptsEmptyAndBlankDocuments() throws {
        #expect(try TOML.parse("") == TOMLTable())
        #expect(try TOML.parse("\n  \t\n# only a comment\n\n") == TOMLTable())
    }

    @Test func handlesCRLFLineEndingsAndByteOrderMark() throws {
        let table = try TOML.parse("\u{FEFF}a = 1\r\n# c\r\n[t]\r\nb = \"\"\"\r\nx\r\ny\"\"\"\r\n")
        #expect(table["a"] == .integer(1))
        #expect(table.value(at: "t.b") == .string("x\ny"))
    }

    @Test func parsesKeyForms() throws {
        let table = try TOML.parse("""
            bare_key-1 = 1
            1234 = 2
            "quoted key" = 3
            'literal "key"' = 4
            "" = 5
            site.name = "hq"
            site . "floor.2" . 'room' = 6
            3.14 = 7
            "\\u00e9" = 8
            """)
        #expect(table["bare_key-1"] == .integer(1))
        #expect(table["1234"] == .integer(2))
        #expect(table["quoted key"] == .integer(3))
        #expect(table["literal \"key\""] == .integer(4))
        #expect(table[""] == .integer(5))
        #expect(table.value(at: "site.name") == .string("hq"))
        #expect(table["site"]?.tableValue?["floor.2"]?.tableValue?["room"] == .integer(6))
        #expect(table.value(at: "3.14") == .integer(7))
        #expect(table["é"] == .integer(8))
    }

    @Test func mergesTablesAcrossHeadersAndDottedKeys() throws {
        let table = try TOML.parse("""
            [fruit]
            apple.color = "red"
            apple.taste.sweet = true
            [fruit.apple.texture]
            smooth = true
            [x.y.z]
            w = 1
            [x]
            y.v = 2
            """)
        #expect(table.value(at: "fruit.apple.color") == .string("red"))
        #expect(try table.bool("fruit.apple.taste.sweet") == true)
        #expect(try table.bool("fruit.apple.texture.smooth") == true)
        #expect(table.value(at: "x.y.z.w") == .integer(1))
        #expect(table.value(at: "x.y.v") == .integer(2))
    }

    @Test func arraysOfTablesWithSubTables() throws {
        let table = try TOML.parse("""
            [[fruits]]
            name = "apple"
            [fruits.physical]
            color = "red"
            [[fruits.varieties]]
            name = "red delicious"
            [[fruits.varieties]]
            name = "granny smith"
            [[fruits]]
            name = "banana"
            [[fruits.varieties]]
            name = "plantain"
            """)
        let fruits = try table.requiredTables("fruits")
        #expect(fruits.count == 2)
        #expect(try fruits[0].string("physical.color") == "red")
        #expect(try fruits[0].requiredTables("varieties").map { try $0.requiredString("name") } ==
            ["red delicious", "granny smith"])
        #expect(try fruits[1].requiredString("name") == "banana")
        #expect(try fruits[1].requiredTables("varieties").count == 1)
        #expect(try fruits[1].table("physical") == nil)
    }
}

@Suite struct TOMLValueTests {
    @Test(arguments: [
        (#""plain""#, "plain"),
        (#""tab\tnl\nq\"bs\\b\bf\fr\r""#, "tab\tnl\nq\"bs\\b\u{8}f\u{C}r\r"),
        (#""\u00E9\u20ac \U0001F600""#, "é€ 😀"),
        ("\"raw é\u{9}tab\"", "raw é\ttab"),
        (#"'C:\Users\nodejs\templates'"#, #"C:\Users\nodejs\templates"#),
        (#"'<\i\c*\s*>'"#, #"<\i\c*\s*>"#),
        ("\"\"\"\nfirst\nsecond\"\"\"", "first\nsecond"),
        ("\"\"\"no trim\n\"\"\"", "no trim\n"),
        ("\"\"\"one \\\n    two \\\n\n   three\"\"\"", "one two three"),
        ("\"\"\"trailing ws \\   \n  next\"\"\"", "trailing ws next"),
        ("\"\"\"a \"quoted\" \"\"word\"\" \\\"\"\"\"\"\"", "a \"quoted\" \"\"word\"\" \"\"\""),
        ("\"\"\"ends with quotes\"\"\"\"\"", "ends with quotes\"\""),
        ("'''\nliteral \\n\n  kept'''", "literal \\n\n  kept"),
        ("'''It's '' ok'''''", "It's '' ok''"),
        ("''''''", ""),
        ("\"\"", ""),
    ])
    func strings(literal: String, expected: String) throws {
        #expect(try value(literal) == .string(expected))
    }

    @Test(arguments: [
        ("0", Int64(0)),
        ("+99", 99),
        ("-17", -17),
        ("-0", 0),
        ("1_000_000", 1_000_000),
        ("5_3_49_221", 5_349_221),
        ("0xDEADBEEF", 0xDEAD_BEEF),
        ("0xdead_beef", 0xDEAD_BEEF),
        ("0o755", 0o755),
        ("0b1101_0110", 0b1101_0110),
        ("0x7FFFFFFFFFFFFFFF", .max),
        ("9223372036854775807", .max),
        ("-9223372036854775808", .min),
    ])
    func integers(literal: String, expected: Int64) throws {
        #expect(try value(literal) == .integer(expected))
    }

    @Test(arguments: [
        ("+1.0", 1.0),
        ("3.1415", 3.1415),
        ("-0.01", -0.01),
        ("5e+22", 5e22),
        ("1e06", 1e6),
        ("-2E-2", -0.02),
        ("6.626e-34", 6.626e-34),
        ("224_617.445_991_228", 224_617.445_991_228),
        ("0.0", 0.0),
        ("0e0", 0.0),
        ("inf", .infinity),
        ("+inf", .infinity),
        ("-inf", -.infinity),
    ])
    func floats(literal: String, expected: Double) throws {
        #expect(try value(literal) == .float(expected))
    }

    @Test func notANumber() throws {
        for literal in ["nan", "+nan", "-nan"] {
            guard case .float(let number)? = try value(literal) else {
                Issue.record("\(literal) did not parse as a float")
                continue
            }
            #expect(number.isNaN)
        }
    }

    @Test func booleans() throws {
        #expect(try value("true") == .boolean(true))
        #expect(try value("false") == .boolean(false))
    }

    @Test(arguments: [
        "1979-05-27T07:32:00Z",
        "1979-05-27T00:32:00-07:00",
        "1979-05-27T00:32:00.999999+05:30",
        "1979-05-27 07:32:00Z",
        "1979-05-27t07:32:00z",
        "1979-05-27T07:32:00",
        "1979-05-27T00:32:00.5",
        "1979-05-27",
        "2024-02-29",
        "07:32:00",
        "00:32:00.999999",
        "23:59:60",
    ])
    func datetimesKeepTheirText(literal: String) throws {
        #expect(try value(literal) == .datetime(literal))
    }

    @Test func datetimeWithSpaceSeparatorInsideDocument() throws {
        let table = try TOML.parse("a = 1979-05-27 07:32:00 # comment\nb = 1979-05-27 # date only")
        #expect(table["a"] == .datetime("1979-05-27 07:32:00"))
        #expect(table["b"] == .datetime("1979-05-27"))
    }

    @Test func arrays() throws {
        #expect(try value("[]") == .array([]))
        #expect(try value("[ 1, 2, 3 ]") == .array([.integer(1), .integer(2), .integer(3)]))
        #expect(try value(#"[ [1, 2], ["a", 'b'], [] ]"#) == .array([
            .array([.integer(1), .integer(2)]), .array([.string("a"), .string("b")]), .array([]),
        ]))
        // TOML 1.0 allows mixed element types.
        #expect(try value(#"[1, "two", 3.0, true, {x = 1}]"#) == .array([
            .integer(1), .string("two"), .float(3), .boolean(true), .table(TOMLTable(["x": .integer(1)])),
        ]))
        let multiline = """
            v = [
              "GPIO17",  # first
              # a whole-line comment
              "GPIO27",
            ]
            """
        #expect(try TOML.parse(multiline)["v"] == .array([.string("GPIO17"), .string("GPIO27")]))
    }

    @Test func inlineTables() throws {
        let table = try TOML.parse(#"""
            point = { x = 1, y = -2 }
            empty = {}
            nested = { name = { first = "Tom", last = "Preston-Werner" }, tags = ["a",
              "b"] }
            dotted = { a.b = 1, a.c = 2 }
            """#)
        #expect(table["point"] == .table(TOMLTable(["x": .integer(1), "y": .integer(-2)])))
        #expect(table["empty"] == .table(TOMLTable()))
        #expect(table.value(at: "nested.name.last") == .string("Preston-Werner"))
        #expect(try table.strings("nested.tags") == ["a", "b"])
        #expect(table.value(at: "dotted.a.b") == .integer(1))
        #expect(table.value(at: "dotted.a.c") == .integer(2))
    }

    @Test func valueAccessors() {
        #expect(TOMLValue.string("s").stringValue == "s")
        #expect(TOMLValue.integer(1).stringValue == nil)
        #expect(TOMLValue.integer(4).integerValue == 4)
        #expect(TOMLValue.float(4).integerValue == nil)
        #expect(TOMLValue.integer(4).doubleValue == 4.0)
        #expect(TOMLValue.float(0.5).doubleValue == 0.5)
        #expect(TOMLValue.boolean(true).boolValue == true)
        #expect(TOMLValue.array([]).arrayValue == [])
        #expect(TOMLValue.table(TOMLTable()).tableValue == TOMLTable())
        #expect(TOMLValue.datetime("07:32:00").tableValue == nil)
    }
}

@Suite struct TOMLErrorTests {
    @Test(arguments: [
        // Redefinitions
        ("a = 1\na = 2", 2, 1, "key 'a' is already defined"),
        ("[t]\nx.y = 1\nx.y = 2", 3, 1, "key 't.x.y' is already defined"),
        ("a = 1\na.b = 2", 2, 1, "key 'a' is already defined"),
        ("a = 1\n[a.b]", 2, 2, "key 'a' is already defined"),
        ("[a]\nx = 1\n[a]", 3, 2, "table 'a' is already defined"),
        ("[a.b]\n[a.b]", 2, 2, "table 'a.b' is already defined"),
        ("[a]\nb.c = 1\n[a.b]", 3, 2, "table 'a.b' is already defined"),
        ("[a.b]\nx = 1\n[a]\nb.c = 1", 4, 1, "table 'a.b' is already defined"),
        ("[a.b.c]\n[a]\nb.c.d = 1", 3, 1, "table 'a.b.c' is already defined"),
        ("a = {x = 1}\n[a]", 2, 2, "key 'a' is already defined"),
        ("a = {x = 1}\na.y = 2", 2, 1, "key 'a' is already defined"),
        ("a = {x = 1}\n[a.b]", 2, 2, "key 'a' is already defined"),
        ("a = [1]\n[[a]]", 2, 3, "key 'a' is already defined"),
        ("[[a]]\n[a]", 2, 2, "table 'a' is already defined as an array of tables"),
        ("[a]\n[[a]]", 2, 3, "cannot redefine table 'a' as an array of tables"),
        ("[[a.b]]\n[a]\nb.y = 2", 3, 1, "cannot add keys to array of tables 'a.b' with dotted keys"),
        ("p = {x = 1, x = 2}", 1, 13, "key 'x' is already defined"),
        ("p = {a = {}, a.b = 1}", 1, 14, "key 'a' is already defined"),
        ("[\"a b\"]\n[\"a b\"]", 2, 2, "table '\"a b\"' is already defined"),
        // Keys and headers
        ("[device]\nid = \"x\"\n\nbad.key \"x\"", 4, 9, "expected '=' after key"),
        ("key", 1, 4, "unexpected end of input, expected '=' after key"),
        ("= 1", 1, 1, "expected a key"),
        ("a. = 1", 1, 4, "expected a key"),
        ("a$b = 1", 1, 2, "expected '=' after key"),
        ("\"\"\"k\"\"\" = 1", 1, 1, "multi-line strings cannot be keys"),
        ("[]", 1, 2, "expected a key"),
        ("[a", 1, 3, "unexpected end of input, expected ']' after table name"),
        ("[[a]", 1, 5, "unexpected end of input, expected ']]' after array of tables name"),
        ("[[a] ]", 1, 5, "expected ']]' after array of tables name"),
        ("[a] x = 1", 1, 5, "expected a newline after table header"),
        // Line structure
        ("a = 1 2", 1, 7, "expected a newline after value"),
        ("k = \"é\" x", 1, 9, "expected a newline after value"),
        ("a = 1\r\nb = 2\rc = 3", 2, 6, "carriage return must be followed by a line feed"),
        ("# comment \u{1}", 1, 11, "control character U+0001 in comment"),
        ("a = 1 # \u{7F}", 1, 9, "control character U+007F in comment"),
        ("a =", 1, 4, "unexpected end of input, expected a value"),
        ("a = \n1", 1, 5, "expected a value"),
        // Strings
        ("a = \"abc", 1, 5, "unterminated string"),
        ("a = \"abc\nb = 1", 1, 5, "unterminated string"),
        ("a = 'abc", 1, 5, "unterminated string"),
        ("a = \"\"\"abc", 1, 5, "unterminated multi-line string"),
        ("a = '''abc\n", 1, 5, "unterminated multi-line string"),
        ("a = \"\"\"abc\"\"\"\"\"\"", 1, 11, "too many quotes at end of multi-line string"),
        ("a = \"\\x\"", 1, 6, "invalid escape sequence '\\x'"),
        ("a = \"\"\"x\\ y\"\"\"", 1, 9, "invalid escape sequence"),
        ("a = \"\\u12\"", 1, 6, "expected 4 hex digits in unicode escape"),
        ("a = \"\\U0001F60\"", 1, 6, "expected 8 hex digits in unicode escape"),
        ("a = \"\\uD800\"", 1, 6, "unicode escape is not a valid scalar value"),
        ("a = \"\\U00110000\"", 1, 6, "unicode escape is not a valid scalar value"),
        ("a = \"x\u{1}\"", 1, 7, "control character U+0001 must be escaped"),
        ("a = 'x\u{0}'", 1, 7, "control character U+0000 in literal string"),
        ("a = \"\"\"x\u{7F}\"\"\"", 1, 9, "control character U+007F must be escaped"),
        // Arrays and inline tables
        ("a = [1, 2", 1, 10, "unexpected end of input, expected ',' or ']' in array"),
        ("a = [1 2]", 1, 8, "expected ',' or ']' in array"),
        ("a = [1,,2]", 1, 8, "expected a value"),
        ("a = {x = 1,}", 1, 12, "trailing comma is not allowed in an inline table"),
        ("a = {x = 1\n}", 1, 11, "newline is not allowed in an inline table"),
        ("a = {\nx = 1}", 1, 6, "newline is not allowed in an inline table"),
        ("a = {x = 1 y = 2}", 1, 12, "expected ',' or '}' in inline table"),
        ("a = " + String(repeating: "[", count: 65), 1, 69, "nesting exceeds the limit of 64 levels"),
        // Numbers, booleans, dates
        ("a = 9223372036854775808", 1, 5, "integer out of range"),
        ("a = -9223372036854775809", 1, 5, "integer out of range"),
        ("a = 0x1_0000_0000_0000_0000", 1, 5, "integer out of range"),
        ("a = 2021-13-01", 1, 5, "invalid date-time '2021-13-01'"),
        ("a = 2023-02-29", 1, 5, "invalid date-time '2023-02-29'"),
        ("a = 2021-04-31T00:00:00", 1, 5, "invalid date-time '2021-04-31T00:00:00'"),
        ("a = 24:00:00", 1, 5, "invalid date-time '24:00:00'"),
        ("a = 07:32", 1, 5, "invalid date-time '07:32'"),
        ("a = 07:32:00Z", 1, 5, "invalid date-time '07:32:00Z'"),
        ("a = 1979-05-27T07:32:00.", 1, 5, "invalid date-time '1979-05-27T07:32:00.'"),
        ("a = 1979-05-27T07:32:00+24:00", 1, 5, "invalid date-time '1979-05-27T07:32:00+24:00'"),
        ("a = 1979-05-27X07:32:00", 1, 5, "invalid date-time '1979-05-27X07:32:00'"),
    ] as [(String, Int, Int, String)])
    func reportsPosition(text: String, line: Int, column: Int, message: String) {
        let error = parseError(text)
        #expect(error?.message == message)
        #expect(error?.line == line)
        #expect(error?.column == column)
    }

    /// Each dotted part is a table level; 50,000 of them overflowed the stack.
    @Test(arguments: [
        String(repeating: "a.", count: 50_000) + "a = 1",
        "[" + String(repeating: "a.", count: 50_000) + "a]",
        "[[" + String(repeating: "a.", count: 50_000) + "a]]",
        "x = {" + String(repeating: "a.", count: 50_000) + "a = 1}",
    ])
    func refusesKeysWithTooManyParts(text: String) {
        #expect(parseError(text)?.message == "a key has more than 64 dotted parts")
    }

    @Test func dottedPartsCountTowardsTheNestingLimit() throws {
        let level = String(repeating: "a.", count: 63) + "a = {"
        #expect(parseError("x = {" + String(repeating: level, count: 2) + "}}}")?.message
                == "nesting exceeds the limit of 64 levels")
        let table = try TOML.parse(String(repeating: "a.", count: 63) + "a = 1")
        #expect(table.keys.count == 1)
    }

    @Test(arguments: [
        "01", "+01", "00.5", "1__0", "_1", "1_", "0x_1", "0x1_", "+0x1", "-0o7", "0b102", "0o8", "0xG",
        "1.", ".5", "1.e5", "1e", "1e_5", "1.5_", "1_.5", "truex", "True", "infinity", "NaN", "0x1.5",
    ])
    func rejectsMalformedNumbersAndBooleans(literal: String) {
        let error = parseError("a = " + literal)
        #expect(error?.message == "invalid value '\(literal)'")
        #expect(error?.line == 1)
        #expect(error?.column == 5)
    }

    @Test func descriptionIncludesPosition() {
        let error = parseError("[device]\nid = \"x\"\n\nbad.key \"x\"")
        #expect(error?.description == "line 4, column 9: expected '=' after key")
        #expect(TOMLError("missing key 'device.id'").description == "missing key 'device.id'")
    }
}

@Suite struct TOMLReaderTests {
    let table: TOMLTable

    init() throws {
        table = try TOML.parse("""
            name = "n"
            count = 3
            ratio = 0.5
            on = true
            list = ["a", "b"]
            mixed = ["a", 1]
            when = 1979-05-27
            [device]
            id = 7
            [[leds]]
            name = "led0"
            """)
    }

    @Test func readsTypedValues() throws {
        #expect(try table.string("name") == "n")
        #expect(try table.integer("count") == 3)
        #expect(try table.double("ratio") == 0.5)
        #expect(try table.double("count") == 3.0)
        #expect(try table.bool("on") == true)
        #expect(try table.strings("list") == ["a", "b"])
        #expect(try table.table("device")?["id"] == .integer(7))
        #expect(try table.tables("leds")?.first?["name"] == .string("led0"))
        #expect(try table.requiredDouble("count") == 3.0)
        #expect(try table.requiredTable("device").keys == ["id"])
    }

    @Test func missingKeysAreNilForOptionalReaders() throws {
        #expect(try table.string("absent") == nil)
        #expect(try table.integer("device.absent") == nil)
        #expect(try table.bool("nowhere.at.all") == nil)
        #expect(try table.strings("absent") == nil)
        #expect(try table.table("absent") == nil)
    }

    @Test(arguments: [
        ("string", "device.id", "key 'device.id' must be a string"),
        ("integer", "ratio", "key 'ratio' must be an integer"),
        ("integer", "when", "key 'when' must be an integer"),
        ("bool", "name", "key 'name' must be a boolean"),
        ("double", "on", "key 'on' must be a number"),
        ("strings", "mixed", "key 'mixed' must be an array of strings"),
        ("strings", "name", "key 'name' must be an array of strings"),
        ("table", "list", "key 'list' must be a table"),
        ("tables", "device", "key 'device' must be an array of tables"),
        ("string", "name.first", "key 'name' must be a table"),
        ("string", "device.id.x", "key 'device.id' must be a table"),
        ("requiredString", "device.name", "missing key 'device.name'"),
        ("requiredString", "device.id", "key 'device.id' must be a string"),
        ("requiredInteger", "absent", "missing key 'absent'"),
        ("requiredBool", "absent", "missing key 'absent'"),
        ("requiredDouble", "absent", "missing key 'absent'"),
        ("requiredStrings", "absent", "missing key 'absent'"),
        ("requiredTable", "absent", "missing key 'absent'"),
        ("requiredTables", "absent", "missing key 'absent'"),
    ])
    func reportsKeyPathInErrors(reader: String, path: String, message: String) {
        var thrown: TOMLError?
        do {
            switch reader {
            case "string": _ = try table.string(path)
            case "integer": _ = try table.integer(path)
            case "bool": _ = try table.bool(path)
            case "double": _ = try table.double(path)
            case "strings": _ = try table.strings(path)
            case "table": _ = try table.table(path)
            case "tables": _ = try table.tables(path)
            case "requiredString": _ = try table.requiredString(path)
            case "requiredInteger": _ = try table.requiredInteger(path)
            case "requiredBool": _ = try table.requiredBool(path)
            case "requiredDouble": _ = try table.requiredDouble(path)
            case "requiredStrings": _ = try table.requiredStrings(path)
            case "requiredTable": _ = try table.requiredTable(path)
            case "requiredTables": _ = try table.requiredTables(path)
            default: Issue.record("unknown reader \(reader)")
            }
        } catch {
            thrown = error
        }
        #expect(thrown?.message == message)
        #expect(thrown?.line == nil)
        #expect(thrown?.description == message)
    }
}

// libFuzzer target for the TOML parser (make fuzz): board profiles, gateway policies and configs.
// Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main instead.
import FuzzSupport
import TOML

/// One input is one file. What parses is written back as TOML (every table inline, every string
/// escaped), which must parse to the same tables; and the typed readers must not trap on it.
func fuzzOneFile(_ bytes: [UInt8]) {
    guard let table = try? TOML.parse(String(decoding: bytes, as: UTF8.self)) else { return }
    // Headers and dotted keys become inline tables here, which count towards the nesting limit.
    guard depth(of: .table(table)) < 60 else { return }
    let text = write(table)
    let again: TOMLTable
    do {
        again = try TOML.parse(text)
    } catch {
        preconditionFailure("TOML written back does not parse: \(error)\n\(text)")
    }
    precondition(same(.table(again), .table(table)), "parse → write → parse changed the tables\n\(text)")
    for key in table.keys {
        _ = try? table.string(key)
        _ = try? table.integer(key)
        _ = try? table.double(key)
        _ = try? table.strings(key)
        _ = try? table.tables(key)
        if let inner = try? table.table(key) {
            for innerKey in inner.keys { _ = table.value(at: key + "." + innerKey) }
        }
    }
}

func depth(of value: TOMLValue) -> Int {
    switch value {
    case .array(let items): 1 + (items.map(depth).max() ?? 0)
    case .table(let table): 1 + (table.entries.values.map(depth).max() ?? 0)
    default: 0
    }
}

/// Equality with NaN equal to itself (`nan` is a TOML float).
func same(_ a: TOMLValue, _ b: TOMLValue) -> Bool {
    switch (a, b) {
    case (.float(let x), .float(let y)): return x == y || (x.isNaN && y.isNaN)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
    case (.table(let x), .table(let y)):
        return x.entries.count == y.entries.count
            && x.entries.allSatisfy { key, value in y.entries[key].map { same(value, $0) } ?? false }
    default: return a == b
    }
}

func write(_ table: TOMLTable) -> String {
    var out = ""
    for key in table.keys {
        out += quoted(key) + " = " + write(table.entries[key]!) + "\n"
    }
    return out
}

func write(_ value: TOMLValue) -> String {
    switch value {
    case .string(let text): return quoted(text)
    case .integer(let number): return String(number)
    case .float(let number):
        if number.isNaN { return "nan" }
        if number.isInfinite { return number < 0 ? "-inf" : "inf" }
        return number.description
    case .boolean(let flag): return flag ? "true" : "false"
    case .datetime(let text): return text
    case .array(let items): return "[" + items.map(write).joined(separator: ", ") + "]"
    case .table(let table):
        return "{" + table.keys.map { quoted($0) + " = " + write(table.entries[$0]!) }.joined(separator: ", ") + "}"
    }
}

/// A basic string: quote, backslash, control characters and DEL escaped, by scalar.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x22: out += "\\\""
        case 0x5C: out += "\\\\"
        case 0x00..<0x20, 0x7F:
            let hex = String(scalar.value, radix: 16, uppercase: true)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneFile(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzTOML {
    static func main() { replayFiles("FuzzTOML", fuzzOneFile) }
}
#endif

import OCI
import Testing

/// Headers the fuzzer (FuzzOCITar) found trapping the reader: sizes within a block of Int64.max
/// overflowed `remaining + padding` when the entry was skipped, and a pax record length near
/// Int64.max overflowed `index + length`. (Base-256 sizes above Int64.max - 256 were already refused.)
private func block(name: String, type: UInt8, size: [UInt8]) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: 512)
    for (index, byte) in name.utf8.enumerated() { header[index] = byte }
    for (offset, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (136, "00000000000")] {
        for (index, byte) in text.utf8.enumerated() { header[offset + index] = byte }
    }
    for (index, byte) in size.enumerated() { header[124 + index] = byte }
    header[156] = type
    for (index, byte) in "ustar\u{0}00".utf8.enumerated() { header[257 + index] = byte }
    for index in 148..<156 { header[index] = 0x20 }
    let sum = header.reduce(0) { $0 + Int($1) }
    for (index, byte) in String(sum, radix: 8).utf8.enumerated() { header[148 + index] = byte }
    header[154] = 0
    return header
}

private func octal(_ value: Int) -> [UInt8] { Array(String(value, radix: 8).utf8) }

/// GNU base-256: the high bit of the first byte set, the value big-endian in the rest.
private func base256(_ value: Int64) -> [UInt8] {
    [0x80, 0, 0, 0] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}

private func pax(_ records: [UInt8]) -> [UInt8] {
    block(name: "pax", type: UInt8(ascii: "x"), size: octal(records.count)) + records
        + [UInt8](repeating: 0, count: (512 - records.count % 512) % 512)
}

/// Every entry without reading its data, as indexing an oci-archive does.
private func skimAll(_ bytes: [UInt8]) throws(OCIError) -> Int {
    let reader = TarReader(MemorySource(bytes))
    var count = 0
    while try reader.next() != nil { count += 1 }
    return count
}

private let end = [UInt8](repeating: 0, count: 1024)

@Suite struct TarSizeTests {
    @Test(arguments: [Int64.max - 300, 1 << 62, 1 << 51])
    func aHeaderSizeBeyondAnyFileIsRefused(size: Int64) {
        let tar = block(name: "huge", type: UInt8(ascii: "0"), size: base256(size)) + end
        #expect { try skimAll(tar) } throws: { error in
            let error = error as! OCIError
            return error.code == .invalidTar && "\(error)".contains("claims \(size) bytes")
        }
    }

    @Test func aPaxSizeBeyondAnyFileIsRefused() {
        let tar = pax(Array("29 size=9223372036854775807\n".utf8)) + block(name: "a", type: UInt8(ascii: "0"), size: octal(1))
            + [UInt8](repeating: 0x78, count: 512) + end
        #expect { try skimAll(tar) } throws: { ($0 as! OCIError).code == .invalidTar }
    }

    @Test func aPaxRecordLongerThanItsHeaderIsRefused() {
        // The second record's length would overflow when added to its offset.
        let tar = pax(Array("10 a=bcde\n9223372036854775807 b=c\n".utf8)) + block(name: "a", type: UInt8(ascii: "0"), size: octal(0))
            + end
        #expect { try skimAll(tar) } throws: { error in
            let error = error as! OCIError
            return error.code == .invalidTar && "\(error)".contains("pax extended header record at offset 10")
        }
    }

    @Test func aLargeButPossibleSizeStillReads() throws {
        // 1 TiB claimed, stream truncated: the reader gets to the data and says it is short.
        let tar = block(name: "big", type: UInt8(ascii: "0"), size: base256(1 << 40)) + [1, 2, 3]
        let reader = TarReader(MemorySource(tar))
        let entry = try #require(try reader.next())
        #expect(entry.size == 1 << 40)
    }
}

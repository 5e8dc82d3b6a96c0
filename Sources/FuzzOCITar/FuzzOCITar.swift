// libFuzzer target for the tar reader that unpacks OCI layers (make fuzz).
// Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main instead.
import FuzzSupport
import OCI

/// One input is one uncompressed layer or oci-archive, read twice: skipping every entry's data, as
/// indexing an oci-archive does, then reading each regular file's data to its end, as unpacking
/// does. What the reader reports must fit in the bytes it was given, and every name goes through
/// `OCIPath` as unpacking does.
func fuzzOneLayer(_ bytes: [UInt8]) {
    let index = TarReader(MemorySource(bytes))
    var indexed = 0
    while let entry = try? index.next() {
        indexed += 1
        precondition(indexed * 512 <= bytes.count && entry.dataOffset <= Int64(bytes.count),
                     "an entry beyond the stream")
    }
    unpack(bytes)
}

func unpack(_ bytes: [UInt8]) {
    let reader = TarReader(MemorySource(bytes))
    var buffer = [UInt8](repeating: 0, count: 4096)
    var lastOffset: Int64 = -1
    var entries = 0
    while true {
        let entry: TarEntry
        do {
            guard let next = try reader.next() else { break }
            entry = next
        } catch {
            return
        }
        entries += 1
        precondition(entries * 512 <= bytes.count, "more entries than header blocks")
        precondition(entry.size >= 0 && entry.dataOffset > lastOffset && entry.dataOffset <= Int64(bytes.count),
                     "an entry's data lies outside the stream")
        lastOffset = entry.dataOffset
        var read: Int64 = 0
        guard entry.kind == .regular else {
            checkPath(entry.path)
            continue
        }
        do {
            while true {
                let got = try buffer.withUnsafeMutableBytes { try reader.readData(into: $0) }
                if got == 0 { break }
                read += Int64(got)
            }
        } catch {
            // Truncated inside the data: fewer bytes than the header claimed.
            precondition(entry.dataOffset + read == Int64(bytes.count), "a short read before the end of the stream")
            return
        }
        precondition(read == entry.size, "read \(read) bytes of an entry of \(entry.size)")
        precondition(reader.position <= Int64(bytes.count), "the reader went past the stream")
        checkPath(entry.path)
        if entry.kind == .hardLink { checkPath(entry.linkTarget) }
    }
}

/// A name the unpacker would use is relative, without "..", and split on every "/" byte.
func checkPath(_ text: String) {
    guard let path = try? OCIPath(text) else { return }
    for component in path.components {
        precondition(!component.isEmpty && component != "." && component != ".."
                     && !component.utf8.contains(UInt8(ascii: "/")) && !component.utf8.contains(0),
                     "OCIPath let through the component \(component.debugDescription)")
    }
    precondition(path.joined.utf8.first != UInt8(ascii: "/"), "OCIPath made an absolute path")
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneLayer(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzOCITar {
    static func main() { replayFiles("FuzzOCITar", fuzzOneLayer) }
}
#endif

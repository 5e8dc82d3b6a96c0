import CryptoEVP
import CZlib
import CZstd

#if canImport(Glibc)
import Glibc
#endif

/// A stream of bytes read front to back: a file, a slice of an archive, a decompressor.
public protocol ByteSource: AnyObject {
    /// Fills up to `buffer.count` bytes; 0 means the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int
    /// Drops the next `count` bytes (fewer only at the end).
    func skip(_ count: Int64) throws(OCIError)
}

extension ByteSource {
    public func skip(_ count: Int64) throws(OCIError) {
        var left = count
        var scratch = [UInt8](repeating: 0, count: 32 * 1024)
        while left > 0 {
            let want = Int(min(left, Int64(scratch.count)))
            let got = try scratch.withBytes { buffer throws(OCIError) in
                try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            }
            if got == 0 { return }
            left -= Int64(got)
        }
    }

    /// Reads everything that is left, refusing more than `limit` bytes.
    public func readAll(limit: Int, what: String) throws(OCIError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let got = try chunk.withBytes { buffer throws(OCIError) in try read(into: buffer) }
            if got == 0 { return out }
            out += chunk[0..<got]
            if out.count > limit {
                throw OCIError(.tooLarge, "\(what) is larger than \(limit) bytes")
            }
        }
    }

    /// Reads and discards everything that is left.
    public func drain() throws(OCIError) {
        var chunk = [UInt8](repeating: 0, count: 32 * 1024)
        while try chunk.withBytes({ buffer throws(OCIError) in try read(into: buffer) }) > 0 {}
    }
}

/// A file, or a byte range of one (a blob inside an oci-archive), read with pread so that several
/// ranges of one archive can be open at once.
public final class FileSource: ByteSource {
    private let fd: Int32
    private let ownsFD: Bool
    private var offset: Int64
    private let end: Int64?
    /// Whatever owns `fd` when this source does not, kept alive while the source is.
    private let owner: AnyObject?
    public let path: String

    /// Opens `path` for reading; `O_NOFOLLOW` is the caller's choice through `followSymlinks`.
    public convenience init(path: String, followSymlinks: Bool = true) throws(OCIError) {
        let flags = O_RDONLY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW)
        let opened = retryingEINTR { open(path, flags) }
        guard opened.result >= 0 else { throw .system(opened.errno, "open", path) }
        self.init(fd: opened.result, ownsFD: true, path: path, offset: 0, length: nil, owner: nil)
    }

    /// Reads `length` bytes from `offset` of an open descriptor it does not own (nil: to the end).
    public init(fd: Int32, ownsFD: Bool = false, path: String, offset: Int64, length: Int64?, owner: AnyObject? = nil) {
        self.fd = fd
        self.ownsFD = ownsFD
        self.owner = owner
        self.path = path
        self.offset = offset
        self.end = length.map { offset + $0 }
    }

    deinit { if ownsFD { close(fd) } }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        var want = buffer.count
        if let end { want = Int(min(Int64(want), max(0, end - offset))) }
        if want == 0 { return 0 }
        let got = retryingEINTR { pread(fd, buffer.baseAddress, want, off_t(offset)) }
        guard got.result >= 0 else { throw .system(got.errno, "read", path) }
        offset += Int64(got.result)
        return got.result
    }

    public func skip(_ count: Int64) throws(OCIError) {
        offset += end.map { min(count, max(0, $0 - offset)) } ?? count
    }
}

/// Bytes held in memory (tests, small documents).
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        let count = min(buffer.count, bytes.count - position)
        if count == 0 { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }
}

/// Passes bytes through while counting them and hashing them with SHA-256.
public final class HashingSource: ByteSource {
    private let inner: ByteSource
    private let hasher = StreamingDigest(.sha256)
    public private(set) var count: Int64 = 0

    public init(_ inner: ByteSource) { self.inner = inner }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        let got = try inner.read(into: buffer)
        if got > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            count += Int64(got)
        }
        return got
    }

    /// The digest of everything read so far (call once, at the end).
    public func finish() -> OCIDigest {
        OCIDigest(sha256: hasher.finish())
    }
}

/// A blob that checks its descriptor: it fails as soon as it grows past the declared size, and at
/// the end unless both size and SHA-256 digest match.
public final class VerifyingSource: ByteSource {
    private let hashing: HashingSource
    private let expected: OCIDescriptor
    private var verified = false

    public init(_ inner: ByteSource, expected: OCIDescriptor) {
        hashing = HashingSource(inner)
        self.expected = expected
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        let room = Int(min(Int64(buffer.count), expected.size - hashing.count + 1))
        let got = room > 0 ? try hashing.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<room])) : 0
        if hashing.count > expected.size {
            throw OCIError(.sizeMismatch, "blob \(expected.digest) is larger than the \(expected.size) bytes "
                               + "its descriptor declares; the image is corrupt or was tampered with")
        }
        if got == 0 && !verified {
            guard hashing.count == expected.size else {
                throw OCIError(.sizeMismatch, "blob \(expected.digest) has \(hashing.count) bytes where its "
                                   + "descriptor declares \(expected.size); the image is truncated or corrupt")
            }
            let actual = hashing.finish()
            guard actual == expected.digest else {
                throw OCIError(.digestMismatch, "blob \(expected.digest) hashes to \(actual); "
                                   + "the image is corrupt or was tampered with")
            }
            verified = true
        }
        return got
    }
}

/// gzip (RFC 1952) through zlib; concatenated members are read as one stream, like gunzip does.
public final class GzipSource: ByteSource {
    private let inner: ByteSource
    private var stream = z_stream()
    private var input = [UInt8](repeating: 0, count: 64 * 1024)
    private var inputStart = 0
    private var inputEnd = 0
    private var innerDone = false
    private var finished = false
    private var sawMember = false

    public init(_ inner: ByteSource) throws(OCIError) {
        self.inner = inner
        // 15 + 16: a gzip header is required (zlib's "auto" mode would also accept raw zlib).
        let rc = nanoedge_inflate_init2(&stream, 15 + 16)
        guard rc == Z_OK else { throw OCIError(.decompression, "zlib inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while !finished {
            if inputStart == inputEnd && !innerDone {
                let got = try input.withBytes { bytes throws(OCIError) in try inner.read(into: bytes) }
                inputStart = 0
                inputEnd = got
                if got == 0 { innerDone = true } else { sawMember = true }
            }
            if !sawMember { throw OCIError(.decompression, "gzip stream is empty") }
            let available = inputEnd - inputStart
            let (rc, produced, consumed) = input.withUnsafeMutableBytes { bytes -> (Int32, Int, Int) in
                stream.next_in = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + inputStart
                stream.avail_in = UInt32(available)
                stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
                let rc = inflate(&stream, Z_NO_FLUSH)
                return (rc, min(buffer.count, Int(UInt32.max)) - Int(stream.avail_out), available - Int(stream.avail_in))
            }
            inputStart += consumed
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                if produced > 0 { return produced }
                // No output although there was room: more input is needed, and there is none.
                if inputStart == inputEnd && innerDone {
                    throw OCIError(.decompression, "gzip stream ends early (truncated layer)")
                }
            case Z_STREAM_END:
                // Another member may follow (as gunzip reads them); otherwise this is the end.
                if inputStart == inputEnd && !innerDone {
                    let got = try input.withBytes { bytes throws(OCIError) in try inner.read(into: bytes) }
                    inputStart = 0
                    inputEnd = got
                    if got == 0 { innerDone = true }
                }
                if inputStart == inputEnd {
                    finished = true
                } else {
                    _ = inflateReset(&stream)
                }
                if produced > 0 { return produced }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw OCIError(.decompression, "gzip stream is corrupt: \(message)")
            }
        }
        return 0
    }
}

/// Zstandard frames through libzstd's streaming API.
public final class ZstdSource: ByteSource {
    private let inner: ByteSource
    private let stream: OpaquePointer
    private var input: [UInt8]
    private var inputStart = 0
    private var inputEnd = 0
    private var innerDone = false
    /// libzstd's hint: 0 once a frame is complete.
    private var frameOpen = false
    private var sawInput = false

    public init(_ inner: ByteSource) throws(OCIError) {
        self.inner = inner
        guard let stream = ZSTD_createDStream() else {
            throw OCIError(.decompression, "ZSTD_createDStream failed: out of memory")
        }
        self.stream = stream
        input = [UInt8](repeating: 0, count: ZSTD_DStreamInSize())
    }

    deinit { ZSTD_freeDStream(stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if inputStart == inputEnd && !innerDone {
                let got = try input.withBytes { bytes throws(OCIError) in try inner.read(into: bytes) }
                inputStart = 0
                inputEnd = got
                if got == 0 { innerDone = true } else { sawInput = true }
            }
            if !sawInput { throw OCIError(.decompression, "zstd stream is empty") }
            if inputStart == inputEnd && innerDone && !frameOpen { return 0 }
            let (hint, produced) = input.withUnsafeMutableBytes { bytes -> (Int, Int) in
                var inBuffer = ZSTD_inBuffer(src: bytes.baseAddress, size: inputEnd, pos: inputStart)
                var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let hint = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                inputStart = inBuffer.pos
                return (hint, outBuffer.pos)
            }
            if ZSTD_isError(hint) != 0 {
                throw OCIError(.decompression, "zstd stream is corrupt: \(String(cString: ZSTD_getErrorName(hint)))")
            }
            frameOpen = hint != 0
            if produced > 0 { return produced }
            if inputStart == inputEnd && innerDone && frameOpen {
                throw OCIError(.decompression, "zstd stream ends early (truncated layer)")
            }
        }
    }
}

import CCurl
import CryptoEVP
import DurableFile

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Tunables of a `Downloader`.
public struct DownloadOptions: Sendable, Hashable {
    /// Seconds to establish a connection.
    public var connectTimeoutSeconds = 15
    /// A transfer slower than 1 byte/s for this many seconds is abandoned (and resumed next attempt).
    public var stallSeconds = 30
    /// Attempts per call; later attempts resume where the previous one stopped.
    public var attempts = 3
    public var retryDelayMilliseconds = 300
    /// libcurl's receive buffer: the size of each write to the staging file.
    public var bufferSize = 256 * 1024
    public var userAgent = "nanoedge-agent"
    /// fsync the verified file before it gets its staged name.
    public var durable = true
    /// PEM file of the CAs to trust instead of the system's (a site's own update CA).
    public var caFile: String?
    /// libcurl's public key pin, `sha256//BASE64[;sha256//BASE64…]`: the server's key must be one of
    /// these, on top of the certificate check.
    public var pinnedPublicKey: String?

    public init() {}

    /// Sets the TLS trust on a handle; the strings are copied by libcurl.
    func applyTrust(to handle: UnsafeMutableRawPointer) {
        if let caFile { nanoedge_curl_set_string(handle, CURLOPT_CAINFO, caFile) }
        if let pinnedPublicKey { nanoedge_curl_set_string(handle, CURLOPT_PINNEDPUBLICKEY, pinnedPublicKey) }
    }
}

/// What a download must turn out to be: exactly `length` bytes with these digests.
public struct ExpectedContent: Sendable, Hashable {
    public var length: Int64
    public var hashes: [HashAlgorithm: [UInt8]]

    public init(length: Int64, hashes: [HashAlgorithm: [UInt8]]) {
        self.length = length
        self.hashes = hashes
    }
}

/// Streams HTTP(S) bodies with libcurl: small ones into memory, large ones into a staging file,
/// hashed as the bytes arrive and never past the expected length.
///
/// A download goes to `STAGING.part`, next to `STAGING.part.info`, which names the URL, length
/// and hashes it belongs to. A later call for the same content resumes with a Range request: it
/// re-hashes the bytes already on disk and continues. Only a file whose length and every hash
/// match is renamed to `STAGING`; it is never made executable (mode 0600).
///
/// Not thread-safe: one owner uses a `Downloader` (each call has its own curl handle).
public final class Downloader {
    public let options: DownloadOptions

    public init(options: DownloadOptions = .init()) {
        _ = curlGlobalInit
        self.options = options
    }

    // MARK: Small bodies

    /// The body at `url`, at most `maxLength` bytes (more is refused, not cut).
    public func fetch(_ url: String, maxLength: Int) throws(DownloadError) -> [UInt8] {
        var lastError = DownloadError(.usage, "no attempt made")
        for attempt in 1...max(1, options.attempts) {
            let transfer = Transfer(sink: .memory, offset: 0, limit: Int64(maxLength), digests: [])
            do {
                try perform(url, transfer)
                return transfer.memory
            } catch {
                lastError = error
                guard error.code == .network, attempt < options.attempts else { throw error }
                usleep(UInt32(options.retryDelayMilliseconds) * 1000)
            }
        }
        throw lastError
    }

    // MARK: Files

    /// Downloads `url` to `stagingPath`, verified against `expected`; resumes a partial download
    /// of the same content left by an earlier call (after a network drop or a reboot).
    public func download(_ url: String, to stagingPath: String, expected: ExpectedContent) throws(DownloadError) {
        guard !expected.hashes.isEmpty else { throw DownloadError(.usage, "a download needs at least one hash") }
        let part = stagingPath + ".part"
        let info = stagingPath + ".part.info"
        let identity = Array(identityText(url: url, expected: expected).utf8)
        do {
            try DurableFile.makeDirectories(DurableFile.parent(of: stagingPath), mode: 0o700)
        } catch {
            throw DownloadError(error.isDiskFull ? .diskFull : .io, error.description)
        }

        var resumed = false
        if (try? DurableFile.read(info, limit: 4096)) == identity, let size = fileSize(part), size <= expected.length {
            resumed = size > 0
        } else {
            unlink(part)
            do {
                try DurableFile.write(identity, to: info, mode: 0o600)
            } catch {
                throw DownloadError(error.isDiskFull ? .diskFull : .io, error.description)
            }
        }
        do {
            try fetchAndVerify(url, part: part, expected: expected)
        } catch where resumed && error.code == .mismatch {
            // The bytes kept from before may be what was wrong (a torn write at a power cut):
            // start once from zero before calling the content bad.
            try? DurableFile.write(identity, to: info, mode: 0o600)
            try fetchAndVerify(url, part: part, expected: expected)
        }
        if rename(part, stagingPath) != 0 {
            let failure = DurableFile.Failure(errno: errno, path: stagingPath, operation: "rename to")
            throw DownloadError(failure.isDiskFull ? .diskFull : .io, failure.description)
        }
        unlink(info)
        try? DurableFile.syncDirectory(DurableFile.parent(of: stagingPath))
    }

    /// Removes what a download to `stagingPath` left behind (partial file and its info).
    public static func discardPartial(stagingPath: String) {
        unlink(stagingPath + ".part")
        unlink(stagingPath + ".part.info")
    }

    private func fetchAndVerify(_ url: String, part: String, expected: ExpectedContent) throws(DownloadError) {
        let fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fileError(errno, "create", part) }
        defer { close(fd) }
        let digests = expected.hashes.keys.sorted { $0.rawValue < $1.rawValue }.map { StreamingDigest($0) }
        var offset = try rehash(fd, part, digests: digests, limit: expected.length)

        var attempt = 1
        while offset < expected.length {
            let transfer = Transfer(sink: .file(fd, part), offset: offset, limit: expected.length, digests: digests)
            do throws(DownloadError) {
                try perform(url, transfer, resumeFrom: offset)
                offset = transfer.offset + transfer.received
                if offset < expected.length {
                    throw DownloadError(.truncated, "\(url) ended after \(offset) of \(expected.length) bytes")
                }
            } catch {
                offset = transfer.offset + transfer.received
                switch error.code {
                case .http where error.httpStatus == 416 && attempt < options.attempts:
                    // The server cannot serve the kept prefix's continuation: start over.
                    guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw fileError(errno, "truncate", part) }
                    for digest in digests { digest.reset() }
                    offset = 0
                    attempt += 1
                    continue
                case .network where attempt < options.attempts, .truncated where attempt < options.attempts:
                    attempt += 1
                    usleep(UInt32(options.retryDelayMilliseconds) * 1000)
                    continue
                case .tooLarge, .mismatch:
                    unlink(part)
                    unlink(part + ".info")
                    throw error
                default:
                    throw error
                }
            }
        }
        for digest in digests {
            let observed = digest.finish()
            if observed != expected.hashes[digest.algorithm] {
                unlink(part)
                unlink(part + ".info")
                throw DownloadError(.mismatch, "\(url): \(digest.algorithm) is \(Hex.encode(observed)), the signed one is "
                    + Hex.encode(expected.hashes[digest.algorithm] ?? []))
            }
        }
        if options.durable && fsync(fd) != 0 { throw fileError(errno, "fsync", part) }
    }

    /// Feeds the bytes already in `fd` to `digests`; returns how many there are (the resume point).
    private func rehash(_ fd: Int32, _ path: String, digests: [StreamingDigest], limit: Int64) throws(DownloadError) -> Int64 {
        var total: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: options.bufferSize)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw fileError(errno, "read", path)
            }
            if count == 0 { break }
            total += Int64(count)
            if total > limit {
                // Longer than the target: not ours. Start over.
                guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw fileError(errno, "truncate", path) }
                for digest in digests { digest.reset() }
                return 0
            }
            chunk.withUnsafeBytes { buffer in
                for digest in digests { digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) }
            }
        }
        return total
    }

    // MARK: One transfer

    private func perform(_ url: String, _ transfer: Transfer, resumeFrom offset: Int64 = 0) throws(DownloadError) {
        guard let handle = curl_easy_init() else { throw DownloadError(.io, "libcurl could not allocate a handle") }
        defer { curl_easy_cleanup(handle) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }
        transfer.handle = handle

        let code: CURLcode = url.withCString { urlText in
            options.userAgent.withCString { agent in
                errorBuffer.withUnsafeMutableBufferPointer { errors in
                    nanoedge_curl_set_string(handle, CURLOPT_URL, urlText)
                    nanoedge_curl_set_string(handle, CURLOPT_USERAGENT, agent)
                    nanoedge_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
                    nanoedge_curl_set_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
                    options.applyTrust(to: handle)
                    nanoedge_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress)
                    nanoedge_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
                    nanoedge_curl_set_long(handle, CURLOPT_FAILONERROR, 1)
                    nanoedge_curl_set_long(handle, CURLOPT_FOLLOWLOCATION, 1)
                    nanoedge_curl_set_long(handle, CURLOPT_MAXREDIRS, 5)
                    nanoedge_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, options.connectTimeoutSeconds)
                    nanoedge_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
                    nanoedge_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, options.stallSeconds)
                    nanoedge_curl_set_long(handle, CURLOPT_BUFFERSIZE, options.bufferSize)
                    // Announced lengths beyond the limit fail before any byte is taken.
                    nanoedge_curl_set_offset(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(transfer.limit - offset))
                    nanoedge_curl_set_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback)
                    nanoedge_curl_set_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
                    nanoedge_curl_set_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback)
                    nanoedge_curl_set_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque())
                    if offset > 0 {
                        nanoedge_curl_set_offset(handle, CURLOPT_RESUME_FROM_LARGE, curl_off_t(offset))
                    }
                    return curl_easy_perform(handle)
                }
            }
        }
        if let failure = transfer.failure { throw failure }
        guard code != CURLE_OK else { return }
        let buffered = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let detail = buffered.isEmpty ? String(cString: curl_easy_strerror(code)) : buffered
        switch code {
        case CURLE_HTTP_RETURNED_ERROR:
            var status = 0
            nanoedge_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
            throw DownloadError(.http, "\(url): HTTP \(status)", httpStatus: status)
        case CURLE_FILESIZE_EXCEEDED:
            throw DownloadError(.tooLarge, "\(url) announces more than the allowed \(transfer.limit) bytes")
        case CURLE_PARTIAL_FILE:
            throw DownloadError(.truncated, "\(url) ended early: \(detail)")
        case CURLE_RANGE_ERROR:
            throw DownloadError(.truncated, "\(url) cannot resume at byte \(offset): \(detail)")
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            throw DownloadError(.usage, "\(url): \(detail)")
        default:
            throw DownloadError(.network, "\(url): \(detail)\(Self.trustHint(code))")
        }
    }

    /// A certificate or pin failure names what decides trust, so the fix is plain.
    static func trustHint(_ code: CURLcode) -> String {
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION:
            return " (the server's certificate is not trusted: it must chain to the configured CA file "
                + "and name the host in the URL)"
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return " (the server's public key is not the pinned one)"
        case CURLE_SSL_CACERT_BADFILE:
            return " (the CA file cannot be read as PEM certificates)"
        default:
            return ""
        }
    }

    private func identityText(url: String, expected: ExpectedContent) -> String {
        var text = "nanoedge-download 1\nurl \(url)\nlength \(expected.length)\n"
        for (algorithm, digest) in expected.hashes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            text += "\(algorithm.rawValue) \(Hex.encode(digest))\n"
        }
        return text
    }
}

private let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

func fileSize(_ path: String) -> Int64? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return Int64(info.st_size)
}

func fileError(_ code: Int32, _ operation: String, _ path: String) -> DownloadError {
    let failure = DurableFile.Failure(errno: code, path: path, operation: operation)
    return DownloadError(failure.isDiskFull ? .diskFull : .io, failure.description)
}

/// The state of one HTTP transfer, shared with libcurl's callbacks.
final class Transfer {
    enum Sink {
        case memory
        case file(Int32, String)
    }

    let sink: Sink
    /// Bytes already held before this response (the Range start).
    private(set) var offset: Int64
    /// Bytes taken from this response.
    private(set) var received: Int64 = 0
    let limit: Int64
    let digests: [StreamingDigest]
    var memory: [UInt8] = []
    var failure: DownloadError?
    var handle: UnsafeMutableRawPointer?
    private var statusChecked = false
    /// The start of the `Content-Range` of the current response.
    var contentRangeStart: Int64?

    init(sink: Sink, offset: Int64, limit: Int64, digests: [StreamingDigest]) {
        self.sink = sink
        self.offset = offset
        self.limit = limit
        self.digests = digests
    }

    /// Takes a piece of the body; returning less than `bytes.count` aborts the transfer.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        if !statusChecked {
            statusChecked = true
            guard acceptResponse() else { return 0 }
        }
        guard offset + received + Int64(bytes.count) <= limit else {
            failure = DownloadError(.tooLarge, "the server sent more than the signed \(limit) bytes")
            return 0
        }
        switch sink {
        case .memory:
            memory.append(contentsOf: bytes)
        case .file(let fd, let path):
            if let code = DurableFile.writeAll(fd, bytes) {
                failure = fileError(code, "write", path)
                return 0
            }
        }
        for digest in digests { digest.update(bytes) }
        received += Int64(bytes.count)
        return bytes.count
    }

    /// A resumed transfer must get 206 starting at `offset`; a 200 means the server ignored the
    /// Range, so the file starts again from zero.
    private func acceptResponse() -> Bool {
        guard offset > 0, case .file(let fd, let path) = sink else { return true }
        var status = 0
        nanoedge_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if status == 206 {
            guard contentRangeStart == offset else {
                failure = DownloadError(.network, "the server resumed at byte \(contentRangeStart ?? -1), not \(offset)")
                return false
            }
            return true
        }
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            failure = fileError(errno, "truncate", path)
            return false
        }
        for digest in digests { digest.reset() }
        offset = 0
        return true
    }

    /// Notes where a 206 response starts ("Content-Range: bytes START-END/TOTAL"), on bytes:
    /// header names are ASCII and case-insensitive.
    func header(_ line: UnsafeRawBufferPointer) {
        let bytes = Array(line)
        if bytes.starts(with: Array("HTTP/".utf8)) {
            contentRangeStart = nil
            return
        }
        let name = Array("content-range:".utf8)
        guard bytes.count > name.count,
              zip(bytes, name).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 })
        else { return }
        let value = bytes.dropFirst(name.count).drop(while: { $0 == 0x20 })
        let unit = Array("bytes ".utf8)
        guard value.starts(with: unit) else { return }
        let digits = value.dropFirst(unit.count).prefix(while: { $0 >= 0x30 && $0 <= 0x39 })
        contentRangeStart = Int64(String(decoding: digits, as: UTF8.self))
    }
}

private let writeCallback: nanoedge_curl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
}

private let headerCallback: nanoedge_curl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.header(UnsafeRawBufferPointer(start: data, count: size * count))
    return size * count
}

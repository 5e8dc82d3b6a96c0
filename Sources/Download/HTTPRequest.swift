import CCurl

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An HTTP answer read into memory: any status, with its body (an API's error text included).
public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

extension Downloader {
    /// One request with a small body (a device's JSON check-in), answered into memory up to
    /// `maxLength` bytes. Unlike `fetch`, an error status is an answer, not a thrown error, so the
    /// caller can show the server's message; only transport failures throw. Not retried: API
    /// calls are repeated by their caller's schedule.
    ///
    /// `uploadFile` streams a file as the body instead of `body`; `output` (an open descriptor and
    /// its path, for messages) takes the answer's body instead of memory.
    public func request(_ method: String, _ url: String, headers: [String] = [], body: [UInt8]? = nil,
                        uploadFile: String? = nil, output: (descriptor: Int32, path: String)? = nil,
                        maxLength: Int = 1 << 20) throws(DownloadError) -> HTTPResponse {
        guard let handle = curl_easy_init() else { throw DownloadError(.io, "libcurl could not allocate a handle") }
        defer { curl_easy_cleanup(handle) }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers { list = curl_slist_append(list, header) }
        // libcurl would otherwise wait for a "100 Continue" before a large upload.
        if uploadFile != nil { list = curl_slist_append(list, "Expect:") }
        defer { curl_slist_free_all(list) }
        var upload: UnsafeMutablePointer<FILE>?
        var uploadSize: Int64 = 0
        if let uploadFile {
            var info = stat()
            guard let file = fopen(uploadFile, "rb") else {
                throw DownloadError(.io, "cannot open \(uploadFile): \(String(cString: strerror(errno)))")
            }
            upload = file
            guard fstat(fileno(file), &info) == 0 else { throw DownloadError(.io, "cannot stat \(uploadFile)") }
            uploadSize = Int64(info.st_size)
        }
        defer { if let upload { fclose(upload) } }
        let sink: Transfer.Sink = output.map { .file($0.descriptor, $0.path) } ?? .memory
        let transfer = Transfer(sink: sink, offset: 0, limit: Int64(maxLength), digests: [])
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }
        transfer.handle = handle
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let payload = body ?? []
        let code: CURLcode = url.withCString { urlText in
            method.withCString { methodText in
                options.userAgent.withCString { agent in
                    errorBuffer.withUnsafeMutableBufferPointer { errors in
                        payload.withUnsafeBufferPointer { bytes in
                            nanoedge_curl_set_string(handle, CURLOPT_URL, urlText)
                            nanoedge_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, methodText)
                            nanoedge_curl_set_string(handle, CURLOPT_USERAGENT, agent)
                            nanoedge_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
                            options.applyTrust(to: handle)
                            nanoedge_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress)
                            nanoedge_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
                            nanoedge_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, options.connectTimeoutSeconds)
                            nanoedge_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
                            nanoedge_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, options.stallSeconds)
                            nanoedge_curl_set_offset(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maxLength))
                            nanoedge_curl_set_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
                            if let upload {
                                // libcurl's default read function freads from READDATA.
                                nanoedge_curl_set_long(handle, CURLOPT_UPLOAD, 1)
                                nanoedge_curl_set_pointer(handle, CURLOPT_READDATA, UnsafeMutableRawPointer(upload))
                                nanoedge_curl_set_offset(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(uploadSize))
                            } else if body != nil {
                                // The bytes stay alive for the whole (synchronous) perform.
                                nanoedge_curl_set_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                                nanoedge_curl_set_pointer(handle, CURLOPT_POSTFIELDS,
                                                          UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                            }
                            nanoedge_curl_set_callback(handle, CURLOPT_WRITEFUNCTION, memoryWriteCallback)
                            nanoedge_curl_set_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
                            return curl_easy_perform(handle)
                        }
                    }
                }
            }
        }
        if let failure = transfer.failure { throw failure }
        guard code == CURLE_OK else {
            let buffered = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) },
                                  as: UTF8.self)
            let detail = buffered.isEmpty ? String(cString: curl_easy_strerror(code)) : buffered
            if code == CURLE_FILESIZE_EXCEEDED {
                throw DownloadError(.tooLarge, "\(url) answers with more than \(maxLength) bytes")
            }
            if code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL {
                throw DownloadError(.usage, "\(url): \(detail)")
            }
            throw DownloadError(.network, "\(url): \(detail)\(Downloader.trustHint(code))")
        }
        var status = 0
        nanoedge_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: transfer.memory)
    }
}

private let memoryWriteCallback: nanoedge_curl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
}

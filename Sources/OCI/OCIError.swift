#if canImport(Glibc)
import Glibc
#endif

/// An error from reading an OCI image layout, a tar stream or a layer, or from unpacking a rootfs.
///
/// Codes grow over time: compare `code` with the static codes rather than switching exhaustively.
/// `description` says what is wrong and what to do about it.
public struct OCIError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case io = "I/O error"
            case diskFull = "disk full"
            case notFound = "not found"
            case invalidLayout = "invalid image layout"
            case invalidTar = "invalid tar stream"
            case digestMismatch = "digest mismatch"
            case sizeMismatch = "size mismatch"
            case unsupported = "unsupported"
            case unsafePath = "unsafe path"
            case decompression = "decompression failed"
            case tooLarge = "too large"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        public static let io = Code(.io)
        /// ENOSPC or EDQUOT while writing.
        public static let diskFull = Code(.diskFull)
        public static let notFound = Code(.notFound)
        /// oci-layout, index.json, a manifest or a config is missing or malformed.
        public static let invalidLayout = Code(.invalidLayout)
        public static let invalidTar = Code(.invalidTar)
        public static let digestMismatch = Code(.digestMismatch)
        public static let sizeMismatch = Code(.sizeMismatch)
        /// A media type, tar entry type or digest algorithm this implementation does not handle.
        public static let unsupported = Code(.unsupported)
        /// A layer entry that would write outside the rootfs (`..`, an absolute path, an escaping symlink).
        public static let unsafePath = Code(.unsafePath)
        public static let decompression = Code(.decompression)
        /// A header or document above the size this reader accepts.
        public static let tooLarge = Code(.tooLarge)
    }

    public let code: Code
    /// The errno behind the error, when a system call failed.
    public let errno: Int32?
    private let message: String

    public var description: String { message }

    public init(_ code: Code, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    /// A failed system call on `path`.
    public static func system(_ errno: Int32, _ operation: String, _ path: String) -> OCIError {
        let text = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        if errno == ENOSPC || errno == EDQUOT {
            return OCIError(.diskFull, errno: errno,
                            "\(operation) \(path) failed: \(text); free space on that file system and retry")
        }
        if errno == ENOENT {
            return OCIError(.notFound, errno: errno, "\(operation) \(path) failed: \(text)")
        }
        return OCIError(.io, errno: errno, "\(operation) \(path) failed: \(text)")
    }
}

/// Runs `call` until it does not fail with EINTR; errno is read at once.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> (result: T, errno: Int32) {
    while true {
        let result = call()
        if result != -1 { return (result, 0) }
        let code = errno
        if code != EINTR { return (result, code) }
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeMutableBytes` for a body with typed throws (the standard one rethrows `any Error`).
    mutating func withBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(OCIError) -> R) throws(OCIError) -> R {
        let result: Result<R, OCIError> = withUnsafeMutableBytes { buffer in
            Result { () throws(OCIError) -> R in try body(buffer) }
        }
        return try result.get()
    }
}

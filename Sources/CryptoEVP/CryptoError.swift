import COpenSSL

/// A key or signature operation that failed: what it was, why, and what to do.
///
/// Codes can grow, so compare `code` with the static codes rather than switching exhaustively.
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case invalidKey = "invalid key"
            case unsupported = "unsupported key"
            case passphrase = "wrong or missing passphrase"
            case io = "key file error"
            case failed = "crypto operation failed"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        /// The bytes are not a key of the expected kind (bad PEM, bad hex, wrong length).
        public static let invalidKey = Code(.invalidKey)
        /// A well-formed key of a type, curve or size we do not accept.
        public static let unsupported = Code(.unsupported)
        /// An encrypted private key and no passphrase, or the wrong one.
        public static let passphrase = Code(.passphrase)
        /// Reading or writing a key file failed.
        public static let io = Code(.io)
        /// OpenSSL failed where it should not (out of memory, a broken build).
        public static let failed = Code(.failed)
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// `message` plus OpenSSL's reason for the last failure, and the error queue cleared so the
    /// next operation does not report this one.
    static func openSSL(_ code: Code, _ message: String) -> CryptoError {
        var reason = ""
        let error = ERR_get_error()
        if error != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(error, &buffer, buffer.count)
            reason = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        ERR_clear_error()
        return CryptoError(code, reason.isEmpty ? message : "\(message) (\(reason))")
    }
}

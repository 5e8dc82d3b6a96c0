/// A CoAP message code (RFC 7252 §12.1): `c.dd`, where c is the class.
public struct CoAPCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ codeClass: UInt8, _ detail: UInt8) { rawValue = codeClass << 5 | detail }

    public var codeClass: UInt8 { rawValue >> 5 }
    public var detail: UInt8 { rawValue & 0x1F }
    public var isSuccess: Bool { codeClass == 2 }

    public var description: String {
        detail < 10 ? "\(codeClass).0\(detail)" : "\(codeClass).\(detail)"
    }

    public static let created = CoAPCode(2, 1)
    public static let deleted = CoAPCode(2, 2)
    public static let valid = CoAPCode(2, 3)
    public static let changed = CoAPCode(2, 4)
    public static let content = CoAPCode(2, 5)
    public static let badRequest = CoAPCode(4, 0)
    public static let unauthorized = CoAPCode(4, 1)
    public static let forbidden = CoAPCode(4, 3)
    public static let notFound = CoAPCode(4, 4)
    public static let methodNotAllowed = CoAPCode(4, 5)
    public static let notAcceptable = CoAPCode(4, 6)
    public static let requestEntityIncomplete = CoAPCode(4, 8)
    public static let conflict = CoAPCode(4, 9)
    public static let requestEntityTooLarge = CoAPCode(4, 13)
    public static let unsupportedContentFormat = CoAPCode(4, 15)
    public static let tooManyRequests = CoAPCode(4, 29)
    public static let internalServerError = CoAPCode(5, 0)
    public static let serviceUnavailable = CoAPCode(5, 3)
}

public enum CoAPMethod: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case get = 1, post = 2, put = 3, delete = 4

    public var description: String {
        switch self {
        case .get: "GET"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        }
    }
}

/// Content-Format numbers used here (RFC 7252 §12.3).
public enum ContentFormat {
    public static let textPlain: UInt16 = 0
    public static let linkFormat: UInt16 = 40
    public static let octetStream: UInt16 = 42
    public static let json: UInt16 = 50
}

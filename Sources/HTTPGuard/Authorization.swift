import Foundation
import Hummingbird

/// The secret an `Authorization` header carries: the token of `Bearer TOKEN`, or the password of
/// `Basic base64(USER:PASSWORD)`, so a browser's login prompt works too (any user name).
public func authorizationSecret(_ header: String?) -> String? {
    guard let header else { return nil }
    let parts = header.split(separator: " ", maxSplits: 1)
    guard parts.count == 2 else { return nil }
    let value = parts[1].trimmingCharacters(in: .whitespaces)
    switch parts[0].lowercased() {
    case "bearer":
        return value.isEmpty ? nil : value
    case "basic":
        guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        let password = String(text[text.index(after: colon)...])
        return password.isEmpty ? nil : password
    default:
        return nil
    }
}

/// Equal without an early exit, so response times do not reveal how much of a guess was right.
public func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let a = Array(a.utf8), b = Array(b.utf8)
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// Every route needs one shared token, as `Authorization: Bearer TOKEN` or as the password of HTTP
/// basic auth.
public struct TokenAuthentication<Context: RequestContext>: RouterMiddleware {
    let token: String
    let realm: String

    public init(token: String, realm: String) {
        self.token = token
        self.realm = realm
    }

    public func handle(_ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let secret = authorizationSecret(request.headers[.authorization]), constantTimeEqual(secret, token) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Basic realm=\"\(realm)\", charset=\"UTF-8\""
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .unauthorized, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(string:
                                "log in with the access token (HTTP basic auth, any user name, the token as password; "
                                + "or Authorization: Bearer TOKEN)\n")))
        }
        return try await next(request, context)
    }
}

/// Reads a token file (first line, spaces trimmed), or throws a message that says what to fix.
public func readTokenFile(_ path: String) throws -> String {
    let text: String
    do {
        text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        throw TokenFileError(description: "cannot read the token file \(path): \(error.localizedDescription)")
    }
    let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    guard token.utf8.count >= 16 else {
        throw TokenFileError(description: "the token in \(path) is shorter than 16 characters; "
                             + "write a long random one, e.g. openssl rand -hex 32 > \(path)")
    }
    return token
}

public struct TokenFileError: Error, CustomStringConvertible {
    public var description: String
}

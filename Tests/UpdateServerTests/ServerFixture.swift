import CryptoEVP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSON
import Synchronization
import TUF
import TUFRepository
import UpdateServer
import UpdateStore

/// A clock the test sets; starts at the real time so TUF expiry dates are sensible.
final class TestClock: Sendable {
    private let value = Atomic<Int64>(Int64(Date().timeIntervalSince1970 * 1000))
    var now: Int64 { value.load(ordering: .relaxed) }
    func advance(milliseconds: Int64) { value.add(milliseconds, ordering: .relaxed) }
    var function: @Sendable () -> Int64 { { [self] in self.now } }
}

/// An update server's data: a TUF repository made with real keys (root kept in memory, the online
/// keys in REPO/keys as `nanoedge keys init` writes them), the board profiles of this checkout,
/// and a store on the given backend.
final class ServerFixture: @unchecked Sendable {
    let directory: TemporaryDirectory
    let options: UpdateServerOptions
    let clock = TestClock()
    let rootKey: SigningKey
    static let adminToken = "nea_" + String(repeating: "ab", count: 32)

    static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
            url.deleteLastPathComponent()
        }
        return "."
    }

    init(_ backend: Backend, rootExpirySeconds: Int64 = 365 * 86_400, onlineKeys: Set<String> = ["targets", "snapshot", "timestamp"]) throws {
        directory = try TemporaryDirectory()
        let repository = directory.file("repository")
        let keys = repository + "/keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        rootKey = try SigningKey.generate(.ed25519)
        var roleKeys: [String: [PublicKey]] = ["root": [rootKey.publicKey]]
        var signers = [rootKey]
        for role in ["targets", "snapshot", "timestamp"] {
            let key = try SigningKey.generate(.ed25519)
            roleKeys[role] = [key.publicKey]
            signers.append(key)
            if onlineKeys.contains(role) {
                try key.write(toFile: "\(keys)/\(role).\(try TUFKey(key.publicKey).keyID.prefix(16)).pem")
            }
        }
        var expiry = TUFRepository.Expiry()
        expiry.root = rootExpirySeconds
        _ = try TUFRepository.create(directory: repository, roleKeys: roleKeys, thresholds: [:], signers: signers, expiry: expiry)
        options = UpdateServerOptions(dataDirectory: directory.path, httpHost: "127.0.0.1", httpPort: 0,
                                      database: try backend.location(in: directory), coapHost: "127.0.0.1", coapPort: nil,
                                      boardPaths: [Self.packageRoot + "/boards"])
        let store = try UpdateStore.open(options.databaseLocation)
        try store.addToken(name: "test", hash: Credentials.hash(Self.adminToken), at: 1)
    }

    var rootFile: String { options.repositoryDirectory + "/metadata/1.root.json" }

    func service() async throws -> UpdateService {
        try await makeUpdateService(options, clock: clock.function)
    }

    func application(_ service: UpdateService) -> some ApplicationProtocol {
        Application(router: buildRouter(service))
    }

    /// The admin listener: the fleet page and /metrics, with an admin token required when `requireToken`.
    func adminApplication(_ service: UpdateService, requireToken: Bool = false) -> some ApplicationProtocol {
        Application(router: buildAdminRouter(service, requireToken: requireToken))
    }

    /// Files left in the repository's targets and incoming directories.
    func storedFiles() -> [String] {
        let targets = (try? FileManager.default.contentsOfDirectory(atPath: options.repositoryDirectory + "/targets")) ?? []
        let incoming = (try? FileManager.default.contentsOfDirectory(atPath: options.repositoryDirectory + "/incoming")) ?? []
        return targets + incoming
    }
}

/// A minimal ELF header: enough for the server's architecture check.
func elfExecutable(machine: UInt16 = 183, is64Bit: Bool = true, size: Int = 4096, seed: UInt8 = 1) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: size)
    bytes[0...3] = [0x7F, 0x45, 0x4C, 0x46]
    bytes[4] = is64Bit ? 2 : 1
    bytes[5] = 1
    bytes[6] = 1
    bytes[16] = 3  // ET_DYN (PIE)
    bytes[18] = UInt8(machine & 0xFF)
    bytes[19] = UInt8(machine >> 8)
    for index in 64..<size { bytes[index] = UInt8(truncatingIfNeeded: index &* 31 &+ Int(seed)) }
    return bytes
}

extension TestClientProtocol {
    /// A JSON request with the admin token (or `token`).
    func api(_ uri: String, _ method: HTTPRequest.Method = .get, json: JSON? = nil,
             token: String? = ServerFixture.adminToken) async throws -> (HTTPResponse.Status, JSON?) {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        let body = json.map { ByteBuffer(string: $0.serialized()) }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { response in
            (response.status, try? JSON.parse(Array(response.body.readableBytesView)))
        }
    }

    /// Uploads `artifact` as a release; `declaredSHA256` and `declaredLength` override what is sent.
    func release(_ query: String, _ artifact: [UInt8], declaredSHA256: [UInt8]? = nil, declaredLength: Int? = nil,
                 token: String = ServerFixture.adminToken) async throws -> (HTTPResponse.Status, JSON?) {
        var headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/octet-stream"]
        let digest = declaredSHA256 ?? Digest.sha256(artifact)
        headers[HTTPField.Name("Content-Digest")!] = "sha-256=:\(Data(digest).base64EncodedString()):"
        if let declaredLength { headers[.contentLength] = String(declaredLength) }
        return try await execute(uri: "/api/v1/releases?" + query, method: .post, headers: headers,
                                 body: ByteBuffer(bytes: artifact)) { response in
            (response.status, try? JSON.parse(Array(response.body.readableBytesView)))
        }
    }
}

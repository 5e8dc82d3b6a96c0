import CryptoEVP
import Download
import Foundation
import Testing
import TUF
import TUFNetwork

private func expected(_ bytes: [UInt8]) -> ExpectedContent {
    ExpectedContent(length: Int64(bytes.count), hashes: [.sha256: Digest.sha256(bytes), .sha512: Digest.hash(.sha512, bytes)])
}

private func quickOptions(attempts: Int = 1) -> DownloadOptions {
    var options = DownloadOptions()
    options.attempts = attempts
    options.retryDelayMilliseconds = 10
    options.connectTimeoutSeconds = 5
    return options
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct DownloadTests {
    let directory: String
    let server: RepositoryServer
    let content: [UInt8]

    init() throws {
        directory = temporaryDirectory("download")
        try FileManager.default.createDirectory(atPath: directory + "/www", withIntermediateDirectories: true)
        content = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        try writeBytes(content, directory + "/www/blob.bin")
        server = try RepositoryServer(root: directory + "/www", scratch: directory)
    }

    @Test func streamsVerifiesAndNamesOnlyTheVerifiedFile() throws {
        defer { removeTree(directory) }
        let staged = directory + "/stage/blob"
        try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: expected(content))
        #expect(readBytes(staged) == content)
        #expect(!FileManager.default.fileExists(atPath: staged + ".part"))
        #expect(!FileManager.default.fileExists(atPath: staged + ".part.info"))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: staged)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
    }

    @Test func refusesBytesPastTheSignedLength() throws {
        defer { removeTree(directory) }
        let short = Array(content.prefix(1000))
        let staged = directory + "/stage/blob"
        do {
            try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: expected(short))
            Issue.record("a body longer than the signed length was accepted")
        } catch {
            #expect(error.code == .tooLarge)
        }
        #expect(!FileManager.default.fileExists(atPath: staged))
        #expect(!FileManager.default.fileExists(atPath: staged + ".part"))
        #expect(throws: DownloadError.self) { try Downloader(options: quickOptions()).fetch(server.base + "/blob.bin", maxLength: 4096) }
    }

    @Test func aWrongHashRemovesEverything() throws {
        defer { removeTree(directory) }
        var wrong = expected(content)
        wrong.hashes[.sha512] = Array(repeating: 0, count: 64)
        let staged = directory + "/stage/blob"
        do {
            try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: wrong)
            Issue.record("a wrong hash was accepted")
        } catch {
            #expect(error.code == .mismatch)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/stage").isEmpty)
    }

    @Test func resumesWithARangeRequestAfterATruncation() throws {
        defer { removeTree(directory) }
        let staged = directory + "/stage/blob"
        try server.setFaults(["/blob.bin": ["truncate_at": 1_000_000]])
        do {
            try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: expected(content))
            Issue.record("a truncated body was accepted")
        } catch {
            #expect(error.code == .truncated)
        }
        #expect(!FileManager.default.fileExists(atPath: staged))
        #expect(readBytes(staged + ".part")?.count == 1_000_000)

        // A later run (a new process after a reboot would do the same) asks for the rest only.
        try server.setFaults([:])
        try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: expected(content))
        #expect(readBytes(staged) == content)
        #expect(server.requests.last == "/blob.bin bytes=1000000-")
    }

    @Test func retriesWithinOneCallResumeToo() throws {
        defer { removeTree(directory) }
        // The fault applies to every response that reaches byte 2 MB: the first attempt stops
        // there, the second (a Range from 2 MB) gets the rest.
        try server.setFaults(["/blob.bin": ["truncate_at": 2 << 20]])
        let staged = directory + "/stage/blob"
        try Downloader(options: quickOptions(attempts: 2)).download(server.base + "/blob.bin", to: staged,
                                                                    expected: expected(content))
        #expect(readBytes(staged) == content)
        #expect(server.requests == ["/blob.bin -", "/blob.bin bytes=\(2 << 20)-"])
    }

    @Test func aDamagedPrefixIsRehashedAndReplaced() throws {
        defer { removeTree(directory) }
        let staged = directory + "/stage/blob"
        try server.setFaults(["/blob.bin": ["truncate_at": 500_000]])
        _ = try? Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: expected(content))
        var partial = try #require(readBytes(staged + ".part"))
        partial[10] ^= 0xFF
        try writeBytes(partial, staged + ".part")
        try server.setFaults([:])
        try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: staged, expected: expected(content))
        #expect(readBytes(staged) == content)
        // First the resume (which fails verification), then the whole file again.
        #expect(server.requests.suffix(2) == ["/blob.bin bytes=500000-", "/blob.bin -"])
    }

    @Test func anUnsatisfiableRangeStartsOver() throws {
        defer { removeTree(directory) }
        // The server's file is shorter than the signed one: the resume asks for bytes past its
        // end (416), so the download starts over, and then fails as truncated.
        let short = Array(content.prefix(1000))
        try writeBytes(short, directory + "/www/short.bin")
        let staged = directory + "/stage/short"
        do {
            try Downloader(options: quickOptions(attempts: 3)).download(server.base + "/short.bin", to: staged,
                                                                        expected: expected(short + [1, 2, 3]))
            Issue.record("a short body was accepted")
        } catch {
            #expect(error.code == .truncated)
        }
        #expect(server.requests == ["/short.bin -", "/short.bin bytes=1000-", "/short.bin -"])
        #expect(!FileManager.default.fileExists(atPath: staged))
    }

    @Test func httpErrorsAreNamed() throws {
        defer { removeTree(directory) }
        try server.setFaults(["/blob.bin": ["status": 500]])
        do {
            _ = try Downloader(options: quickOptions()).fetch(server.base + "/blob.bin", maxLength: 1 << 30)
            Issue.record("HTTP 500 was accepted")
        } catch {
            #expect(error.code == .http)
            #expect(error.httpStatus == 500)
        }
        do {
            _ = try CurlTransport(options: quickOptions()).fetch(server.base + "/missing.json", maxLength: 100)
            Issue.record("HTTP 404 was accepted")
        } catch {
            #expect(error.isNotFound)
        }
        do {
            _ = try Downloader(options: quickOptions()).fetch("http://127.0.0.1:1/x", maxLength: 100)
            Issue.record("a refused connection was accepted")
        } catch {
            #expect(error.code == .network)
        }
    }

    @Test(.enabled(if: getuid() == 0, "mounts a small tmpfs"))
    func aFullDiskIsReportedAsSuch() throws {
        defer { removeTree(directory) }
        let small = directory + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "cannot mount a tmpfs here")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [small]
            try? umount.run()
            umount.waitUntilExit()
        }
        do {
            try Downloader(options: quickOptions()).download(server.base + "/blob.bin", to: small + "/blob",
                                                             expected: expected(content))
            Issue.record("3 MB fitted into a 1 MB file system")
        } catch {
            #expect(error.code == .diskFull)
            #expect(error.message.contains("ENOSPC"))
        }
        #expect(!FileManager.default.fileExists(atPath: small + "/blob"))
    }
}

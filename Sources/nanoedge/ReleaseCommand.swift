import ArgumentParser
import CryptoEVP
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JSON

enum ReleaseKindArgument: String, ExpressibleByArgument, CaseIterable {
    case binary, oci
}

struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Publish signed releases on an update server and look at them.",
        discussion: """
            Talks to the update server's admin API (--server, --token-file or NANOEDGE_SERVER and \
            NANOEDGE_TOKEN). The server checks the artifact, stores it by its SHA-256 and signs new TUF \
            targets, snapshot and timestamp metadata.
            """,
        subcommands: [Add.self, List.self, Show.self, Download.self])
}

extension ReleaseCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Upload an artifact as a new release.",
            discussion: """
                A binary release is an ELF executable for the boards' architecture. An OCI release is an \
                oci-archive tar or an OCI image layout directory (packed into an oci-archive on the way). \
                The target name is NAME-VERSION unless --target-name is given. A version lower than one \
                already deployed is refused without --allow-downgrade, and a lower security counter always.
                """)

        @Option(help: "What the artifact is: binary or oci.")
        var kind: ReleaseKindArgument

        @Option(help: "The release version (SemVer, e.g. 1.4.2 or 1.5.0-rc.1).")
        var version: String

        @Option(name: .customLong("board"), help: ArgumentHelp("A board the release runs on; repeat for several.", valueName: "board"))
        var boards: [String] = []

        @Option(help: "The release name shared by its versions (default: the artifact's file name).")
        var name: String?

        @Option(help: "Devices refuse releases whose counter is below one they ran.")
        var securityCounter: Int64 = 0

        @Option(help: "The oldest version that may update to this one.")
        var minVersion: String?

        @Option(help: "Seconds the new release must stay healthy before the device commits it.")
        var healthWindow: Int64 = 120

        @Option(help: "Starts allowed within the health window before the device rolls back.")
        var healthAttempts: Int64 = 3

        @Option(help: "The TUF target name (default NAME-VERSION).")
        var targetName: String?

        @Flag(help: "Allow a version lower than what is deployed (never a lower security counter).")
        var allowDowngrade = false

        @Option(help: "OCI: the most file data a device unpacks from the image, in bytes (default 1 GiB).")
        var unpackMaxBytes: Int64?

        @Option(help: "OCI: the most entries (files, directories, links) a device unpacks (default 100000).")
        var unpackMaxEntries: Int64?

        @Flag(help: "OCI: keep the image's setuid and setgid bits (devices clear them by default).")
        var allowSetuid = false

        @Flag(help: "OCI: let an image whose USER is root run as root (containers run as nobody by default).")
        var allowRoot = false

        @Argument(help: "The artifact: an executable, an oci-archive tar or an OCI layout directory.")
        var artifact: String

        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func validate() throws {
            guard !boards.isEmpty else { throw ValidationError("give at least one --board") }
        }

        func run() throws {
            try reportingFailures {
                let client = try server.client()
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: artifact, isDirectory: &isDirectory) else {
                    throw CommandFailure("no such file: \(artifact)")
                }
                var upload = artifact
                var packed: String?
                if isDirectory.boolValue {
                    guard kind == .oci else { throw CommandFailure("\(artifact) is a directory; only an OCI layout (--kind oci) can be one") }
                    guard FileManager.default.fileExists(atPath: artifact + "/index.json") else {
                        throw CommandFailure("\(artifact) is not an OCI image layout (no index.json)")
                    }
                    let tar = NSTemporaryDirectory() + "nanoedge-oci-\(UUID().uuidString).tar"
                    try OCIArchivePacker.pack(directory: artifact, into: tar)
                    upload = tar
                    packed = tar
                }
                defer { if let packed { try? FileManager.default.removeItem(atPath: packed) } }
                let (digest, size) = try fileDigest(upload)
                let releaseName = name ?? Self.defaultName(artifact)
                var query = [("kind", kind.rawValue), ("name", releaseName), ("version", version),
                             ("security_counter", String(securityCounter)), ("health_window", String(healthWindow)),
                             ("health_attempts", String(healthAttempts))]
                query += boards.map { ("board", $0) }
                if let minVersion { query.append(("min_version", minVersion)) }
                if let targetName { query.append(("target_name", targetName)) }
                if allowDowngrade { query.append(("allow_downgrade", "true")) }
                if let unpackMaxBytes { query.append(("unpack_max_bytes", String(unpackMaxBytes))) }
                if let unpackMaxEntries { query.append(("unpack_max_entries", String(unpackMaxEntries))) }
                if allowSetuid { query.append(("allow_setuid", "true")) }
                if allowRoot { query.append(("allow_root", "true")) }
                var components = URLComponents()
                components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
                var request = client.request("/api/v1/releases?" + (components.percentEncodedQuery ?? ""), method: "POST")
                request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
                request.setValue(String(size), forHTTPHeaderField: "Content-Length")
                request.setValue("sha-256=:\(Data(digest).base64EncodedString()):", forHTTPHeaderField: "Content-Digest")
                request.timeoutInterval = 3600
                var bar = ProgressBar("upload")
                let (data, response) = try Transfer.run(request, upload: URL(fileURLWithPath: upload), download: false) { done, total in
                    bar.update(done, total)
                }
                bar.finish()
                let release = try ServerClient.decode(data, response)
                if json.enabled {
                    printJSON(release)
                } else {
                    print("released \(release["target"]?.stringValue ?? "?") (\(formatBytes(release["length"]?.intValue ?? 0)), "
                        + "sha256 \(release["sha256"]?.stringValue ?? "?"))")
                }
            }
        }

        static func defaultName(_ path: String) -> String {
            var name = URL(fileURLWithPath: path).lastPathComponent
            for suffix in [".oci.tar", ".tar"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
            return name
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the releases on the server.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let releases = try server.client().call("/api/v1/releases")
                if json.enabled { return printJSON(releases) }
                let rows = (releases.arrayValue ?? []).map { release -> [String] in
                    let custom = release["custom"]
                    return [release["target"]?.stringValue ?? "", custom?["kind"]?.stringValue ?? "",
                            custom?["version"]?.stringValue ?? "",
                            (custom?["boards"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ","),
                            String(custom?["security_counter"]?.intValue ?? 0), formatBytes(release["length"]?.intValue ?? 0)]
                }
                if rows.isEmpty { return print("no releases") }
                printTable([["TARGET", "KIND", "VERSION", "BOARDS", "COUNTER", "SIZE"]] + rows)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one release as JSON.")
        @Argument(help: "The target name.") var target: String
        @OptionGroup var server: ServerOptions

        func run() throws {
            try reportingFailures { printJSON(try server.client().call("/api/v1/releases/\(target)")) }
        }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "download", abstract: "Download a release's artifact from the server's targets.",
            discussion: "The file is checked against the SHA-256 the server lists for it.")
        @Argument(help: "The target name.") var target: String
        @Option(help: "Where to write it.") var out: String
        @OptionGroup var server: ServerOptions

        func run() throws {
            try reportingFailures {
                let client = try server.client()
                let release = try client.call("/api/v1/releases/\(target)")
                guard let sha = release["sha256"]?.stringValue else { throw CommandFailure("the server lists no hash for \(target)") }
                let partial = out + ".part"
                _ = FileManager.default.createFile(atPath: partial, contents: nil)
                guard let handle = FileHandle(forWritingAtPath: partial) else { throw CommandFailure("cannot write \(partial)") }
                var bar = ProgressBar("download")
                let request = client.request("/targets/\(sha).\(target)")
                let (data, response) = try Transfer.run(request, upload: nil, download: true, output: handle) { done, total in
                    bar.update(done, total)
                }
                bar.finish()
                try handle.close()
                guard (200..<300).contains(response.statusCode) else {
                    try? FileManager.default.removeItem(atPath: partial)
                    _ = try ServerClient.decode(data, response)
                    return
                }
                let (digest, size) = try fileDigest(partial)
                guard Hex.encode(digest) == sha else {
                    try? FileManager.default.removeItem(atPath: partial)
                    throw CommandFailure("the download's SHA-256 does not match \(sha); nothing was written")
                }
                try? FileManager.default.removeItem(atPath: out)
                try FileManager.default.moveItem(atPath: partial, toPath: out)
                print("wrote \(out) (\(formatBytes(size)), sha256 \(sha))")
            }
        }
    }
}

/// SHA-256 and size of a file, read in chunks.
func fileDigest(_ path: String) throws -> ([UInt8], Int64) {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandFailure("cannot read \(path)") }
    defer { try? handle.close() }
    let hasher = StreamingDigest(.sha256)
    var size: Int64 = 0
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        chunk.withUnsafeBytes { hasher.update($0) }
        size += Int64(chunk.count)
    }
    return (hasher.finish(), size)
}

/// Packs an OCI image layout directory into an oci-archive (a plain ustar tar of the directory),
/// streaming file by file, with fixed owners and times so the same layout packs to the same bytes.
enum OCIArchivePacker {
    static func pack(directory: String, into path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let out = FileHandle(forWritingAtPath: path) else { throw CommandFailure("cannot write \(path)") }
        defer { try? out.close() }
        let root = URL(fileURLWithPath: directory).standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw CommandFailure("cannot read \(directory)") }
        var entries: [String] = []
        while let entry = walker.nextObject() as? String { entries.append(entry) }
        for entry in entries.sorted() {
            let full = root + "/" + entry
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                out.write(Data(try header(name: entry + "/", size: 0, type: "5", mode: 0o755)))
                continue
            }
            let size = (try FileManager.default.attributesOfItem(atPath: full)[.size] as? NSNumber)?.int64Value ?? 0
            out.write(Data(try header(name: entry, size: size, type: "0", mode: 0o644)))
            guard let input = FileHandle(forReadingAtPath: full) else { throw CommandFailure("cannot read \(full)") }
            var written: Int64 = 0
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                out.write(chunk)
                written += Int64(chunk.count)
            }
            try input.close()
            guard written == size else { throw CommandFailure("\(full) changed while it was packed") }
            let padding = (512 - Int(size % 512)) % 512
            if padding > 0 { out.write(Data(count: padding)) }
        }
        out.write(Data(count: 1024))
    }

    /// A ustar header; long names go into the prefix field.
    static func header(name: String, size: Int64, type: Character, mode: Int) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        var base = name
        var prefix = ""
        if base.utf8.count > 100 {
            guard let slash = name.utf8.indices.filter({ name.utf8[$0] == UInt8(ascii: "/") })
                .last(where: { name.utf8.distance(from: name.utf8.startIndex, to: $0) <= 155 }) else {
                throw CommandFailure("path too long for an oci-archive: \(name)")
            }
            prefix = String(name[..<slash])
            base = String(name[name.index(after: slash)...])
            guard base.utf8.count <= 100 else { throw CommandFailure("path too long for an oci-archive: \(name)") }
        }
        func put(_ text: String, _ offset: Int) { for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte } }
        func octal(_ value: Int64, _ offset: Int, _ width: Int) {
            let text = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - text.count)) + text, offset)
        }
        put(base, 0)
        octal(Int64(mode), 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(0, 136, 12)
        put(String(type), 156)
        put("ustar", 257)
        put("00", 263)
        put(prefix, 345)
        for index in 148..<156 { block[index] = 0x20 }
        let sum = block.reduce(0) { $0 + Int64($1) }
        octal(sum, 148, 7)
        block[155] = 0x20
        return block
    }
}

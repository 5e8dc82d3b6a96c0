import DurableFile
import TUF
import TUFNetwork

#if canImport(Glibc)
import Glibc
#endif

// `nanoedge-agent tuf …`: the updater's TUF client as a command line (also a test harness).
// Exit codes (docs/tuf.md): 0 success, 1 verification refused, 2 usage, 3 network,
// 4 local storage, 5 target not listed.

enum TUFExit {
    static let verification: Int32 = 1
    static let usage: Int32 = 2
    static let network: Int32 = 3
    static let storage: Int32 = 4
    static let notFound: Int32 = 5
}

let tufUsage = """
    usage: nanoedge-agent tuf --metadata-dir DIR init ROOT_FILE
           nanoedge-agent tuf --metadata-url URL --metadata-dir DIR refresh
           nanoedge-agent tuf --metadata-url URL --metadata-dir DIR --target-name P [--target-name P2 …]
                              --target-dir TDIR --target-base-url TURL download

    init pins ROOT_FILE (signed by its own threshold) as DIR/root.json. refresh updates the trusted
    metadata in DIR. download refreshes, then fetches each target into TDIR, verified against its
    signed length and hashes (partial downloads wait in DIR/staging/ and resume on the next run).
    Exit status: 0 success, 1 verification refused, 2 usage, 3 network, 4 local storage,
    5 target not listed in the metadata.

    """

func tufFail(_ message: String, code: Int32) -> Never {
    var text = "nanoedge-agent tuf: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(code)
}

func tufFail(_ error: TUFError) -> Never {
    switch error.code {
    case .network: tufFail("network: \(error.message)", code: TUFExit.network)
    case .io: tufFail("local storage: \(error.message)", code: TUFExit.storage)
    case .usage: tufFail(error.message, code: TUFExit.usage)
    default: tufFail("verification failed (\(error.code)): \(error.message)", code: TUFExit.verification)
    }
}

func runTUF(_ arguments: [String]) -> Never {
    var metadataDirectory: String?
    var metadataURL: String?
    var targetNames: [String] = []
    var targetDirectory: String?
    var targetBaseURL: String?
    var words: [String] = []
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        func value() -> String {
            guard let value = rest.popFirst(), !value.isEmpty else { tufFail("\(argument) needs a value\n\(tufUsage)", code: TUFExit.usage) }
            return value
        }
        switch argument {
        case "--metadata-dir": metadataDirectory = value()
        case "--metadata-url": metadataURL = value()
        case "--target-name": targetNames.append(value())
        case "--target-dir": targetDirectory = value()
        case "--target-base-url": targetBaseURL = value()
        case "--help", "-h":
            print(tufUsage, terminator: "")
            exit(0)
        default:
            if argument.hasPrefix("--") { tufFail("unknown option '\(argument)'\n\(tufUsage)", code: TUFExit.usage) }
            words.append(argument)
        }
    }
    guard let metadataDirectory else { tufFail("missing --metadata-dir DIR\n\(tufUsage)", code: TUFExit.usage) }
    switch words.first {
    case "init":
        guard words.count == 2 else { tufFail("init takes one ROOT_FILE\n\(tufUsage)", code: TUFExit.usage) }
        tufInit(metadataDirectory: metadataDirectory, rootFile: words[1])
    case "refresh":
        guard words.count == 1, let metadataURL else {
            tufFail("refresh needs --metadata-url URL and no other words\n\(tufUsage)", code: TUFExit.usage)
        }
        let client = tufClient(metadataDirectory, metadataURL, persistence: .afterRefresh)
        tufRefresh(client)
        exit(0)
    case "download":
        guard words.count == 1, let metadataURL, let targetDirectory, let targetBaseURL, !targetNames.isEmpty else {
            tufFail("download needs --metadata-url, --target-name, --target-dir and --target-base-url\n\(tufUsage)",
                    code: TUFExit.usage)
        }
        // The metadata directory changes only if every target is downloaded and verified.
        let client = tufClient(metadataDirectory, metadataURL, persistence: .onCommit)
        tufRefresh(client)
        tufDownload(client, names: targetNames, metadataDirectory: metadataDirectory,
                    targetDirectory: targetDirectory, targetBaseURL: targetBaseURL)
    default:
        tufFail("expected init, refresh or download\n\(tufUsage)", code: TUFExit.usage)
    }
}

private func tufInit(metadataDirectory: String, rootFile: String) -> Never {
    let bytes: [UInt8]
    do {
        guard let read = try DurableFile.read(rootFile, limit: TUFClientConfig().rootMaxLength) else {
            tufFail("\(rootFile) does not exist", code: TUFExit.usage)
        }
        bytes = read
    } catch {
        tufFail("\(error)", code: TUFExit.usage)
    }
    do {
        try TUFClient.initialize(metadataDirectory: metadataDirectory, rootBytes: bytes)
    } catch {
        tufFail(error)
    }
    print("pinned \(rootFile) as \(metadataDirectory)/root.json")
    exit(0)
}

private func tufClient(_ metadataDirectory: String, _ metadataURL: String,
                       persistence: TUFClient.Persistence) -> TUFClient {
    do {
        return try TUFClient(metadataDirectory: metadataDirectory, metadataBaseURL: metadataURL,
                             transport: CurlTransport(), persistence: persistence)
    } catch {
        tufFail(error)
    }
}

private func tufRefresh(_ client: TUFClient) {
    do {
        try client.refresh()
    } catch {
        tufFail(error)
    }
    let trusted = client.trusted
    print("root v\(trusted.root.version), timestamp v\(trusted.timestamp?.version ?? 0), "
        + "snapshot v\(trusted.snapshot?.version ?? 0), targets v\(trusted.targets["targets"]?.version ?? 0)")
}

private func tufDownload(_ client: TUFClient, names: [String], metadataDirectory: String,
                         targetDirectory: String, targetBaseURL: String) -> Never {
    // Resolve every name first: nothing is downloaded unless all of them are listed.
    var targets: [TargetFile] = []
    for name in names {
        let found: TargetFile?
        do {
            found = try client.targetInfo(name)
        } catch {
            tufFail(error)
        }
        guard let found else { tufFail("no target named \(name) in the trusted metadata", code: TUFExit.notFound) }
        targets.append(found)
    }
    let staging = metadataDirectory + "/staging"
    do {
        try DurableFile.makeDirectories(targetDirectory)
        try DurableFile.makeDirectories(staging, mode: 0o700)
    } catch {
        tufFail("local storage: \(error)", code: TUFExit.storage)
    }
    for target in targets {
        let name = TUFClient.localName(for: target)
        // "/" is percent-encoded in local names; "." and ".." would still name directories.
        guard name != ".", name != ".." else {
            tufFail("verification failed: target name '\(target.path)' cannot be a file name", code: TUFExit.verification)
        }
        let destination = targetDirectory + "/" + name
        if target.matchesFile(at: destination) {
            print("\(target.path): up to date in \(destination)")
            continue
        }
        let staged = staging + "/" + name
        do {
            try client.download(target, targetBaseURL: targetBaseURL, to: staged)
        } catch {
            tufFail(error)
        }
        do {
            try publishVerified(staged, to: destination)
        } catch {
            unlink(staged)
            tufFail("local storage: \(error)", code: TUFExit.storage)
        }
        print("\(target.path): \(target.length) bytes verified → \(destination)")
    }
    do {
        try client.commit()
    } catch {
        tufFail(error)
    }
    exit(0)
}

/// Moves a verified staged file to its final name (mode 0644, never executable). Across file
/// systems it is copied to a temporary name in the target directory first, removed on failure.
private func publishVerified(_ staged: String, to destination: String) throws(DurableFile.Failure) {
    chmod(staged, 0o644)
    if rename(staged, destination) == 0 {
        try DurableFile.syncDirectory(DurableFile.parent(of: destination))
        return
    }
    guard errno == EXDEV else { throw DurableFile.Failure(errno: errno, path: destination, operation: "rename to") }
    let fd = open(staged, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw DurableFile.Failure(errno: errno, path: staged, operation: "open") }
    defer { close(fd) }
    let temporary = DurableFile.parent(of: destination) + "/." + DurableFile.basename(of: destination) + ".tmp"
    let out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard out >= 0 else { throw DurableFile.Failure(errno: errno, path: temporary, operation: "create") }
    var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 {
            if count < 0 || fsync(out) != 0 {
                let code = errno
                close(out)
                unlink(temporary)
                throw DurableFile.Failure(errno: code, path: temporary, operation: "write")
            }
            break
        }
        if let code = chunk.withUnsafeBytes({ DurableFile.writeAll(out, UnsafeRawBufferPointer(rebasing: $0[0..<count])) }) {
            close(out)
            unlink(temporary)
            throw DurableFile.Failure(errno: code, path: temporary, operation: "write")
        }
    }
    close(out)
    guard rename(temporary, destination) == 0 else {
        let code = errno
        unlink(temporary)
        throw DurableFile.Failure(errno: code, path: destination, operation: "rename to")
    }
    unlink(staged)
    try DurableFile.syncDirectory(DurableFile.parent(of: destination))
}

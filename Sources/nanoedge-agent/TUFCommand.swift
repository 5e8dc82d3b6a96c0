import DurableFile
import TUF
import TUFNetwork

#if canImport(Glibc)
import Glibc
#endif

// `nanoedge-agent tuf …`: the updater's TUF client as a command line, following the TUF client CLI
// protocol implementations share (tuf-conformance's CLIENT-CLI.md): exit 0 on complete success,
// 1 on any failure, its kind first on stderr; 2 only for a command line that cannot be parsed.

let tufUsage = """
    usage: nanoedge-agent tuf --metadata-dir DIR init ROOT_FILE
           nanoedge-agent tuf --metadata-url URL --metadata-dir DIR refresh
           nanoedge-agent tuf --metadata-url URL --metadata-dir DIR --target-name P [--target-name P2 …]
                              --target-dir TDIR --target-base-url TURL download

    init pins ROOT_FILE (signed by its own threshold) as DIR/root.json. refresh updates the trusted
    metadata in DIR, writing each file as soon as it is verified. download refreshes, then takes
    each target in order, stopping at the first failure: one already in TDIR with the signed
    length and hashes is kept; others are fetched, verified and moved into TDIR (a partial
    download waits in TDIR as a hidden .NAME%partial.part and resumes on the next run).
    Exit status: 0 complete success, 1 any failure (stderr starts with its kind: verification,
    network, storage or unknown target), 2 a command line that cannot be parsed.

    """

/// Why a command failed; the word starts the message on stderr.
enum TUFFailure: String {
    case verification
    case network
    case storage
    case unknownTarget = "unknown target"
}

func tufUsageError(_ message: String) -> Never {
    var text = "nanoedge-agent tuf: usage: \(message)\n\(tufUsage)"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(64)
}

func tufFail(_ kind: TUFFailure, _ message: String) -> Never {
    var text = "nanoedge-agent tuf: \(kind.rawValue): \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func tufFail(_ error: TUFError) -> Never {
    switch error.code {
    case .network: tufFail(.network, error.message)
    // Local state the command cannot use: no pinned root, another root pinned, a file unreadable.
    case .io, .usage: tufFail(.storage, error.message)
    default: tufFail(.verification, "\(error.code): \(error.message)")
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
            guard let value = rest.popFirst(), !value.isEmpty else { tufUsageError("\(argument) needs a value") }
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
            if argument.hasPrefix("--") { tufUsageError("unknown option '\(argument)'") }
            words.append(argument)
        }
    }
    guard let metadataDirectory else { tufUsageError("missing --metadata-dir DIR") }
    switch words.first {
    case "init":
        guard words.count == 2 else { tufUsageError("init takes one ROOT_FILE") }
        tufInit(metadataDirectory: metadataDirectory, rootFile: words[1])
    case "refresh":
        guard words.count == 1, let metadataURL else {
            tufUsageError("refresh needs --metadata-url URL and no other words")
        }
        let client = tufClient(metadataDirectory, metadataURL)
        tufRefresh(client)
        exit(0)
    case "download":
        guard words.count == 1, let metadataURL, let targetDirectory, let targetBaseURL, !targetNames.isEmpty else {
            tufUsageError("download needs --metadata-url, --target-name, --target-dir and --target-base-url")
        }
        let client = tufClient(metadataDirectory, metadataURL)
        tufRefresh(client)
        tufDownload(client, names: targetNames, targetDirectory: targetDirectory, targetBaseURL: targetBaseURL)
    default:
        tufUsageError("expected init, refresh or download")
    }
}

private func tufInit(metadataDirectory: String, rootFile: String) -> Never {
    let bytes: [UInt8]
    do {
        guard let read = try DurableFile.read(rootFile, limit: TUFClientConfig().rootMaxLength) else {
            tufFail(.storage, "\(rootFile) does not exist")
        }
        bytes = read
    } catch {
        tufFail(.storage, "\(error)")
    }
    do {
        try TUFClient.initialize(metadataDirectory: metadataDirectory, rootBytes: bytes)
    } catch {
        tufFail(error)
    }
    print("pinned \(rootFile) as \(metadataDirectory)/root.json")
    exit(0)
}

private func tufClient(_ metadataDirectory: String, _ metadataURL: String) -> TUFClient {
    do {
        return try TUFClient(metadataDirectory: metadataDirectory, metadataBaseURL: metadataURL,
                             transport: CurlTransport())
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

private func tufDownload(_ client: TUFClient, names: [String], targetDirectory: String,
                         targetBaseURL: String) -> Never {
    do {
        try DurableFile.makeDirectories(targetDirectory)
    } catch {
        tufFail(.storage, "\(error)")
    }
    // In order, each name resolved just before its download, as python-tuf's updater does.
    for name in names {
        let found: TargetFile?
        do {
            found = try client.targetInfo(name)
        } catch {
            tufFail(error)
        }
        guard let target = found else { tufFail(.unknownTarget, "no target named \(name) in the trusted metadata") }
        let local = TUFClient.localName(for: target)
        // "/" is percent-encoded in local names; "." and ".." would still name directories.
        guard local != ".", local != ".." else {
            tufFail(.storage, "target path '\(target.path)' cannot be a file name in \(targetDirectory)")
        }
        let destination = targetDirectory + "/" + local
        if target.matchesFile(at: destination) {
            print("\(target.path): up to date in \(destination)")
            continue
        }
        // Partial downloads wait in TDIR under a name no target gets (local names never hold "%p"),
        // so the metadata directory holds only metadata.
        let staged = targetDirectory + "/." + local + "%partial"
        do {
            try client.download(target, targetBaseURL: targetBaseURL, to: staged)
        } catch {
            tufFail(error)
        }
        do {
            try publishVerified(staged, to: destination)
        } catch {
            unlink(staged)
            tufFail(.storage, "\(error)")
        }
        print("\(target.path): \(target.length) bytes verified → \(destination)")
    }
    exit(0)
}

/// Gives a verified staged file (in the same directory) its final name, mode 0644: never executable.
private func publishVerified(_ staged: String, to destination: String) throws(DurableFile.Failure) {
    chmod(staged, 0o644)
    guard rename(staged, destination) == 0 else {
        throw DurableFile.Failure(errno: errno, path: destination, operation: "rename to")
    }
    try DurableFile.syncDirectory(DurableFile.parent(of: destination))
}

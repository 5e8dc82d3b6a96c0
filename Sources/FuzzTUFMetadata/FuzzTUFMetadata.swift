// libFuzzer target for TUF metadata: parsing every role, and the client's verification steps from a
// fixed trusted root (make fuzz). Built with -sanitize=fuzzer,address and -DFUZZING; a normal build
// gets a stub main instead.
import FuzzSupport
import JSON
import TUF

/// The client's clock: the seeds expire in 2099, so they verify; a mutated expiry may not.
let referenceTime = TUFTime(secondsSinceEpoch: 1_893_456_000)  // 2030-01-01

/// One input is one or more metadata files separated by NUL bytes (which JSON text never holds).
/// Each file parses as its role; then each goes, by its `_type`, to the trusted set's update
/// step, in the order given. Mutations of the seeds keep their signatures where they touch only the
/// envelope, so the steps past signature checking are reached too.
func fuzzOneMetadata(_ bytes: [UInt8]) {
    let files = bytes.split(separator: 0, omittingEmptySubsequences: false).prefix(6).map(Array.init)
    // Each file parses as the role it names (a file naming none, as root: the parser must refuse it).
    let types = files.map { file -> String? in
        let type = declaredType(file)
        let parsed = switch type {
        case "timestamp": checkRoundTrip(file, as: Timestamp.self)
        case "snapshot": checkRoundTrip(file, as: Snapshot.self)
        case "targets": checkRoundTrip(file, as: Targets.self)
        default: checkRoundTrip(file, as: Root.self)
        }
        return parsed ? type : nil
    }
    // Loading the trusted root costs a signature check: only for inputs with a file that parsed
    // (the update steps refuse the others before any signature).
    guard types.contains(where: { $0 != nil }) else { return }
    guard let trusted = try? TrustedMetadataSet(rootBytes: trustedRoot, referenceTime: referenceTime) else {
        preconditionFailure("the trusted root no longer loads")
    }
    for (file, type) in zip(files, types) {
        switch type {
        case "root":
            let before = trusted.root.version
            if let root = try? trusted.updateRoot(file) {
                precondition(root.version == before + 1 && trusted.root == root, "root rotation skipped a version")
            } else {
                precondition(trusted.root.version == before, "a refused root changed the trusted root")
            }
        case "timestamp":
            let before = trusted.timestamp
            if let timestamp = try? trusted.updateTimestamp(file) {
                precondition(trusted.timestamp == timestamp && !timestamp.common.isExpired(at: referenceTime),
                             "an expired timestamp was trusted")
                if let before {
                    precondition(timestamp.version > before.version
                                 && timestamp.snapshotMeta.version >= before.snapshotMeta.version,
                                 "a timestamp rolled back")
                }
            }
        case "snapshot":
            if let snapshot = try? trusted.updateSnapshot(file) {
                precondition(snapshot.version == trusted.timestamp?.snapshotMeta.version,
                             "a snapshot other than the timestamp's was trusted")
                precondition(!snapshot.common.isExpired(at: referenceTime), "an expired snapshot was trusted")
            }
        case "targets":
            if let targets = try? trusted.updateTargets(file) {
                precondition(targets.version == trusted.snapshot?.meta["targets.json"]?.version,
                             "targets other than the snapshot's were trusted")
                precondition(trusted.contains(role: "targets", delegator: "root"))
                for (path, target) in targets.targets.sorted(by: { $0.key < $1.key }) {
                    precondition(path == target.path, "a target's path is not its key")
                    _ = try? target.release()
                    _ = targets.delegations?.roles(for: path)
                }
            }
        default:
            continue
        }
    }
}

/// The string after the first `"_type":`, found without parsing: a parse per file would halve the
/// executions per second, and the role parsers check the real `_type` themselves.
func declaredType(_ file: [UInt8]) -> String? {
    let key = Array(#""_type""#.utf8)
    guard file.count > key.count,
          var index = (0...(file.count - key.count)).first(where: { file[$0..<$0 + key.count].elementsEqual(key) })
    else { return nil }
    index += key.count
    while index < file.count, [0x20, 0x0A, 0x0D, 0x09, UInt8(ascii: ":")].contains(file[index]) { index += 1 }
    guard index < file.count, file[index] == UInt8(ascii: "\"") else { return nil }
    let start = index + 1
    guard let end = file[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
    return String(decoding: file[start..<end], as: UTF8.self)
}

/// Whatever parses as `Role` writes out bytes that parse to the same value, over the same signed
/// bytes (signatures cover those, so they must survive a rewrite).
@discardableResult
func checkRoundTrip<Role: SignedRole & Equatable>(_ file: [UInt8], as role: Role.Type) -> Bool {
    guard let metadata = try? Metadata<Role>(bytes: file) else { return false }
    guard let signed = try? metadata.signedBytes() else {
        preconditionFailure("\(Role.type) parsed without a canonical form")
    }
    let written = metadata.bytes()
    let again: Metadata<Role>
    do {
        again = try Metadata<Role>(bytes: written)
    } catch {
        preconditionFailure("\(Role.type) metadata written back does not parse: \(error)")
    }
    precondition(again.signed == metadata.signed, "\(Role.type) changed in a round trip")
    precondition(again.signatures == metadata.signatures, "\(Role.type) signatures changed in a round trip")
    precondition((try? again.signedBytes()) == signed, "\(Role.type) signed bytes changed in a round trip")
    precondition((try? metadata.signed.json.canonicalBytes()) == signed,
                 "\(Role.type) model does not rebuild the signed bytes")
    _ = metadata.signed.common.expires.description
    return true
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneMetadata(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzTUFMetadata {
    static func main() { replayFiles("FuzzTUFMetadata", fuzzOneMetadata) }
}
#endif

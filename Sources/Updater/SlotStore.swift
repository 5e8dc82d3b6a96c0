import CryptoEVP
import DurableFile
import JSON
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// The updater's files under its state directory (default /var/lib/nanoedge):
///
///     slots/a/, slots/b/        one release each: the binary (or bundle/ for an image) + release.json
///     current -> slots/a        what runs; replaced with rename(2), then the directory is fsync'd
///     updater/state.json        the lifecycle (see UpdaterStateFile), replaced atomically
///     updater/lock              flock'd while an updater works on this directory
///
/// Every write goes through `faults.step` boundaries so the power-cut tests can stop it anywhere.
final class SlotStore {
    let root: String
    let calls: FileSystemCalls
    let faults: FaultInjector
    private var lockFD: Int32 = -1

    var updaterDirectory: String { root + "/updater" }
    var statePath: String { updaterDirectory + "/state.json" }
    var currentLink: String { root + "/current" }
    func slotPath(_ slot: Slot) -> String { root + "/slots/" + slot.rawValue }

    init(root: String, calls: FileSystemCalls, faults: FaultInjector) {
        self.root = root
        self.calls = calls
        self.faults = faults
    }

    deinit { if lockFD >= 0 { close(lockFD) } }

    /// Creates the directories and takes the lock.
    func open() throws(UpdateError) {
        for directory in [updaterDirectory, root + "/slots/a", root + "/slots/b"] {
            if let failure = DurableFile.makeDurableDirectories(directory, mode: 0o755) {
                throw .system(failure.errno, "create directory", failure.path, consequence: "the updater cannot run")
            }
        }
        let fd = Glibc.open(updaterDirectory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .system(errno, "open", updaterDirectory + "/lock", consequence: "the updater cannot run")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw UpdateError(.locked, "another updater is working on \(root); wait for it to finish")
        }
        lockFD = fd
        _ = calls.unlink(statePath + ".tmp")
        _ = calls.unlink(currentLink + ".new")
    }

    // MARK: State

    func load() throws(UpdateError) -> UpdateLifecycle {
        let fd = calls.open(statePath, O_RDONLY | O_CLOEXEC, 0)
        if fd < 0 {
            if errno == ENOENT { return UpdateLifecycle() }
            throw .system(errno, "open", statePath, consequence: "the updater cannot run")
        }
        defer { _ = calls.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let got = chunk.withUnsafeMutableBytes { buffer in DurableFile.retrying { calls.read(fd, buffer) } }
            guard got.result >= 0 else { throw .system(got.errno, "read", statePath, consequence: "the updater cannot run") }
            if got.result == 0 { break }
            bytes += chunk[0..<got.result]
        }
        return try UpdaterStateFile.decode(bytes, path: statePath)
    }

    func persist(_ lifecycle: UpdateLifecycle, context: String) throws(UpdateError) {
        let dir = Glibc.open(updaterDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw .system(errno, "open", updaterDirectory, consequence: "the state was not saved") }
        defer { close(dir) }
        let failure = DurableFile.replace(calls: calls, directoryFD: dir, path: statePath,
                                          UpdaterStateFile.encode(lifecycle), mode: 0o644) { step in
            self.faults.step("\(context).state.\(step)")
        }
        if let failure {
            throw .system(failure.errno, failure.operation, failure.path,
                          consequence: failure.replaced ? "the new state may not survive a power cut"
                              : "the state was not changed")
        }
        faults.step("\(context).state.done")
    }

    // MARK: current

    func currentSlot() -> Slot? {
        var bytes = [CChar](repeating: 0, count: 256)
        let count = readlink(currentLink, &bytes, bytes.count - 1)
        guard count > 0 else { return nil }
        let target = String(decoding: bytes[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Slot.allCases.first { target == "slots/" + $0.rawValue }
    }

    /// Points `current` at the slot with a new link renamed over the old one (atomic), then syncs
    /// the directory so the switch survives a power cut.
    func switchCurrent(to slot: Slot?, context: String) throws(UpdateError) {
        guard currentSlot() != slot || (slot == nil && isLink(currentLink)) else { return }
        let temporary = currentLink + ".new"
        faults.step("\(context).current.begin")
        if let slot {
            _ = unlink(temporary)
            guard symlink("slots/" + slot.rawValue, temporary) == 0 else {
                throw .system(errno, "create link", temporary, consequence: "current still points at the old slot")
            }
            faults.step("\(context).current.link")
            guard calls.rename(temporary, currentLink) == 0 else {
                let code = errno
                _ = unlink(temporary)
                throw .system(code, "rename over", currentLink, consequence: "current still points at the old slot")
            }
        } else {
            guard unlink(currentLink) == 0 || errno == ENOENT else {
                throw .system(errno, "remove", currentLink, consequence: "current still points at the old slot")
            }
        }
        faults.step("\(context).current.rename")
        do {
            try DurableFile.syncDirectory(root)
        } catch {
            throw .system(error.errno, "fsync", root, consequence: "the switch may not survive a power cut")
        }
        faults.step("\(context).current.done")
    }

    private func isLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    // MARK: Slots

    func clear(_ slot: Slot, context: String) throws(UpdateError) {
        faults.step("\(context).clear.\(slot).begin")
        do {
            try FileTree.removeContents(of: slotPath(slot))
        } catch {
            throw UpdateError(.io, errno: error.errno, "clearing slot \(slot): \(error)")
        }
        do {
            try DurableFile.syncDirectory(slotPath(slot))
        } catch {
            throw .system(error.errno, "fsync", slotPath(slot),
                          consequence: "the slot may still show old files after a power cut")
        }
        faults.step("\(context).clear.\(slot).done")
    }

    /// Copies a verified staged file into the (empty) slot, checking length and sha256 again as it
    /// goes, then makes it durable: `<file>.part` → fsync → rename → release.json → fsync of the slot.
    func stageBinary(_ target: TargetDescription, from source: String, into slot: Slot) throws(UpdateError) {
        let directory = slotPath(slot)
        let input = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .system(errno, "open", source, consequence: "nothing was staged") }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0 else { throw .system(errno, "stat", source, consequence: "nothing was staged") }
        guard Int64(info.st_size) == target.length else {
            throw UpdateError(.verification, "\(source) has \(info.st_size) bytes but target \(target.name) is signed "
                                  + "with \(target.length); download it again")
        }
        let part = directory + "/" + target.fileName + ".part"
        let output = calls.open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o700)
        guard output >= 0 else { throw .system(errno, "create", part, consequence: "the slot was left clean") }
        var closed = false
        defer { if !closed { _ = calls.close(output) } }
        faults.step("stage.copy.begin")
        let hasher = StreamingDigest(.sha256)
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let got = buffer.withUnsafeMutableBytes { bytes in DurableFile.retrying { read(input, bytes.baseAddress, bytes.count) } }
            guard got.result >= 0 else { throw .system(got.errno, "read", source, consequence: "the slot was left clean") }
            if got.result == 0 { break }
            total += Int64(got.result)
            let failure = buffer.withUnsafeBytes { bytes -> Int32? in
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<got.result])
                hasher.update(chunk)
                let allowed = faults.allowance(got.result)
                if allowed < got.result {
                    _ = DurableFile.writeAll(calls: calls, output, UnsafeRawBufferPointer(rebasing: chunk[0..<allowed]))
                    faults.bytesWritten(got.result)
                }
                return DurableFile.writeAll(calls: calls, output, chunk)
            }
            if let failure { throw .system(failure, "write", part, consequence: "the slot was left clean") }
            faults.bytesWritten(got.result)
        }
        let digest = Hex.encode(hasher.finish())
        guard total == target.length, digest == target.sha256 else {
            throw UpdateError(.verification, "\(source) does not match target \(target.name): sha256 \(digest), "
                                  + "signed \(target.sha256); download it again")
        }
        faults.step("stage.copy.written")
        if let failure = DurableFile.syncFailure(calls: calls, output) {
            throw .system(failure, "fsync", part, consequence: "the slot was left clean")
        }
        fchmod(output, 0o755)
        _ = calls.close(output)
        closed = true
        faults.step("stage.copy.synced")
        guard calls.rename(part, directory + "/" + target.fileName) == 0 else {
            throw .system(errno, "rename", part, consequence: "the slot was left clean")
        }
        faults.step("stage.copy.renamed")
        try writeRelease(target, into: slot)
    }

    /// Unpacks an oci-archive (or layout directory) into `slots/<slot>/bundle` with a generated
    /// config.json, then syncs the file system. Returns what the unpack skipped or changed.
    @discardableResult
    func stageImage(_ target: TargetDescription, from source: String, into slot: Slot, platform: OCIPlatform,
                    spec: RuntimeSpec) throws(UpdateError) -> RootfsWriter.Stats {
        let stats: RootfsWriter.Stats
        try verifyArtifact(target, at: source)
        let bundle = slotPath(slot) + "/bundle"
        let rootfs = bundle + "/rootfs"
        faults.step("stage.image.begin")
        do throws(OCIError) {
            let layout = try OCIImageLayout.open(source)
            let image = try layout.image(platform: platform)
            for directory in [bundle, rootfs] where mkdir(directory, 0o755) != 0 {
                throw OCIError.init(.io, errno: errno, "create \(directory): \(DurableFile.errorText(errno))")
            }
            faults.step("stage.image.open")
            stats = try layout.unpack(image, into: rootfs, options: .init(policy: target.unpack))
            faults.step("stage.image.unpacked")
            var spec = spec
            if target.allowRoot { spec.allowRoot = true }
            let document = try spec.document(for: image.config, rootfsDirectory: rootfs)
            let dir = Glibc.open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { close(dir) }
            if let failure = DurableFile.replace(calls: calls, directoryFD: dir, path: bundle + "/config.json",
                                                 document.bytes(), mode: 0o644, step: { self.faults.step("stage.config.\($0)") }) {
                throw OCIError(failure.errno == ENOSPC ? .diskFull : .io, errno: failure.errno,
                               "\(failure.operation) \(failure.path): \(DurableFile.errorText(failure.errno))")
            }
        } catch {
            let code: UpdateError.Code = error.code == .diskFull ? .diskFull : (error.code == .io ? .io : .image)
            throw UpdateError(code, errno: error.errno, "image \(target.name): \(error)")
        }
        // One syncfs covers the whole rootfs (thousands of files) at once.
        let fd = Glibc.open(slotPath(slot), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            if c_syncfs(fd) != 0 { throw .system(errno, "syncfs", slotPath(slot), consequence: "the slot was left clean") }
        }
        faults.step("stage.image.synced")
        try writeRelease(target, into: slot)
        return stats
    }

    private func verifyArtifact(_ target: TargetDescription, at path: String) throws(UpdateError) {
        let input = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .system(errno, "open", path, consequence: "nothing was staged") }
        defer { close(input) }
        let hasher = StreamingDigest(.sha256)
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let got = buffer.withUnsafeMutableBytes { bytes in DurableFile.retrying { read(input, bytes.baseAddress, bytes.count) } }
            guard got.result >= 0 else { throw .system(got.errno, "read", path, consequence: "nothing was staged") }
            if got.result == 0 { break }
            total += Int64(got.result)
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<got.result])) }
        }
        let digest = Hex.encode(hasher.finish())
        guard total == target.length, digest == target.sha256 else {
            throw UpdateError(.verification, "\(path) (\(total) bytes, sha256 \(digest)) does not match target "
                                  + "\(target.name) (\(target.length) bytes, sha256 \(target.sha256)); download it again")
        }
    }

    private func writeRelease(_ target: TargetDescription, into slot: Slot) throws(UpdateError) {
        let dir = Glibc.open(slotPath(slot), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw .system(errno, "open", slotPath(slot), consequence: "the slot was left clean") }
        defer { close(dir) }
        if let failure = DurableFile.replace(calls: calls, directoryFD: dir, path: slotPath(slot) + "/release.json",
                                             target.json.bytes(), mode: 0o644, step: { self.faults.step("stage.release.\($0)") }) {
            throw .system(failure.errno, failure.operation, failure.path, consequence: "the slot was left clean")
        }
    }
}

/// syncfs(2): glibc declares it only under _GNU_SOURCE, which the Glibc module does not set.
@_silgen_name("syncfs")
private func c_syncfs(_ fd: Int32) -> Int32

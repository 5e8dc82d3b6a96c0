import DurableFile

/// A lower bound on the real time that survives reboots: the newest trusted time this device has
/// seen, never lowered. Kept as decimal seconds since the epoch in one small file.
public struct TimeFloor: Sendable {
    /// When this release was made (2026-12-01T00:00:00Z): no real time can be earlier, so a device
    /// that never saw a trusted time still refuses a clock at 1970. Raised with each release, as
    /// systemd's TIME_EPOCH is.
    public static let releaseEpoch: Int64 = 1_796_083_200

    public let path: String
    public private(set) var seconds: Int64
    /// What was last written, so that the floor is not rewritten (and the SD card worn) at every reading.
    private var stored: Int64

    /// Reads the floor at `path`; a missing or unreadable file falls back to the release epoch.
    public init(path: String) {
        self.path = path
        var value = Self.releaseEpoch
        if let bytes = try? DurableFile.read(path, limit: 64),
           let text = String(validating: bytes.filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self),
           let seconds = Int64(text), seconds > value, seconds < 32_503_680_000 {  // before year 3000
            value = seconds
        }
        seconds = value
        stored = value
    }

    /// How far the floor moves before it is written again.
    public static let persistAfterSeconds: Int64 = 3600

    /// Raises the floor to `time`; written when it moved by `persistAfterSeconds` or more since the
    /// last write. Returns the write's failure, if any: the floor in memory is raised regardless.
    @discardableResult
    public mutating func raise(to time: Int64) -> DurableFile.Failure? {
        guard time > seconds else { return nil }
        seconds = time
        guard time - stored >= Self.persistAfterSeconds else { return nil }
        do {
            try DurableFile.makeDirectories(DurableFile.parent(of: path), mode: 0o755)
            try DurableFile.write(Array("\(time)\n".utf8), to: path, mode: 0o644)
            stored = time
            return nil
        } catch {
            return error
        }
    }
}

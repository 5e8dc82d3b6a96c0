import JSON

/// What an image may do to the device that unpacks it: how much it may write, how many entries it
/// may have, whether setuid and setgid bits survive, and how much free space must remain.
///
/// A release sets it in its target's `custom.unpack` (signed with the rest of the metadata):
/// `{"max_bytes": 2147483648, "max_entries": 200000, "allow_setuid": true}`. Absent fields keep
/// the defaults. The update server checks an upload with the same policy, so it refuses what a
/// device would refuse.
public struct UnpackPolicy: Sendable, Equatable {
    /// 1 GiB of file data across all layers.
    public static let defaultMaxBytes: Int64 = 1 << 30
    /// Files, directories, links and whiteouts across all layers.
    public static let defaultMaxEntries = 100_000
    /// Free space the unpack leaves on the file system it writes to: the event log shares it.
    public static let defaultFreeSpaceReserve: Int64 = 64 << 20

    /// Upper bounds a release may ask for (1 TiB, 10 M entries): numbers beyond are typos.
    static let maxBytesCeiling: Int64 = 1 << 40
    static let maxEntriesCeiling = 10_000_000

    /// Bytes of regular-file data and symbolic-link targets written, summed over layers (a file
    /// replaced by a later layer counts twice).
    public var maxBytes: Int64
    public var maxEntries: Int
    /// Keep setuid and setgid bits from the image; off, they are cleared on every file and directory.
    public var allowSetuid: Bool
    /// Refuse to write a file that would leave less than this many bytes free (statvfs f_bavail).
    public var freeSpaceReserve: Int64

    public init(maxBytes: Int64 = defaultMaxBytes, maxEntries: Int = defaultMaxEntries, allowSetuid: Bool = false,
                freeSpaceReserve: Int64 = defaultFreeSpaceReserve) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        self.allowSetuid = allowSetuid
        self.freeSpaceReserve = freeSpaceReserve
    }

    /// Reads a target's `custom.unpack` object (nil or absent: the defaults).
    public init(unpack: JSON?) throws(OCIError) {
        self.init()
        guard let unpack else { return }
        if case .null = unpack { return }
        guard case .object = unpack else {
            throw OCIError(.invalidLayout, "custom.unpack must be an object like {\"max_bytes\": 1073741824}")
        }
        do {
            if let bytes = try unpack.optionalInt("max_bytes") {
                guard (1...UnpackPolicy.maxBytesCeiling).contains(bytes) else {
                    throw OCIError(.invalidLayout, "custom.unpack.max_bytes must be between 1 and \(UnpackPolicy.maxBytesCeiling), not \(bytes)")
                }
                maxBytes = bytes
            }
            if let entries = try unpack.optionalInt("max_entries") {
                guard (1...Int64(UnpackPolicy.maxEntriesCeiling)).contains(entries) else {
                    throw OCIError(.invalidLayout, "custom.unpack.max_entries must be between 1 and \(UnpackPolicy.maxEntriesCeiling), not \(entries)")
                }
                maxEntries = Int(entries)
            }
            if let allow = unpack["allow_setuid"] {
                guard let flag = allow.boolValue else {
                    throw OCIError(.invalidLayout, "custom.unpack.allow_setuid must be true or false")
                }
                allowSetuid = flag
            }
        } catch let error as OCIError {
            throw error
        } catch {
            throw OCIError(.invalidLayout, "custom.unpack: \(error)")
        }
    }

    /// The `custom.unpack` object for this policy (only what differs from the defaults).
    public var json: JSON {
        var members: [String: JSON] = [:]
        if maxBytes != UnpackPolicy.defaultMaxBytes { members["max_bytes"] = .int(maxBytes) }
        if maxEntries != UnpackPolicy.defaultMaxEntries { members["max_entries"] = .int(Int64(maxEntries)) }
        if allowSetuid { members["allow_setuid"] = .bool(true) }
        return .object(members)
    }
}

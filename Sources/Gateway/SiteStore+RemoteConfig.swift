import JSON
import SQLite
import Site

/// What a device last reported about a role's config.
public struct DeviceConfigReport: Sendable, Equatable {
    public var device: String
    public var role: String
    public var version: Int64
    public var applied: Bool
    public var error: String
    public var reportedAt: Int64
}

extension SiteStore {
    /// Stores a signed config as the role's current one. Versions only grow: a push with a version
    /// not above the stored one is refused, so two operators cannot overwrite each other silently.
    public func pushRemoteConfig(_ signed: SignedRemoteConfig, at now: Int64) throws(SiteStoreError) {
        let role = signed.config.role.rawValue
        // One statement, so two pushes racing from two shells cannot both win.
        try run("""
            INSERT INTO remote_configs (role, version, document, pushed_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (role) DO UPDATE SET version = excluded.version, document = excluded.document,
                pushed_at = excluded.pushed_at
            WHERE excluded.version > remote_configs.version
            """, [.text(role), .integer(signed.config.version), .text(signed.json.serialized()), .integer(now)])
        guard db.changes == 1 else {
            let current = (try? remoteConfigVersion(role: role)) ?? nil
            throw .invalid("config version \(signed.config.version) for role \(role) is not above the current "
                + "\(current.map(String.init) ?? "none")")
        }
    }

    public func remoteConfigVersion(role: String) throws(SiteStoreError) -> Int64? {
        try rows("SELECT version FROM remote_configs WHERE role = ?", [.text(role)]) { $0.int64(0) }.first
    }

    /// The current config of every role that has one. A row that no longer parses is skipped: it
    /// could only have been written by another build, and devices verify signatures anyway.
    public func remoteConfigs() throws(SiteStoreError) -> [SignedRemoteConfig] {
        let documents = try rows("SELECT document FROM remote_configs ORDER BY role") { $0.text(0) }
        return documents.compactMap { text in
            (try? JSON.parse(Array(text.utf8))).flatMap { try? SignedRemoteConfig(json: $0) }
        }
    }

    public func recordConfigReport(device: String, role: String, version: Int64, applied: Bool, error: String,
                                   at now: Int64) throws(SiteStoreError) {
        try run("""
            INSERT INTO device_configs (device, role, version, applied, error, reported_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (device, role) DO UPDATE SET version = excluded.version, applied = excluded.applied,
                error = excluded.error, reported_at = excluded.reported_at
            """, [.text(device), .text(role), .integer(version), .integer(applied ? 1 : 0), .text(error), .integer(now)])
    }

    public func deviceConfigReports() throws(SiteStoreError) -> [DeviceConfigReport] {
        try rows("SELECT device, role, version, applied, error, reported_at FROM device_configs ORDER BY device, role") { row in
            DeviceConfigReport(device: row.text(0), role: row.text(1), version: row.int64(2), applied: row.int64(3) != 0,
                               error: row.text(4), reportedAt: row.int64(5))
        }
    }

    /// Changes whenever another connection commits (PRAGMA data_version).
    public func dataVersion() throws(SiteStoreError) -> Int64 {
        try sql { () throws(SQLiteError) in try db.dataVersion() }
    }
}

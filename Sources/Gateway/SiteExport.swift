import CryptoEVP
import JSON
import Site

/// The site's records as flat rows for analysis: visits, presence (motion) and scan summaries.
///
/// Raw BLE addresses never leave through an export. Agents send keyed hashes of tag addresses
/// (HMAC-SHA256 with the site key, as the registry stores tags); an agent configured with
/// `raw_addresses = true` sends addresses as they are, and those are hashed here with the site key
/// when one is given, or replaced by `redacted` when not.
public struct SiteExport: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case visits, presence, scans
    }

    public enum Format: String, CaseIterable, Sendable {
        case jsonl, csv
    }

    public let hasher: TagHasher?

    public init(siteKey: [UInt8]?) {
        hasher = siteKey.map { TagHasher(siteKey: $0) }
    }

    /// Column order for CSV, per kind.
    public static func columns(_ kind: Kind) -> [String] {
        switch kind {
        case .visits: ["type", "id", "device", "opened_at", "closed_at", "person", "meeting", "room", "status", "statuses"]
        case .presence: ["type", "device", "at", "state"]
        case .scans: ["type", "device", "at", "scan", "visit", "tag_count", "strongest_rssi", "tags", "error"]
        }
    }

    public func row(_ visit: VisitSummary) -> [String: JSON] {
        [
            "type": "visit", "id": .int(visit.id), "device": .string(visit.device),
            "opened_at": .string(Timestamp.iso8601(visit.openedAt)),
            "closed_at": visit.closedAt.map { .string(Timestamp.iso8601($0)) } ?? .null,
            "person": visit.person.map { .string($0) } ?? .null,
            "meeting": visit.meeting.map { .string($0) } ?? .null,
            "room": visit.room.map { .string($0) } ?? .null,
            "status": visit.statuses.last.map { .string($0.description) } ?? .null,
            "statuses": .array(visit.statuses.map { .string($0.description) }),
        ]
    }

    /// A presence or scan row, or nil for an event of another kind or one that cannot be read.
    public func row(_ event: DeviceEventRecord) -> [String: JSON]? {
        guard let body = try? JSON.parse(Array(event.body.utf8)) else { return nil }
        let at = JSON.string(Timestamp.iso8601(event.at))
        switch event.kind {
        case DeviceEvent.Kind.motion.rawValue:
            return ["type": "presence", "device": .string(event.device), "at": at,
                    "state": .string(body["state"]?.stringValue ?? "start")]
        case DeviceEvent.Kind.scan.rawValue:
            let tags: [JSON] = (body["tags"]?.arrayValue ?? []).map { tag in
                let id = tag["id"]?.stringValue ?? ""
                return ["id": .string(safeTagID(id)), "rssi": tag["rssi"] ?? .null]
            }
            let strongest = tags.compactMap { $0["rssi"]?.intValue }.max()
            return ["type": "scan", "device": .string(event.device), "at": at,
                    "scan": body["scan"] ?? .null, "visit": body["visit"] ?? .null,
                    "tag_count": .int(Int64(tags.count)), "strongest_rssi": strongest.map { .int($0) } ?? .null,
                    "tags": .array(tags), "error": body["error"] ?? .null]
        default:
            return nil
        }
    }

    /// A tag id as it may leave the site: a keyed hash, never an address.
    public func safeTagID(_ id: String) -> String {
        guard Self.looksLikeAddress(id) else { return id }
        return hasher?.tagID(forAddress: id.uppercased()) ?? "redacted"
    }

    static func looksLikeAddress(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 6 && parts.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }

    // MARK: Formatting

    public static func jsonLine(_ row: [String: JSON]) -> String {
        JSON.object(row).serialized()
    }

    public static func csvHeader(_ kind: Kind) -> String {
        columns(kind).joined(separator: ",")
    }

    /// One CSV record (RFC 4180): arrays and objects as compact JSON in one quoted field.
    public static func csvLine(_ row: [String: JSON], kind: Kind) -> String {
        columns(kind).map { column in
            let value = row[column] ?? .null
            let text: String
            switch value {
            case .null: text = ""
            case .string(let string): text = string
            case .array, .object: text = value.serialized()
            default: text = value.serialized()
            }
            return csvField(text)
        }.joined(separator: ",")
    }

    /// On UTF-8 bytes: CRLF is one `Character` equal to neither "\n" nor "\r", and a `"` or `=`
    /// followed by a combining scalar is one `Character` too, yet a spreadsheet sees each byte.
    static func csvField(_ text: String) -> String {
        let bytes = Array(text.utf8)
        // OWASP's CSV-injection list: a leading = + - @ tab or CR starts a formula in some spreadsheets.
        let formula = bytes.first.map { Array("=+-@\t\r".utf8).contains($0) } ?? false
        let special = bytes.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
        guard formula || special else { return text }
        // A leading formula character is prefixed with ' so a spreadsheet shows it instead of running it.
        var out: [UInt8] = [UInt8(ascii: "\"")]
        if formula { out.append(UInt8(ascii: "'")) }
        for byte in bytes {
            out.append(byte)
            if byte == UInt8(ascii: "\"") { out.append(byte) }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}

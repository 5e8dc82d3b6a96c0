import Download
import JSON
import Releases

/// How the agent takes releases (`[updates]` in agent.toml): the update server, the device's
/// token, the pinned TUF metadata, the poll schedule and, optionally, the server's CoAP push.
public struct UpdateSettings: Sendable {
    public struct Push: Sendable {
        public var host: String
        public var port: UInt16
        public var pskFile: String
        /// The DTLS key the update server issued (identity = device id). Kept out of logs.
        public var key: [UInt8]
    }

    /// Base URL without a trailing slash, e.g. `http://updates.local:8080`.
    public var server: String
    public var tokenFile: String
    /// The device token (`ned_…`). Kept out of logs.
    public var token: String
    /// The TUF client's directory; `root.json` is pinned there at provisioning (`tuf init`).
    public var metadataDirectory: String
    public var pollIntervalSeconds: Int
    public var pollJitterSeconds: Int
    public var push: Push?
    /// The CAs that sign the server's certificate (`ca`), instead of the system's.
    public var caFile: String?
    /// `sha256//BASE64`: the server's public key must match (`pin`).
    public var pinnedPublicKey: String?
    /// `insecure_http = true`: a lab's plain http:// server, token in clear.
    public var insecureHTTP = false

    public var metadataURL: String { server + "/metadata/" }
    public var targetsURL: String { server + "/targets/" }

    /// Transfer options carrying the server's trust, for the device API and the TUF downloads.
    public var downloadOptions: DownloadOptions {
        var options = DownloadOptions()
        options.caFile = caFile
        options.pinnedPublicKey = pinnedPublicKey
        return options
    }
}

/// The device side of the update server's device API, synchronous (run it on a worker thread).
struct UpdateServerClient: Sendable {
    let settings: UpdateSettings

    /// `POST /api/v1/device/checkin`; the answer is the device's assignment.
    func checkIn(_ checkIn: CheckIn) throws(AgentError) -> Assignment? {
        try call("checkin", checkIn.json)
    }

    /// `POST /api/v1/device/report`; the answer is the assignment after the report.
    func report(_ report: UpdateReport) throws(AgentError) -> Assignment? {
        try call("report", report.json)
    }

    private func call(_ verb: String, _ body: JSON) throws(AgentError) -> Assignment? {
        let url = settings.server + "/api/v1/device/" + verb
        var options = settings.downloadOptions
        options.connectTimeoutSeconds = 5
        options.stallSeconds = 15
        let response: HTTPResponse
        do {
            response = try Downloader(options: options).request(
                "POST", url, headers: ["Authorization: Bearer " + settings.token, "Content-Type: application/json"],
                body: Array(body.serialized().utf8), maxLength: 256 * 1024)
        } catch {
            throw AgentError("update server: \(verb) failed: \(error)")
        }
        let answer = try? JSON.parse(response.body)
        guard response.status == 200 else {
            let message = answer?["error"]?.stringValue ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            let hint = response.status == 401 ? " (check updates.token_file: the device token may be revoked)" : ""
            throw AgentError("update server: \(verb) answered HTTP \(response.status): \(message)\(hint)")
        }
        guard let answer else { throw AgentError("update server: \(verb) answer is not JSON") }
        do {
            return try Assignment.parse(answer)
        } catch {
            throw AgentError("update server: \(verb) answer is not an assignment: \(error)")
        }
    }
}

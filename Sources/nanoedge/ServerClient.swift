import ArgumentParser
import DaemonLog
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Download
import HTTPGuard
import JSON
import Synchronization

/// `--server` and the admin token, shared by the verbs that talk to an update server.
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The update server's base URL (or NANOEDGE_SERVER), e.g. http://updates.example:8080.",
                               valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("A file holding the admin token (or the token in NANOEDGE_TOKEN).", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("Trust the server's certificate when it chains to these CAs (PEM), e.g. the site's "
                               + "update-ca.pem (or NANOEDGE_CA).", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("Also require the server's public key to match: sha256//BASE64.", valueName: "pin"))
    var pin: String?

    @Flag(help: "Send the admin token over plain http:// to a host other than this one (a lab only).")
    var insecureHTTP = false

    func client() throws -> ServerClient {
        let environment = ProcessInfo.processInfo.environment
        guard let base = server ?? environment["NANOEDGE_SERVER"], let url = URL(string: base), url.scheme != nil else {
            throw ValidationError("give the update server: --server https://HOST:PORT (or NANOEDGE_SERVER)")
        }
        let scheme = url.scheme?.lowercased() ?? ""
        guard scheme == "http" || scheme == "https" else {
            throw ValidationError("--server \(base): use an https:// (or, for a lab, http://) URL")
        }
        // The admin token is a bearer token; over plain HTTP it may only stay on this host.
        if scheme == "http", !insecureHTTP, !isLoopback(host: url.host ?? "") {
            throw ValidationError("--server \(base) is plain http://, which would send the admin token in clear across "
                                  + "the network; use https:// (with --ca for a site CA), or pass --insecure-http for a lab")
        }
        let caFile = ca ?? environment["NANOEDGE_CA"]
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("cannot read the CA file \(caFile); give the site's update-ca.pem")
        }
        if scheme == "http", caFile != nil || pin != nil {
            throw ValidationError("--ca and --pin check a TLS certificate; --server \(base) is plain http://")
        }
        if caFile != nil || pin != nil { Transfer.trust.withLock { $0 = Transfer.Trust(caFile: caFile, pin: pin) } }
        var token = environment["NANOEDGE_TOKEN"]
        if let tokenFile {
            token = try readTextFile(tokenFile).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token, !token.isEmpty else {
            throw ValidationError("give an admin token: --token-file FILE or NANOEDGE_TOKEN (nanoedge update-server token create)")
        }
        return ServerClient(base: url, token: token)
    }
}

/// The admin API over HTTP. Errors carry the server's `{"error": …}` message.
struct ServerClient {
    let base: URL
    let token: String

    func url(_ path: String) -> URL { URL(string: base.absoluteString.trimmingSuffix("/") + path)! }

    func request(_ path: String, method: String = "GET") -> URLRequest {
        var request = URLRequest(url: url(path))
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 60
        return request
    }

    /// Sends a JSON request and returns the JSON answer; a 4xx/5xx becomes `CommandFailure`.
    func call(_ path: String, method: String = "GET", json: JSON? = nil) throws -> JSON {
        var request = request(path, method: method)
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.bytes())
        }
        let (data, response) = try Transfer.run(request, upload: nil, download: false, progress: nil)
        return try Self.decode(data, response)
    }

    static func decode(_ data: Data, _ response: HTTPURLResponse) throws -> JSON {
        let json = try? JSON.parse(Array(data), limits: JSONLimits(maxDepth: 32, maxBytes: 64 << 20, maxStringBytes: 1 << 20))
        guard (200..<300).contains(response.statusCode) else {
            let message = json?["error"]?.stringValue ?? String(decoding: data.prefix(500), as: UTF8.self)
            throw CommandFailure("the update server answered \(response.statusCode): \(message)")
        }
        guard let json else { throw CommandFailure("the update server answered something that is not JSON") }
        return json
    }
}

/// One HTTP exchange through URLSession, blocking the command until it ends, with an optional
/// progress callback (bytes done, bytes expected).
final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var body = Data()
    private var response: URLResponse?
    private var failure: Error?
    private var outputHandle: FileHandle?
    private let progress: ((Int64, Int64) -> Void)?

    private init(progress: ((Int64, Int64) -> Void)?, output: FileHandle?) {
        self.progress = progress
        outputHandle = output
    }

    /// Runs `request`; with `upload` the file is streamed as the body; with `output` the answer is
    /// written there instead of being kept.
    /// A CA or pin from `--ca`/`--pin`. URLSession on Linux takes neither, so these requests go
    /// through libcurl (the agent's `Download` module) instead.
    struct Trust: Sendable {
        var caFile: String?
        var pin: String?
    }

    static let trust = Mutex<Trust?>(nil)

    static func run(_ request: URLRequest, upload: URL?, download: Bool, output: FileHandle? = nil,
                    progress: ((Int64, Int64) -> Void)?) throws -> (Data, HTTPURLResponse) {
        if let trust = trust.withLock({ $0 }) {
            return try runWithCurl(request, trust: trust, upload: upload, output: output)
        }
        let transfer = Transfer(progress: progress, output: output)
        let session = URLSession(configuration: .ephemeral, delegate: transfer, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let task = upload.map { session.uploadTask(with: request, fromFile: $0) } ?? session.dataTask(with: request)
        task.resume()
        transfer.done.wait()
        if let failure = transfer.failure {
            throw CommandFailure("cannot reach the update server at \(request.url?.host ?? "?"): \(failure.localizedDescription)")
        }
        guard let http = transfer.response as? HTTPURLResponse else { throw CommandFailure("no HTTP answer from the update server") }
        return (transfer.body, http)
    }

    private static func runWithCurl(_ request: URLRequest, trust: Trust, upload: URL?,
                                    output: FileHandle?) throws -> (Data, HTTPURLResponse) {
        guard let url = request.url else { throw CommandFailure("no URL") }
        var options = DownloadOptions()
        options.caFile = trust.caFile
        options.pinnedPublicKey = trust.pin
        options.connectTimeoutSeconds = 15
        options.stallSeconds = 60
        options.userAgent = "nanoedge"
        let headers = (request.allHTTPHeaderFields ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        let answer: HTTPResponse
        do {
            answer = try Downloader(options: options).request(
                request.httpMethod ?? "GET", url.absoluteString, headers: headers,
                body: request.httpBody.map { [UInt8]($0) }, uploadFile: upload?.path,
                output: output.map { (descriptor: $0.fileDescriptor, path: "the output file") },
                maxLength: output == nil ? 64 << 20 : Int(Int64.max >> 1))
        } catch {
            throw CommandFailure("cannot reach the update server at \(url.host ?? "?"): \(error)")
        }
        guard let response = HTTPURLResponse(url: url, statusCode: answer.status, httpVersion: "HTTP/1.1", headerFields: [:]) else {
            throw CommandFailure("no HTTP answer from the update server")
        }
        return (Data(answer.body), response)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didSendBodyData bytesSent: Int64, totalBytesSent: Int64,
                    totalBytesExpectedToSend: Int64) {
        progress?(totalBytesSent, totalBytesExpectedToSend)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        self.response = response
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        if let outputHandle, let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) {
            outputHandle.write(data)
            received += Int64(data.count)
            progress?(received, response?.expectedContentLength ?? -1)
        } else {
            body.append(data)
        }
    }
    private var received: Int64 = 0

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        failure = error
        if response == nil { response = task.response }
        done.signal()
    }
}

/// A one-line progress bar on standard error, only when that is a terminal: standard output stays
/// the command's result (`> file`, `| jq`).
struct ProgressBar {
    let label: String
    let enabled = isatty(2) != 0
    private var lastDrawn = Date.distantPast

    init(_ label: String) { self.label = label }

    mutating func update(_ done: Int64, _ total: Int64) {
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 || (total > 0 && done >= total) else { return }
        lastDrawn = Date()
        let width = 30
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let totalText = total > 0 ? formatBytes(total) : "?"
        DaemonLog.writeStandardError("\r\(label) [\(bar)] \(Int(fraction * 100))% \(formatBytes(done)) / \(totalText)")
    }

    func finish() {
        guard enabled else { return }
        DaemonLog.writeStandardError("\n")
    }
}

func formatBytes(_ count: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}

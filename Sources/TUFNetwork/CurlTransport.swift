import CryptoEVP
import Download
import TUF

/// The TUF client's transport over libcurl: metadata into memory under the role's size limit,
/// targets streamed into a staging file and verified as they arrive.
public final class CurlTransport: TUFTransport {
    public let downloader: Downloader

    public init(options: DownloadOptions = .init()) {
        downloader = Downloader(options: options)
    }

    public func fetch(_ url: String, maxLength: Int) throws(TUFError) -> [UInt8] {
        do {
            return try downloader.fetch(url, maxLength: maxLength)
        } catch {
            throw CurlTransport.map(error, url: url)
        }
    }

    public func download(_ url: String, target: TargetFile, stagingPath: String) throws(TUFError) {
        var hashes: [HashAlgorithm: [UInt8]] = [:]
        for (name, hex) in target.hashes {
            guard let algorithm = HashAlgorithm(tufName: name) else {
                throw TUFError(.lengthOrHash, "target \(target.path) lists hash algorithm '\(name)', which this client "
                    + "cannot check")
            }
            guard let digest = Hex.decode(hex), digest.count == algorithm.digestLength else {
                throw TUFError(.lengthOrHash, "target \(target.path): '\(hex)' is not a \(name) digest")
            }
            hashes[algorithm] = digest
        }
        do {
            try downloader.download(url, to: stagingPath, expected: ExpectedContent(length: target.length, hashes: hashes))
        } catch {
            throw CurlTransport.map(error, url: url)
        }
    }

    static func map(_ error: DownloadError, url: String) -> TUFError {
        switch error.code {
        case .http:
            if let status = error.httpStatus, status == 403 || status == 404 { return .notFound(url, status: status) }
            return TUFError(.network, error.message)
        case .tooLarge, .mismatch:
            return TUFError(.lengthOrHash, error.message)
        case .diskFull, .io:
            return TUFError(.io, error.message)
        case .usage:
            return TUFError(.usage, error.message)
        default:
            return TUFError(.network, error.message)
        }
    }
}

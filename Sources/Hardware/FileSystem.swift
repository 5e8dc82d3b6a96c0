#if canImport(Glibc)
import Glibc
#endif

/// Small file helpers on plain libc, so the agent links no Foundation.
enum FileSystem {
    /// The whole file as UTF-8 text (invalid bytes become U+FFFD).
    static func readText(_ path: String) throws(HardwareError) -> String {
        guard let file = fopen(path, "re") else {
            let code = errno
            if code == EACCES {
                throw .permissionDenied(path: path, hint: "make the file readable by the agent's user")
            }
            throw .io(errno: code, operation: "open \(path)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count {
                if ferror(file) != 0 { throw .io(errno: errno, operation: "read \(path)") }
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// The names in a directory, sorted, or nil if it cannot be opened.
    static func list(_ directory: String) -> [String]? {
        guard let dir = opendir(directory) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

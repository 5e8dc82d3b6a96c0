#if canImport(Glibc)
import Glibc
#endif
import Hardware

/// Unix-domain socket plumbing shared by the board's control server and its client.
enum UnixSocket {
    static let streamType = Int32(SOCK_STREAM.rawValue)
    static let closeOnExec = Int32(SOCK_CLOEXEC.rawValue)
    static let nonBlocking = Int32(SOCK_NONBLOCK.rawValue)

    static func address(_ path: String) throws(HardwareError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw .simulator("socket path \"\(path)\" must be 1 to \(capacity - 1) bytes long; use a shorter path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// connect(2), retried on EINTR; returns 0 or the errno.
    static func connect(_ fd: Int32, to address: sockaddr_un) -> Int32 {
        var address = address
        while true {
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if rc == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    static func bind(_ fd: Int32, to address: sockaddr_un) -> Int32 {
        var address = address
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc == 0 ? 0 : errno
    }

    /// send(2) without SIGPIPE, so a client that hangs up cannot kill the process.
    static func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Int {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

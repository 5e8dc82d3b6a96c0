#if canImport(Glibc)
import Glibc
#endif
import Hardware
import Reactor

/// A blocking client for a simulated board's control socket, for `nanoedge sim` and for tests.
///
/// Each `send` opens a connection, sends one command and reads one response, so the client holds no
/// state and can be used from any thread.
public struct SimulatorClient: Sendable {
    public var socketPath: String
    /// How long `send` waits for the whole response.
    public var timeoutMilliseconds: Int

    public init(socketPath: String, timeoutMilliseconds: Int = 5_000) {
        self.socketPath = socketPath
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Sends one command and returns the response's lines joined by "\n", without the terminating
    /// empty line. A response starting with "error: " is returned, not thrown: it is the board's answer.
    public func send(_ command: String) throws(HardwareError) -> String {
        guard !command.isEmpty, !command.contains(where: { $0 == "\n" || $0 == "\r" }) else {
            throw .simulator("a command is one non-empty line, got \"\(command)\"")
        }
        let address = try UnixSocket.address(socketPath)
        let fd = socket(AF_UNIX, UnixSocket.streamType | UnixSocket.closeOnExec, 0)
        guard fd >= 0 else { throw .io(errno: errno, operation: "socket") }
        defer { close(fd) }

        switch UnixSocket.connect(fd, to: address) {
        case 0:
            break
        case ENOENT, ECONNREFUSED, ENOTSOCK:
            throw .notListening(path: socketPath)
        case EACCES:
            throw .permissionDenied(path: socketPath,
                                    hint: "join the group that owns the socket (it is mode 0660) or run as its owner")
        case let code:
            throw .io(errno: code, operation: "connect to \(socketPath)")
        }

        let deadline = Reactor.now() + Int64(timeoutMilliseconds)
        let request = Array((command + "\n").utf8)
        var sent = 0
        while sent < request.count {
            try wait(fd, for: Int16(POLLOUT), until: deadline, command: command)
            let count = UnixSocket.send(fd, request[sent...])
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .io(errno: errno, operation: "send to \(socketPath)")
            }
            sent += count
        }

        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !Self.isComplete(response) {
            try wait(fd, for: Int16(POLLIN), until: deadline, command: command)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .io(errno: errno, operation: "receive from \(socketPath)")
            }
            if count == 0 {
                throw .simulator("\(socketPath) closed the connection before answering \"\(command)\"")
            }
            response.append(contentsOf: chunk[0..<count])
        }
        // Drop the empty line that ends the response, and the newline of the last line.
        response.removeLast(response.count == 1 ? 1 : 2)
        return String(decoding: response, as: UTF8.self)
    }

    /// A response ends with an empty line: it is "\n" alone or ends in "\n\n".
    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let newline = UInt8(ascii: "\n")
        return bytes == [newline] || (bytes.count >= 2 && bytes[bytes.count - 1] == newline
            && bytes[bytes.count - 2] == newline)
    }

    private func wait(_ fd: Int32, for events: Int16, until deadline: Int64,
                      command: String) throws(HardwareError) {
        while true {
            let remaining = deadline - Reactor.now()
            guard remaining > 0 else {
                throw .timeout("simulated board at \(socketPath), command \"\(command)\"",
                               afterMilliseconds: timeoutMilliseconds)
            }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, Int32(clamping: remaining))
            if ready > 0 { return }  // POLLHUP and POLLERR surface as errors from the next call
            if ready < 0 && errno != EINTR { throw .io(errno: errno, operation: "poll \(socketPath)") }
        }
    }
}

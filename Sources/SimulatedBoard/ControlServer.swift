#if canImport(Glibc)
import Glibc
#endif
import Hardware
import Reactor

/// A line-oriented Unix stream socket server on a reactor: non-blocking, no threads.
///
/// Each request is one line; each response is its lines followed by an empty line (see
/// docs/simulator.md). Everything runs on the reactor thread.
final class ControlServer {
    private final class Connection {
        let fd: Int32
        var watch: Reactor.WatchID?
        var input: [UInt8] = []
        var output: [UInt8] = []
        /// Set after a line overflowed the limit: the rest of it is skipped up to its newline.
        var discarding = false
        var peerClosed = false
        init(fd: Int32) { self.fd = fd }
    }

    static let maximumConnections = 16
    static let maximumLineBytes = 4096
    /// A client that stops reading is dropped rather than buffered without bound.
    static let maximumPendingOutput = 1 << 20

    let path: String
    private let reactor: Reactor
    private let handle: (String) -> String
    private var listenFD: Int32 = -1
    private var listenWatch: Reactor.WatchID?
    private var connections: [Int32: Connection] = [:]

    init(path: String, reactor: Reactor, handle: @escaping (String) -> String) {
        self.path = path
        self.reactor = reactor
        self.handle = handle
    }

    func start() throws(HardwareError) {
        let address = try UnixSocket.address(path)
        try removeStaleSocket(address)
        let fd = socket(AF_UNIX, UnixSocket.streamType | UnixSocket.nonBlocking | UnixSocket.closeOnExec, 0)
        guard fd >= 0 else { throw .io(errno: errno, operation: "socket for \(path)") }
        let bound = UnixSocket.bind(fd, to: address)
        if bound != 0 {
            close(fd)
            if bound == EACCES {
                throw .permissionDenied(path: path,
                                        hint: "pick a control socket path in a directory the agent can write")
            }
            throw .io(errno: bound, operation: "bind \(path)")
        }
        // Group access lets a test user or `nanoedge sim` drive an agent that runs as a service user.
        if chmod(path, 0o660) != 0 || listen(fd, 16) != 0 {
            let code = errno
            close(fd)
            unlink(path)
            throw .io(errno: code, operation: "listen on \(path)")
        }
        listenFD = fd
        listenWatch = reactor.watch(fd: fd, for: .readable) { [weak self] _ in self?.acceptAll() }
    }

    func stop() {
        for connection in Array(connections.values) { drop(connection) }
        if let listenWatch { reactor.unwatch(listenWatch) }
        listenWatch = nil
        if listenFD >= 0 {
            close(listenFD)
            unlink(path)
            listenFD = -1
        }
    }

    /// A socket file left by a crashed run is removed; a live board or a non-socket file is not touched.
    private func removeStaleSocket(_ address: sockaddr_un) throws(HardwareError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw .simulator("\(path) exists and is not a socket; remove it or pick another control socket path")
        }
        let probe = socket(AF_UNIX, UnixSocket.streamType | UnixSocket.closeOnExec, 0)
        if probe >= 0 {
            let result = UnixSocket.connect(probe, to: address)
            close(probe)
            if result == 0 {
                throw .simulator(
                    "another simulated board is already listening at \(path); stop it or pick another path")
            }
        }
        if unlink(path) != 0 && errno != ENOENT {
            throw .io(errno: errno, operation: "remove stale socket \(path)")
        }
    }

    private func acceptAll() {
        while true {
            // accept4 is hidden behind _GNU_SOURCE in the Glibc module, so the flags are set afterwards.
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // EAGAIN: drained. Anything else (EMFILE) is retried on the next readiness.
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            guard connections.count < Self.maximumConnections else {
                close(fd)
                continue
            }
            let connection = Connection(fd: fd)
            connections[fd] = connection
            connection.watch = reactor.watch(fd: fd, for: .readable) { [weak self] events in
                self?.service(connection, events)
            }
        }
    }

    private func isOpen(_ connection: Connection) -> Bool { connections[connection.fd] === connection }

    private func service(_ connection: Connection, _ events: Reactor.Readiness) {
        if events.contains(.writable) {
            flush(connection)
            guard isOpen(connection) else { return }
        }
        if events.contains(.readable) || events.contains(.hangup) {
            receive(connection)
        } else if events.contains(.error) {
            drop(connection)
        }
    }

    private func receive(_ connection: Connection) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !connection.peerClosed {
            let count = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                connection.input.append(contentsOf: chunk[0..<count])
                processLines(connection)
                guard isOpen(connection) else { return }
            } else if count == 0 {
                connection.peerClosed = true
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                drop(connection)
                return
            }
        }
        // The peer sent all it will send: answer an unterminated last line, then close once flushed.
        if !connection.input.isEmpty && !connection.discarding {
            let line = connection.input
            connection.input.removeAll()
            answer(line, on: connection)
            guard isOpen(connection) else { return }
        }
        if connection.output.isEmpty {
            drop(connection)
        } else if let watch = connection.watch {
            reactor.updateWatch(watch, events: .writable)
        }
    }

    private func processLines(_ connection: Connection) {
        while let newline = connection.input.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(connection.input[..<newline])
            connection.input.removeSubrange(...newline)
            if connection.discarding {
                connection.discarding = false
                queue("error: command longer than \(Self.maximumLineBytes) bytes", on: connection)
            } else {
                answer(line, on: connection)
            }
            guard isOpen(connection) else { return }
        }
        if connection.input.count > Self.maximumLineBytes {
            connection.input.removeAll()
            connection.discarding = true
        }
    }

    private func answer(_ line: [UInt8], on connection: Connection) {
        var line = line
        if line.last == UInt8(ascii: "\r") { line.removeLast() }  // telnet and socat send CRLF
        let command = String(decoding: line, as: UTF8.self)
        guard command.contains(where: { $0 != " " && $0 != "\t" }) else { return }  // blank: no command
        let response = handle(command)
        guard isOpen(connection) else { return }  // the command may have stopped the board
        queue(response, on: connection)
    }

    /// Frames a response: its non-empty lines, then an empty line.
    private func queue(_ response: String, on connection: Connection) {
        for line in response.split(separator: "\n", omittingEmptySubsequences: true) {
            connection.output.append(contentsOf: line.utf8)
            connection.output.append(UInt8(ascii: "\n"))
        }
        connection.output.append(UInt8(ascii: "\n"))
        flush(connection)
    }

    private func flush(_ connection: Connection) {
        var sent = 0
        while sent < connection.output.count {
            let count = UnixSocket.send(connection.fd, connection.output[sent...])
            if count > 0 {
                sent += count
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                break
            } else {
                drop(connection)
                return
            }
        }
        connection.output.removeFirst(sent)
        if connection.output.count > Self.maximumPendingOutput {
            drop(connection)
            return
        }
        guard let watch = connection.watch else { return }
        if connection.output.isEmpty {
            if connection.peerClosed {
                drop(connection)
            } else {
                reactor.updateWatch(watch, events: .readable)
            }
        } else {
            reactor.updateWatch(watch, events: connection.peerClosed ? .writable : [.readable, .writable])
        }
    }

    private func drop(_ connection: Connection) {
        guard isOpen(connection) else { return }
        if let watch = connection.watch { reactor.unwatch(watch) }
        connections[connection.fd] = nil
        close(connection.fd)
    }
}

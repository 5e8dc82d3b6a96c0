#if canImport(Glibc)
import Glibc
#endif
import Hardware
import Reactor
import SimulatedBoard
import Synchronization
import Testing

/// A simulated board on a reactor thread of its own, with a client for its socket.
private final class Bench: Sendable {
    let reactor: Reactor
    let board: SimulatedBoard
    let client: SimulatorClient

    init() throws {
        let profile = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        let path = uniqueTemporaryPath(".sock")
        reactor = Reactor.startThread()
        board = SimulatedBoard(profile: profile, socketPath: path)
        client = SimulatorClient(socketPath: path, timeoutMilliseconds: 3_000)
        let board = board, reactor = reactor
        try onLoop { () throws(HardwareError) in try board.start(on: reactor) }
    }

    /// Runs `body` on the reactor thread and waits for its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws(HardwareError) -> T) throws(HardwareError) -> T {
        let result = Mutex<Result<T, HardwareError>?>(nil)
        reactor.execute {
            let outcome: Result<T, HardwareError>
            do throws(HardwareError) { outcome = .success(try body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
        }
        var done: Result<T, HardwareError>?
        eventually { done = result.withLock { $0 }; return done != nil }
        guard let done else { preconditionFailure("the reactor did not run the work within 3 s") }
        return try done.get()
    }

    func shutDown() {
        let board = board
        try? onLoop { board.stop() }
        reactor.stop()
    }
}

/// A raw connection, for framing tests that need one connection for several requests.
private final class RawConnection {
    let fd: Int32

    init(path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        precondition(rc == 0, "connect \(path): errno \(errno)")
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func closeSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until `count` responses (each ended by an empty line) have arrived, or EOF / timeout.
    func readResponses(_ count: Int) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while Self.responseCount(bytes) < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Each empty line ends one response, so count the newlines that start a line.
    static func responseCount(_ bytes: [UInt8]) -> Int {
        let newline = UInt8(ascii: "\n")
        return bytes.indices.filter { bytes[$0] == newline && ($0 == 0 || bytes[$0 - 1] == newline) }.count
    }

    /// True once the server has closed its side.
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }
}

@Suite struct SimulatedBoardTests {
    @Test func pirPulseDeliversRisingThenFallingEdge() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let edges = Recorder<LineEdge>()
        let board = bench.board
        try bench.onLoop { () throws(HardwareError) in try board.pir.startEdgeEvents { edges.append($0) } }

        #expect(try bench.client.send("pir") == "low")
        #expect(try bench.client.send("pir pulse 60") == "ok")
        #expect(eventually { edges.count == 2 })
        let seen = edges.all
        #expect(seen.map(\.rising) == [true, false])
        if seen.count == 2 { #expect(seen[1].timestamp - seen[0].timestamp >= 60) }
        #expect(try bench.client.send("pir") == "low")
        #expect(try bench.onLoop { () throws(HardwareError) in try board.pir.read() } == false)
    }

    @Test func pirHighAndLowAreLevels() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let edges = Recorder<Bool>()
        let board = bench.board
        try bench.onLoop { () throws(HardwareError) in try board.pir.startEdgeEvents { edges.append($0.rising) } }

        #expect(try bench.client.send("pir high") == "ok")
        #expect(try bench.client.send("pir high") == "ok")  // same level: no second edge
        #expect(try bench.onLoop { () throws(HardwareError) in try board.pir.read() } == true)
        #expect(try bench.client.send("pir low") == "ok")
        #expect(edges.all == [true, false])

        #expect(throws: HardwareError.self) {
            try bench.onLoop { () throws(HardwareError) in try board.pir.startEdgeEvents { _ in } }
        }
        try bench.onLoop { board.pir.stopEdgeEvents() }
        #expect(try bench.client.send("pir pulse 1") == "ok")
        usleep(50_000)
        #expect(edges.count == 2)  // stopped: nothing more delivered
    }

    @Test func ledsShowInLedsAndHistory() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let board = bench.board
        #expect(try bench.client.send("leds") == "led0=0 led1=0 led2=0 led3=0")
        #expect(try bench.client.send("led-history") == "")

        let start = Reactor.now()
        try bench.onLoop { () throws(HardwareError) in
            let leds: [any OutputLine] = board.leds
            try leds[1].set(true)
            try leds[3].set(true)
            try leds[3].set(true)  // no change: not in the history
            try leds[3].set(false)
        }
        #expect(try bench.client.send("leds") == "led0=0 led1=1 led2=0 led3=0")

        let lines = try bench.client.send("led-history").split(separator: "\n")
        #expect(lines.map { $0.split(separator: " ").last.map(String.init) } == ["led1=1", "led3=1", "led3=0"])
        let times = lines.compactMap { $0.split(separator: " ").first.flatMap { Int64($0) } }
        #expect(times.count == 3)
        #expect(times.allSatisfy { $0 >= start && $0 <= Reactor.now() })
        #expect(times == times.sorted())

        #expect(try bench.client.send("led-history clear") == "ok")
        #expect(try bench.client.send("led-history") == "")
        #expect(board.leds.map(\.name) == ["led0", "led1", "led2", "led3"])
    }

    @Test func beaconsAreReportedWhileAScanRuns() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let board = bench.board
        let reports = Recorder<Advertisement>()

        #expect(try bench.client.send("beacon add aa:bb:cc:dd:ee:01 -61 Alice Tag") == "ok")
        #expect(try bench.client.send("beacon add 11:22:33:44:55:66 -80") == "ok")
        #expect(try bench.client.send("beacon list") == "AA:BB:CC:DD:EE:01 -61 Alice Tag\n11:22:33:44:55:66 -80")
        #expect(try bench.client.send("scans") == "started=0 active=0")

        try bench.onLoop { () throws(HardwareError) in try board.scanner.startScan { reports.append($0) } }
        #expect(try bench.client.send("scans") == "started=1 active=1")
        #expect(eventually { reports.count >= 6 })
        let seen = reports.all
        let alice = seen.filter { $0.address == "AA:BB:CC:DD:EE:01" }
        #expect(alice.count >= 3)
        #expect(alice.allSatisfy { $0.rssi == -61 && $0.name == "Alice Tag" })
        #expect(seen.contains { $0.address == "11:22:33:44:55:66" && $0.rssi == -80 && $0.name == nil })
        if alice.count >= 3 { #expect(alice[2].timestamp - alice[0].timestamp >= 150) }

        #expect(throws: HardwareError.self) {
            try bench.onLoop { () throws(HardwareError) in try board.scanner.startScan { _ in } }
        }

        #expect(try bench.client.send("beacon remove AA:BB:CC:DD:EE:01") == "ok")
        usleep(150_000)
        let afterRemoval = reports.count
        usleep(250_000)
        #expect(reports.all.dropFirst(afterRemoval).allSatisfy { $0.address == "11:22:33:44:55:66" })

        try bench.onLoop { board.scanner.stopScan() }
        #expect(try bench.client.send("scans") == "started=1 active=0")
        let stopped = reports.count
        usleep(250_000)
        #expect(reports.count == stopped)
        #expect(try bench.client.send("beacon remove AA:BB:CC:DD:EE:01").hasPrefix("error: no beacon"))
    }

    @Test func displayShowsWhatWasPresented() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let board = bench.board
        #expect(try bench.client.send("display") == "hidden")
        #expect(try bench.client.send("display content") == "")

        try bench.onLoop { () throws(HardwareError) in
            try board.display.present(title: "Weekly review", content: Array("Agenda\n\n1. Demo\\".utf8))
        }
        #expect(try bench.client.send("display") == "presented Weekly review")
        #expect(try bench.client.send("display content") == "Agenda\\n\\n1. Demo\\\\")

        try bench.onLoop { () throws(HardwareError) in try board.display.hide() }
        #expect(try bench.client.send("display") == "hidden")
        #expect(try bench.client.send("display content") == "Agenda\\n\\n1. Demo\\\\")
    }

    @Test(arguments: [
        "frobnicate", "pir sideways", "pir pulse soon", "leds now", "led-history all",
        "beacon add AA:BB:CC:DD:EE -50", "beacon add AA:BB:CC:DD:EE:FF loud", "beacon add AA:BB:CC:DD:EE:FF -500",
        "beacon remove", "display everything", "scans 2",
    ])
    func badCommandsGiveAnError(command: String) throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let response = try bench.client.send(command)
        #expect(response.hasPrefix("error: "))
        #expect(!response.contains("\n"))
    }

    @Test func connectionStaysUsableAfterAnErrorAndRequestsPipeline() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let connection = RawConnection(path: bench.board.socketPath)
        connection.write("frobnicate\r\nleds\n\nbeacon list\nscans\n")
        let text = connection.readResponses(4)
        #expect(text == "error: unknown command \"frobnicate\"; send help for the list\n\n"
            + "led0=0 led1=0 led2=0 led3=0\n\n"
            + "\n"  // beacon list: no beacons, so the empty line alone
            + "started=0 active=0\n\n")
    }

    @Test func unterminatedLastLineIsAnsweredAtEndOfInput() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let connection = RawConnection(path: bench.board.socketPath)
        connection.write("pir high\npir")
        connection.closeSending()
        #expect(connection.readResponses(2) == "ok\n\nhigh\n\n")
        #expect(connection.isClosedByPeer())
    }

    @Test func helpListsTheCommands() throws {
        let bench = try Bench()
        defer { bench.shutDown() }
        let help = try bench.client.send("help")
        for command in ["pir pulse", "leds", "led-history", "beacon add", "display content", "scans"] {
            #expect(help.contains(command))
        }
    }

    @Test func clientWithoutABoardGetsAClearError() {
        let path = uniqueTemporaryPath(".sock")
        #expect {
            try SimulatorClient(socketPath: path).send("leds")
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .notListening
                && error.description == "no simulated board listening at \(path): is the agent running with board = \"sim\"?"
        }
    }

    @Test func staleSocketIsReplacedAndTheFileRemovedOnStop() throws {
        let path = uniqueTemporaryPath(".sock")
        // A socket file whose listener is gone, as a crashed agent leaves it.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(stale)
        try #require(bound == 0 && fileExists(path))
        #expect(throws: HardwareError.self) { try SimulatorClient(socketPath: path).send("leds") }

        let profile = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        let reactor = Reactor()  // not running: this thread is its loop thread
        let board = SimulatedBoard(profile: profile, socketPath: path)
        try board.start(on: reactor)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o660)

        let second = SimulatedBoard(profile: profile, socketPath: path)
        #expect {
            try second.start(on: reactor)
        } throws: { error in
            (error as! HardwareError).description.contains("already listening")
        }
        board.stop()
        #expect(!fileExists(path))
    }

    @Test func aRegularFileIsNeverRemoved() throws {
        let path = uniqueTemporaryPath(".sock")
        writeFile(path, "not a socket")
        defer { unlink(path) }
        let profile = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        let board = SimulatedBoard(profile: profile, socketPath: path)
        #expect {
            try board.start(on: Reactor())
        } throws: { error in
            (error as! HardwareError).description.contains("is not a socket")
        }
        #expect(fileExists(path))
    }

    @Test func scanningBeforeStartIsAnError() throws {
        let profile = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        let board = SimulatedBoard(profile: profile, socketPath: uniqueTemporaryPath(".sock"))
        #expect {
            try board.scanner.startScan { _ in }
        } throws: { error in
            (error as! HardwareError).code == .adapterDown
        }
    }
}

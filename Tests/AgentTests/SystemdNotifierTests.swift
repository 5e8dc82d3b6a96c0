import Agent
import Foundation
import Reactor
import Testing

/// A datagram socket standing in for systemd's notification socket.
private final class NotifySocket {
    let path: String
    let fd: Int32

    init() {
        path = NSTemporaryDirectory() + "nanoedge-notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(bound == 0, "bind \(path): \(errno)")
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}

// Process-wide environment variables: one test at a time.
@Suite(.serialized) struct SystemdNotifierTests {
    @Test func sendsToTheNotifySocket() throws {
        let manager = NotifySocket()
        let notifier = try #require(SystemdNotifier(socketPath: manager.path))
        #expect(notifier.send("READY=1"))
        #expect(manager.receive() == "READY=1")
    }

    @Test func outsideSystemdThereIsNothingToNotify() {
        unsetenv("NOTIFY_SOCKET")
        #expect(SystemdNotifier.fromEnvironment() == nil)
        #expect(SystemdNotifier.start(on: Reactor()) == nil)
    }

    @Test func readyThenWatchdogPingsFromTheReactor() throws {
        let manager = NotifySocket()
        setenv("NOTIFY_SOCKET", manager.path, 1)
        setenv("WATCHDOG_USEC", "100000", 1)
        setenv("WATCHDOG_PID", String(getpid()), 1)
        defer {
            unsetenv("NOTIFY_SOCKET")
            unsetenv("WATCHDOG_USEC")
            unsetenv("WATCHDOG_PID")
        }
        #expect(SystemdNotifier.watchdogMilliseconds() == 100)
        let reactor = Reactor()
        let notifier = SystemdNotifier.start(on: reactor, status: "device d1")
        #expect(notifier != nil)
        #expect(manager.receive() == "READY=1\nSTATUS=device d1")
        var pings = 0
        for _ in 0..<100 where pings < 3 {
            reactor.runOnce(maxWaitMilliseconds: 20)
            while let message = manager.receive() {
                #expect(message == "WATCHDOG=1")
                pings += 1
            }
        }
        #expect(pings >= 3)
    }

    @Test func watchdogForAnotherProcessIsIgnored() {
        setenv("WATCHDOG_USEC", "100000", 1)
        setenv("WATCHDOG_PID", "1", 1)
        defer {
            unsetenv("WATCHDOG_USEC")
            unsetenv("WATCHDOG_PID")
        }
        #expect(SystemdNotifier.watchdogMilliseconds() == nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A single-threaded event loop: file descriptors, timers and work handed over from other threads.
///
/// Everything except `execute(_:)` and `stop()` must be called on the loop's own thread. libcoap is
/// not thread-safe, so each libcoap context lives on exactly one reactor and is only touched from it.
public final class Reactor: @unchecked Sendable {
    public struct WatchID: Hashable, Sendable { let raw: Int }
    public struct TimerID: Hashable, Sendable { let raw: Int }

    public struct Readiness: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let readable = Readiness(rawValue: Int16(POLLIN))
        public static let writable = Readiness(rawValue: Int16(POLLOUT))
        public static let hangup = Readiness(rawValue: Int16(POLLHUP))
        public static let error = Readiness(rawValue: Int16(POLLERR))
    }

    private struct Watch {
        var fd: Int32
        var events: Readiness
        var callback: (Readiness) -> Void
    }

    private struct Timer {
        var id: Int
        var deadline: Int64
        var callback: () -> Void
    }

    private var watches: [Int: Watch] = [:]
    private var timers: [Timer] = []  // kept sorted by deadline, then id
    /// Hooks asked before each poll for the longest they can wait (ms), e.g. libcoap's retransmit timer.
    private var pollHooks: [Int: () -> Int64?] = [:]
    private var nextID = 1
    /// Self-pipe: other threads write a byte to wake the poll.
    private let wakeFD: Int32
    private let wakeWriteFD: Int32
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private let stopping = Atomic<Bool>(false)
    private let ownerThread = Atomic<UInt>(0)

    public init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe failed: errno \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = fds[0]
        wakeWriteFD = fds[1]
    }

    deinit {
        close(wakeFD)
        close(wakeWriteFD)
    }

    /// True on the thread that runs the loop (or before it started, on any thread).
    public var isOnLoop: Bool {
        let owner = ownerThread.load(ordering: .acquiring)
        return owner == 0 || owner == UInt(bitPattern: Int(bitPattern: pthread_self()))
    }

    // MARK: Monotonic time

    /// Milliseconds on CLOCK_MONOTONIC.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Milliseconds since the Unix epoch on CLOCK_REALTIME, for records that leave the process.
    public static func wallClock() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    // MARK: Loop-thread API

    @discardableResult
    public func watch(fd: Int32, for events: Readiness = .readable,
                      _ callback: @escaping (Readiness) -> Void) -> WatchID {
        let id = allocateID()
        watches[id] = Watch(fd: fd, events: events, callback: callback)
        return WatchID(raw: id)
    }

    public func unwatch(_ id: WatchID) { watches[id.raw] = nil }

    public func updateWatch(_ id: WatchID, events: Readiness) { watches[id.raw]?.events = events }

    @discardableResult
    public func schedule(afterMilliseconds delay: Int64, _ callback: @escaping () -> Void) -> TimerID {
        let id = allocateID()
        let timer = Timer(id: id, deadline: Reactor.now() + max(0, delay), callback: callback)
        let index = timers.firstIndex { ($0.deadline, $0.id) > (timer.deadline, timer.id) } ?? timers.endIndex
        timers.insert(timer, at: index)
        return TimerID(raw: id)
    }

    public func cancel(_ id: TimerID) { timers.removeAll { $0.id == id.raw } }

    @discardableResult
    public func addPollHook(_ hook: @escaping () -> Int64?) -> Int {
        let id = allocateID()
        pollHooks[id] = hook
        return id
    }

    public func removePollHook(_ id: Int) { pollHooks[id] = nil }

    // MARK: Any-thread API

    /// Runs `work` on the loop thread, soon.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(work) }
        wake()
    }

    /// Makes `run()` return after the current iteration.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wake()
    }

    // MARK: Running

    /// Runs the loop on the calling thread until `stop()`.
    public func run() {
        ownerThread.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .releasing)
        defer { ownerThread.store(0, ordering: .releasing) }
        while !stopping.load(ordering: .acquiring) {
            runOnce()
        }
    }

    /// One iteration: wait for readiness or the next deadline, then dispatch.
    public func runOnce(maxWaitMilliseconds: Int64 = 60_000) {
        var wait = maxWaitMilliseconds
        let now = Reactor.now()
        if let first = timers.first { wait = min(wait, max(0, first.deadline - now)) }
        for hook in pollHooks.values {
            if let limit = hook() { wait = min(wait, max(0, limit)) }
        }
        if inbox.withLock({ !$0.isEmpty }) { wait = 0 }

        let order = watches.keys.sorted()
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        for id in order {
            let w = watches[id]!
            fds.append(pollfd(fd: w.fd, events: w.events.rawValue, revents: 0))
        }
        let result = fds.withUnsafeMutableBufferPointer { buf in
            poll(buf.baseAddress, nfds_t(buf.count), Int32(clamping: wait))
        }
        if result < 0 && errno != EINTR {
            preconditionFailure("poll failed: errno \(errno)")
        }
        if result > 0 {
            if fds[0].revents != 0 { drainWake() }
            for (slot, id) in order.enumerated() where fds[slot + 1].revents != 0 {
                // A callback may have removed a later watch; skip those.
                guard let w = watches[id] else { continue }
                w.callback(Readiness(rawValue: fds[slot + 1].revents))
            }
        }
        runInbox()
        runDueTimers()
    }

    private func runInbox() {
        let work = inbox.withLock { queue -> [@Sendable () -> Void] in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for item in work { item() }
    }

    private func runDueTimers() {
        let now = Reactor.now()
        while let first = timers.first, first.deadline <= now {
            timers.removeFirst()
            first.callback()
        }
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWriteFD, &one, 1)  // a full pipe already means "awake"; EAGAIN is fine
    }

    private func drainWake() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while read(wakeFD, &buffer, 32) > 0 {}
    }

    private func allocateID() -> Int {
        defer { nextID += 1 }
        return nextID
    }
}

extension Reactor {
    /// Starts a reactor on a new thread of its own and returns once it runs.
    public static func startThread() -> Reactor {
        let reactor = Reactor()
        let box = Unmanaged.passRetained(reactor)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let reactor = Unmanaged<Reactor>.fromOpaque(arg!).takeRetainedValue()
            reactor.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
        return reactor
    }
}

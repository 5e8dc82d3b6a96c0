import NIOPosix
import Synchronization
import UpdateStore

/// Database connections for request handlers. Each `UpdateStore` is used by one thread at a time:
/// a handler checks one out, runs its blocking calls on the pool's own threads (not the event loops,
/// and not the thread pool that streams files), and gives it back.
public final class StorePool: Sendable {
    final class Box: @unchecked Sendable {
        // Only the thread that checked the box out touches the store.
        let store: UpdateStore
        init(_ store: UpdateStore) { self.store = store }
    }

    private struct State {
        var free: [Box] = []
        var opened = 0
        var waiters: [CheckedContinuation<Box?, Never>] = []
    }

    private let open: @Sendable () throws(StoreError) -> UpdateStore
    private let state = Mutex(State())
    private let threads: NIOThreadPool
    public let size: Int
    /// Where the database is, for messages.
    public let location: String

    /// Opens one connection at once, so a wrong URL or path fails at start-up.
    public init(location: String, size: Int = 4) throws(StoreError) {
        self.location = location
        self.size = max(1, size)
        open = { () throws(StoreError) -> UpdateStore in try UpdateStore.open(location) }
        let first = try UpdateStore.open(location)
        state.withLock {
            $0.free.append(Box(first))
            $0.opened = 1
        }
        threads = NIOThreadPool(numberOfThreads: self.size)
        threads.start()
    }

    deinit {
        threads.shutdownGracefully { _ in }
    }

    /// Runs `body` with a store on a pool thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable (UpdateStore) throws(StoreError) -> T) async throws(StoreError) -> T {
        let box = try await checkout()
        var broken = false
        defer { checkin(box, broken: broken) }
        do {
            return try await threads.runIfActive { () throws -> T in
                do { return try body(box.store) } catch { throw error }
            }
        } catch let error as StoreError {
            broken = error.isRetryable && error.code == .database
            throw error
        } catch {
            throw StoreError(.database, "the store's thread pool stopped: \(error)")
        }
    }

    private func checkout() async throws(StoreError) -> Box {
        enum Next { case box(Box), open, wait }
        let next: Next = state.withLock { state in
            if let box = state.free.popLast() { return .box(box) }
            if state.opened < size {
                state.opened += 1
                return .open
            }
            return .wait
        }
        switch next {
        case .box(let box):
            return box
        case .open:
            let open = self.open
            do {
                return try await threads.runIfActive { Box(try open()) }
            } catch {
                state.withLock { $0.opened -= 1 }
                throw (error as? StoreError) ?? StoreError(.database, "\(error)", retryable: true)
            }
        case .wait:
            let box: Box? = await withCheckedContinuation { continuation in
                let ready: Box? = state.withLock { state in
                    if let box = state.free.popLast() { return box }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
            // nil: a broken connection was dropped; open a new one in its place.
            if let box { return box }
            return try await checkout()
        }
    }

    private func checkin(_ box: Box, broken: Bool) {
        let waiter: CheckedContinuation<Box?, Never>? = state.withLock { state in
            if broken { state.opened -= 1 }
            if !state.waiters.isEmpty {
                return state.waiters.removeFirst()
            }
            if !broken { state.free.append(box) }
            return nil
        }
        waiter?.resume(returning: broken ? nil : box)
    }
}

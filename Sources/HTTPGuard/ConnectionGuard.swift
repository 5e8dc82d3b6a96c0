import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// Limits for an HTTP listener that anyone on the site network can reach. Without them about 1,000
/// idle TCP connections used up the process's 1,024 descriptors and every client was locked out.
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection with no request in progress is closed after this many seconds. The timer runs from
    /// the last complete request part (or the last response), so it also bounds a request head that
    /// trickles in a byte at a time, and a TLS handshake that never finishes.
    public var idleTimeoutSeconds: Int64
    /// Open connections allowed from one IP address; more are closed as soon as they are accepted.
    public var perAddress: Int

    public init(idleTimeoutSeconds: Int64 = 30, perAddress: Int = 64) {
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.perAddress = perAddress
    }
}

/// Open connections per remote address, shared by every connection of one listener.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    public init(limit: Int) { self.limit = limit }

    /// Counts a new connection from `address`, or returns false when that address is at its limit.
    func acquire(_ address: String) -> Bool {
        counts.withLock { counts in
            let open = counts[address, default: 0]
            guard open < limit else { return false }
            counts[address] = open + 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { counts in
            let open = counts[address, default: 0] - 1
            counts[address] = open > 0 ? open : nil
        }
    }

    /// Connections now open from `address`.
    public func open(from address: String) -> Int { counts.withLock { $0[address, default: 0] } }
}

/// Closes a connection at once when its address already holds `limit` open connections.
final class PerAddressLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let counter: ConnectionCounter
    private var address: String?
    private var refused = false

    init(counter: ConnectionCounter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        // Unix-domain sockets have no IP address; they are local and not limited.
        guard let ip = context.channel.remoteAddress?.ipAddress else { return }
        if counter.acquire(ip) {
            address = ip
        } else {
            refused = true
            if context.channel.isActive { context.close(promise: nil) }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        if refused {
            context.close(promise: nil)
        } else {
            context.fireChannelActive()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let address { counter.release(address) }
        address = nil
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with an idle timeout and a per-address connection cap.
    public static func guarded(_ limits: ConnectionLimits, counter: ConnectionCounter? = nil) -> HTTPServerBuilder {
        let counter = counter ?? ConnectionCounter(limit: limits.perAddress)
        return .http1(configuration: .init(additionalChannelHandlers: [PerAddressLimit(counter: counter)],
                                           idleTimeout: .seconds(limits.idleTimeoutSeconds)))
    }
}

/// Raises the soft limit on open files to the hard limit, as systemd's `LimitNOFILE=` does for the
/// units, so a server started by hand gets the same room. Returns the soft limit now in force.
@discardableResult
public func raiseOpenFileLimit() -> UInt64 {
    var limits = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 0 }
    if limits.rlim_cur < limits.rlim_max {
        var raised = limits
        raised.rlim_cur = limits.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
    }
    return UInt64(limits.rlim_cur)
}

/// True for 127.0.0.0/8, ::1 and `localhost`: a listener only this host can reach.
public func isLoopback(host: String) -> Bool {
    let host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    return host == "localhost" || host == "::1" || host.hasPrefix("127.")
}

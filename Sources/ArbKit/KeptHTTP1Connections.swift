import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Where a request goes: scheme, host and port, split from its URL once.
struct HTTPOrigin: Hashable, Sendable {
    var tls: Bool
    /// The host as connected to (an IPv6 address without its brackets).
    var host: String
    var port: Int
    /// The `Host` header: the authority as written in the URL, without a default port.
    var hostHeader: String

    /// `http(s)://host[:port][/path][?query]` → the origin and the request target (`/path?query`,
    /// `/` when empty); nil for any other scheme, a user part, or a bad port.
    static func split(_ url: String) -> (origin: HTTPOrigin, target: String)? {
        guard let separator = url.range(of: "://") else { return nil }
        let tls: Bool
        switch url[..<separator.lowerBound].lowercased() {
        case "http": tls = false
        case "https": tls = true
        default: return nil
        }
        let rest = url[separator.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = Substring(authority)
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else { return nil }
        var port = tls ? 443 : 80
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else { return nil }
            port = value
        }
        var target = rest[authorityEnd...]
        if let fragment = target.firstIndex(of: "#") { target = target[..<fragment] }
        let requestTarget = target.isEmpty ? "/" : target.hasPrefix("?") ? "/" + target : String(target)
        let defaultPort = port == (tls ? 443 : 80)
        let hostHeader = defaultPort ? (authority.hasPrefix("[") ? "[\(host)]" : String(host)) : String(authority)
        return (HTTPOrigin(tls: tls, host: String(host), port: port, hostHeader: hostHeader), requestTarget)
    }
}

/// The name a TLS client sends (SNI) and checks the certificate against: the host, or nil for an
/// IP address, which is checked against the certificate's IP entries instead.
public func tlsServerName(host: String) -> String? {
    host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
}

/// Kept-alive HTTP/1.1 connections, one request at a time on each, straight on SwiftNIO: a
/// request is one hop to the connection's event loop, its bytes as `VenueHTTPTransport.prepare`
/// wrote them, NIO's own response decoder, and the socket — the venues' order path without a
/// general-purpose client's request machinery.
///
/// What an answer that never came means is the caller's business (`VenueTransportError`: the
/// request may or may not have reached the venue). The one case retried is a connection that had
/// already closed while idle when the request was handed to it: nothing was written to it.
final class KeptHTTP1Connections: Sendable {
    private struct Pool {
        /// Idle connections by origin, the most recently used last.
        var idle: [HTTPOrigin: [KeptHTTP1Connection]] = [:]
        var shutDown = false
    }

    private let pool = Mutex(Pool())
    private let tlsContext = Mutex<NIOSSLContext?>(nil)
    private let connectTimeout: TimeAmount
    private let additionalTrustRootsFile: String?
    /// A connection idle longer than this is closed instead of used.
    let idleLimit: Duration
    /// At most this many idle connections are kept per origin.
    static let idlePerOrigin = 8

    init(connectTimeoutMilliseconds: Int64, idleLimit: Duration = .seconds(60), additionalTrustRootsFile: String? = nil) {
        connectTimeout = .milliseconds(connectTimeoutMilliseconds)
        self.idleLimit = idleLimit
        self.additionalTrustRootsFile = additionalTrustRootsFile
    }

    /// Sends one request and reads its whole answer. `deadline` bounds connecting and answering.
    func send(_ request: PreparedVenueRequest, deadline: ContinuousClock.Instant, maxBodyBytes: Int) async throws -> VenueHTTPResponse {
        var reusedTried = 0
        while true {
            let (connection, reused) = try await acquire(request.origin, deadline: deadline)
            do {
                let response = try await connection.execute(request, deadline: deadline, maxBodyBytes: maxBodyBytes)
                release(connection)
                return response
            } catch KeptHTTP1Failure.notSent where reused && reusedTried < Self.idlePerOrigin {
                // It had closed while idle (the venue's idle timeout): nothing was written.
                reusedTried += 1
            }
        }
    }

    /// How many idle connections are kept for `origin` (the tests' window on reuse).
    func idleCount(_ origin: HTTPOrigin) -> Int {
        pool.withLock { $0.idle[origin]?.count ?? 0 }
    }

    func shutdown() async {
        let all = pool.withLock { pool -> [KeptHTTP1Connection] in
            pool.shutDown = true
            defer { pool.idle = [:] }
            return pool.idle.values.flatMap { $0 }
        }
        for connection in all { try? await connection.channel.close() }
    }

    /// An idle kept connection for `origin` (`reused`), else a new one (internal for the tests).
    func acquire(_ origin: HTTPOrigin, deadline: ContinuousClock.Instant) async throws -> (KeptHTTP1Connection, reused: Bool) {
        let now = ContinuousClock.now
        var stale: [KeptHTTP1Connection] = []
        let kept = pool.withLock { pool -> KeptHTTP1Connection? in
            while let candidate = pool.idle[origin]?.popLast() {
                if candidate.isOpen && now - candidate.idleSince < idleLimit { return candidate }
                stale.append(candidate)
            }
            return nil
        }
        for connection in stale { connection.channel.close(promise: nil) }
        if let kept { return (kept, true) }
        return (try await connect(origin, deadline: deadline), false)
    }

    private func release(_ connection: KeptHTTP1Connection) {
        guard connection.isOpen else { return }
        connection.idleSince = .now
        let kept = pool.withLock { pool -> Bool in
            guard !pool.shutDown, (pool.idle[connection.origin]?.count ?? 0) < Self.idlePerOrigin else { return false }
            pool.idle[connection.origin, default: []].append(connection)
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    private func context() throws -> NIOSSLContext {
        try tlsContext.withLock { cached in
            if let cached { return cached }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = ["http/1.1"]
            if let additionalTrustRootsFile { configuration.additionalTrustRoots = [.file(additionalTrustRootsFile)] }
            let made = try NIOSSLContext(configuration: configuration)
            cached = made
            return made
        }
    }

    private func connect(_ origin: HTTPOrigin, deadline: ContinuousClock.Instant) async throws -> KeptHTTP1Connection {
        let remaining = deadline - .now
        guard remaining > .zero else { throw KeptHTTP1Failure.timedOut }
        let limit = min(connectTimeout, .nanoseconds(remaining.nanosecondsClamped))
        let tls: NIOSSLContext?
        do { tls = origin.tls ? try context() : nil } catch {
            throw KeptHTTP1Failure.other("cannot set up TLS: \(error)")
        }
        let serverName = tlsServerName(host: origin.host)
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(limit)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let tls { try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                        // The request goes out as the bytes `VenueHTTPTransport.prepare` wrote; the
                        // decoder hears each request's method (a HEAD answer has no body).
                        try sync.addHandler(PreparedRequestWriter())
                        try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                        try sync.addHandler(KeptHTTP1Handler())
                    }
                }
                .connect(host: origin.host, port: origin.port).get()
        } catch {
            throw KeptHTTP1Failure.other("cannot connect to \(origin.hostHeader): \(error)")
        }
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: KeptHTTP1Handler.self), eventLoop: channel.eventLoop)
        }.get()
        return KeptHTTP1Connection(channel: channel, origin: origin, handler: handler)
    }
}

private extension Duration {
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        guard seconds < Int64.max / 1_000_000_000 - 1 else { return .max }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

enum KeptHTTP1Failure: Error, CustomStringConvertible {
    /// The connection was closed before anything of the request was written to it.
    case notSent
    case timedOut
    case closedBeforeAnswer
    case tooLarge(Int)
    case other(String)

    var description: String {
        switch self {
        case .notSent: "the connection had closed; nothing was sent"
        case .timedOut: "no whole answer before the deadline (the connection is closed)"
        case .closedBeforeAnswer: "the connection closed before the whole answer came"
        case .tooLarge(let limit): "the answer is larger than \(limit) bytes (the connection is closed)"
        case .other(let text): text
        }
    }
}

/// One kept connection; its handler lives on the channel's event loop.
final class KeptHTTP1Connection: Sendable {
    let channel: Channel
    let origin: HTTPOrigin
    private let handler: NIOLoopBound<KeptHTTP1Handler>
    private let idleInstant = Mutex(ContinuousClock.now)

    init(channel: Channel, origin: HTTPOrigin, handler: NIOLoopBound<KeptHTTP1Handler>) {
        self.channel = channel
        self.origin = origin
        self.handler = handler
    }

    var isOpen: Bool { channel.isActive }

    var idleSince: ContinuousClock.Instant {
        get { idleInstant.withLock { $0 } }
        set { idleInstant.withLock { $0 = newValue } }
    }

    func execute(_ request: PreparedVenueRequest, deadline: ContinuousClock.Instant, maxBodyBytes: Int) async throws -> VenueHTTPResponse {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: VenueHTTPResponse.self)
        let remaining = deadline - .now
        let handler = self.handler
        loop.execute {
            handler.value.start(request, promise: promise,
                                timeout: .nanoseconds(max(0, remaining.nanosecondsClamped)), maxBodyBytes: maxBodyBytes)
        }
        return try await promise.futureResult.get()
    }
}

/// Writes one request and collects its answer; on the channel's event loop only.
final class KeptHTTP1Handler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var closed = false
    private var pending: EventLoopPromise<VenueHTTPResponse>?
    private var timer: Scheduled<Void>?
    private var status = 0
    private var date: String?
    private var keepAlive = true
    private var body: [UInt8] = []
    private var maxBodyBytes = 0

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func start(_ request: PreparedVenueRequest, promise: EventLoopPromise<VenueHTTPResponse>, timeout: TimeAmount, maxBodyBytes: Int) {
        guard let context, !closed, context.channel.isActive, pending == nil else {
            promise.fail(KeptHTTP1Failure.notSent)
            return
        }
        pending = promise
        status = 0
        date = nil
        keepAlive = true
        body.removeAll(keepingCapacity: true)
        self.maxBodyBytes = maxBodyBytes
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            this.value.fail(KeptHTTP1Failure.timedOut)
        }
        // The head tells the decoder the method; `PreparedRequestWriter` sends the bytes alone.
        context.write(wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: request.method, uri: ""))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            this.value.fail(KeptHTTP1Failure.other("writing the request failed: \(error)"))
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(request.bytes))), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard pending != nil else { return unsolicited(context) }
            status = Int(head.status.code)
            date = head.headers.first(name: "date")
            keepAlive = keepAlive && head.isKeepAlive
        case .body(let buffer):
            guard pending != nil else { return unsolicited(context) }
            guard body.count + buffer.readableBytes <= maxBodyBytes else {
                return fail(KeptHTTP1Failure.tooLarge(maxBodyBytes))
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let promise = pending else { return unsolicited(context) }
            pending = nil
            timer?.cancel()
            timer = nil
            let response = VenueHTTPResponse(status: status, date: date, body: body)
            if !keepAlive {
                closed = true
                context.close(promise: nil)
            }
            promise.succeed(response)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        fail(KeptHTTP1Failure.closedBeforeAnswer)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(KeptHTTP1Failure.other("\(error)"))
    }

    /// Fails the request in progress, if any, and closes the connection: its state is unknown.
    private func fail(_ failure: KeptHTTP1Failure) {
        closed = true
        timer?.cancel()
        timer = nil
        let promise = pending
        pending = nil
        context?.close(promise: nil)
        promise?.fail(failure)
    }

    private func unsolicited(_ context: ChannelHandlerContext) {
        closed = true
        context.close(promise: nil)
    }
}

/// Below the response decoder: a request's head (which the decoder has seen, for its method) is
/// dropped, and its one body part — the whole request as `VenueHTTPTransport.prepare` wrote it,
/// head and body — goes to the socket as it is.
final class PreparedRequestWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head, .end:
            promise?.succeed(())
        case .body(.byteBuffer(let bytes)):
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .body(.fileRegion):
            promise?.fail(KeptHTTP1Failure.other("a file region is not a prepared request"))
        }
    }
}

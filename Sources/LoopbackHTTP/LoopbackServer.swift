import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// What a websocket endpoint of a `LoopbackServer` does: decide per handshake whether to upgrade
/// (a refused one falls through to the HTTP answer), and hear each connection and text message.
public struct LoopbackWebSocketRoutes: Sendable {
    public var accept: @Sendable (_ path: String, _ headers: [String: String]) -> Bool
    public var connected: @Sendable (LoopbackConnection) -> Void
    public var text: @Sendable (LoopbackConnection, String) -> Void

    public init(accept: @escaping @Sendable (_ path: String, _ headers: [String: String]) -> Bool,
                connected: @escaping @Sendable (LoopbackConnection) -> Void,
                text: @escaping @Sendable (LoopbackConnection, String) -> Void) {
        self.accept = accept
        self.connected = connected
        self.text = text
    }
}

/// One accepted websocket connection.
public final class LoopbackConnection: Sendable {
    let channel: any Channel
    public let path: String
    /// Header names upper-cased.
    public let headers: [String: String]

    init(channel: any Channel, path: String, headers: [String: String]) {
        self.channel = channel
        self.path = path
        self.headers = headers
    }

    /// False once the connection closed, from either end.
    public var isOpen: Bool { channel.isActive }

    /// `flushing`, when given, runs on the event loop just before this frame's flush goes to the
    /// socket (the write system call follows at once): the instant the message leaves.
    public func send(_ text: String, flushing: (@Sendable () -> Void)? = nil) {
        let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))
        if let flushing { beforeFlush.withLock { $0 = flushing } }
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Taken by `FlushMark` at the next flush.
    let beforeFlush = Mutex<(@Sendable () -> Void)?>(nil)

    /// Drops the connection without a close frame (as a network failure looks).
    public func drop() { channel.close(promise: nil) }
}

/// An HTTP/1.1 server on 127.0.0.1 (a port the kernel picks, unless one is asked for) that hands
/// every request to one async function and, when given routes, upgrades websocket handshakes on
/// the same port: the base of the loopback exchange, the tests' exchanges and webhook receivers.
public final class LoopbackServer: Sendable {
    public let port: Int
    private let channel: any Channel
    private let connections: Connections

    /// The connections a server accepted and has not seen closed.
    final class Connections: Sendable {
        private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

        func add(_ channel: any Channel) {
            let key = ObjectIdentifier(channel)
            open.withLock { $0[key] = channel }
            channel.closeFuture.whenComplete { [self] _ in open.withLock { _ = $0.removeValue(forKey: key) } }
        }

        func all() -> [any Channel] { open.withLock { Array($0.values) } }
    }

    private init(channel: any Channel, connections: Connections) {
        self.channel = channel
        self.connections = connections
        self.port = channel.localAddress?.port ?? 0
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Stops listening and closes every connection it accepted: a client keeping one alive
    /// (the process-wide venue transport does) must not reach this server's handlers after it
    /// stopped — the kernel can give the same port to the next server, and a kept connection
    /// would then take that server's requests to this one.
    public func stop() async {
        try? await channel.close()
        for connection in connections.all() { try? await connection.close() }
    }

    /// How requests are answered: on the event loop at once (a function that never waits), or
    /// through an async function on the cooperative pool (one that awaits, e.g. a paper venue).
    public enum Answerer: Sendable {
        case immediate(@Sendable (LoopbackRequest) -> LoopbackAnswer)
        case async(@Sendable (LoopbackRequest) async -> LoopbackAnswer)
    }

    /// `received`, when given, hears each request's method and URI on the event loop the moment
    /// its last byte has been read (`.end`), before anything else is done with it: arb-bench's
    /// "request fully received" instant.
    public static func start(port: Int = 0, websocket: LoopbackWebSocketRoutes? = nil,
                             received: (@Sendable (_ method: String, _ uri: String) -> Void)? = nil,
                             http answer: @escaping @Sendable (LoopbackRequest) async -> LoopbackAnswer) async throws -> LoopbackServer {
        try await start(port: port, websocket: websocket, received: received, answerer: .async(answer))
    }

    public static func start(port: Int = 0, websocket: LoopbackWebSocketRoutes? = nil,
                             received: (@Sendable (_ method: String, _ uri: String) -> Void)? = nil,
                             answerer answer: Answerer) async throws -> LoopbackServer {
        let connections = Connections()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                guard let websocket else {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(HTTPHandler(answer: answer, received: received), name: "http")
                    }
                }
                let upgrader = NIOWebSocketServerUpgrader(
                    shouldUpgrade: { channel, head in
                        channel.eventLoop.makeSucceededFuture(websocket.accept(head.uri, Self.headers(head)) ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, head in
                        let connection = LoopbackConnection(channel: channel, path: head.uri, headers: Self.headers(head))
                        return channel.pipeline.removeHandler(name: "http").flatMap {
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(FlushMark(connection: connection), position: .first)
                                try channel.pipeline.syncOperations.addHandler(FrameHandler(connection: connection, text: websocket.text))
                            }
                        }.map { websocket.connected(connection) }
                    })
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                ).flatMap {
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTPHandler(answer: answer, received: received), name: "http")
                    }
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return LoopbackServer(channel: channel, connections: connections)
    }

    static func headers(_ head: HTTPRequestHead) -> [String: String] {
        Dictionary(head.headers.map { ($0.name.uppercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// `Wed, 02 Dec 2026 10:15:30 GMT`, as a `Date` header.
    public static func httpDate(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    /// Reads a request, awaits its answer off the event loop, writes it back (or closes).
    private final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let answer: Answerer
        let received: (@Sendable (_ method: String, _ uri: String) -> Void)?
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(answer: Answerer, received: (@Sendable (_ method: String, _ uri: String) -> Void)?) {
            self.answer = answer
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
            case .body(var buffer):
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                guard let head else { return }
                received?(head.method.rawValue, head.uri)
                let request = LoopbackRequest(method: head.method.rawValue, uri: head.uri, headers: LoopbackServer.headers(head), body: body)
                switch answer {
                case .immediate(let answer):
                    write(answer(request), version: head.version, context: context)
                case .async(let answer):
                    let loop = context.eventLoop
                    let bound = NIOLoopBound((self, context), eventLoop: loop)
                    let version = head.version
                    Task {
                        let reply = await answer(request)
                        loop.execute {
                            let (handler, context) = bound.value
                            handler.write(reply, version: version, context: context)
                        }
                    }
                }
            }
        }

        func write(_ reply: LoopbackAnswer, version: HTTPVersion, context: ChannelHandlerContext) {
            switch reply {
            case .reset:
                context.close(promise: nil)
            case .respond(let status, let text):
                write(.respondTyped(status, text, contentType: "application/json"), version: version, context: context)
            case .respondTyped(let status, let text, let contentType):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: contentType)
                headers.add(name: "Content-Length", value: String(text.utf8.count))
                headers.add(name: "Date", value: LoopbackServer.httpDate())
                context.write(wrapOutboundOut(.head(HTTPResponseHead(
                    version: version, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    private final class FrameHandler: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let connection: LoopbackConnection
        let text: @Sendable (LoopbackConnection, String) -> Void

        init(connection: LoopbackConnection, text: @escaping @Sendable (LoopbackConnection, String) -> Void) {
            self.connection = connection
            self.text = text
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.opcode {
            case .text:
                var data = frame.unmaskedData
                text(connection, data.readString(length: data.readableBytes) ?? "")
            case .ping:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            case .connectionClose:
                context.close(promise: nil)
            default:
                break
            }
        }
    }
}

/// First in a websocket connection's pipeline (next to the socket): runs the hook a `send` left
/// just before passing the flush on, which writes to the socket at once.
private final class FlushMark: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    let connection: LoopbackConnection

    init(connection: LoopbackConnection) { self.connection = connection }

    func flush(context: ChannelHandlerContext) {
        connection.beforeFlush.withLock { hook in
            defer { hook = nil }
            return hook
        }?()
        context.flush()
    }
}

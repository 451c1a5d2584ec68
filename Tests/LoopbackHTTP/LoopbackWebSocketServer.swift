import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A websocket server on 127.0.0.1 for the book feeds' tests: it decides per handshake whether
/// to accept (a refused one gets HTTP 401), hands each text message to the test, and lets the
/// test send text or drop the connection. Pings are answered.
public final class LoopbackWebSocketServer: Sendable {
    /// One accepted connection.
    public final class Connection: Sendable {
        let channel: any Channel
        public let path: String
        /// Header names upper-cased.
        public let headers: [String: String]

        init(channel: any Channel, path: String, headers: [String: String]) {
            self.channel = channel
            self.path = path
            self.headers = headers
        }

        public func send(_ text: String) {
            let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))
            channel.writeAndFlush(frame, promise: nil)
        }

        /// Drops the connection without a close frame (as a network failure looks).
        public func drop() { channel.close(promise: nil) }
    }

    public let port: Int
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
        port = channel.localAddress?.port ?? 0
    }

    public func url(_ path: String) -> String { "ws://127.0.0.1:\(port)\(path)" }

    public func stop() async { try? await channel.close() }

    public static func start(accept: @escaping @Sendable (_ path: String, _ headers: [String: String]) -> Bool,
                             connected: @escaping @Sendable (Connection) -> Void,
                             text: @escaping @Sendable (Connection, String) -> Void) async throws -> LoopbackWebSocketServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    shouldUpgrade: { channel, head in
                        let headers = Dictionary(head.headers.map { ($0.name.uppercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
                        return channel.eventLoop.makeSucceededFuture(accept(head.uri, headers) ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, head in
                        let headers = Dictionary(head.headers.map { ($0.name.uppercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
                        let connection = Connection(channel: channel, path: head.uri, headers: headers)
                        return channel.pipeline.removeHandler(name: "refuser").flatMap {
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(FrameHandler(connection: connection, text: text))
                            }
                        }.map { connected(connection) }
                    })
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                ).flatMap {
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Refuser(), name: "refuser") }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoopbackWebSocketServer(channel: channel)
    }

    /// Answers a handshake the test refused (no upgrade happened) with 401.
    private final class Refuser: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .unauthorized, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.close(promise: nil)
        }
    }

    private final class FrameHandler: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let connection: Connection
        let text: @Sendable (Connection, String) -> Void

        init(connection: Connection, text: @escaping @Sendable (Connection, String) -> Void) {
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

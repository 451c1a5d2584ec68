import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request as the loopback server read it: header names upper-cased.
public struct LoopbackRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, uri: String, headers: [String: String], body: [UInt8]) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }

    /// The path without the query.
    public var path: String { String(uri.prefix { $0 != "?" }) }
    public var bodyText: String? { body.isEmpty ? nil : String(decoding: body, as: UTF8.self) }

    /// `?a=1&b=x%20y` → `["a": "1", "b": "x y"]`.
    public var query: [String: String] {
        guard let mark = uri.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(parts[0])] = parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? String(parts[1]) : ""
        }
        return out
    }
}

/// What the server does with a request: answer it (JSON, with a `Date` header), or close the
/// connection with no answer (a lost answer, as a reset or a timeout looks to the client).
public enum LoopbackAnswer: Sendable {
    case respond(Int, String)
    case reset
}

/// An HTTP/1.1 server on 127.0.0.1 (a port the kernel picks) that hands every request to one
/// function: the base of the tests' venue exchanges and webhook receivers.
public final class LoopbackHTTPServer: Sendable {
    public let port: Int
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    public static func start(_ answer: @escaping @Sendable (LoopbackRequest) -> LoopbackAnswer) async throws -> LoopbackHTTPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(answer: answer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoopbackHTTPServer(channel: channel)
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    public func stop() async { try? await channel.close() }

    /// `Wed, 02 Dec 2026 10:15:30 GMT`, as a `Date` header.
    public static func httpDate(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let answer: @Sendable (LoopbackRequest) -> LoopbackAnswer
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(answer: @escaping @Sendable (LoopbackRequest) -> LoopbackAnswer) { self.answer = answer }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
            case .body(var buffer):
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                guard let head else { return }
                let headers = Dictionary(head.headers.map { ($0.name.uppercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
                switch answer(LoopbackRequest(method: head.method.rawValue, uri: head.uri, headers: headers, body: body)) {
                case .reset:
                    context.close(promise: nil)
                case .respond(let status, let text):
                    var responseHeaders = HTTPHeaders()
                    responseHeaders.add(name: "Content-Type", value: "application/json")
                    responseHeaders.add(name: "Content-Length", value: String(text.utf8.count))
                    responseHeaders.add(name: "Date", value: LoopbackHTTPServer.httpDate())
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(
                        version: head.version, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders))), promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}

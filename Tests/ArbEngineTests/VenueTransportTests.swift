import ArbTestSupport
import Foundation
@testable import ArbKit
import LoopbackHTTP
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Testing

/// An HTTP/1.1 server on 127.0.0.1 that answers each request as its script says, byte for byte,
/// and counts the connections it accepted: what a kept-alive client does with its connections
/// is visible here, where a well-behaved server would hide it.
final class ScriptedHTTPServer: Sendable {
    enum Reply: Sendable {
        /// Raw bytes: status line, headers and body as the script writes them.
        case raw(String)
        /// The raw answer, then the connection closed by the server.
        case rawThenClose(String)
        /// The connection closed with no answer.
        case close
        /// Nothing at all: the request is read and never answered.
        case silent
    }

    struct Seen: Sendable {
        var connections = 0
        var requests: [String] = []
    }

    let port: Int
    private let channel: Channel
    private let seen: Mutex<Seen>

    var connections: Int { seen.withLock { $0.connections } }
    var requests: [String] { seen.withLock { $0.requests } }

    private init(port: Int, channel: Channel) {
        self.port = port
        self.channel = channel
        self.seen = Mutex(Seen())
    }

    /// `script` gets the request's number on the whole server (0, 1, …) and its raw text.
    static func start(tls: NIOSSLContext? = nil, script: @escaping @Sendable (Int, String) -> Reply) async throws -> ScriptedHTTPServer {
        let box = Box()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                box.server?.seen.withLock { $0.connections += 1 }
                return child.eventLoop.makeCompletedFuture {
                    if let tls { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try child.pipeline.syncOperations.addHandler(Handler(box: box, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = ScriptedHTTPServer(port: channel.localAddress?.port ?? 0, channel: channel)
        box.set(server)
        return server
    }

    func url(_ path: String, scheme: String = "http", host: String = "127.0.0.1") -> String { "\(scheme)://\(host):\(port)\(path)" }

    func stop() async { try? await channel.close() }

    private final class Box: Sendable {
        private let stored = Mutex<ScriptedHTTPServer?>(nil)
        var server: ScriptedHTTPServer? { stored.withLock { $0 } }
        func set(_ server: ScriptedHTTPServer) { stored.withLock { $0 = server } }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let box: Box
        let script: @Sendable (Int, String) -> Reply
        var pending: [UInt8] = []

        init(box: Box, script: @escaping @Sendable (Int, String) -> Reply) {
            self.box = box
            self.script = script
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending.append(contentsOf: unwrapInboundIn(data).readableBytesView)
            while let request = takeRequest() {
                guard let server = box.server else { return }
                let number = server.seen.withLock { seen -> Int in
                    seen.requests.append(request)
                    return seen.requests.count - 1
                }
                switch script(number, request) {
                case .raw(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                case .rawThenClose(let text):
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).whenComplete { _ in bound.value.close(promise: nil) }
                case .close:
                    context.close(promise: nil)
                case .silent:
                    break
                }
            }
        }

        /// One whole request (head and a Content-Length body) off the front of what was read.
        private func takeRequest() -> String? {
            let separator: [UInt8] = Array("\r\n\r\n".utf8)
            guard pending.count >= 4,
                  let end = (0...(pending.count - 4)).first(where: { pending[$0..<($0 + 4)].elementsEqual(separator) }) else { return nil }
            let head = String(decoding: pending[..<end], as: UTF8.self)
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let total = end + 4 + length
            guard pending.count >= total else { return nil }
            let request = String(decoding: pending[..<total], as: UTF8.self)
            pending.removeFirst(total)
            return request
        }
    }
}

private func answer(_ body: String, extraHeaders: String = "") -> String {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)"
}

@Suite("The venues' HTTP transport: kept HTTP/1.1 connections on SwiftNIO", .serialized)
struct VenueTransportTests {
    @Test("a URL splits into scheme, host, port and request target; anything else is refused")
    func urlSplit() {
        func split(_ url: String) -> String? {
            HTTPOrigin.split(url).map { "\($0.origin.tls) \($0.origin.host) \($0.origin.port) \($0.origin.hostHeader) \($0.target)" }
        }
        #expect(split("https://api.elections.kalshi.com/trade-api/v2/markets?limit=5") == "true api.elections.kalshi.com 443 api.elections.kalshi.com /trade-api/v2/markets?limit=5")
        #expect(split("http://127.0.0.1:8123/order") == "false 127.0.0.1 8123 127.0.0.1:8123 /order")
        #expect(split("HTTPS://clob.polymarket.com") == "true clob.polymarket.com 443 clob.polymarket.com /")
        #expect(split("https://host:443?x=1#frag") == "true host 443 host /?x=1")
        #expect(split("http://[::1]:9000/p") == "false ::1 9000 [::1]:9000 /p")
        #expect(split("http://[::1]/p") == "false ::1 80 [::1] /p")
        #expect(split("ftp://host/x") == nil)
        #expect(split("https://user:pass@host/x") == nil)
        #expect(split("https://host:0/x") == nil)
        #expect(split("https://host:99999/x") == nil)
        #expect(split("https://host:port/x") == nil)
        #expect(split("https:///x") == nil)
        #expect(split("host/x") == nil)
    }

    @Test("requests in a row share one kept connection and carry Host, Accept, Content-Type and Content-Length")
    func keptConnection() async throws {
        let server = try await ScriptedHTTPServer.start { number, _ in .raw(answer("{\"n\":\(number)}", extraHeaders: "Date: Fri, 04 Dec 2026 16:00:00 GMT\r\n")) }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        for number in 0..<3 {
            let response = try await transport.send(method: "POST", url: server.url("/order?x=1"), headers: [("X-Key", "k")],
                                                    body: "{\"a\":1}", timeoutMilliseconds: 5_000)
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "{\"n\":\(number)}")
            #expect(response.date == "Fri, 04 Dec 2026 16:00:00 GMT")
        }
        let get = try await transport.send(method: "GET", url: server.url("/markets"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(get.status == 200)
        #expect(server.connections == 1)
        let first = try #require(server.requests.first)
        #expect(first.hasPrefix("POST /order?x=1 HTTP/1.1\r\n"))
        for header in ["Host: 127.0.0.1:\(server.port)", "X-Key: k", "Accept: application/json", "Content-Type: application/json", "Content-Length: 7"] {
            #expect(first.contains("\r\n\(header)\r\n"), "missing \(header) in \(first)")
        }
        #expect(first.hasSuffix("\r\n\r\n{\"a\":1}"))
        let last = try #require(server.requests.last)
        #expect(!last.lowercased().contains("transfer-encoding") && !last.lowercased().contains("content-length"))
        await transport.shutdown()
    }

    @Test("a HEAD answer's Content-Length announces no body: the next answer on the connection is read as its own")
    func headAnswer() async throws {
        let server = try await ScriptedHTTPServer.start { number, _ in
            number == 0 ? .raw("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n") : .raw(answer("{\"n\":\(number)}"))
        }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        let head = try await transport.send(method: "HEAD", url: server.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(head.status == 200 && head.body.isEmpty)
        let next = try await transport.send(method: "GET", url: server.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(String(decoding: next.body, as: UTF8.self) == "{\"n\":1}")
        #expect(server.connections == 1)
        await transport.shutdown()
    }

    @Test("a loopback server that stops closes its connections: a kept one never takes the next server's requests on the same port to it")
    func stoppedServerClosesConnections() async throws {
        let first = try await LoopbackServer.start(answerer: .immediate { _ in .respond(200, #"{"server":"first"}"#) })
        let transport = VenueHTTPTransport()
        let before = try await transport.send(method: "GET", url: first.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(String(decoding: before.body, as: UTF8.self) == #"{"server":"first"}"#)
        await first.stop()
        // The kernel may hand a stopped server's port to the next one; here it is asked for.
        let second = try await LoopbackServer.start(port: first.port, answerer: .immediate { _ in .respond(200, #"{"server":"second"}"#) })
        let after = try await transport.send(method: "GET", url: second.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(String(decoding: after.body, as: UTF8.self) == #"{"server":"second"}"#)
        await second.stop()
        await transport.shutdown()
    }

    @Test("a request handed to a connection that has closed is not sent, and says so (the one case send tries again)")
    func closedConnectionSendsNothing() async throws {
        let server = try await ScriptedHTTPServer.start { _, _ in .raw(answer("{}")) }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        let request = try transport.prepare(method: "POST", url: server.url("/order"), headers: [], body: "{}")
        let (connection, reused) = try await transport.connections.acquire(request.origin, deadline: .now + .seconds(5))
        #expect(!reused)
        try await connection.channel.close()
        let failure = await #expect(throws: KeptHTTP1Failure.self) {
            _ = try await connection.execute(request, deadline: .now + .seconds(5), maxBodyBytes: 4_096)
        }
        #expect(failure?.description == KeptHTTP1Failure.notSent.description)
        #expect(server.requests.isEmpty)
        await transport.shutdown()
    }

    @Test("a chunked answer is read whole")
    func chunked() async throws {
        let server = try await ScriptedHTTPServer.start { _, _ in
            .raw("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ok\"\r\n6\r\n:true}\r\n0\r\n\r\n")
        }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        let response = try await transport.send(method: "GET", url: server.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(response.status == 201)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"ok\":true}")
        #expect(response.date == nil)
        await transport.shutdown()
    }

    @Test("an answer saying Connection: close, or a connection the venue closed after answering, is not used again")
    func notKeptWhenClosed() async throws {
        let server = try await ScriptedHTTPServer.start { number, _ in
            switch number {
            case 0: .raw(answer("{}", extraHeaders: "Connection: close\r\n"))
            case 1: .rawThenClose(answer("{}"))
            default: .raw(answer("{\"n\":\(number)}"))
            }
        }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        for number in 0..<3 {
            let response = try await transport.send(method: "GET", url: server.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
            #expect(response.status == 200, "request \(number)")
            // Let the server's close reach the client before the next request.
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.connections == 3)
        #expect(server.requests.count == 3)
        await transport.shutdown()
    }

    @Test("no answer before the deadline, or a connection closed with no answer: a transport error that says which, and the connection is dropped")
    func lostAnswers() async throws {
        let server = try await ScriptedHTTPServer.start { number, _ in
            switch number {
            case 0: .silent
            case 1: .close
            default: .raw(answer("{}"))
            }
        }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        let started = ContinuousClock.now
        let silent = await #expect(throws: VenueTransportError.self) {
            _ = try await transport.send(method: "POST", url: server.url("/order"), headers: [], body: "{}", timeoutMilliseconds: 200)
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(silent?.description == "POST /order: no whole answer before the deadline (the connection is closed)")
        let closed = await #expect(throws: VenueTransportError.self) {
            _ = try await transport.send(method: "POST", url: server.url("/order"), headers: [], body: "{}", timeoutMilliseconds: 5_000)
        }
        #expect(closed?.description == "POST /order: the connection closed before the whole answer came")
        let after = try await transport.send(method: "GET", url: server.url("/x"), headers: [], body: nil, timeoutMilliseconds: 5_000)
        #expect(after.status == 200)
        #expect(server.connections == 3)
        await transport.shutdown()
    }

    @Test("an answer over the size limit fails the request and drops the connection")
    func tooLarge() async throws {
        let server = try await ScriptedHTTPServer.start { _, _ in .raw(answer(String(repeating: "x", count: 5_000))) }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        let request = try transport.prepare(method: "GET", url: server.url("/x"), headers: [], body: nil)
        let connections = transport.connections
        await #expect(throws: KeptHTTP1Failure.self) {
            _ = try await connections.send(request, deadline: .now + .seconds(5), maxBodyBytes: 4_096)
        }
        let whole = try await connections.send(request, deadline: .now + .seconds(5), maxBodyBytes: 8_192)
        #expect(whole.body.count == 5_000)
        #expect(server.connections == 2)
        #expect(connections.idleCount(request.origin) == 1)
        await transport.shutdown()
    }

    @Test("a header holding a line break, or a URL that is not http(s), is refused before anything is sent")
    func refusedBeforeSending() async throws {
        let server = try await ScriptedHTTPServer.start { _, _ in .raw(answer("{}")) }
        defer { Task { await server.stop() } }
        let transport = VenueHTTPTransport()
        let split = await #expect(throws: VenueTransportError.self) {
            _ = try await transport.send(method: "POST", url: server.url("/order"), headers: [("X-Sig", "abc\r\nX-Evil: 1")],
                                         body: "{}", timeoutMilliseconds: 2_000)
        }
        #expect(split?.description == "POST /order: header X-Sig holds a line break or control character; nothing was sent")
        await #expect(throws: VenueTransportError.self) {
            _ = try await transport.send(method: "GET", url: "ftp://127.0.0.1:\(server.port)/x", headers: [], body: nil, timeoutMilliseconds: 2_000)
        }
        await #expect(throws: VenueTransportError.self) {
            _ = try await transport.send(method: "GET", url: server.url("/x"), headers: [("Bad Name", "v")], body: nil, timeoutMilliseconds: 2_000)
        }
        await #expect(throws: VenueTransportError.self) {
            _ = try await transport.send(method: "GET /y HTTP/1.1\r\n", url: server.url("/x"), headers: [], body: nil, timeoutMilliseconds: 2_000)
        }
        #expect(server.connections == 0)
        await transport.shutdown()
    }

    @Test("https: the venue's certificate is checked — trusted through the configured roots it works and the connection is kept; untrusted it fails",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the openssl CLI for a test certificate"))
    func tls() async throws {
        let files = try await SMTPTestCertificate.files.value
        let context = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: files.key, format: .pem))))
        let server = try await ScriptedHTTPServer.start(tls: context) { number, _ in .raw(answer("{\"n\":\(number)}")) }
        defer { Task { await server.stop() } }
        let trusting = VenueHTTPTransport(additionalTrustRootsFile: files.certificate)
        for host in ["localhost", "localhost", "127.0.0.1"] {
            let response = try await trusting.send(method: "GET", url: server.url("/x", scheme: "https", host: host), headers: [],
                                                   body: nil, timeoutMilliseconds: 5_000)
            #expect(response.status == 200)
        }
        // localhost twice on one connection; 127.0.0.1 is another origin.
        #expect(server.connections == 2)
        await trusting.shutdown()
        let plain = VenueHTTPTransport()
        let refused = await #expect(throws: VenueTransportError.self) {
            _ = try await plain.send(method: "GET", url: server.url("/x", scheme: "https", host: "localhost"), headers: [],
                                     body: nil, timeoutMilliseconds: 5_000)
        }
        #expect(refused?.description.contains("GET /x:") == true)
        #expect(server.requests.count == 3)
        await plain.shutdown()
    }
}

import Foundation
import NIOCore
import Synchronization
import NIOPosix
import NIOSSL

/// One SMTP reply: its three-digit code and the text of each of its lines (RFC 5321 §4.2).
struct SMTPReply: Sendable, Equatable {
    var code: Int
    var lines: [String]

    var text: String { "\(code) " + lines.joined(separator: " / ") }
    var isPositive: Bool { (200..<400).contains(code) }
}

/// Why one SMTP conversation failed: the stage it was at, and the server's own reply when it gave one.
struct SMTPFailure: Error, Sendable, CustomStringConvertible {
    var stage: String
    var detail: String
    /// The server's reply code (4xx: try again later; 5xx: refused as configured).
    var code: Int?

    var description: String {
        guard let code else { return "\(stage): \(detail)" }
        let kind = code < 500 ? "a temporary refusal; retried" : "a refusal; check the email settings, retried meanwhile"
        return "\(stage): the server answered \(detail) (\(kind))"
    }
}

/// Splits the byte stream into replies: lines `NNN-text` continue one, `NNN text` ends it.
final class SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply
    static let lineLengthMax = 4_096
    static let linesMax = 100
    private var lines: [String] = []

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > Self.lineLengthMax { throw SMTPFailure(stage: "reading a reply", detail: "a line over \(Self.lineLengthMax) bytes") }
            return .needMoreData
        }
        let length = view.distance(from: view.startIndex, to: newline) + 1
        var bytes = buffer.readBytes(length: length) ?? []
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        let line = String(decoding: bytes, as: UTF8.self)
        guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)), (200...599).contains(code),
              bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-"), lines.count < Self.linesMax else {
            throw SMTPFailure(stage: "reading a reply", detail: "not an SMTP reply: \(MessageText.quoted(String(line.prefix(80))))")
        }
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        if bytes.count > 3 && bytes[3] == UInt8(ascii: "-") { return .continue }
        context.fireChannelRead(wrapInboundOut(SMTPReply(code: code, lines: lines)))
        lines = []
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Hands replies to whoever waits for the next one. Lives on its channel's event loop.
final class SMTPReplyCollector: ChannelInboundHandler {
    typealias InboundIn = SMTPReply
    private var waiting = CircularBuffer<EventLoopPromise<SMTPReply>>()
    private var arrived = CircularBuffer<SMTPReply>()
    private var failure: (any Error)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if let promise = waiting.popFirst() { promise.succeed(reply) } else { arrived.append(reply) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPFailure(stage: "reading a reply", detail: "the server closed the connection"))
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        if failure == nil { failure = error }
        while let promise = waiting.popFirst() { promise.fail(failure!) }
    }

    func next(_ promise: EventLoopPromise<SMTPReply>) {
        if let reply = arrived.popFirst() {
            promise.succeed(reply)
        } else if let failure {
            promise.fail(failure)
        } else {
            waiting.append(promise)
        }
    }
}

/// A small SMTP client (RFC 5321) for alert mail: implicit TLS or STARTTLS (RFC 3207), AUTH PLAIN
/// or LOGIN (RFC 4954), one message per connection. No pooling: alerts are rare, and a fresh
/// connection per message has no stale state to go wrong.
struct SMTPClient: Sendable {
    var host: String
    var port: Int
    var security: EmailSinkConfig.Security
    var username: String?
    var password: String?
    var timeoutMilliseconds: Int64
    var tlsContext: NIOSSLContext?
    /// The name this client gives in EHLO.
    var heloName: String

    init(config: EmailSinkConfig, password: String?, heloName: String) throws {
        host = config.host
        port = config.port
        security = config.security
        username = config.username
        self.password = password
        timeoutMilliseconds = config.timeoutMilliseconds
        self.heloName = heloName
        if config.security == .none {
            tlsContext = nil
        } else {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let caFile = config.caFile { tls.additionalTrustRoots = [.file(caFile)] }
            tlsContext = try NIOSSLContext(configuration: tls)
        }
    }

    /// Sends `message` (headers and body, CRLF lines, not yet dot-stuffed) from `from` to every
    /// address in `to`; returns the server's reply to the end of DATA (its queue id) once the
    /// server has taken responsibility for the message. Throws `SMTPFailure` otherwise.
    func send(from: String, to: [String], message: String) async throws -> SMTPReply {
        let channel = try await connect()
        // One deadline for the whole conversation: at it the connection is closed and the
        // waiting step fails — with the deadline as the reason, whichever step noticed first (a
        // write then fails with "I/O on closed channel", which says nothing to an operator).
        let deadline = SMTPFailure(stage: "the conversation", detail: "no answer within \(timeoutMilliseconds) ms (closed)")
        let passed = Mutex(false)
        let timedOut = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMilliseconds)) {
            passed.withLock { $0 = true }
            channel.pipeline.fireErrorCaught(deadline)
        }
        defer {
            timedOut.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await converse(on: channel, from: from, to: to, message: message)
        } catch {
            if passed.withLock({ $0 }) { throw deadline }
            throw error
        }
    }

    private func converse(on channel: Channel, from: String, to: [String], message: String) async throws -> SMTPReply {
        let session = try await SMTPSession(channel: channel)
        try session.expect(try await session.reply(), stage: "the greeting", 220)
        var extensions = try await session.hello(heloName)
        if security == .starttls {
            guard extensions.contains(where: { $0.uppercased() == "STARTTLS" }) else {
                throw SMTPFailure(stage: "STARTTLS", detail: "the server does not offer STARTTLS; the connection stays unencrypted, "
                                  + "so nothing is sent (use \"tls\" for port 465)")
            }
            try session.expect(try await session.command("STARTTLS"), stage: "STARTTLS", 220)
            try await startTLS(on: channel)
            extensions = try await session.hello(heloName)
        }
        if let username {
            try await authenticate(session, username: username, extensions: extensions)
        }
        let eightBit = extensions.contains { $0.uppercased() == "8BITMIME" }
        try session.expect(try await session.command("MAIL FROM:<\(from)>" + (eightBit ? " BODY=8BITMIME" : "")), stage: "MAIL FROM", 250)
        for address in to {
            try session.expect(try await session.command("RCPT TO:<\(address)>"), stage: "RCPT TO <\(address)>", 250, 251)
        }
        try session.expect(try await session.command("DATA"), stage: "DATA", 354)
        let accepted = try await session.command(Self.dotStuffed(message) + ".")
        try session.expect(accepted, stage: "the message", 250)
        _ = try? await session.command("QUIT")
        return accepted
    }

    private func connect() async throws -> Channel {
        let security = self.security
        let context = self.tlsContext
        let sni = tlsServerName(host: host)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(timeoutMilliseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if security == .tls, let context {
                        try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: sni))
                    }
                    try sync.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try sync.addHandler(SMTPReplyCollector())
                }
            }
        do {
            return try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw SMTPFailure(stage: "connecting to \(host):\(port)", detail: "\(error)")
        }
    }

    private func startTLS(on channel: Channel) async throws {
        guard let context = tlsContext else { return }
        let sni = tlsServerName(host: host)
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: sni), position: .first)
        }.get()
    }

    private func authenticate(_ session: SMTPSession, username: String, extensions: [String]) async throws {
        guard let password else {
            throw SMTPFailure(stage: "AUTH", detail: "a username is configured but there is no password")
        }
        let mechanisms = Set(extensions.filter { $0.uppercased().hasPrefix("AUTH ") || $0.uppercased().hasPrefix("AUTH=") }
            .flatMap { $0.dropFirst(5).split(separator: " ").map { $0.uppercased() } })
        if mechanisms.contains("PLAIN") {
            let credentials = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            try session.expect(try await session.command("AUTH PLAIN " + credentials), stage: "AUTH PLAIN", 235)
        } else if mechanisms.contains("LOGIN") {
            try session.expect(try await session.command("AUTH LOGIN"), stage: "AUTH LOGIN", 334)
            try session.expect(try await session.command(Data(username.utf8).base64EncodedString()), stage: "AUTH LOGIN (user)", 334)
            try session.expect(try await session.command(Data(password.utf8).base64EncodedString()), stage: "AUTH LOGIN", 235)
        } else {
            throw SMTPFailure(stage: "AUTH", detail: "the server offers no PLAIN or LOGIN authentication "
                              + "(offered: \(mechanisms.isEmpty ? "none" : mechanisms.sorted().joined(separator: " ")))")
        }
    }

    /// CRLF line ends, and a line starting with "." gets another (RFC 5321 §4.5.2).
    static func dotStuffed(_ message: String) -> String {
        var lines = message.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines.map { ($0.hasPrefix(".") ? "." : "") + $0.replacingOccurrences(of: "\r", with: "") + "\r\n" }.joined()
    }
}

/// One connection's conversation: a line out, the next reply in.
private struct SMTPSession: Sendable {
    let channel: Channel
    let collector: NIOLoopBound<SMTPReplyCollector>

    init(channel: Channel) async throws {
        self.channel = channel
        collector = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: SMTPReplyCollector.self), eventLoop: channel.eventLoop)
        }.get()
    }

    func reply() async throws -> SMTPReply {
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        let collector = self.collector
        channel.eventLoop.execute { collector.value.next(promise) }
        return try await promise.futureResult.get()
    }

    func command(_ line: String) async throws -> SMTPReply {
        try await channel.writeAndFlush(ByteBuffer(string: line + "\r\n")).get()
        return try await reply()
    }

    /// EHLO; the extensions the server lists (the reply's lines after the first).
    func hello(_ name: String) async throws -> [String] {
        let reply = try await command("EHLO " + name)
        try expect(reply, stage: "EHLO", 250)
        return Array(reply.lines.dropFirst())
    }

    func expect(_ reply: SMTPReply, stage: String, _ codes: Int...) throws {
        guard codes.contains(reply.code) else {
            throw SMTPFailure(stage: stage, detail: MessageText.singleLine(reply.text), code: reply.code)
        }
    }
}

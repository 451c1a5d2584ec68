import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One message as the server took it: the envelope and the data, dot-stuffing undone, CRLF kept.
public struct LoopbackMail: Sendable {
    public var from: String
    public var to: [String]
    public var data: String
    /// The connection had TLS on when DATA came.
    public var overTLS: Bool
    /// The user AUTH accepted on that connection, if any.
    public var user: String?

    /// A header's value (first occurrence, unfolded), by case-insensitive name.
    public func header(_ name: String) -> String? {
        let head = data.components(separatedBy: "\r\n\r\n").first ?? ""
        for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix(name.lowercased() + ":") {
            return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// The body after the blank line, base64 decoded when the message says it is.
    public var bodyText: String {
        let parts = data.components(separatedBy: "\r\n\r\n")
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        if header("Content-Transfer-Encoding")?.lowercased() == "base64" {
            let joined = body.replacingOccurrences(of: "\r\n", with: "")
            return Data(base64Encoded: joined).map { String(decoding: $0, as: UTF8.self) } ?? "<bad base64>"
        }
        return body
    }
}

/// An SMTP server on 127.0.0.1 (a port the kernel picks) for the email sink's tests. It speaks
/// EHLO, STARTTLS (with the certificate it is given), AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET,
/// QUIT; refuses AUTH and mail before TLS when it offers STARTTLS, and mail before AUTH when it has
/// users. `reply` lets a test answer a command its own way (a 451, a 550, silence).
public final class LoopbackSMTPServer: Sendable {
    public enum Security: Sendable { case none, starttls, implicitTLS }

    /// What to do with a command instead of the usual answer.
    public enum Override: Sendable {
        case reply(String)
        /// Say nothing (a hung server).
        case silence
    }

    public let port: Int
    private let channel: any Channel
    private let shared: Shared

    struct State {
        var mails: [LoopbackMail] = []
        var commands: [String] = []
        var connections = 0
        var override: (@Sendable (_ verb: String, _ line: String) -> Override?)?
    }

    private init(channel: any Channel, shared: Shared) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.shared = shared
    }

    /// Every message taken so far.
    public var mails: [LoopbackMail] { shared.state.withLock { $0.mails } }
    /// Every command line received (AUTH arguments shown as sent: the tests look for leaks elsewhere).
    public var commands: [String] { shared.state.withLock { $0.commands } }
    public var connections: Int { shared.state.withLock { $0.connections } }

    /// Answers commands by `override` first (nil: the usual answer).
    public func setOverride(_ override: (@Sendable (_ verb: String, _ line: String) -> Override?)?) {
        shared.state.withLock { $0.override = override }
    }

    public static func start(security: Security, certificatePEM: String? = nil, keyPEM: String? = nil,
                             users: [String: String] = [:], mechanisms: [String] = ["PLAIN", "LOGIN"]) async throws -> LoopbackSMTPServer {
        var context: NIOSSLContext?
        if security != .none, let certificatePEM, let keyPEM {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePEM).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPEM, format: .pem)))
            context = try NIOSSLContext(configuration: configuration)
        }
        let tlsContext = context
        let shared = Shared()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if security == .implicitTLS, let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(shared: shared, security: security, tlsContext: tlsContext, users: users, mechanisms: mechanisms))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoopbackSMTPServer(channel: channel, shared: shared)
    }

    public func stop() async { try? await channel.close() }

    /// The state, shared with each connection's handler.
    final class Shared: Sendable {
        let state = Mutex(State())
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let shared: Shared
        let security: Security
        let tlsContext: NIOSSLContext?
        let users: [String: String]
        let mechanisms: [String]
        var pending: [UInt8] = []
        var tlsOn: Bool
        var user: String?
        var from: String?
        var to: [String] = []
        var dataLines: [String]?
        /// AUTH LOGIN's steps: nil, "user", then "password" with the user name read.
        var loginStep: (String, String?)?

        init(shared: Shared, security: Security, tlsContext: NIOSSLContext?, users: [String: String], mechanisms: [String]) {
            self.shared = shared
            self.security = security
            self.tlsContext = tlsContext
            self.users = users
            self.mechanisms = mechanisms
            tlsOn = security == .implicitTLS
        }

        func channelActive(context: ChannelHandlerContext) {
            shared.state.withLock { $0.connections += 1 }
            send(context, "220 loopback ESMTP ready")
        }

        func send(_ context: ChannelHandlerContext, _ text: String) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            pending += buffer.readBytes(length: buffer.readableBytes) ?? []
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasSuffix("\r") { line.removeLast() }
                handle(context, line)
            }
        }

        func handle(_ context: ChannelHandlerContext, _ line: String) {
            if var lines = dataLines {
                if line == "." {
                    dataLines = nil
                    let mail = LoopbackMail(from: from ?? "", to: to, data: lines.joined(separator: "\r\n"), overTLS: tlsOn, user: user)
                    let override = shared.state.withLock { $0.override }?("DATA-END", line)
                    switch override {
                    case .reply(let text)?: send(context, text)
                    case .silence?: break
                    case nil:
                        shared.state.withLock { $0.mails.append(mail) }
                        send(context, "250 2.0.0 queued as Q\(mail.data.utf8.count)")
                    }
                    from = nil
                    to = []
                } else {
                    lines.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
                    dataLines = lines
                }
                return
            }
            shared.state.withLock { $0.commands.append(line) }
            if let step = loginStep {
                let decoded = Data(base64Encoded: line).map { String(decoding: $0, as: UTF8.self) } ?? ""
                if step.0 == "user" {
                    loginStep = ("password", decoded)
                    send(context, "334 UGFzc3dvcmQ6")
                } else {
                    loginStep = nil
                    accept(context, user: step.1 ?? "", password: decoded)
                }
                return
            }
            let verb = String(line.prefix { $0 != " " && $0 != ":" }).uppercased()
            switch shared.state.withLock({ $0.override })?(verb, line) {
            case .reply(let text)?: send(context, text); return
            case .silence?: return
            case nil: break
            }
            let mustStartTLS = security == .starttls && !tlsOn
            switch verb {
            case "EHLO", "HELO":
                var lines = ["loopback"]
                if mustStartTLS { lines.append("STARTTLS") }
                if !users.isEmpty && !mechanisms.isEmpty && !mustStartTLS { lines.append("AUTH " + mechanisms.joined(separator: " ")) }
                lines.append("8BITMIME")
                for (index, text) in lines.enumerated() { send(context, "250" + (index == lines.count - 1 ? " " : "-") + text) }
            case "STARTTLS":
                guard mustStartTLS, let tlsContext else { send(context, "503 5.5.1 TLS already active or not offered"); return }
                send(context, "220 2.0.0 go ahead")
                // The 220 is on its way; what the client sends next is its TLS hello.
                try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
                tlsOn = true
                user = nil
            case "AUTH":
                guard !mustStartTLS else { send(context, "530 5.7.0 must issue a STARTTLS command first"); return }
                let parts = line.split(separator: " ")
                let mechanism = parts.count > 1 ? parts[1].uppercased() : ""
                guard mechanisms.contains(mechanism) else { send(context, "504 5.5.4 unrecognized authentication type"); return }
                if mechanism == "PLAIN" {
                    let decoded = parts.count > 2 ? Data(base64Encoded: String(parts[2])).map(Array.init) ?? [] : []
                    let fields = decoded.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                    guard fields.count == 3 else { send(context, "501 5.5.2 bad AUTH PLAIN"); return }
                    accept(context, user: fields[1], password: fields[2])
                } else {
                    loginStep = ("user", nil)
                    send(context, "334 VXNlcm5hbWU6")
                }
            case "MAIL":
                guard !mustStartTLS else { send(context, "530 5.7.0 must issue a STARTTLS command first"); return }
                guard users.isEmpty || user != nil else { send(context, "530 5.7.0 authentication required"); return }
                from = Self.address(line)
                to = []
                send(context, "250 2.1.0 ok")
            case "RCPT":
                guard from != nil else { send(context, "503 5.5.1 MAIL first"); return }
                to.append(Self.address(line))
                send(context, "250 2.1.5 ok")
            case "DATA":
                guard from != nil, !to.isEmpty else { send(context, "503 5.5.1 RCPT first"); return }
                dataLines = []
                send(context, "354 end data with <CR><LF>.<CR><LF>")
            case "RSET":
                from = nil
                to = []
                send(context, "250 2.0.0 ok")
            case "QUIT":
                send(context, "221 2.0.0 bye")
                context.close(promise: nil)
            default:
                send(context, "502 5.5.2 command not recognized")
            }
        }

        func accept(_ context: ChannelHandlerContext, user: String, password: String) {
            if users[user] == password {
                self.user = user
                send(context, "235 2.7.0 authentication successful")
            } else {
                send(context, "535 5.7.8 authentication credentials invalid")
            }
        }

        static func address(_ line: String) -> String {
            guard let open = line.firstIndex(of: "<"), let close = line.firstIndex(of: ">"), open < close else { return "" }
            return String(line[line.index(after: open)..<close])
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

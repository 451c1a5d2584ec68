import ArbTestSupport
import Foundation
@testable import ArbEngine
import LoopbackSMTP
@testable import OrderStateMachine
import Testing

/// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI once per
/// test process; the email sink trusts it through `ca_file`.
enum SMTPTestCertificate {
    static let files = Task<(certificate: String, key: String), any Error> {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arb-smtp-cert-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let made = try await runProductAt("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", key, "-out", certificate,
        ], timeoutSeconds: 60)
        guard made.status == 0 else { throw FixtureError("openssl req failed: \(made.stderr)") }
        return (certificate, key)
    }
}

let smtpUser = "arb@example.com"
let smtpPassword = "s3cret pass!"

@Suite("Alerts by email: SMTP with STARTTLS or TLS and AUTH", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the openssl CLI for a test certificate"))
struct EmailAlertSinkTests {
    static func server(_ security: LoopbackSMTPServer.Security, mechanisms: [String] = ["PLAIN", "LOGIN"]) async throws -> LoopbackSMTPServer {
        let files = try await SMTPTestCertificate.files.value
        return try await LoopbackSMTPServer.start(security: security, certificatePEM: files.certificate, keyPEM: files.key,
                                                  users: [smtpUser: smtpPassword], mechanisms: mechanisms)
    }

    static func config(_ server: LoopbackSMTPServer, security: EmailSinkConfig.Security = .starttls, host: String = "127.0.0.1",
                       trusted: Bool = true, timeout: Int64 = 10_000) async throws -> EmailSinkConfig {
        EmailSinkConfig(host: host, port: server.port, security: security, username: smtpUser, from: "arb@example.com",
                        to: ["me@example.com", "desk@example.com"], minSeverity: .critical, timeoutMilliseconds: timeout,
                        caFile: trusted ? try await SMTPTestCertificate.files.value.certificate : nil)
    }

    /// The trader's outbox with one one-sided alert owed to the email sink, and a dispatcher for it.
    static func outbox(_ directory: TemporaryDirectory, sink: any AlertSink, text: String = awkwardText) throws -> (Store, AlertDispatcher) {
        let path = directory.path("arb.db")
        let store = try Store(path: path, durability: .normal, alertSinks: [sink.name])
        try store.insertAlert(NewAlert(key: "one-sided-arb-7", kind: "one_sided", severity: .critical, text: text,
                                       bodyJSON: #"{"opportunity_id":7,"imbalance":"10.00"}"#), opportunity: nil, atMilliseconds: alertTestTime)
        let dispatcher = AlertDispatcher(outbox: try StoreAlertOutbox(path: path, durability: .normal), sinks: [sink], clock: SystemClock())
        return (store, dispatcher)
    }

    @Test("STARTTLS then AUTH PLAIN: the alert arrives once, encrypted, with its headers and the seed's block as the body")
    func starttls() async throws {
        let server = try await Self.server(.starttls)
        defer { Task { await server.stop() } }
        let sink = try EmailAlertSink(config: try await Self.config(server), password: smtpPassword)
        let directory = TemporaryDirectory()
        // A line of one "." would end DATA early unless it is stuffed.
        let text = awkwardText + "\n.\n.hidden line"
        let (store, dispatcher) = try Self.outbox(directory, sink: sink, text: text)
        let first = await dispatcher.deliverPending()
        #expect(first.delivered == 1 && first.failed == 0, "\(first)")
        #expect(await dispatcher.deliverPending().delivered == 0)
        try #require(server.mails.count == 1)
        let mail = server.mails[0]
        #expect(mail.overTLS && mail.user == smtpUser)
        #expect(mail.from == "arb@example.com" && mail.to == ["me@example.com", "desk@example.com"])
        #expect(mail.header("Subject") == "[arb CRITICAL] " + awkwardText)
        #expect(mail.header("To") == "me@example.com, desk@example.com")
        let messageID = try #require(mail.header("Message-ID"))
        #expect(messageID.hasPrefix("<arb-alert.one-sided-arb-7.") && messageID.hasSuffix("@example.com>"), "\(messageID)")
        #expect(mail.header("Date") == "Wed, 01 May 2024 12:34:56 +0000")
        #expect(mail.bodyText.contains("ALERT [2024-05-01T12:34:56.789Z] CRITICAL one_sided (opportunity 7)\r\n" + awkwardText
                                       + "\r\n.\r\n.hidden line\r\n"), "\(mail.bodyText)")
        #expect(mail.bodyText.contains("Alert key: one-sided-arb-7"))
        // Nothing secret went over the wire before TLS: the first EHLO and STARTTLS only.
        let tlsAt = try #require(server.commands.firstIndex(of: "STARTTLS"))
        #expect(server.commands[..<tlsAt].allSatisfy { $0.hasPrefix("EHLO ") }, "\(server.commands)")
        #expect(try store.pendingDeliveries(limit: 10, sinks: ["email"]).isEmpty)
        // A resend (a crash between delivery and the mark) is recognisably the same message.
        let again = EmailAlertSink.message(samplePending("one-sided-arb-7", sink: "email"), from: "arb@example.com", to: ["x@example.com"])
        #expect(again.contains("Message-ID: " + messageID))
    }

    @Test("implicit TLS (465) and AUTH LOGIN; a non-ASCII alert goes as base64 UTF-8 with an encoded subject")
    func implicitTLS() async throws {
        let server = try await Self.server(.implicitTLS, mechanisms: ["LOGIN"])
        defer { Task { await server.stop() } }
        let sink = try EmailAlertSink(config: try await Self.config(server, security: .tls), password: smtpPassword)
        let text = "Zürich € leg filled alone\n.a line starting with a dot"
        let directory = TemporaryDirectory()
        let (_, dispatcher) = try Self.outbox(directory, sink: sink, text: text)
        #expect(await dispatcher.deliverPending().delivered == 1)
        try #require(server.mails.count == 1)
        let mail = server.mails[0]
        #expect(mail.overTLS && mail.user == smtpUser)
        #expect(server.commands.contains("AUTH LOGIN"))
        #expect(mail.header("Content-Transfer-Encoding") == "base64")
        #expect(mail.header("Subject")?.hasPrefix("=?UTF-8?B?") == true)
        #expect(mail.bodyText.contains(text), "\(mail.bodyText)")
    }

    @Test("a 4xx is retried and then delivered once; a 5xx fails with the server's reply text, recorded in the outbox")
    func refusals() async throws {
        let server = try await Self.server(.starttls)
        defer { Task { await server.stop() } }
        let sink = try EmailAlertSink(config: try await Self.config(server), password: smtpPassword)
        let directory = TemporaryDirectory()
        let (store, dispatcher) = try Self.outbox(directory, sink: sink)
        server.setOverride { verb, _ in verb == "MAIL" ? .reply("451 4.3.0 try again later") : nil }
        let temporary = await dispatcher.deliverPending()
        #expect(temporary.failed == 1 && temporary.lastError?.contains("MAIL FROM: the server answered 451 4.3.0 try again later") == true,
                "\(temporary)")
        server.setOverride { verb, _ in verb == "RCPT" ? .reply("550 5.1.1 mailbox unavailable") : nil }
        let permanent = await dispatcher.deliverPending()
        #expect(permanent.failed == 1 && permanent.lastError?.contains("550 5.1.1 mailbox unavailable") == true, "\(permanent)")
        let health = try #require(try store.sinkHealth().first)
        #expect(health.failedAttempts == 2 && health.lastError?.contains("RCPT TO <me@example.com>: the server answered 550") == true,
                "\(health)")
        #expect(server.mails.isEmpty)
        server.setOverride(nil)
        #expect(await dispatcher.deliverPending().delivered == 1)
        #expect(await dispatcher.deliverPending().delivered == 0)
        #expect(server.mails.count == 1)
    }

    @Test("never in clear: no STARTTLS offered, or a certificate not trusted, and nothing is sent; a hung server times out")
    func refusesInsecure() async throws {
        let plain = try await LoopbackSMTPServer.start(security: .none, users: [smtpUser: smtpPassword])
        defer { Task { await plain.stop() } }
        let noTLS = try EmailAlertSink(config: try await Self.config(plain), password: smtpPassword)
        let error = await #expect(throws: AlertSinkError.self) { try await noTLS.deliver(samplePending(sink: "email")) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("does not offer STARTTLS"))
        #expect(!plain.commands.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") }, "\(plain.commands)")

        let server = try await Self.server(.starttls)
        defer { Task { await server.stop() } }
        let untrusted = try EmailAlertSink(config: try await Self.config(server, trusted: false), password: smtpPassword)
        await #expect(throws: AlertSinkError.self) { try await untrusted.deliver(samplePending(sink: "email")) }
        #expect(!server.commands.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") }, "\(server.commands)")
        #expect(server.mails.isEmpty)

        server.setOverride { verb, _ in verb == "DATA-END" ? .silence : nil }
        let hung = try EmailAlertSink(config: try await Self.config(server, timeout: 500), password: smtpPassword)
        let started = Date()
        let timeout = await #expect(throws: AlertSinkError.self) { try await hung.deliver(samplePending(sink: "email")) }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect("\(timeout.map { "\($0)" } ?? "")".contains("no answer within 500 ms"))
    }

    @Test("a wrong password is refused with the server's text; the password is in no error, outbox row or log line")
    func secrets() async throws {
        let server = try await Self.server(.starttls)
        defer { Task { await server.stop() } }
        // The server echoes what it got, as a careless relay might.
        server.setOverride { verb, line in verb == "AUTH" ? .reply("535 5.7.8 bad credentials: " + line) : nil }
        let wrong = "wrong-\(smtpPassword)"
        let sink = try EmailAlertSink(config: try await Self.config(server), password: wrong)
        let directory = TemporaryDirectory()
        let (store, dispatcher) = try Self.outbox(directory, sink: sink)
        let round = await dispatcher.deliverPending()
        let encoded = Data(([0] + Array(smtpUser.utf8) + [0] + Array(wrong.utf8))).base64EncodedString()
        #expect(server.commands.contains("AUTH PLAIN " + encoded), "the test's break would not show")
        let texts = [round.lastError ?? "", try store.sinkHealth().first?.lastError ?? ""]
        #expect(texts[0].contains("535 5.7.8 bad credentials"), "\(texts)")
        for text in texts { #expect(!text.contains(wrong) && !text.contains(encoded) && !text.contains("s3cret"), "\(text)") }
        let rows = try await sqlite(directory.path("arb.db"), "SELECT * FROM alert_deliveries; SELECT * FROM alerts;", readOnly: true)
        #expect(!rows.joined().contains(encoded) && !rows.joined().contains(wrong))
    }

    @Test("config: tls none only to loopback, a username needs ARB_SMTP_PASSWORD (one line), addresses checked, ports by tls")
    func config() throws {
        for (email, expected) in [
            (#"{"smtp_host": "smtp.example.com", "tls": "none", "from": "a@b.c", "to": ["d@e.f"]}"#,
             #"alerts.email.tls is "none" for "smtp.example.com"; allowed only for a loopback smtp_host"#),
            (#"{"smtp_host": "smtp.example.com", "from": "not an address", "to": ["d@e.f"]}"#, "alerts.email.from is"),
            (#"{"smtp_host": "smtp.example.com", "from": "a@b.c", "to": []}"#, "alerts.email.to is []"),
            (#"{"smtp_host": "smtp.example.com", "from": "a@b.c", "to": ["d@e.f"], "password": "x"}"#,
             "alerts.email.password is not a known key"),
            (#"{"smtp_host": "smtp.example.com", "from": "a@b.c", "to": ["d@e.f"], "tls": "ssl"}"#, #"alerts.email.tls is "ssl""#),
        ] {
            let json = minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with: #""alerts": {"email": \#(email)}, "risk": {"#)
            let message = configError(json)?.description ?? ""
            #expect(message.contains(expected), "\(message)")
        }
        let json = minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with:
            #""alerts": {"email": {"smtp_host": "smtp.example.com", "tls": "tls", "username": "u", "from": "a@b.c", "to": ["d@e.f"]}}, "risk": {"#)
        let config = try TraderConfig.decode(json: json, source: "test").alerts
        #expect(config.email?.port == 465 && config.email?.security == .tls)
        #expect(throws: AlertSinkUnusable.self) {
            try AlertDispatcher.makeSinks(config: config, alertFilePath: nil, environment: [:])
        }
        #expect(try AlertDispatcher.makeSinks(config: config, alertFilePath: nil, environment: ["ARB_SMTP_PASSWORD": "p"])
            .contains { $0.name == "email" })
    }
}

@Suite("One config, five places: Telegram, Discord, Slack, email and a command", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the openssl CLI for a test certificate"))
struct AllSinksTests {
    @Test("arbadmin alerts test (built binary) reaches each of the five, each in its own shape; no secret in its output")
    func fiveSinks() async throws {
        let http = try await TestHTTPServer.start(statuses: [200])
        defer { Task { await http.stop() } }
        let smtp = try await EmailAlertSinkTests.server(.starttls)
        defer { Task { await smtp.stop() } }
        let directory = TemporaryDirectory()
        let got = directory.path("paged.json")
        let script = directory.path("page-me.sh")
        try "#!/bin/sh\ncat > '\(got)'\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let certificate = try await SMTPTestCertificate.files.value.certificate
        let alerts = #"{"console": false, "file": null, "telegram": {"chat_id": "-1001", "api_url": "\#(http.url(""))"}, "# +
            #""discord": {}, "slack": {}, "command": {"argv": ["\#(script)"]}, "# +
            #""email": {"smtp_host": "127.0.0.1", "smtp_port": \#(smtp.port), "username": "\#(smtpUser)", "from": "arb@example.com", "# +
            #""to": ["me@example.com"], "ca_file": "\#(certificate)"}}"#
        let configPath = directory.path("config.json")
        try minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with: #""alerts": \#(alerts), "risk": {"#)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let environment = ["TELEGRAM_BOT_TOKEN": "999:TOKEN", "DISCORD_WEBHOOK_URL": http.url("/api/webhooks/1/DSECRET"),
                           "SLACK_WEBHOOK_URL": http.url("/services/T/B/SSECRET"), "ARB_SMTP_PASSWORD": smtpPassword]
        let result = try arbadmin(["alerts", "test", "--config", configPath], environment: environment)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdoutLines == ["telegram: delivered", "discord: delivered", "slack: delivered", "email: delivered",
                                       "command: delivered"], "\(result.stdout)")
        for secret in ["TOKEN", "DSECRET", "SSECRET", smtpPassword] { #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret)) }
        let paths = http.requests.map(\.uri)
        #expect(paths == ["/bot999:TOKEN/sendMessage", "/api/webhooks/1/DSECRET", "/services/T/B/SSECRET"], "\(paths)")
        #expect(http.requests[0].json?["parse_mode"] as? String == "HTML" && http.requests[1].json?["embeds"] != nil
                && http.requests[2].json?["blocks"] != nil)
        try #require(smtp.mails.count == 1)
        #expect(smtp.mails[0].overTLS && smtp.mails[0].header("Subject")?.hasPrefix("[arb CRITICAL]") == true)
        let paged = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: got))) as? [String: Any])
        #expect(paged["severity"] as? String == "critical")
        // The same alert everywhere: its text in each.
        let text = try #require(paged["text"] as? String)
        #expect(smtp.mails[0].bodyText.contains(text))
        #expect(http.requests.allSatisfy { String(decoding: $0.body, as: UTF8.self).contains(String(text.prefix(20))) })

        // The same config in the trader: one one-sided alert through the outbox reaches all five.
        let config = try TraderConfig.load(path: configPath)
        let sinks = try AlertDispatcher.makeSinks(config: config.alerts, alertFilePath: nil, environment: environment)
        let path = directory.path("arb.db")
        let store = try Store(path: path, durability: .normal, alertSinks: sinks.map(\.name))
        try store.insertAlert(NewAlert(key: "one-sided-x-9", kind: "one_sided", severity: .critical, text: awkwardText,
                                       bodyJSON: #"{"opportunity_id":9}"#), opportunity: nil, atMilliseconds: alertTestTime)
        let dispatcher = AlertDispatcher(outbox: try StoreAlertOutbox(path: path, durability: .normal), sinks: sinks, clock: SystemClock())
        let round = await dispatcher.deliverPending()
        for sink in sinks { await sink.shutdown() }
        #expect(round.delivered == 5 && round.failed == 0, "\(round)")
        #expect(smtp.mails.count == 2 && smtp.mails[1].header("Subject") == "[arb CRITICAL] " + awkwardText)
        #expect(http.requests.count == 6)
        let pagedAgain = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: got))) as? [String: Any])
        #expect(pagedAgain["id"] as? String == "one-sided-x-9" && pagedAgain["text"] as? String == awkwardText)
    }
}

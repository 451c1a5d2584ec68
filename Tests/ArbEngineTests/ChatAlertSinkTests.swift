import ArbTestSupport
import Foundation
@testable import ArbEngine
import LoopbackHTTP
@testable import OrderStateMachine
import Synchronization
import Testing

/// A one-sided alert whose text carries every character the chat services' markup cares about.
let awkwardText = "leg a KX_FED*25<DEC>&Co filled alone: 10.00 @ 0.45 ~ `x` | > q \\ done"

@Suite("Alerts in chat: Telegram, Discord, Slack and a command", .serialized)
struct ChatAlertSinkTests {
    /// Runs `body`, then shuts the sinks down, also when it throws: a sink dropped without its
    /// shutdown trips AsyncHTTPClient's debug check and takes the whole test process down.
    func shuttingDown(_ sinks: [any AlertSink], _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            for sink in sinks { await sink.shutdown() }
            throw error
        }
        for sink in sinks { await sink.shutdown() }
    }

    static func sinks(_ server: TestHTTPServer, command: CommandSinkConfig? = nil, minimum: AlertSeverity = .info) throws -> [any AlertSink] {
        let config = AlertConfig(console: false, filePath: nil, webhookURL: nil,
                                 telegram: TelegramSinkConfig(chatID: "-1001234", apiURL: server.url(""), minSeverity: minimum),
                                 discord: ChatSinkConfig(minSeverity: minimum), slack: ChatSinkConfig(minSeverity: minimum), command: command)
        return try AlertDispatcher.makeSinks(config: config, alertFilePath: nil, environment: [
            "TELEGRAM_BOT_TOKEN": "123456:SECRET-TOKEN", "DISCORD_WEBHOOK_URL": server.url("/api/webhooks/42/DISCORD-SECRET"),
            "SLACK_WEBHOOK_URL": server.url("/services/T1/B2/SLACK-SECRET"),
        ])
    }

    @Test("each service gets its own shape, escaped for its markup, with a fallback text")
    func shapes() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let sinks = try Self.sinks(server)
        try await shuttingDown(sinks) {
            #expect(sinks.map(\.name) == ["telegram", "discord", "slack"])
            for sink in sinks { try await sink.deliver(samplePending(sink: sink.name, text: awkwardText)) }
            let requests = server.requests
            try #require(requests.count == 3)

            #expect(requests[0].uri == "/bot123456:SECRET-TOKEN/sendMessage")
            let telegram = try #require(requests[0].json)
            #expect(telegram["chat_id"] as? String == "-1001234" && telegram["parse_mode"] as? String == "HTML")
            let text = try #require(telegram["text"] as? String)
            #expect(text.hasPrefix("<b>[CRITICAL] arb one_sided</b>\n"))
            #expect(text.contains("KX_FED*25&lt;DEC&gt;&amp;Co"), "\(text)")
            #expect(!text.contains("<DEC>"))

            #expect(requests[1].uri == "/api/webhooks/42/DISCORD-SECRET")
            let discord = try #require(requests[1].json)
            let embed = try #require((discord["embeds"] as? [[String: Any]])?.first)
            #expect(embed["title"] as? String == "[CRITICAL] arb one_sided" && embed["color"] as? Int == 0xD0_3030)
            #expect((embed["description"] as? String)?.contains(#"KX\_FED\*25<DEC\>&Co"#) == true, "\(embed)")
            #expect((embed["fields"] as? [[String: Any]])?.map { $0["value"] as? String } == ["critical", "one-sided-7"])
            #expect((discord["content"] as? String)?.hasPrefix("[CRITICAL] arb one_sided: ") == true)
            #expect((discord["allowed_mentions"] as? [String: Any])?["parse"] as? [String] == [])

            let slack = try #require(requests[2].json)
            #expect((slack["text"] as? String)?.contains("KX_FED*25&lt;DEC&gt;&amp;Co") == true)
            let blocks = try #require(slack["blocks"] as? [[String: Any]])
            #expect(blocks.map { $0["type"] as? String } == ["header", "section", "context"])
            #expect(((blocks[1]["text"] as? [String: Any])?["text"] as? String)?.contains("&lt;DEC&gt;") == true)
        }
    }

    @Test("a long alert is cut to each service's limit with a pointer to the whole of it")
    func limits() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let sinks = try Self.sinks(server)
        try await shuttingDown(sinks) {
            let long = String(repeating: "<exposure & more> ", count: 600)
            for sink in sinks { try await sink.deliver(samplePending(sink: sink.name, text: long)) }
            let requests = server.requests
            let telegram = try #require(requests[0].json?["text"] as? String)
            #expect(telegram.count <= 4_096 && telegram.hasSuffix("(cut; the whole alert: arbadmin alerts, key one-sided-7)"))
            #expect(!telegram.hasSuffix("&am(cut") && !telegram.contains("&amp(cut"), "an entity was cut in half")
            let discord = try #require(requests[1].json)
            #expect((discord["content"] as? String).map { $0.count <= 2_000 } == true)
            let description = ((discord["embeds"] as? [[String: Any]])?.first?["description"] as? String) ?? ""
            #expect(description.count <= 4_096 && description.hasSuffix("arbadmin alerts, key one-sided-7)"))
        }
    }

    @Test("429 and 500 fail the delivery (the outbox retries); no error shows the token or a webhook's secret")
    func failures() async throws {
        let server = try await TestHTTPServer.start(statuses: [429, 500, 429])
        defer { Task { await server.stop() } }
        let sinks = try Self.sinks(server)
        try await shuttingDown(sinks) {
            for sink in sinks {
                let error = await #expect(throws: AlertSinkError.self) { try await sink.deliver(samplePending(sink: sink.name)) }
                let text = "\(error.map { "\($0)" } ?? "") \(sink)"
                for secret in ["SECRET-TOKEN", "DISCORD-SECRET", "SLACK-SECRET", "123456"] { #expect(!text.contains(secret), "\(text)") }
            }
        }
    }

    @Test("a sink's minimum severity: below it no delivery row is written (nothing owed, nothing retried), at or above it one is")
    func minimumSeverity() throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("a.db"), durability: .normal, alertSinks: ["file", "telegram"])
        store.alertSinkMinimums = ["telegram": .critical]
        for (key, severity) in [("i", AlertSeverity.info), ("w", .warning), ("c", .critical)] {
            try store.insertAlert(NewAlert(key: key, kind: "k", severity: severity, text: key, bodyJSON: "{}"), opportunity: nil,
                                  atMilliseconds: 1)
        }
        #expect(try store.pendingDeliveries(limit: 10, sinks: ["telegram"]).map(\.key) == ["c"])
        #expect(try store.pendingDeliveries(limit: 10, sinks: ["file"]).map(\.key).sorted() == ["c", "i", "w"])
        // A sink added later gets what is owed it, by its own minimum.
        #expect(try store.ensureDeliveryRows(forSinks: ["slack"], minimums: ["slack": .warning]) == 2)
        #expect(try store.pendingDeliveries(limit: 10, sinks: ["slack"]).map(\.key).sorted() == ["c", "w"])
    }

    @Test("the command sink: the alert JSON on the program's stdin; a failing exit and a timeout are failed deliveries")
    func command() async throws {
        let directory = TemporaryDirectory()
        let out = directory.path("got.json")
        let script = directory.path("page-me.sh")
        try "#!/bin/sh\ncat > '\(out)'\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let ok = CommandAlertSink(argv: [script], timeoutMilliseconds: 5_000)
        try await ok.deliver(samplePending(sink: "command", text: awkwardText))
        let got = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        #expect(got["id"] as? String == "one-sided-7" && got["text"] as? String == awkwardText)
        #expect((got["body"] as? [String: Any])?["imbalance"] as? String == "10.00")

        let failing = CommandAlertSink(argv: ["/bin/sh", "-c", "exit 3"], timeoutMilliseconds: 5_000)
        await #expect(throws: AlertSinkError.writeFailed(sink: "command", detail: "/bin/sh exited 3")) {
            try await failing.deliver(samplePending(sink: "command"))
        }
        let slow = CommandAlertSink(argv: ["/bin/sleep", "5"], timeoutMilliseconds: 100)
        let started = Date()
        await #expect(throws: AlertSinkError.self) { try await slow.deliver(samplePending(sink: "command")) }
        #expect(Date().timeIntervalSince(started) < 3, "the timeout did not stop the program")
    }

    @Test("config: a chat sink whose secret is missing is one line naming the variable; a bad min_severity or argv is refused by path")
    func config() async throws {
        let config = AlertConfig(console: false, filePath: nil, webhookURL: nil, telegram: TelegramSinkConfig(chatID: "-1"))
        #expect(throws: AlertSinkUnusable(description: "alerts.telegram is configured but TELEGRAM_BOT_TOKEN is not set: put the bot token in the environment (never in the config)")) {
            try AlertDispatcher.makeSinks(config: config, alertFilePath: nil, environment: [:])
        }
        for (alerts, expected) in [
            (#"{"slack": {"min_severity": "loud"}}"#, #"alerts.slack.min_severity is "loud"; allowed "info", "warning" or "critical""#),
            (#"{"command": {"argv": ["page-me"]}}"#, "alerts.command.argv is"),
            (#"{"telegram": {"api_url": "https://api.telegram.org"}}"#, "alerts.telegram.chat_id is missing"),
            (#"{"discord": {"webhook_url": "https://x"}}"#, "alerts.discord.webhook_url is not a known key"),
        ] {
            let json = minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with: #""alerts": \#(alerts), "risk": {"#)
            let message = configError(json)?.description ?? ""
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test("arbadmin alerts test: each configured sink gets a test alert and says whether it arrived; a failing one exits 1")
    func adminTest() async throws {
        let server = try await TestHTTPServer.start(statuses: [200, 200, 500, 200])
        defer { Task { await server.stop() } }
        let directory = TemporaryDirectory()
        let alerts = #"{"console": false, "file": null, "telegram": {"chat_id": "-1001", "api_url": "\#(server.url(""))"}, "# +
            #""discord": {"min_severity": "critical"}, "slack": {}}"#
        let configPath = directory.path("config.json")
        try minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with: #""alerts": \#(alerts), "risk": {"#)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let environment = ["TELEGRAM_BOT_TOKEN": "999:TOKEN", "DISCORD_WEBHOOK_URL": server.url("/api/webhooks/1/DSECRET"),
                           "SLACK_WEBHOOK_URL": server.url("/services/T/B/SSECRET")]
        let result = try arbadmin(["alerts", "test", "--config", configPath], environment: environment)
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stdoutLines.count == 3)
        #expect(result.stdoutLines[0] == "telegram: delivered" && result.stdoutLines[1] == "discord: delivered")
        #expect(result.stdoutLines[2].hasPrefix("slack: FAILED — webhook \(server.url("/services/REDACTED")) answered HTTP 500"), "\(result.stdout)")
        for secret in ["TOKEN", "DSECRET", "SSECRET"] { #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret)) }
        #expect(server.requests.first?.json.map { ($0["text"] as? String)?.contains("arb alert test") } == true)

        let one = try arbadmin(["alerts", "test", "--config", configPath, "--sink", "telegram"], environment: environment)
        #expect(one.status == 0 && one.stdoutLines == ["telegram: delivered"], "\(one.stdout) \(one.stderr)")
        let missing = try arbadmin(["alerts", "test", "--config", configPath], environment: [:])
        #expect(missing.status == 2 && missing.stderr.contains("TELEGRAM_BOT_TOKEN is not set"), "\(missing.stderr)")
    }
}

@Suite("Delivery health: a sink that keeps failing", .serialized)
struct SinkHealthTests {
    /// A sink that always fails with the same words.
    struct Down: AlertSink {
        let name = "telegram"
        struct Refused: Error, CustomStringConvertible { var description: String { "HTTP 401 Unauthorized" } }
        func deliver(_ alert: PendingDelivery) async throws { throw Refused() }
    }

    /// A sink that takes everything and remembers the kinds.
    actor Up: AlertSink {
        nonisolated let name = "file"
        var kinds: [String] = []
        func deliver(_ alert: PendingDelivery) async throws { kinds.append(alert.kind) }
    }

    @Test("past sink_down_alert_minutes a warning goes to the other sinks, once per outage; arbadmin alerts shows each sink's pending, failures and last error")
    func sinkDown() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path("arb.db")
        let store = try Store(path: path, durability: .normal, alertSinks: ["file", "telegram"])
        try store.insertAlert(NewAlert(key: "one-sided-1", kind: "one_sided", severity: .critical, text: "leg a filled alone", bodyJSON: "{}"),
                              opportunity: nil, atMilliseconds: 1)
        let up = Up()
        let dispatcher = AlertDispatcher(outbox: try StoreAlertOutbox(path: path, durability: .normal), sinks: [up, Down()],
                                         clock: SystemClock(), sinkDownAlertMilliseconds: 0)
        _ = await dispatcher.deliverPending()  // file gets it; telegram fails → the warning is written for file
        _ = await dispatcher.deliverPending()  // the warning goes out; telegram fails again: no second warning
        _ = await dispatcher.deliverPending()
        #expect(await up.kinds == ["one_sided", "sink_down"])
        let warning = try #require(try store.allAlerts(limit: 10).first { $0.kind == "sink_down" })
        #expect(warning.severity == .warning && warning.text.contains("alert sink telegram has failed") && warning.text.hasSuffix("HTTP 401 Unauthorized"))
        #expect(warning.deliveries.map(\.sink) == ["file"], "the down sink is not owed its own warning")

        let health = try store.sinkHealth()
        #expect(health.map(\.sink) == ["file", "telegram"])
        #expect(health[1].pending == 1 && health[1].failedAttempts >= 2 && health[1].lastError?.hasSuffix("HTTP 401 Unauthorized") == true)
        let listing = try arbadmin(["alerts", "--db", path])
        #expect(listing.stdout.contains("sink telegram: 1 pending, "), "\(listing.stdout)")
        #expect(listing.stdout.contains("failed attempts, last error: ") && listing.stdout.contains("HTTP 401 Unauthorized\n"), "\(listing.stdout)")
    }
}

@Suite("A 429's retry-after is honoured", .serialized)
struct RetryAfterTests {
    @Test("Discord's retry_after (body) or Retry-After (header) is read as milliseconds")
    func parse() {
        #expect(WebhookAlertSink.retryAfterMilliseconds(header: nil, body: Array(#"{"retry_after": 1.5, "global": false}"#.utf8)) == 1_500)
        #expect(WebhookAlertSink.retryAfterMilliseconds(header: "2", body: Array("too many".utf8)) == 2_000)
        #expect(WebhookAlertSink.retryAfterMilliseconds(header: nil, body: []) == nil)
        #expect(WebhookAlertSink.retryAfterMilliseconds(header: "99999", body: []) == 600_000)
    }

    @Test("the dispatcher waits what the service asked before trying that sink again (not its own 100 ms)")
    func dispatcherWaits() async throws {
        let times = Mutex<[Date]>([])
        let server = try await LoopbackHTTPServer.start { _ in
            let count = times.withLock { $0.append(Date()); return $0.count }
            return count == 1 ? .respond(429, #"{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}"#)
                : .respond(204, "")
        }
        defer { Task { await server.stop() } }
        let directory = TemporaryDirectory()
        let path = directory.path("arb.db")
        let store = try Store(path: path, durability: .normal, alertSinks: ["discord"])
        try store.insertAlert(NewAlert(key: "a1", kind: "one_sided", severity: .critical, text: "x", bodyJSON: "{}"), opportunity: nil,
                              atMilliseconds: 1)
        let sink = WebhookAlertSink(url: server.url("/api/webhooks/1/SECRET"), name: "discord", payload: ChatAlertFormats.discord)
        let dispatcher = AlertDispatcher(outbox: try StoreAlertOutbox(path: path, durability: .normal), sinks: [sink], clock: SystemClock())
        let running = Task { await dispatcher.run(pollMilliseconds: 10) }
        // The second request reaching the server is not yet the row marked delivered: wait for that.
        #expect(await waitUntil(timeoutSeconds: 10) { (try? store.pendingDeliveries(limit: 10, sinks: ["discord"]).isEmpty) == true })
        running.cancel()
        await sink.shutdown()
        let seen = times.withLock { $0 }
        try #require(seen.count >= 2)
        #expect(seen[1].timeIntervalSince(seen[0]) >= 0.45, "retried after \(seen[1].timeIntervalSince(seen[0])) s")
        #expect(try store.pendingDeliveries(limit: 10, sinks: ["discord"]).isEmpty)
    }
}

@Suite("arbadmin alerts --follow", .serialized)
struct AlertsFollowTests {
    @Test("prints the last N as blocks, then each new alert as it is committed, until stopped")
    func follow() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path("arb.db")
        let store = try Store(path: path, durability: .normal, alertSinks: ["file"])
        try store.insertAlert(NewAlert(key: "old", kind: "one_sided", severity: .critical, text: "ONE-SIDED FILL ALERT\n\nEvent: OLD", bodyJSON: "{}"),
                              opportunity: nil, atMilliseconds: 1_764_600_000_000)
        let process = try startProcess(builtProductsDirectory().appendingPathComponent("arbadmin").path,
                                       ["alerts", "--follow", "--limit", "1", "--db", path])
        defer { kill(process.pid, SIGKILL) }
        let output = { (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? "" }
        #expect(await waitUntil(timeoutSeconds: 10) { output().contains("Event: OLD") }, "\(output())")
        try store.insertAlert(NewAlert(key: "new", kind: "one_sided_reminder", severity: .critical,
                                       text: "REMINDER 1: opportunity 7 is still one-sided", bodyJSON: "{}"),
                              opportunity: nil, atMilliseconds: 1_764_600_060_000)
        #expect(await waitUntil(timeoutSeconds: 10) { output().contains("REMINDER 1: opportunity 7") }, "\(output())")
        let text = output()
        #expect(text.contains("\n" + String(repeating: "=", count: 60) + "\nALERT [2025-12-01T14:40:00.000Z] CRITICAL one_sided\nONE-SIDED FILL ALERT"),
                "\(text)")
        #expect(text.components(separatedBy: "ALERT [").count - 1 == 2, "each alert once: \(text)")
        #expect(process.isRunning)
    }
}

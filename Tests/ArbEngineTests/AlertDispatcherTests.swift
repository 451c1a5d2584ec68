import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

/// A sink that fails its first `failures` deliveries (all of them if nil) and records every call.
actor ScriptedSink: AlertSink {
    nonisolated let name: String
    private var failuresLeft: Int?
    private(set) var attempted: [String] = []
    private(set) var delivered: [String] = []

    init(_ name: String, failures: Int? = 0) {
        self.name = name
        self.failuresLeft = failures
    }

    struct Refused: Error {}

    func deliver(_ alert: PendingDelivery) async throws {
        attempted.append(alert.key)
        if let left = failuresLeft {
            if left > 0 {
                failuresLeft = left - 1
                throw Refused()
            }
        } else {
            throw Refused()
        }
        delivered.append(alert.key)
    }
}

@Suite("Alert dispatcher", .exclusive)
struct AlertDispatcherTests {
    let directory = AlertTestDirectory()
    var databasePath: String { directory.path("arb.db") }

    func outbox() throws -> StoreAlertOutbox {
        try StoreAlertOutbox(path: databasePath, durability: .normal)
    }

    func delivery(_ outbox: StoreAlertOutbox, key: String, sink: String) async throws -> AlertDelivery? {
        try await outbox.allAlerts(limit: 100).first { $0.key == key }?.deliveries.first { $0.sink == sink }
    }

    @Test("a webhook answering 500, 500, then 200: two failures recorded, then delivered (attempts = 3)")
    func webhookRetries() async throws {
        try makeAlertDatabase(databasePath, sinks: ["webhook"], alerts: [sampleAlert("one-sided-7")])
        let server = try await TestHTTPServer.start(statuses: [500, 500, 200])
        let sink = WebhookAlertSink(url: server.url("/services/T/B/SECRET"), timeoutMilliseconds: 2_000)
        let outbox = try outbox()
        let dispatcher = AlertDispatcher(outbox: outbox, sinks: [sink], clock: SystemClock())

        let rounds = [await dispatcher.deliverPending(), await dispatcher.deliverPending(), await dispatcher.deliverPending()]
        await sink.shutdown()
        await server.stop()

        #expect(rounds.map(\.failed) == [1, 1, 0])
        #expect(rounds.map(\.delivered) == [0, 0, 1])
        let row = try #require(try await delivery(outbox, key: "one-sided-7", sink: "webhook"))
        #expect(row.attempts == 3)
        #expect(row.deliveredAtMilliseconds != nil)
        #expect(row.lastError?.contains("HTTP 500") == true)
        #expect(row.lastError?.contains("SECRET") == false)
        #expect(server.requests.compactMap { $0.json?["id"] as? String } == ["one-sided-7", "one-sided-7", "one-sided-7"])
        #expect(await dispatcher.deliverPending() == DeliveryRound())
    }

    @Test("run backs a failing sink off 100 ms, then 200 ms, and delivers on the third attempt (virtual time); cancel stops it")
    func runBacksOff() async throws {
        try makeAlertDatabase(databasePath, sinks: ["timed"], alerts: [sampleAlert("one-sided-7")])
        // Virtual time (the simulator's executor and clock): the attempts' times are exact, so the
        // backoff is read off them instead of inferred from how long the test took.
        let executor = VirtualTimeExecutor(seed: 1)
        let clock = VirtualClock(executor: executor)
        let sink = TimedSink("timed", failures: 2, clock: clock)
        let outbox = try outbox()
        let dispatcher = AlertDispatcher(outbox: outbox, sinks: [sink], clock: clock)
        // All of it on the virtual executor from its first instruction (see `drain` below).
        await Task(executorPreference: executor) {
            let running = Task(executorPreference: executor) { await dispatcher.run(pollMilliseconds: 20) }
            await sink.waitForDelivery()
            running.cancel()
            await running.value
        }.value

        // Polling every 20 ms without backoff would have tried at 0, 20 and 40 ms.
        #expect(await sink.attemptMilliseconds == [0, 100, 300])
        #expect(try await delivery(outbox, key: "one-sided-7", sink: "timed")?.attempts == 3)
        #expect(try await delivery(outbox, key: "one-sided-7", sink: "timed")?.deliveredAtMilliseconds != nil)
    }

    @Test("an alert left undelivered is delivered by a new dispatcher after a restart, and a sink added then gets it too")
    func deliveredAfterRestart() async throws {
        try makeAlertDatabase(databasePath, sinks: ["file"], alerts: [sampleAlert("one-sided-7")])
        let logPath = directory.path("logs/alerts.log")
        do {
            // Before the "crash": the file sink cannot write (its path is a directory).
            try FileManager.default.createDirectory(atPath: logPath, withIntermediateDirectories: true)
            let before = AlertDispatcher(outbox: try outbox(), sinks: [FileAlertSink(path: logPath)], clock: SystemClock())
            #expect(await before.deliverPending().failed == 1)
            try FileManager.default.removeItem(atPath: logPath)
        }

        let server = try await TestHTTPServer.start()
        let webhook = WebhookAlertSink(url: server.url("/hook"), timeoutMilliseconds: 2_000)
        let outbox = try outbox()
        let after = AlertDispatcher(outbox: outbox, sinks: [FileAlertSink(path: logPath), webhook], clock: SystemClock())
        let round = await after.deliverPending()
        await webhook.shutdown()
        await server.stop()

        #expect(round.delivered == 2)
        #expect(round.failed == 0)
        let line = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(line.hasPrefix(#"{"id":"one-sided-7""#))
        #expect(server.requests.count == 1)
        #expect(try await delivery(outbox, key: "one-sided-7", sink: "file")?.attempts == 2)
        #expect(try await delivery(outbox, key: "one-sided-7", sink: "webhook")?.attempts == 1)
        #expect(try await outbox.undeliveredAlerts().isEmpty)
    }

    @Test("a failing sink stops for the rest of the pass and does not hold up the other sinks; passes are bounded")
    func failingSinkIsolated() async throws {
        try makeAlertDatabase(databasePath, sinks: ["bad", "good"], alerts: (1...3).map { sampleAlert("A\($0)") })
        let good = ScriptedSink("good")
        let bad = ScriptedSink("bad", failures: nil)
        let outbox = try outbox()
        let dispatcher = AlertDispatcher(outbox: outbox, sinks: [good, bad], clock: SystemClock(), deliveriesPerPassMax: 4)

        let first = await dispatcher.deliverPending()
        #expect(first.delivered == 2)  // 4 rows fetched, 2 per sink
        #expect(first.failed == 1)
        #expect(first.deferred == 1)
        #expect(first.reachedLimit)
        #expect(await bad.attempted == ["A1"])
        let second = await dispatcher.deliverPending()
        #expect(second.delivered == 1)
        #expect(await good.delivered == ["A1", "A2", "A3"])
        #expect(try await outbox.undeliveredAlerts().map(\.key) == ["A1", "A2", "A3"])
        #expect(try await delivery(outbox, key: "A1", sink: "bad")?.attempts == 2)
        #expect(try await delivery(outbox, key: "A2", sink: "bad")?.attempts == 0)
    }

    @Test("drain delivers what is pending without waiting for its deadline, and gives up on a dead sink at its deadline (virtual time)")
    func drain() async throws {
        try makeAlertDatabase(databasePath, sinks: ["good", "dead"], alerts: [sampleAlert("A1"), sampleAlert("A2")])
        let executor = VirtualTimeExecutor(seed: 1)
        let clock = VirtualClock(executor: executor)
        let good = ScriptedSink("good", failures: 1)
        let quick = AlertDispatcher(outbox: try outbox(), sinks: [good], clock: clock)
        // Started as a task on the virtual executor, not with `withTaskExecutorPreference`: that
        // closure begins on the caller's thread, and its first call into the dispatcher (a
        // default actor) can run the actor there — drain's child tasks then wait for the actor
        // on a thread the virtual clock cannot see, and it jumps to the deadline (the CI flake).
        let (drained, drainedAt) = await Task(executorPreference: executor) {
            (await quick.drain(timeoutMilliseconds: 5_000), clock.monotonicNanoseconds() / 1_000_000)
        }.value
        // Done at its first retry after the one failure, long before the 5 s deadline.
        #expect(drainedAt == 100)
        #expect(drained.delivered == 2)
        #expect(drained.failed == 1)
        #expect(await good.delivered == ["A1", "A2"])

        let dead = ScriptedSink("dead", failures: nil)
        let outbox = try outbox()
        let stuck = AlertDispatcher(outbox: outbox, sinks: [dead], clock: clock)
        let (gaveUp, gaveUpAfter) = await Task(executorPreference: executor) {
            let started = clock.monotonicNanoseconds() / 1_000_000
            let round = await stuck.drain(timeoutMilliseconds: 300)
            return (round, clock.monotonicNanoseconds() / 1_000_000 - started)
        }.value
        #expect(gaveUpAfter == 300, "a dead sink is given up on at the deadline, not before or after")
        #expect(gaveUp.delivered == 0)
        #expect(gaveUp.failed >= 2)  // retried with backoff until the deadline
        // Still owed, every attempt recorded; the rows behind the first were never tried.
        #expect(try await delivery(outbox, key: "A1", sink: "dead")?.deliveredAtMilliseconds == nil)
        #expect(try await delivery(outbox, key: "A1", sink: "dead")?.attempts == gaveUp.failed)
        #expect(try await delivery(outbox, key: "A2", sink: "dead")?.attempts == 0)
    }

    @Test("makeSinks builds what the config asks for; ARB_WEBHOOK_URL overrides webhook_url")
    func makeSinks() async throws {
        let config = AlertConfig(console: true, filePath: "config/alerts.log", webhookURL: "https://config.example.com/hook/SECRET1")
        let all = try AlertDispatcher.makeSinks(config: config, alertFilePath: directory.path("alerts.log"),
                                            environment: ["ARB_WEBHOOK_URL": "https://env.example.com/hook/SECRET2"])
        #expect(all.map(\.name) == ["console", "file", "webhook"])
        #expect((all[1] as? FileAlertSink)?.path == directory.path("alerts.log"))
        #expect((all[2] as? WebhookAlertSink)?.redactedURL == "https://env.example.com/hook/REDACTED")

        let fromConfig = try AlertDispatcher.makeSinks(config: config, alertFilePath: nil, environment: ["ARB_WEBHOOK_URL": ""])
        #expect((fromConfig[1] as? FileAlertSink)?.path == "config/alerts.log")
        #expect((fromConfig[2] as? WebhookAlertSink)?.redactedURL == "https://config.example.com/hook/REDACTED")

        let none = try AlertDispatcher.makeSinks(config: AlertConfig(console: false, filePath: nil, webhookURL: nil),
                                             alertFilePath: nil, environment: [:])
        #expect(none.isEmpty)
        for sink in all + fromConfig { await sink.shutdown() }
    }
}

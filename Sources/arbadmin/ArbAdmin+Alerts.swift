import Foundation
import ArbEngine
import OrderStateMachine
import ArgumentParser

extension ArbAdmin {
    struct Alerts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The alert outbox, newest first, with each sink's delivery.",
            discussion: """
                Every alert the trader (or reconcile, or an operator's close) raised, with its \
                delivery to each sink: when it was delivered, or how many attempts failed and the \
                last error. An alert without any sink row was written while no sink was configured \
                (e.g. by arbadmin); the next `arb run` delivers it.
                """,
            subcommands: [AlertsTestCommand.self]
        )

        @OptionGroup var options: SharedOptions

        @Flag(name: .long, help: "Only alerts some sink has not received.")
        var undelivered = false

        @Option(name: .long, help: "At most this many (the newest).")
        var limit: Int?

        @Flag(name: .long, help: "Print each new alert as a block as it is written, until interrupted (as tail -f does).")
        var follow = false

        func validate() throws {
            if let limit, limit < 1 {
                throw ValidationError("--limit \(limit) would show nothing; type a number of alerts of at least 1")
            }
        }

        func run() async throws {
            let store = try options.context().openReadOnly()
            if follow { try await Self.follow(store, last: limit ?? 0) }
            let alerts = try AlertListing.read(store, undeliveredOnly: undelivered, limit: limit)
            let health = try store.sinkHealth()
            options.emit(lines: AlertListing.table(alerts, now: nowMilliseconds()) + (health.isEmpty ? [] : [""] + AlertListing.healthLines(health)),
                         json: AlertListing.json(alerts))
        }

        /// Prints the newest `last` alerts, then every new one as it is committed (polling the
        /// read-only database every half second), until the process is interrupted.
        static func follow(_ store: Store, last: Int) async throws -> Never {
            var seen = try store.allAlerts(limit: 1).first?.id ?? 0
            for alert in try store.allAlerts(limit: last).reversed() { print(AlertListing.block(alert)) }
            fflush(nil)
            while true {
                let new = try store.alerts(afterID: seen, limit: 100)
                for alert in new { print(AlertListing.block(alert)) }
                if let newest = new.last?.id { seen = newest }
                fflush(nil)
                try await Task.sleep(for: .milliseconds(new.count == 100 ? 0 : 500))
            }
        }
    }
}

struct AlertsTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Send a test alert straight to each configured sink and say whether it arrived.",
        discussion: """
            Builds the sinks from the config and the environment (TELEGRAM_BOT_TOKEN, \
            DISCORD_WEBHOOK_URL, SLACK_WEBHOOK_URL, ARB_WEBHOOK_URL) and delivers one critical test \
            alert to each (or only --sink NAME), not through the outbox. Exit 0 when every one arrived.
            """
    )

    @OptionGroup var options: SharedOptions

    @Option(name: .long, help: "Only this sink (console, file, webhook, telegram, discord, slack, command).")
    var sink: String?

    func run() async throws {
        let outcomes = try await AlertsTest.run(try options.context(), sink: sink, environment: ProcessInfo.processInfo.environment)
        print(AlertsTest.text(outcomes).joined(separator: "\n"))
        if outcomes.contains(where: { $0.failure != nil }) { throw ExitCode(AdminExitCode.needsAttention.rawValue) }
    }
}

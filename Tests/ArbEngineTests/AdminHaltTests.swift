import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

extension AdminCLITests {
    @Suite("halt and resume")
    struct Halting {
        @Test("a running arb run obeys halt: nothing is opened after it, a restart stays halted, resume clears it")
        func haltObeyedByRunningTrader() throws {
            let directory = TemporaryDirectory()
            let db = directory.path("arb.db")
            let config = try AdminCLITests.Reconcile.reliableConfig(directory)
            let trader = try BackgroundTrader(["run", "--config", config, "--db", db, "--seed", "3", "--duration", "30",
                                               "--log-level", "error"], directory: directory)
            // Halt only once the trader has sent something, so "nothing sent after" means something.
            let trading = trader.waitFor(timeoutSeconds: 10) { ((try? sentTimes(db)) ?? []).count > 0 }
            try #require(trading, "the trader sent nothing: \(trader.stderr)")

            let halt = try arbadmin(["halt", "--db", db, "--reason", "kalshi maintenance"])
            #expect(halt.status == 0, "\(halt.summary)")
            #expect(halt.stdout.hasPrefix("halted: kalshi maintenance"))
            let haltedAt = try #require(try readStore(db) { try $0.haltState().sinceMilliseconds })
            #expect(trader.process.isRunning, "the trader ended before the halt: the test proves nothing")
            // Let the halted trader see quotes for a while, then stop it as an operator would (SIGINT: drain, exit 0).
            usleep(2_000_000)
            kill(trader.pid, SIGINT)
            #expect(trader.waitForExit(timeoutSeconds: 20) == 0, "\(trader.stderr)")
            #expect(trader.stdout.contains("HALTED: kalshi maintenance"))
            // Nothing reached InFlight (nothing was sent) after the halt committed.
            let sent = try sentTimes(db)
            #expect(sent.contains { $0 < haltedAt })
            #expect(sent.allSatisfy { $0 <= haltedAt }, "sent after the halt at \(haltedAt): \(sent.filter { $0 > haltedAt })")
            // No new opportunity at all after the halt: not even a recorded refusal.
            let recorded = try readStore(db) { try $0.opportunitySummaries(.all).map(\.opportunity) }
            let afterHalt = recorded.filter { $0.createdAtMilliseconds > haltedAt }
            #expect(afterHalt.isEmpty, "recorded after the halt: \(afterHalt.map { "\($0.id) \($0.state): \($0.stateReason)" })")

            // A restart stays halted: it sends nothing.
            let sentBefore = try sentTimes(db).count
            let restarted = try runProduct("arb", ["run", "--config", config, "--db", db, "--seed", "4", "--duration", "1",
                                                   "--log-level", "error"])
            #expect(restarted.status == 0, "\(restarted.summary)")
            #expect(restarted.stdout.contains("HALTED: kalshi maintenance"))
            #expect(try sentTimes(db).count == sentBefore)

            let status = try arbadmin(["status", "--db", db])
            #expect(status.stdout.contains("halt        HALTED since ") && status.stdout.contains(": kalshi maintenance"))

            let resume = try arbadmin(["resume", "--db", db])
            #expect(resume.status == 0 && resume.stdout.hasPrefix("resumed:"), "\(resume.summary)")
            #expect(try readStore(db) { try $0.haltState().halted } == false)
            let twice = try arbadmin(["resume", "--db", db, "--json"])
            #expect(try twice.status == 0 && twice.jsonObject()["was_halted"] as? Bool == false)
        }
    }
}

/// When each opportunity was sent: the time of its transition into InFlight (intent committed,
/// orders about to go out).
private func sentTimes(_ db: String) throws -> [Int64] {
    try readStore(db) { store in
        try store.opportunitySummaries(.all).compactMap { summary in
            try store.transitions(of: summary.opportunity.id).first { $0.to == .inFlight }?.atMilliseconds
        }
    }
}

import ArbEngine
import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Exposure reminders: while a one-sided exposure stays open", .serialized, .exclusive)
struct ExposureReminderTests {
    @Test("one per interval with the current exposure, none twice (also across a restart), only the current one after a gap, none once flattened")
    func schedule() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("insufficient liquidity"))
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        let since = try #require(try harness.history().alerts.first { $0.kind == "one_sided" }).createdAtMilliseconds
        let minute: Int64 = 60_000
        let interval = 15 * minute
        let store = harness.store
        let id = store.databaseID
        #expect(try ExposureReminders.due(store, databaseID: id, now: since + 14 * minute, intervalMilliseconds: interval).isEmpty)
        #expect(try await ExposureReminders.raise(harness.ledger, now: since + 15 * minute, intervalMilliseconds: interval) == 1)
        #expect(try await ExposureReminders.raise(harness.ledger, now: since + 20 * minute, intervalMilliseconds: interval) == 0)
        let reminder = try #require(try harness.history().alerts.first { $0.kind == "one_sided_reminder" })
        #expect(reminder.key == "reminder-\(id)-1-1" && reminder.severity == .critical)
        #expect(reminder.text.contains("REMINDER 1: opportunity 1 (EV) is still one-sided after 15 min: 10.00 contracts exposed"), "\(reminder.text)")
        #expect(reminder.deliveries.map(\.sink) == ["file"])

        // A restart (another connection to the same file) owes nothing new at the same time.
        let reopened = try Store(path: store.path, durability: .normal, alertSinks: ["file"])
        #expect(try ExposureReminders.due(reopened, databaseID: id, now: since + 20 * minute, intervalMilliseconds: interval).isEmpty)
        // After a two-hour gap: only the current reminder (8), not 2 … 8.
        let late = try ExposureReminders.due(reopened, databaseID: id, now: since + 125 * minute, intervalMilliseconds: interval)
        #expect(late.map(\.alert.key) == ["reminder-\(id)-1-8"])

        // Flattened: the exposure is closed, no more reminders.
        let result = try store.closeByOperator(1, expected: .closed(.oneSided), reason: "flattened by hand", flattened: true, alert: nil,
                                               at: since + 126 * minute)
        #expect(result == .markedFlattened)
        #expect(try ExposureReminders.due(reopened, databaseID: id, now: since + 200 * minute, intervalMilliseconds: interval).isEmpty)
        #expect(try ExposureReminders.due(reopened, databaseID: id, now: since + 200 * minute, intervalMilliseconds: 0).isEmpty)
    }

    @Test("remind_every_minutes: default 15, 0 turns reminders off, a bad value is refused by path")
    func config() throws {
        #expect(try TraderConfig.decode(json: minimalConfigJSON, source: "t").alerts.remindEveryMinutes == 15)
        let off = minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with: #""alerts": {"remind_every_minutes": 0}, "risk": {"#)
        #expect(try TraderConfig.decode(json: off, source: "t").alerts.remindEveryMinutes == 0)
        let bad = minimalConfigJSON.replacingOccurrences(of: #""risk": {"#, with: #""alerts": {"remind_every_minutes": -5}, "risk": {"#)
        #expect(configError(bad)?.description.contains("alerts.remind_every_minutes is -5") == true)
    }
}

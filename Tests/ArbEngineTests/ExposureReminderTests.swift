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

    @Test("with a trusted bid a reminder marks the exposure to market after the fee to sell; a stale, missing or other book gives no mark")
    func markToMarket() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("insufficient liquidity"))
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        let since = try #require(try harness.history().alerts.first { $0.kind == "one_sided" }).createdAtMilliseconds
        let interval: Int64 = 15 * 60_000
        let at = since + interval
        let store = harness.store
        let book = MarkBook(trustedForMilliseconds: 400)
        let marker: ExposureReminders.Marker = { _, exposure, legs, now in
            ExposureMark(exposure: exposure, legs: legs, book: book, fee: { $0 == "kalshi" ? .kalshiTaker : .free }, now: now)
        }
        func reminder(_ now: Int64) throws -> (text: String, body: String) {
            let due = try ExposureReminders.due(store, databaseID: store.databaseID, now: now, intervalMilliseconds: interval, marker: marker)
            let alert = try #require(due.first?.alert)
            return (alert.text, alert.bodyJSON)
        }
        #expect(try reminder(at).text.contains("; no trusted book to mark it"))
        let bid = Price(ticks: 4_100)!
        // The other leg's instrument, and the same instrument at the other venue, do not mark this one.
        book.record(Quote(timestampMilliseconds: at - 100, venue: "polymarket", instrument: "P-1", bid: bid, bidSize: .zero, ask: nil, askSize: .zero))
        book.record(Quote(timestampMilliseconds: at - 100, venue: "polymarket", instrument: "K-1", bid: bid, bidSize: .zero, ask: nil, askSize: .zero))
        #expect(try reminder(at).text.contains("; no trusted book to mark it"))
        book.record(Quote(timestampMilliseconds: at - 100, venue: "kalshi", instrument: "K-1", bid: bid, bidSize: .zero, ask: nil, askSize: .zero))
        let exposure = Exposure(legs: try store.legs(of: 1))
        let size = Quantity(contracts: 10)
        let proceeds = Money(price: bid, quantity: size) - Fees.kalshiTaker(price: bid, quantity: size)
        let unrealised = proceeds - exposure.atRisk
        #expect(unrealised < .zero && exposure.atRisk > .zero)
        let marked = try reminder(at)
        #expect(marked.text.contains("10.00 contracts exposed, \(exposure.atRisk) at risk; marked at the kalshi bid 0.4100 (100 ms old): "
                                     + "\(proceeds) after the fee to sell, unrealised \(unrealised)."), "\(marked.text)")
        #expect(marked.body.contains(#""unrealised_usd":"\#(unrealised.decimalString)""#), "\(marked.body)")
        // Older than the trader's staleness: no longer trusted.
        #expect(try reminder(at + 301).text.contains("; no trusted book to mark it"))
        #expect(try reminder(at + 301).body.contains(#""mark":null"#))
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

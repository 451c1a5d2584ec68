import ArbTestSupport
import ArbEngine
import OrderStateMachine
import Testing

@Suite("arbadmin text: ages, tables, CSV, --since")
struct AdminTextTests {
    @Test("ages for people", arguments: [
        (0 as Int64, "0ms ago"), (850, "850ms ago"), (12_000, "12s ago"), (192_000, "3m12s ago"),
        (7_500_000, "2h05m ago"), (273_600_000, "3d04h ago"), (-2_000, "in 2s"),
    ])
    func ages(delta: Int64, expected: String) {
        #expect(AdminText.age(1_000_000_000 - delta, now: 1_000_000_000) == expected)
    }

    @Test("CSV fields are quoted only when RFC 4180 needs it, quotes doubled")
    func csv() {
        #expect(AdminText.csvRecord(["a", "b c", "1.50"]) == "a,b c,1.50")
        #expect(AdminText.csvRecord(["x, y", "say \"hi\"", "two\nlines", ""]) == "\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\",")
        #expect(parseCSV(AdminText.csvRecord(["x, y", "say \"hi\"", "two\nlines", ""]) + "\r\n") == [["x, y", "say \"hi\"", "two\nlines", ""]])
    }

    @Test("--since: ISO 8601 times and dates in UTC, offsets, fractional seconds, ages; anything else refused")
    func since() {
        let now: Int64 = 1_750_000_000_000
        #expect(AdminText.parseSince("2025-06-01T00:00:00Z", now: now) == 1_748_736_000_000)
        #expect(AdminText.parseSince("2025-06-01T02:00:00+02:00", now: now) == 1_748_736_000_000)
        #expect(AdminText.parseSince("2025-06-01T00:00:00.250Z", now: now) == 1_748_736_000_250)
        #expect(AdminText.parseSince("2025-06-01", now: now) == 1_748_736_000_000)
        #expect(AdminText.parseSince("2024-02-29T23:59:59.9999Z", now: now) == 1_709_251_199_999)
        #expect(AdminText.parseSince("1969-12-31T23:00:00-01:00", now: now) == 0)
        #expect(AdminText.parseSince("90m", now: now) == now - 5_400_000)
        #expect(AdminText.parseSince("3d", now: now) == now - 259_200_000)
        for bad in ["yesterday", "", "2025-06-01T25:00:00Z", "2025-06-01T00:00:00Zjunk", "2025-06-01x", "2025-02-29", "2025-06-01T12:00:00", "2025-06-01T12:00:00+2:00", "-5m", "5w", "1.5h"] {
            #expect(AdminText.parseSince(bad, now: now) == nil, "\(bad)")
        }
    }

    @Test("tables align columns and keep every cell on one line")
    func table() {
        let lines = AdminText.table(["ID", "NAME"], [["1", "a\nb"], ["100", "c"]], alignments: [.right, .left])
        #expect(lines == [" ID  NAME", "  1  a\\nb", "100  c"])
    }

    @Test("exposure: the leading leg's unmatched contracts and their share of its cost and fees, rounded up")
    func exposure() {
        let a = LegFills(filled: Quantity(contracts: 6), cost: Money(cents: 270), fees: Money(cents: 11))
        let b = LegFills(filled: Quantity(contracts: 4), cost: Money(cents: 200), fees: .zero)
        let exposure = Exposure(a: a, b: b)
        #expect(exposure.hedged == Quantity(contracts: 4) && exposure.exposed == Quantity(contracts: 2))
        #expect(exposure.atRisk == Money(micros: 936_667) && exposure.leadingLeg == .a)
        #expect(Exposure(a: b, b: b) == Exposure(hedged: Quantity(contracts: 4), exposed: .zero, atRisk: .zero, leadingLeg: nil))
        #expect(Exposure(a: nil, b: nil) == .none)
    }
}

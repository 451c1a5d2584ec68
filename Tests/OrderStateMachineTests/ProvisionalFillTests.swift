import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Provisional fills: recorded, confirmed, undone — with the leg sums kept by the database")
struct ProvisionalFillTests {
    let directory = TemporaryDirectory()

    func begun(_ store: Store) throws -> OpportunityID {
        guard case .created(let id) = try store.createAndBegin(sampleOpportunity("EV"), reason: "gate", makeLegs: { sampleLegs(store, $0) })
        else { throw StoreError.transitionRefused(.notFound(0)) }
        return id
    }

    func report(_ store: Store, _ id: OpportunityID, trade: String, contracts: Int64, _ certainty: FillCertainty) -> FillReport {
        FillReport(venue: "polymarket", tradeID: trade, clientOrderID: store.clientOrderID(opportunity: id, leg: .b),
                   price: Price(ticks: 5_000)!, quantity: Quantity(contracts: contracts), fee: Money(cents: 7),
                   filledAtMilliseconds: 5, certainty: certainty)
    }

    @Test("provisional → confirmed keeps the sums; provisional → failed takes them back; each report is idempotent")
    func lifecycle() throws {
        let store = try Store(path: directory.path("p.db"), durability: .normal)
        let id = try begun(store)
        let client = store.clientOrderID(opportunity: id, leg: .b)
        #expect(try store.recordFill(report(store, id, trade: "t1", contracts: 6, .provisional), at: 10) == .recorded)
        #expect(try store.recordFill(report(store, id, trade: "t2", contracts: 4, .provisional), at: 10) == .recorded)
        #expect(try store.leg(clientOrderID: client)?.filledQuantity == Quantity(contracts: 10))
        #expect(try store.recordFill(report(store, id, trade: "t1", contracts: 6, .provisional), at: 11) == .duplicate)
        #expect(try store.recordFill(report(store, id, trade: "t1", contracts: 6, .certain), at: 12) == .confirmed)
        #expect(try store.recordFill(report(store, id, trade: "t1", contracts: 6, .certain), at: 13) == .duplicate)
        #expect(try store.recordFill(report(store, id, trade: "t2", contracts: 4, .failed), at: 14) == .reversed)
        #expect(try store.recordFill(report(store, id, trade: "t2", contracts: 4, .failed), at: 15) == .duplicate)
        // A confirmed fill cannot be undone, nor an undone one confirmed.
        #expect(try store.recordFill(report(store, id, trade: "t1", contracts: 6, .failed), at: 16) == .duplicate)
        #expect(try store.recordFill(report(store, id, trade: "t2", contracts: 4, .certain), at: 17) == .duplicate)
        // A failure of a trade never recorded adds nothing.
        #expect(try store.recordFill(report(store, id, trade: "t9", contracts: 1, .failed), at: 18) == .duplicate)
        let leg = try #require(try store.leg(clientOrderID: client))
        #expect(leg.filledQuantity == Quantity(contracts: 6))
        #expect(leg.filledCost == Money(price: Price(ticks: 5_000)!, quantity: Quantity(contracts: 6)) && leg.fees == Money(cents: 7))
        let fills = try store.fills(of: id)
        #expect(fills.map(\.tradeID) == ["t1", "t2"])
        #expect(fills.map(\.provisional) == [false, true] && fills.map(\.reversed) == [false, true])
        #expect(try store.positionFills().map(\.quantity) == [Quantity(contracts: 6)], "an undone fill still counted in positions")
    }

    @Test("the schema refuses by hand: un-confirming, changing a provisional fill's quantity, reversing a certain fill, deleting a reversal")
    func triggers() throws {
        let store = try Store(path: directory.path("t.db"), durability: .normal)
        let id = try begun(store)
        _ = try store.recordFill(report(store, id, trade: "t1", contracts: 6, .provisional), at: 10)
        _ = try store.recordFill(report(store, id, trade: "t2", contracts: 2, .certain), at: 10)
        for sql in ["UPDATE fills SET quantity = 100 WHERE trade_id = 't1'",
                    "UPDATE fills SET provisional = 1 WHERE trade_id = 't2'",
                    "INSERT INTO fill_reversals (fill_id, reason, recorded_at_ms) SELECT id, 'x', 1 FROM fills WHERE trade_id = 't2'"] {
            #expect(throws: SQLiteError.self, "\(sql)") { try store.connection.execute(sql) }
        }
        try store.connection.execute("INSERT INTO fill_reversals (fill_id, reason, recorded_at_ms) SELECT id, 'x', 1 FROM fills WHERE trade_id = 't1'")
        #expect(throws: SQLiteError.self) { try store.connection.execute("DELETE FROM fill_reversals") }
        #expect(throws: SQLiteError.self) { try store.connection.execute("UPDATE fills SET provisional = 0 WHERE trade_id = 't1'") }
        #expect(try store.leg(clientOrderID: store.clientOrderID(opportunity: id, leg: .b))?.filledQuantity == Quantity(contracts: 2))
    }

    @Test("a version 2 file migrates: the provisional column, reversals and Filled → OneSided, and its fills stay certain")
    func migration() throws {
        let path = directory.path("v2.db")
        do {
            let store = try Store(path: path, durability: .normal)
            let id = try begun(store)
            _ = try store.recordFill(report(store, id, trade: "old", contracts: 3, .certain), at: 10)
            // Back to what a version 2 build wrote.
            try UnwindingStateTests.dropUnwindTables(store)
            try store.connection.execute("""
                DROP TRIGGER fill_reversals_only_provisional; DROP TRIGGER fill_reversals_subtract_from_leg;
                DROP TRIGGER fill_reversals_no_update; DROP TRIGGER fill_reversals_no_delete; DROP TABLE fill_reversals;
                DROP TRIGGER fills_no_update; ALTER TABLE fills DROP COLUMN provisional;
                CREATE TRIGGER fills_no_update BEFORE UPDATE ON fills BEGIN SELECT RAISE(ABORT, 'append-only'); END;
                PRAGMA user_version = 2;
                """)
        }
        let store = try Store(path: path, durability: .normal)
        #expect(try store.connection.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == Schema.version)
        #expect(try store.fills(of: 1).map(\.provisional) == [false])
        #expect(try store.recordFill(report(store, 1, trade: "new", contracts: 2, .provisional), at: 20) == .recorded)
        #expect(try store.recordFill(report(store, 1, trade: "new", contracts: 2, .failed), at: 21) == .reversed)
        #expect(try store.leg(clientOrderID: store.clientOrderID(opportunity: 1, leg: .b))?.filledQuantity == Quantity(contracts: 3))
        let steps = [TransitionStep(.legsAcknowledged, reason: "t"), TransitionStep(.legsEven, reason: "t"),
                     TransitionStep(.imbalanced, reason: "a fill was undone")]
        #expect(try store.advance(1, from: .inFlight, steps: steps, at: 30) == .applied(.oneSided))
    }
}

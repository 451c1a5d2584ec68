import ArbTestSupport
@testable import OrderStateMachine
import Testing

@Suite("records decode by column name")
struct ColumnsTests {
    @Test("a case's name is its column's: camelCase to snake_case, acronyms kept whole")
    func names() {
        #expect(Store.LegColumn.venueOrderID.name == "venue_order_id")
        #expect(Store.AlertColumn.bodyJSON.name == "body_json")
        #expect(Store.OpportunityColumn.instrumentA.name == "instrument_a")
        #expect(Store.OpportunityColumn.expectedFeesMicros.name == "expected_fees_micros")
        #expect(Store.TransitionColumn.list(table: "t") == "t.id, t.opportunity_id, t.from_state, t.to_state, t.outcome, t.reason, t.at_ms")
        #expect(Store.OpportunityColumn.width == 20)
    }

    /// Every column a record enum names exists in its table of a real database, so a renamed
    /// column or a case in the wrong place cannot go unnoticed.
    @Test("every record's columns are its table's, in a real database")
    func columnsExist() throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("arb.db"))
        func columns(_ table: String) throws -> Set<String> {
            Set(try store.connection.prepare("SELECT name FROM pragma_table_info(?)").query(table) { $0.text(0) })
        }
        func check<C: Columns>(_: C.Type, _ table: String) throws {
            let missing = C.allCases.map(\.name).filter { !((try? columns(table)) ?? []).contains($0) }
            #expect(missing.isEmpty, "\(C.self) names columns \(table) lacks: \(missing)")
            #expect(C.allCases.enumerated().allSatisfy { Int32($0.offset) == $0.element.rawValue }, "\(C.self) positions")
        }
        try check(Store.OpportunityColumn.self, "opportunities")
        try check(Store.LegColumn.self, "legs")
        try check(Store.FillColumn.self, "fills")
        try check(Store.TransitionColumn.self, "transitions")
        try check(Store.AlertColumn.self, "alerts")
        try check(Store.DeliveryColumn.self, "alert_deliveries")
        try check(Store.LegSumColumn.self, "legs")
    }
}

import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Unwinding: the state and its outcomes, and a version 3 file migrated to them")
struct UnwindingStateTests {
    let directory = TemporaryDirectory()

    /// Drops what version 4 added beside `opportunities`: the unwind tables, their index and triggers.
    static func dropUnwindTables(_ store: Store) throws {
        try store.connection.execute("""
            DROP TRIGGER unwind_orders_only_unwinding; DROP TRIGGER unwind_orders_no_delete; DROP TRIGGER unwind_fills_accumulate;
            DROP TRIGGER unwind_fills_reverse; DROP TRIGGER unwind_fills_no_update; DROP TRIGGER unwind_fills_no_delete;
            DROP INDEX unwind_fills_by_order; DROP TABLE unwind_fills; DROP TABLE unwind_orders;
            """)
    }

    /// The opportunities table and transition trigger as a version 3 build wrote them.
    static func versionThree(_ store: Store) throws {
        try dropUnwindTables(store)
        var table = Schema.statement(creatingTable: "opportunities")
        table.removeLast()  // the ";"
        table = table.replacingOccurrences(of: " OR state = 'Unwinding'", with: "")
            .replacingOccurrences(of: " OR outcome = 'completed' OR outcome = 'flattened'", with: "")
        #expect(!table.contains("Unwinding") && !table.contains("completed"), "the version 3 text was not rebuilt")
        let trigger = Schema.statement(creating: "opportunities_legal_transition").split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("Unwinding") }.joined(separator: "\n")
        let db = store.connection
        let version = try db.prepare("PRAGMA schema_version").queryOne { $0.int64(0) } ?? 0
        try db.execute("PRAGMA writable_schema = ON")
        try db.prepare("UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'opportunities'").execute(table)
        try db.execute("PRAGMA schema_version = \(version + 1)")
        try db.execute("PRAGMA writable_schema = OFF")
        try db.execute("DROP TRIGGER opportunities_legal_transition")
        try db.execute(trigger)
        try db.execute("PRAGMA user_version = 3")
    }

    func cancelAttempted(_ store: Store, _ key: String) throws -> OpportunityID {
        guard case .created(let id) = try store.createOpportunity(sampleOpportunity(key)) else { throw StoreError.transitionRefused(.notFound(0)) }
        let steps = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent].map { TransitionStep($0, reason: "path") }
        #expect(try store.advance(id, from: .detected, steps: steps, at: 2_000) == .applied(.cancelAttempted))
        return id
    }

    @Test("CancelAttempted → Unwinding → Closed(completed | flattened | one_sided | manual), logged; Unwinding is live for the dedup key and exposed for list --one-sided")
    func lifecycle() throws {
        let store = try Store(path: directory.path("u.db"), durability: .normal)
        for (index, close) in [OpportunityEvent.unwindCompleted, .unwindFlattened, .unwindGaveUp, .closedByOperator].enumerated() {
            let id = try cancelAttempted(store, "EV\(index)")
            #expect(try store.advance(id, from: .cancelAttempted, steps: [TransitionStep(.unwindStarted, reason: "unwind: complete")], at: 3_000)
                    == .applied(.unwinding))
            #expect(try store.oneSidedOpportunities().map(\.id).contains(id), "an unwinding exposure left list --one-sided")
            // Still live: a second opportunity on its key is refused.
            #expect(try store.createOpportunity(sampleOpportunity("EV\(index)")) != .created(id + 1))
            let expected: OpportunityState = switch close {
            case .unwindCompleted: .closed(.completed)
            case .unwindFlattened: .closed(.flattened)
            case .unwindGaveUp: .closed(.oneSided)
            default: .closed(.manual)
            }
            #expect(try store.advance(id, from: .unwinding, steps: [TransitionStep(close, reason: "done")], at: 4_000) == .applied(expected))
            #expect(try store.transitions(of: id).suffix(2).map(\.to) == [.unwinding, expected])
        }
    }

    @Test("a version 3 file migrates to 4 and on: its rows kept, Unwinding and the new outcomes allowed, its schema text the same as a new file's")
    func migration() throws {
        let path = directory.path("v3.db")
        let fresh = try Store(path: directory.path("fresh.db"), durability: .normal)
        let schemaQuery = "SELECT name, sql FROM sqlite_schema WHERE name LIKE 'opportunities%' OR name LIKE 'unwind%' ORDER BY name"
        let freshSQL = try fresh.connection.prepare(schemaQuery)
            .query { "\($0.text(0)): \($0.text(1))" }
        do {
            let store = try Store(path: path, durability: .normal)
            let id = try cancelAttempted(store, "OLD")
            try Self.versionThree(store)
            // The version 3 form refuses the new state (so the migration below is what allows it).
            #expect(throws: SQLiteError.self) {
                try store.connection.prepare("UPDATE opportunities SET state = 'Unwinding' WHERE id = ?").execute(id)
            }
        }
        let store = try Store(path: path, durability: .normal)
        #expect(try store.connection.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == Schema.version)
        #expect(try store.connection.prepare("PRAGMA integrity_check").query { $0.text(0) } == ["ok"])
        #expect(try store.state(of: 1) == .cancelAttempted, "the row did not survive")
        #expect(try store.advance(1, from: .cancelAttempted, steps: [TransitionStep(.unwindStarted, reason: "t")], at: 5_000) == .applied(.unwinding))
        #expect(try store.advance(1, from: .unwinding, steps: [TransitionStep(.unwindFlattened, reason: "t")], at: 6_000) == .applied(.closed(.flattened)))
        let migratedSQL = try store.connection.prepare(schemaQuery)
            .query { "\($0.text(0)): \($0.text(1))" }
        #expect(migratedSQL == freshSQL)
        // The CHECKs still hold after the rewrite: a state or outcome no version allows is refused.
        let id = try cancelAttempted(store, "NEW")
        #expect(throws: SQLiteError.self) {
            try store.connection.execute("PRAGMA ignore_check_constraints = OFF")
            try store.connection.prepare("UPDATE opportunities SET state = 'Closed', outcome = 'won' WHERE id = ?").execute(id)
        }
    }
}

@Suite("Unwind orders: persisted before they are sent, only while Unwinding, their fills summed by the database")
struct UnwindOrderStoreTests {
    let directory = TemporaryDirectory()

    func unwinding(_ store: Store) throws -> (OpportunityID, UnwindOrderIntent) {
        guard case .created(let id) = try store.createOpportunity(sampleOpportunity("EV")) else { throw StoreError.transitionRefused(.notFound(0)) }
        let path = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent].map { TransitionStep($0, reason: "path") }
        #expect(try store.advance(id, from: .detected, steps: path, at: 2_000) == .applied(.cancelAttempted))
        let first = intent(store, id, attempt: 1)
        // Entering Unwinding and persisting the first order are one commit.
        #expect(try store.transition(id, from: .cancelAttempted, TransitionStep(.unwindStarted, reason: "unwind: complete"), at: 3_000,
                                     changes: TransitionChanges(unwindOrders: [first])) == .applied(.unwinding))
        return (id, first)
    }

    func intent(_ store: Store, _ id: OpportunityID, attempt: Int, limit: Int64 = 5_500, bound: Int64 = 5_700,
                action: UnwindAction = .complete, contracts: Int64 = 10) -> UnwindOrderIntent {
        UnwindOrderIntent(attempt: attempt, action: action, venue: "polymarket", instrument: "P-NO", limitPrice: Price(ticks: limit)!,
                          boundPrice: Price(ticks: bound)!, quantity: Quantity(contracts: contracts), exposure: Quantity(contracts: 10),
                          lossBudget: Money(cents: 20), clientOrderID: store.clientOrderID(opportunity: id, unwindAttempt: attempt))
    }

    func fill(_ store: Store, _ id: OpportunityID, attempt: Int, trade: String, contracts: Int64,
              _ certainty: FillCertainty = .certain) -> FillReport {
        FillReport(venue: "polymarket", tradeID: trade, clientOrderID: store.clientOrderID(opportunity: id, unwindAttempt: attempt),
                   price: Price(ticks: 5_500)!, quantity: Quantity(contracts: contracts), fee: Money(cents: 3), filledAtMilliseconds: 9,
                   certainty: certainty)
    }

    @Test("the first order commits with the move to Unwinding, later ones while it stays there, none before or after; ids arb-<db>-<id>-u<n>")
    func onlyWhileUnwinding() throws {
        let store = try Store(path: directory.path("u.db"), durability: .normal)
        let (id, first) = try unwinding(store)
        try store.record(TransitionChanges(unwindOrders: [intent(store, id, attempt: 2, limit: 5_600)]), opportunity: id, at: 4_000)
        let orders = try store.unwindOrders(of: id)
        #expect(orders.map(\.intent) == [first, intent(store, id, attempt: 2, limit: 5_600)])
        #expect(orders.allSatisfy { $0.status == .pending && $0.filledQuantity.isZero })
        #expect(first.clientOrderID == "arb-\(store.databaseID)-\(id)-u1")
        // Attempt numbers are unique per opportunity.
        #expect(throws: SQLiteError.self) { try store.record(TransitionChanges(unwindOrders: [intent(store, id, attempt: 2)]), opportunity: id, at: 4_500) }
        // Closed: no more unwind orders.
        #expect(try store.transition(id, from: .unwinding, TransitionStep(.unwindCompleted, reason: "done"), at: 5_000) == .applied(.closed(.completed)))
        #expect(throws: SQLiteError.self) { try store.record(TransitionChanges(unwindOrders: [intent(store, id, attempt: 3)]), opportunity: id, at: 6_000) }
        // A transition that would persist one from CancelAttempted without entering Unwinding is refused whole.
        guard case .created(let other) = try store.createOpportunity(sampleOpportunity("EV2")) else { return }
        let path = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent].map { TransitionStep($0, reason: "path") }
        #expect(throws: SQLiteError.self) {
            try store.advance(other, from: .detected, steps: path, at: 7_000, changes: TransitionChanges(unwindOrders: [intent(store, other, attempt: 1)]))
        }
        #expect(try store.state(of: other) == .detected, "a refused commit left a change")
    }

    @Test("the schema refuses a limit past the bound and a side that does not fit the action")
    func schemaRefusals() throws {
        let store = try Store(path: directory.path("u.db"), durability: .normal)
        let (id, _) = try unwinding(store)
        #expect(throws: SQLiteError.self) {
            try store.record(TransitionChanges(unwindOrders: [intent(store, id, attempt: 2, limit: 5_800, bound: 5_700)]), opportunity: id, at: 4_000)
        }
        #expect(throws: SQLiteError.self) {
            try store.record(TransitionChanges(unwindOrders: [intent(store, id, attempt: 2, limit: 4_200, bound: 4_300, action: .flatten)]),
                             opportunity: id, at: 4_000)
        }
        try store.record(TransitionChanges(unwindOrders: [intent(store, id, attempt: 2, limit: 4_400, bound: 4_300, action: .flatten)]),
                         opportunity: id, at: 4_000)
        #expect(try store.unwindOrders(of: id).last?.intent.action == .flatten)
    }

    @Test("fills by client order id: recorded once, summed onto the order, confirmed or reversed, never past its quantity; legs untouched")
    func fills() throws {
        let store = try Store(path: directory.path("u.db"), durability: .normal)
        let (id, first) = try unwinding(store)
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t1", contracts: 4), at: 10) == .recorded)
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t1", contracts: 4), at: 11) == .duplicate)
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t2", contracts: 3, .provisional), at: 12) == .recorded)
        var order = try #require(try store.unwindOrders(of: id).first)
        #expect(order.filledQuantity == Quantity(contracts: 7) && order.filledCost == Money(micros: 5_500 * 700) && order.fees == Money(cents: 6))
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t2", contracts: 3, .failed), at: 13) == .reversed)
        order = try #require(try store.unwindOrders(of: id).first)
        #expect(order.filledQuantity == Quantity(contracts: 4) && order.fees == Money(cents: 3))
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t2", contracts: 3, .certain), at: 14) == .duplicate,
                "a reversed fill was confirmed")
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t3", contracts: 7), at: 15) == .exceedsOrder)
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t4", contracts: 6, .provisional), at: 16) == .recorded)
        #expect(try store.recordFill(fill(store, id, attempt: 1, trade: "u-t4", contracts: 6, .certain), at: 17) == .confirmed)
        #expect(try store.unwindOrders(of: id).first?.filledQuantity == first.quantity)
        #expect(try store.legs(of: id).allSatisfy { $0.filledQuantity.isZero }, "an unwind fill landed on a leg")
        try store.record(TransitionChanges(unwindUpdates: [UnwindOrderUpdate(clientOrderID: first.clientOrderID, status: .filled,
                                                                             venueOrderID: "0xabc")]), opportunity: id, at: 18)
        #expect(try store.unwindOrders(of: id).first.map { ($0.status, $0.intent.venueOrderID) } ?? (.pending, nil) == (.filled, "0xabc"))
        // History stays.
        #expect(throws: SQLiteError.self) { try store.connection.execute("DELETE FROM unwind_fills") }
        #expect(throws: SQLiteError.self) { try store.connection.execute("DELETE FROM unwind_orders") }
        #expect(throws: SQLiteError.self) { try store.connection.execute("UPDATE unwind_fills SET price = 1") }
    }
}

@Suite("An operator's unwind: Closed(one_sided) reopened to Unwinding (schema v5), and nothing else leaves Closed")
struct OperatorUnwindStateTests {
    let directory = TemporaryDirectory()

    func closedOneSided(_ store: Store, _ key: String) throws -> OpportunityID {
        guard case .created(let id) = try store.createOpportunity(sampleOpportunity(key)) else { throw StoreError.transitionRefused(.notFound(0)) }
        let path = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent, .closedExposed].map { TransitionStep($0, reason: "path") }
        #expect(try store.advance(id, from: .detected, steps: path, at: 2_000) == .applied(.closed(.oneSided)))
        return id
    }

    @Test("reopened with the operator's note, logged from Closed(one_sided); live again for its key; unwind orders allowed; closes again")
    func reopened() throws {
        let store = try Store(path: directory.path("o.db"), durability: .normal)
        let id = try closedOneSided(store, "EV")
        #expect(try store.transition(id, from: .closed(.oneSided), TransitionStep(.operatorUnwind, reason: "operator: unwind it"), at: 3_000)
                == .applied(.unwinding))
        let last = try #require(try store.transitions(of: id).last)
        #expect(last.from == .closed(.oneSided) && last.to == .unwinding && last.reason == "operator: unwind it")
        // Live for its key again: the same opportunity cannot be opened beside it.
        #expect(try store.createOpportunity(sampleOpportunity("EV")) == .duplicate(existing: id))
        let order = UnwindOrderIntent(attempt: 1, action: .complete, venue: "polymarket", instrument: "P-NO", limitPrice: Price(ticks: 5_500)!,
                                      boundPrice: Price(ticks: 5_700)!, quantity: Quantity(contracts: 10), exposure: Quantity(contracts: 10),
                                      lossBudget: Money(cents: 20), clientOrderID: store.clientOrderID(opportunity: id, unwindAttempt: 1))
        try store.record(TransitionChanges(unwindOrders: [order]), opportunity: id, at: 3_500)
        #expect(try store.unwindOrders(of: id).count == 1)
        #expect(try store.transition(id, from: .unwinding, TransitionStep(.unwindCompleted, reason: "done"), at: 4_000) == .applied(.closed(.completed)))
    }

    @Test("refused: any other closed outcome, a one-sided close marked flattened by hand, and a reopening while its key is live again")
    func refusals() throws {
        let store = try Store(path: directory.path("r.db"), durability: .normal)
        guard case .created(let hedged) = try store.createOpportunity(sampleOpportunity("H")) else { return }
        let path = [OpportunityEvent.riskGatePassed, .legsAcknowledged, .legsEven, .reconciled].map { TransitionStep($0, reason: "path") }
        #expect(try store.advance(hedged, from: .detected, steps: path, at: 2_000) == .applied(.closed(.hedged)))
        #expect(try store.transition(hedged, from: .closed(.hedged), TransitionStep(.operatorUnwind, reason: "x"), at: 3_000)
                == .illegal(IllegalTransition(from: .closed(.hedged), event: .operatorUnwind)))
        // The trigger holds for any writer: a raw UPDATE of a flattened one is refused.
        let flattened = try closedOneSided(store, "F")
        try store.connection.prepare("UPDATE opportunities SET flattened = 1 WHERE id = ?").execute(flattened)
        #expect(throws: SQLiteError.self) {
            try store.connection.prepare("UPDATE opportunities SET state = 'Unwinding', outcome = NULL WHERE id = ?").execute(flattened)
        }
        // Its key opened again meanwhile: the dedup constraint refuses a second live one.
        let first = try closedOneSided(store, "K")
        guard case .created = try store.createOpportunity(sampleOpportunity("K")) else { Issue.record("not created"); return }
        #expect(throws: SQLiteError.self) {
            _ = try store.transition(first, from: .closed(.oneSided), TransitionStep(.operatorUnwind, reason: "x"), at: 3_000)
        }
        #expect(try store.state(of: first) == .closed(.oneSided))
    }

    @Test("a version 4 file migrates to 5: the reopening allowed, its schema text the same as a new file's")
    func migration() throws {
        let path = directory.path("v4.db")
        let fresh = try Store(path: directory.path("fresh.db"), durability: .normal)
        let schemaQuery = "SELECT name, sql FROM sqlite_schema WHERE name LIKE 'opportunities%' ORDER BY name"
        let freshSQL = try fresh.connection.prepare(schemaQuery).query { "\($0.text(0)): \($0.text(1))" }
        do {
            let store = try Store(path: path, durability: .normal)
            _ = try closedOneSided(store, "OLD")
            let trigger = Schema.statement(creating: "opportunities_legal_transition").split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.contains("OLD.state = 'Closed' AND OLD.outcome = 'one_sided'") }.joined(separator: "\n")
            #expect(trigger.count < Schema.statement(creating: "opportunities_legal_transition").count, "the version 4 text was not rebuilt")
            try store.connection.execute("DROP TRIGGER opportunities_legal_transition")
            try store.connection.execute(trigger)
            try store.connection.execute("PRAGMA user_version = 4")
            #expect(throws: SQLiteError.self) {
                try store.connection.prepare("UPDATE opportunities SET state = 'Unwinding', outcome = NULL WHERE id = 1").execute()
            }
        }
        let store = try Store(path: path, durability: .normal)
        #expect(try store.connection.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == Schema.version)
        #expect(try store.connection.prepare(schemaQuery).query { "\($0.text(0)): \($0.text(1))" } == freshSQL)
        #expect(try store.transition(1, from: .closed(.oneSided), TransitionStep(.operatorUnwind, reason: "x"), at: 3_000) == .applied(.unwinding))
    }
}

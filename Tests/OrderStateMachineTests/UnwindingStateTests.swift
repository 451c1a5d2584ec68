import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Unwinding: the state and its outcomes, and a version 3 file migrated to them")
struct UnwindingStateTests {
    let directory = TemporaryDirectory()

    /// The opportunities table and transition trigger as a version 3 build wrote them.
    static func versionThree(_ store: Store) throws {
        var table = Schema.statement(creatingTable: "opportunities")
        table.removeLast()  // the ";"
        table = table.replacingOccurrences(of: "'CancelAttempted', 'Unwinding', 'Closed'", with: "'CancelAttempted', 'Closed'")
            .replacingOccurrences(of: "'hedged', 'one_sided', 'no_fill', 'abandoned', 'rejected', 'manual',\n                           'completed', 'flattened'",
                                  with: "'hedged', 'one_sided', 'no_fill', 'abandoned', 'rejected', 'manual'")
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

    @Test("a version 3 file migrates to 4: its rows kept, Unwinding and the new outcomes allowed, its schema text the same as a new file's")
    func migration() throws {
        let path = directory.path("v3.db")
        let fresh = try Store(path: directory.path("fresh.db"), durability: .normal)
        let freshSQL = try fresh.connection.prepare("SELECT name, sql FROM sqlite_schema WHERE name LIKE 'opportunities%' ORDER BY name")
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
        #expect(try store.connection.prepare("PRAGMA user_version").queryOne { $0.int64(0) } == 4)
        #expect(try store.connection.prepare("PRAGMA integrity_check").query { $0.text(0) } == ["ok"])
        #expect(try store.state(of: 1) == .cancelAttempted, "the row did not survive")
        #expect(try store.advance(1, from: .cancelAttempted, steps: [TransitionStep(.unwindStarted, reason: "t")], at: 5_000) == .applied(.unwinding))
        #expect(try store.advance(1, from: .unwinding, steps: [TransitionStep(.unwindFlattened, reason: "t")], at: 6_000) == .applied(.closed(.flattened)))
        let migratedSQL = try store.connection.prepare("SELECT name, sql FROM sqlite_schema WHERE name LIKE 'opportunities%' ORDER BY name")
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

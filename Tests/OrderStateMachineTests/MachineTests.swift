import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

/// DESIGN §3's table, written out independently of the code under test.
let designLegalPairs: Set<String> = [
    "Detected->InFlight", "Detected->Closed(abandoned)",
    "InFlight->LegsPlaced", "InFlight->OneSided", "InFlight->Closed(rejected)", "InFlight->Closed(no_fill)",
    "LegsPlaced->Filled", "LegsPlaced->OneSided", "LegsPlaced->CancelAttempted",
    "OneSided->CancelAttempted", "OneSided->Filled",
    "CancelAttempted->Filled", "CancelAttempted->Closed(one_sided)", "CancelAttempted->Closed(no_fill)",
    "Filled->Closed(hedged)",
    // Not in DESIGN §3: a venue undid a provisional fill (Polymarket's FAILED trade) — ARCHITECTURE.md.
    "Filled->OneSided",
    "Detected->Closed(manual)", "InFlight->Closed(manual)", "LegsPlaced->Closed(manual)", "Filled->Closed(manual)",
    "OneSided->Closed(manual)", "CancelAttempted->Closed(manual)",
    // Unwinding a one-sided exposure (issue 14) — ARCHITECTURE.md.
    "CancelAttempted->Unwinding", "Unwinding->Closed(completed)", "Unwinding->Closed(flattened)",
    "Unwinding->Closed(one_sided)", "Unwinding->Closed(manual)",
    // An operator's unwind of a one-sided close (`arbadmin unwind`) — ARCHITECTURE.md.
    "Closed(one_sided)->Unwinding",
]

/// A legal path from Detected to each state, to put an opportunity there through the Store.
let pathTo: [OpportunityState: [OpportunityEvent]] = [
    .detected: [],
    .inFlight: [.riskGatePassed],
    .legsPlaced: [.riskGatePassed, .legsAcknowledged],
    .filled: [.riskGatePassed, .legsAcknowledged, .legsEven],
    .oneSided: [.riskGatePassed, .imbalanced],
    .cancelAttempted: [.riskGatePassed, .legsAcknowledged, .fillTimedOut],
    .closed(.hedged): [.riskGatePassed, .legsAcknowledged, .legsEven, .reconciled],
    .closed(.oneSided): [.riskGatePassed, .imbalanced, .cancelSent, .closedExposed],
    .closed(.noFill): [.riskGatePassed, .bothUnfilled],
    .closed(.abandoned): [.abandoned],
    .closed(.rejected): [.riskGatePassed, .bothRejected],
    .closed(.manual): [.closedByOperator],
    .unwinding: [.riskGatePassed, .imbalanced, .cancelSent, .unwindStarted],
    .closed(.completed): [.riskGatePassed, .imbalanced, .cancelSent, .unwindStarted, .unwindCompleted],
    .closed(.flattened): [.riskGatePassed, .imbalanced, .cancelSent, .unwindStarted, .unwindFlattened],
]

struct StatePair: CustomTestStringConvertible, Sendable {
    let from: OpportunityState
    let to: OpportunityState
    var testDescription: String { "\(from)->\(to)" }
}

let allPairs: [StatePair] = OpportunityState.all.flatMap { from in OpportunityState.all.map { StatePair(from: from, to: $0) } }

@Suite("The opportunity state machine")
struct MachineTests {
    @Test("the Swift machine allows exactly DESIGN §3's transitions", arguments: allPairs)
    func swiftMachineMatchesDesign(pair: StatePair) {
        let legal = designLegalPairs.contains(pair.testDescription)
        #expect(OpportunityMachine.isLegal(from: pair.from, to: pair.to) == legal)
    }

    @Test("the design table names only real states, and every state is reachable by a path")
    func tableIsWellFormed() {
        let names = Set(OpportunityState.all.map(\.description))
        for pair in designLegalPairs {
            let parts = pair.components(separatedBy: "->")
            #expect(names.contains(parts[0]) && names.contains(parts[1]), "\(pair)")
        }
        #expect(Set(pathTo.keys) == Set(OpportunityState.all))
    }

    @Test("no event leaves a closed opportunity, but an operator's unwind of a Closed(one_sided) one", arguments: CloseOutcome.allCases)
    func closedIsTerminal(outcome: CloseOutcome) {
        for event in OpportunityEvent.allCases {
            if outcome == .oneSided && event == .operatorUnwind {
                #expect(OpportunityMachine.transition(from: .closed(outcome), on: event) == .success(.unwinding))
                continue
            }
            guard case .failure(let illegal) = OpportunityMachine.transition(from: .closed(outcome), on: event) else {
                Issue.record("\(event) left Closed(\(outcome))")
                continue
            }
            #expect(illegal.from == .closed(outcome))
        }
    }

    @Test("stored names round-trip and anything else is refused")
    func storedNames() {
        for state in OpportunityState.all {
            #expect(OpportunityState(name: state.name, outcome: state.outcome?.rawValue) == state)
        }
        #expect(OpportunityState(name: "Closed", outcome: nil) == nil)
        #expect(OpportunityState(name: "Filled", outcome: "hedged") == nil)
        #expect(OpportunityState(name: "Closed", outcome: "won") == nil)
        #expect(OpportunityState(name: "closed", outcome: "hedged") == nil)
    }
}

@Suite("The SQL trigger enforces the same table")
struct TriggerTests {
    /// Puts a fresh opportunity in `state` through the Store's legal path.
    static func opportunity(in state: OpportunityState, store: Store, key: String) throws -> OpportunityID {
        guard case .created(let id) = try store.createOpportunity(sampleOpportunity(key)) else {
            throw StoreError.transitionRefused(.notFound(0))
        }
        let steps = pathTo[state]!.map { TransitionStep($0, reason: "path") }
        let result = try store.advance(id, from: .detected, steps: steps, at: 2_000)
        #expect(result == .applied(state))
        return id
    }

    @Test("every hand-written UPDATE of state is refused unless DESIGN §3 allows it")
    func rawUpdates() throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("trigger.db"), durability: .normal)
        let update = try store.connection.prepare("UPDATE opportunities SET state = ?, outcome = ? WHERE id = ?")
        var refused = 0
        var applied = 0
        for (index, pair) in allPairs.enumerated() {
            let id = try Self.opportunity(in: pair.from, store: store, key: "K\(index)")
            let logBefore = try store.transitions(of: id).count
            do {
                try update.execute(pair.to.name, pair.to.outcome?.rawValue, id)
                applied += 1
                #expect(designLegalPairs.contains(pair.testDescription), "SQL allowed \(pair.testDescription)")
                // The log is written by the database itself, with the new state as its last `to`.
                let log = try store.transitions(of: id)
                #expect(log.count == logBefore + 1)
                #expect(log.last?.from == pair.from && log.last?.to == pair.to)
            } catch let error as SQLiteError {
                refused += 1
                #expect(!designLegalPairs.contains(pair.testDescription), "SQL refused legal \(pair.testDescription)")
                #expect(error.code == .constraintTrigger, "\(pair.testDescription): \(error)")
                #expect(try store.state(of: id) == pair.from)
                #expect(try store.transitions(of: id).count == logBefore)
            }
        }
        #expect(applied == designLegalPairs.count)
        #expect(refused == allPairs.count - designLegalPairs.count)
    }

    @Test("a second live row with the same dedup key typed by hand is refused by the index")
    func rawDuplicateInsert() throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("dup.db"), durability: .normal)
        _ = try store.createOpportunity(sampleOpportunity("EV"))
        let copy = """
            INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b,
              instrument_b, edge_bps, price_a, price_b, quantity, created_at_ms, updated_at_ms)
            SELECT dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b, instrument_b, edge_bps,
              price_a, price_b, quantity, 0, 0 FROM opportunities WHERE id = 1
            """
        #expect {
            try store.connection.execute(copy)
        } throws: { ($0 as? SQLiteError)?.code == .constraintUnique }
        // Once the first is closed, the key is free again.
        #expect(try store.transition(1, from: .detected, TransitionStep(.abandoned, reason: "test"), at: 1) == .applied(.closed(.abandoned)))
        try store.connection.execute(copy)
        #expect(store.connection.changes == 1)
    }

    @Test("history tables refuse DELETE and UPDATE, and a new row cannot start past Detected")
    func appendOnly() throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("history.db"), durability: .normal)
        guard case .created(let id) = try store.createAndBegin(sampleOpportunity("EV"), reason: "gate", makeLegs: { sampleLegs(store, $0) })
        else { Issue.record("not created"); return }
        #expect(try store.recordFill(FillReport(venue: "kalshi", tradeID: "T1", clientOrderID: store.clientOrderID(opportunity: id, leg: .a),
                                                price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 1), fee: .zero,
                                                filledAtMilliseconds: 1), at: 1) == .recorded)
        for sql in ["DELETE FROM opportunities", "DELETE FROM transitions", "UPDATE transitions SET reason = 'x'",
                    "DELETE FROM legs", "DELETE FROM fills", "UPDATE fills SET quantity = 1",
                    insertAs("'LegsPlaced', NULL"), insertAs("'Closed', 'hedged'"), insertAs("'Closed', 'one_sided'"),
                    insertAs("'InFlight', 'abandoned'"), insertAs("'Unwinding', NULL")] {
            #expect(throws: SQLiteError.self, "\(sql)") { try store.connection.execute(sql) }
        }
        #expect(try store.transitions(of: id).count == 2)
        #expect(try store.fills(of: id).count == 1)
    }

    /// A hand-typed insert of a row in `state, outcome` (SQL literals).
    private func insertAs(_ stateAndOutcome: String, key: String = "k") -> String {
        "INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b, instrument_b, edge_bps, "
            + "price_a, price_b, quantity, state, outcome, state_reason, created_at_ms, updated_at_ms) "
            + "VALUES ('\(key)','e','v','o','i','v','o','i',1,1,1,1,\(stateAndOutcome),'why',5,7)"
    }

    @Test("an insert may take the first step itself — InFlight or Closed abandoned — and the log shows both steps")
    func insertPastDetected() throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("first-step.db"), durability: .normal)
        for (n, row) in ["'InFlight', NULL", "'Closed', 'abandoned'", "'Detected', NULL"].enumerated() {
            try store.connection.execute(insertAs(row, key: "k\(n)"))
            let id = Int64(n + 1)
            let log = try store.transitions(of: id).map { "\($0.from?.name ?? "-")>\($0.to.name) \($0.reason) \($0.atMilliseconds)" }
            switch n {
            case 0: #expect(log == ["->Detected detected 5", "Detected>InFlight why 7"])
            case 1: #expect(log == ["->Detected detected 5", "Detected>Closed why 7"])
            default: #expect(log == ["->Detected why 5"])
            }
        }
        // The store's own begin and abandon are such inserts: one row each in `opportunities`, two log rows.
        guard case .created(let begun) = try store.createAndBegin(sampleOpportunity("B"), reason: "gate", makeLegs: { sampleLegs(store, $0) }),
              case .created(let abandoned) = try store.createAndAbandon(sampleOpportunity("A"), reason: "stale")
        else { Issue.record("not created"); return }
        #expect(try store.transitions(of: begun).map(\.reason) == ["detected", "gate"])
        #expect(try store.transitions(of: abandoned).map(\.reason) == ["detected", "stale"])
        #expect(try store.state(of: abandoned) == .closed(.abandoned))
        // An abandoned detection of a key that is live writes nothing (the closed row is outside the
        // live dedup index, so the store asks first).
        #expect(try store.createAndAbandon(sampleOpportunity("B"), reason: "stale") == .duplicate(existing: begun))
        #expect(try store.connection.prepare("SELECT count(*) FROM opportunities").queryOne { $0.int64(0) } == 5)
    }
}

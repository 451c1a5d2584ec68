import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Store")
struct StoreTests {
    let directory = TemporaryDirectory()

    func makeStore(_ name: String = "store.db", sinks: [String] = []) throws -> Store {
        try Store(path: directory.path(name), durability: .normal, alertSinks: sinks)
    }

    func begun(_ store: Store, _ key: String = "EV") throws -> OpportunityID {
        guard case .created(let id) = try store.createAndBegin(sampleOpportunity(key), reason: "gate passed", makeLegs: { sampleLegs(store, $0) })
        else { throw StoreError.transitionRefused(.notFound(0)) }
        return id
    }

    func fill(_ store: Store, _ id: OpportunityID, _ leg: LegName, trade: String, contracts: Int64) -> FillReport {
        FillReport(venue: leg == .a ? "kalshi" : "polymarket", tradeID: trade,
                   clientOrderID: store.clientOrderID(opportunity: id, leg: leg),
                   price: Price(ticks: leg == .a ? 4_500 : 5_000)!, quantity: Quantity(contracts: contracts),
                   fee: Money(cents: 3), filledAtMilliseconds: 5)
    }

    @Test("a live dedup key yields .duplicate with the holder's id; a closed one frees the key")
    func dedup() throws {
        let store = try makeStore()
        let first = try store.createOpportunity(sampleOpportunity("EV"))
        #expect(first == .created(1))
        #expect(try store.createOpportunity(sampleOpportunity("EV")) == .duplicate(existing: 1))
        #expect(try store.createOpportunity(sampleOpportunity("OTHER")) == .created(2))
        #expect(try store.transition(1, from: .detected, TransitionStep(.abandoned, reason: "stale quote"), at: 9) == .applied(.closed(.abandoned)))
        #expect(try store.createOpportunity(sampleOpportunity("EV")) == .created(3))
        #expect(try store.createOpportunity(sampleOpportunity("EV")) == .duplicate(existing: 3))
    }

    struct RolledBack: Error {}

    @Test("an id a rolled-back create-and-begin took is never handed out again, in this process or after a restart")
    func idsNeverReused() throws {
        let path = directory.path("ids.db")
        var taken: [OpportunityID] = []
        do {
            let store = try Store(path: path, durability: .normal)
            // The commit fails after the legs' client order ids were built from the id (a crash
            // at that instant leaves the same file: the transaction rolls back). The id block's
            // own commit comes first, as the trader's Ledger does it.
            try store.reserveOpportunityID()
            store.connection.willCommit = { throw RolledBack() }
            #expect(throws: RolledBack.self) {
                _ = try store.createAndBegin(sampleOpportunity("EV"), reason: "gate") { id in taken.append(id); return sampleLegs(store, id) }
            }
            store.connection.willCommit = nil
            try #require(taken.count == 1)
            #expect(try store.opportunity(taken[0]) == nil, "the rollback left no row")
            let next = try begun(store, "EV")
            #expect(next != taken[0], "the same process reused id \(next)")
            taken.append(next)
            store.connection.willCommit = { throw RolledBack() }
            #expect(throws: RolledBack.self) {
                _ = try store.createAndBegin(sampleOpportunity("OTHER"), reason: "gate") { id in taken.append(id); return sampleLegs(store, id) }
            }
        }
        // A restart: the new connection must not hand out anything the old one may have used.
        let restarted = try Store(path: path, durability: .normal)
        let after = try begun(restarted, "OTHER")
        #expect(!taken.contains(after), "id \(after) was handed out before: \(taken)")
        #expect(after > taken.max()!)
        let clientIDs = try restarted.connection.prepare("SELECT client_order_id FROM legs").query { $0.text(0) }
        #expect(Set(clientIDs).count == clientIDs.count)
    }

    @Test("create-and-begin stores both legs' intents with deterministic client ids in one commit")
    func createAndBegin() throws {
        let store = try makeStore()
        let id = try begun(store)
        #expect(try store.state(of: id) == .inFlight)
        let legs = try store.legs(of: id)
        #expect(legs.map(\.clientOrderID) == ["arb-\(store.databaseID)-\(id)-a", "arb-\(store.databaseID)-\(id)-b"])
        #expect(legs.allSatisfy { $0.status == .pending && $0.filledQuantity == .zero })
        #expect(try store.transitions(of: id).map(\.to) == [.detected, .inFlight])
        #expect(try store.transitions(of: id).map(\.reason) == ["detected", "gate passed"])
        // A duplicate writes nothing: no third leg, no new log rows.
        let again = try store.createAndBegin(sampleOpportunity("EV"), reason: "gate passed", makeLegs: { sampleLegs(store, $0) })
        #expect(again == .duplicate(existing: id))
        let legCount = try store.connection.prepare("SELECT count(*) FROM legs").queryOne { $0.int64(0) }
        #expect(legCount == 2)
        #expect(store.databaseID.count == 8)
    }

    @Test("a compare-and-set from the wrong state is reported stale and writes nothing")
    func staleTransition() throws {
        let store = try makeStore(sinks: ["console"])
        let id = try begun(store)
        let alert = NewAlert(key: "a1", kind: "one_sided", severity: .critical, text: "t", bodyJSON: "{}")
        let result = try store.transition(id, from: .legsPlaced, TransitionStep(.imbalanced, reason: "x"), at: 3,
                                          changes: TransitionChanges(fills: [fill(store, id, .a, trade: "T1", contracts: 10)], alerts: [alert]))
        #expect(result == .stale(current: .inFlight))
        #expect(try store.fills(of: id).isEmpty)
        #expect(try store.alerts(of: id).isEmpty)
        #expect(try store.transitions(of: id).count == 2)
        #expect(try store.transition(id, from: .inFlight, TransitionStep(.reconciled, reason: "x"), at: 3)
                == .illegal(IllegalTransition(from: .inFlight, event: .reconciled)))
        #expect(try store.transition(999, from: .inFlight, TransitionStep(.legsAcknowledged, reason: "x"), at: 3) == .notFound(999))
    }

    @Test("a transition writes its fills, leg updates and alert (with a delivery row per sink) together")
    func transitionWithChanges() throws {
        let store = try makeStore(sinks: ["console", "file"])
        let id = try begun(store)
        let a = store.clientOrderID(opportunity: id, leg: .a)
        let alert = NewAlert(key: "one-sided-\(id)", kind: "one_sided", severity: .critical, text: "leg a alone", bodyJSON: "{}")
        let result = try store.transition(
            id, from: .inFlight, TransitionStep(.imbalanced, reason: "a filled, b resting"), at: 7,
            changes: TransitionChanges(legUpdates: [LegUpdate(clientOrderID: a, status: .filled, venueOrderID: "K-9")],
                                       fills: [fill(store, id, .a, trade: "T1", contracts: 10)], alerts: [alert]))
        #expect(result == .applied(.oneSided))
        let history = try #require(try store.history(of: id))
        #expect(history.legs[0].status == .filled && history.legs[0].venueOrderID == "K-9")
        #expect(history.legs[0].filledQuantity == Quantity(contracts: 10))
        #expect(history.legs[0].filledCost == Money(price: Price(ticks: 4_500)!, quantity: Quantity(contracts: 10)))
        #expect(history.legs[0].fees == Money(cents: 3))
        #expect(history.alerts.count == 1)
        #expect(history.alerts[0].deliveries.map(\.sink) == ["console", "file"])
        #expect(history.alerts[0].deliveries.allSatisfy { $0.deliveredAtMilliseconds == nil })
        #expect(history.transitions.last?.reason == "a filled, b resting")
        #expect(try store.oneSidedOpportunities().map(\.id) == [id])
    }

    @Test("advance applies a chain in one commit, or nothing when a step is refused")
    func advanceAllOrNothing() throws {
        let store = try makeStore()
        let id = try begun(store)
        let refused = try store.advance(id, from: .inFlight, steps: [
            TransitionStep(.legsAcknowledged, reason: "ack"), TransitionStep(.reconciled, reason: "wrong"),
        ], at: 4, changes: TransitionChanges(fills: [fill(store, id, .a, trade: "T1", contracts: 10)]))
        #expect(refused == .illegal(IllegalTransition(from: .legsPlaced, event: .reconciled)))
        #expect(try store.state(of: id) == .inFlight)
        #expect(try store.fills(of: id).isEmpty)
        let applied = try store.advance(id, from: .inFlight, steps: [
            TransitionStep(.legsAcknowledged, reason: "ack"), TransitionStep(.legsEven, reason: "both filled"),
            TransitionStep(.reconciled, reason: "done"),
        ], at: 4, changes: TransitionChanges(fills: [fill(store, id, .a, trade: "T1", contracts: 10),
                                                     fill(store, id, .b, trade: "T2", contracts: 10)]))
        #expect(applied == .applied(.closed(.hedged)))
        #expect(try store.transitions(of: id).map(\.to) == [.detected, .inFlight, .legsPlaced, .filled, .closed(.hedged)])
    }

    @Test("fills are idempotent by trade id, refused for unknown orders and past the order's size")
    func fills() throws {
        let store = try makeStore()
        let id = try begun(store)
        #expect(try store.recordFill(fill(store, id, .a, trade: "T1", contracts: 4), at: 1) == .recorded)
        #expect(try store.recordFill(fill(store, id, .a, trade: "T1", contracts: 4), at: 2) == .duplicate)
        #expect(try store.recordFill(fill(store, id, .a, trade: "T2", contracts: 5), at: 2) == .recorded)
        #expect(try store.recordFill(fill(store, id, .a, trade: "T3", contracts: 2), at: 2) == .exceedsOrder)
        var unknown = fill(store, id, .a, trade: "T4", contracts: 1)
        unknown.clientOrderID = "arb-nope-1-a"
        #expect(try store.recordFill(unknown, at: 2) == .unknownOrder)
        // The same trade id at another venue is a different trade.
        var other = fill(store, id, .b, trade: "T1", contracts: 1)
        other.venue = "polymarket"
        #expect(try store.recordFill(other, at: 2) == .recorded)
        let legs = try store.legs(of: id)
        #expect(legs[0].filledQuantity == Quantity(contracts: 9))
        #expect(legs[0].fees == Money(cents: 6))
        #expect(legs[1].filledQuantity == Quantity(contracts: 1))
        #expect(try store.fills(of: id).count == 3)
    }

    @Test("one trader per database: the lease goes to another claimant only when the rule says so, check and write in one transaction")
    func lease() throws {
        let store = try makeStore()
        let first = LeaseHolder(owner: "arb run", pid: 100, host: "h1", startedAtMilliseconds: 0, heartbeatAtMilliseconds: 0)
        #expect(try store.acquireLease(first, mayTakeOver: { _ in Issue.record("no holder to ask about"); return false }) == .acquired)
        // The same process again: its own lease, no question asked.
        #expect(try store.acquireLease(first, mayTakeOver: { _ in false }) == .acquired)
        let second = LeaseHolder(owner: "arb run", pid: 200, host: "h1", startedAtMilliseconds: 5_000, heartbeatAtMilliseconds: 5_000)
        var asked: [LeaseHolder] = []
        #expect(try store.acquireLease(second, mayTakeOver: { asked.append($0); return false }) == .heldBy(first))
        #expect(asked == [first])
        #expect(try store.acquireLease(second, mayTakeOver: { $0.pid == 100 }) == .tookOver(previous: first))
        #expect(try store.currentLease() == second)
        #expect(try store.heartbeatLease(pid: 100, host: "h1", atMilliseconds: 6_000) == false)
        #expect(try store.heartbeatLease(pid: 200, host: "h1", atMilliseconds: 6_000) == true)
        #expect(try store.currentLease()?.heartbeatAtMilliseconds == 6_000)
        try store.releaseLease(pid: 200, host: "h1")
        #expect(try store.currentLease() == nil)
    }

    @Test("the halt flag persists across reopening until resume")
    func halt() throws {
        do {
            let store = try makeStore("halt.db")
            #expect(try store.haltState().halted == false)
            try store.halt(reason: "3 one-sided closes today", atMilliseconds: 10)
        }
        do {
            let store = try makeStore("halt.db")
            #expect(try store.haltState() == HaltState(halted: true, reason: "3 one-sided closes today", sinceMilliseconds: 10))
            try store.resume(atMilliseconds: 20)
        }
        #expect(try makeStore("halt.db").haltState().halted == false)
    }

    @Test("durability maps to PRAGMA synchronous; WAL, foreign keys and identity are set", arguments: [
        (Durability.full, Int64(2)), (Durability.normal, Int64(1)),
    ])
    func pragmas(durability: Durability, synchronous: Int64) throws {
        let store = try Store(path: directory.path("p-\(durability).db"), durability: durability)
        #expect(try store.connection.pragmaInteger("synchronous") == synchronous)
        #expect(try store.connection.pragmaInteger("foreign_keys") == 1)
        #expect(try store.connection.pragmaInteger("application_id") == Int64(DatabaseFile.applicationID))
        #expect(try store.connection.pragmaInteger("user_version") == Store.schemaVersion)
        let mode = try store.connection.prepare("PRAGMA journal_mode").queryOne { $0.text(0) }
        #expect(mode == "wal")
    }

    @Test("the embedded schema is byte-identical to schema.sql")
    func schemaFileMatches() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let onDisk = try Data(contentsOf: root.appendingPathComponent("schema.sql"))
        let store = try makeStore()
        // The database records the schema it was made from; compare the text the library embeds.
        #expect(Data(Store.embeddedSchema.utf8) == onDisk)
        #expect(try store.connection.pragmaInteger("user_version") == Store.schemaVersion)
    }

    /// schema.sql's header: an IN list of three or more constants makes SQLite build a temporary
    /// b-tree (`OpenEphemeral`) on every execution of a statement whose CHECKs or triggers hold
    /// it. Every insert and every update of a row by its key — the programs SQLite compiles for
    /// them include the table's CHECKs and its triggers' programs — opens none.
    @Test("no insert or update of a row compiles a temporary b-tree: no CHECK or trigger tests an IN list of 3+ values")
    func noEphemeralTables() throws {
        let store = try makeStore()
        let db = store.connection
        let tables = try db.prepare("SELECT name, sql LIKE '%WITHOUT ROWID' FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .query { ($0.text(0), $0.int64(1) == 1) }
        #expect(tables.count >= 10)
        for (table, withoutRowID) in tables {
            // Stored, non-key columns: name (1), primary key position (5), hidden/generated (6).
            let columns = try db.prepare("PRAGMA table_xinfo(\(table))").query { ($0.text(1), $0.int64(5), $0.int64(6)) }
                .filter { $0.1 == 0 && $0.2 == 0 }.map(\.0)
            var statements = ["INSERT INTO \(table) DEFAULT VALUES"]
            if !withoutRowID {
                statements.append("UPDATE \(table) SET \(columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE rowid = ?")
            }
            for sql in statements {
                let opcodes = try db.prepare("EXPLAIN " + sql).query { $0.text(1) }
                #expect(opcodes.contains("Halt"), "\(sql) did not compile")
                #expect(!opcodes.contains("OpenEphemeral"), "\(sql)")
            }
        }
    }
}

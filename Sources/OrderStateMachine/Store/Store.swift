#if canImport(Glibc)
import Glibc
#endif

/// The result of inserting a detected opportunity: decided by the partial unique index on
/// `dedup_key`, atomically, whatever process inserts.
public enum CreateResult: Sendable, Hashable {
    case created(OpportunityID)
    /// A live (non-Closed) opportunity already holds this dedup key.
    case duplicate(existing: OpportunityID)
    /// The admission check, run inside the transaction, refused it (the trader is halted, the
    /// market blocked): nothing was written.
    case refused(String)
}

/// The result of a compare-and-set transition. A refusal is a value, never a silent no-op.
public enum TransitionResult: Sendable, Hashable {
    case applied(OpportunityState)
    /// The opportunity was not in the expected state (another writer moved it first).
    case stale(current: OpportunityState)
    /// The state machine refuses this event in this state.
    case illegal(IllegalTransition)
    case notFound(OpportunityID)

    public var isApplied: Bool {
        if case .applied = self { return true }
        return false
    }
}

public enum FillResult: Sendable, Hashable {
    case recorded
    /// A provisional fill the venue now calls certain.
    case confirmed
    /// A provisional fill the venue undid (its trade failed): its leg's sums drop it.
    case reversed
    /// This venue's trade id is already recorded: a replay adds nothing.
    case duplicate
    /// No leg has this client order id.
    case unknownOrder
    /// The fill would take the leg past its order quantity.
    case exceedsOrder
}

/// Operating errors of the store that are not SQLite's own.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case fillRefused(tradeID: String, FillResult)
    case transitionRefused(TransitionResult)

    public var description: String {
        switch self {
        case .fillRefused(let tradeID, let result): "fill \(tradeID) refused: \(result)"
        case .transitionRefused(let result): "transition refused: \(result)"
        }
    }
}

/// One step of a transition: the event and why it happened (written to the log).
public struct TransitionStep: Sendable, Hashable {
    public var event: OpportunityEvent
    public var reason: String

    public init(_ event: OpportunityEvent, reason: String) {
        self.event = event
        self.reason = reason
    }
}

/// Everything else a transition writes in the same transaction.
public struct TransitionChanges: Sendable, Hashable {
    public var legUpdates: [LegUpdate]
    /// Unwind orders to persist (before they are sent): the opportunity must be `Unwinding`
    /// once the transition's steps are applied (a trigger refuses them otherwise).
    public var unwindOrders: [UnwindOrderIntent]
    public var unwindUpdates: [UnwindOrderUpdate]
    /// Fills of legs and of unwind orders alike, by client order id.
    public var fills: [FillReport]
    public var alerts: [NewAlert]

    public init(legUpdates: [LegUpdate] = [], unwindOrders: [UnwindOrderIntent] = [], unwindUpdates: [UnwindOrderUpdate] = [],
                fills: [FillReport] = [], alerts: [NewAlert] = []) {
        self.legUpdates = legUpdates
        self.unwindOrders = unwindOrders
        self.unwindUpdates = unwindUpdates
        self.fills = fills
        self.alerts = alerts
    }

    public static let none = TransitionChanges()
}

/// One opportunity's write, planned before it is applied (`Store.apply` batches several in one
/// commit): a compare-and-set `advance`, or a `record` without a state change.
public enum PlannedWrite: Sendable, Hashable {
    case advance(OpportunityID, from: OpportunityState, steps: [TransitionStep], changes: TransitionChanges, at: Int64)
    case record(OpportunityID, changes: TransitionChanges, at: Int64)
}

/// The persisted opportunity state machine (DESIGN §4): every write is one `BEGIN IMMEDIATE`
/// transaction, every transition a compare-and-set with a log row.
///
/// Not `Sendable`: one writer connection, owned by one isolation domain (the engine's actor).
public final class Store {
    /// The one connection. Internal: SQL against the trader's database is written here, in the
    /// Store, and nowhere else (the auditor and the benchmarks' raw baseline open their own).
    let connection: Connection
    public let path: String
    /// Names this database in client order ids: `arb-<databaseID>-<opportunity>-<leg>`.
    public let databaseID: String
    /// The alert sinks each new alert gets a delivery row for.
    public var alertSinks: [String]
    /// A sink's minimum severity (absent: every alert): an alert below it gets no delivery row
    /// for that sink — it is not owed there, so it is never retried nor shown undelivered.
    public var alertSinkMinimums: [String: AlertSeverity] = [:]
    /// Opportunity ids this connection has reserved and not yet used: `next…limit`.
    private var reservedIDs: (next: OpportunityID, limit: OpportunityID) = (1, 0)
    /// The halt flag and the market blocks as `admissionRefusal` last read them (`AdmissionSnapshot`).
    var admissionSnapshot: AdmissionSnapshot?
    /// Bumped by every write of this connection to the halt flag or a market block: a snapshot
    /// taken before it is stale (`PRAGMA data_version` sees only other connections' commits).
    var admissionWrites: UInt64 = 0
    /// How many ids one reservation commit takes: one extra commit per this many opportunities
    /// (under 1 %, so off detect_to_submit's p99), and ids jump by at most this much per restart.
    public static let opportunityIDBlock: Int64 = 256

    /// Where WAL checkpoints run.
    public enum Checkpoints: Sendable {
        /// SQLite's default: inside the commit that takes the WAL past 1,000 pages.
        case inCommit
        /// On a queue of their own, beside the writer (``BackgroundCheckpointer``): the trader's
        /// store, whose commits are on detect → submit.
        case background
        /// `.background` with a queue that never runs (tests: the writer's fallback).
        case backgroundStalled
    }

    /// Runs this writer's checkpoints unless `checkpoints` is `.inCommit`.
    private let checkpointer: BackgroundCheckpointer?

    public init(
        path: String,
        access: DatabaseFile.Access = .createIfMissing,
        durability: Durability = .full,
        busyTimeoutMilliseconds: Int32 = 5_000,
        alertSinks: [String] = [],
        checkpoints: Checkpoints = .inCommit,
        newDatabaseID: () -> String = { DatabaseFile.randomDatabaseID() }
    ) throws {
        self.connection = try DatabaseFile.open(
            path: path, access: access, durability: durability, busyTimeoutMilliseconds: busyTimeoutMilliseconds,
            newDatabaseID: newDatabaseID)
        self.path = path
        self.alertSinks = alertSinks
        self.databaseID =
            try connection.prepare("SELECT value FROM settings WHERE key = 'database_id'")
            .queryOne { $0.text(0) } ?? "00000000"
        if checkpoints != .inCommit && access != .readOnly {
            let checkpointer = BackgroundCheckpointer(path: path, stalled: checkpoints == .backgroundStalled)
            checkpointer.attach(to: connection)
            self.checkpointer = checkpointer
        } else {
            self.checkpointer = nil
        }
    }

    deinit {
        checkpointer?.detach(from: connection)
    }

    /// How many background checkpoints have run, and how many the writer ran itself past the
    /// fallback size (tests; 0 with `.inCommit`).
    var backgroundCheckpoints: Int { checkpointer?.checkpoints ?? 0 }
    var inlineFallbackCheckpoints: Int { checkpointer?.inlineCheckpoints ?? 0 }

    /// The client order id of a leg: deterministic, so a crash between commit and send can be
    /// resolved by asking the venue for exactly this id.
    public func clientOrderID(opportunity: OpportunityID, leg: LegName) -> String {
        "arb-\(databaseID)-\(opportunity)-\(leg.rawValue)"
    }

    /// A leg's row id: its opportunity's id and side (schema.sql, `legs`), so one b-tree keeps
    /// one order per leg and side, and a begin appends both legs at its right edge.
    public static func legID(opportunity: OpportunityID, leg: LegName) -> Int64 {
        opportunity * 2 + (leg == .b ? 1 : 0)
    }

    /// The row id of the leg `clientOrderID` names, or nil when it names no leg of this database
    /// (an unwind order's id, another database's, anything else). A leg's client order id is
    /// fixed by its opportunity and side (the schema checks it on insert), so the id is parsed,
    /// not looked up: no index on the text is kept for it.
    func legID(clientOrderID: String) -> Int64? {
        let prefix = "arb-\(databaseID)-"
        guard clientOrderID.hasPrefix(prefix) else { return nil }
        let rest = clientOrderID.dropFirst(prefix.count)
        guard let dash = rest.lastIndex(of: "-"), let leg = LegName(rawValue: String(rest[rest.index(after: dash)...])),
              let opportunity = OpportunityID(rest[..<dash]), opportunity > 0, opportunity <= OpportunityID.max / 2,
              clientOrderID == self.clientOrderID(opportunity: opportunity, leg: leg)
        else { return nil }
        return Self.legID(opportunity: opportunity, leg: leg)
    }

    /// The client order id of an opportunity's unwind attempt `attempt`: `arb-<db>-<id>-u<n>`.
    public func clientOrderID(opportunity: OpportunityID, unwindAttempt attempt: Int) -> String {
        Self.clientOrderID(databaseID: databaseID, opportunity: opportunity, unwindAttempt: attempt)
    }

    /// The same, from the database id alone (`Ledger` hands it out without a hop to its actor).
    public static func clientOrderID(databaseID: String, opportunity: OpportunityID, unwindAttempt attempt: Int) -> String {
        "arb-\(databaseID)-\(opportunity)-u\(attempt)"
    }

    // MARK: - Opportunity ids

    /// Makes sure an unused opportunity id is reserved, committing a new block if none is left.
    ///
    /// Ids are never reused (DESIGN §8 item 9), even after a crash rolled back the transaction
    /// that first took one: a client order id is built from the id before that transaction
    /// commits, so a reused id could name two orders. `INTEGER PRIMARY KEY` (and AUTOINCREMENT
    /// too: its sqlite_sequence row rolls back with the insert) would hand the same id out again,
    /// so ids come from a high-water mark (`settings.opportunity_ids_reserved`) that its own commit
    /// advances before any of them is used. A block a crashed process did not finish is skipped.
    public func reserveOpportunityID() throws {
        guard reservedIDs.next > reservedIDs.limit else { return }
        let block = Self.opportunityIDBlock
        let first = try connection.writeTransaction { () throws -> OpportunityID in
            let reserved = try connection.cachedStatement(
                "SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'opportunity_ids_reserved'"
            ).queryOne { $0.int64(0) } ?? 0
            let highest = try connection.cachedStatement("SELECT coalesce(max(id), 0) FROM opportunities")
                .queryOne { $0.int64(0) } ?? 0
            let first = max(reserved, highest) + 1
            try connection.cachedStatement("""
                INSERT INTO settings (key, value, updated_at_ms) VALUES ('opportunity_ids_reserved', ?, 0)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """).execute(String(first + block - 1))
            return first
        }
        reservedIDs = (first, first + block - 1)
    }

    /// Runs `body` (one transaction that may create an opportunity) with the next reserved id.
    /// The id is spent unless `body` reports a duplicate or a refusal: a rolled-back attempt may have built
    /// client order ids from it, so it is never handed out again.
    private func withNextOpportunityID(_ body: (OpportunityID) throws -> CreateResult) throws -> CreateResult {
        try reserveOpportunityID()
        let id = reservedIDs.next
        do {
            let result = try body(id)
            if case .created(let created) = result {
                precondition(created == id, "opportunity created as \(created), reserved \(id)")
                reservedIDs.next += 1
            }
            return result
        } catch {
            reservedIDs.next += 1
            throw error
        }
    }

    // MARK: - Creating and starting opportunities

    /// Inserts a `Detected` opportunity unless a live one holds its dedup key.
    public func createOpportunity(_ new: NewOpportunity, reason: String = "detected") throws -> CreateResult {
        try withNextOpportunityID { id in
            try connection.writeTransaction { try insertOpportunity(new, id: id, reason: reason) }
        }
    }

    /// Create and begin in one commit: one insert that is `Detected` and `InFlight` at once (the
    /// dedup constraint decides; the trigger logs both steps), and the legs `makeLegs` builds from
    /// the new id. A duplicate writes nothing.
    /// `refusal` runs first, inside the transaction (so no halt can commit between the check
    /// and the insert): a reason from it writes nothing.
    public func createAndBegin(
        _ new: NewOpportunity,
        reason: String,
        refusal: () throws -> String? = { nil },
        makeLegs: (OpportunityID) -> [LegIntent]
    ) throws -> CreateResult {
        try withNextOpportunityID { id in try connection.writeTransaction {
            if let why = try refusal() { return .refused(why) }
            let created = try insertOpportunity(new, id: id, reason: "detected", firstStep: TransitionStep(.riskGatePassed, reason: reason))
            guard case .created = created else { return created }
            for intent in makeLegs(id) { try insertLeg(intent, opportunity: id, at: new.detectedAtMilliseconds) }
            return created
        } }
    }

    /// Records a detection that is never sent (risk gate refused, stale quote): created and
    /// closed `abandoned` in one insert, so the dedup key is never left blocked. A duplicate of a
    /// live opportunity writes nothing.
    public func createAndAbandon(
        _ new: NewOpportunity, reason: String, refusal: () throws -> String? = { nil }
    ) throws -> CreateResult {
        try withNextOpportunityID { id in try connection.writeTransaction {
            if let why = try refusal() { return .refused(why) }
            return try insertOpportunity(new, id: id, reason: "detected", firstStep: TransitionStep(.abandoned, reason: reason))
        } }
    }

    // MARK: - Transitions

    /// One compare-and-set transition with its log row, leg updates, fills and alerts, in one
    /// transaction. Nothing is written unless the transition applies.
    public func transition(
        _ id: OpportunityID,
        from expected: OpportunityState,
        _ step: TransitionStep,
        at now: Int64,
        changes: TransitionChanges = .none
    ) throws -> TransitionResult {
        try advance(id, from: expected, steps: [step], at: now, changes: changes)
    }

    /// Several transitions in order (each a compare-and-set from the one before) and their
    /// changes, in one commit: either all apply or none does.
    public func advance(
        _ id: OpportunityID,
        from expected: OpportunityState,
        steps: [TransitionStep],
        at now: Int64,
        changes: TransitionChanges = .none
    ) throws -> TransitionResult {
        do {
            return try connection.writeTransaction {
                try applySteps(id, from: expected, steps: steps, at: now, changes: changes)
            }
        } catch StoreError.transitionRefused(let result) {
            return result
        }
    }

    /// The body of `advance`, inside the caller's transaction: throws `transitionRefused` (after
    /// which the caller must roll back what the earlier steps wrote).
    private func applySteps(
        _ id: OpportunityID, from expected: OpportunityState, steps: [TransitionStep], at now: Int64, changes: TransitionChanges
    ) throws -> TransitionResult {
        var state = expected
        var result = TransitionResult.applied(expected)
        for step in steps {
            result = try applyTransition(id, from: state, step: step, at: now)
            guard case .applied(let next) = result else { throw StoreError.transitionRefused(result) }
            state = next
        }
        try write(changes, opportunity: id, at: now)
        return result
    }

    /// Several opportunities' writes — each an `advance` or a `record`, as `PlannedWrite` says —
    /// in ONE transaction (one commit, one flush), each in its own `SAVEPOINT`: each opportunity's
    /// writes are all-or-nothing and independent of the others'. A refused compare-and-set or an
    /// error rolls back only that opportunity's savepoint (its result says which); the others
    /// commit. Throws only when the transaction as a whole fails (BEGIN, COMMIT, the commit hook,
    /// or an error after which SQLite rolled the whole transaction back): then nothing is written.
    /// Recovery's group commit (Reconciler): one result per write, in order.
    public func apply(_ writes: [PlannedWrite]) throws -> [Result<TransitionResult?, any Error>] {
        try connection.writeTransaction {
            var results: [Result<TransitionResult?, any Error>] = []
            results.reserveCapacity(writes.count)
            for planned in writes {
                try connection.cachedStatement("SAVEPOINT opportunity").execute()
                do {
                    let result: TransitionResult?
                    switch planned {
                    case .advance(let id, let expected, let steps, let changes, let now):
                        result = try applySteps(id, from: expected, steps: steps, at: now, changes: changes)
                    case .record(let id, let changes, let now):
                        try write(changes, opportunity: id, at: now)
                        result = nil
                    }
                    try connection.cachedStatement("RELEASE opportunity").execute()
                    results.append(.success(result))
                } catch {
                    // SQLITE_FULL, IOERR and the like may have ended the transaction: nothing of
                    // the batch is left to commit.
                    guard connection.isInTransaction else { throw error }
                    try connection.cachedStatement("ROLLBACK TO opportunity").execute()
                    try connection.cachedStatement("RELEASE opportunity").execute()
                    if case StoreError.transitionRefused(let refused) = error {
                        results.append(.success(refused))
                    } else {
                        results.append(.failure(error))
                    }
                }
            }
            return results
        }
    }

    /// Records fills, leg updates and alerts without a state change (e.g. a fill that changes
    /// nothing about the state), in one transaction.
    public func record(_ changes: TransitionChanges, opportunity id: OpportunityID, at now: Int64) throws {
        try connection.writeTransaction { try write(changes, opportunity: id, at: now) }
    }

    /// Records one fill, idempotently by the venue's trade id.
    public func recordFill(_ fill: FillReport, at now: Int64) throws -> FillResult {
        try connection.writeTransaction { try insertFill(fill, at: now) }
    }

    /// Records a fill no execution owns (a late fill after close, an unknown order) together
    /// with the alerts `alerts` builds from the state after it, in one transaction: a fill that
    /// changes exposure is never recorded without its alert. A replay (duplicate) writes nothing.
    public func recordUnownedFill(
        _ fill: FillReport, at now: Int64,
        alerts: (FillResult, Store) throws -> [(NewAlert, OpportunityID?)]
    ) throws -> FillResult {
        try connection.writeTransaction {
            let result = try insertFill(fill, at: now)
            guard result != .duplicate else { return result }
            for (alert, opportunity) in try alerts(result, self) {
                try insertAlert(alert, opportunity: opportunity, at: now)
            }
            return result
        }
    }

    // MARK: - Writes inside a transaction

    /// Inserts `new` as `Detected` or, with `firstStep`, already past that step (the schema
    /// allows Detected → InFlight and Detected → Closed abandoned in the insert, and its trigger
    /// logs both rows). The machine decides the step's target, as `applyTransition` would.
    private func insertOpportunity(
        _ new: NewOpportunity, id: OpportunityID, reason: String, firstStep: TransitionStep? = nil
    ) throws -> CreateResult {
        var state = OpportunityState.detected
        var stateReason = reason
        if let firstStep {
            switch OpportunityMachine.transition(from: .detected, on: firstStep.event) {
            case .success(let next): state = next
            case .failure(let illegal): preconditionFailure("a new opportunity cannot take \(firstStep.event): \(illegal)")
            }
            stateReason = firstStep.reason
        }
        // A closed row is outside the live dedup index, so the insert alone could not see a
        // duplicate: a live holder of the key means this detection writes nothing.
        if state.isTerminal, let existing = try liveHolder(of: new.dedupKey) { return .duplicate(existing: existing) }
        let insert = try connection.cachedStatement("""
            INSERT INTO opportunities (id, dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b,
                instrument_b, edge_bps, price_a, price_b, quantity, expected_fees_micros, state, outcome, state_reason,
                created_at_ms, updated_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (dedup_key) WHERE state <> 'Closed' DO NOTHING
            """)
        try insert.execute(
            id, new.dedupKey, new.eventID, new.legA.venue, new.legA.outcome, new.legA.instrument,
            new.legB.venue, new.legB.outcome, new.legB.instrument, new.edgeBps, new.legA.price.ticks,
            new.legB.price.ticks, new.quantity.hundredths, new.expectedFees.micros, state.name, state.outcome?.rawValue,
            stateReason, new.detectedAtMilliseconds, new.detectedAtMilliseconds)
        if connection.changes == 1 {
            return .created(id)
        }
        guard let existing = try liveHolder(of: new.dedupKey) else {
            preconditionFailure("insert of \(new.dedupKey) did nothing, yet no live opportunity holds the key")
        }
        return .duplicate(existing: existing)
    }

    private func liveHolder(of dedupKey: String) throws -> OpportunityID? {
        try connection.cachedStatement("SELECT id FROM opportunities WHERE dedup_key = ? AND state <> 'Closed'")
            .queryOne(dedupKey) { $0.int64(0) }
    }

    private func insertLeg(_ intent: LegIntent, opportunity id: OpportunityID, at now: Int64) throws {
        try connection.cachedStatement("""
            INSERT INTO legs (id, opportunity_id, leg, venue, instrument, side, limit_price, quantity, time_in_force,
                client_order_id, venue_order_id, updated_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).execute(
            Self.legID(opportunity: id, leg: intent.leg), id, intent.leg.rawValue, intent.venue, intent.instrument, intent.side.rawValue, intent.limitPrice.ticks,
            intent.quantity.hundredths, intent.timeInForce.rawValue, intent.clientOrderID, intent.venueOrderID, now)
    }

    private func applyTransition(
        _ id: OpportunityID, from expected: OpportunityState, step: TransitionStep, at now: Int64
    ) throws -> TransitionResult {
        let next: OpportunityState
        switch OpportunityMachine.transition(from: expected, on: step.event) {
        case .success(let state): next = state
        case .failure(let illegal): return .illegal(illegal)
        }
        let update = try connection.cachedStatement("""
            UPDATE opportunities SET state = ?, outcome = ?, state_reason = ?, updated_at_ms = ?
            WHERE id = ? AND state = ? AND outcome IS ?
            """)
        try update.execute(next.name, next.outcome?.rawValue, step.reason, now, id, expected.name, expected.outcome?.rawValue)
        if connection.changes == 1 { return .applied(next) }
        guard let current = try state(of: id) else { return .notFound(id) }
        return .stale(current: current)
    }

    private func write(_ changes: TransitionChanges, opportunity id: OpportunityID, at now: Int64) throws {
        for update in changes.legUpdates { try updateLeg(update, at: now) }
        for order in changes.unwindOrders { try insertUnwindOrder(order, opportunity: id, at: now) }
        for update in changes.unwindUpdates { try updateUnwindOrder(update, at: now) }
        for fill in changes.fills {
            let result = try insertFill(fill, at: now)
            guard [.recorded, .duplicate, .confirmed, .reversed].contains(result) else {
                throw StoreError.fillRefused(tradeID: fill.tradeID, result)
            }
        }
        for alert in changes.alerts { try insertAlert(alert, opportunity: id, at: now) }
    }

    private func updateLeg(_ update: LegUpdate, at now: Int64) throws {
        try connection.cachedStatement("""
            UPDATE legs SET status = coalesce(?, status), status_reason = coalesce(?, status_reason),
                venue_order_id = coalesce(?, venue_order_id), cancel_requested = coalesce(?, cancel_requested),
                cancel_result = coalesce(?, cancel_result), updated_at_ms = ?
            WHERE id = ?
            """
        ).execute(
            update.status?.rawValue, update.statusReason, update.venueOrderID, update.cancelRequested,
            update.cancelResult?.rawValue, now, legID(clientOrderID: update.clientOrderID))
        precondition(connection.changes == 1, "leg update for unknown client order id \(update.clientOrderID)")
    }

    /// One venue report of a fill, by its trade id: a new trade is recorded (provisional or
    /// certain); a provisional one the venue now calls certain is confirmed; a failed one that
    /// was recorded provisional is reversed. Anything else adds nothing (`.duplicate`).
    private func insertFill(_ fill: FillReport, at now: Int64) throws -> FillResult {
        if try !knownLeg(fill.clientOrderID), try knownUnwindOrder(fill.clientOrderID) {
            return try insertUnwindFill(fill, at: now)
        }
        if fill.certainty == .failed {
            try connection.cachedStatement("""
                INSERT INTO fill_reversals (fill_id, reason, recorded_at_ms)
                SELECT id, 'the venue reports the trade failed', ? FROM fills
                WHERE venue = ? AND trade_id = ? AND provisional = 1
                ON CONFLICT (fill_id) DO NOTHING
                """).execute(now, fill.venue, fill.tradeID)
            if connection.changes >= 1 { return .reversed }
            return try knownLeg(fill.clientOrderID) ? .duplicate : .unknownOrder
        }
        let insert = try connection.cachedStatement("""
            INSERT INTO fills (venue, trade_id, leg_id, opportunity_id, price, quantity, fee_micros, filled_at_ms,
                recorded_at_ms, provisional)
            SELECT ?, ?, id, opportunity_id, ?, ?, ?, ?, ?, ? FROM legs WHERE id = ?
            ON CONFLICT (venue, trade_id) DO NOTHING
            """)
        do {
            try insert.execute(
                fill.venue, fill.tradeID, fill.price.ticks, fill.quantity.hundredths, fill.fee.micros,
                fill.filledAtMilliseconds, now, fill.certainty == .provisional ? 1 : 0, legID(clientOrderID: fill.clientOrderID))
        } catch let error as SQLiteError where error.code == .constraintCheck {
            // legs.filled_quantity <= quantity, checked by the schema when the trigger adds the fill.
            return .exceedsOrder
        }
        if connection.changes >= 1 { return .recorded }
        if fill.certainty == .certain {
            try connection.cachedStatement("""
                UPDATE fills SET provisional = 0
                WHERE venue = ? AND trade_id = ? AND provisional = 1
                  AND NOT EXISTS (SELECT 1 FROM fill_reversals WHERE fill_id = fills.id)
                """).execute(fill.venue, fill.tradeID)
            if connection.changes >= 1 { return .confirmed }
        }
        return try knownLeg(fill.clientOrderID) ? .duplicate : .unknownOrder
    }

    private func knownLeg(_ clientOrderID: String) throws -> Bool {
        guard let id = legID(clientOrderID: clientOrderID) else { return false }
        return try connection.cachedStatement("SELECT 1 FROM legs WHERE id = ?").queryOne(id) { _ in true } ?? false
    }

    func insertAlert(_ alert: NewAlert, opportunity id: OpportunityID?, at now: Int64) throws {
        try connection.cachedStatement("""
            INSERT INTO alerts (alert_key, opportunity_id, kind, severity, text, body_json, created_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_key) DO NOTHING
            """
        ).execute(alert.key, id, alert.kind, alert.severity.rawValue, alert.text, alert.bodyJSON, now)
        guard connection.changes == 1 else { return }
        let alertID = connection.lastInsertRowID
        let delivery = try connection.cachedStatement("INSERT INTO alert_deliveries (alert_id, sink) VALUES (?, ?)")
        for sink in alertSinks where alert.severity.reaches(alertSinkMinimums[sink] ?? .info) { try delivery.execute(alertID, sink) }
    }

    /// Inserts an alert that belongs to no transition (e.g. a reconcile finding), in its own transaction.
    public func insertAlert(_ alert: NewAlert, opportunity id: OpportunityID?, atMilliseconds now: Int64) throws {
        try connection.writeTransaction { try insertAlert(alert, opportunity: id, at: now) }
    }
}

extension Store {
    /// The text of schema.sql this build creates databases from.
    public static var embeddedSchema: String { Schema.sql }
    /// The schema version this build writes (`PRAGMA user_version`).
    public static var schemaVersion: Int64 { Schema.version }
}

extension Schema {
    /// The `CREATE TRIGGER name … END;` statement of schema.sql, for a migration that adds it to
    /// an older file (one text for new and migrated files).
    static func statement(creating trigger: String) -> String {
        guard let start = sql.firstRange(of: "CREATE TRIGGER \(trigger)\n"),
              let end = sql[start.upperBound...].firstRange(of: "\nEND;") else {
            preconditionFailure("schema.sql has no trigger \(trigger)")
        }
        return String(sql[start.lowerBound..<end.upperBound])
    }

    /// The `CREATE INDEX name …;` statement (one line) of schema.sql, for a migration that adds it.
    static func statement(creatingIndex index: String) -> String {
        guard let start = sql.firstRange(of: "CREATE INDEX \(index) "),
              let end = sql[start.upperBound...].firstRange(of: ";\n") else {
            preconditionFailure("schema.sql has no index \(index)")
        }
        return String(sql[start.lowerBound..<end.lowerBound])
    }

    /// The `CREATE TABLE name (…);` statement of schema.sql, for a migration that adds the table.
    static func statement(creatingTable table: String) -> String {
        guard let start = sql.firstRange(of: "CREATE TABLE \(table) (\n"),
              let end = sql[start.upperBound...].firstRange(of: "\n);") else {
            preconditionFailure("schema.sql has no table \(table)")
        }
        return String(sql[start.lowerBound..<end.upperBound])
    }
}

import OrderStateMachine

/// One leg as the executor plans it, before it has an id.
public struct LegPlan: Sendable {
    public var leg: LegName
    public var venue: any Venue
    public var instrument: String
    public var side: Side
    public var limitPrice: Price
    public var quantity: Quantity
    public var timeInForce: TimeInForce

    public init(leg: LegName, venue: any Venue, instrument: String, side: Side, limitPrice: Price, quantity: Quantity,
                timeInForce: TimeInForce) {
        self.leg = leg
        self.venue = venue
        self.instrument = instrument
        self.side = side
        self.limitPrice = limitPrice
        self.quantity = quantity
        self.timeInForce = timeInForce
    }
}

public enum BeginResult: Sendable {
    /// `InFlight` is committed with both legs' intents; `orders` are exactly what was persisted.
    case begun(OpportunityID, orders: [LegName: PreparedOrder])
    case duplicate(existing: OpportunityID)
    /// Halted, or the market blocked (`Store.admissionRefusal`): nothing was written.
    case refused(String)
}

/// The trader's single writer (DESIGN §9): one actor owns the Store, so SQLite never sees two
/// writers from this process. Venue I/O runs outside it.
public actor Ledger {
    let store: Store
    public nonisolated let databaseID: String
    public nonisolated let path: String

    public init(store: Store) {
        self.store = store
        self.databaseID = store.databaseID
        self.path = store.path
    }

    /// The client order id of an opportunity's unwind attempt (`Store.clientOrderID(opportunity:unwindAttempt:)`),
    /// without a hop to the writer: it depends on the database id alone.
    public nonisolated func clientOrderID(opportunity: OpportunityID, unwindAttempt attempt: Int) -> String {
        Store.clientOrderID(databaseID: databaseID, opportunity: opportunity, unwindAttempt: attempt)
    }

    /// Runs `body` on the writer. For reads and for writes that have no method of their own.
    public func withStore<T: Sendable>(_ body: @Sendable (Store) throws -> T) throws -> T {
        try body(store)
    }

    /// Create and begin in one commit (DESIGN §4, intent before side effect): the dedup
    /// constraint decides whether this is new; the legs' client order ids and any precomputed
    /// venue ids are persisted before anything can be sent.
    public func begin(_ new: NewOpportunity, plans: [LegPlan], reason: String,
                      faults: FaultPoints = FaultPoints(armed: nil)) throws -> BeginResult {
        var orders: [LegName: PreparedOrder] = [:]
        // An id block's own commit, when one is due, lands before the fault hook is set: the hook
        // belongs to the opportunity's commit.
        try store.reserveOpportunityID()
        let previousHook = store.commitHook
        if faults.isArmed(.afterDetected) {
            store.commitHook = { [faults] in
                try previousHook?()
                try faults.hit(.afterDetected)
            }
        }
        defer { store.commitHook = previousHook }
        let started = ContinuousClock.now
        defer { TraderMetrics.commit(.begin, since: started) }
        let result = try store.createAndBegin(new, reason: reason, refusal: { [store] in
            try store.admissionRefusal(eventID: new.eventID)
        }) { id in
            plans.map { plan in
                let request = OrderRequest(
                    clientOrderID: store.clientOrderID(opportunity: id, leg: plan.leg), instrument: plan.instrument,
                    side: plan.side, limitPrice: plan.limitPrice, quantity: plan.quantity, timeInForce: plan.timeInForce)
                let prepared = plan.venue.prepare(request)
                orders[plan.leg] = prepared
                return LegIntent(leg: plan.leg, venue: plan.venue.name, instrument: plan.instrument, side: plan.side,
                                 limitPrice: plan.limitPrice, quantity: plan.quantity, timeInForce: plan.timeInForce,
                                 clientOrderID: request.clientOrderID, venueOrderID: prepared.venueOrderID)
            }
        }
        switch result {
        case .created(let id): return .begun(id, orders: orders)
        case .duplicate(let existing): return .duplicate(existing: existing)
        case .refused(let why): return .refused(why)
        }
    }

    /// Records a refused or stale detection: created and closed `abandoned` in one commit, so the
    /// dedup key is never left blocked. Halted or blocked, nothing is recorded (`.refused`).
    public func abandon(_ new: NewOpportunity, reason: String) throws -> CreateResult {
        let started = ContinuousClock.now
        defer { TraderMetrics.commit(.abandon, since: started) }
        let result = try store.createAndAbandon(new, reason: reason, refusal: { [store] in
            try store.admissionRefusal(eventID: new.eventID)
        })
        if case .created = result { TraderMetrics.closed(.abandoned) }
        return result
    }

    public func advance(_ id: OpportunityID, from state: OpportunityState, steps: [TransitionStep], at now: Int64,
                        changes: TransitionChanges = .none) throws -> TransitionResult {
        let started = ContinuousClock.now
        let result = try store.advance(id, from: state, steps: steps, at: now, changes: changes)
        TraderMetrics.commit(.advance, since: started)
        if case .applied(.closed(let outcome)) = result { TraderMetrics.closed(outcome) }
        return result
    }

    public func record(_ changes: TransitionChanges, opportunity id: OpportunityID, at now: Int64) throws {
        let started = ContinuousClock.now
        try store.record(changes, opportunity: id, at: now)
        TraderMetrics.commit(.record, since: started)
    }

    /// Several opportunities' planned writes in one commit (`Store.apply`: a savepoint each, so
    /// each is all-or-nothing and independent of the others), one result per write in order
    /// (`nil` for a record). A single write goes through `advance`/`record` as before: one
    /// opportunity, one plain transaction. Throws only when the commit as a whole failed.
    public func apply(_ writes: [PlannedWrite]) throws -> [Result<TransitionResult?, any Error>] {
        if writes.count == 1 {
            do {
                switch writes[0] {
                case .advance(let id, let state, let steps, let changes, let now):
                    return [.success(try advance(id, from: state, steps: steps, at: now, changes: changes))]
                case .record(let id, let changes, let now):
                    try record(changes, opportunity: id, at: now)
                    return [.success(nil)]
                }
            } catch {
                return [.failure(error)]
            }
        }
        let started = ContinuousClock.now
        let results = try store.apply(writes)
        TraderMetrics.commit(.batch, since: started)
        for case .success(.applied(.closed(let outcome))?) in results { TraderMetrics.closed(outcome) }
        return results
    }

    public func haltState() throws -> HaltState { try store.haltState() }

    public func halt(reason: String, at now: Int64) throws { try store.halt(reason: reason, atMilliseconds: now) }
}

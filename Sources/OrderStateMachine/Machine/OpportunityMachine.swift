/// What happened to an opportunity: the input of the state machine.
public enum OpportunityEvent: String, Sendable, Hashable, CaseIterable, Codable {
    /// The risk gate passed and both legs' intents are persisted.
    case riskGatePassed
    /// Never sent: gate refused, quote stale, shutting down, or nothing sent before a crash.
    case abandoned
    /// Both venues acknowledged (or answered with fills).
    case legsAcknowledged
    /// One leg filled (or filled more) and the other did not keep up: imbalance > 0 — or, from
    /// `Filled`, a venue undid a provisional fill.
    case imbalanced
    /// Both legs refused by the venues.
    case bothRejected
    /// Both legs certainly unfilled and dead.
    case bothUnfilled
    /// Fill timeout with quantity still open and no imbalance: cancel the remainders.
    case fillTimedOut
    /// The cancel of the unfilled (or less filled) leg was sent and its result recorded.
    case cancelSent
    /// Both legs filled the same non-zero quantity, with nothing left open.
    case legsEven
    /// Cancels confirmed (or orders already dead); final fills unequal.
    case closedExposed
    /// Cancels confirmed (or orders already dead); nothing filled.
    case closedUnfilled
    /// Fills recorded, reconciled and certain (none provisional) for a filled opportunity.
    case reconciled
    /// An operator closed it by hand (`arbadmin close`).
    case closedByOperator
    /// Cancels done with fills unequal, and the unwind policy is on: its first order is persisted.
    case unwindStarted
    /// The unwind bought the missing outcome for the whole exposure.
    case unwindCompleted
    /// The unwind sold the whole excess back.
    case unwindFlattened
    /// The unwind reached its bound or its attempts with exposure left: one-sided, for a person.
    case unwindGaveUp
    /// An operator reopened a `Closed(one_sided)` exposure to unwind it (`arbadmin unwind`), with
    /// their note as the reason: the only way out of `Closed`.
    case operatorUnwind
}

/// A transition the machine refuses.
public struct IllegalTransition: Error, Sendable, Hashable, CustomStringConvertible {
    public let from: OpportunityState
    public let event: OpportunityEvent

    public init(from: OpportunityState, event: OpportunityEvent) {
        self.from = from
        self.event = event
    }

    public var description: String { "illegal transition: \(event.rawValue) in state \(from)" }
}

/// The opportunity state machine of DESIGN §3 as a pure function: no I/O, no clock. The engine
/// switches on the result and does the I/O; the SQL trigger in schema.sql enforces the same table.
public enum OpportunityMachine {
    public static func transition(
        from state: OpportunityState,
        on event: OpportunityEvent
    ) -> Result<OpportunityState, IllegalTransition> {
        let next: OpportunityState? =
            switch (state, event) {
            case (.detected, .riskGatePassed): .inFlight
            case (.detected, .abandoned): .closed(.abandoned)
            case (.inFlight, .legsAcknowledged): .legsPlaced
            case (.inFlight, .imbalanced): .oneSided
            case (.inFlight, .bothRejected): .closed(.rejected)
            case (.inFlight, .bothUnfilled): .closed(.noFill)
            case (.legsPlaced, .legsEven): .filled
            case (.legsPlaced, .imbalanced): .oneSided
            case (.legsPlaced, .fillTimedOut): .cancelAttempted
            case (.oneSided, .cancelSent): .cancelAttempted
            case (.oneSided, .legsEven): .filled
            case (.cancelAttempted, .legsEven): .filled
            case (.cancelAttempted, .closedExposed): .closed(.oneSided)
            case (.cancelAttempted, .closedUnfilled): .closed(.noFill)
            case (.cancelAttempted, .unwindStarted): .unwinding
            case (.unwinding, .unwindCompleted): .closed(.completed)
            case (.unwinding, .unwindFlattened): .closed(.flattened)
            case (.unwinding, .unwindGaveUp): .closed(.oneSided)
            case (.closed(.oneSided), .operatorUnwind): .unwinding
            case (.filled, .reconciled): .closed(.hedged)
            // A provisional fill the venue undid (a FAILED trade) left the legs unequal.
            case (.filled, .imbalanced): .oneSided
            case (let live, .closedByOperator) where !live.isTerminal: .closed(.manual)
            default: nil
            }
        guard let next else { return .failure(IllegalTransition(from: state, event: event)) }
        return .success(next)
    }

    /// Whether some event takes `from` to `to`: the table the SQL trigger must agree with.
    public static func isLegal(from: OpportunityState, to: OpportunityState) -> Bool {
        OpportunityEvent.allCases.contains { event in
            if case .success(let next) = transition(from: from, on: event) { return next == to }
            return false
        }
    }
}

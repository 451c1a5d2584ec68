/// The legal steps from a state to `Closed`, once both legs are final and their fills known.
/// One pure function, used by the executor when an opportunity settles and by recovery
/// (DESIGN §6), so both reach the same state from the same facts.
public enum ClosingPath {
    public struct Facts: Sendable, Hashable {
        public var filledA: Quantity
        public var filledB: Quantity
        /// Both legs refused by their venues (nothing placed).
        public var bothRejected: Bool
        /// Some fill may still be undone by its venue (Polymarket's MATCHED trades): a hedged
        /// close waits in `Filled` until every fill is certain.
        public var provisional: Bool

        public init(filledA: Quantity, filledB: Quantity, bothRejected: Bool, provisional: Bool = false) {
            self.filledA = filledA
            self.filledB = filledB
            self.bothRejected = bothRejected
            self.provisional = provisional
        }

        public var isEven: Bool { filledA == filledB }
        public var imbalance: Quantity { filledA > filledB ? filledA - filledB : filledB - filledA }
    }

    /// nil when no legal path fits the facts (from `Detected` or `Closed`): that needs a person.
    /// `Unwinding` closes by its unwind orders, not by the pair's fills: nil here too.
    /// Even, non-zero fills with one still provisional stop in `Filled` (an empty path from
    /// there): the close waits for the venue to confirm or undo it. Unequal fills with one still
    /// provisional stop in `CancelAttempted` the same way: the exposure itself is not certain (an
    /// undone fill may even leave nothing filled), so neither is the outcome.
    public static func events(from state: OpportunityState, _ facts: Facts) -> [OpportunityEvent]? {
        if facts.isEven && !facts.filledA.isZero {
            let close: [OpportunityEvent] = facts.provisional ? [] : [.reconciled]
            switch state {
            case .inFlight: return [.legsAcknowledged, .legsEven] + close
            case .legsPlaced, .oneSided, .cancelAttempted: return [.legsEven] + close
            case .filled: return close
            case .detected, .unwinding, .closed: return nil
            }
        }
        if facts.isEven {
            switch state {
            case .inFlight: return [facts.bothRejected ? .bothRejected : .bothUnfilled]
            case .legsPlaced: return [.fillTimedOut, .closedUnfilled]
            case .oneSided: return [.cancelSent, .closedUnfilled]
            case .cancelAttempted: return [.closedUnfilled]
            // Every fill of a filled opportunity undone by its venue: nothing is held.
            case .filled: return [.imbalanced, .cancelSent, .closedUnfilled]
            case .detected, .unwinding, .closed: return nil
            }
        }
        let close: [OpportunityEvent] = facts.provisional ? [] : [.closedExposed]
        switch state {
        case .inFlight, .legsPlaced, .filled: return [.imbalanced, .cancelSent] + close
        case .oneSided: return [.cancelSent] + close
        case .cancelAttempted: return close
        case .detected, .unwinding, .closed: return nil
        }
    }
}

/// The legal steps from a state to `Closed`, once both legs are final and their fills known.
/// One pure function, used by the executor when an opportunity settles and by recovery
/// (DESIGN §6), so both reach the same state from the same facts.
public enum ClosingPath {
    public struct Facts: Sendable, Hashable {
        public var filledA: Quantity
        public var filledB: Quantity
        /// Both legs refused by their venues (nothing placed).
        public var bothRejected: Bool

        public init(filledA: Quantity, filledB: Quantity, bothRejected: Bool) {
            self.filledA = filledA
            self.filledB = filledB
            self.bothRejected = bothRejected
        }

        public var isEven: Bool { filledA == filledB }
        public var imbalance: Quantity { filledA > filledB ? filledA - filledB : filledB - filledA }
    }

    /// nil when no legal path fits the facts (a `Filled` opportunity whose fills differ): that
    /// needs a person.
    public static func events(from state: OpportunityState, _ facts: Facts) -> [OpportunityEvent]? {
        if facts.isEven && !facts.filledA.isZero {
            switch state {
            case .inFlight: return [.legsAcknowledged, .legsEven, .reconciled]
            case .legsPlaced, .oneSided, .cancelAttempted: return [.legsEven, .reconciled]
            case .filled: return [.reconciled]
            case .detected, .closed: return nil
            }
        }
        if facts.isEven {
            switch state {
            case .inFlight: return [facts.bothRejected ? .bothRejected : .bothUnfilled]
            case .legsPlaced: return [.fillTimedOut, .closedUnfilled]
            case .oneSided: return [.cancelSent, .closedUnfilled]
            case .cancelAttempted: return [.closedUnfilled]
            case .filled, .detected, .closed: return nil
            }
        }
        switch state {
        case .inFlight, .legsPlaced: return [.imbalanced, .cancelSent, .closedExposed]
        case .oneSided: return [.cancelSent, .closedExposed]
        case .cancelAttempted: return [.closedExposed]
        case .filled, .detected, .closed: return nil
        }
    }
}

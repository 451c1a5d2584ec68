import OrderStateMachine

/// Policy: the one exposure rule (executor, recovery, risk restore, alerts and `arbadmin` all
/// use it). What an opportunity's fills leave exposed: the contracts filled on one leg and not matched by
/// the other, and what they cost (their share of the leading leg's cost and fees — what is lost
/// if their outcome loses). Hedged contracts pay $1 whichever outcome wins.
public struct Exposure: Sendable, Hashable {
    public var hedged: Quantity
    public var exposed: Quantity
    /// The exposed contracts' cost, rounded up (a loss is never understated).
    public var atRisk: Money
    /// The leg that filled more, when the legs are unequal.
    public var leadingLeg: LegName?

    public static let none = Exposure(hedged: .zero, exposed: .zero, atRisk: .zero, leadingLeg: nil)

    public init(hedged: Quantity, exposed: Quantity, atRisk: Money, leadingLeg: LegName?) {
        self.hedged = hedged
        self.exposed = exposed
        self.atRisk = atRisk
        self.leadingLeg = leadingLeg
    }

    /// - Parameter unwound: what unwind orders took back of the difference (issue 14): the
    ///   exposure left is the rest, at its share of the leading leg's cost.
    public init(a: LegFills?, b: LegFills?, unwound: Quantity = .zero) {
        let a = a ?? .none
        let b = b ?? .none
        guard a.filled != b.filled else {
            self = Exposure(hedged: a.filled, exposed: .zero, atRisk: .zero, leadingLeg: nil)
            return
        }
        let (leader, lagger, leg) = a.filled > b.filled ? (a, b, LegName.a) : (b, a, LegName.b)
        let difference = leader.filled - lagger.filled
        let exposed = difference - min(unwound, difference)
        guard !exposed.isZero else {
            self = Exposure(hedged: lagger.filled, exposed: .zero, atRisk: .zero, leadingLeg: nil)
            return
        }
        self = Exposure(hedged: lagger.filled, exposed: exposed,
                        atRisk: (leader.cost + leader.fees).share(exposed, of: leader.filled),
                        leadingLeg: leg)
    }

    public init(_ summary: OpportunitySummary) {
        self.init(a: summary.legA, b: summary.legB, unwound: summary.unwound)
    }

    public init(legs: [Leg], unwindOrders: [UnwindOrder] = []) {
        func fills(_ name: LegName) -> LegFills? {
            legs.first { $0.leg == name }.map { LegFills(filled: $0.filledQuantity, cost: $0.filledCost, fees: $0.fees) }
        }
        self.init(a: fills(.a), b: fills(.b), unwound: unwindOrders.reduce(Quantity.zero) { $0 + $1.filledQuantity })
    }

    public init(_ history: OpportunityHistory) {
        self.init(legs: history.legs, unwindOrders: history.unwindOrders)
    }

}

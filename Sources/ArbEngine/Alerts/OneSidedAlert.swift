import Foundation
import OrderStateMachine

/// What a leg looks like to the alert: enough for an operator to act without opening the database.
public struct AlertLeg: Sendable, Hashable {
    /// The leg's client order id: names the order at its venue, and lets the auditor compare
    /// the alert with the leg row it describes.
    public var clientOrderID: String
    public var venue: String
    public var instrument: String
    public var outcome: String
    public var side: Side
    public var limitPrice: Price
    public var filled: Quantity
    public var cost: Money
    public var fees: Money
    public var cancelAttempted: Bool
    public var cancelSucceeded: Bool?

    public init(clientOrderID: String, venue: String, instrument: String, outcome: String, side: Side, limitPrice: Price, filled: Quantity,
                cost: Money, fees: Money, cancelAttempted: Bool, cancelSucceeded: Bool?) {
        self.clientOrderID = clientOrderID
        self.venue = venue
        self.instrument = instrument
        self.outcome = outcome
        self.side = side
        self.limitPrice = limitPrice
        self.filled = filled
        self.cost = cost
        self.fees = fees
        self.cancelAttempted = cancelAttempted
        self.cancelSucceeded = cancelSucceeded
    }

    /// The volume-weighted price of the fills (ticks, rounded down), or the limit if none.
    public var averagePrice: Price {
        guard filled.hundredths > 0, let price = Price(ticks: cost.micros / filled.hundredths) else { return limitPrice }
        return price
    }
}

/// The one-sided alert (the seed write-up's contents, made exact): inserted in the same
/// transaction as `OneSided` (kind `one_sided`) and again with the final figures when the
/// opportunity closes one-sided (kind `one_sided_closed`).
public enum OneSidedAlert {
    public enum Phase: String, Sendable {
        case detected = "one_sided"
        case closed = "one_sided_closed"
        /// Reconcile found unequal fills it cannot finish (a cancel the venue keeps refusing).
        case unresolved = "one_sided_unresolved"
    }

    public static func make(
        databaseID: String, opportunity id: OpportunityID, eventID: String, edgeBps: Int64,
        legA: AlertLeg, legB: AlertLeg, phase: Phase, unwind: UnwindConfig? = nil
    ) -> NewAlert {
        let (filled, other) = legA.filled >= legB.filled ? (legA, legB) : (legB, legA)
        // The exposed contracts cost their share of the filled leg's cost and fees; if their
        // outcome loses they pay nothing (worst case), if it wins each pays $1.
        let exposed = Exposure(a: LegFills(filled: legA.filled, cost: legA.cost, fees: legA.fees),
                               b: LegFills(filled: legB.filled, cost: legB.cost, fees: legB.fees))
        let exposure = exposed.exposed
        let exposedCost = exposed.atRisk
        let payout = Money(micros: exposure.hundredths * 10_000)
        let worstCaseLoss = exposedCost
        let bestCaseGain = payout - exposedCost
        let title = switch phase {
        case .detected: "ONE-SIDED FILL"
        case .closed: "ONE-SIDED CLOSE"
        case .unresolved: "ONE-SIDED, NEEDS A PERSON (reconcile could not finish)"
        }
        let cancelState =
            other.cancelSucceeded.map { $0 ? "succeeded" : "FAILED" } ?? (other.cancelAttempted ? "sent, answer pending" : "not needed")
        let text = """
            \(title) — opportunity \(id), event \(eventID), edge \(edgeBps) bps
            filled leg: \(filled.venue) \(filled.instrument) (\(filled.outcome)) \(filled.side.rawValue) \(filled.filled) @ \(filled.averagePrice) cost \(filled.cost) fees \(filled.fees)
            other leg: \(other.venue) \(other.instrument) (\(other.outcome)) filled \(other.filled); cancel attempted: \(other.cancelAttempted ? "yes" : "no"), cancel: \(cancelState)
            exposure: \(exposure) contracts of \(filled.outcome) on \(filled.venue), \(exposedCost) at risk; worst case -\(worstCaseLoss), best case +\(bestCaseGain) at settlement
            position: directional, NOT arbitrage
            unwind: \(unwindText(unwind, phase: phase))
            action: check `arbadmin show \(id)`; hedge by buying \(exposure) \(other.outcome) on \(other.venue) or sell \(exposure) \(filled.outcome) on \(filled.venue) if the price is acceptable; then `arbadmin close \(id) --flattened --note "…"`
            """
        // Members in a fixed (alphabetical) order, written by the one JSON writer (JSONSerialization
        // cost ~0.3 ms here, on the path right after a one-sided fill). Money and quantities are
        // JSON strings: exact decimals.
        let json = JSONValue.members([
            "best_case_gain_usd": .string(bestCaseGain.decimalString),
            "edge_bps": .integer(edgeBps),
            "event_id": .string(eventID),
            "exposed_outcome": .string(filled.outcome),
            "exposed_venue": .string(filled.venue),
            "exposure_contracts": .string(exposure.description),
            "exposure_usd": .string(exposedCost.decimalString),
            "filled_leg": legJSON(filled),
            "opportunity_id": .integer(id),
            "phase": .string(phase.rawValue),
            "recommended_action": .string("hedge \(exposure) \(other.outcome) on \(other.venue) or flatten \(filled.outcome) on \(filled.venue); then arbadmin close \(id) --flattened"),
            "unfilled_leg": legJSON(other),
            "unwind": unwind.map { unwind -> JSONValue in
                .members([
                    "max_attempts": .integer(Int64(unwind.maxAttempts)),
                    "max_loss_per_contract_usd": .string(unwind.maxLossPerContract.decimalString),
                    "policy": .string(unwind.policy.rawValue),
                ])
            } ?? .null,
            "worst_case_loss_usd": .string(worstCaseLoss.decimalString),
        ]).compactText
        return NewAlert(key: "arb-\(databaseID)-\(id)-\(phase.rawValue)", kind: phase.rawValue, severity: .critical,
                        text: text, bodyJSON: json)
    }

    /// Whether an unwind follows, and within what bound (the alert says so before it starts).
    static func unwindText(_ unwind: UnwindConfig?, phase: Phase) -> String {
        guard let unwind, unwind.policy != .off else { return "off — a person decides" }
        let plan = "\(unwind.policy.rawValue), at most \(unwind.maxLossPerContract) a contract, fees included, \(unwind.maxAttempts) orders"
        switch phase {
        case .detected: return "starts once the cancels are done (\(plan))"
        case .closed: return "tried (\(plan)); what was done is in the unwind_closed alert"
        case .unresolved: return "not by recovery (it places no new unwind order)"
        }
    }

    static func legJSON(_ leg: AlertLeg) -> JSONValue {
        .members([
            "cancel_attempted": .bool(leg.cancelAttempted),
            "cancel_succeeded": leg.cancelSucceeded.map(JSONValue.bool) ?? .null,
            "client_order_id": .string(leg.clientOrderID),
            "cost_usd": .string(leg.cost.decimalString),
            "fees_usd": .string(leg.fees.decimalString),
            "instrument": .string(leg.instrument),
            "outcome": .string(leg.outcome),
            "price": .string(leg.averagePrice.description),
            "side": .string(leg.side.rawValue),
            "size": .string(leg.filled.description),
            "venue": .string(leg.venue),
        ])
    }
}

import Foundation
import OrderStateMachine

/// The JSON `arbadmin` writes for machines: snake_case keys, times in ISO 8601 UTC, money,
/// prices and quantities as exact decimal strings (never binary floating point), absent values
/// as `null`. `list`, `show` and `export` share these shapes, so an opportunity reads the same
/// wherever it comes from.
public enum AdminJSON {
    /// An opportunity's own columns and its exposure (the `list --json` element; `show --json`
    /// and `export` add `legs`, `transitions` and `alerts`).
    public static func opportunity(_ opportunity: Opportunity, exposure: Exposure) -> [String: Any] {
        let leading = exposure.leadingLeg.map { opportunity.quote($0) }
        return [
            "id": opportunity.id,
            "dedup_key": opportunity.dedupKey,
            "event_id": opportunity.eventID,
            "state": opportunity.state.name,
            "outcome": nullable(opportunity.state.outcome?.rawValue),
            "flattened": opportunity.flattened,
            "state_reason": opportunity.stateReason,
            "edge_bps": opportunity.edgeBps,
            "quantity": opportunity.quantity.description,
            "venue_a": opportunity.legA.venue,
            "outcome_a": opportunity.legA.outcome,
            "instrument_a": opportunity.legA.instrument,
            "price_a": opportunity.legA.price.description,
            "venue_b": opportunity.legB.venue,
            "outcome_b": opportunity.legB.outcome,
            "instrument_b": opportunity.legB.instrument,
            "price_b": opportunity.legB.price.description,
            "expected_fees_usd": opportunity.expectedFees.decimalString,
            "hedged_quantity": exposure.hedged.description,
            "exposed_quantity": exposure.exposed.description,
            "exposure_usd": exposure.atRisk.decimalString,
            "exposed_leg": nullable(exposure.leadingLeg?.rawValue),
            "exposed_venue": nullable(leading?.venue),
            "exposed_outcome": nullable(leading?.outcome),
            "created_at": Timestamp.iso8601(opportunity.createdAtMilliseconds),
            "updated_at": Timestamp.iso8601(opportunity.updatedAtMilliseconds),
        ]
    }

    /// Everything about one opportunity: `show --json`, and each element of `export --format json`.
    public static func history(_ history: OpportunityHistory) -> [String: Any] {
        var json = opportunity(history.opportunity, exposure: Exposure(history))
        json["legs"] = history.legs.map { leg in
            var object = self.leg(leg)
            object["fills"] = history.fills.filter { $0.legID == leg.id }.map(fill)
            return object
        }
        json["unwind_orders"] = history.unwindOrders.map(unwindOrder)
        json["transitions"] = history.transitions.map(transition)
        json["alerts"] = history.alerts.map(alert)
        return json
    }

    /// One unwind order (issue 14): what was persisted before it was sent, and what it did.
    public static func unwindOrder(_ order: UnwindOrder) -> [String: Any] {
        let intent = order.intent
        return [
            "attempt": intent.attempt,
            "action": intent.action.rawValue,
            "venue": intent.venue,
            "instrument": intent.instrument,
            "side": intent.action.side.rawValue,
            "limit_price": intent.limitPrice.description,
            "bound_price": intent.boundPrice.description,
            "quantity": intent.quantity.description,
            "exposure_quantity": intent.exposure.description,
            "loss_budget_usd": intent.lossBudget.decimalString,
            "client_order_id": intent.clientOrderID,
            "venue_order_id": nullable(intent.venueOrderID),
            "status": order.status.rawValue,
            "status_reason": nullable(order.statusReason),
            "filled_quantity": order.filledQuantity.description,
            "filled_cost_usd": order.filledCost.decimalString,
            "fees_usd": order.fees.decimalString,
            "updated_at": Timestamp.iso8601(order.updatedAtMilliseconds),
        ]
    }

    public static func leg(_ leg: Leg) -> [String: Any] {
        let average = leg.filledQuantity.isZero ? nil : Price(ticks: leg.filledCost.micros / leg.filledQuantity.hundredths)
        return [
            "leg": leg.leg.rawValue,
            "venue": leg.venue,
            "instrument": leg.instrument,
            "side": leg.side.rawValue,
            "price": leg.limitPrice.description,
            "quantity": leg.quantity.description,
            "time_in_force": leg.timeInForce.rawValue,
            "client_order_id": leg.clientOrderID,
            "venue_order_id": nullable(leg.venueOrderID),
            "status": leg.status.rawValue,
            "status_reason": nullable(leg.statusReason),
            "cancel_requested": leg.cancelRequested,
            "cancel_result": nullable(leg.cancelResult?.rawValue),
            "filled_quantity": leg.filledQuantity.description,
            "filled_cost_usd": leg.filledCost.decimalString,
            "fees_usd": leg.fees.decimalString,
            "average_price": nullable(average?.description),
            "updated_at": Timestamp.iso8601(leg.updatedAtMilliseconds),
        ]
    }

    public static func fill(_ fill: Fill) -> [String: Any] {
        [
            "id": fill.id,
            "venue": fill.venue,
            "trade_id": fill.tradeID,
            "price": fill.price.description,
            "quantity": fill.quantity.description,
            "fee_usd": fill.fee.decimalString,
            "filled_at": Timestamp.iso8601(fill.filledAtMilliseconds),
            "recorded_at": Timestamp.iso8601(fill.recordedAtMilliseconds),
        ]
    }

    public static func transition(_ transition: TransitionRecord) -> [String: Any] {
        [
            "from_state": nullable(transition.from?.name),
            "to_state": transition.to.name,
            "outcome": nullable(transition.to.outcome?.rawValue),
            "reason": transition.reason,
            "at": Timestamp.iso8601(transition.atMilliseconds),
        ]
    }

    public static func alert(_ alert: Alert) -> [String: Any] {
        let body = (try? StrictJSONParser.parse(Array(alert.bodyJSON.utf8))) ?? .string(alert.bodyJSON)
        return [
            "id": alert.id,
            "key": alert.key,
            "opportunity_id": nullable(alert.opportunityID),
            "kind": alert.kind,
            "severity": alert.severity.rawValue,
            "text": alert.text,
            "body": body,
            "created_at": Timestamp.iso8601(alert.createdAtMilliseconds),
            "delivered": alert.isDeliveredEverywhere,
            "deliveries": alert.deliveries.map { delivery in
                [
                    "sink": delivery.sink,
                    "attempts": delivery.attempts,
                    "delivered_at": nullable(delivery.deliveredAtMilliseconds.map(Timestamp.iso8601)),
                    "last_error": nullable(delivery.lastError),
                ] as [String: Any]
            },
        ]
    }

    static func nullable(_ value: (any Sendable)?) -> Any { value ?? NSNull() }
}

extension Alert {
    /// Some sink has it and none is still owed it. An alert without delivery rows was written
    /// while no sink was configured (e.g. by `arbadmin`): the next `arb run` adds its sinks' rows.
    public var isDeliveredEverywhere: Bool {
        !deliveries.isEmpty && deliveries.allSatisfy { $0.deliveredAtMilliseconds != nil }
    }
}

import OrderStateMachine

/// `arbadmin export`: every opportunity (oldest first) with its legs and fills, for spreadsheets
/// and accounting. JSON elements are exactly `show --json`'s objects; CSV has one record per
/// leg, carrying its opportunity's columns (an opportunity that never sent a leg has none), then
/// one per unwind order, its `leg` column `u<attempt>` and its limit in `price` (IOC; no
/// cancel; `outcome_bought` the instrument's outcome when it buys, empty when it sells).
public enum ExportReport {
    public static func read(_ store: Store, since: Int64?) throws -> [OpportunityHistory] {
        try store.histories(OpportunityQuery(createdSinceMilliseconds: since)).reversed()
    }

    public static func json(_ histories: [OpportunityHistory]) -> String {
        AdminText.json(histories.map(AdminJSON.history))
    }

    public static let csvHeader = [
        "opportunity_id", "dedup_key", "event_id", "state", "outcome", "flattened", "state_reason", "edge_bps",
        "quantity", "expected_fees_usd", "hedged_quantity", "exposed_quantity", "exposure_usd", "created_at",
        "updated_at", "leg", "venue", "instrument", "outcome_bought", "side", "price", "leg_quantity", "time_in_force",
        "client_order_id", "venue_order_id", "status", "cancel_requested", "cancel_result", "filled_quantity",
        "filled_cost_usd", "fees_usd", "fill_count", "trade_ids",
    ]

    /// RFC 4180: CRLF line ends, fields quoted where needed.
    public static func csv(_ histories: [OpportunityHistory]) -> String {
        var records = [AdminText.csvRecord(csvHeader)]
        for history in histories {
            let opportunity = history.opportunity
            let exposure = Exposure(history)
            // Every record of this opportunity starts with its columns.
            let shared = [
                "\(opportunity.id)", opportunity.dedupKey, opportunity.eventID, opportunity.state.name,
                opportunity.state.outcome?.rawValue ?? "", opportunity.flattened ? "1" : "0", opportunity.stateReason,
                "\(opportunity.edgeBps)", opportunity.quantity.description, opportunity.expectedFees.decimalString,
                exposure.hedged.description, exposure.exposed.description, exposure.atRisk.decimalString,
                Timestamp.iso8601(opportunity.createdAtMilliseconds), Timestamp.iso8601(opportunity.updatedAtMilliseconds),
            ]
            for leg in history.legs {
                let fills = history.fills.filter { $0.legID == leg.id }
                records.append(AdminText.csvRecord(shared + [
                    leg.leg.rawValue, leg.venue, leg.instrument, opportunity.quote(leg.leg).outcome, leg.side.rawValue,
                    leg.limitPrice.description, leg.quantity.description, leg.timeInForce.rawValue, leg.clientOrderID,
                    leg.venueOrderID ?? "", leg.status.rawValue, leg.cancelRequested ? "1" : "0",
                    leg.cancelResult?.rawValue ?? "", leg.filledQuantity.description, leg.filledCost.decimalString,
                    leg.fees.decimalString, "\(fills.count)", fills.map(\.tradeID).joined(separator: " "),
                ]))
            }
            for order in history.unwindOrders {
                let intent = order.intent
                // Completing buys the missing outcome: the leg's whose instrument it is, or (the held
                // venue's opposite instrument) the outcome of the leg at the other venue.
                let (a, b) = (opportunity.legA, opportunity.legB)
                let missing = intent.instrument == a.instrument ? a.outcome : intent.instrument == b.instrument ? b.outcome
                    : (a.venue == intent.venue ? b.outcome : a.outcome)
                let bought = intent.action == .complete ? missing : ""
                records.append(AdminText.csvRecord(shared + [
                    "u\(intent.attempt)", intent.venue, intent.instrument, bought, intent.action.side.rawValue,
                    intent.limitPrice.description, intent.quantity.description, TimeInForce.ioc.rawValue, intent.clientOrderID,
                    intent.venueOrderID ?? "", order.status.rawValue, "0", "", order.filledQuantity.description,
                    order.filledCost.decimalString, order.fees.decimalString, "", "",
                ]))
            }
        }
        return records.map { $0 + "\r\n" }.joined()
    }
}

import Foundation
import OrderStateMachine

/// `arbadmin show ID`: the opportunity, its legs, fills, timeline and alerts with per-sink
/// delivery — "how did it happen" in one command.
public enum OpportunityReport {
    public static func read(_ store: Store, id: OpportunityID) throws -> OpportunityHistory {
        guard let history = try store.history(of: id) else { throw AdminFailure.unknownOpportunity(id, path: store.path) }
        return history
    }

    public static func json(_ history: OpportunityHistory) -> String {
        AdminText.json(AdminJSON.history(history))
    }

    public static func text(_ history: OpportunityHistory, now: Int64) -> [String] {
        let opportunity = history.opportunity
        let exposure = Exposure(history)
        var lines = ["opportunity \(opportunity.id) — \(opportunity.eventID) — \(opportunity.stateText)"]
        func field(_ name: String, _ value: String) {
            lines.append("  " + name.padding(toLength: 12, withPad: " ", startingAt: 0) + MessageText.singleLine(value))
        }
        field("dedup key", opportunity.dedupKey)
        field("detected", "\(Timestamp.iso8601(opportunity.createdAtMilliseconds)) (\(AdminText.age(opportunity.createdAtMilliseconds, now: now)))")
        field("plan", "buy \(opportunity.quantity) \(opportunity.legA.outcome)@\(opportunity.legA.venue) at \(opportunity.legA.price) + \(opportunity.legB.outcome)@\(opportunity.legB.venue) at \(opportunity.legB.price); edge \(opportunity.edgeBps) bps, expected fees \(opportunity.expectedFees)")
        if let leg = exposure.leadingLeg {
            let quote = opportunity.quote(leg)
            let flattened = opportunity.flattened ? " — flattened by hand" : ""
            field("exposure", "\(exposure.exposed) contracts of \(quote.outcome) on \(quote.venue), \(exposure.atRisk) at risk; hedged \(exposure.hedged)\(flattened)")
        } else {
            field("exposure", "none; hedged \(exposure.hedged)")
        }
        field("updated", "\(Timestamp.iso8601(opportunity.updatedAtMilliseconds)) (\(AdminText.age(opportunity.updatedAtMilliseconds, now: now))): \(opportunity.stateReason)")

        lines.append("")
        lines.append("legs")
        if history.legs.isEmpty {
            lines.append("  none (nothing was sent)")
        } else {
            lines += AdminText.table(
                ["LEG", "VENUE", "INSTRUMENT", "SIDE", "PRICE", "QTY", "FILLED", "STATUS", "CANCEL", "CLIENT ORDER ID", "VENUE ORDER ID"],
                history.legs.map { leg in
                    [leg.leg.rawValue, leg.venue, leg.instrument, leg.side.rawValue, leg.limitPrice.description,
                     leg.quantity.description, leg.filledQuantity.description,
                     leg.status.rawValue + (leg.statusReason.map { " (\($0))" } ?? ""),
                     leg.cancelRequested ? (leg.cancelResult?.rawValue ?? "sent") : "-", leg.clientOrderID,
                     leg.venueOrderID ?? "-"]
                },
                alignments: [.left, .left, .left, .left, .right, .right, .right, .left, .left, .left, .left]
            ).map { "  " + $0 }
        }

        lines.append("")
        lines.append("fills")
        if history.fills.isEmpty {
            lines.append("  none")
        } else {
            let legNames = Dictionary(uniqueKeysWithValues: history.legs.map { ($0.id, $0.leg.rawValue) })
            lines += AdminText.table(
                ["LEG", "VENUE", "TRADE ID", "QTY", "PRICE", "FEE", "FILLED AT"],
                history.fills.map { fill in
                    [legNames[fill.legID] ?? "?", fill.venue, fill.tradeID, fill.quantity.description, fill.price.description,
                     fill.fee.description, Timestamp.iso8601(fill.filledAtMilliseconds)]
                },
                alignments: [.left, .left, .left, .right, .right, .right, .left]
            ).map { "  " + $0 }
        }

        if !history.unwindOrders.isEmpty {
            lines.append("")
            lines.append("unwind orders")
            lines += AdminText.table(
                ["#", "ACTION", "VENUE", "INSTRUMENT", "SIDE", "LIMIT", "BOUND", "QTY", "FILLED", "STATUS", "CLIENT ORDER ID"],
                history.unwindOrders.map { order in
                    ["\(order.intent.attempt)", order.intent.action.rawValue, order.intent.venue, order.intent.instrument,
                     order.intent.action.side.rawValue, order.intent.limitPrice.description, order.intent.boundPrice.description,
                     order.intent.quantity.description, order.filledQuantity.description,
                     order.status.rawValue + (order.statusReason.map { " (\($0))" } ?? ""), order.intent.clientOrderID]
                },
                alignments: [.right, .left, .left, .left, .left, .right, .right, .right, .right, .left, .left]
            ).map { "  " + $0 }
        }

        lines.append("")
        lines.append("timeline")
        lines += AdminText.table(
            ["AT", "AGE", "STATE", "REASON"],
            history.transitions.map { step in
                [Timestamp.iso8601(step.atMilliseconds), AdminText.age(step.atMilliseconds, now: now),
                 (step.from.map { "\($0.description) → " } ?? "") + step.to.description, step.reason]
            },
            alignments: [.left, .right, .left, .left]
        ).map { "  " + $0 }

        lines.append("")
        lines.append("alerts")
        if history.alerts.isEmpty { lines.append("  none") }
        for alert in history.alerts {
            lines.append("  #\(alert.id) \(alert.kind) (\(alert.severity.rawValue)) \(Timestamp.iso8601(alert.createdAtMilliseconds)) key \(alert.key)")
            lines.append("    delivery: " + AlertListing.deliveryText(alert, now: now))
            for line in alert.text.split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append("    | " + MessageText.singleLine(String(line)))
            }
        }
        return lines
    }
}

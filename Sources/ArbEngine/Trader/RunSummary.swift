import OrderStateMachine

/// What one `arb run` did, read back from the database (not from counters that could drift).
public struct RunSummary: Sendable {
    public var byOutcome: [CloseOutcome: Int] = [:]
    public var stillOpen = 0
    public var hedgedContracts = Quantity.zero
    public var oneSidedContracts = Quantity.zero
    public var oneSidedExposure = Money.zero
    public var netEdgeCaptured = Money.zero
    public var fees = Money.zero
    public var alertsRaised = 0
    public var alertDeliveries = 0
    public var alertDeliveriesPending = 0
    public var quotes = 0
    public var quotesSkipped = 0
    public var candidates = 0
    public var recovery: ReconcileReport?
    public var elapsedMilliseconds: Int64 = 0
    public var halted: HaltState?

    /// The opportunities with ids above `sinceID`.
    static func read(_ store: Store, sinceID: OpportunityID) throws -> RunSummary {
        var summary = RunSummary()
        let rows = try store.connection.prepare("""
            SELECT o.state, o.outcome,
                   coalesce(a.filled_quantity, 0), coalesce(a.filled_cost_micros, 0), coalesce(a.fees_micros, 0),
                   coalesce(b.filled_quantity, 0), coalesce(b.filled_cost_micros, 0), coalesce(b.fees_micros, 0)
            FROM opportunities o
            LEFT JOIN legs a ON a.opportunity_id = o.id AND a.leg = 'a'
            LEFT JOIN legs b ON b.opportunity_id = o.id AND b.leg = 'b'
            WHERE o.id > ?
            """
        ).query(sinceID) { row in
            (row.text(0), row.optionalText(1), row.int64(2), row.int64(3), row.int64(4), row.int64(5), row.int64(6), row.int64(7))
        }
        for (state, outcome, filledA, costA, feesA, filledB, costB, feesB) in rows {
            summary.fees += Money(micros: feesA + feesB)
            guard state == "Closed", let outcome, let closeOutcome = CloseOutcome(rawValue: outcome) else {
                summary.stillOpen += 1
                continue
            }
            summary.byOutcome[closeOutcome, default: 0] += 1
            switch closeOutcome {
            case .hedged:
                summary.hedgedContracts += Quantity(hundredths: filledA) ?? .zero
                // Each hedged pair pays $1 whichever outcome wins.
                summary.netEdgeCaptured += Money(micros: filledA * 10_000 - costA - costB - feesA - feesB)
            case .oneSided:
                let (leader, lagger, cost, fees) = filledA > filledB ? (filledA, filledB, costA, feesA) : (filledB, filledA, costB, feesB)
                let exposed = Quantity(hundredths: leader - lagger) ?? .zero
                summary.oneSidedContracts += exposed
                summary.oneSidedExposure += Exposure.share(
                    of: Money(micros: cost + fees), part: exposed, whole: Quantity(hundredths: leader) ?? .zero)
            default:
                break
            }
        }
        summary.alertsRaised = try store.connection.prepare(
            "SELECT count(*) FROM alerts WHERE opportunity_id > ?").queryOne(sinceID) { $0.int(0) } ?? 0
        let deliveries = try store.connection.prepare("""
            SELECT count(d.delivered_at_ms), count(*) - count(d.delivered_at_ms)
            FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id WHERE a.opportunity_id > ?
            """
        ).queryOne(sinceID) { ($0.int(0), $0.int(1)) }
        summary.alertDeliveries = deliveries?.0 ?? 0
        summary.alertDeliveriesPending = deliveries?.1 ?? 0
        return summary
    }

    /// The lines `arb run` prints at the end.
    public var lines: [String] {
        let total = byOutcome.values.reduce(0, +) + stillOpen
        let outcomes = CloseOutcome.allCases.map { "\($0.rawValue) \(byOutcome[$0, default: 0])" }.joined(separator: ", ")
        var lines = [
            "arb run summary (\(Double(elapsedMilliseconds) / 1000) s)",
            "  quotes:               \(quotes) (\(quotesSkipped) skipped), candidates \(candidates)",
            "  opportunities:        \(total): \(outcomes), still open \(stillOpen)",
            "  hedged contracts:     \(hedgedContracts)",
            "  one-sided exposure:   \(oneSidedContracts) contracts, \(oneSidedExposure) at risk",
            "  net edge captured:    \(netEdgeCaptured) (hedged pairs, after fees)",
            "  fees:                 \(fees)",
            "  alerts:               \(alertsRaised) raised, \(alertDeliveries) deliveries made, \(alertDeliveriesPending) pending",
        ]
        if let recovery {
            lines.append("  recovery at start:    \(recovery.examined) examined, \(recovery.actions.count) actions, \(recovery.needsAttention.count) need attention")
        }
        if let halted, halted.halted { lines.append("  HALTED: \(halted.reason ?? "") (`arbadmin resume` clears it)") }
        return lines
    }
}

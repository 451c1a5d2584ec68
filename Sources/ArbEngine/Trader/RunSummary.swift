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
    /// Contracts unwind orders took back, and one-sided closes that unwound part of theirs.
    public var unwoundContracts = Quantity.zero
    /// One-sided closes whose unwind placed orders and gave up (some after taking part back).
    public var unwindsGivenUp = 0
    /// What the unwinds realised, summed (negative: they gained).
    public var unwindLoss = Money.zero
    public var alertsRaised = 0
    public var alertDeliveries = 0
    public var alertDeliveriesPending = 0
    public var quotes = 0
    public var quotesSkipped = 0
    public var candidates = 0
    /// The real venues' book feeds as the run ended.
    public var bookFeeds: [BookFeedStatus] = []
    public var recovery: ReconcileReport?
    public var elapsedMilliseconds: Int64 = 0
    public var halted: HaltState?

    /// The opportunities with ids above `sinceID`.
    static func read(_ store: Store, sinceID: OpportunityID) throws -> RunSummary {
        var summary = RunSummary()
        let rows = try store.readSnapshot {
            (try store.opportunitySummaries(OpportunityQuery(afterID: sinceID)), try store.alertCounts(afterOpportunity: sinceID))
        }
        for row in rows.0 {
            let a = row.legA ?? .none
            let b = row.legB ?? .none
            summary.fees += a.fees + b.fees
            guard let outcome = row.opportunity.state.outcome else {
                summary.stillOpen += 1
                continue
            }
            summary.byOutcome[outcome, default: 0] += 1
            summary.unwoundContracts += row.unwound
            if [.oneSided, .completed, .flattened].contains(outcome) {
                let orders = try store.unwindOrders(of: row.opportunity.id)
                if outcome == .oneSided && !orders.isEmpty { summary.unwindsGivenUp += 1 }
                summary.unwindLoss += Executor.realisedLoss(legA: a, legB: b, orders: orders).loss
            }
            switch outcome {
            case .hedged:
                summary.hedgedContracts += a.filled
                // Each hedged pair pays $1 whichever outcome wins.
                summary.netEdgeCaptured += Money(micros: a.filled.hundredths * 10_000) - a.cost - b.cost - a.fees - b.fees
            case .oneSided:
                let exposure = Exposure(row)
                summary.oneSidedContracts += exposure.exposed
                summary.oneSidedExposure += exposure.atRisk
            default:
                break
            }
        }
        (summary.alertsRaised, summary.alertDeliveries, summary.alertDeliveriesPending) = rows.1
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
            "  unwinds:              \(byOutcome[.completed, default: 0]) completed, \(byOutcome[.flattened, default: 0]) flattened, "
                + "\(unwindsGivenUp) gave up; \(unwoundContracts) contracts taken back, realised loss \(unwindLoss)",
            "  alerts:               \(alertsRaised) raised, \(alertDeliveries) deliveries made, \(alertDeliveriesPending) pending",
        ]
        for feed in bookFeeds {
            let trusted = feed.markets.filter(\.trusted).count
            let label = "  book feed \(feed.venue):"
            // Padded to the column, never cut (`padding(toLength:)` would cut a long venue name).
            lines.append(label + String(repeating: " ", count: max(1, 24 - label.count))
                + "\(feed.counts.messages) messages, \(trusted)/\(feed.markets.count) books trusted at the end, "
                + "\(feed.counts.gaps) gaps, \(feed.counts.resyncs) resyncs, \(feed.counts.unreadable) unreadable")
        }
        if let recovery {
            lines.append("  recovery at start:    \(recovery.examined) examined, \(recovery.actions.count) actions, \(recovery.needsAttention.count) need attention")
        }
        if let halted, halted.halted { lines.append("  HALTED: \(halted.reason ?? "") (`arbadmin resume` clears it)") }
        return lines
    }
}

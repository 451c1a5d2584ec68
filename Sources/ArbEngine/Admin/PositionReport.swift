import OrderStateMachine

/// `arbadmin positions`: what the recorded fills hold, per venue and instrument and per event,
/// and what that is worth at settlement. Every contract pays $1 if its outcome wins and $0 if
/// not, so an event's holdings settle to one of two known payouts.
public struct PositionReport: Sendable, Hashable {
    /// One instrument at one venue: contracts of one outcome of one event.
    public struct Instrument: Sendable, Hashable {
        public var venue: String
        public var instrument: String
        public var eventID: String
        public var outcome: String
        /// Bought minus sold, in hundredths (signed).
        public var netHundredths: Int64
        /// Contracts matched by the other leg of their opportunity.
        public var hedged: Quantity
        /// Contracts their opportunity's other leg did not match.
        public var exposed: Quantity
        /// Paid for buys minus received for sells, before fees.
        public var cost: Money
        public var fees: Money

        public var costBasis: Money { cost + fees }
        /// If this outcome wins: every net contract pays $1.
        public var bestCasePayout: Money { Money(micros: netHundredths * Self.microsPerHundredth) }
        /// If this outcome loses, the payout is $0 and the cost basis is lost.
        public var worstCaseLoss: Money { costBasis }

        static let microsPerHundredth: Int64 = Money.microsPerDollar / Quantity.hundredthsPerContract
    }

    /// All of one event's holdings, across venues: exactly one outcome wins.
    public struct Event: Sendable, Hashable {
        public var eventID: String
        /// Net contracts (hundredths, signed) by outcome.
        public var holdings: [String: Int64]
        public var cost: Money
        public var fees: Money
        /// Exposed contracts of opportunities the operator marked flattened: offset by hand outside
        /// arb, so the figures here (from arb's own fills) still count them.
        public var flattenedByHand: Quantity

        public var costBasis: Money { cost + fees }
        /// Pairs of opposite outcomes: each pays $1 whatever happens.
        public var hedged: Quantity { Quantity(hundredths: max(0, sortedPayouts.first ?? 0)) ?? .zero }
        public var exposed: Quantity {
            Quantity(hundredths: (sortedPayouts.last ?? 0) - (sortedPayouts.first ?? 0)) ?? .zero
        }
        /// The outcome held most, when holdings are unequal.
        public var exposedOutcome: String? {
            guard exposed > .zero else { return nil }
            return holdings.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        }
        /// Payout if the outcome the position needs least wins, minus the cost basis.
        public var worstCasePnL: Money { payout(sortedPayouts.first ?? 0) - costBasis }
        public var bestCasePnL: Money { bestCasePayout - costBasis }
        public var worstCaseLoss: Money { worstCasePnL.micros < 0 ? -worstCasePnL : .zero }
        public var bestCasePayout: Money { payout(sortedPayouts.last ?? 0) }

        /// Net hundredths by outcome, smallest first; a binary event's unseen outcome holds 0.
        var sortedPayouts: [Int64] {
            let seen = holdings.values.sorted()
            return seen.count < 2 ? ([0] + seen).sorted() : seen
        }

        func payout(_ hundredths: Int64) -> Money { Money(micros: hundredths * Instrument.microsPerHundredth) }
    }

    public var instruments: [Instrument]
    public var events: [Event]

    public var totalCostBasis: Money { events.reduce(.zero) { $0 + $1.costBasis } }
    /// Events settle independently: the worst case of all is the sum of each one's worst case.
    public var totalWorstCasePnL: Money { events.reduce(.zero) { $0 + $1.worstCasePnL } }
    public var totalBestCasePayout: Money { events.reduce(.zero) { $0 + $1.bestCasePayout } }

    public static func read(_ store: Store) throws -> PositionReport {
        PositionReport(fills: try store.positionFills())
    }

    /// Pure: the report of these fills.
    public init(fills: [PositionFill]) {
        // Each opportunity's legs first: hedged is what the other leg matched.
        struct LegKey: Hashable { var opportunity: OpportunityID; var leg: LegName }
        var legTotals: [LegKey: Int64] = [:]
        for fill in fills {
            legTotals[LegKey(opportunity: fill.opportunityID, leg: fill.leg), default: 0] +=
                fill.side == .buy ? fill.quantity.hundredths : -fill.quantity.hundredths
        }
        func matched(_ opportunity: OpportunityID) -> Int64 {
            max(0, min(legTotals[LegKey(opportunity: opportunity, leg: .a)] ?? 0,
                       legTotals[LegKey(opportunity: opportunity, leg: .b)] ?? 0))
        }

        // An instrument belongs to one outcome of one event; keyed by all four all the same, so
        // a venue reusing an id across events cannot merge two positions.
        struct InstrumentKey: Hashable { var venue: String; var instrument: String; var event: String; var outcome: String }
        var instruments: [InstrumentKey: Instrument] = [:]
        var events: [String: Event] = [:]
        for fill in fills {
            let signed = fill.side == .buy ? fill.quantity.hundredths : -fill.quantity.hundredths
            let notional = Money(price: fill.price, quantity: fill.quantity)
            let cost = fill.side == .buy ? notional : -notional
            let key = InstrumentKey(venue: fill.venue, instrument: fill.instrument, event: fill.eventID, outcome: fill.outcome)
            var instrument = instruments[key] ?? Instrument(
                venue: fill.venue, instrument: fill.instrument, eventID: fill.eventID, outcome: fill.outcome,
                netHundredths: 0, hedged: .zero, exposed: .zero, cost: .zero, fees: .zero)
            instrument.netHundredths += signed
            instrument.cost += cost
            instrument.fees += fill.fee
            instruments[key] = instrument

            var event = events[fill.eventID] ?? Event(eventID: fill.eventID, holdings: [:], cost: .zero, fees: .zero,
                                                      flattenedByHand: .zero)
            event.holdings[fill.outcome, default: 0] += signed
            event.cost += cost
            event.fees += fill.fee
            events[fill.eventID] = event
        }
        // Hedged and exposed per instrument, from each (opportunity, leg) once.
        var seen: Set<LegKey> = []
        var flattenedOpportunities: Set<OpportunityID> = []
        for fill in fills where seen.insert(LegKey(opportunity: fill.opportunityID, leg: fill.leg)).inserted {
            let filled = max(0, legTotals[LegKey(opportunity: fill.opportunityID, leg: fill.leg)] ?? 0)
            let hedged = min(filled, matched(fill.opportunityID))
            let key = InstrumentKey(venue: fill.venue, instrument: fill.instrument, event: fill.eventID, outcome: fill.outcome)
            instruments[key]?.hedged += Quantity(hundredths: hedged) ?? .zero
            instruments[key]?.exposed += Quantity(hundredths: filled - hedged) ?? .zero
            if fill.flattened, flattenedOpportunities.insert(fill.opportunityID).inserted {
                let a = legTotals[LegKey(opportunity: fill.opportunityID, leg: .a)] ?? 0
                let b = legTotals[LegKey(opportunity: fill.opportunityID, leg: .b)] ?? 0
                events[fill.eventID]?.flattenedByHand += Quantity(hundredths: abs(a - b)) ?? .zero
            }
        }
        self.instruments = instruments.values.sorted { ($0.eventID, $0.venue, $0.instrument) < ($1.eventID, $1.venue, $1.instrument) }
        self.events = events.values.sorted { $0.eventID < $1.eventID }
    }

    // MARK: - Output

    public func table() -> [String] {
        guard !instruments.isEmpty else { return ["no fills recorded: no positions"] }
        var lines = ["by venue and instrument"]
        lines += AdminText.table(
            ["VENUE", "INSTRUMENT", "EVENT", "OUTCOME", "NET", "HEDGED", "EXPOSED", "COST BASIS", "WORST CASE", "BEST PAYOUT"],
            instruments.map { position in
                [position.venue, position.instrument, position.eventID, position.outcome,
                 AdminText.contracts(position.netHundredths), position.hedged.description, position.exposed.description,
                 position.costBasis.description, AdminText.signedMoney(-position.worstCaseLoss),
                 position.bestCasePayout.description]
            },
            alignments: [.left, .left, .left, .left, .right, .right, .right, .right, .right, .right]
        ).map { "  " + $0 }
        lines.append("")
        lines.append("by event (at settlement exactly one outcome wins)")
        lines += AdminText.table(
            ["EVENT", "HOLDINGS", "HEDGED", "EXPOSED", "COST BASIS", "WORST P&L", "BEST P&L", "BEST PAYOUT"],
            events.map { event in
                [event.eventID,
                 event.holdings.sorted { $0.key < $1.key }.map { "\($0.key) \(AdminText.contracts($0.value))" }.joined(separator: ", "),
                 event.hedged.description,
                 event.exposed.description + (event.exposedOutcome.map { " \($0)" } ?? ""),
                 event.costBasis.description, AdminText.signedMoney(event.worstCasePnL),
                 AdminText.signedMoney(event.bestCasePnL), event.bestCasePayout.description]
            },
            alignments: [.left, .left, .right, .right, .right, .right, .right, .right]
        ).map { "  " + $0 }
        lines.append("")
        lines.append("total: cost basis \(totalCostBasis), worst case \(AdminText.signedMoney(totalWorstCasePnL)), best-case payout \(totalBestCasePayout)")
        for event in events where event.flattenedByHand > .zero {
            lines.append("note: \(event.eventID): \(event.flattenedByHand) contracts were marked flattened by hand; the trades that flattened them are not in arb's fills or these figures")
        }
        return lines
    }

    public func json() -> String {
        AdminText.json([
            "instruments": instruments.map { position in
                [
                    "venue": position.venue, "instrument": position.instrument, "event_id": position.eventID,
                    "outcome": position.outcome, "net_quantity": AdminText.contracts(position.netHundredths),
                    "hedged_quantity": position.hedged.description, "exposed_quantity": position.exposed.description,
                    "cost_usd": position.cost.decimalString, "fees_usd": position.fees.decimalString,
                    "cost_basis_usd": position.costBasis.decimalString,
                    "worst_case_loss_usd": position.worstCaseLoss.decimalString,
                    "best_case_payout_usd": position.bestCasePayout.decimalString,
                ] as [String: Any]
            },
            "events": events.map { event in
                [
                    "event_id": event.eventID,
                    "holdings": event.holdings.mapValues { AdminText.contracts($0) },
                    "hedged_quantity": event.hedged.description, "exposed_quantity": event.exposed.description,
                    "exposed_outcome": AdminJSON.nullable(event.exposedOutcome),
                    "cost_usd": event.cost.decimalString, "fees_usd": event.fees.decimalString,
                    "cost_basis_usd": event.costBasis.decimalString,
                    "worst_case_pnl_usd": event.worstCasePnL.decimalString,
                    "worst_case_loss_usd": event.worstCaseLoss.decimalString,
                    "best_case_pnl_usd": event.bestCasePnL.decimalString,
                    "best_case_payout_usd": event.bestCasePayout.decimalString,
                    "flattened_by_hand_quantity": event.flattenedByHand.description,
                ] as [String: Any]
            },
            "totals": [
                "cost_basis_usd": totalCostBasis.decimalString,
                "worst_case_pnl_usd": totalWorstCasePnL.decimalString,
                "best_case_payout_usd": totalBestCasePayout.decimalString,
            ],
        ])
    }
}

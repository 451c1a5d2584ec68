import Logging
import OrderStateMachine

/// What reconcile did (or, in a dry run, would do) and what it could not finish.
public struct ReconcileReport: Sendable {
    public struct Action: Sendable, Hashable {
        public var opportunityID: OpportunityID
        public var description: String
    }

    public struct Finding: Sendable, Hashable {
        public var opportunityID: OpportunityID
        public var state: OpportunityState
        public var reason: String
    }

    public var examined = 0
    public var actions: [Action] = []
    public var closedByOutcome: [CloseOutcome: Int] = [:]
    /// Left non-terminal: needs a person (or a venue that comes back).
    public var needsAttention: [Finding] = []

    public var isClean: Bool { needsAttention.isEmpty }
}

/// Recovery on `arb run` start and `arbadmin reconcile` — the same code (DESIGN §6). For each
/// non-terminal opportunity, oldest first, ask the venues for the truth by client order id,
/// record what the database lacks, send the cancels still owed, and move it to the state the
/// truth implies. A venue that cannot be reached leaves the opportunity where it is.
public struct Reconciler: Sendable {
    let ledger: Ledger
    let venues: [String: any Venue]
    let clock: any TradingClock
    let logger: Logger

    public init(ledger: Ledger, venues: [String: any Venue], clock: any TradingClock, logger: Logger) {
        self.ledger = ledger
        self.venues = venues
        self.clock = clock
        self.logger = logger
    }

    public func run(dryRun: Bool = false) async throws -> ReconcileReport {
        var report = ReconcileReport()
        let open = try await ledger.withStore { try $0.nonTerminalOpportunities() }
        for opportunity in open {
            report.examined += 1
            do {
                try await reconcile(opportunity, dryRun: dryRun, report: &report)
            } catch let error as VenueError {
                report.needsAttention.append(.init(opportunityID: opportunity.id, state: opportunity.state,
                                                   reason: "venue: \(error)"))
            }
        }
        return report
    }

    private func reconcile(_ opportunity: Opportunity, dryRun: Bool, report: inout ReconcileReport) async throws {
        let id = opportunity.id
        let now = clock.nowMilliseconds()
        func act(_ text: String) {
            report.actions.append(.init(opportunityID: id, description: text))
            logger.info("reconcile \(id): \(text)")
        }
        func needs(_ reason: String) {
            report.needsAttention.append(.init(opportunityID: id, state: opportunity.state, reason: reason))
            logger.warning("reconcile \(id): needs attention: \(reason)")
        }

        if opportunity.state == .detected {
            // Nothing is ever sent before InFlight commits.
            act("Detected → Closed(abandoned): nothing was sent")
            if !dryRun {
                let result = try await ledger.advance(id, from: .detected,
                                                      steps: [TransitionStep(.abandoned, reason: "recovery: never sent")], at: now)
                guard result.isApplied else { return needs("state changed under reconcile: \(result)") }
            }
            report.closedByOutcome[.abandoned, default: 0] += 1
            return
        }

        var legs = try await ledger.withStore { try $0.legs(of: id) }
        guard legs.count == 2 else { return needs("expected 2 legs, found \(legs.count)") }
        var fills: [FillReport] = []
        for index in legs.indices {
            guard let venue = venues[legs[index].venue] else { return needs("venue \(legs[index].venue) is not configured") }
            let leg = legs[index]
            var order = try await venue.order(clientOrderID: leg.clientOrderID)
            guard var current = order else {
                if [.pending, .unknown, .notFound].contains(leg.status) {
                    let age = now - leg.updatedAtMilliseconds
                    if age < venue.settleWindowMilliseconds {
                        return needs("leg \(leg.leg.rawValue) not at \(venue.name) yet; its settle window has \(venue.settleWindowMilliseconds - age) ms left")
                    }
                    if leg.status != .notFound { act("leg \(leg.leg.rawValue): \(leg.clientOrderID) never reached \(venue.name)") }
                    legs[index].status = .notFound
                    continue
                }
                if leg.status == .rejected { continue }
                return needs("leg \(leg.leg.rawValue): \(venue.name) does not know \(leg.clientOrderID), yet it was \(leg.status.rawValue)")
            }
            // Cancels still owed: anything live (idempotent at the venue).
            if !current.status.isFinal {
                act("leg \(leg.leg.rawValue): cancel \(leg.clientOrderID) at \(venue.name) (\(current.status.rawValue), filled \(current.filledQuantity))")
                if dryRun {
                    legs[index].status = .cancelled
                } else {
                    legs[index].cancelRequested = true
                    switch try await cancel(leg.clientOrderID, at: venue) {
                    case .cancelled(let final):
                        legs[index].cancelResult = .cancelled
                        current = final
                    case .alreadyDone(let final):
                        legs[index].cancelResult = .alreadyDone
                        current = final
                    case .failed(let reason):
                        // The order may still fill. What it has filled so far is recorded now, with
                        // the exposure alert if the legs differ, so the database and the operator
                        // know the exposure while a person decides.
                        legs[index].cancelResult = .failed
                        legs[index].status = current.status.legStatus
                        legs[index].venueOrderID = current.venueOrderID
                        fills += try await missingFills(of: &legs[index], opportunity: id, venue: venue, act: act)
                        let exposed = legs[0].filledQuantity != legs[1].filledQuantity
                        let alerts = exposed ? [OneSidedAlert.make(
                            databaseID: ledger.databaseID, opportunity: id, eventID: opportunity.eventID, edgeBps: opportunity.edgeBps,
                            legA: Self.alertLeg(legs[0], opportunity), legB: Self.alertLeg(legs[1], opportunity), phase: .detected)] : []
                        try await ledger.record(TransitionChanges(legUpdates: legs.map(Self.update), fills: fills, alerts: alerts),
                                                opportunity: id, at: now)
                        return needs("leg \(leg.leg.rawValue): \(venue.name) refused the cancel \(Self.cancelAttemptsMax) times (\(reason)); the order may still fill")
                    }
                }
                order = current
            }
            if !dryRun || current.status.isFinal { legs[index].status = current.status.legStatus }
            legs[index].venueOrderID = current.venueOrderID
            // Fills: the venue's are the truth; record what the database lacks (idempotent by trade id).
            fills += try await missingFills(of: &legs[index], opportunity: id, venue: venue, act: act)
            if legs[index].filledQuantity != current.filledQuantity {
                return needs("leg \(leg.leg.rawValue): \(venue.name) says filled \(current.filledQuantity) but its fills add up to \(legs[index].filledQuantity)")
            }
        }

        let facts = ClosingPath.Facts(filledA: legs[0].filledQuantity, filledB: legs[1].filledQuantity,
                                      bothRejected: legs.allSatisfy { $0.status == .rejected })
        guard let events = ClosingPath.events(from: opportunity.state, facts) else {
            try await record(id, legs: legs, fills: fills, at: now, dryRun: dryRun)
            return needs("no legal close from \(opportunity.state) with fills a \(facts.filledA), b \(facts.filledB)")
        }
        let reason = "recovery: venue truth a \(legs[0].filledQuantity) (\(legs[0].status.rawValue)), b \(legs[1].filledQuantity) (\(legs[1].status.rawValue))"
        var alerts: [NewAlert] = []
        let alertLegs = legs.map { Self.alertLeg($0, opportunity) }
        for (event, phase) in [(OpportunityEvent.imbalanced, OneSidedAlert.Phase.detected), (.closedExposed, .closed)]
        where events.contains(event) {
            alerts.append(OneSidedAlert.make(databaseID: ledger.databaseID, opportunity: id, eventID: opportunity.eventID,
                                             edgeBps: opportunity.edgeBps, legA: alertLegs[0], legB: alertLegs[1], phase: phase))
        }
        let target = events.reduce(opportunity.state) { state, event in
            (try? OpportunityMachine.transition(from: state, on: event).get()) ?? state
        }
        act("\(opportunity.state) → \(target): \(reason)")
        if dryRun {
            if let outcome = target.outcome { report.closedByOutcome[outcome, default: 0] += 1 }
            return
        }
        let changes = TransitionChanges(legUpdates: legs.map(Self.update), fills: fills, alerts: alerts)
        let result = try await ledger.advance(id, from: opportunity.state, steps: events.map { TransitionStep($0, reason: reason) },
                                              at: now, changes: changes)
        guard result.isApplied else { return needs("state changed under reconcile: \(result)") }
        if let outcome = target.outcome { report.closedByOutcome[outcome, default: 0] += 1 }
    }

    /// How many times a cancel the venue refuses is sent before the opportunity is left for a
    /// person (a venue may refuse one attempt and accept the next), and the pause between tries.
    static let cancelAttemptsMax = 5
    static let cancelRetryMilliseconds: Int64 = 20

    /// Cancels (idempotent at the venue), retrying a refusal up to `cancelAttemptsMax` times.
    private func cancel(_ clientOrderID: String, at venue: any Venue) async throws -> CancelAnswer {
        var answer = try await venue.cancel(clientOrderID: clientOrderID)
        var attempt = 1
        while case .failed = answer, attempt < Self.cancelAttemptsMax {
            attempt += 1
            try await clock.sleep(milliseconds: Self.cancelRetryMilliseconds)
            answer = try await venue.cancel(clientOrderID: clientOrderID)
        }
        return answer
    }

    /// The venue's fills of `leg` that the database lacks, added to the leg's totals.
    private func missingFills(of leg: inout Leg, opportunity id: OpportunityID, venue: any Venue,
                              act: (String) -> Void) async throws -> [FillReport] {
        let recorded = try await ledger.withStore { try Set($0.fills(of: id).map { "\($0.venue)|\($0.tradeID)" }) }
        var missing: [FillReport] = []
        for fill in try await venue.fills(clientOrderID: leg.clientOrderID) where !recorded.contains("\(fill.venue)|\(fill.tradeID)") {
            act("leg \(leg.leg.rawValue): record fill \(fill.tradeID) \(fill.quantity) @ \(fill.price)")
            missing.append(fill)
            leg.filledQuantity += fill.quantity
            leg.filledCost += Money(price: fill.price, quantity: fill.quantity)
            leg.fees += fill.fee
        }
        return missing
    }

    static func alertLeg(_ leg: Leg, _ opportunity: Opportunity) -> AlertLeg {
        AlertLeg(venue: leg.venue, instrument: leg.instrument,
                 outcome: leg.leg == .a ? opportunity.legA.outcome : opportunity.legB.outcome, side: leg.side,
                 limitPrice: leg.limitPrice, filled: leg.filledQuantity, cost: leg.filledCost, fees: leg.fees,
                 cancelAttempted: leg.cancelRequested,
                 cancelSucceeded: leg.cancelResult.map { $0 == .cancelled || $0 == .alreadyDone })
    }

    private func record(_ id: OpportunityID, legs: [Leg], fills: [FillReport], at now: Int64, dryRun: Bool = false) async throws {
        guard !dryRun else { return }
        try await ledger.record(TransitionChanges(legUpdates: legs.map(Self.update), fills: fills), opportunity: id, at: now)
    }

    static func update(_ leg: Leg) -> LegUpdate {
        LegUpdate(clientOrderID: leg.clientOrderID, status: leg.status, statusReason: leg.statusReason,
                  venueOrderID: leg.venueOrderID, cancelRequested: leg.cancelRequested, cancelResult: leg.cancelResult)
    }
}

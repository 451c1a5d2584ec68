import Logging
import OrderStateMachine

/// What the executor needs to unwind a one-sided exposure (issue 14). Without it, or with the
/// policy `off`, a one-sided execution closes `one_sided` and the exposure waits for a person.
public struct UnwindContext: Sendable {
    public var config: UnwindConfig
    /// The latest quotes the trader saw (bids and asks), trusted only while fresh.
    public var marks: MarkBook
    /// The instrument of the event's other outcome at `venue` (to complete on the held venue).
    public var oppositeInstrument: @Sendable (_ eventID: String, _ venue: String, _ instrument: String) -> String?
    /// The fee model of `venue` for `eventID`'s market.
    public var fee: @Sendable (_ eventID: String, _ venue: String) -> FeeModel
    /// An instrument's price grid, in ticks.
    public var gridTicks: @Sendable (_ venue: String, _ instrument: String) -> Int64
    /// The policy's decision: `UnwindPolicy.decide`. Only a test swaps it, for a deliberately
    /// broken one the auditor must catch.
    public var decide: Decide

    public typealias Decide = @Sendable (_ policy: UnwindConfig.Policy, _ exposure: UnwindPolicy.Exposure,
                                         _ candidates: [UnwindPolicy.Candidate], _ attempt: Int, _ attempts: Int) -> UnwindPolicy.Decision

    public init(config: UnwindConfig, marks: MarkBook,
                oppositeInstrument: @escaping @Sendable (_ eventID: String, _ venue: String, _ instrument: String) -> String?,
                fee: @escaping @Sendable (_ eventID: String, _ venue: String) -> FeeModel,
                gridTicks: @escaping @Sendable (_ venue: String, _ instrument: String) -> Int64,
                decide: @escaping Decide = UnwindPolicy.decide) {
        self.config = config
        self.marks = marks
        self.oppositeInstrument = oppositeInstrument
        self.fee = fee
        self.gridTicks = gridTicks
        self.decide = decide
    }
}

extension Executor {
    /// One placed unwind order and what it did.
    struct UnwindAttempt {
        var intent: UnwindOrderIntent
        var filled: Quantity = .zero
        var cost: Money = .zero
        var fees: Money = .zero
        /// Trade ids of its fills the venue may still undo (Polymarket's MATCHED).
        var provisional: Set<String> = []

        mutating func add(_ fill: FillReport) {
            filled += fill.quantity
            cost += Money(price: fill.price, quantity: fill.quantity)
            fees += fill.fee
        }

        mutating func remove(_ fill: FillReport) {
            filled -= fill.quantity
            cost -= Money(price: fill.price, quantity: fill.quantity)
            fees -= fill.fee
        }
    }

    /// Whether a close by `events` unwinds instead: certain, unequal fills with the cancels done,
    /// and a policy other than `off`.
    func unwinds(_ events: [OpportunityEvent]) -> Bool {
        guard let unwind, unwind.config.policy != .off else { return false }
        return events.last == .closedExposed
    }

    /// Unwinds the exposure within the bound (`UnwindPolicy`), one IOC order per attempt, each
    /// persisted before it is sent (the first with the move to `Unwinding`); then
    /// `Closed(completed | flattened)` when nothing is left, else `Closed(one_sided)` with an alert
    /// saying what was tried and what is left. An order whose answer is lost and cannot be found
    /// stops the unwind in `Unwinding` for recovery.
    func unwind(_ run: inout OpportunityRun, events: [OpportunityEvent], facts: ClosingPath.Facts) async throws -> Finished {
        guard let context = unwind else { throw ExecutorError.notClosed(run.state) }
        let prefix = Array(events.dropLast())
        if !prefix.isEmpty {
            let alerts = AlertRule.phases(for: prefix).map { oneSidedAlert(run, phase: $0) }
            try await persist(&run, steps: prefix.map { TransitionStep($0, reason: closeReason(run, facts)) },
                              now: clock.nowMilliseconds(), alerts: alerts)
        }
        let held: LegName = run.a.filled > run.b.filled ? .a : .b
        let other = held.other
        let exposed = run[held].filled - run[other].filled
        // The exposed contracts' share of what the held leg cost, its fees included.
        let heldCost = (run[held].cost + run[held].fees).share(exposed, of: run[held].filled)
        let bound = Money(micros: context.config.maxLossPerContract.micros * exposed.hundredths / 100)
        let eventID = run.opportunity.eventID
        let heldVenue = run[held].venue.name
        let heldInstrument = run[held].order.request.instrument
        var attempts: [UnwindAttempt] = []
        var notes: [String] = []
        for attempt in 1...context.config.maxAttempts {
            let done = attempts.reduce(Quantity.zero) { $0 + $1.filled }
            guard done < exposed else { break }
            if attempt > 1 { try await clock.sleep(milliseconds: context.config.retryMilliseconds) }
            let remaining = exposed - done
            let realised = attempts.reduce(Money.zero) { $0 + Self.realisedLoss($1, heldCost: heldCost, exposed: exposed) }
            let exposure = UnwindPolicy.Exposure(remaining: remaining, heldCost: heldCost.share(remaining, of: exposed),
                                                 lossBudget: bound - realised)
            let now = clock.nowMilliseconds()
            var candidates = [
                UnwindPolicy.Candidate(action: .complete, venue: run[other].venue.name, instrument: run[other].order.request.instrument,
                                       price: context.marks.trustedAsk(venue: run[other].venue.name,
                                                                       instrument: run[other].order.request.instrument, now: now),
                                       fee: context.fee(eventID, run[other].venue.name),
                                       gridTicks: context.gridTicks(run[other].venue.name, run[other].order.request.instrument)),
                UnwindPolicy.Candidate(action: .flatten, venue: heldVenue, instrument: heldInstrument,
                                       price: context.marks.trustedBid(venue: heldVenue, instrument: heldInstrument, now: now)?.bid,
                                       fee: context.fee(eventID, heldVenue), gridTicks: context.gridTicks(heldVenue, heldInstrument)),
            ]
            if let opposite = context.oppositeInstrument(eventID, heldVenue, heldInstrument) {
                candidates.append(UnwindPolicy.Candidate(
                    action: .complete, venue: heldVenue, instrument: opposite,
                    price: context.marks.trustedAsk(venue: heldVenue, instrument: opposite, now: now),
                    fee: context.fee(eventID, heldVenue), gridTicks: context.gridTicks(heldVenue, opposite)))
            }
            switch context.decide(context.config.policy, exposure, candidates, attempt - 1, context.config.maxAttempts) {
            case .done:
                break
            case .noOrder(let why):
                notes.append("attempt \(attempt): no order (\(why))")
            case .place(let order):
                guard let venue = venues[order.venue] else {
                    notes.append("attempt \(attempt): venue \(order.venue) is not configured")
                    continue
                }
                let placed = try await placeUnwind(&run, order: order, attempt: attempt, exposed: exposed, budget: bound, on: venue)
                guard let placed else {
                    return Finished(result: .needsRecovery("unwind order \(attempt): its answer was lost"))
                }
                attempts.append(placed)
                notes.append("attempt \(attempt): \(order.action.rawValue) \(order.side.rawValue) \(order.quantity) \(order.instrument) "
                    + "at \(order.venue) limit \(order.limit) (bound \(order.bound)): filled \(placed.filled)")
            }
        }
        // A close stands on certain fills only: wait until the venues confirm or undo the
        // provisional ones (as a hedged or one-sided close waits); past the settle timeout the
        // opportunity stays Unwinding, and recovery asks again.
        if try await !settleUnwindFills(&attempts, opportunity: run.id) {
            logger.warning("opportunity \(run.id): unwind fills still provisional after \(execution.settleTimeoutMilliseconds) ms; left Unwinding for recovery")
            return Finished(result: .needsRecovery("unwind fills still provisional"))
        }
        return try await closeUnwind(&run, exposed: exposed, heldCost: heldCost, bound: bound, attempts: attempts, notes: notes,
                                     facts: facts)
    }

    /// Polls the unwind orders' provisional fills until each is confirmed or undone (an undone
    /// one comes off its order's sums), recording each answer. False at the settle timeout.
    private func settleUnwindFills(_ attempts: inout [UnwindAttempt], opportunity id: OpportunityID) async throws -> Bool {
        let deadline = clock.nowMilliseconds() + execution.settleTimeoutMilliseconds
        while attempts.contains(where: { !$0.provisional.isEmpty }) {
            guard clock.nowMilliseconds() < deadline, !Task.isCancelled else { return false }
            try? await clock.sleep(milliseconds: execution.settlePollMilliseconds)
            for index in attempts.indices where !attempts[index].provisional.isEmpty {
                let intent = attempts[index].intent
                guard let venue = venues[intent.venue], let fills = try? await venue.fills(clientOrderID: intent.clientOrderID) else { continue }
                let settled = fills.filter { attempts[index].provisional.contains($0.tradeID) && $0.certainty != .provisional }
                for fill in settled {
                    attempts[index].provisional.remove(fill.tradeID)
                    if fill.certainty == .failed { attempts[index].remove(fill) }
                }
                if !settled.isEmpty {
                    try await ledger.record(TransitionChanges(fills: settled), opportunity: id, at: clock.nowMilliseconds())
                }
            }
        }
        return true
    }

    /// Persists the order (entering `Unwinding` with the first), sends it, records its answer and
    /// fills. Nil when the answer was lost and the venue does not know the order yet: recovery
    /// resolves it.
    private func placeUnwind(_ run: inout OpportunityRun, order: UnwindPolicy.Order, attempt: Int, exposed: Quantity, budget: Money,
                             on venue: any Venue) async throws -> UnwindAttempt? {
        let clientOrderID = ledger.clientOrderID(opportunity: run.id, unwindAttempt: attempt)
        var intent = UnwindOrderIntent(attempt: attempt, action: order.action, venue: order.venue, instrument: order.instrument,
                                       limitPrice: order.limit, boundPrice: order.bound, quantity: order.quantity, exposure: exposed,
                                       lossBudget: budget, clientOrderID: clientOrderID)
        let prepared = venue.prepare(intent.request)
        intent.venueOrderID = prepared.venueOrderID
        let now = clock.nowMilliseconds()
        if run.state == .cancelAttempted {
            let reason = "unwind: \(order.action.rawValue) \(order.quantity) within \(unwind?.config.maxLossPerContract ?? .zero) a contract"
            let changes = TransitionChanges(legUpdates: [run.a.update, run.b.update], unwindOrders: [intent],
                                            fills: run.a.unpersisted + run.b.unpersisted)
            let result = try await ledger.advance(run.id, from: .cancelAttempted, steps: [TransitionStep(.unwindStarted, reason: reason)],
                                                  at: now, changes: changes)
            guard case .applied(let state) = result else { throw ExecutorError.refused(result) }
            run.state = state
            run.a.unpersisted.removeAll()
            run.b.unpersisted.removeAll()
            // Counted as it starts, so an unwind that recovery finishes counts too.
            await blockMarketIfUnwoundTooOften(run.opportunity.eventID, now: now)
        } else {
            try await ledger.record(TransitionChanges(unwindOrders: [intent]), opportunity: run.id, at: now)
        }
        try faults.hit(.afterUnwindCommit)
        // Its events would otherwise reach the orphan recorder mid-attempt; the fills are read here.
        _ = router.register([clientOrderID])
        defer { router.unregister([clientOrderID]) }
        let faults = self.faults
        return try await Self.sendUnwind(prepared, intent: intent, on: venue, ledger: ledger, opportunity: run.id, clock: clock,
                                         logger: logger, afterSubmit: { try faults.hit(.afterUnwindSubmit) })
    }

    /// Sends an unwind order already persisted, and records its answer and fills. A lost answer
    /// is looked up, never resent: nil when the venue does not know the order yet (recovery
    /// resolves it). The executor's and `arbadmin unwind`'s one sender.
    static func sendUnwind(_ prepared: PreparedOrder, intent: UnwindOrderIntent, on venue: any Venue, ledger: Ledger,
                           opportunity id: OpportunityID, clock: any TradingClock, logger: Logger,
                           afterSubmit: () throws -> Void = {}) async throws -> UnwindAttempt? {
        let clientOrderID = intent.clientOrderID
        var status: LegStatus
        var reason: String?
        var venueOrderID = prepared.venueOrderID
        var fills: [FillReport] = []
        do {
            let ack = try await venue.submit(prepared)
            status = ack.order.status.legStatus
            venueOrderID = ack.order.venueOrderID
            fills = ack.fills
        } catch VenueError.rejected(let why) {
            status = .rejected
            reason = why
        } catch VenueError.unavailable(let why) {
            status = .notFound
            reason = "not sent: \(why)"
        } catch {
            // Lost answer: ask the venue (never resend blindly).
            guard let found = try? await venue.order(clientOrderID: clientOrderID) else {
                try await ledger.record(TransitionChanges(unwindUpdates: [UnwindOrderUpdate(
                    clientOrderID: clientOrderID, status: .unknown, statusReason: "\(error)")]), opportunity: id, at: clock.nowMilliseconds())
                logger.error("opportunity \(id) unwind order \(intent.attempt): answer lost and not found yet (\(error)); left for recovery")
                return nil
            }
            status = found.status.legStatus
            venueOrderID = found.venueOrderID
        }
        try afterSubmit()
        if status != .rejected && status != .notFound, let read = try? await venue.fills(clientOrderID: clientOrderID) {
            fills += read
        }
        var seen: Set<String> = []
        fills = fills.filter { seen.insert($0.tradeID).inserted }
        var placed = UnwindAttempt(intent: intent)
        for fill in fills where fill.certainty != .failed {
            placed.add(fill)
            if fill.certainty == .provisional { placed.provisional.insert(fill.tradeID) }
        }
        try await ledger.record(TransitionChanges(
            unwindUpdates: [UnwindOrderUpdate(clientOrderID: clientOrderID, status: status, statusReason: reason, venueOrderID: venueOrderID)],
            fills: fills), opportunity: id, at: clock.nowMilliseconds())
        return placed
    }

    private func closeUnwind(_ run: inout OpportunityRun, exposed: Quantity, heldCost: Money, bound: Money,
                             attempts: [UnwindAttempt], notes: [String], facts: ClosingPath.Facts) async throws -> Finished {
        let done = attempts.reduce(Quantity.zero) { $0 + $1.filled }
        let realised = attempts.reduce(Money.zero) { $0 + Self.realisedLoss($1, heldCost: heldCost, exposed: exposed) }
        let left = exposed - done
        let now = clock.nowMilliseconds()
        let summary = "exposed \(exposed), unwound \(done), left \(left), realised loss \(realised) (bound \(bound)); " + notes.joined(separator: "; ")
        guard run.state == .unwinding else {
            // No order was ever within the bound: closed one-sided as without unwinding, saying so.
            let alerts = [oneSidedAlert(run, phase: .closed), unwindAlert(run, outcome: .oneSided, summary: summary)]
            try await persist(&run, steps: [TransitionStep(.closedExposed, reason: closeReason(run, facts) + "; unwind: \(summary)")],
                              now: now, alerts: alerts)
            logger.warning("opportunity \(run.id) closed one_sided: nothing within the unwind bound; \(summary)")
            return Finished(result: .closed(.oneSided), exposure: exposedCost(run))
        }
        let completed = attempts.filter { $0.intent.action == .complete }.reduce(Quantity.zero) { $0 + $1.filled }
        let event: OpportunityEvent = left.isZero ? (completed >= done - completed ? .unwindCompleted : .unwindFlattened) : .unwindGaveUp
        var alerts = [unwindAlert(run, outcome: left.isZero ? (event == .unwindCompleted ? .completed : .flattened) : .oneSided,
                                  summary: summary)]
        if !left.isZero { alerts.insert(oneSidedAlert(run, phase: .closed), at: 0) }
        let result = try await ledger.advance(run.id, from: .unwinding, steps: [TransitionStep(event, reason: "unwind: \(summary)")],
                                              at: now, changes: TransitionChanges(alerts: alerts))
        guard case .applied(let state) = result, let outcome = state.outcome else { throw ExecutorError.refused(result) }
        run.state = state
        logger.notice("opportunity \(run.id) closed \(outcome.rawValue): \(summary)")
        return Finished(result: .closed(outcome), exposure: outcome == .oneSided ? exposedCost(run).share(left, of: exposed) : .zero)
    }

    /// No unwind loop: once `max_unwinds_per_market_per_day` of the event's opportunities have
    /// entered `Unwinding` since UTC midnight (checked as each one enters), the market is blocked
    /// (with an alert) until `arbadmin resume --market`: the executor skips its candidates. A
    /// crash between the two commits leaves the block to the market's next unwind.
    func blockMarketIfUnwoundTooOften(_ eventID: String, now: Int64) async {
        guard let limit = unwind?.config.maxUnwindsPerMarketPerDay else { return }
        let midnight = now - now % 86_400_000
        do {
            let count = try await ledger.withStore { try $0.unwinds(eventID: eventID, since: midnight) }
            guard count >= limit, try await ledger.withStore({ try $0.marketBlock(eventID) }) == nil else { return }
            let reason = "\(count) unwinds today (limit \(limit)); arbadmin resume --market \(eventID) to trade it again"
            let alert = NewAlert(
                key: "market-blocked-\(ledger.databaseID)-\(eventID)-\(midnight / 86_400_000)", kind: "market_blocked", severity: .critical,
                text: "market \(eventID) blocked: \(reason)",
                bodyJSON: JSONValue.object([JSONMember(key: "event_id", value: .string(eventID)),
                                            JSONMember(key: "unwinds_today", value: .number(String(count)))]).compactText)
            try await ledger.withStore { try $0.setMarketBlock(eventID, reason: reason, alert: alert, atMilliseconds: now) }
            logger.critical("market \(eventID) blocked: \(reason)")
        } catch {
            logger.error("cannot count or block \(eventID)'s unwinds: \(error)")
        }
    }

    /// The alert that ends an unwind: its result, loss and what was tried.
    private func unwindAlert(_ run: OpportunityRun, outcome: CloseOutcome, summary: String) -> NewAlert {
        Self.unwindAlert(databaseID: ledger.databaseID, opportunity: run.id, eventID: run.opportunity.eventID, outcome: outcome,
                         summary: summary)
    }

    /// The alert that ends an unwind (the executor's, and recovery's): key `unwind-<db>-<id>`.
    static func unwindAlert(databaseID: String, opportunity id: OpportunityID, eventID: String, outcome: CloseOutcome,
                            summary: String) -> NewAlert {
        let body = JSONValue.object([
            JSONMember(key: "opportunity_id", value: .number(String(id))),
            JSONMember(key: "event_id", value: .string(eventID)),
            JSONMember(key: "outcome", value: .string(outcome.rawValue)),
            JSONMember(key: "summary", value: .string(summary)),
        ]).compactText
        let verb = outcome == .oneSided ? "gave up" : outcome.rawValue
        return NewAlert(key: "unwind-\(databaseID)-\(id)", kind: "unwind_closed", severity: outcome == .oneSided ? .critical : .warning,
                        text: "opportunity \(id) (\(eventID)) unwind \(verb): \(summary)", bodyJSON: body)
    }

    /// What an opportunity's unwind orders realised, from its two legs' fills as stored: each
    /// order's fills against their share of what the exposed contracts cost (the leading leg's
    /// cost and fees, pro rata). The one rule for recovery, the run summary and `show`.
    static func realisedLoss(legA: LegFills, legB: LegFills, orders: [UnwindOrder]) -> (exposed: Quantity, loss: Money) {
        let (held, other) = legA.filled > legB.filled ? (legA, legB) : (legB, legA)
        let exposed = held.filled - other.filled
        let heldCost = (held.cost + held.fees).share(exposed, of: held.filled)
        let loss = orders.reduce(Money.zero) { total, order in
            total + realisedLoss(UnwindAttempt(intent: order.intent, filled: order.filledQuantity, cost: order.filledCost, fees: order.fees),
                                 heldCost: heldCost, exposed: exposed)
        }
        return (exposed, loss)
    }

    /// What an unwind order's fills lost against the held contracts they took back.
    static func realisedLoss(_ attempt: UnwindAttempt, heldCost: Money, exposed: Quantity) -> Money {
        let held = heldCost.share(attempt.filled, of: exposed)
        switch attempt.intent.action {
        case .complete:
            return held + attempt.cost + attempt.fees - Money(micros: attempt.filled.hundredths * 10_000)
        case .flatten:
            return held - (attempt.cost - attempt.fees)
        }
    }
}

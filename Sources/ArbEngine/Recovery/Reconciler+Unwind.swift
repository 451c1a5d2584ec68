import OrderStateMachine

extension Reconciler {
    /// An opportunity left `Unwinding` (a crash, a lost answer): every unwind order is looked up
    /// at its venue (a pending or unknown one only counts as never placed once the settle window
    /// has passed), anything live is cancelled, every fill recorded; then it closes
    /// `completed`/`flattened` if nothing is left exposed, else `one_sided` with the unwind alert
    /// saying what was done and what is left. Recovery never places a new unwind order (it has no
    /// fresh books at start); `arbadmin halt` leaves a partly unwound exposure for a person.
    ///
    /// `label` starts the closing summary: `recovery`, or `operator unwind` when `arbadmin unwind`
    /// closes the unwind it ran.
    func reconcileUnwinding(_ opportunity: Opportunity, dryRun: Bool, report: inout ReconcileReport,
                            label: String = "recovery") async throws {
        let id = opportunity.id
        var actions: [String] = []
        var finding: String?
        defer {
            report.actions += actions.map { .init(opportunityID: id, description: $0) }
            if let finding { report.needsAttention.append(.init(opportunityID: id, state: opportunity.state, reason: finding)) }
        }
        func act(_ text: String) {
            actions.append(text)
            logger.info("reconcile \(id): \(text)")
        }
        func needs(_ reason: String) {
            finding = reason
            logger.warning("reconcile \(id): needs attention: \(reason)")
        }
        let legs = try await ledger.withStore { try $0.legs(of: id) }
        guard legs.count == 2 else { return needs("expected 2 legs, found \(legs.count)") }
        var orders = try await ledger.withStore { try $0.unwindOrders(of: id) }
        var updates: [UnwindOrderUpdate] = []
        var fills: [FillReport] = []
        var provisional = false
        for index in orders.indices {
            let order = orders[index]
            guard let venue = venues[order.intent.venue] else { return needs("venue \(order.intent.venue) is not configured") }
            let clientOrderID = order.intent.clientOrderID
            var found = try await venue.order(clientOrderID: clientOrderID)
            if found == nil, [.pending, .unknown].contains(order.status) {
                let remaining = SettleWindow(milliseconds: venue.settleWindowMilliseconds)
                    .remaining(intentAtMilliseconds: order.updatedAtMilliseconds, nowMilliseconds: clock.nowMilliseconds())
                if remaining > 0 {
                    try await clock.sleep(milliseconds: remaining)
                    found = try await venue.order(clientOrderID: clientOrderID)
                }
            }
            guard var current = found else {
                if [.pending, .unknown].contains(order.status) {
                    act("unwind order \(order.intent.attempt): \(clientOrderID) never reached \(venue.name)")
                    updates.append(UnwindOrderUpdate(clientOrderID: clientOrderID, status: .notFound, statusReason: "recovery: not at the venue"))
                    orders[index].status = .notFound
                }
                continue
            }
            if !current.status.isFinal && !dryRun {
                act("unwind order \(order.intent.attempt): cancel \(clientOrderID) at \(venue.name)")
                let verdict = CancelVerdict(.success(try await venue.cancel(clientOrderID: clientOrderID)))
                if let final = verdict.order { current = final } else if let latest = try await venue.order(clientOrderID: clientOrderID) { current = latest }
                guard current.status.isFinal else { return needs("unwind order \(order.intent.attempt): \(venue.name) refused its cancel; it may still fill") }
            }
            if current.status.legStatus != order.status {
                updates.append(UnwindOrderUpdate(clientOrderID: clientOrderID, status: current.status.legStatus, venueOrderID: current.venueOrderID))
                orders[index].status = current.status.legStatus
            }
            for fill in try await venue.fills(clientOrderID: clientOrderID) {
                if fill.certainty == .provisional { provisional = true }
                fills.append(fill)
            }
        }
        let now = clock.nowMilliseconds()
        if !dryRun && (!updates.isEmpty || !fills.isEmpty) {
            try await ledger.record(TransitionChanges(unwindUpdates: updates, fills: fills), opportunity: id, at: now)
        }
        if provisional { return needs("unwind fills still provisional at the venue; reconcile again later") }
        orders = try await ledger.withStore { try $0.unwindOrders(of: id) }
        let (exposed, realised) = Executor.realisedLoss(
            legA: LegFills(filled: legs[0].filledQuantity, cost: legs[0].filledCost, fees: legs[0].fees),
            legB: LegFills(filled: legs[1].filledQuantity, cost: legs[1].filledCost, fees: legs[1].fees), orders: orders)
        let done = orders.reduce(Quantity.zero) { $0 + $1.filledQuantity }
        guard done <= exposed else { return needs("unwind orders filled \(done), more than the \(exposed) exposed") }
        let left = exposed - done
        if !left.isZero, try await ledger.haltState().halted {
            return needs("halted: unwinding stopped with \(left) still exposed; for a person (arbadmin close, or resume and reconcile)")
        }
        let completed = orders.filter { $0.intent.action == .complete }.reduce(Quantity.zero) { $0 + $1.filledQuantity }
        let event: OpportunityEvent = left.isZero ? (completed >= done - completed ? .unwindCompleted : .unwindFlattened) : .unwindGaveUp
        let outcome: CloseOutcome = switch event {
        case .unwindCompleted: .completed
        case .unwindFlattened: .flattened
        default: .oneSided
        }
        let summary = "\(label): exposed \(exposed), unwound \(done) in \(orders.count) orders, left \(left), realised loss \(realised)"
        act("Unwinding → Closed(\(outcome.rawValue)): \(summary)")
        if dryRun {
            report.closedByOutcome[outcome, default: 0] += 1
            return
        }
        var alerts = [Executor.unwindAlert(databaseID: ledger.databaseID, opportunity: id, eventID: opportunity.eventID,
                                           outcome: outcome, summary: summary)]
        if outcome == .oneSided { alerts.insert(Self.alert(opportunity, legs: legs, databaseID: ledger.databaseID, phase: .closed), at: 0) }
        let result = try await ledger.advance(id, from: .unwinding, steps: [TransitionStep(event, reason: summary)], at: now,
                                              changes: TransitionChanges(alerts: alerts))
        guard result.isApplied else { return needs("state changed under reconcile: \(result)") }
        report.closedByOutcome[outcome, default: 0] += 1
    }
}

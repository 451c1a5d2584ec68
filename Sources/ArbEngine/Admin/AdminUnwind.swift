import Logging
import OrderStateMachine

/// `arbadmin unwind ID [--policy complete|flatten] [--max-loss D] --note TEXT`: an operator's
/// unwind of a `Closed(one_sided)` exposure (issue 14).
///
/// The opportunity itself is reopened — `Closed(one_sided) → Unwinding` by `operatorUnwind`, the
/// note as the transition's reason and an `operator_note` alert in the same commit — rather than
/// a new linked opportunity, so its legs, its earlier unwind orders, the exposure arithmetic, the
/// dedup key and recovery stay the ones every other unwind uses. The command takes the runner
/// lease as `arbadmin reconcile` does (a live trader is refused by name), then places up to
/// `max_attempts` IOC orders `retry_ms` apart through the executor's sender, each persisted
/// before it is sent. arbadmin has no live books, so each order's limit is the bound itself — the
/// worst price `--max-loss` allows (an IOC fills at the venue's best prices up to there) — and the
/// policy is the one given (default: the config's when it is `complete` or `flatten`, else
/// `complete`, which restores the hedge). The bound is the opportunity's: `--max-loss` × the
/// exposure, less what its earlier unwinds realised. It closes by the reconciler's rule for
/// `Unwinding` (every unwind order looked up, fills recorded, closed `completed`/`flattened` or
/// `one_sided` with the unwind alert); a crash midway leaves `Unwinding` for recovery.
public enum AdminUnwind {
    public static func run(_ context: AdminContext, id: OpportunityID, action: UnwindAction?, maxLoss: Money?, note: String,
                           force: Bool, environment: [String: String],
                           clock: any TradingClock = SystemClock()) async throws -> OperatorActions.Outcome {
        let config = context.config
        // Refuse what cannot be unwound before taking the lease.
        let preview = try context.openReadOnly()
        guard let history = try preview.history(of: id) else { throw AdminFailure.unknownOpportunity(id, path: preview.path) }
        _ = try exposure(history)
        let action = action ?? (config.unwind.policy == .flatten ? .flatten : .complete)
        let maxLoss = maxLoss ?? config.unwind.maxLossPerContract
        let logger = Logger(label: "arbadmin.unwind", factory: { _ in SwiftLogNoOpLogHandler() })
        let (assembly, sinks) = try AdminReconcile.openAssembly(
            config, owner: "arbadmin unwind", force: force, environment: environment, clock: clock, logger: logger,
            refusedLive: "stop it first (a running trader does not know an operator's unwind), then run this again",
            nothingDone: "nothing was unwound")
        do {
            var outcome = try await assembly.run(stop: StopSignal(), feeds: false, shutdownSignals: []) {
                try await unwind(assembly, id: id, action: action, maxLoss: maxLoss, note: note, logger: logger)
            }
            try await assembly.releaseLease()
            let delivered = sinks.reduce(0) { $0 + $1.delivered.value }
            if !sinks.isEmpty { outcome.lines.append("alerts: \(delivered) deliveries made (\(sinks.map(\.name).joined(separator: ", ")))") }
            return outcome
        } catch {
            try? await assembly.releaseLease()
            throw AdminFailure.from(error)
        }
    }

    /// What is left to unwind, or why nothing may be.
    static func exposure(_ history: OpportunityHistory) throws -> Exposure {
        let id = history.opportunity.id
        switch history.opportunity.state {
        case .closed(.oneSided):
            break
        case .unwinding:
            throw AdminFailure("opportunity \(id) is already Unwinding; `arbadmin reconcile` (or the trader's restart) finishes it")
        case let state where !state.isTerminal:
            throw AdminFailure("opportunity \(id) is still \(state): a trader or `arbadmin reconcile` finishes it first; only a Closed(one_sided) exposure is unwound by hand")
        case let state:
            throw AdminFailure("opportunity \(id) is \(state): only a Closed(one_sided) exposure can be unwound")
        }
        if history.opportunity.flattened {
            throw AdminFailure("opportunity \(id) is marked flattened by hand (`arbadmin close --flattened`): nothing to unwind")
        }
        let exposure = Exposure(history)
        guard exposure.exposed > .zero else {
            throw AdminFailure("opportunity \(id) has no exposure left (its unwinds took it all back): nothing to unwind")
        }
        return exposure
    }

    static func unwind(_ assembly: TraderAssembly, id: OpportunityID, action: UnwindAction, maxLoss: Money, note: String,
                       logger: Logger) async throws -> OperatorActions.Outcome {
        let ledger = assembly.ledger
        let clock = assembly.clock
        let config = assembly.config.unwind
        // Read again under the lease: a trader may have moved it before we took it.
        guard let history = try await ledger.withStore({ try $0.history(of: id) }) else {
            throw AdminFailure.unknownOpportunity(id, path: assembly.databasePath)
        }
        let left = try exposure(history).exposed
        let legs = history.legs.sorted { $0.leg.rawValue < $1.leg.rawValue }
        guard legs.count == 2 else { throw AdminFailure("opportunity \(id) has \(legs.count) legs, not 2; for a person") }
        let (held, other) = legs[0].filledQuantity > legs[1].filledQuantity ? (legs[0], legs[1]) : (legs[1], legs[0])
        let exposed = held.filledQuantity - other.filledQuantity
        let budget = Money(micros: maxLoss.micros * exposed.hundredths / 100)
        let (venueName, instrument) = action == .complete ? (other.venue, other.instrument) : (held.venue, held.instrument)
        guard let venue = assembly.venues[venueName] else {
            throw AdminFailure("venue \(venueName) is not in the config; nothing was unwound")
        }
        let policy: UnwindConfig.Policy = action == .complete ? .complete : .flatten
        guard let context = assembly.unwindContext(UnwindConfig(policy: policy, maxLossPerContract: maxLoss)) else {
            throw AdminFailure("no unwind context")
        }
        let eventID = history.opportunity.eventID

        let now = clock.nowMilliseconds()
        let alert = NewAlert(
            key: "arb-\(ledger.databaseID)-\(id)-operator-unwind-\(now)", kind: "operator_note", severity: .info,
            text: "OPERATOR — opportunity \(id) (\(eventID)) reopened to unwind \(left) contracts (\(action.rawValue), at most \(maxLoss) a contract): \(note)",
            bodyJSON: AdminText.json([
                "opportunity_id": id, "event_id": eventID, "action": "unwind", "policy": action.rawValue, "note": note,
                "max_loss_per_contract_usd": maxLoss.decimalString, "exposed_quantity": left.description,
            ]))
        let reopened: TransitionResult
        do {
            reopened = try await ledger.advance(id, from: .closed(.oneSided), steps: [TransitionStep(.operatorUnwind, reason: "operator: \(note)")],
                                                at: now, changes: TransitionChanges(alerts: [alert]))
        } catch let error as SQLiteError where error.code == .constraintUnique {
            throw AdminFailure("opportunity \(id)'s key \(history.opportunity.dedupKey) is live again in another opportunity; wait until it closes, then run this again")
        }
        guard reopened.isApplied else {
            throw AdminFailure("opportunity \(id) changed before it could be reopened (\(reopened)); nothing was unwound — look again with `arbadmin show \(id)`")
        }
        var lines = ["opportunity \(id): Closed(one_sided) → Unwinding (\(action.rawValue) \(left) contracts at \(venueName), at most \(maxLoss) a contract): \(MessageText.singleLine(note))"]

        for number in 1...config.maxAttempts {
            let orders = try await ledger.withStore { try $0.unwindOrders(of: id) }
            let done = orders.reduce(Quantity.zero) { $0 + $1.filledQuantity }
            guard done < exposed else { break }
            if number > 1 { try await clock.sleep(milliseconds: config.retryMilliseconds) }
            let realised = Executor.realisedLoss(
                legA: LegFills(filled: legs[0].filledQuantity, cost: legs[0].filledCost, fees: legs[0].fees),
                legB: LegFills(filled: legs[1].filledQuantity, cost: legs[1].filledCost, fees: legs[1].fees), orders: orders).loss
            let remaining = exposed - done
            let heldCost = (held.filledCost + held.fees).share(exposed, of: held.filledQuantity)
            let exposure = UnwindPolicy.Exposure(remaining: remaining, heldCost: heldCost.share(remaining, of: exposed),
                                                 lossBudget: budget - realised)
            // No books here: the order goes at the bound, the worst price the operator allowed.
            var candidate = UnwindPolicy.Candidate(action: action, venue: venueName, instrument: instrument, price: nil,
                                                   fee: context.fee(eventID, venueName), gridTicks: context.gridTicks(venueName, instrument))
            candidate.price = UnwindPolicy.bound(candidate, exposure)
            guard case .place(let order) = UnwindPolicy.decide(policy: policy, exposure: exposure, candidates: [candidate],
                                                               attempt: 0, attempts: 1) else {
                lines.append("no order: no price at \(venueName) keeps the loss within the \(budget - realised) the bound leaves")
                break
            }
            let attempt = (orders.map(\.intent.attempt).max() ?? 0) + 1
            let clientOrderID = ledger.clientOrderID(opportunity: id, unwindAttempt: attempt)
            var intent = UnwindOrderIntent(attempt: attempt, action: order.action, venue: order.venue, instrument: order.instrument,
                                           limitPrice: order.limit, boundPrice: order.bound, quantity: order.quantity, exposure: exposed,
                                           lossBudget: budget, clientOrderID: clientOrderID)
            let prepared = venue.prepare(intent.request)
            intent.venueOrderID = prepared.venueOrderID
            try await ledger.record(TransitionChanges(unwindOrders: [intent]), opportunity: id, at: clock.nowMilliseconds())
            guard let placed = try await Executor.sendUnwind(prepared, intent: intent, on: venue, ledger: ledger, opportunity: id,
                                                             clock: clock, logger: logger) else {
                lines.append("unwind order \(attempt): its answer was lost and \(venueName) does not know it yet; looked up below")
                break
            }
            lines.append("unwind order \(attempt): \(order.side.rawValue) \(order.quantity) \(order.instrument) at \(venueName) IOC, limit \(order.limit) (the bound): filled \(placed.filled)")
        }

        // Closed by what the venues say, by the reconciler's rule for Unwinding.
        guard let reopenedOpportunity = try await ledger.withStore({ try $0.opportunity(id) }) else {
            throw AdminFailure.unknownOpportunity(id, path: assembly.databasePath)
        }
        var report = ReconcileReport()
        try await Reconciler(ledger: ledger, venues: assembly.venues, clock: clock, logger: logger)
            .reconcileUnwinding(reopenedOpportunity, dryRun: false, report: &report, label: "operator unwind")
        lines += report.actions.map(\.description)
        let after = try await ledger.withStore { try $0.opportunity(id) }
        let state = after?.state ?? reopenedOpportunity.state
        for finding in report.needsAttention {
            lines.append("NEEDS A PERSON: \(finding.reason) — `arbadmin show \(id)`")
        }
        let unwound = try await ledger.withStore { try $0.unwindOrders(of: id) }
        return OperatorActions.Outcome(lines: lines, json: AdminText.json([
            "id": id, "action": "unwind", "policy": action.rawValue, "note": note, "max_loss_per_contract_usd": maxLoss.decimalString,
            "state": state.name, "outcome": AdminJSON.nullable(state.outcome?.rawValue),
            "unwind_orders": unwound.count, "needs_attention": report.needsAttention.map(\.reason),
        ]))
    }
}

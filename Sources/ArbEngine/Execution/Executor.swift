import Logging
import OrderStateMachine

/// What became of one candidate, for the run's summary.
public enum ExecutionOutcome: Sendable, Hashable {
    case closed(CloseOutcome)
    case skipped(String)
    /// Left non-terminal for recovery (a venue could not be reached, a cancel kept failing).
    case needsRecovery(String)
    /// The simulator's crash at a fault point: everything in memory is to be dropped.
    case crashed(FaultPoint)
}

/// Executes opportunities (DESIGN §5): one commit to create and begin, both legs submitted
/// concurrently, fill events driving the state machine, and — the moment one leg is filled more
/// than the other — the cancel of the other sent before any database write.
public final class Executor: Sendable {
    public let ledger: Ledger
    let venues: [String: any Venue]
    let router: EventRouter
    let clock: any TradingClock
    let execution: ExecutionConfig
    public let gate: RiskGate
    let faults: FaultPoints
    let logger: Logger
    /// How a one-sided exposure is unwound (nil: it is not; closed one-sided for a person).
    let unwind: UnwindContext?
    /// How many times an ambiguous submit is looked up within its venue's settle window.
    let lookupAttemptsMax = 5

    public init(ledger: Ledger, venues: [String: any Venue], router: EventRouter, clock: any TradingClock,
                execution: ExecutionConfig, risk: RiskConfig, faults: FaultPoints, logger: Logger, unwind: UnwindContext? = nil) {
        self.unwind = unwind
        self.ledger = ledger
        self.venues = venues
        self.router = router
        self.clock = clock
        self.execution = execution
        self.gate = RiskGate(risk: risk)
        self.faults = faults
        self.logger = logger
    }

    // MARK: - Admission

    /// Runs one candidate to its end (or to where recovery must take over): `open`, then
    /// `complete` when it began.
    public func run(_ candidate: Candidate) async -> ExecutionOutcome {
        switch await open(candidate) {
        case .ended(let outcome): return outcome
        case .begun(let begun): return await complete(begun)
        }
    }

    /// What `open` left: an outcome already, or an opportunity committed `InFlight` whose legs
    /// are not sent yet.
    public enum Opening: Sendable {
        case ended(ExecutionOutcome)
        case begun(Begun)
    }

    /// An opportunity past its begin commit (DESIGN §4: its intent durable), its orders prepared
    /// and not yet sent. Hand it to `complete` at once: until then nothing is in flight at the
    /// venues, and its dedup key stays taken.
    public struct Begun: Sendable {
        let candidate: Candidate
        let id: OpportunityID
        let orders: [LegName: PreparedOrder]
        let venueA: any Venue
        let venueB: any Venue
        /// Read just after the commit returned (`OpportunityRun.intentAtMilliseconds`).
        let intentAtMilliseconds: Int64
    }

    /// The first half of `run`: the risk gate, then the create-and-begin commit (or the
    /// abandoned record of a refusal). `take` runs it on the caller's task, so the hop into the
    /// ledger continues on the same thread; the second half, `complete`, in a child task.
    public func open(_ candidate: Candidate) async -> Opening {
        // Halted (by `arbadmin halt` or a tripped limit) or the market blocked after too many
        // unwinds: nothing new at all, not even a record of a refused detection. Checked inside
        // the begin's (or the abandon's) own transaction — no read of its own on this path, and
        // a halt from another process counts from the next candidate.
        let now = clock.nowMilliseconds()
        switch gate.admit(candidate, now: now) {
        case .skip(let why):
            return .ended(.skipped(why))
        case .refuse(let reason):
            do {
                let result = try await ledger.abandon(candidate.opportunity, reason: reason)
                switch result {
                case .created(let id):
                    logger.info("opportunity \(id) \(candidate.opportunity.dedupKey) abandoned: \(reason)")
                    return .ended(.closed(.abandoned))
                case .duplicate: return .ended(.skipped("duplicate"))
                case .refused(let why): return .ended(.skipped(why))  // a refusal reserved nothing
                }
            } catch {
                logger.error("cannot record abandoned \(candidate.opportunity.dedupKey): \(error)")
                return .ended(.skipped("store error"))
            }
        case .admit:
            switch await begin(candidate) {
            case .begun(let begun):
                return .begun(begun)
            case .ended(let finished):
                await finish(candidate, finished)
                return .ended(finished.result)
            }
        }
    }

    /// A candidate as `Trader.trade` takes it: `open` on the caller's task, then, when it began,
    /// `complete` in an immediate child task of `executions` (it runs on this thread until its
    /// submits first suspend). Returns after the begin commit; `finished` gets the outcome.
    public func take(_ candidate: Candidate, in executions: inout DiscardingTaskGroup,
                     finished: @escaping @Sendable (ExecutionOutcome) -> Void = { _ in }) async {
        switch await open(candidate) {
        case .ended(let outcome): finished(outcome)
        case .begun(let begun): executions.addImmediateTask { finished(await self.complete(begun)) }
        }
    }

    /// The second half of `run`: both legs sent, driven to a close (or to recovery).
    public func complete(_ begun: Begun) async -> ExecutionOutcome {
        let outcome = await execute(begun)
        await finish(begun.candidate, outcome)
        return outcome.result
    }

    struct Finished {
        var result: ExecutionOutcome
        var exposure: Money = .zero
    }

    private func finish(_ candidate: Candidate, _ finished: Finished) async {
        let now = clock.nowMilliseconds()
        switch finished.result {
        case .closed(let outcome):
            let closesToday = gate.release(candidate, outcome: outcome, exposure: finished.exposure, now: now)
            if outcome == .oneSided, closesToday >= gate.risk.maxOneSidedClosesPerDay {
                let reason = "risk: \(closesToday) one-sided closes today (limit \(gate.risk.maxOneSidedClosesPerDay))"
                do {
                    try await ledger.halt(reason: reason, at: now)
                    logger.critical("halted: \(reason); `arbadmin resume` to trade again")
                } catch {
                    logger.error("cannot persist halt: \(error)")
                }
            }
        case .skipped:
            gate.release(candidate, outcome: nil, exposure: .zero, now: now)
        case .needsRecovery:
            gate.keepBlocked(candidate)
        case .crashed:
            break
        }
    }

    // MARK: - One opportunity

    private enum BeginOutcome {
        case begun(Begun)
        case ended(Finished)
    }

    private func begin(_ candidate: Candidate) async -> BeginOutcome {
        let new = candidate.opportunity
        guard let venueA = venues[new.legA.venue], let venueB = venues[new.legB.venue] else {
            return .ended(Finished(result: .skipped("unknown venue")))
        }
        let plans = [
            LegPlan(leg: .a, venue: venueA, instrument: new.legA.instrument, side: .buy, limitPrice: new.legA.price,
                    quantity: new.quantity, timeInForce: execution.timeInForce),
            LegPlan(leg: .b, venue: venueB, instrument: new.legB.instrument, side: .buy, limitPrice: new.legB.price,
                    quantity: new.quantity, timeInForce: execution.timeInForce),
        ]
        do {
            switch try await ledger.begin(new, plans: plans, reason: "risk gate passed; edge \(new.edgeBps) bps", faults: faults) {
            case .duplicate: return .ended(Finished(result: .skipped("duplicate")))
            case .refused(let why): return .ended(Finished(result: .skipped(why)))
            case .begun(let id, let orders):
                return .begun(Begun(candidate: candidate, id: id, orders: orders, venueA: venueA, venueB: venueB,
                                    intentAtMilliseconds: clock.nowMilliseconds()))
            }
        } catch let crash as SimulatedCrash {
            return .ended(Finished(result: .crashed(crash.point)))
        } catch {
            logger.error("cannot begin \(new.dedupKey): \(error)")
            return .ended(Finished(result: .skipped("store error")))
        }
    }

    private func execute(_ begun: Begun) async -> Finished {
        let (new, id, orders, venueA, venueB) = (begun.candidate.opportunity, begun.id, begun.orders, begun.venueA, begun.venueB)
        var run = OpportunityRun(
            id: id, opportunity: new, state: .inFlight, intentAtMilliseconds: begun.intentAtMilliseconds,
            a: LegState(name: .a, venue: venueA, order: orders[.a]!, outcome: new.legA.outcome),
            b: LegState(name: .b, venue: venueB, order: orders[.b]!, outcome: new.legB.outcome))
        let (signals, continuation) = router.register([run.a.clientOrderID, run.b.clientOrderID])
        defer { router.unregister([run.a.clientOrderID, run.b.clientOrderID]) }
        do {
            try faults.hit(.afterInflightCommit)
            return try await drive(&run, signals: signals, continuation: continuation)
        } catch let crash as SimulatedCrash {
            return Finished(result: .crashed(crash.point))
        } catch {
            // The database refused a write (a full disk, an I/O error): nothing more can be
            // recorded now, but a cancel needs no database — stop any resting order from adding
            // exposure, and leave the rest to recovery, which reads the venues' truth.
            let live = [run.a, run.b].filter { $0.isLive && $0.isResolved }
            let answers = live.isEmpty ? [] : await sendCancels(live)
            logger.error("opportunity \(id): \(error); cancel sent to \(answers.map(\.leg.rawValue)); left in \(run.state) for recovery")
            return Finished(result: .needsRecovery("\(error)"))
        }
    }

    struct OpportunityRun {
        let id: OpportunityID
        let opportunity: NewOpportunity
        var state: OpportunityState
        /// When the intent was committed (at or before this): the settle window counts from it.
        let intentAtMilliseconds: Int64
        var a: LegState
        var b: LegState
        var sawFill = false

        subscript(_ leg: LegName) -> LegState {
            get { leg == .a ? a : b }
            set { if leg == .a { a = newValue } else { b = newValue } }
        }

        var imbalanced: Bool { AlertRule.oneSidedDue(filledA: a.filled, filledB: b.filled) }
        /// Some fill may still be undone by its venue: a hedged close waits.
        var provisional: Bool { a.hasProvisional || b.hasProvisional }
        var bothFinal: Bool { !a.isLive && !b.isLive }
        /// The leg filled less (b on a tie).
        var laggard: LegName { a.filled < b.filled ? .a : .b }
    }

    private func drive(
        _ run: inout OpportunityRun, signals: AsyncStream<LegSignal>, continuation: AsyncStream<LegSignal>.Continuation
    ) async throws -> Finished {
        // Both legs concurrently (structured: both answered before we go on). Leg B is an
        // immediate child task — it starts on this thread at once and runs until its submit first
        // suspends (the request is on its way) — then leg A on this task. Neither waits for a
        // parked pool thread to wake: with leg B in an ordinary child task, arb-bench saw 25 µs
        // at p50 and 70–100 µs at p99 from here to the later submit; 10 and 15 µs this way (66 µs
        // at p50 with both in child tasks).
        let (orderA, venueA, orderB, venueB) = (run.a.order, run.a.venue, run.b.order, run.b.venue)
        let (resultA, resultB) = try await withThrowingTaskGroup(of: SubmitAnswer.self) { group in
            group.addImmediateTask { try await self.submit(orderB, on: venueB, leg: .b) }
            let resultA = try await self.submit(orderA, on: venueA, leg: .a)
            guard let resultB = try await group.next() else { preconditionFailure("leg B's submit task left no answer") }
            return (resultA, resultB)
        }
        try faults.hit(.afterSubmitBoth)
        // Logged once both submits are answered, not between the InFlight commit and the sends:
        // nothing but the two submits stands on detect → submit (arb-bench measures that path).
        logger.info("opportunity \(run.id) \(run.opportunity.dedupKey) in flight: \(run.opportunity.quantity) @ \(run.opportunity.legA.price) + \(run.opportunity.legB.price), edge \(run.opportunity.edgeBps) bps; submits answered")
        apply(resultA, to: &run.a)
        apply(resultB, to: &run.b)
        try noteFills(&run)
        try await resolveUnknown(&run)
        if !run.a.isResolved || !run.b.isResolved {
            // The venue cannot tell us whether the order exists: keep what we know, stay
            // InFlight, and leave the rest to recovery (DESIGN §6). The key stays blocked.
            try await persist(&run, steps: [], now: clock.nowMilliseconds())
            return Finished(result: .needsRecovery("order status unknown"))
        }
        try await fetchMissingFills(&run)

        if run.imbalanced { return try await oneSided(&run, signals: signals) }
        if run.bothFinal { return try await close(&run) }
        // Both placed, nothing unequal yet.
        try await persist(&run, steps: [TransitionStep(.legsAcknowledged, reason: "both legs acknowledged")],
                          now: clock.nowMilliseconds())

        // Wait for fills until the fill timeout; the timer is a child task, so it ends with us.
        let clock = self.clock
        let timeout = execution.fillTimeoutMilliseconds
        return try await withThrowingTaskGroup(of: Void.self) { timer in
            timer.addTask {
                try? await clock.sleep(milliseconds: timeout)
                if !Task.isCancelled { continuation.yield(.deadline(1)) }
            }
            defer { timer.cancelAll() }
            for await signal in signals {
                switch signal {
                case .venue(let event):
                    apply(event, to: &run)
                    try noteFills(&run)
                    if run.imbalanced {
                        return try await oneSided(&run, signals: signals)
                    }
                    if run.bothFinal {
                        try await fetchMissingFills(&run)
                        if run.imbalanced { return try await oneSided(&run, signals: signals) }
                        return try await close(&run)
                    }
                    if !run.a.unpersisted.isEmpty || !run.b.unpersisted.isEmpty {
                        // Equal partial fills: record them, no state change.
                        try await persist(&run, steps: [], now: clock.nowMilliseconds())
                    }
                case .deadline:
                    return try await timeOut(&run, signals: signals)
                }
            }
            throw ExecutorError.signalsEnded
        }
    }

    // MARK: - Legs

    enum SubmitAnswer: Sendable {
        case acknowledged(SubmitAck)
        case refused(String)
        case unknown(String)
    }

    private func submit(_ order: PreparedOrder, on venue: any Venue, leg: LegName) async throws -> SubmitAnswer {
        let answer: SubmitAnswer
        do {
            answer = .acknowledged(try await venue.submit(order))
        } catch VenueError.rejected(let reason) {
            answer = .refused(reason)
        } catch {
            // Timeout, disconnect, 5xx, garbage: the order may exist (DESIGN §4).
            answer = .unknown("\(error)")
        }
        if leg == .a { try faults.hit(.afterSubmitLegA) }
        return answer
    }

    private func apply(_ answer: SubmitAnswer, to leg: inout LegState) {
        switch answer {
        case .acknowledged(let ack):
            leg.apply(ack.order)
            for fill in ack.fills { leg.apply(fill) }
        case .refused(let reason):
            leg.status = .rejected
            leg.reason = reason
        case .unknown(let reason):
            leg.status = .unknown
            leg.reason = reason
        }
    }

    private func apply(_ event: VenueEvent, to run: inout OpportunityRun) {
        switch event {
        case .fill(let fill):
            let leg: LegName = fill.clientOrderID == run.a.clientOrderID ? .a : .b
            if !run[leg].apply(fill) { logger.debug("fill \(fill.tradeID) already known") }
        case .orderUpdate(let order):
            let leg: LegName = order.clientOrderID == run.a.clientOrderID ? .a : .b
            run[leg].apply(order)
        }
    }

    private func noteFills(_ run: inout OpportunityRun) throws {
        if !run.sawFill, !run.a.filled.isZero || !run.b.filled.isZero {
            run.sawFill = true
            try faults.hit(.afterFirstFill)
        }
    }

    /// An ambiguous submit is resolved by asking the venue for the order by its client id; "not
    /// found" counts as never placed only once the settle window since the intent has passed
    /// (`SettleWindow`, recovery's rule too). Lookups that keep failing leave it unknown.
    private func resolveUnknown(_ run: inout OpportunityRun) async throws {
        for name in LegName.allCases where run[name].status == .unknown {
            let venue = run[name].venue
            let window = SettleWindow(milliseconds: venue.settleWindowMilliseconds)
            for attempt in 1...lookupAttemptsMax {
                do {
                    if let order = try await venue.order(clientOrderID: run[name].clientOrderID) {
                        run[name].apply(order)
                        for fill in try await venue.fills(clientOrderID: run[name].clientOrderID) { run[name].apply(fill) }
                        logger.info("opportunity \(run.id) leg \(name.rawValue): ambiguous submit resolved, order \(order.status.rawValue)")
                        break
                    }
                    if window.neverPlaced(intentAtMilliseconds: run.intentAtMilliseconds, nowMilliseconds: clock.nowMilliseconds()) {
                        run[name].status = .notFound
                        run[name].reason = "not at the venue after its settle window"
                        logger.info("opportunity \(run.id) leg \(name.rawValue): ambiguous submit never reached the venue")
                        break
                    }
                } catch {
                    logger.warning("opportunity \(run.id) leg \(name.rawValue): order lookup failed (\(error))")
                }
                guard attempt < lookupAttemptsMax else { break }
                // The lookups left share what remains of the window; the last comes after it.
                let remaining = window.remaining(intentAtMilliseconds: run.intentAtMilliseconds, nowMilliseconds: clock.nowMilliseconds())
                try await clock.sleep(milliseconds: max(1, remaining / Int64(lookupAttemptsMax - attempt)))
            }
        }
        try noteFills(&run)
    }

    /// Fetches fills a venue reported (in an order's filled quantity) but not yet sent us.
    private func fetchMissingFills(_ run: inout OpportunityRun) async throws {
        for name in LegName.allCases where run[name].missingFills {
            for fill in try await run[name].venue.fills(clientOrderID: run[name].clientOrderID) { run[name].apply(fill) }
        }
        try noteFills(&run)
    }

    // MARK: - One-sided, timeout, close

    /// One leg filled more than the other: cancel every live leg (the lagging one first) before
    /// writing anything; then commit `OneSided` with its alert and `CancelAttempted` with the
    /// cancels' results, in one transaction. The cancels are answered before the commit, so a
    /// cancel always reaches its venue before the database moves (no fsync on the fill → cancel
    /// path).
    private func oneSided(_ run: inout OpportunityRun, signals: AsyncStream<LegSignal>) async throws -> Finished {
        precondition(run.imbalanced, "opportunity \(run.id): the one-sided path with equal fills \(run.a.filled)")
        let order = [run.laggard, run.laggard.other].filter { run[$0].isLive }
        // The cancels go first: nothing stands between the fill and the cancel. The reason
        // describes the moment of imbalance; the alert is built last, from the legs exactly as
        // this commit writes them (cancel sent and its answer, every fill fetched) — an operator
        // told "cancel not needed" would leave a live order alone.
        let atImbalance = run
        let answers = await sendCancels(order.map { run[$0] })
        let imbalance = imbalanceReason(atImbalance)
        for name in order { run[name].cancelRequested = true }
        apply(answers, to: &run)
        try faults.hit(.afterCancelSent)
        try await fetchMissingFills(&run)
        let alert = oneSidedAlert(run, phase: .detected)
        try await persist(&run, steps: [TransitionStep(.imbalanced, reason: imbalance),
                                        TransitionStep(.cancelSent, reason: cancelReason(run, order))],
                          now: clock.nowMilliseconds(), alerts: [alert])
        try faults.hit(.afterOneSidedCommit)
        logger.warning("opportunity \(run.id) one-sided: \(imbalance); \(cancelReason(run, order))")
        return try await settle(&run, signals: signals)
    }

    /// The fill timeout with nothing unequal: cancel the remainders.
    private func timeOut(_ run: inout OpportunityRun, signals: AsyncStream<LegSignal>) async throws -> Finished {
        let order = LegName.allCases.filter { run[$0].isLive }
        let answers = await sendCancels(order.map { run[$0] })
        for name in order { run[name].cancelRequested = true }
        apply(answers, to: &run)
        try await fetchMissingFills(&run)
        try await persist(&run, steps: [TransitionStep(.fillTimedOut, reason: "fill timeout \(execution.fillTimeoutMilliseconds) ms; " + cancelReason(run, order))],
                          now: clock.nowMilliseconds())
        return try await settle(&run, signals: signals)
    }

    /// After cancels: wait for live legs (a failed cancel) with bounded retries, then close.
    private func settle(_ run: inout OpportunityRun, signals: AsyncStream<LegSignal>) async throws -> Finished {
        var attempt = 1
        while !run.bothFinal {
            guard attempt < CancelRetry.attemptsMax else {
                let live = LegName.allCases.filter { run[$0].isLive }.map(\.rawValue)
                logger.critical("opportunity \(run.id): cancel of leg \(live) failed \(CancelRetry.attemptsMax) times; left in \(run.state) for reconcile")
                try await persist(&run, steps: [], now: clock.nowMilliseconds())
                return Finished(result: .needsRecovery("cancel failed"))
            }
            // Give a late fill a moment to land, then try the cancel again.
            try await clock.sleep(milliseconds: CancelRetry.delayMilliseconds(afterAttempt: attempt))
            attempt += 1
            let live = LegName.allCases.filter { run[$0].isLive }
            apply(await sendCancels(live.map { run[$0] }), to: &run)
            try await fetchMissingFills(&run)
        }
        return try await close(&run)
    }

    /// Both legs final: the closing path from the facts, with the exposure alert if one-sided.
    private func close(_ run: inout OpportunityRun) async throws -> Finished {
        precondition(run.bothFinal, "opportunity \(run.id): closing with a live leg (\(run.a.status), \(run.b.status))")
        let facts = ClosingPath.Facts(filledA: run.a.filled, filledB: run.b.filled,
                                      bothRejected: run.a.status == .rejected && run.b.status == .rejected,
                                      provisional: run.provisional)
        guard let events = ClosingPath.events(from: run.state, facts) else {
            try await persist(&run, steps: [], now: clock.nowMilliseconds())
            return Finished(result: .needsRecovery("no closing path from \(run.state)"))
        }
        if facts.provisional && !events.contains(where: Self.closes) {
            // Hedged or one-sided as far as the venues say yet: wait in Filled or CancelAttempted
            // until every fill is certain (one-sided: with its alert, the exposure is real now).
            let steps = events.map { TransitionStep($0, reason: closeReason(run, facts) + "; waiting for provisional fills") }
            let alerts = AlertRule.phases(for: events).map { oneSidedAlert(run, phase: $0) }
            try await persist(&run, steps: steps, now: clock.nowMilliseconds(), alerts: alerts)
            return try await settle(&run)
        }
        if unwinds(events) { return try await unwind(&run, events: events, facts: facts) }
        let alerts = AlertRule.phases(for: events).map { oneSidedAlert(run, phase: $0) }
        let reason = closeReason(run, facts)
        let steps = events.map { TransitionStep($0, reason: reason) }
        try faults.hit(.beforeClose)
        try await persist(&run, steps: steps, now: clock.nowMilliseconds(), alerts: alerts)
        guard let outcome = run.state.outcome else { throw ExecutorError.notClosed(run.state) }
        let exposure = outcome == .oneSided ? exposedCost(run) : .zero
        logger.info("opportunity \(run.id) closed \(outcome.rawValue): \(reason)")
        return Finished(result: .closed(outcome), exposure: exposure)
    }

    /// Whether `event` ends an opportunity.
    static func closes(_ event: OpportunityEvent) -> Bool {
        [.reconciled, .closedExposed, .closedUnfilled, .bothRejected, .bothUnfilled, .abandoned, .closedByOperator].contains(event)
    }

    /// Polls the venues for the provisional fills until each is confirmed or undone: then the
    /// close goes on (hedged, or — an undone fill having left the legs unequal — one-sided with its
    /// alert; one-sided, or no fill when the undone fills were all there was). Past
    /// `settleTimeoutMilliseconds` it alerts and leaves the opportunity in Filled or
    /// CancelAttempted for recovery, which asks again.
    private func settle(_ run: inout OpportunityRun) async throws -> Finished {
        let deadline = clock.nowMilliseconds() + execution.settleTimeoutMilliseconds
        let waitingHedged = !run.imbalanced
        while run.provisional {
            guard clock.nowMilliseconds() < deadline, !Task.isCancelled else {
                let alert = NewAlert(
                    key: "provisional-\(ledger.databaseID)-\(run.id)", kind: "fills_provisional", severity: .warning,
                    text: "opportunity \(run.id): fills still provisional after \(execution.settleTimeoutMilliseconds) ms (\(imbalanceReason(run))); "
                        + "it stays Filled until the venue confirms or undoes them — arbadmin reconcile asks again",
                    bodyJSON: JSONValue.object([JSONMember(key: "opportunity", value: .number(String(run.id)))]).compactText)
                try await persist(&run, steps: [], now: clock.nowMilliseconds(), alerts: [alert])
                return Finished(result: .needsRecovery("fills still provisional"))
            }
            try? await clock.sleep(milliseconds: execution.settlePollMilliseconds)
            for name in LegName.allCases where run[name].hasProvisional {
                do {
                    for fill in try await run[name].venue.fills(clientOrderID: run[name].clientOrderID) { run[name].apply(fill) }
                } catch {
                    logger.warning("opportunity \(run.id) leg \(name.rawValue): reading fills failed (\(error))")
                }
            }
            // A hedged wait ends early when an undone fill leaves the legs unequal or empty: that
            // close needs no more waiting for the rest.
            if waitingHedged && (run.imbalanced || (run.a.filled.isZero && run.b.filled.isZero)) { break }
        }
        return try await close(&run)
    }

    // MARK: - Persisting

    /// Commits `steps` with every unpersisted fill, the legs' current status and `alerts`.
    func persist(_ run: inout OpportunityRun, steps: [TransitionStep], now: Int64, alerts: [NewAlert] = []) async throws {
        var alerts = alerts
        if run.imbalanced && !alerts.contains(where: { $0.kind == OneSidedAlert.Phase.detected.rawValue }) {
            // Unequal fills are exposure whatever the path that got here (a late fill after a
            // timeout's cancel, a cancel that keeps failing): the alert goes with them, once (by key).
            alerts.append(oneSidedAlert(run, phase: .detected))
        }
        let changes = TransitionChanges(legUpdates: [run.a.update, run.b.update],
                                        fills: run.a.unpersisted + run.b.unpersisted, alerts: alerts)
        if steps.isEmpty {
            try await ledger.record(changes, opportunity: run.id, at: now)
        } else {
            let result = try await ledger.advance(run.id, from: run.state, steps: steps, at: now, changes: changes)
            guard case .applied(let state) = result else { throw ExecutorError.refused(result) }
            run.state = state
        }
        run.a.unpersisted.removeAll()
        run.b.unpersisted.removeAll()
    }

    // MARK: - Cancels

    struct CancelOutcome: Sendable {
        var leg: LegName
        var answer: Result<CancelAnswer, VenueError>
    }

    /// Sends the cancels at once, concurrently, and waits for their answers.
    private func sendCancels(_ legs: [LegState]) async -> [CancelOutcome] {
        if legs.count == 1, let leg = legs.first {
            // One cancel: straight from this task, no child task to schedule first.
            do {
                return [CancelOutcome(leg: leg.name, answer: .success(try await leg.venue.cancel(clientOrderID: leg.clientOrderID)))]
            } catch let error as VenueError {
                return [CancelOutcome(leg: leg.name, answer: .failure(error))]
            } catch {
                return [CancelOutcome(leg: leg.name, answer: .failure(.ambiguous(reason: "\(error)")))]
            }
        }
        let requests = legs.map { ($0.name, $0.venue, $0.clientOrderID) }
        return await withTaskGroup(of: CancelOutcome.self) { group in
                for (name, venue, clientOrderID) in requests {
                    group.addTask {
                        do {
                            return CancelOutcome(leg: name, answer: .success(try await venue.cancel(clientOrderID: clientOrderID)))
                        } catch let error as VenueError {
                            return CancelOutcome(leg: name, answer: .failure(error))
                        } catch {
                            return CancelOutcome(leg: name, answer: .failure(.ambiguous(reason: "\(error)")))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
        }
    }

    private func apply(_ outcomes: [CancelOutcome], to run: inout OpportunityRun) {
        for outcome in outcomes {
            let verdict = CancelVerdict(outcome.answer)
            if let order = verdict.order { run[outcome.leg].apply(order) }
            run[outcome.leg].cancelResult = verdict.result
            if let reason = verdict.reason { run[outcome.leg].reason = reason }
        }
    }

    // MARK: - Words

    func oneSidedAlert(_ run: OpportunityRun, phase: OneSidedAlert.Phase) -> NewAlert {
        OneSidedAlert.make(
            databaseID: ledger.databaseID, opportunity: run.id, eventID: run.opportunity.eventID,
            edgeBps: run.opportunity.edgeBps, legA: run.a.alertLeg(limitPrice: run.opportunity.legA.price),
            legB: run.b.alertLeg(limitPrice: run.opportunity.legB.price), phase: phase, unwind: unwind?.config)
    }

    func exposedCost(_ run: OpportunityRun) -> Money {
        Exposure(a: LegFills(filled: run.a.filled, cost: run.a.cost, fees: run.a.fees),
                 b: LegFills(filled: run.b.filled, cost: run.b.cost, fees: run.b.fees)).atRisk
    }

    private func imbalanceReason(_ run: OpportunityRun) -> String {
        "leg a filled \(run.a.filled) (\(run.a.status.rawValue)), leg b filled \(run.b.filled) (\(run.b.status.rawValue))"
    }

    private func cancelReason(_ run: OpportunityRun, _ legs: [LegName]) -> String {
        if legs.isEmpty { return "nothing left to cancel: both orders already final" }
        return legs.map { "cancel leg \($0.rawValue): \(run[$0].cancelResult?.rawValue ?? "no answer")" }.joined(separator: ", ")
    }

    func closeReason(_ run: OpportunityRun, _ facts: ClosingPath.Facts) -> String {
        "final fills a \(run.a.filled) (\(run.a.status.rawValue)), b \(run.b.filled) (\(run.b.status.rawValue))"
            + (facts.isEven ? "" : "; exposed \(facts.imbalance)")
    }
}

enum ExecutorError: Error, CustomStringConvertible {
    case refused(TransitionResult)
    case notClosed(OpportunityState)
    case signalsEnded

    var description: String {
        switch self {
        case .refused(let result): "the store refused a transition: \(result)"
        case .notClosed(let state): "closing path ended in \(state)"
        case .signalsEnded: "the event stream ended"
        }
    }
}

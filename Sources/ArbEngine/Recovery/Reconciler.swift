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
    /// How many opportunities are reconciled at once (started oldest first). Each is independent
    /// — its own legs, orders and writes — so while one batch's commit waits on the disk the next
    /// ones' venue lookups run. The closing writes of those that finished while the writer was busy
    /// share one commit (`CommitBatcher`, a savepoint each). 1 keeps the strict order and one
    /// commit per opportunity.
    let concurrency: Int

    /// What `arb run` and `arbadmin reconcile` use: enough to keep the writer busy while venues
    /// answer, few enough that a venue sees a handful of lookups at a time.
    public static let concurrencyForRuns = 8

    /// Tests only: awaited by the leader of each batch (its number, from 1) before it takes the
    /// queued writes, so a test can let the others queue behind it without blocking a thread.
    var beforeBatch: (@Sendable (Int) async -> Void)?

    public init(ledger: Ledger, venues: [String: any Venue], clock: any TradingClock, logger: Logger, concurrency: Int = 1) {
        self.ledger = ledger
        self.venues = venues
        self.clock = clock
        self.logger = logger
        self.concurrency = max(1, concurrency)
    }

    public func run(dryRun: Bool = false) async throws -> ReconcileReport {
        let open = try await ledger.withStore { try $0.nonTerminalOpportunities() }
        // Up to `concurrency` at a time, started oldest first. A store error stops new starts;
        // those already running finish (a cancel half-sent is worse than a slower stop), then it
        // is thrown. Reports are merged in the order of `open`, whatever order they finished in.
        var reports: [ReconcileReport?] = Array(repeating: nil, count: open.count)
        var failure: (any Error)?
        let batcher = concurrency > 1 ? CommitBatcher(ledger: ledger, width: concurrency, beforeBatch: beforeBatch) : nil
        await withTaskGroup(of: (Int, Result<ReconcileReport, any Error>).self) { group in
            var next = 0
            func start(_ group: inout TaskGroup<(Int, Result<ReconcileReport, any Error>)>) {
                guard failure == nil, next < open.count else { return }
                let index = next
                next += 1
                group.addTask { (index, await self.reconcileOne(open[index], dryRun: dryRun, batcher: batcher)) }
            }
            for _ in 0..<concurrency { start(&group) }
            while let (index, result) = await group.next() {
                switch result {
                case .success(let report): reports[index] = report
                case .failure(let error): failure = failure ?? error
                }
                start(&group)
            }
        }
        if let failure { throw failure }
        var report = ReconcileReport()
        for one in reports.compactMap({ $0 }) {
            report.examined += one.examined
            report.actions += one.actions
            report.needsAttention += one.needsAttention
            report.closedByOutcome.merge(one.closedByOutcome, uniquingKeysWith: +)
        }
        return report
    }

    /// One opportunity's reconcile: its own report, or the error that must stop the run (a
    /// venue that cannot be reached is a finding, not an error).
    private func reconcileOne(_ opportunity: Opportunity, dryRun: Bool, batcher: CommitBatcher?) async -> Result<ReconcileReport, any Error> {
        var report = ReconcileReport()
        report.examined = 1
        do {
            // Venue side effects (cancels) are done by now: a crash before this commit leaves them
            // for the next recovery, which finds them done (idempotent).
            if let planned = try await reconcile(opportunity, dryRun: dryRun, report: &report) {
                let result: TransitionResult?
                if let batcher {
                    result = try await batcher.commit(planned.write)
                } else {
                    // One at a time: one commit per opportunity (`Ledger.apply` of one write is a
                    // plain `advance`/`record`), as the strict order always had it.
                    result = try await ledger.apply([planned.write])[0].get()
                }
                planned.finish(result, opportunity: opportunity, logger: logger, report: &report)
            }
        } catch let error as VenueError {
            report.needsAttention.append(.init(opportunityID: opportunity.id, state: opportunity.state, reason: "venue: \(error)"))
        } catch {
            return .failure(error)
        }
        return .success(report)
    }

    /// Reconciles one opportunity up to its closing write, which it returns (nil: nothing to
    /// write, or a dry run) for `reconcileOne` to commit, alone or in a batch.
    private func reconcile(_ opportunity: Opportunity, dryRun: Bool, report: inout ReconcileReport) async throws -> PlannedCommit? {
        let id = opportunity.id
        let now = clock.nowMilliseconds()
        func act(_ text: String) {
            report.actions.append(.init(opportunityID: id, description: text))
            logger.info("reconcile \(id): \(text)")
        }
        func needs(_ reason: String) -> PlannedCommit? {
            report.needsAttention.append(.init(opportunityID: id, state: opportunity.state, reason: reason))
            logger.warning("reconcile \(id): needs attention: \(reason)")
            return nil
        }

        if opportunity.state == .detected {
            // Nothing is ever sent before InFlight commits.
            act("Detected → Closed(abandoned): nothing was sent")
            guard !dryRun else {
                report.closedByOutcome[.abandoned, default: 0] += 1
                return nil
            }
            return PlannedCommit(write: .advance(id, from: .detected, steps: [TransitionStep(.abandoned, reason: "recovery: never sent")],
                                                 changes: .none, at: now),
                                 closed: .abandoned)
        }

        if opportunity.state == .unwinding {
            // Writes its own commits (not batched).
            try await reconcileUnwinding(opportunity, dryRun: dryRun, report: &report)
            return nil
        }

        var legs = try await ledger.withStore { try $0.legs(of: id) }
        guard legs.count == 2 else { return needs("expected 2 legs, found \(legs.count)") }
        var fills: [FillReport] = []
        var stillLive: [String] = []
        var provisional = false
        for index in legs.indices {
            guard let venue = venues[legs[index].venue] else { return needs("venue \(legs[index].venue) is not configured") }
            let leg = legs[index]
            var order = try await venue.order(clientOrderID: leg.clientOrderID)
            if order == nil, [.pending, .unknown].contains(leg.status) {
                // A submit may still be landing: "not found" only counts once the venue's settle
                // window since the intent was written has passed, so wait out what is left of it.
                // The leg row's last write is at or after its intent (never earlier: safe side).
                let remaining = SettleWindow(milliseconds: venue.settleWindowMilliseconds)
                    .remaining(intentAtMilliseconds: leg.updatedAtMilliseconds, nowMilliseconds: clock.nowMilliseconds())
                if remaining > 0 {
                    try await clock.sleep(milliseconds: remaining)
                    order = try await venue.order(clientOrderID: leg.clientOrderID)
                }
            }
            guard var current = order else {
                if [.pending, .unknown, .notFound].contains(leg.status) {
                    if leg.status != .notFound { act("leg \(leg.leg.rawValue): \(leg.clientOrderID) never reached \(venue.name)") }
                    legs[index].status = .notFound
                    continue
                }
                if leg.status == .rejected { continue }
                return needs("leg \(leg.leg.rawValue): \(venue.name) does not know \(leg.clientOrderID), yet it was \(leg.status.rawValue)")
            }
            // Cancels still owed: anything live (idempotent at the venue). A refused cancel is
            // retried a few times (the order may be filling right now); if it keeps refusing,
            // the fills so far are still recorded and a person is asked.
            if !current.status.isFinal {
                act("leg \(leg.leg.rawValue): cancel \(leg.clientOrderID) at \(venue.name) (\(current.status.rawValue), filled \(current.filledQuantity))")
                if dryRun {
                    legs[index].status = .cancelled
                } else {
                    legs[index].cancelRequested = true
                    var refusal: String?
                    for attempt in 1...CancelRetry.attemptsMax {
                        // A venue that cannot answer throws: the opportunity stays where it is.
                        let verdict = CancelVerdict(.success(try await venue.cancel(clientOrderID: leg.clientOrderID)))
                        legs[index].cancelResult = verdict.result
                        refusal = verdict.reason
                        if let final = verdict.order {
                            current = final
                        } else if let latest = try await venue.order(clientOrderID: leg.clientOrderID) {
                            current = latest
                        }
                        if refusal == nil || current.status.isFinal { break }
                        if attempt < CancelRetry.attemptsMax {
                            try await clock.sleep(milliseconds: CancelRetry.delayMilliseconds(afterAttempt: attempt))
                        }
                    }
                    if let refusal, !current.status.isFinal {
                        stillLive.append("leg \(leg.leg.rawValue): \(venue.name) refused the cancel \(CancelRetry.attemptsMax) times (\(refusal)); the order may still fill")
                    }
                }
                order = current
            }
            if !dryRun || current.status.isFinal { legs[index].status = current.status.legStatus }
            legs[index].venueOrderID = current.venueOrderID
            // Fills: the venue's are the truth; record what the database lacks (idempotent by trade id).
            // The recorded fills and the leg's sums in one read transaction (one snapshot): a live
            // trader may record a late fill (as an orphan) at any moment, and the two must agree.
            let clientOrderID = leg.clientOrderID
            let (recordedFills, stored) = try await ledger.withStore { store in
                try store.readSnapshot { (try store.fills(of: id), try store.leg(clientOrderID: clientOrderID)) }
            }
            let recorded = Dictionary(recordedFills.map { ("\($0.venue)|\($0.tradeID)", $0) }, uniquingKeysWith: { first, _ in first })
            // Provisional fills of this leg still unresolved, until the venue says otherwise below.
            var open = Set(recordedFills.filter { $0.provisional && !$0.reversed && $0.legID == stored?.id }.map { "\($0.venue)|\($0.tradeID)" })
            if let stored {
                legs[index].filledQuantity = stored.filledQuantity
                legs[index].filledCost = stored.filledCost
                legs[index].fees = stored.fees
            }
            for fill in try await venue.fills(clientOrderID: leg.clientOrderID) {
                let key = "\(fill.venue)|\(fill.tradeID)"
                if let known = recorded[key] {
                    // A provisional fill the venue has now confirmed or undone.
                    guard known.provisional, !known.reversed, fill.certainty != .provisional else { continue }
                    open.remove(key)
                    fills.append(fill)
                    if fill.certainty == .failed {
                        act("leg \(leg.leg.rawValue): fill \(fill.tradeID) undone by \(venue.name) (its trade failed)")
                        legs[index].filledQuantity -= known.quantity
                        legs[index].filledCost -= Money(price: known.price, quantity: known.quantity)
                        legs[index].fees -= known.fee
                    } else {
                        act("leg \(leg.leg.rawValue): fill \(fill.tradeID) confirmed by \(venue.name)")
                    }
                    continue
                }
                guard fill.certainty != .failed else { continue }
                act("leg \(leg.leg.rawValue): record fill \(fill.tradeID) \(fill.quantity) @ \(fill.price)"
                    + (fill.certainty == .provisional ? " (provisional)" : ""))
                fills.append(fill)
                if fill.certainty == .provisional { open.insert(key) }
                legs[index].filledQuantity += fill.quantity
                legs[index].filledCost += Money(price: fill.price, quantity: fill.quantity)
                legs[index].fees += fill.fee
            }
            if !open.isEmpty { provisional = true }
            if legs[index].filledQuantity != current.filledQuantity {
                return needs("leg \(leg.leg.rawValue): \(venue.name) says filled \(current.filledQuantity) but its fills add up to \(legs[index].filledQuantity)")
            }
        }

        if !stillLive.isEmpty {
            return try await record(id, legs: legs, fills: fills, at: now, then: stillLive.joined(separator: "; "))
        }
        let facts = ClosingPath.Facts(filledA: legs[0].filledQuantity, filledB: legs[1].filledQuantity,
                                      bothRejected: legs.allSatisfy { $0.status == .rejected }, provisional: provisional)
        guard let events = ClosingPath.events(from: opportunity.state, facts) else {
            let finding = "no legal close from \(opportunity.state) with fills a \(facts.filledA), b \(facts.filledB)"
            return dryRun ? needs(finding) : try await record(id, legs: legs, fills: fills, at: now, then: finding)
        }
        if events.isEmpty {
            // Filled or CancelAttempted, with fills the venue may still undo: record what changed
            // and ask again later.
            let finding = "fills still provisional at the venue (closed only once they are certain); reconcile again later"
            return dryRun ? needs(finding) : try await record(id, legs: legs, fills: fills, at: now, then: finding)
        }
        let reason = "recovery: venue truth a \(legs[0].filledQuantity) (\(legs[0].status.rawValue)), b \(legs[1].filledQuantity) (\(legs[1].status.rawValue))"
        let alerts = AlertRule.phases(for: events).map {
            Self.alert(opportunity, legs: legs, databaseID: ledger.databaseID, phase: $0)
        }
        // ClosingPath's contract (ClosingPathTests): every step is legal in turn.
        let target = events.reduce(opportunity.state) { state, event in
            guard case .success(let next) = OpportunityMachine.transition(from: state, on: event) else {
                preconditionFailure("ClosingPath gave \(events) from \(opportunity.state): \(event) is illegal in \(state)")
            }
            return next
        }
        act("\(opportunity.state) → \(target): \(reason)")
        let finding = target.isTerminal
            ? nil : "fills still provisional at the venue (closed only once they are certain); reconcile again later"
        if dryRun {
            if let outcome = target.outcome { report.closedByOutcome[outcome, default: 0] += 1 }
            return nil
        }
        let changes = TransitionChanges(legUpdates: legs.map(Self.update), fills: fills, alerts: alerts)
        return PlannedCommit(write: .advance(id, from: opportunity.state, steps: events.map { TransitionStep($0, reason: reason) },
                                             changes: changes, at: now),
                             closed: target.outcome, finding: finding)
    }

    /// Plans the record of what was learned without a state change, and the finding `finding`
    /// once it is written. Unequal fills left for a person still get their one-sided alert
    /// (idempotent by key): no exposure without an alert.
    private func record(_ id: OpportunityID, legs: [Leg], fills: [FillReport], at now: Int64, then finding: String) async throws -> PlannedCommit {
        var alerts: [NewAlert] = []
        if legs.count == 2, AlertRule.oneSidedDue(filledA: legs[0].filledQuantity, filledB: legs[1].filledQuantity),
           let opportunity = try await ledger.withStore({ try $0.opportunity(id) }) {
            // With the venue's truth, which may differ from what the executor alerted earlier.
            alerts.append(Self.alert(opportunity, legs: legs, databaseID: ledger.databaseID, phase: .unresolved))
        }
        return PlannedCommit(write: .record(id, changes: TransitionChanges(legUpdates: legs.map(Self.update), fills: fills, alerts: alerts),
                                            at: now),
                             finding: finding)
    }

    static func alert(_ opportunity: Opportunity, legs: [Leg], databaseID: String, phase: OneSidedAlert.Phase) -> NewAlert {
        let alertLegs = legs.map { leg in
            AlertLeg(clientOrderID: leg.clientOrderID, venue: leg.venue, instrument: leg.instrument,
                     outcome: leg.leg == .a ? opportunity.legA.outcome : opportunity.legB.outcome, side: leg.side,
                     limitPrice: leg.limitPrice, filled: leg.filledQuantity, cost: leg.filledCost, fees: leg.fees,
                     cancelAttempted: leg.cancelRequested,
                     cancelSucceeded: leg.cancelResult.map(\.tookEffect))
        }
        return OneSidedAlert.make(databaseID: databaseID, opportunity: opportunity.id, eventID: opportunity.eventID,
                                  edgeBps: opportunity.edgeBps, legA: alertLegs[0], legB: alertLegs[1], phase: phase)
    }

    static func update(_ leg: Leg) -> LegUpdate {
        LegUpdate(clientOrderID: leg.clientOrderID, status: leg.status, statusReason: leg.statusReason,
                  venueOrderID: leg.venueOrderID, cancelRequested: leg.cancelRequested, cancelResult: leg.cancelResult)
    }
}

/// One opportunity's closing write, planned by `reconcile`, and what its report gains once the
/// write is committed.
struct PlannedCommit: Sendable {
    var write: PlannedWrite
    /// Counted as closed this way once the compare-and-set applied.
    var closed: CloseOutcome?
    /// Reported as needing attention once the write is committed (e.g. fills still provisional).
    var finding: String?

    init(write: PlannedWrite, closed: CloseOutcome? = nil, finding: String? = nil) {
        self.write = write
        self.closed = closed
        self.finding = finding
    }

    /// `result`: the compare-and-set's (nil for a record). A refused one is the opportunity's
    /// finding, and nothing of it was written.
    func finish(_ result: TransitionResult?, opportunity: Opportunity, logger: Logger, report: inout ReconcileReport) {
        func needs(_ reason: String) {
            report.needsAttention.append(.init(opportunityID: opportunity.id, state: opportunity.state, reason: reason))
            logger.warning("reconcile \(opportunity.id): needs attention: \(reason)")
        }
        if let result, !result.isApplied { return needs("state changed under reconcile: \(result)") }
        if let closed { report.closedByOutcome[closed, default: 0] += 1 }
        if let finding { needs(finding) }
    }
}

/// Group commit for recovery: the closing writes of opportunities reconciled at once share one
/// durable commit (`Ledger.apply`, a savepoint each). The first write to arrive while no commit
/// is running leads: it commits whatever is queued (up to `width`, its own first), and while that
/// commit waits on the disk, the writes of those that finish meanwhile queue for the next one,
/// which the first of them leads. Each caller gets its own write's result.
actor CommitBatcher {
    private enum Turn {
        case done(Result<TransitionResult?, any Error>)
        case lead
    }

    private let ledger: Ledger
    private let width: Int
    private var queue: [(write: PlannedWrite, turn: CheckedContinuation<Turn, Never>?)] = []
    private var committing = false
    private var batches = 0
    private let beforeBatch: (@Sendable (Int) async -> Void)?

    init(ledger: Ledger, width: Int, beforeBatch: (@Sendable (Int) async -> Void)? = nil) {
        self.ledger = ledger
        self.width = max(1, width)
        self.beforeBatch = beforeBatch
    }

    /// Commits `write`, alone or with others; its result (nil for a record), or the error that
    /// stopped it or its whole batch.
    func commit(_ write: PlannedWrite) async throws -> TransitionResult? {
        if committing {
            switch await withCheckedContinuation({ queue.append((write, $0)) }) {
            case .done(let result): return try result.get()
            case .lead: break  // queued first when the last commit ended: `queue` starts with this write
            }
        } else {
            committing = true
            queue.insert((write, nil), at: 0)
        }
        batches += 1
        if let beforeBatch { await beforeBatch(batches) }
        let batch = queue.prefix(width)
        queue.removeFirst(batch.count)
        let results: [Result<TransitionResult?, any Error>]
        do {
            results = try await ledger.apply(batch.map(\.write))
        } catch {
            results = Array(repeating: .failure(error), count: batch.count)
        }
        for (item, result) in zip(batch.dropFirst(), results.dropFirst()) { item.turn?.resume(returning: .done(result)) }
        if let next = queue.first {
            next.turn?.resume(returning: .lead)
        } else {
            committing = false
        }
        return try results[0].get()
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Logging
import OrderStateMachine

/// `arbadmin reconcile [--dry-run] [--force]`: DESIGN §6 through the very `Reconciler` that
/// `arb run` runs at start, against the venues the config names, on the same ``TraderAssembly``.
///
/// A real run takes the runner lease first, so no trader starts meanwhile: a live holder is
/// refused by name; a dead one (its process gone from this host) is taken over, as `arb run`
/// does after a crash; a stale one that cannot be proven dead only with `--force`. The lease is
/// released at the end. The alerts reconcile raised are delivered to the config's sinks before
/// it returns. A dry run opens the database read-only, takes no lease, sends nothing and
/// changes nothing in it.
public enum AdminReconcile {
    public struct Result: Sendable {
        public var databasePath: String
        public var venues: [String]
        public var dryRun: Bool
        public var report: ReconcileReport
        /// The lease holder taken over, and how it stood.
        public var tookOverLease: (holder: LeaseHolder, standing: LeaseStanding)?
        /// In a dry run, the trader that holds the lease (its in-flight work is shown as if it had stopped).
        public var liveHolder: LeaseHolder?
        /// Left non-terminal after a real run (`needsAttention` says why for each it examined).
        public var leftNonTerminal: [Opportunity]
        public var alertsDelivered: Int
        public var alertSinks: [String]
        public var now: Int64

        /// 0 when nothing is (or, in a dry run, would be) left non-terminal, 1 when something
        /// needs a person.
        public var exitCode: AdminExitCode {
            (dryRun ? report.needsAttention.isEmpty : leftNonTerminal.isEmpty && report.needsAttention.isEmpty) ? .ok : .needsAttention
        }
    }

    public static func run(_ context: AdminContext, dryRun: Bool, force: Bool, environment: [String: String],
                           clock: any TradingClock = SystemClock()) async throws -> Result {
        let logger = Logger(label: "arbadmin.reconcile", factory: { _ in SwiftLogNoOpLogHandler() })
        let config = context.config
        let now = clock.nowMilliseconds()
        if dryRun {
            let store = try context.openReadOnly()
            let holder = try store.currentLease()
            let live = holder.flatMap { LeaseStanding.of($0, now: now) == .live ? $0 : nil }
            let ledger = Ledger(store: store)
            let venues = try makeVenues(config, clock: clock, environment: environment, ledger: LedgerSlot(ledger))
            let report = try await Reconciler(ledger: ledger, venues: venues, clock: clock, logger: logger,
                                                    concurrency: Reconciler.concurrencyForRuns)
                .run(dryRun: true)
            return Result(databasePath: context.databasePath, venues: venues.keys.sorted(), dryRun: true, report: report,
                          tookOverLease: nil, liveHolder: live, leftNonTerminal: [], alertsDelivered: 0, alertSinks: [],
                          now: now)
        }

        let (assembly, sinks) = try openAssembly(config, owner: "arbadmin reconcile", force: force, environment: environment,
                                                 clock: clock, logger: logger, refusedLive: "a trader reconciles at its own start, or use --dry-run to see the plan",
                                                 nothingDone: "nothing was reconciled")
        let tookOver = assembly.tookOverFrom.map { ($0, LeaseStanding.of($0, now: now)) }
        do {
            // The heartbeat keeps the lease while the reconciler works; the venues' feeds stay
            // unread (the reconciler asks the venues itself). At the end the alerts reconcile
            // raised are delivered (drained, bounded) before the lease is released.
            let report = try await assembly.run(stop: StopSignal(), feeds: false, shutdownSignals: []) {
                try await assembly.reconcile()
            }
            let left = try await assembly.ledger.withStore { try $0.nonTerminalOpportunities() }
            try await assembly.releaseLease()
            return Result(databasePath: context.databasePath, venues: assembly.venues.keys.sorted(), dryRun: false,
                          report: report, tookOverLease: tookOver, liveHolder: nil, leftNonTerminal: left,
                          alertsDelivered: sinks.reduce(0) { $0 + $1.delivered.value }, alertSinks: sinks.map(\.name),
                          now: now)
        } catch {
            try? await assembly.releaseLease()
            throw AdminFailure.from(error)
        }
    }

    /// The trader's parts for an operator command that acts at the venues (`reconcile`,
    /// `unwind`): the runner lease taken as `arb run` takes it (a live holder refused by name,
    /// with `refusedLive` as the advice; a stale one only with `force`), the config's alert sinks
    /// counted.
    static func openAssembly(_ config: TraderConfig, owner: String, force: Bool, environment: [String: String],
                             clock: any TradingClock, logger: Logger, refusedLive: String,
                             nothingDone: String) throws -> (TraderAssembly, [CountingSink]) {
        let now = clock.nowMilliseconds()
        let me = LeaseHolder(owner: owner, pid: getpid(), host: Trader.hostName(),
                             startedAtMilliseconds: now, heartbeatAtMilliseconds: now)
        var parts = TraderAssembly.Options()
        parts.access = .existing
        parts.forceLease = force
        // The run seed only shapes fates of paper orders the model draws.
        parts.runSeed = 0
        let sinks: [CountingSink]
        do {
            sinks = try AlertDispatcher.makeSinks(config: config.alerts, alertFilePath: config.alertFilePath,
                                                  environment: environment).map(CountingSink.init)
        } catch {
            throw AdminFailure(error.description, exitCode: .usage)
        }
        parts.sinks = sinks
        do {
            return (try TraderAssembly.open(config: config, holder: me, environment: environment, clock: clock,
                                            logger: logger, options: parts), sinks)
        } catch let refusal as LeaseRefusal {
            guard refusal.standing == .live else { throw AdminFailure(refusal.description) }
            throw AdminFailure("\(refusal.description); \(refusedLive)")
        } catch let unavailable as TraderAssembly.VenuesUnavailable {
            throw AdminFailure("\(unavailable); \(nothingDone)")
        } catch {
            throw AdminFailure.from(error)
        }
    }

    static func makeVenues(_ config: TraderConfig, clock: any TradingClock, environment: [String: String],
                           ledger: LedgerSlot) throws -> [String: any Venue] {
        do {
            // The run seed only shapes fates of new orders; reconcile places none.
            return try Trader.makeVenues(config, runSeed: 0, clock: clock, environment: environment, ledger: ledger)
        } catch {
            throw AdminFailure("cannot open the venues: \(error); nothing was reconciled")
        }
    }

    // MARK: - Output

    public static func text(_ result: Result) -> [String] {
        var lines = [
            result.dryRun
                ? "reconcile --dry-run \(result.databasePath) against \(result.venues.joined(separator: ", ")): the plan; nothing is sent or changed"
                : "reconcile \(result.databasePath) against \(result.venues.joined(separator: ", "))",
        ]
        if let (holder, standing) = result.tookOverLease {
            lines.append("lease: took over from \(LeaseStanding.describe(holder, now: result.now)) (\(standing.rawValue))")
        }
        if let holder = result.liveHolder {
            lines.append("note: \(LeaseStanding.describe(holder, now: result.now)) is trading: its in-flight opportunities show as if it had stopped")
        }
        let report = result.report
        lines.append("examined \(report.examined) non-terminal opportunit\(report.examined == 1 ? "y" : "ies")")
        for action in report.actions {
            lines.append("  #\(action.opportunityID)  \(action.description)")
        }
        let closed = CloseOutcome.allCases.compactMap { outcome in
            report.closedByOutcome[outcome].map { "\(outcome.rawValue) \($0)" }
        }
        if !closed.isEmpty { lines.append("\(result.dryRun ? "would close" : "closed"): \(closed.joined(separator: ", "))") }
        if !result.alertSinks.isEmpty {
            lines.append("alerts: \(result.alertsDelivered) deliveries made (\(result.alertSinks.joined(separator: ", ")))")
        }
        let findings = needsAPerson(result)
        if findings.isEmpty {
            lines.append(result.dryRun ? "result: nothing would be left non-terminal" : "result: nothing left non-terminal")
        } else {
            lines.append("NEEDS A PERSON: \(findings.count) opportunit\(findings.count == 1 ? "y" : "ies") \(result.dryRun ? "would be " : "")left non-terminal")
            for finding in findings {
                lines.append("  #\(finding.opportunityID)  \(finding.state)  \(finding.reason) — `arbadmin show \(finding.opportunityID)`")
            }
        }
        return lines
    }

    public static func json(_ result: Result) -> String {
        var closed: [String: Int] = [:]
        for (outcome, count) in result.report.closedByOutcome { closed[outcome.rawValue] = count }
        let lease: Any = result.tookOverLease.map { holder, standing in
            ["owner": holder.owner, "pid": Int(holder.pid), "host": holder.host, "standing": standing.rawValue] as [String: Any]
        } ?? AdminJSON.nullable(nil)
        return AdminText.json([
            "database": result.databasePath,
            "dry_run": result.dryRun,
            "venues": result.venues,
            "examined": result.report.examined,
            "actions": result.report.actions.map { ["opportunity_id": Int($0.opportunityID), "action": $0.description] as [String: Any] },
            "closed": closed,
            "needs_attention": needsAPerson(result).map {
                ["opportunity_id": Int($0.opportunityID), "state": $0.state.description, "reason": $0.reason] as [String: Any]
            },
            "took_over_lease_from": lease,
            "alerts_delivered": result.alertsDelivered,
            "exit_code": Int(result.exitCode.rawValue),
        ])
    }

    /// Reconcile's findings, plus anything left non-terminal it did not explain.
    static func needsAPerson(_ result: Result) -> [ReconcileReport.Finding] {
        var findings = result.report.needsAttention
        let explained = Set(findings.map(\.opportunityID))
        for opportunity in result.leftNonTerminal where !explained.contains(opportunity.id) {
            findings.append(.init(opportunityID: opportunity.id, state: opportunity.state,
                                  reason: "left in \(opportunity.state) (\(opportunity.stateReason))"))
        }
        return findings
    }
}

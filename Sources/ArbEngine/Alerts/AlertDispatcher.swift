import Logging
import OrderStateMachine

/// What one pass (or a drain) of the dispatcher did.
public struct DeliveryRound: Sendable, Hashable {
    /// Rows a sink accepted and the outbox recorded as delivered.
    public var delivered = 0
    /// Failed attempts, each recorded in the outbox (attempts + 1, last error).
    public var failed = 0
    /// The last failure's text (for the sink-down warning).
    public var lastError: String?
    /// How long the sink asked to be left alone (a 429's retry-after), if it said.
    public var retryAfterMilliseconds: Int64?
    /// Rows left for a later pass: their sink is backing off or failed earlier in the pass, or
    /// the task was cancelled before their turn.
    public var deferred = 0
    /// The pass fetched as many rows as it may: more may be waiting.
    public var reachedLimit = false
    /// The outbox could not be read or written (an operating error); the rows stay pending.
    public var outboxErrors: [String] = []

    public init() {}

    mutating func add(_ other: DeliveryRound) {
        delivered += other.delivered
        failed += other.failed
        deferred += other.deferred
        reachedLimit = reachedLimit || other.reachedLimit
        outboxErrors += other.outboxErrors
        lastError = other.lastError ?? lastError
        retryAfterMilliseconds = [retryAfterMilliseconds, other.retryAfterMilliseconds].compactMap { $0 }.max()
    }
}

/// Delivers the alert outbox (DESIGN §4): every undelivered (alert, sink) row to its sink, and
/// the result recorded per row. All state is in the database, so a dispatcher started after a
/// crash or restart simply carries on: nothing is kept in memory but each sink's backoff.
///
/// Each pass takes at most `deliveriesPerPassMax` rows. Sinks are delivered concurrently, each
/// sink's rows in order (oldest first); a sink that fails stops for the rest of the pass, so a
/// dead webhook costs one timeout per pass, not one per alert, and never delays the file or
/// console. In `run`, a failing sink backs off 100 ms, doubling up to 30 s; success resets it.
/// Passes never overlap (a `drain` during a `run` waits for the pass in flight), so a row is
/// not handed to its sink twice at once.
public actor AlertDispatcher {
    public static let backoffMillisecondsInitial: Int64 = 100
    public static let backoffMillisecondsMax: Int64 = 30_000

    public let deliveriesPerPassMax: Int
    public nonisolated let sinkNames: [String]
    /// A sink failing this long raises a warning on the others (nil: never).
    let sinkDownAlertMilliseconds: Int64?
    private let outbox: any AlertOutbox
    private let sinks: [String: any AlertSink]
    private let clock: any TradingClock
    private let logger: Logger

    private struct Backoff {
        var failures: Int
        var retryAtNanoseconds: UInt64
    }
    private var backoff: [String: Backoff] = [:]
    /// `ensureDeliveryRows` ran for this dispatcher's sinks (once, before the first delivery).
    private var rowsEnsured = false
    private var passRunning = false
    private var passWaiters: [CheckedContinuation<Void, Never>] = []

    /// - Parameter sinks: unique names; they are the `alert_deliveries.sink` values delivered.
    public init(outbox: any AlertOutbox, sinks: [any AlertSink], clock: any TradingClock,
                logger: Logger = Logger(label: "arb.alerts"), deliveriesPerPassMax: Int = 100,
                sinkDownAlertMilliseconds: Int64? = nil) {
        self.sinkDownAlertMilliseconds = sinkDownAlertMilliseconds
        precondition(deliveriesPerPassMax > 0, "deliveriesPerPassMax must be positive")
        let names = sinks.map(\.name)
        precondition(Set(names).count == names.count, "alert sink names must be unique: \(names)")
        self.outbox = outbox
        self.sinks = Dictionary(uniqueKeysWithValues: sinks.map { ($0.name, $0) })
        self.sinkNames = names
        self.clock = clock
        self.logger = logger
        self.deliveriesPerPassMax = deliveriesPerPassMax
    }

    // MARK: - Passes

    /// One pass: every pending row (up to the limit) to its sink, ignoring backoff (a caller
    /// asking for a pass wants an attempt), each failure recorded with its attempt count.
    public func deliverPending() async -> DeliveryRound {
        await pass(honouringBackoff: false)
    }

    /// Delivers until the task is cancelled: a pass, then a wait of `pollMilliseconds` (shorter
    /// when a sink's backoff ends sooner; none when the pass was full and made progress).
    public func run(pollMilliseconds: Int64) async {
        precondition(pollMilliseconds > 0, "pollMilliseconds must be positive")
        while !Task.isCancelled {
            let round = await pass(honouringBackoff: true)
            if round.reachedLimit && round.delivered > 0 && round.outboxErrors.isEmpty {
                await Task.yield()
                continue
            }
            do {
                try await clock.sleep(milliseconds: min(pollMilliseconds, millisecondsUntilNextRetry() ?? pollMilliseconds))
            } catch {
                return  // cancelled
            }
        }
    }

    /// Delivers what is pending before shutdown: passes until nothing is left (or only rows of
    /// sinks that keep failing, retried with their backoff), for at most `timeoutMilliseconds`.
    /// A delivery still in flight at the deadline is cancelled and stays pending for the next
    /// start. Returns `delivered` and `failed` summed over all passes, `deferred` and
    /// `reachedLimit` as the last pass left them.
    @discardableResult
    public func drain(timeoutMilliseconds: Int64) async -> DeliveryRound {
        let clock = self.clock
        return await withTaskGroup(of: DeliveryRound?.self) { group in
            group.addTask { await self.drainPasses() }
            group.addTask {
                try? await clock.sleep(milliseconds: timeoutMilliseconds)
                return nil
            }
            var total = DeliveryRound()
            for await result in group {
                group.cancelAll()
                if let result { total = result }
            }
            return total
        }
    }

    private func drainPasses() async -> DeliveryRound {
        var total = DeliveryRound()
        var first = true
        while !Task.isCancelled {
            // The first pass tries every sink; later ones respect backoff, so a dead sink is not
            // hammered until the deadline.
            let round = await pass(honouringBackoff: !first)
            first = false
            total.add(round)
            total.deferred = round.deferred
            total.reachedLimit = round.reachedLimit
            let nothingLeft = round.deferred == 0 && round.failed == 0 && !round.reachedLimit
            if nothingLeft || !round.outboxErrors.isEmpty { break }
            if round.delivered == 0 {
                do { try await clock.sleep(milliseconds: millisecondsUntilNextRetry() ?? Self.backoffMillisecondsInitial) }
                catch { break }
            }
        }
        return total
    }

    private func pass(honouringBackoff: Bool) async -> DeliveryRound {
        await acquirePass()
        defer { releasePass() }
        var round = DeliveryRound()
        guard !Task.isCancelled else { return round }
        do {
            if !rowsEnsured {
                let added = try await outbox.ensureDeliveryRows(forSinks: sinkNames,
                                                                minimums: sinks.mapValues(\.minSeverity))
                rowsEnsured = true
                if added > 0 {
                    logger.notice("alert sinks given the pending alerts they had no row for",
                                  metadata: ["rows": "\(added)", "sinks": "\(sinkNames)"])
                }
            }
            let rows = try await outbox.pendingDeliveries(limit: deliveriesPerPassMax, sinks: sinkNames)
            round.reachedLimit = rows.count >= deliveriesPerPassMax
            let rowsBySink = Dictionary(grouping: rows, by: \.sink)
            let now = clock.monotonicNanoseconds()
            let (outbox, clock, logger) = (self.outbox, self.clock, self.logger)
            await withTaskGroup(of: (String, DeliveryRound).self) { group in
                for (name, rows) in rowsBySink {
                    guard let sink = sinks[name] else {
                        preconditionFailure("the outbox returned a row for sink \(name), not one of \(sinkNames)")
                    }
                    if honouringBackoff, let wait = backoff[name], wait.retryAtNanoseconds > now {
                        round.deferred += rows.count
                        continue
                    }
                    group.addTask {
                        (name, await Self.deliver(rows, to: sink, outbox: outbox, clock: clock, logger: logger))
                    }
                }
                for await (name, result) in group {
                    round.add(result)
                    if result.failed > 0 {
                        noteFailure(of: name, retryAfterMilliseconds: result.retryAfterMilliseconds)
                        await noteStreak(of: name, failures: result.failed, error: result.lastError ?? "failed")
                    } else if result.delivered > 0 {
                        backoff[name] = nil
                        streaks[name] = nil
                    }
                }
            }
        } catch {
            logger.error("alert outbox unavailable", metadata: ["error": "\(error)"])
            round.outboxErrors.append(String(describing: error))
        }
        return round
    }

    /// One sink's rows, in order, until the first failure (the rest are deferred).
    private static func deliver(
        _ rows: [PendingDelivery], to sink: any AlertSink, outbox: any AlertOutbox, clock: any TradingClock,
        logger: Logger
    ) async -> DeliveryRound {
        var result = DeliveryRound()
        for (index, row) in rows.enumerated() {
            let metadata: Logger.Metadata = ["sink": "\(sink.name)", "alert": "\(row.key)", "attempt": "\(row.attempts + 1)"]
            guard !Task.isCancelled else {
                result.deferred += rows.count - index
                break
            }
            do {
                try await sink.deliver(row)
            } catch {
                // Cancelled (shutdown, drain deadline): not the sink's failure; the row stays
                // pending as it was.
                if Task.isCancelled {
                    result.deferred += rows.count - index
                    break
                }
                let message = String(describing: error)
                logger.warning("alert delivery failed", metadata: metadata.merging(["error": "\(message)"]) { $1 })
                result.failed += 1
                result.lastError = message
                if case AlertSinkError.rateLimited(_, let wait)? = error as? AlertSinkError { result.retryAfterMilliseconds = wait }
                result.deferred += rows.count - index - 1
                do {
                    try await outbox.markDeliveryFailed(
                        alertID: row.alertID, sink: sink.name, error: message, atMilliseconds: clock.nowMilliseconds())
                } catch {
                    logger.error("alert delivery failure not recorded", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                    result.outboxErrors.append(String(describing: error))
                }
                break
            }
            do {
                try await outbox.markDelivered(alertID: row.alertID, sink: sink.name, atMilliseconds: clock.nowMilliseconds())
                result.delivered += 1
                logger.debug("alert delivered", metadata: metadata)
            } catch {
                // The sink has it but the outbox does not know: it will be delivered again (the
                // receiver drops the repeat by key). Stop: the outbox is in trouble.
                logger.error("alert delivered but not recorded; it will be sent again",
                             metadata: metadata.merging(["error": "\(error)"]) { $1 })
                result.outboxErrors.append(String(describing: error))
                result.deferred += rows.count - index - 1
                break
            }
        }
        return result
    }

    // MARK: - Backoff

    /// A sink failing since `since` (wall ms): `failures` attempts, the last `error`, and whether
    /// the other sinks were told.
    private struct Streak {
        var since: Int64
        var failures: Int
        var error: String
        var reported: Bool
    }

    private var streaks: [String: Streak] = [:]

    /// After `sinkDownAlertMilliseconds` of failures, one `warning` alert (per streak) to the other
    /// sinks: "telegram has failed 12 times since …: HTTP 401".
    private func noteStreak(of sink: String, failures: Int, error: String) async {
        let now = clock.nowMilliseconds()
        var streak = streaks[sink] ?? Streak(since: now, failures: 0, error: error, reported: false)
        streak.failures += failures
        streak.error = error
        streaks[sink] = streak
        guard let threshold = sinkDownAlertMilliseconds, !streak.reported, now - streak.since >= threshold else { return }
        let others = sinkNames.filter { $0 != sink }
        let alert = NewAlert(
            key: "sink-down-\(sink)-\(streak.since)", kind: "sink_down", severity: .warning,
            text: "alert sink \(sink) has failed \(streak.failures == 1 ? "once" : "\(streak.failures) times") since \(Timestamp.iso8601(streak.since)): \(streak.error)",
            bodyJSON: JSONValue.object([
                JSONMember(key: "sink", value: .string(sink)), JSONMember(key: "failures", value: .number(String(streak.failures))),
                JSONMember(key: "since", value: .string(Timestamp.iso8601(streak.since))), JSONMember(key: "error", value: .string(streak.error)),
            ]).compactText)
        do {
            try await outbox.insert(alert, sinks: others, atMilliseconds: now)
            streaks[sink]?.reported = true
            logger.warning("alert sink down", metadata: ["sink": "\(sink)", "failures": "\(streak.failures)"])
        } catch {
            logger.error("sink-down alert not written", metadata: ["error": "\(error)"])
        }
    }

    private func noteFailure(of sink: String, retryAfterMilliseconds: Int64? = nil) {
        let failures = (backoff[sink]?.failures ?? 0) + 1
        // The service's own wait when it gave one (Discord's retry_after), never less than ours.
        let delay = max(Self.backoffMilliseconds(afterFailures: failures), retryAfterMilliseconds ?? 0)
        backoff[sink] = Backoff(failures: failures,
                                retryAtNanoseconds: clock.monotonicNanoseconds() + UInt64(delay) * 1_000_000)
    }

    /// 100 ms after the first failure, doubling, at most 30 s.
    static func backoffMilliseconds(afterFailures failures: Int) -> Int64 {
        precondition(failures >= 1)
        let doublings = min(failures - 1, 20)  // 100 ms << 20 is far past the cap: no overflow
        return min(backoffMillisecondsInitial << doublings, backoffMillisecondsMax)
    }

    private func millisecondsUntilNextRetry() -> Int64? {
        guard let next = backoff.values.map(\.retryAtNanoseconds).min() else { return nil }
        let now = clock.monotonicNanoseconds()
        return next > now ? max(1, Int64((next - now) / 1_000_000)) : 1
    }

    // MARK: - One pass at a time

    private func acquirePass() async {
        while passRunning {
            await withCheckedContinuation { passWaiters.append($0) }
        }
        passRunning = true
    }

    private func releasePass() {
        passRunning = false
        if !passWaiters.isEmpty { passWaiters.removeFirst().resume() }
    }
}

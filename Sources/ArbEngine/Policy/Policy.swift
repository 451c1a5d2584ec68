import OrderStateMachine

// The rules the executor and recovery share (ARCHITECTURE.md, "Where each rule lives"). Value
// types and pure functions: no I/O, no clock of their own — the callers pass the time and do the
// talking to venues and the database. They live in ArbEngine, not OrderStateMachine, because
// they are about venue answers (`CancelAnswer`, `VenueError`), which the engine defines.

/// When a one-sided alert is due. Unequal fills are exposure whatever path got there (a fill, a
/// late fill after a cancel, recovery's view of the venue): each commit that leaves the legs
/// unequal carries the alert; its key makes a repeat a no-op, so it is raised once per phase.
public enum AlertRule {
    /// Unequal fills: a `one_sided` alert must be in the same commit.
    public static func oneSidedDue(filledA: Quantity, filledB: Quantity) -> Bool { filledA != filledB }

    /// The one-sided alerts a closing path's commit carries: `one_sided` with `imbalanced`,
    /// `one_sided_closed` with `closedExposed`, in that order.
    public static func phases(for events: [OpportunityEvent]) -> [OneSidedAlert.Phase] {
        var phases: [OneSidedAlert.Phase] = []
        if events.contains(.imbalanced) { phases.append(.detected) }
        if events.contains(.closedExposed) { phases.append(.closed) }
        return phases
    }
}

/// When an order the venue does not know counts as never placed: once the venue's settle window
/// has passed since the intent was written (before that, a submit may still be landing). One
/// clock for the executor and recovery: both measure from the intent.
public struct SettleWindow: Sendable, Hashable {
    public let milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = max(0, milliseconds) }

    public func neverPlaced(intentAtMilliseconds intent: Int64, nowMilliseconds now: Int64) -> Bool {
        now - intent >= milliseconds
    }

    /// How long until "not found" means never placed (0 once it does).
    public func remaining(intentAtMilliseconds intent: Int64, nowMilliseconds now: Int64) -> Int64 {
        max(0, milliseconds - (now - intent))
    }
}

/// How often a refused cancel is tried before a person is asked, and how long to wait between
/// tries (the order may be filling right now; a late fill gets a moment to land).
public enum CancelRetry {
    public static let attemptsMax = 5

    public static func delayMilliseconds(afterAttempt attempt: Int) -> Int64 { 20 * Int64(max(1, attempt)) }
}

/// How often a fill the store refused to record is tried again before the run gives up on it
/// (and fails loudly: a fill is never dropped quietly). The store already waits out a busy lock,
/// so a refusal that lasts is a full disk or an I/O error: about 15 s of retries, then stop.
public struct RecordRetry: Sendable, Hashable {
    public var attemptsMax: Int

    public init(attemptsMax: Int) {
        precondition(attemptsMax >= 1, "at least one attempt")
        self.attemptsMax = attemptsMax
    }

    public static let standard = RecordRetry(attemptsMax: 12)
    /// One attempt: where a refused write means the process is gone (the simulator's dead world).
    public static let once = RecordRetry(attemptsMax: 1)

    /// 50 ms, doubling, at most 2 s.
    public func delayMilliseconds(afterAttempt attempt: Int) -> Int64 { min(2_000, 50 << Int64(min(max(attempt, 1) - 1, 6))) }
}

/// How a cancel's answer reads onto a leg, for the executor and recovery alike.
public struct CancelVerdict: Sendable, Hashable {
    /// What the leg records as the cancel's result.
    public var result: CancelResult
    /// The order as the answer left it (its final fills), when the answer carried one.
    public var order: VenueOrder?
    /// Why the cancel did not take, when it did not.
    public var reason: String?

    public init(_ answer: Result<CancelAnswer, VenueError>) {
        switch answer {
        case .success(.cancelled(let order)): self.init(result: .cancelled, order: order, reason: nil)
        case .success(.alreadyDone(let order)): self.init(result: .alreadyDone, order: order, reason: nil)
        case .success(.failed(let reason)): self.init(result: .failed, order: nil, reason: "cancel refused: \(reason)")
        // No answer (a timeout, a disconnect): the cancel may or may not have landed.
        case .failure(let error): self.init(result: .unknown, order: nil, reason: "cancel: \(error)")
        }
    }

    init(result: CancelResult, order: VenueOrder?, reason: String?) {
        self.result = result
        self.order = order
        self.reason = reason
    }

    /// The cancel took, or there was nothing left to cancel.
    public var succeeded: Bool { result.tookEffect }
}

extension CancelResult {
    /// The order is no longer live because of (or despite) the cancel: what an alert calls
    /// "cancel succeeded".
    public var tookEffect: Bool { self == .cancelled || self == .alreadyDone }
}

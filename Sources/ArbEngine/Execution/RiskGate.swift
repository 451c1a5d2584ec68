import OrderStateMachine
import Synchronization

/// The in-memory side of the risk gate (DESIGN §5 step 2–3): live keys, cooldowns and exposure.
/// The database remains the authority on duplicates (its unique index decides); this only keeps
/// the detection loop from asking it about every repeated quote.
public final class RiskGate: Sendable {
    public enum Admission: Sendable, Equatable {
        case admit
        /// Already executing (or cooling down): nothing to record.
        case skip(String)
        /// Refused by a limit: recorded as `Closed(abandoned)` with this reason.
        case refuse(String)
    }

    struct State {
        var live: Set<String> = []
        var coolingUntil: [String: Int64] = [:]
        var reservedByEvent: [String: Money] = [:]
        var reservedTotal = Money.zero
        var oneSidedClosesToday = 0
        var day: Int64 = 0
    }

    private let state = Mutex(State())
    public let risk: RiskConfig

    public init(risk: RiskConfig) { self.risk = risk }

    /// Decides, and on admit reserves the key and the worst-case cost of both legs.
    public func admit(_ candidate: Candidate, now: Int64) -> Admission {
        let key = candidate.opportunity.dedupKey
        let event = candidate.opportunity.eventID
        let reserve = candidate.cost + candidate.fees
        return state.withLock { state in
            if state.live.contains(key) { return .skip("in flight") }
            if let until = state.coolingUntil[key], until > now { return .skip("cooling down") }
            if candidate.isStale {
                state.coolingUntil[key] = now + risk.cooldownMilliseconds
                return .refuse("stale quote: \(candidate.quoteAgeMilliseconds) ms old")
            }
            let eventExposure = state.reservedByEvent[event, default: .zero] + reserve
            if eventExposure > risk.maxExposurePerEvent {
                state.coolingUntil[key] = now + risk.cooldownMilliseconds
                return .refuse("risk: event exposure would be \(eventExposure), limit \(risk.maxExposurePerEvent)")
            }
            if state.reservedTotal + reserve > risk.maxExposureTotal {
                state.coolingUntil[key] = now + risk.cooldownMilliseconds
                return .refuse("risk: total exposure would be \(state.reservedTotal + reserve), limit \(risk.maxExposureTotal)")
            }
            state.live.insert(key)
            state.reservedByEvent[event, default: .zero] += reserve
            state.reservedTotal += reserve
            return .admit
        }
    }

    /// Ends an execution: releases its reservation, keeps `exposure` (a one-sided remainder) on
    /// the books, and starts the key's cooldown. Returns the one-sided closes of the day so far.
    @discardableResult
    public func release(_ candidate: Candidate, outcome: CloseOutcome?, exposure: Money, now: Int64) -> Int {
        let key = candidate.opportunity.dedupKey
        let event = candidate.opportunity.eventID
        let reserve = candidate.cost + candidate.fees
        return state.withLock { state in
            state.live.remove(key)
            state.reservedByEvent[event, default: .zero] += exposure - reserve
            state.reservedTotal += exposure - reserve
            // An unwound exposure was one-sided too: the same pause before its key trades again.
            let wasOneSided = outcome == .oneSided || outcome == .completed || outcome == .flattened
            let cooldown = wasOneSided ? risk.oneSidedCooldownMilliseconds : risk.cooldownMilliseconds
            state.coolingUntil[key] = now + cooldown
            if outcome == .oneSided {
                let day = now / 86_400_000
                if day != state.day { state.day = day; state.oneSidedClosesToday = 0 }
                state.oneSidedClosesToday += 1
            }
            return state.oneSidedClosesToday
        }
    }

    /// Keeps the key blocked without a cooldown end (an execution left for recovery).
    public func keepBlocked(_ candidate: Candidate) {
        _ = state.withLock { $0.live.insert(candidate.opportunity.dedupKey) }
    }

    /// Restores exposure and the day's one-sided count from the database at start.
    public func restore(exposureByEvent: [String: Money], liveKeys: [String], oneSidedClosesToday: Int, day: Int64) {
        state.withLock { state in
            state.reservedByEvent = exposureByEvent
            state.reservedTotal = exposureByEvent.values.reduce(.zero, +)
            state.live.formUnion(liveKeys)
            state.oneSidedClosesToday = oneSidedClosesToday
            state.day = day
        }
    }

    public var oneSidedClosesToday: Int { state.withLock { $0.oneSidedClosesToday } }
}

import ArbTestSupport
import ArbEngine
import OrderStateMachine
import Testing

/// The shared rules of `Policy/`, on their own (the executor's and recovery's tests cover their use).
@Suite("Policy")
struct PolicyTests {
    @Test("never placed only once the settle window since the intent has passed")
    func settleWindow() {
        let window = SettleWindow(milliseconds: 500)
        #expect(!window.neverPlaced(intentAtMilliseconds: 1_000, nowMilliseconds: 1_499))
        #expect(window.neverPlaced(intentAtMilliseconds: 1_000, nowMilliseconds: 1_500))
        #expect(window.remaining(intentAtMilliseconds: 1_000, nowMilliseconds: 1_200) == 300)
        #expect(window.remaining(intentAtMilliseconds: 1_000, nowMilliseconds: 9_000) == 0)
        #expect(SettleWindow(milliseconds: -5).neverPlaced(intentAtMilliseconds: 10, nowMilliseconds: 10))
    }

    @Test("a cancel's answer reads the same onto a leg everywhere")
    func cancelVerdict() {
        let order = VenueOrder(clientOrderID: "c", venueOrderID: "v", instrument: "I", side: .buy, limitPrice: Price(ticks: 5_000)!,
                               quantity: Quantity(contracts: 3), filledQuantity: Quantity(contracts: 1), status: .cancelled)
        let cancelled = CancelVerdict(.success(CancelAnswer.cancelled(order)))
        #expect(cancelled.result == CancelResult.cancelled)
        #expect(cancelled.order == order)
        #expect(cancelled.reason == nil)
        #expect(cancelled.succeeded)
        let done = CancelVerdict(.success(CancelAnswer.alreadyDone(order)))
        #expect(done.result == CancelResult.alreadyDone)
        #expect(done.succeeded)
        let refused = CancelVerdict(.success(CancelAnswer.failed(reason: "busy")))
        #expect(refused.result == CancelResult.failed)
        #expect(refused.order == nil)
        #expect(refused.reason == "cancel refused: busy")
        #expect(!refused.succeeded)
        let lost = CancelVerdict(.failure(VenueError.ambiguous(reason: "timeout")))
        #expect(lost.result == CancelResult.unknown)
        #expect(!lost.succeeded)
        #expect(lost.reason?.hasPrefix("cancel: ") == true)
    }

    @Test("one-sided alerts: due on unequal fills; a closing path's commit carries one per exposure step")
    func alertRule() {
        #expect(AlertRule.oneSidedDue(filledA: Quantity(contracts: 1), filledB: .zero))
        #expect(!AlertRule.oneSidedDue(filledA: Quantity(contracts: 2), filledB: Quantity(contracts: 2)))
        #expect(AlertRule.phases(for: [.imbalanced, .cancelSent, .closedExposed]) == [.detected, .closed])
        #expect(AlertRule.phases(for: [.closedExposed]) == [.closed])
        #expect(AlertRule.phases(for: [.legsEven, .reconciled]).isEmpty)
    }

    @Test("exposure: the unmatched contracts' share of the leading leg's cost and fees, rounded up")
    func exposure() {
        let a = LegFills(filled: Quantity(contracts: 3), cost: Money(micros: 1_000_001), fees: Money(micros: 2))
        let b = LegFills(filled: Quantity(contracts: 1), cost: Money(micros: 400_000), fees: .zero)
        let exposure = Exposure(a: a, b: b)
        #expect(exposure.exposed == Quantity(contracts: 2))
        #expect(exposure.hedged == Quantity(contracts: 1))
        #expect(exposure.leadingLeg == .a)
        // 1_000_003 × 2 / 3 = 666_668.67 → 666_669 (never understated).
        #expect(exposure.atRisk == Money(micros: 666_669))
        #expect(Exposure(a: b, b: b) == Exposure(hedged: Quantity(contracts: 1), exposed: .zero, atRisk: .zero, leadingLeg: nil))
    }
}

/// The one lease rule (`arb run`, `arbadmin reconcile`, the simulator).
@Suite("Lease rule")
struct LeaseRuleTests {
    let holder = LeaseHolder(owner: "arb run", pid: 77, host: "h1", startedAtMilliseconds: 0, heartbeatAtMilliseconds: 100_000)

    @Test("dead is taken over; stale only with force; live never")
    func rule() {
        let fresh: Int64 = 100_000 + Trader.leaseStaleMilliseconds
        let stale: Int64 = fresh + 1
        // Same host, process gone: dead, whatever the heartbeat.
        #expect(LeaseStanding.of(holder, now: fresh, host: "h1", isAlive: { _ in false }) == .dead)
        #expect(LeaseStanding.mayTakeOver(holder, now: fresh, force: false, host: "h1", isAlive: { _ in false }))
        // Same host, process there, heartbeat fresh: live, even with force.
        #expect(LeaseStanding.of(holder, now: fresh, host: "h1", isAlive: { _ in true }) == .live)
        #expect(!LeaseStanding.mayTakeOver(holder, now: fresh, force: true, host: "h1", isAlive: { _ in true }))
        // Another host: stale past the limit, but not provably dead.
        #expect(LeaseStanding.of(holder, now: stale, host: "h2", isAlive: { _ in false }) == .stale)
        #expect(!LeaseStanding.mayTakeOver(holder, now: stale, force: false, host: "h2", isAlive: { _ in false }))
        #expect(LeaseStanding.mayTakeOver(holder, now: stale, force: true, host: "h2", isAlive: { _ in false }))
    }
}

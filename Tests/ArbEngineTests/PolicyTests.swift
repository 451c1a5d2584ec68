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

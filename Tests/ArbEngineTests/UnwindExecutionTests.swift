import ArbTestSupport
import ArbEngine
import Foundation
import Logging
@testable import OrderStateMachine
import Synchronization
import Testing

/// The executor's unwind on the paper venues: leg a (kalshi K-1, YES) fills 10 at 0.45, leg b
/// (polymarket P-1, NO) is refused, so 10 YES are exposed; the unwind buys NO (P-1 at polymarket,
/// or K-1-NO at kalshi) or sells YES (K-1) within $0.02 a contract.
@Suite("Unwinding a one-sided exposure through the executor", .serialized, .exclusive)
struct UnwindExecutionTests {
    static func context(_ policy: UnwindConfig.Policy, quotes: [Quote], attempts: Int = 3) -> (Store) -> UnwindContext {
        { _ in
            let marks = MarkBook(trustedForMilliseconds: 60_000)
            for quote in quotes { marks.record(quote) }
            return UnwindContext(
                config: UnwindConfig(policy: policy, maxLossPerContract: Money(cents: 2), maxAttempts: attempts, retryMilliseconds: 10),
                marks: marks, oppositeInstrument: { _, venue, instrument in venue == "kalshi" && instrument == "K-1" ? "K-1-NO" : nil },
                fee: { _, venue in venue == "kalshi" ? .kalshiTaker : .free }, gridTicks: { _, _ in 100 })
        }
    }

    static func quote(_ venue: String, _ instrument: String, bid: Int64? = nil, ask: Int64? = nil) -> Quote {
        Quote(timestampMilliseconds: SystemClock().nowMilliseconds(), venue: venue, instrument: instrument,
              bid: bid.flatMap { Price(ticks: $0) }, bidSize: Quantity(contracts: 50), ask: ask.flatMap { Price(ticks: $0) },
              askSize: Quantity(contracts: 50))
    }

    func audit(_ harness: ExecutorHarness, allClosed: Bool = true) throws -> [String] {
        try Invariants.check(databasePath: harness.directory.path("arb.db"),
                             paperFiles: ["kalshi": harness.kalshi.path, "polymarket": harness.polymarket.path],
                             options: .init(requireAllClosed: allClosed, sinks: []))
    }

    @Test("complete: the missing NO bought at the other venue within the bound; Closed(completed), the order and its fills recorded, §8 holds")
    func completes() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                                unwindFates: ["u1": .fill])
        let outcome = await harness.executor.run(ExecutorHarness.candidate())
        #expect(outcome == .closed(.completed))
        let orders = try harness.store.unwindOrders(of: 1)
        #expect(orders.count == 1)
        let order = try #require(orders.first)
        #expect(order.intent.action == .complete && order.intent.venue == "polymarket" && order.intent.instrument == "P-1"
                && order.intent.limitPrice == Price(ticks: 5_400)! && order.filledQuantity == Quantity(contracts: 10) && order.status == .filled)
        let history = try harness.history()
        #expect(history.transitions.map(\.to).suffix(3) == [.cancelAttempted, .unwinding, .closed(.completed)])
        #expect(try harness.store.alerts(of: 1).map(\.kind).contains("unwind_closed"))
        // The one-sided alert said an unwind would follow, and its bound.
        let oneSided = try #require(try harness.store.alerts(of: 1).first { $0.kind == "one_sided" })
        #expect(oneSided.text.contains("unwind: starts once the cancels are done (complete, at most $0.02 a contract"), "\(oneSided.text)")
        #expect(oneSided.bodyJSON.contains(#""unwind":{"max_attempts":3,"max_loss_per_contract_usd":"0.02","policy":"complete"}"#), "\(oneSided.bodyJSON)")
        #expect(try harness.paperOrders(harness.polymarket)[order.intent.clientOrderID]?.1 == 1_000)
        let violationsHarness = try audit(harness)
        #expect(violationsHarness.isEmpty, "\(violationsHarness)")
    }

    @Test("the auditor's loss bound (invariant 10): an unwind that lost more than its budget, or claims another exposure than its legs', is reported")
    func auditCatchesLossPastTheBound() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                                unwindFates: ["u1": .fill])
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.completed))
        #expect(try audit(harness).isEmpty)
        let db = harness.directory.path("arb.db")
        _ = try await sqlite(db, "UPDATE unwind_orders SET loss_budget_micros = 1000")
        let overBudget = try audit(harness)
        #expect(overBudget.contains { $0.hasPrefix("10: opportunity 1 unwind lost $0.08") && $0.contains("more than its budget $0.001") },
                "\(overBudget)")
        _ = try await sqlite(db, "UPDATE unwind_orders SET loss_budget_micros = 200000, exposure_quantity = 1100")
        let otherExposure = try audit(harness)
        #expect(otherExposure.contains("10: opportunity 1 unwinds 1100 but its legs differ by 1000"), "\(otherExposure)")
    }

    @Test("flatten: the excess YES sold back at kalshi's bid within the bound, both Kalshi fees counted (0.47 loses 0.15 of the 0.20 allowed; 0.44 would lose 0.45); Closed(flattened)")
    func flattens() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.flatten, quotes: [Self.quote("kalshi", "K-1", bid: 4_700)]),
                                                unwindFates: ["u1": .fill])
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.flattened))
        let order = try #require(try harness.store.unwindOrders(of: 1).first)
        #expect(order.intent.action == .flatten && order.intent.venue == "kalshi" && order.intent.limitPrice == Price(ticks: 4_700)!)
        let violationsHarness = try audit(harness)
        #expect(violationsHarness.isEmpty, "\(violationsHarness)")
    }

    @Test("partial fills: the first order fills 4, the second the 6 left; Closed(completed) with two orders")
    func partialThenDone() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                                unwindFates: ["u1": .partial(Quantity(contracts: 4)), "u2": .fill])
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.completed))
        let orders = try harness.store.unwindOrders(of: 1)
        #expect(orders.map(\.filledQuantity) == [Quantity(contracts: 4), Quantity(contracts: 6)])
        #expect(orders.map(\.intent.quantity) == [Quantity(contracts: 10), Quantity(contracts: 6)], "an order larger than the exposure left")
        #expect(orders.allSatisfy { $0.intent.limitPrice <= $0.intent.boundPrice })
        let violationsHarness = try audit(harness)
        #expect(violationsHarness.isEmpty, "\(violationsHarness)")
    }

    @Test("a book past the bound: no order at all; Closed(one_sided) with the unwind alert saying why")
    func pastTheBound() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.best, quotes: [Self.quote("polymarket", "P-1", ask: 6_000),
                                                                                     Self.quote("kalshi", "K-1", bid: 3_000)]))
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        #expect(try harness.store.unwindOrders(of: 1).isEmpty)
        let alert = try #require(try harness.store.alerts(of: 1).first { $0.kind == "unwind_closed" })
        #expect(alert.text.contains("past the bound") && alert.severity == .critical, "\(alert.text)")
        let violationsHarness = try audit(harness)
        #expect(violationsHarness.isEmpty, "\(violationsHarness)")
    }

    @Test("an unwind order that keeps being refused: attempts spent, Closed(one_sided) from Unwinding, with both alerts")
    func givesUp() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)], attempts: 2),
                                                unwindFates: ["u1": .reject("halted"), "u2": .rest])
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        #expect(try harness.store.unwindOrders(of: 1).map(\.status) == [.rejected, .cancelled])
        #expect(try harness.history().transitions.map(\.to).suffix(2) == [.unwinding, .closed(.oneSided)])
        let kinds = try harness.store.alerts(of: 1).map(\.kind)
        #expect(kinds.contains("one_sided_closed") && kinds.contains("unwind_closed"), "\(kinds)")
        let violationsHarness = try audit(harness)
        #expect(violationsHarness.isEmpty, "\(violationsHarness)")
    }

    @Test("an unwind order's answer lost: looked up, never resent; placed and filled, it counts; not found, left Unwinding for recovery")
    func lostAnswer() async throws {
        let placed = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                               unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                               unwindFates: ["u1": .ambiguousPlaced])
        #expect(await placed.executor.run(ExecutorHarness.candidate()) == .closed(.completed))
        #expect(try placed.store.unwindOrders(of: 1).count == 1, "resent after a lost answer")
        let violationsPlaced = try audit(placed)
        #expect(violationsPlaced.isEmpty, "\(violationsPlaced)")

        let lost = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                             unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                             unwindFates: ["u1": .ambiguousNotPlaced])
        let outcome = await lost.executor.run(ExecutorHarness.candidate())
        guard case .needsRecovery = outcome else {
            Issue.record("not left for recovery: \(outcome)")
            return
        }
        #expect(try lost.store.state(of: 1) == .unwinding)
        #expect(try lost.store.unwindOrders(of: 1).map(\.status) == [.unknown])
    }

    @Test("partly unwound then given up: the exposure left is what the unwind did not take back — in list --one-sided, show and the reminders' rule")
    func exposureLeft() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)], attempts: 2),
                                                unwindFates: ["u1": .partial(Quantity(contracts: 4)), "u2": .reject("halted")])
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        let summary = try #require(try harness.store.opportunitySummaries(OpportunityQuery(oneSided: true)).first)
        #expect(summary.unwound == Quantity(contracts: 4))
        let exposure = Exposure(summary)
        #expect(exposure.exposed == Quantity(contracts: 6) && exposure.leadingLeg == .a, "\(exposure)")
        let history = try harness.history()
        #expect(Exposure(history) == exposure)
        let text = OpportunityReport.text(history, now: SystemClock().nowMilliseconds())
        #expect(text.contains("unwind orders") && text.contains { $0.contains("complete") && $0.contains("-u1") }, "\(text.joined(separator: "\n"))")
        #expect(text.contains { $0.contains("6.00 contracts of YES on kalshi") }, "\(text.joined(separator: "\n"))")
    }

    @Test("no unwind loop: after max_unwinds_per_market_per_day unwinds the market is blocked (with an alert) and its candidates skipped, until resume --market")
    func noLoop() async throws {
        let quotes = [Self.quote("kalshi", "K-1-NO", ask: 5_200)]  // with both Kalshi fees: a loss of $0.05 of the $0.20 allowed
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"), unwind: { store in
            var context = Self.context(.complete, quotes: quotes)(store)
            context.config.maxUnwindsPerMarketPerDay = 2
            return context
        })
        // The same opportunity keeps reappearing; each time it goes one-sided and is unwound.
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.completed))
        #expect(try harness.store.marketBlock("EV") == nil)
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.completed))
        let reason = try #require(try harness.store.marketBlock("EV"))
        #expect(reason.contains("2 unwinds today (limit 2)"), "\(reason)")
        #expect(try harness.store.allAlerts(limit: 50).contains { $0.kind == "market_blocked" })
        guard case .skipped(let why) = await harness.executor.run(ExecutorHarness.candidate()) else {
            Issue.record("a blocked market traded")
            return
        }
        #expect(why.hasPrefix("market blocked"), "\(why)")
        let status = try StatusReport.read(harness.store, now: SystemClock().nowMilliseconds()).text()
        #expect(status.contains { $0.hasPrefix("blocked     market EV: 2 unwinds today") }, "\(status)")
        // Another market is not blocked.
        #expect(await harness.executor.run(ExecutorHarness.candidate(key: "EV2")) != .skipped("market blocked"))
        let resumed = try OperatorActions.resumeMarket(harness.store, eventID: "EV", now: SystemClock().nowMilliseconds())
        #expect(resumed.lines.first?.contains("unblocked") == true)
        #expect(try harness.store.marketBlock("EV") == nil)
        guard case .closed = await harness.executor.run(ExecutorHarness.candidate()) else {
            Issue.record("still blocked after resume --market")
            return
        }
    }

    /// Polymarket (venue b) as its CLOB reports an unwind order's trades: MATCHED (provisional) on
    /// the first `provisionalReads` reads, then `then` (certain or failed).
    static func provisionalUnwinds(then certainty: FillCertainty, provisionalReads: Int = 1) -> (PaperVenue, String) -> any Venue {
        { paper, _ in
            let reads = Mutex(0)
            var hooks = ForwardingVenue.Hooks()
            hooks.submit = { order, inner in
                var ack = try await inner.submit(order)
                if order.request.clientOrderID.hasSuffix("-u1") {
                    ack.fills = ack.fills.map { var fill = $0; fill.certainty = .provisional; return fill }
                }
                return ack
            }
            hooks.fills = { clientOrderID, inner in
                let fills = try await inner.fills(clientOrderID: clientOrderID)
                guard clientOrderID.hasSuffix("-u1") else { return fills }
                let read = reads.withLock { $0 += 1; return $0 }
                return fills.map { var fill = $0; fill.certainty = read <= provisionalReads ? .provisional : certainty; return fill }
            }
            return ForwardingVenue(paper, hooks: hooks)
        }
    }

    @Test("an unwind fill the venue has only MATCHED: the close waits until it is CONFIRMED (then completed), or FAILED (then the exposure is back: one_sided)")
    func provisionalUnwindFills() async throws {
        let confirmed = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"), wrapB: Self.provisionalUnwinds(then: .certain),
                                                  unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                                  unwindFates: ["u1": .fill])
        #expect(await confirmed.executor.run(ExecutorHarness.candidate()) == .closed(.completed))
        let kept = try await sqlite(confirmed.directory.path("arb.db"), "SELECT provisional, reversed_at_ms IS NULL FROM unwind_fills", readOnly: true)
        #expect(kept == ["0|1"], "the unwind fill was not recorded provisional then confirmed: \(kept)")

        let failed = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"), wrapB: Self.provisionalUnwinds(then: .failed),
                                               unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)], attempts: 1),
                                               unwindFates: ["u1": .fill])
        #expect(await failed.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided), "closed completed on a fill the venue undid")
        let order = try #require(try failed.store.unwindOrders(of: 1).first)
        #expect(order.filledQuantity.isZero, "the undone fill still counts: \(order.filledQuantity)")
        let summary = try #require(try failed.store.opportunitySummaries(OpportunityQuery(oneSided: true)).first)
        #expect(Exposure(summary).exposed == Quantity(contracts: 10), "the exposure is not back in list --one-sided")
    }

    func reconcile(_ harness: ExecutorHarness) async throws -> ReconcileReport {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try await Reconciler(ledger: harness.ledger, venues: ["kalshi": harness.kalshi, "polymarket": harness.polymarket],
                                    clock: SystemClock(), logger: logger).run()
    }

    @Test("recovery of an unwind whose order never arrived: looked up (not found), nothing unwound; Closed(one_sided) with both alerts, §8 holds")
    func recoveryNotPlaced() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                                unwindFates: ["u1": .ambiguousNotPlaced])
        _ = await harness.executor.run(ExecutorHarness.candidate())
        #expect(try harness.store.state(of: 1) == .unwinding)
        let report = try await reconcile(harness)
        #expect(report.isClean && report.closedByOutcome == [.oneSided: 1], "\(report)")
        #expect(try harness.store.unwindOrders(of: 1).map(\.status) == [.notFound])
        let kinds = try harness.store.alerts(of: 1).map(\.kind)
        #expect(kinds.contains("one_sided_closed") && kinds.contains("unwind_closed"), "\(kinds)")
        let violations = try audit(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("recovery of an unwind whose order landed after all and filled: its fills recorded from the venue; Closed(completed), §8 holds")
    func recoveryLanded() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.complete, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]),
                                                unwindFates: ["u1": .ambiguousNotPlaced])
        _ = await harness.executor.run(ExecutorHarness.candidate())
        let order = try #require(try harness.store.unwindOrders(of: 1).first)
        // The request reaches the venue late and fills there (what the lost answer hid).
        await harness.polymarket.setBehaviour(PaperBehaviour(fateForClientOrderID: [order.intent.clientOrderID: .fill]))
        _ = try await harness.polymarket.submit(harness.polymarket.prepare(OrderRequest(
            clientOrderID: order.intent.clientOrderID, instrument: order.intent.instrument, side: .buy, limitPrice: order.intent.limitPrice,
            quantity: order.intent.quantity, timeInForce: .ioc)))
        let report = try await reconcile(harness)
        #expect(report.isClean && report.closedByOutcome == [.completed: 1], "\(report)")
        #expect(try harness.store.unwindOrders(of: 1).first?.filledQuantity == Quantity(contracts: 10))
        let violations = try audit(harness)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("unwinding off (the default): a one-sided execution closes one_sided as before, no unwind order")
    func off() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .reject("no liquidity"),
                                                unwind: Self.context(.off, quotes: [Self.quote("polymarket", "P-1", ask: 5_400)]))
        #expect(await harness.executor.run(ExecutorHarness.candidate()) == .closed(.oneSided))
        #expect(try harness.store.unwindOrders(of: 1).isEmpty)
    }
}

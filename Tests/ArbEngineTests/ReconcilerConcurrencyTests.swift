import ArbTestSupport
@testable import ArbEngine
import Foundation
import Logging
@testable import OrderStateMachine
import Synchronization
import Testing

/// Recovery works on several opportunities at once (`Reconciler.concurrency`, issue 17): it
/// closes every one as the sequential run would, reports them in the order they were started
/// (oldest first) whatever order they finished in, and never has more than its width running.
@Suite("Recovery: several opportunities at once, reported oldest first", .serialized)
struct ReconcilerConcurrencyTests {
    static let logger: Logger = {
        var logger = Logger(label: "reconcile-concurrency")
        logger.logLevel = .critical
        return logger
    }()

    /// `count` opportunities left `InFlight` with both orders filled at the paper venues and the
    /// answers lost (as a crash after the sends leaves them).
    static func inFlight(_ harness: ExecutorHarness, count: Int) async throws -> [OpportunityID] {
        var ids: [OpportunityID] = []
        for index in 0..<count {
            let candidate = ExecutorHarness.candidate(key: "EV\(index)")
            let plans = [
                LegPlan(leg: .a, venue: harness.kalshi, instrument: "K-1", side: .buy, limitPrice: candidate.opportunity.legA.price,
                        quantity: candidate.opportunity.quantity, timeInForce: .ioc),
                LegPlan(leg: .b, venue: harness.polymarket, instrument: "P-1", side: .buy, limitPrice: candidate.opportunity.legB.price,
                        quantity: candidate.opportunity.quantity, timeInForce: .ioc),
            ]
            guard case .begun(let id, let orders) = try await harness.ledger.begin(candidate.opportunity, plans: plans, reason: "test")
            else { throw StoreError.transitionRefused(.notFound(0)) }
            _ = try await harness.kalshi.submit(orders[.a]!)
            _ = try await harness.polymarket.submit(orders[.b]!)
            ids.append(id)
        }
        return ids
    }

    /// Kalshi's lookups, counted (the most at once) and, for the first opportunities, slowed so
    /// that they finish last.
    final class SlowFirstLookups: Sendable {
        let running = Mutex((now: 0, most: 0))
        let slow: Set<String>

        init(slow: Set<String>) { self.slow = slow }

        func venue(_ inner: PaperVenue) -> ForwardingVenue {
            var hooks = ForwardingVenue.Hooks()
            hooks.order = { [self] clientOrderID, inner in
                running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                defer { running.withLock { $0.now -= 1 } }
                if slow.contains(clientOrderID) { try await Task.sleep(for: .milliseconds(150)) }
                return try await inner.order(clientOrderID: clientOrderID)
            }
            return ForwardingVenue(inner, hooks: hooks)
        }
    }

    @Test("8 at once: every one closed hedged, the report in id order though the first ones finished last, at most 8 lookups at a time",
          arguments: [1, 8])
    func concurrent(_ width: Int) async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        let ids = try await Self.inFlight(harness, count: 20)
        let slow = Set(ids.prefix(3).map { harness.store.clientOrderID(opportunity: $0, leg: .a) })
        let lookups = SlowFirstLookups(slow: slow)
        let report = try await Reconciler(ledger: harness.ledger, venues: ["kalshi": lookups.venue(harness.kalshi), "polymarket": harness.polymarket],
                                          clock: SystemClock(), logger: Self.logger, concurrency: width).run()
        #expect(report.examined == 20)
        #expect(report.closedByOutcome == [.hedged: 20])
        #expect(report.needsAttention.isEmpty)
        for id in ids { #expect(try harness.store.state(of: id) == .closed(.hedged)) }
        let reported = report.actions.map(\.opportunityID)
        #expect(reported == reported.sorted(), "reported out of order: \(reported)")
        #expect(Set(reported) == Set(ids))
        let most = lookups.running.withLock { $0.most }
        if width == 1 {
            #expect(most == 1)
        } else {
            #expect(most > 1 && most <= width, "\(most) lookups at once")
        }
    }

    /// Counts the trader connection's commits (the hook runs inside each write transaction).
    static func countCommits(_ ledger: Ledger) async throws -> Counter {
        let commits = Counter()
        try await ledger.withStore { store in store.commitHook = { _ = commits.next() } }
        return commits
    }

    /// The first batch's leader waits (without blocking a thread) until `passed` reaches `width`
    /// — the first wave is done with its venues — and a little more, so that their planned writes
    /// queue behind it and share its commit.
    static func holdFirstBatch(width: Int, passed: Counter) -> @Sendable (Int) async -> Void {
        { batch in
            guard batch == 1 else { return }
            let deadline = ContinuousClock.now + .seconds(10)
            while passed.count < width, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(1)) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    final class Counter: Sendable {
        let value = Mutex(0)
        func next() -> Int { value.withLock { $0 += 1; return $0 } }
        var count: Int { value.withLock { $0 } }
    }

    /// Polymarket with its fills lookups (the last venue call of an opportunity's reconcile)
    /// held until the first `width` opportunities all reach it, then let go together, `late`'s
    /// a few milliseconds after the others: so one of the others leads the first batch (held by
    /// `holdFirstBatch` until all of them are past this call) and the rest, `late` among them,
    /// queue behind it and share its commit.
    static func gatedPolymarket(_ inner: PaperVenue, width: Int, late: String, passed: Counter) -> ForwardingVenue {
        let arrivals = Counter()
        var hooks = ForwardingVenue.Hooks()
        hooks.fills = { clientOrderID, inner in
            if arrivals.next() <= width {
                let deadline = ContinuousClock.now + .seconds(2)
                while arrivals.count < width, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
                if clientOrderID == late { try await Task.sleep(for: .milliseconds(5)) }
            }
            let fills = try await inner.fills(clientOrderID: clientOrderID)
            _ = passed.next()
            return fills
        }
        return ForwardingVenue(inner, hooks: hooks)
    }

    /// Group commit (ARCHITECTURE, recovery concurrency): the closing writes of opportunities
    /// reconciled at once share commits, each in its own savepoint. One opportunity is moved by
    /// another connection after `run` read it (during its venue lookup): its compare-and-set is
    /// refused, which is its finding and writes nothing of it, while the others commit.
    @Test("width 8: fewer commits than opportunities; a compare-and-set refused in a batch is that one's finding, the others close",
          arguments: [1, 8])
    func groupCommit(_ width: Int) async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        let ids = try await Self.inFlight(harness, count: 20)
        let moved = ids[3]
        let movedLeg = harness.store.clientOrderID(opportunity: moved, leg: .a)
        let path = harness.store.path
        var hooks = ForwardingVenue.Hooks()
        hooks.order = { clientOrderID, inner in
            if clientOrderID == movedLeg {
                // Another writer (a second connection) moves it on: reconcile's view is now stale.
                let other = try Store(path: path, access: .existing, durability: .normal)
                let result = try other.advance(moved, from: .inFlight,
                                               steps: [TransitionStep(.legsAcknowledged, reason: "test: another writer")], at: 1)
                #expect(result == .applied(.legsPlaced))
            }
            return try await inner.order(clientOrderID: clientOrderID)
        }
        let passed = Counter()
        let commits = try await Self.countCommits(harness.ledger)
        let polymarket = Self.gatedPolymarket(harness.polymarket, width: width,
                                              late: harness.store.clientOrderID(opportunity: moved, leg: .b), passed: passed)
        var reconciler = Reconciler(ledger: harness.ledger,
                                    venues: ["kalshi": ForwardingVenue(harness.kalshi, hooks: hooks), "polymarket": polymarket],
                                    clock: SystemClock(), logger: Self.logger, concurrency: width)
        reconciler.beforeBatch = Self.holdFirstBatch(width: width, passed: passed)
        let report = try await reconciler.run()
        try await harness.ledger.withStore { $0.commitHook = nil }

        #expect(report.examined == 20)
        #expect(report.closedByOutcome == [.hedged: 19])
        #expect(report.needsAttention.map(\.opportunityID) == [moved])
        #expect(report.needsAttention.first?.reason.hasPrefix("state changed under reconcile") == true,
                "\(report.needsAttention)")
        for id in ids where id != moved { #expect(try harness.store.state(of: id) == .closed(.hedged)) }
        // Nothing of the refused one was written: the other writer's state, no fills, legs as before.
        #expect(try harness.store.state(of: moved) == .legsPlaced)
        #expect(try harness.store.fills(of: moved).isEmpty)
        #expect(try harness.store.legs(of: moved).allSatisfy { $0.filledQuantity == .zero })
        if width == 1 {
            #expect(commits.count == 19, "one commit per opportunity that wrote (the refused one's transaction rolls back)")
        } else {
            #expect(commits.count < 19, "\(commits.count) commits for the 19 opportunities that wrote")
        }
    }

    /// A store error in one opportunity's write rolls back only its savepoint: its state change,
    /// written before the refused fill, is not committed with the rest of its batch.
    @Test("width 8: a fill the store refuses rolls back that opportunity's whole write (its state change too), and stops the run")
    func errorInBatch() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        let ids = try await Self.inFlight(harness, count: 20)
        let bad = ids[2]
        let badLeg = harness.store.clientOrderID(opportunity: bad, leg: .a)
        var hooks = ForwardingVenue.Hooks()
        // The venue claims twice the order's quantity filled, in two trades: the fill past the
        // order's quantity is refused by the schema's CHECK (`exceedsOrder`).
        hooks.order = { clientOrderID, inner in
            guard var order = try await inner.order(clientOrderID: clientOrderID) else { return nil }
            if clientOrderID == badLeg { order.filledQuantity = order.filledQuantity + order.filledQuantity }
            return order
        }
        hooks.fills = { clientOrderID, inner in
            let fills = try await inner.fills(clientOrderID: clientOrderID)
            guard clientOrderID == badLeg else { return fills }
            return fills + fills.map { var extra = $0; extra.tradeID += "-again"; return extra }
        }
        let passed = Counter()
        let commits = try await Self.countCommits(harness.ledger)
        let polymarket = Self.gatedPolymarket(harness.polymarket, width: 8, late: harness.store.clientOrderID(opportunity: bad, leg: .b),
                                              passed: passed)
        var reconciler = Reconciler(ledger: harness.ledger,
                                    venues: ["kalshi": ForwardingVenue(harness.kalshi, hooks: hooks), "polymarket": polymarket],
                                    clock: SystemClock(), logger: Self.logger, concurrency: 8)
        reconciler.beforeBatch = Self.holdFirstBatch(width: 8, passed: passed)
        await #expect(throws: StoreError.self) { try await reconciler.run() }
        try await harness.ledger.withStore { $0.commitHook = nil }
        #expect(try harness.store.state(of: bad) == .inFlight)
        #expect(try harness.store.fills(of: bad).isEmpty)
        // Those that finished with it closed (the run stopped starting new ones).
        #expect(try ids.prefix(2).allSatisfy { try harness.store.state(of: $0) == .closed(.hedged) })
        #expect(commits.count < 20)
    }
}

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
@Suite("Recovery: several opportunities at once, reported oldest first")
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
}

import ArbTestSupport
@testable import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

/// Where the work between a candidate and its two submits runs (BENCHMARKS.md, detect_to_submit):
/// the begin on the detection loop's own task, a paper venue's submit on its own batch thread.
@Suite("Hot path scheduling")
struct HotPathSchedulingTests {
    @Test("Executor.take returns with the intent committed InFlight; the legs are sent and driven in its child task")
    func takeBeginsOnTheCallersTask() async throws {
        let (released, release) = AsyncStream<Void>.makeStream()
        let harness = try await ExecutorHarness(a: .fill, b: .fill, wrapB: { paper, _ in
            ForwardingVenue(paper, hooks: ForwardingVenue.Hooks(submit: { order, inner in
                // Leg B's submit is held until the test has looked at the database.
                for await _ in released { break }
                return try await inner.submit(order)
            }))
        })
        let (outcomes, outcome) = AsyncStream<ExecutionOutcome>.makeStream()
        var seen: OpportunityHistory?
        await withDiscardingTaskGroup { executions in
            await harness.executor.take(ExecutorHarness.candidate(), in: &executions) { outcome.yield($0) }
            seen = try? harness.history()
            release.yield()
        }
        let history = try #require(seen)
        #expect(history.transitions.map(\.to) == [.detected, .inFlight])
        #expect(history.legs.map(\.clientOrderID) == [harness.store.clientOrderID(opportunity: 1, leg: .a),
                                                      harness.store.clientOrderID(opportunity: 1, leg: .b)])
        var next = outcomes.makeAsyncIterator()
        #expect(await next.next() == .closed(.hedged))
        #expect(try harness.history().transitions.last?.to == .closed(.hedged))
    }

    @Test("a refused candidate ends in take itself: finished gets the outcome, no child task runs")
    func takeEndsARefusal() async throws {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        try harness.store.halt(reason: "test", atMilliseconds: SystemClock().nowMilliseconds())
        let (outcomes, outcome) = AsyncStream<ExecutionOutcome>.makeStream()
        await withDiscardingTaskGroup { executions in
            await harness.executor.take(ExecutorHarness.candidate(), in: &executions) { outcome.yield($0) }
        }
        outcome.finish()
        var ended: [ExecutionOutcome] = []
        for await one in outcomes { ended.append(one) }
        #expect(ended.count == 1)
        guard case .skipped = ended.first else {
            Issue.record("halted: expected one skipped outcome, got \(ended)")
            return
        }
        #expect(try harness.store.history(of: 1) == nil)
    }

    @Test("under real time a paper venue's submit runs on its own thread, at SCHED_BATCH; the thread ends with the venue")
    func paperSubmitThread() async throws {
        let directory = TemporaryDirectory()
        var venue: PaperVenue? = try PaperVenue(name: "kalshi", path: directory.path("paper.db"), fillModel: quietModel,
                                                feeModel: .free, runSeed: 1, clock: SystemClock())
        let released: @Sendable () -> PaperVenueThread?
        do {
            let thread = try #require(venue?.submitThread)
            let request = OrderRequest(clientOrderID: "arb-test-1-a", instrument: "K-1", side: .buy, limitPrice: Price(ticks: 4_500)!,
                                       quantity: Quantity(contracts: 1), timeInForce: .ioc)
            let ack = try await venue!.submit(venue!.prepare(request))
            #expect(ack.order.status == .filled)
            #expect(thread.jobsRun >= 1)
            #expect(thread.policy == 3)  // SCHED_BATCH
            weak let weakThread = thread
            released = { weakThread }
        }
        venue = nil
        let deadline = Date().addingTimeInterval(5)
        while released() != nil, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(released() == nil, "the venue's thread still runs after the venue was released")
    }

    @Test("under the simulator's clock a paper venue has no thread of its own: every job stays on the virtual executor")
    func paperSubmitThreadUnderSimulation() throws {
        let directory = TemporaryDirectory()
        let clock = VirtualClock(executor: VirtualTimeExecutor(seed: 1))
        let venue = try PaperVenue(name: "kalshi", path: directory.path("paper.db"), fillModel: quietModel,
                                   feeModel: .free, runSeed: 1, clock: clock)
        #expect(venue.submitThread == nil)
    }
}

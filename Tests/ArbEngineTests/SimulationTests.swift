import ArbTestSupport
import ArbEngine
import Foundation
import Logging
import OrderStateMachine
import Synchronization
import Testing

@Suite("Deterministic simulation", .serialized, .exclusive)
struct SimulationTests {
    /// The summary without the wall-clock part, which is all that may differ between runs.
    static func withoutTiming(_ output: String) -> String {
        output.replacingOccurrences(of: #"in [0-9.]+ s \([0-9]+/min\)"#, with: "", options: .regularExpression)
    }

    @Test("2,000 seeded scenarios hold every invariant after every step")
    func twoThousandScenarios() throws {
        let result = try runProduct("arb", ["simulate", "--seed", "20261125", "--scenarios", "2000"], timeoutSeconds: 280)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr.suffix(2_000))")
        #expect(result.stdout.contains("2000 scenarios"))
        #expect(result.stdout.contains("invariants held after every step"))
        // Every kind of fault was exercised.
        for point in FaultPoint.simulated { #expect(result.stdout.contains(point.rawValue), "\(point.rawValue) never crashed") }
        #expect(!result.stdout.contains("venue outages during recovery 0,"))
        // Several opportunities at once, the dispatcher and the lease heartbeat all ran.
        #expect(Self.count(in: result.stdout, after: "concurrent scenarios ") > 100, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "duplicates refused ") > 0, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "heartbeats ") > 0, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "alerts delivered ") > 0, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "lease taken over ") > 0, "\(result.stdout)")
        // Unwinding ran (issue 14): both ways of closing an exposure, orders placed, and the loop
        // cut by market blocks whose candidates were skipped.
        #expect(Self.count(in: result.stdout, after: "completed ") > 0, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "flattened ") > 0, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "unwind orders ") > 100, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "markets blocked after too many unwinds ") > 0, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "candidates skipped on a blocked market ") > 0, "\(result.stdout)")
    }

    /// Runs the simulator in this process with `decide` as the unwind policy.
    static func simulate(seed: UInt64, scenarios: Int, decide: @escaping UnwindContext.Decide) async throws -> SimulationReport {
        let directory = TemporaryDirectory()
        let executor = VirtualTimeExecutor(seed: seed)
        let clock = VirtualClock(executor: executor)
        let logger = Logger(label: "test.simulate", factory: { _ in SwiftLogNoOpLogHandler() })
        // Started as a task on the executor (as `arb simulate` does), so the run begins on the virtual thread.
        return try await Task(executorPreference: executor) {
            try await Simulator.run(seed: seed, scenarios: scenarios, directory: directory.path("sim"), clock: clock, logger: logger,
                                    unwindDecide: decide)
        }.value
    }

    @Test("a deliberately broken unwind policy (its limit two cents past the bound, claimed as the bound) is caught by the auditor's loss invariant; the real one, same seed, passes")
    func brokenUnwindPolicyIsCaught() async throws {
        let broken: UnwindContext.Decide = { policy, exposure, candidates, attempt, attempts in
            guard case .place(var order) = UnwindPolicy.decide(policy: policy, exposure: exposure, candidates: candidates,
                                                                attempt: attempt, attempts: attempts) else {
                return UnwindPolicy.decide(policy: policy, exposure: exposure, candidates: candidates, attempt: attempt, attempts: attempts)
            }
            let past = order.action == .complete ? min(9_999, order.bound.ticks + 200) : max(1, order.bound.ticks - 200)
            order.limit = Price(ticks: past) ?? order.limit
            order.bound = order.limit
            return .place(order)
        }
        let caught = try await Self.simulate(seed: 11, scenarios: 150, decide: broken)
        #expect(!caught.passed)
        #expect(caught.violations.contains { $0.contains("10: opportunity") && $0.contains("more than its budget") }, "\(caught.violations)")
        let sound = try await Self.simulate(seed: 11, scenarios: 150, decide: UnwindPolicy.decide)
        #expect(sound.passed, "\(sound.violations)")
        #expect(sound.unwindOrders > 0)
    }

    /// The integer printed right after `label`, or -1.
    static func count(in output: String, after label: String) -> Int {
        guard let range = output.range(of: label) else { return -1 }
        return Int(output[range.upperBound...].prefix { $0.isNumber }) ?? -1
    }

    @Test("--kill-every: children die by SIGKILL mid-scenario, the next recovers the hot WAL, the audit holds")
    func killedChildren() throws {
        let directory = TemporaryDirectory()
        let run = directory.path("sim")
        let result = try runProduct("arb", ["simulate", "--seed", "5", "--scenarios", "200", "--kill-every", "20",
                                            "--directory", run], timeoutSeconds: 200)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr.suffix(2_000))")
        #expect(result.stdout.contains("200 scenarios"))
        #expect(result.stdout.contains("invariants held after every step"))
        let kills = Self.count(in: result.stdout, after: "children killed with SIGKILL ")
        #expect(kills > 3, "\(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "after SIGKILLs: ") == kills, "every kill left a hot WAL: \(result.stdout)")
        #expect(Self.count(in: result.stdout, after: "files recovered, ") > 0, "no kill caught an open opportunity: \(result.stdout)")
        // The files are the run's: the auditor agrees from outside.
        let paper = ["kalshi": run + "/paper-kalshi.db", "polymarket": run + "/paper-polymarket.db"]
        let violations = try Invariants.check(databasePath: run + "/arb.db", paperFiles: paper,
                                              options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
        let refused = try runProduct("arb", ["simulate", "--kill-every", "1"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--kill-every must be at least 2"), "\(refused.stderr)")
    }

    @Test("the seed chooses the interleaving: one seed, one order of runnable tasks; seeds differ")
    func seededScheduling() async throws {
        func order(seed: UInt64) async -> [Int] {
            let executor = VirtualTimeExecutor(seed: seed)
            return await withTaskExecutorPreference(executor) {
                let log = OrderLog()
                await withTaskGroup(of: Void.self) { group in
                    for task in 0..<8 {
                        group.addTask {
                            for step in 0..<3 {
                                log.append(task * 10 + step)
                                await Task.yield()
                            }
                        }
                    }
                }
                return log.entries
            }
        }
        let first = await order(seed: 1)
        #expect(first.count == 24)
        #expect(await order(seed: 1) == first)
        var others: Set<[Int]> = []
        for seed in 2...6 { others.insert(await order(seed: UInt64(seed))) }
        #expect(others.contains { $0 != first }, "every seed ran the tasks in the same order")
        // Each task's own steps stay in order whatever the interleaving.
        for task in 0..<8 {
            #expect(first.filter { $0 / 10 == task } == [task * 10, task * 10 + 1, task * 10 + 2])
        }
    }

    @Test("every job of a run is on the simulation's own thread: its start is the one job from another thread")
    func jobsStayOnTheExecutor() async throws {
        let directory = TemporaryDirectory()
        let executor = VirtualTimeExecutor(seed: 11)
        let clock = VirtualClock(executor: executor)
        let logger = Logger(label: "test.simulate", factory: { _ in SwiftLogNoOpLogHandler() })
        let report = try await Task(executorPreference: executor) {
            try await Simulator.run(seed: 11, scenarios: 150, directory: directory.path("sim"), clock: clock, logger: logger)
        }.value
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(executor.jobsFromOtherThreads == 1)
        // A job resumed from another thread is counted, and the run says so.
        let otherExecutor = VirtualTimeExecutor(seed: 11)
        let otherClock = VirtualClock(executor: otherExecutor)
        let broken = try await Task(executorPreference: otherExecutor) {
            await Task.detached { try? await Task.sleep(for: .milliseconds(20)) }.value  // resumes this task from a pool thread
            return try await Simulator.run(seed: 11, scenarios: 5, directory: directory.path("sim2"), clock: otherClock, logger: logger)
        }.value
        #expect(otherExecutor.jobsFromOtherThreads >= 2)
        #expect(broken.violations.contains { $0.contains("from another thread") }, "\(broken.violations)")
    }

    @Test("one seed, one run: the same seed gives the same report; another seed does not")
    func deterministic() throws {
        let first = try runProduct("arb", ["simulate", "--seed", "99", "--scenarios", "300"])
        let second = try runProduct("arb", ["simulate", "--seed", "99", "--scenarios", "300"])
        let other = try runProduct("arb", ["simulate", "--seed", "100", "--scenarios", "300"])
        #expect(first.status == 0 && second.status == 0 && other.status == 0)
        #expect(Self.withoutTiming(first.stdout) == Self.withoutTiming(second.stdout))
        #expect(Self.withoutTiming(first.stdout) != Self.withoutTiming(other.stdout))
    }

    @Test("the auditor catches an order the database cannot name and a fill it lost")
    func auditorCatchesViolations() throws {
        let directory = TemporaryDirectory()
        let run = directory.path("sim")
        let result = try runProduct("arb", ["simulate", "--seed", "5", "--scenarios", "60", "--directory", run])
        #expect(result.status == 0, "\(result.stdout)")
        let paper = ["kalshi": run + "/paper-kalshi.db", "polymarket": run + "/paper-polymarket.db"]
        let clean = try Invariants.check(databasePath: run + "/arb.db", paperFiles: paper,
                                         options: .init(requireAllClosed: true, sinks: []))
        #expect(clean.isEmpty, "\(clean)")

        // An order at a venue that no leg names (invariant 1).
        let kalshi = try Connection(path: paper["kalshi"]!, mode: .readWrite)
        try kalshi.execute("""
            INSERT INTO paper_orders (client_order_id, venue_order_id, instrument, side, price, quantity, filled_quantity,
                status, time_in_force, fate, created_at_ms, updated_at_ms)
            SELECT 'arb-orphan-1-a', 'kalshi-orphan', instrument, side, price, quantity, filled_quantity, status,
                time_in_force, fate, created_at_ms, updated_at_ms FROM paper_orders LIMIT 1
            """)
        // A leg whose recorded fills disagree with the venue (invariant 6).
        let trader = try Connection(path: run + "/arb.db", mode: .readWrite)
        try trader.execute("""
            UPDATE legs SET filled_quantity = filled_quantity - 1
            WHERE id = (SELECT id FROM legs WHERE filled_quantity > 0 ORDER BY id LIMIT 1)
            """)
        let violations = try Invariants.check(databasePath: run + "/arb.db", paperFiles: paper,
                                              options: .init(requireAllClosed: true, sinks: []))
        #expect(violations.contains { $0.hasPrefix("1: kalshi order arb-orphan-1-a maps to 0 legs") }, "\(violations)")
        #expect(violations.contains { $0.hasPrefix("6: leg ") }, "\(violations)")
    }
}

/// What the tasks of `seededScheduling` did, in the order they did it.
final class OrderLog: Sendable {
    private let state = Mutex<[Int]>([])
    func append(_ value: Int) { state.withLock { $0.append(value) } }
    var entries: [Int] { state.withLock { $0 } }
}

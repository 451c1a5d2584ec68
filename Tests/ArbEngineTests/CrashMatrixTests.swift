import ArbEngine
import Foundation
import Testing

/// For every fault point: run the built `arb` on the demo until it dies there (`_exit(137)`, like
/// kill -9), run it again without the fault, and check DESIGN §8's invariants 1–6 against the
/// trader database and both paper venue files.
@Suite("Crash matrix", .serialized, .exclusive)
struct CrashMatrixTests {
    @Test("arb run crashed at each fault point recovers on restart with every invariant intact",
          arguments: FaultPoint.allCases)
    func crashAndRecover(point: FaultPoint) throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let crashed = try runProduct("arb", ["run", "--db", db, "--seed", "7", "--duration", "6", "--log-level", "error"],
                                     environment: ["ARB_CRASH_AT": point.rawValue])
        #expect(crashed.status == 137, "expected to die at \(point.rawValue); exit \(crashed.status): \(crashed.stderr.suffix(500))")

        let restarted = try runProduct("arb", ["run", "--db", db, "--seed", "8", "--duration", "0.5", "--log-level", "error"])
        #expect(restarted.status == 0, "restart failed: \(restarted.stderr.suffix(800))")
        #expect(restarted.stdout.contains("recovery at start:"))

        let violations = try Invariants.check(
            databasePath: db,
            paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
            options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "after \(point.rawValue): \(violations.prefix(10))")
    }
}

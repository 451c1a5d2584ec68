import ArbTestSupport
import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

/// Whether this build's `arbadmin` is the real one (branch `admin`), not the placeholder that only
/// prints its version: its `reconcile --help` documents `--db`.
let arbadminAvailable: Bool = {
    let process = Process()
    process.executableURL = builtProductsDirectory().appendingPathComponent("arbadmin")
    process.arguments = ["reconcile", "--help"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    guard (try? process.run()) != nil else { return false }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return process.terminationStatus == 0 && text.contains("--db")
}()

/// DESIGN §9 across processes: one trader per database file, whoever starts first and however
/// close together they start; operators' tools beside a running trader.
@Suite("Concurrency: traders and tools on one database", .serialized, .exclusive)
struct ConcurrencyTests {
    @Test("four traders started at once on a database that does not exist yet: exactly one trades, no orphan orders",
          arguments: 1...3)
    func racingToCreate(trial: Int) async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let traders = try (0..<4).map { index in
            try startBuiltArb(["run", "--db", db, "--seed", "\(trial * 10 + index)", "--duration", "0.5", "--log-level", "error"])
        }
        var results: [ProcessOutput] = []
        for trader in traders { results.append(try await trader.wait(seconds: 30)) }
        let winners = results.filter { $0.status == 0 && !$0.terminatedBySignal }
        #expect(winners.count == 1, "\(winners.count) traders ran on one database: \(results.map(\.status))")
        for loser in results where loser.status != 0 {
            expectOneLineRefusal(loser, status: 1, mentions: ["another trader holds \(db)"])
        }
        // A trader that ran on a file replaced under it would have sent orders that the database
        // cannot name (invariant 1).
        let violations = try Invariants.check(
            databasePath: db,
            paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
            options: .init(requireAllClosed: false, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations.prefix(10))")
    }

    @Test("a process that lost the race to create the database opens the winner's file instead of replacing it")
    func creationRaceLoserKeepsWinnersFile() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let winner = try Store(path: db)
        // The loser saw no file, built its own, and now puts it in place.
        try SQLiteFileCreation.create(path: db) { try DatabaseFile.initialize($0, databaseID: "10sec0de") }
        #expect(try Store(path: db, access: .existing).databaseID == winner.databaseID)
        #expect(!FileManager.default.fileExists(atPath: db + ".creating-\(getpid())"), "the loser's file is cleaned up")
    }

    @Test("a running trader, then `arbadmin reconcile` on its database: refused, naming the holder",
          .enabled(if: arbadminAvailable, "needs arbadmin (branch admin)"))
    func reconcileRefusedWhileTrading() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let trader = try startBuiltArb(["run", "--db", db, "--duration", "20", "--log-level", "error"])
        #expect(await leaseHolder(of: db)?.pid == trader.pid)
        let reconcile = try await runBuilt("arbadmin", ["reconcile", "--db", db], timeoutSeconds: 30)
        expectNoTrap(reconcile)
        #expect(reconcile.status != 0, "reconcile ran beside a live trader: \(reconcile.stdout)")
        #expect(reconcile.stderr.contains("\(trader.pid)"), "the refusal does not name the holder: \(reconcile.stderr)")
        #expect(try Store(path: db, access: .readOnly).currentLease()?.pid == trader.pid, "the lease was not taken")
        kill(trader.pid, SIGTERM)
        let ended = try await trader.wait(seconds: 15)
        #expect(ended.status == 0 && !ended.terminatedBySignal)
    }

    @Test("a running trader, then `arbadmin list` on its database: works, read-only, while the trader writes",
          .enabled(if: arbadminAvailable, "needs arbadmin (branch admin)"))
    func listWhileTrading() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let trader = try startBuiltArb(["run", "--db", db, "--duration", "20", "--seed", "4", "--log-level", "error"])
        #expect(await leaseHolder(of: db) != nil)
        // Each read happens while the trader is writing: after it has recorded something new.
        func recorded() -> Int64 {
            (try? Store(path: db, access: .readOnly).connection.prepare("SELECT count(*) FROM transitions").queryOne { $0.int64(0) }) ?? 0
        }
        var seen: Int64 = 0
        for _ in 0..<3 {
            let before = seen
            #expect(await waitUntil { recorded() > before }, "the trader recorded nothing new")
            seen = recorded()
            let table = try await runBuilt("arbadmin", ["list", "--db", db], timeoutSeconds: 30)
            expectNoTrap(table)
            #expect(table.status == 0, "\(table.stderr)")
            let json = try await runBuilt("arbadmin", ["list", "--db", db, "--json"], timeoutSeconds: 30)
            #expect(json.status == 0, "\(json.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) is [Any], "not a JSON array: \(json.stdout.prefix(300))")
        }
        #expect(trader.isRunning, "the trader stopped while arbadmin read its database")
        kill(trader.pid, SIGTERM)
        let ended = try await trader.wait(seconds: 15)
        #expect(ended.status == 0 && !ended.terminatedBySignal)
    }
}


import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

/// Whether this build's `arbadmin` is the real one (branch `admin`), not the placeholder that only
/// prints its version: its `reconcile --help` documents `--db`.
let arbadminAvailable: Bool = {
    guard let help = try? runBuilt("arbadmin", ["reconcile", "--help"], timeoutSeconds: 20) else { return false }
    return help.status == 0 && (help.stdout + help.stderr).contains("--db")
}()

/// DESIGN §9 across processes: one trader per database file, whoever starts first and however
/// close together they start; operators' tools beside a running trader.
@Suite("Concurrency: traders and tools on one database", .serialized)
struct ConcurrencyTests {
    @Test("four traders started at once on a database that does not exist yet: exactly one trades, no orphan orders",
          arguments: 1...3)
    func racingToCreate(trial: Int) throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let results = try (0..<4).map { index in
            try startArbCapturing(["run", "--db", db, "--seed", "\(trial * 10 + index)", "--duration", "0.5", "--log-level", "error"],
                                  directory: directory, name: "trader-\(index)")
        }.map { try $0.wait(seconds: 30) }
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
    func creationRaceLoserKeepsWinnersFile() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let winner = try Store(path: db)
        // The loser saw no file, built its own, and now puts it in place.
        try DatabaseFile.create(path: db, databaseID: "10sec0de")
        #expect(try Store(path: db, access: .existing).databaseID == winner.databaseID)
        #expect(!FileManager.default.fileExists(atPath: db + ".creating-\(getpid())"), "the loser's file is cleaned up")
    }

    @Test("a running trader, then `arbadmin reconcile` on its database: refused, naming the holder",
          .enabled(if: arbadminAvailable, "needs arbadmin (branch admin)"))
    func reconcileRefusedWhileTrading() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let trader = try startArb(["run", "--db", db, "--duration", "20", "--log-level", "error"], output: directory.path("trader.out"))
        defer { if trader.isRunning { kill(trader.processIdentifier, SIGKILL) } }
        #expect(waitForLease(db)?.pid == trader.processIdentifier)
        let reconcile = try runBuilt("arbadmin", ["reconcile", "--db", db], timeoutSeconds: 30)
        expectNoTrap(reconcile)
        #expect(reconcile.status != 0, "reconcile ran beside a live trader: \(reconcile.stdout)")
        #expect(reconcile.stderr.contains("\(trader.processIdentifier)"), "the refusal does not name the holder: \(reconcile.stderr)")
        #expect(try Store(path: db, access: .readOnly).currentLease()?.pid == trader.processIdentifier, "the lease was not taken")
        trader.terminate()
        #expect(waitForExit(trader, seconds: 15))
        #expect(trader.terminationStatus == 0)
    }

    @Test("a running trader, then `arbadmin list` on its database: works, read-only, while the trader writes",
          .enabled(if: arbadminAvailable, "needs arbadmin (branch admin)"))
    func listWhileTrading() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let trader = try startArb(["run", "--db", db, "--duration", "20", "--seed", "4", "--log-level", "error"],
                                  output: directory.path("trader.out"))
        defer { if trader.isRunning { kill(trader.processIdentifier, SIGKILL) } }
        #expect(waitForLease(db) != nil)
        usleep(1_000_000)
        for _ in 0..<3 {
            let table = try runBuilt("arbadmin", ["list", "--db", db], timeoutSeconds: 30)
            expectNoTrap(table)
            #expect(table.status == 0, "\(table.stderr)")
            let json = try runBuilt("arbadmin", ["list", "--db", db, "--json"], timeoutSeconds: 30)
            #expect(json.status == 0, "\(json.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) is [Any], "not a JSON array: \(json.stdout.prefix(300))")
            usleep(200_000)
        }
        #expect(trader.isRunning, "the trader stopped while arbadmin read its database")
        trader.terminate()
        #expect(waitForExit(trader, seconds: 15))
        #expect(trader.terminationStatus == 0)
    }
}

/// A started `arb` whose stdout and stderr go to files in `directory`.
struct StartedArb {
    let process: Process
    let stdout: String
    let stderr: String

    /// Waits (bounded; SIGKILL after `seconds`) and collects the output.
    func wait(seconds: Double) throws -> ProcessOutput {
        if !waitForExit(process, seconds: seconds) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return ProcessOutput(
            status: process.terminationStatus, terminatedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")
    }
}

func startArbCapturing(_ arguments: [String], directory: TemporaryDirectory, name: String,
                       environment: [String: String] = [:]) throws -> StartedArb {
    let process = Process()
    process.executableURL = builtProductsDirectory().appendingPathComponent("arb")
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["ARB_CRASH_AT"] = nil
    env["ARB_WEBHOOK_URL"] = nil
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = directory.path("\(name).out")
    let err = directory.path("\(name).err")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    try process.run()
    return StartedArb(process: process, stdout: out, stderr: err)
}

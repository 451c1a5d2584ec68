import ArbTestSupport
import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

/// Starts the built `arb` without waiting for it.
func startArb(_ arguments: [String], output: String) throws -> Process {
    let process = Process()
    process.executableURL = builtProductsDirectory().appendingPathComponent("arb")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["ARB_CRASH_AT"] = nil
    process.environment = environment
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Waits (bounded) until `arb run` holds the lease on `db`.
func waitForLease(_ db: String, seconds: Double = 20) -> LeaseHolder? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let store = try? Store(path: db, access: .readOnly), let holder = try? store.currentLease() { return holder }
        usleep(50_000)
    }
    return nil
}

func waitForExit(_ process: Process, seconds: Double) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    return !process.isRunning
}

@Suite("arb run as a process", .serialized, .exclusive)
struct TraderProcessTests {
    @Test("every demo run shows a one-sided fill with its alert (then closed one_sided, or unwound), whatever the seed", arguments: [UInt64(3), 40, 977])
    func demoAlwaysShowsOneSided(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let result = try runProduct("arb", ["run", "--db", db, "--duration", "2", "--seed", "\(seed)", "--log-level", "error"])
        #expect(result.status == 0, "\(result.stderr)")
        let store = try Store(path: db, access: .readOnly)
        let oneSided = try store.connection.prepare(
            "SELECT id FROM opportunities WHERE outcome IN ('one_sided', 'completed', 'flattened') ORDER BY id"
        ).query { $0.int64(0) }
        let first = try #require(oneSided.first, "seed \(seed): no one-sided opportunity in \(result.stdout)")
        #expect(try store.alerts(of: first).contains { $0.kind == "one_sided" })
        // The demo unwinds: its summary's line agrees with the database, and shows at least one.
        func count(_ sql: String) throws -> Int64 { try store.connection.prepare(sql).queryOne { $0.int64(0) } ?? -1 }
        let completed = try count("SELECT count(*) FROM opportunities WHERE outcome = 'completed'")
        let flattened = try count("SELECT count(*) FROM opportunities WHERE outcome = 'flattened'")
        let gaveUp = try count("SELECT count(*) FROM opportunities o WHERE outcome = 'one_sided' "
            + "AND EXISTS (SELECT 1 FROM unwind_orders u WHERE u.opportunity_id = o.id)")
        #expect(completed + flattened + gaveUp >= 1, "seed \(seed): no unwind in \(result.stdout)")
        #expect(result.stdout.contains("unwinds:              \(completed) completed, \(flattened) flattened, \(gaveUp) gave up; "),
                "\(result.stdout)")
        let violations = try Invariants.check(
            databasePath: db,
            paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
            options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations.prefix(5))")
    }

    @Test("a second trader on the same database is refused, naming the holder")
    func secondTraderRefused() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let first = try startArb(["run", "--db", db, "--duration", "20", "--log-level", "error"], output: directory.path("first.out"))
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        let holder = try #require(waitForLease(db))
        #expect(holder.pid == first.processIdentifier)
        let second = try runProduct("arb", ["run", "--db", db, "--duration", "1"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another trader holds \(db)"))
        #expect(second.stderr.contains("pid \(first.processIdentifier)"))
        #expect(second.stderr.split(separator: "\n").count == 1)
        first.terminate()
        #expect(waitForExit(first, seconds: 15))
    }

    @Test("arb run and arbadmin reconcile share one lease rule: a stale holder that cannot be proven dead needs --force")
    func staleLeaseNeedsForce() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let now = SystemClock().nowMilliseconds()
        // A trader on another machine (its pid cannot be probed from here), last seen a minute ago.
        let remote = LeaseHolder(owner: "arb run", pid: 4242, host: "trader-2.example", startedAtMilliseconds: now - 120_000,
                                 heartbeatAtMilliseconds: now - 60_000)
        do {
            let store = try Store(path: db)
            #expect(try store.acquireLease(remote, mayTakeOver: { _ in false }) == .acquired)
        }
        let refused = try runProduct("arb", ["run", "--db", db, "--duration", "1", "--log-level", "error"])
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("pid 4242 on trader-2.example") && refused.stderr.contains("run again with --force"),
                "\(refused.stderr)")
        #expect(try Store(path: db, access: .readOnly).currentLease() == remote)

        let forced = try runProduct("arb", ["run", "--db", db, "--duration", "1", "--force", "--log-level", "warning"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("took over the lease of"), "\(forced.stderr)")
        #expect(try Store(path: db, access: .readOnly).currentLease() == nil, "released on a clean exit")
    }

    @Test("SIGTERM mid-run: detection stops, in-flight opportunities finish, exit 0, nothing left open")
    func sigtermDrains() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let trader = try startArb(["run", "--db", db, "--duration", "30", "--seed", "5", "--log-level", "error"],
                                  output: directory.path("out"))
        defer { if trader.isRunning { kill(trader.processIdentifier, SIGKILL) } }
        #expect(waitForLease(db) != nil)
        // SIGTERM once the trader is trading (it has sent an opportunity), not after a guessed delay.
        let deadline = Date().addingTimeInterval(30)
        var sent: Int64 = 0
        while sent == 0, trader.isRunning, Date() < deadline {
            sent = (try? Store(path: db, access: .readOnly).connection
                .prepare("SELECT count(*) FROM transitions WHERE to_state = 'InFlight'").queryOne { $0.int64(0) }) ?? 0
            if sent == 0 { usleep(10_000) }
        }
        #expect(sent > 0 && trader.isRunning, "the trader sent nothing before the SIGTERM")
        trader.terminate()
        #expect(waitForExit(trader, seconds: 15), "arb did not stop within 15 s of SIGTERM")
        #expect(trader.terminationReason == .exit && trader.terminationStatus == 0)
        let summary = (try? String(contentsOfFile: directory.path("out"), encoding: .utf8)) ?? ""
        #expect(summary.contains("arb run summary"))
        let violations = try Invariants.check(
            databasePath: db,
            paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
            options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations.prefix(5))")
        #expect(try Store(path: db, access: .readOnly).currentLease() == nil, "the lease is released on a clean exit")
    }

    @Test("replaying a quote file trades its crossing pair, and bad lines are counted and skipped")
    func replay() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let file = directory.path("quotes.jsonl")
        let lines = [
            #"{"ts_ms": 1000, "venue": "kalshi", "instrument": "KXFED-25DEC-CUT-YES", "bid": "0.40", "bid_size": "10", "ask": "0.42", "ask_size": "10"}"#,
            #"not json"#,
            #"{"ts_ms": 1001, "venue": "kalshi", "instrument": "NOPE", "bid": "0.40", "bid_size": "10", "ask": "0.42", "ask_size": "10"}"#,
            #"{"ts_ms": 1002, "venue": "polymarket", "instrument": "PM-FED-DEC-CUT-NO", "bid": "0.50", "bid_size": "10", "ask": "1.5", "ask_size": "10"}"#,
            #"{"ts_ms": 1003, "venue": "polymarket", "instrument": "PM-FED-DEC-CUT-NO", "bid": "0.50", "bid_size": "10", "ask": "0.52", "ask_size": "10"}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let config = TraderConfig.demo()
        let fed = try #require(config.events.first { $0.eventID == "FED-DEC-CUT" })
        // The file must use the demo's real instrument names.
        #expect(fed.instruments["kalshi"]?.values.contains("KXFED-25DEC-CUT-YES") == true,
                "demo instruments changed: \(fed.instruments)")
        #expect(fed.instruments["polymarket"]?.values.contains("PM-FED-DEC-CUT-NO") == true)
        let result = try runProduct("arb", ["run", "--db", db, "--market-data", file, "--log-level", "warning"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("quotes:               2 (3 skipped), candidates 1"), "\(result.stdout)")
        #expect(result.stderr.contains("line 2"))
        let store = try Store(path: db, access: .readOnly)
        #expect(try store.opportunity(1)?.dedupKey.hasPrefix("FED-DEC-CUT|") == true)
    }

    @Test("bad input is one line and a usage exit: a bad config, an unknown fault point, a foreign database")
    func badInput() throws {
        let directory = TemporaryDirectory()
        let config = directory.path("bad.json")
        try #"{"database": 7}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let badConfig = try runProduct("arb", ["run", "--config", config])
        #expect(badConfig.status == 2)
        #expect(badConfig.stderr.hasPrefix("arb: config:") && badConfig.stderr.split(separator: "\n").count == 1)
        let fault = try runProduct("arb", ["run", "--db", directory.path("x.db")], environment: ["ARB_CRASH_AT": "never"])
        #expect(fault.status == 2 && fault.stderr.contains("ARB_CRASH_AT=never is not a fault point"))
        let text = directory.path("notes.db")
        try "my notes".write(toFile: text, atomically: true, encoding: .utf8)
        let foreign = try runProduct("arb", ["run", "--db", text, "--duration", "1"])
        #expect(foreign.status == 1 && foreign.stderr.contains("not an arb database"))
        #expect(try String(contentsOfFile: text, encoding: .utf8) == "my notes")
        #expect(!FileManager.default.fileExists(atPath: directory.path("paper-kalshi.db")), "nothing is created for a refused database")
    }
}

@Suite("Trader process: a stop signal while starting")
struct EarlyStopTests {
    /// Whether `pid` catches or ignores `signal` now (Linux's /proc status masks).
    static func handles(_ pid: Int32, signal: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let bit = UInt64(1) << UInt64(signal - 1)
        for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") || line.hasPrefix("SigIgn:") {
            if let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16), mask & bit != 0 { return true }
        }
        return false
    }

    @Test("SIGTERM while the trader waits for the database: recovery runs, nothing is traded, exit 0 with a summary")
    func sigtermWhileStarting() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let first = try runProduct("arb", ["run", "--db", db, "--duration", "0.2", "--log-level", "error"])
        #expect(first.status == 0, "\(first.stderr)")
        let traded = try Store(path: db, access: .readOnly).countsByState().values.reduce(0, +)

        // Hold the database's write lock: the next trader waits in its start (the busy timeout),
        // before its service group exists.
        let holder = try Connection(path: db, mode: .readWrite)
        try holder.execute("BEGIN IMMEDIATE")
        let trader = try startArb(["run", "--db", db, "--duration", "30", "--log-level", "error"], output: directory.path("out"))
        defer { if trader.isRunning { kill(trader.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(10)
        while !Self.handles(trader.processIdentifier, signal: SIGTERM), trader.isRunning, Date() < deadline { usleep(2_000) }
        #expect(Self.handles(trader.processIdentifier, signal: SIGTERM), "arb does not handle SIGTERM while starting")
        kill(trader.processIdentifier, SIGTERM)
        usleep(100_000)
        try holder.execute("ROLLBACK")

        #expect(waitForExit(trader, seconds: 20), "arb did not stop after SIGTERM")
        #expect(trader.terminationReason == .exit && trader.terminationStatus == 0,
                "\(trader.terminationReason == .uncaughtSignal ? "killed by signal \(trader.terminationStatus)" : "exit \(trader.terminationStatus)")")
        let summary = (try? String(contentsOfFile: directory.path("out"), encoding: .utf8)) ?? ""
        #expect(summary.contains("arb run summary"), "\(summary)")
        #expect(try Store(path: db, access: .readOnly).countsByState().values.reduce(0, +) == traded, "a stopped trader traded")
        #expect(try Store(path: db, access: .readOnly).currentLease() == nil, "the lease is released on a clean exit")
    }
}

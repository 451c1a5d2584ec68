import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

extension AdminCLITests {
    @Suite("reconcile")
    struct Reconcile {
        /// The demo with cancels that never fail: "venues reachable" then means every owed cancel
        /// lands, so reconcile can always finish (the demo's 15% failed cancels are a person's job).
        static func reliableConfig(_ directory: TemporaryDirectory) throws -> String {
            // Unwinding on, so the unwind's fault points are reached too.
            try writeConfig(directory, [("\"cancel_fail_percent\": 15", "\"cancel_fail_percent\": 0"),
                                        (TraderConfig.demoUnwindSection, #""unwind": {"policy": "best", "max_loss_per_contract": "0.50"}"#)])
        }

        @Test("after arb run dies at each fault point, reconcile exits 0 and leaves nothing non-terminal",
              arguments: FaultPoint.allCases)
        func afterCrash(point: FaultPoint) throws {
            let directory = TemporaryDirectory()
            let db = directory.path("arb.db")
            let config = try Self.reliableConfig(directory)
            // A long duration costs nothing when the point is reached (the crash ends the run); a
            // loaded machine makes fewer opportunities a second, so a rare point may take longer.
            let crashed = try runProduct("arb", ["run", "--config", config, "--db", db, "--seed", "7", "--duration", "30",
                                                 "--log-level", "error"],
                                         environment: ["ARB_CRASH_AT": point.rawValue], timeoutSeconds: 90)
            try #require(crashed.status == 137, "expected to die at \(point.rawValue): \(crashed.summary)")
            let open = try readStore(db) { try $0.nonTerminalOpportunities() }

            let plan = try arbadmin(["reconcile", "--config", config, "--db", db, "--dry-run", "--json"])
            #expect(plan.status == 0, "\(plan.summary)")
            #expect(try readStore(db) { try $0.nonTerminalOpportunities() } == open, "the dry run changed the database")

            let output = try arbadmin(["reconcile", "--config", config, "--db", db])
            #expect(output.status == 0, "after \(point.rawValue): \(output.summary)")
            #expect(output.stdout.contains("examined \(open.count) non-terminal"))
            #expect(output.stdout.hasSuffix("result: nothing left non-terminal\n"))
            // The trader died holding the lease; its process is gone, so reconcile took it over.
            #expect(output.stdout.contains("lease: took over from arb run pid"))
            for opportunity in open {
                #expect(output.stdout.contains("  #\(opportunity.id)  "), "no action reported for \(opportunity.id)")
            }
            #expect(try readStore(db) { try $0.nonTerminalOpportunities() }.isEmpty)
            #expect(try readStore(db) { try $0.currentLease() } == nil, "reconcile did not release the lease")
            let violations = try Invariants.check(
                databasePath: db,
                paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
                options: .init(requireAllClosed: true, sinks: ["file"]))
            #expect(violations.isEmpty, "after \(point.rawValue): \(violations.prefix(10))")

            let again = try arbadmin(["reconcile", "--config", config, "--db", db, "--json"])
            #expect(again.status == 0)
            #expect(try again.jsonObject()["examined"] as? Int == 0)
        }

        @Test("a leg whose venue is not configured needs a person: exit 1, listed with the reason, left as it was")
        func venueNotConfigured() throws {
            let directory = TemporaryDirectory()
            let db = directory.path("arb.db")
            let config = try Self.reliableConfig(directory)
            let crashed = try runProduct("arb", ["run", "--config", config, "--db", db, "--seed", "7", "--duration", "6",
                                                 "--log-level", "error"],
                                         environment: ["ARB_CRASH_AT": FaultPoint.afterInflightCommit.rawValue])
            try #require(crashed.status == 137, "\(crashed.summary)")
            let stuck = try #require(try readStore(db) { try $0.nonTerminalOpportunities() }.first)
            #expect(stuck.state == .inFlight)

            // The same demo, but its second venue is called something else: nothing can ask "polymarket".
            let renamed = try writeConfig(directory, name: "renamed.json", [("\"polymarket\"", "\"paperpoly\"")])
            let output = try arbadmin(["reconcile", "--config", renamed, "--db", db])
            #expect(output.status == 1, "\(output.summary)")
            #expect(output.stdout.contains("NEEDS A PERSON: 1 opportunity left non-terminal"))
            #expect(output.stdout.contains("  #\(stuck.id)  InFlight  venue polymarket is not configured — `arbadmin show \(stuck.id)`"))
            #expect(try readStore(db) { try $0.opportunity(stuck.id)?.state } == .inFlight)
            let json = try arbadmin(["reconcile", "--config", renamed, "--db", db, "--json"])
            #expect(json.status == 1)
            let findings = try #require(try json.jsonObject()["needs_attention"] as? [[String: Any]])
            #expect(findings.map { $0["opportunity_id"] as? Int } == [Int(stuck.id)])
            #expect(try json.jsonObject()["exit_code"] as? Int == 1)

            // With the right venues it finishes.
            let fixed = try arbadmin(["reconcile", "--config", config, "--db", db])
            #expect(fixed.status == 0, "\(fixed.summary)")
            #expect(try readStore(db) { try $0.opportunity(stuck.id)?.state } == .closed(.noFill))
        }

        @Test("refused while a live arb run holds the lease, naming it; read-only commands work meanwhile")
        func refusedWhileTrading() throws {
            let directory = TemporaryDirectory()
            let db = directory.path("arb.db")
            let config = try Self.reliableConfig(directory)
            let trader = try BackgroundTrader(["run", "--config", config, "--db", db, "--seed", "5", "--duration", "20",
                                               "--log-level", "error"], directory: directory)
            let leased = trader.waitFor(timeoutSeconds: 10) {
                (try? readStore(db) { try $0.currentLease() }).flatMap { $0 } != nil
            }
            try #require(leased, "the trader never took the lease: \(trader.stderr)")

            let bytesBefore = try readStore(db) { try $0.opportunitySummaries(.all).count }
            for arguments in [["reconcile"], ["reconcile", "--force"], ["reconcile", "--json"]] {
                let refused = try arbadmin(arguments + ["--db", db])
                #expect(refused.status == 1, "\(arguments): \(refused.summary)")
                #expect(refused.stderrLines.count == 1)
                #expect(refused.stderr.hasPrefix("arbadmin: another trader holds \(db): arb run pid \(trader.pid) on "), "\(refused.stderr)")
                #expect(refused.stderr.contains(", started 20") && refused.stderr.contains("stop it first"))
            }
            // The trader keeps its lease and keeps trading.
            #expect(try readStore(db) { try $0.currentLease()?.pid } == trader.pid)

            // Read-only commands work while it trades.
            for arguments in [["list", "--json"], ["status", "--json"], ["positions"], ["alerts"], ["export", "--format", "csv"]] {
                let output = try arbadmin(arguments + ["--db", db])
                #expect(output.status == 0, "\(arguments) while trading: \(output.summary)")
            }
            let status = try arbadmin(["status", "--db", db, "--json"]).jsonObject()
            let lease = try #require(status["lease"] as? [String: Any])
            #expect(lease["pid"] as? Int == Int(trader.pid) && lease["standing"] as? String == "live")
            let plan = try arbadmin(["reconcile", "--db", db, "--dry-run"])
            #expect(plan.status <= 1 && plan.stdout.contains("is trading: its in-flight opportunities show as if it had stopped"))
            #expect(try readStore(db) { try $0.opportunitySummaries(.all).count } >= bytesBefore)

            // Killed: its process is gone, so reconcile takes the lease over without --force.
            trader.kill9()
            let after = try arbadmin(["reconcile", "--config", config, "--db", db, "--json"])
            #expect(after.status == 0, "\(after.summary)")
            let taken = try #require(try after.jsonObject()["took_over_lease_from"] as? [String: Any])
            #expect(taken["pid"] as? Int == Int(trader.pid) && taken["standing"] as? String == "dead")
        }

        @Test("a stale lease from another host is taken over only with --force; a fresh one never")
        func staleLeaseNeedsForce() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let config = try Self.reliableConfig(directory)
            let now = SystemClock().nowMilliseconds()
            // A trader on another machine (its pid cannot be probed from here) last seen a minute ago.
            let store = try Store(path: db, access: .existing)
            let remote = LeaseHolder(owner: "arb run", pid: 4242, host: "trader-2.example", startedAtMilliseconds: now - 120_000,
                                     heartbeatAtMilliseconds: now - 60_000)
            #expect(try store.acquireLease(remote, mayTakeOver: { _ in false }) == .acquired)

            let refused = try arbadmin(["reconcile", "--config", config, "--db", db])
            #expect(refused.status == 1 && refused.stderrLines.count == 1, "\(refused.summary)")
            #expect(refused.stderr.contains("arb run pid 4242 on trader-2.example") && refused.stderr.contains("--force"))
            #expect(try store.currentLease() == remote)

            let forced = try arbadmin(["reconcile", "--config", config, "--db", db, "--force"])
            #expect(forced.status == 0, "\(forced.summary)")
            #expect(forced.stdout.contains("lease: took over from arb run pid 4242 on trader-2.example") && forced.stdout.contains("(stale)"))
            #expect(try store.currentLease() == nil)

            // A fresh heartbeat from another host is a live trader: --force does not override it.
            let fresh = LeaseHolder(owner: "arb run", pid: 4243, host: "trader-2.example", startedAtMilliseconds: now,
                                    heartbeatAtMilliseconds: SystemClock().nowMilliseconds())
            #expect(try store.acquireLease(fresh, mayTakeOver: { _ in false }) == .acquired)
            let live = try arbadmin(["reconcile", "--config", config, "--db", db, "--force"])
            #expect(live.status == 1 && live.stderr.contains("pid 4243") && live.stderr.contains("stop it first"))
        }
    }
}

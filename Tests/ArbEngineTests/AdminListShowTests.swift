import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

/// Every `arbadmin` test that runs the built binaries, in one serialized tree: they spawn `arb`
/// and `arbadmin` processes, and the timing-sensitive ones (halt, lease) must not compete with
/// each other for two cores.
@Suite("arbadmin (built binary)", .serialized, .exclusive)
struct AdminCLITests {}

extension AdminCLITests {
    @Suite("list, show, status, alerts, positions, --help")
    struct Reading {
        // MARK: - A database arb run produced

        @Test("list on an arb run database: an aligned table, newest first, one row per opportunity and a total")
        func listTableOnArbRun() async throws {
            let demo = try await AdminFixtures.demoRun.value
            let expected = try readStore(demo.db) { try $0.opportunitySummaries(.all) }
            try #require(expected.count >= 3, "the demo run produced too few opportunities to test with")

            let output = try arbadmin(["list", "--db", demo.db])
            #expect(output.status == 0, "\(output.summary)")
            #expect(output.stderr.isEmpty)
            let lines = output.stdoutLines
            #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true)
                .map(String.init) == ["ID", "AGE", "EVENT", "STATE", "EDGE", "BPS", "HEDGED", "EXPOSED", "EXPOSURE"])
            let rows = Array(lines.dropFirst().dropLast())
            #expect(rows.count == expected.count)
            // Newest first, and every row's columns line up under the header's.
            #expect(rows.compactMap { Int64($0.split(separator: " ").first ?? "") } == expected.map(\.opportunity.id))
            #expect(expected.map(\.opportunity.id) == expected.map(\.opportunity.id).sorted(by: >))
            let stateColumn = try #require(lines.first?.range(of: "STATE")).lowerBound.utf16Offset(in: lines[0])
            for (row, summary) in zip(rows, expected) {
                let text = row.utf16.dropFirst(stateColumn)
                #expect(String(text)?.hasPrefix(summary.opportunity.stateText) == true, "misaligned: \(row)")
                #expect(row.contains(" ago"), "no age in \(row)")
                #expect(row.contains(summary.opportunity.eventID))
            }
            #expect(lines.last?.hasPrefix("\(expected.count) opportunities; not flattened:") == true)
        }

        @Test("list --json on an arb run database: snake_case keys, ISO 8601 UTC times, exact decimals")
        func listJSONOnArbRun() async throws {
            let demo = try await AdminFixtures.demoRun.value
            let expected = try readStore(demo.db) { try $0.opportunitySummaries(.all) }
            let output = try arbadmin(["list", "--db", demo.db, "--json"])
            #expect(output.status == 0, "\(output.summary)")
            let array = try output.jsonArray()
            #expect(array.count == expected.count)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            for (object, summary) in zip(array, expected) {
                let opportunity = summary.opportunity
                for key in ["id", "dedup_key", "event_id", "state", "outcome", "edge_bps", "created_at", "updated_at",
                            "exposed_quantity", "hedged_quantity", "exposure_usd", "flattened"] {
                    #expect(object[key] != nil, "missing \(key)")
                }
                #expect((object["id"] as? NSNumber)?.int64Value == opportunity.id)
                #expect(object["dedup_key"] as? String == opportunity.dedupKey)
                #expect(object["state"] as? String == opportunity.state.name)
                #expect((object["outcome"] as? String) == opportunity.state.outcome?.rawValue)
                #expect((object["edge_bps"] as? NSNumber)?.int64Value == opportunity.edgeBps)
                let created = try #require(formatter.date(from: object["created_at"] as? String ?? ""))
                #expect(Int64((created.timeIntervalSince1970 * 1_000).rounded()) == opportunity.createdAtMilliseconds)
                #expect((object["created_at"] as? String)?.hasSuffix("Z") == true)
                #expect(object["exposed_quantity"] as? String == Exposure(summary).exposed.description)
                #expect(object["exposure_usd"] as? String == Exposure(summary).atRisk.decimalString)
            }
        }

        @Test("status on an arb run database: halt state, no lease after a clean exit, counts by state")
        func statusOnArbRun() async throws {
            let demo = try await AdminFixtures.demoRun.value
            let counts = try readStore(demo.db) { try $0.countsByState() }
            let output = try arbadmin(["status", "--db", demo.db, "--json"])
            #expect(output.status == 0, "\(output.summary)")
            let object = try output.jsonObject()
            #expect(object["halted"] as? Bool == false)
            #expect(object["lease"] is NSNull)
            let shown = try #require(object["counts"] as? [String: Int])
            #expect(shown == Dictionary(uniqueKeysWithValues: counts.map { ($0.key.description, $0.value) }))
            let text = try arbadmin(["status", "--db", demo.db])
            #expect(text.stdout.contains("halt        not halted"))
            #expect(text.stdout.contains("lease       none"))
        }

        // MARK: - Executor scenarios

        @Test("list filters: --one-sided, --state, --outcome, --since, --limit and their combinations")
        func listFilters() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let all = try readStore(scenarios.db) { try $0.opportunitySummaries(.all).map(\.opportunity) }
            try #require(all.map(\.id) == [5, 4, 3, 2, 1])
            try #require(all.map(\.eventID) == ["EV-STUCK", "EV-NOFILL", "EV-PARTIAL", "EV-REJECTED", "EV-HEDGED"])
            try #require(!all[0].state.isTerminal, "EV-STUCK should be left for a person, is \(all[0].state)")
            let oneSidedRule = try readStore(scenarios.db) { try $0.oneSidedOpportunities().map(\.id) }

            func ids(_ arguments: [String]) throws -> [Int64] {
                let output = try arbadmin(["list", "--db", scenarios.db, "--json"] + arguments)
                #expect(output.status == 0, "\(arguments): \(output.summary)")
                return try output.jsonArray().compactMap { ($0["id"] as? NSNumber)?.int64Value }
            }
            #expect(try ids([]) == [5, 4, 3, 2, 1])
            #expect(try ids(["--one-sided"]) == [5, 3, 2])
            #expect(try ids(["--one-sided"]) == oneSidedRule)
            #expect(try ids(["--state", "Closed"]) == [4, 3, 2, 1])
            #expect(try ids(["--state", "closed"]) == [4, 3, 2, 1])
            #expect(try ids(["--state", all[0].state.name]) == [5])
            #expect(try ids(["--outcome", "one_sided"]) == [3, 2])
            #expect(try ids(["--outcome", "hedged"]) == [1])
            #expect(try ids(["--state", "Closed", "--outcome", "no-fill"]) == [4])
            #expect(try ids(["--outcome", "manual"]) == [])
            #expect(try ids(["--since", Timestamp.iso8601(all[2].createdAtMilliseconds)]) == [5, 4, 3])
            #expect(try ids(["--since", "2000-01-01"]) == [5, 4, 3, 2, 1])
            #expect(try ids(["--since", "1h"]) == [5, 4, 3, 2, 1])
            #expect(try ids(["--since", Timestamp.iso8601(SystemClock().nowMilliseconds() + 60_000)]) == [])
            #expect(try ids(["--limit", "2"]) == [5, 4])
            #expect(try ids(["--one-sided", "--limit", "2"]) == [5, 3])
            #expect(try ids(["--one-sided", "--outcome", "one_sided", "--since", Timestamp.iso8601(all[2].createdAtMilliseconds)]) == [3])

            let table = try arbadmin(["list", "--db", scenarios.db, "--one-sided"])
            #expect(table.stdoutLines.count == 1 + 3 + 1)
            #expect(table.stdout.contains("10.00 YES@kalshi"))
            #expect(table.stdout.contains("2.00 YES@kalshi"))
            let none = try arbadmin(["list", "--db", scenarios.db, "--outcome", "manual"])
            #expect(none.status == 0 && none.stdout == "no opportunities match\n")
        }

        @Test("show of a one-sided opportunity: legs, fills, the timeline with reasons, alerts with delivery per sink")
        func showOneSided() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let history = try readStore(scenarios.db) { try #require(try $0.history(of: 2)) }
            let output = try arbadmin(["show", "2", "--db", scenarios.db])
            #expect(output.status == 0, "\(output.summary)")
            let text = output.stdout
            #expect(text.hasPrefix("opportunity 2 — EV-REJECTED — Closed(one_sided)\n"))
            #expect(text.contains("exposure    10.00 contracts of YES on kalshi, $4.68 at risk; hedged 0.00"))
            for leg in history.legs {
                let row = try #require(output.stdoutLines.first { $0.contains(leg.clientOrderID) }, "no row for leg \(leg.leg)")
                #expect(row.contains(leg.venue) && row.contains(leg.instrument) && row.contains(leg.status.rawValue))
                #expect(row.contains(leg.filledQuantity.description) && row.contains(leg.limitPrice.description))
                if let venueOrderID = leg.venueOrderID { #expect(row.contains(venueOrderID)) }
            }
            #expect(text.contains("rejected (insufficient liquidity)"))
            let fill = try #require(history.fills.first)
            #expect(output.stdoutLines.contains { $0.contains(fill.tradeID) && $0.contains("10.00") && $0.contains("$0.18") })
            // The timeline, in order, each with its reason.
            let timeline = try #require(text.components(separatedBy: "\ntimeline\n").last?.components(separatedBy: "\n\nalerts\n").first)
            let steps = timeline.split(separator: "\n").dropFirst()
            #expect(steps.count == history.transitions.count)
            for (line, step) in zip(steps, history.transitions) {
                #expect(line.contains(step.to.description) && line.contains(step.reason), "\(line) vs \(step)")
                #expect(line.contains(Timestamp.iso8601(step.atMilliseconds)))
            }
            #expect(history.transitions.map(\.to) == [.detected, .inFlight, .oneSided, .cancelAttempted, .closed(.oneSided)])
            // Alerts with their delivery to each sink (the file sink delivered them).
            for alert in history.alerts {
                #expect(text.contains("#\(alert.id) \(alert.kind) (critical)"))
            }
            #expect(history.alerts.map(\.kind) == ["one_sided", "one_sided_closed"])
            #expect(text.components(separatedBy: "delivery: file delivered").count - 1 == 2)
            #expect(text.contains("| ONE-SIDED FILL — opportunity 2"))
        }

        @Test("show --json: legs with their fills, the timeline and the alerts with per-sink deliveries")
        func showJSON() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let history = try readStore(scenarios.db) { try #require(try $0.history(of: 3)) }
            let object = try arbadmin(["show", "3", "--db", scenarios.db, "--json"]).jsonObject()
            #expect(object["state"] as? String == "Closed" && object["outcome"] as? String == "one_sided")
            #expect(object["exposed_quantity"] as? String == "2.00" && object["hedged_quantity"] as? String == "4.00")
            #expect(object["exposure_usd"] as? String == "0.936667")
            let legs = try #require(object["legs"] as? [[String: Any]])
            #expect(legs.map { $0["client_order_id"] as? String } == history.legs.map(\.clientOrderID))
            #expect(legs.map { $0["filled_quantity"] as? String } == ["6.00", "4.00"])
            #expect(legs.map { $0["status"] as? String } == ["cancelled", "cancelled"])
            for (leg, stored) in zip(legs, history.legs) {
                let fills = try #require(leg["fills"] as? [[String: Any]])
                #expect(fills.map { $0["trade_id"] as? String } == history.fills.filter { $0.legID == stored.id }.map(\.tradeID))
            }
            let transitions = try #require(object["transitions"] as? [[String: Any]])
            #expect(transitions.map { $0["reason"] as? String } == history.transitions.map(\.reason))
            #expect(transitions.first?["from_state"] is NSNull)
            let alerts = try #require(object["alerts"] as? [[String: Any]])
            #expect(alerts.count == history.alerts.count)
            for alert in alerts {
                let deliveries = try #require(alert["deliveries"] as? [[String: Any]])
                #expect(deliveries.map { $0["sink"] as? String } == ["file"])
                #expect(deliveries.allSatisfy { $0["delivered_at"] is String })
                #expect(alert["delivered"] as? Bool == true)
                #expect((alert["body"] as? [String: Any])?["exposure_contracts"] as? String == "2.00")
            }
        }

        @Test("alerts and alerts --undelivered: the outbox, newest first, with delivery state")
        func alertsCommand() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let stored = try readStore(scenarios.db) { try $0.allAlerts(limit: 100) }
            let all = try arbadmin(["alerts", "--db", scenarios.db, "--json"])
            #expect(all.status == 0, "\(all.summary)")
            #expect(try all.jsonArray().compactMap { ($0["id"] as? NSNumber)?.int64Value } == stored.map(\.id))
            let table = try arbadmin(["alerts", "--db", scenarios.db])
            // The table, then one line per sink: what it still owes.
            #expect(table.stdoutLines.count == 1 + stored.count + 1)
            #expect(table.stdoutLines.dropFirst().dropLast().allSatisfy { $0.contains("file delivered") })
            #expect(table.stdoutLines.last == "sink file: 0 pending")
            // Everything was delivered by the dispatcher…
            let undelivered = try arbadmin(["alerts", "--db", scenarios.db, "--undelivered", "--json"])
            #expect(try undelivered.jsonArray().isEmpty)
            // …until an operator's note is written by arbadmin, which has no sinks of its own.
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let close = try arbadmin(["close", "2", "--db", db, "--flattened", "--note", "hedged by hand"])
            #expect(close.status == 0, "\(close.summary)")
            let pending = try arbadmin(["alerts", "--db", db, "--undelivered"])
            #expect(pending.stdoutLines.count == 3 && pending.stdoutLines.last == "sink file: 0 pending")
            #expect(pending.stdout.contains("operator_note") && pending.stdout.contains("no sink yet"))
        }

        @Test("positions: per venue and instrument and per event, hedged vs exposed, cost with fees, settlement cases")
        func positions() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let object = try arbadmin(["positions", "--db", scenarios.db, "--json"]).jsonObject()
            let instruments = try #require(object["instruments"] as? [[String: Any]])
            func instrument(_ event: String, _ venue: String) throws -> [String: Any] {
                try #require(instruments.first { $0["event_id"] as? String == event && $0["venue"] as? String == venue })
            }
            // Hedged: 10 YES at 0.45 on kalshi (fee ceil(0.07·10·0.45·0.55) = $0.18) + 10 NO at 0.50 free.
            let hedgedK = try instrument("EV-HEDGED", "kalshi")
            #expect(hedgedK["net_quantity"] as? String == "10.00" && hedgedK["hedged_quantity"] as? String == "10.00")
            #expect(hedgedK["cost_basis_usd"] as? String == "4.68" && hedgedK["best_case_payout_usd"] as? String == "10.00")
            // Partial 6 vs 4: 4 hedged, 2 exposed on kalshi.
            let partialK = try instrument("EV-PARTIAL", "kalshi")
            #expect(partialK["hedged_quantity"] as? String == "4.00" && partialK["exposed_quantity"] as? String == "2.00")
            let partialP = try instrument("EV-PARTIAL", "polymarket")
            #expect(partialP["hedged_quantity"] as? String == "4.00" && partialP["exposed_quantity"] as? String == "0.00")

            let events = try #require(object["events"] as? [[String: Any]])
            func event(_ id: String) throws -> [String: Any] { try #require(events.first { $0["event_id"] as? String == id }) }
            let hedged = try event("EV-HEDGED")
            // $9.50 + $0.18 fee for a $10 payout either way: +$0.32 locked in.
            #expect(hedged["cost_basis_usd"] as? String == "9.68")
            #expect(hedged["worst_case_pnl_usd"] as? String == "0.32" && hedged["best_case_pnl_usd"] as? String == "0.32")
            #expect(hedged["worst_case_loss_usd"] as? String == "0.00" && hedged["exposed_outcome"] is NSNull)
            let rejected = try event("EV-REJECTED")
            #expect(rejected["exposed_quantity"] as? String == "10.00" && rejected["exposed_outcome"] as? String == "YES")
            #expect(rejected["worst_case_loss_usd"] as? String == "4.68" && rejected["best_case_payout_usd"] as? String == "10.00")
            let partial = try event("EV-PARTIAL")
            // 6 YES at 0.45 ($2.70 + $0.11 fee) and 4 NO at 0.50 ($2.00): $4.81; YES wins → $6, NO wins → $4.
            #expect(partial["holdings"] as? [String: String] == ["YES": "6.00", "NO": "4.00"])
            #expect(partial["cost_basis_usd"] as? String == "4.81")
            #expect(partial["worst_case_pnl_usd"] as? String == "-0.81" && partial["best_case_pnl_usd"] as? String == "1.19")
            #expect(events.first { $0["event_id"] as? String == "EV-NOFILL" } == nil)

            let table = try arbadmin(["positions", "--db", scenarios.db])
            #expect(table.status == 0)
            #expect(table.stdoutLines.contains { $0.contains("EV-PARTIAL") && $0.contains("NO 4.00, YES 6.00") && $0.contains("-$0.81") })
            #expect(table.stdoutLines.contains { $0.hasPrefix("total: cost basis") })
        }

        @Test("every command's --help says what it does", arguments: [
            ("list", "List opportunities"), ("show", "Show one opportunity"), ("status", "Halt state"),
            ("alerts", "The alert outbox"), ("positions", "Positions from the recorded fills"),
            ("reconcile", "Finish what a crash left"), ("close", "Resolve an opportunity by hand"),
            ("halt", "Stop opening new opportunities"), ("resume", "Clear the halt flag"), ("export", "Export opportunities"),
        ])
        func help(command: String, abstract: String) throws {
            let output = try arbadmin([command, "--help"])
            #expect(output.status == 0, "\(output.summary)")
            #expect(output.stdout.contains("OVERVIEW: \(abstract)"))
            #expect(output.stdout.contains("USAGE: arbadmin \(command)"))
            #expect(output.stdout.contains("--db <db>") && output.stdout.contains("--json"))
            // A discussion beyond the one-line abstract.
            let overview = output.stdout.components(separatedBy: "USAGE:").first ?? ""
            #expect(overview.split(separator: "\n").count >= 3, "no discussion for \(command)")
        }

        @Test("arbadmin --help lists every command and the exit codes")
        func rootHelp() throws {
            let output = try arbadmin(["--help"])
            #expect(output.status == 0)
            for command in ["list", "show", "status", "alerts", "positions", "reconcile", "close", "halt", "resume", "export"] {
                #expect(output.stdout.contains("  \(command) "), "no \(command)")
            }
            #expect(output.stdout.contains("Exit codes: 0"))
        }
    }
}

import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

extension AdminCLITests {
    @Suite("close, close --flattened, export")
    struct Writing {
        @Test("close of a non-terminal opportunity: Closed(manual) with the note as the reason, through compare-and-set")
        func closeNonTerminal() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let before = try readStore(db) { try #require(try $0.opportunity(5)) }
            try #require(!before.state.isTerminal)

            let output = try arbadmin(["close", "5", "--db", db, "--note", "cancelled at the venue by phone, 10 YES kept"])
            #expect(output.status == 0, "\(output.summary)")
            #expect(output.stdout.hasPrefix("opportunity 5: \(before.state) → Closed(manual): cancelled at the venue by phone"))
            // Not flattened: it leaves --one-sided (outcome manual), so the command says where it is still counted.
            #expect(output.stdout.contains("still exposed"))
            let history = try readStore(db) { try #require(try $0.history(of: 5)) }
            #expect(history.opportunity.state == .closed(.manual))
            #expect(!history.opportunity.flattened)
            #expect(history.transitions.last?.from == before.state)
            #expect(history.transitions.last?.reason == "cancelled at the venue by phone, 10 YES kept")
            let note = try #require(history.alerts.last)
            #expect(note.kind == "operator_note" && note.text.contains("cancelled at the venue by phone"))
            // DESIGN §8 invariant 4 still holds: every logged transition legal, the state is the last logged.
            let violations = try Invariants.check(databasePath: db, paperFiles: [:], options: .init(requireAllClosed: true, sinks: []))
            #expect(violations.isEmpty, "\(violations)")

            // Terminal now: a second close is refused and changes nothing.
            let bytes = contentsOf(db)
            let again = try arbadmin(["close", "5", "--db", db, "--note", "again"])
            #expect(again.status == 1 && again.stderrLines.count == 1)
            #expect(again.stderr.hasPrefix("arbadmin: opportunity 5 is Closed(manual): a closed opportunity is history"))
            #expect(contentsOf(db) == bytes)
        }

        @Test("close --flattened on a non-terminal one-sided opportunity: closed manual and marked flattened")
        func closeFlattenedNonTerminal() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let output = try arbadmin(["close", "5", "--db", db, "--flattened", "--note", "sold 10 YES on kalshi at 0.44", "--json"])
            #expect(output.status == 0, "\(output.summary)")
            let object = try output.jsonObject()
            #expect(object["state"] as? String == "Closed" && object["outcome"] as? String == "manual")
            #expect(object["flattened"] as? Bool == true && object["exposed_quantity"] as? String == "10.00")
            let stored = try readStore(db) { try #require(try $0.opportunity(5)) }
            #expect(stored.state == .closed(.manual) && stored.flattened)
            let oneSided = try arbadmin(["list", "--db", db, "--one-sided", "--json"]).jsonArray()
            #expect(oneSided.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [3, 2])
        }

        @Test("close --flattened on Closed(one_sided): marked flattened, the note kept as an operator_note alert; refused twice")
        func flattenClosedOneSided() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let before = try readStore(db) { try #require(try $0.history(of: 2)) }

            // Without --flattened a closed one is refused, and the message says what to add.
            let plain = try arbadmin(["close", "2", "--db", db, "--note", "done"])
            #expect(plain.status == 1 && plain.stderrLines.count == 1 && plain.stdout.isEmpty)
            #expect(plain.stderr.contains("add --flattened"))

            let output = try arbadmin(["close", "2", "--db", db, "--flattened", "--note", "bought 10 NO on polymarket at 0.52"])
            #expect(output.status == 0, "\(output.summary)")
            #expect(output.stdout.contains("marked flattened"))
            let after = try readStore(db) { try #require(try $0.history(of: 2)) }
            #expect(after.opportunity.state == .closed(.oneSided) && after.opportunity.flattened)
            // The state and the timeline are history: unchanged.
            #expect(after.transitions == before.transitions)
            let note = try #require(after.alerts.last)
            #expect(note.kind == "operator_note" && note.severity == .info)
            #expect(note.text.contains("bought 10 NO on polymarket at 0.52"))
            #expect(note.key.hasSuffix("-2-operator-flattened"))

            let list = try arbadmin(["list", "--db", db, "--one-sided", "--json"]).jsonArray()
            #expect(list.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [5, 3])
            let shown = try arbadmin(["show", "2", "--db", db])
            #expect(shown.stdout.hasPrefix("opportunity 2 — EV-REJECTED — Closed(one_sided), flattened"))

            let bytes = contentsOf(db)
            let twice = try arbadmin(["close", "2", "--db", db, "--flattened", "--note", "again"])
            #expect(twice.status == 1 && twice.stderr == "arbadmin: opportunity 2 is already marked flattened; nothing to do\n")
            let hedged = try arbadmin(["close", "1", "--db", db, "--flattened", "--note", "x"])
            #expect(hedged.status == 1 && hedged.stderr.contains("only a Closed(one_sided) one can be marked flattened"))
            #expect(contentsOf(db) == bytes)
        }

        @Test("close races safely with another writer: a stale state is reported and nothing is written")
        func closeStale() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let store = try Store(path: db, access: .existing)
            let stuck = try #require(try store.opportunity(5))
            // The operator looked at it in `stuck.state`; a reconcile closes it first.
            let moved = try store.transition(5, from: stuck.state, TransitionStep(.closedByOperator, reason: "someone else"),
                                             at: SystemClock().nowMilliseconds())
            #expect(moved.isApplied)
            let result = try store.closeByOperator(5, expected: stuck.state, reason: "mine", flattened: false, alert: nil,
                                                   at: SystemClock().nowMilliseconds())
            #expect(result == .stale(current: .closed(.manual)))
            #expect(try store.transitions(of: 5).last?.reason == "someone else")
        }

        @Test("export --format json round trip: each element parses back equal to show --json; --since filters")
        func exportJSON() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let output = try arbadmin(["export", "--db", scenarios.db, "--format", "json"])
            #expect(output.status == 0, "\(output.summary)")
            let exported = try output.jsonArray()
            #expect(exported.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [1, 2, 3, 4, 5])
            for element in exported {
                let id = try #require((element["id"] as? NSNumber)?.int64Value)
                let shown = try arbadmin(["show", "\(id)", "--db", scenarios.db, "--json"]).jsonObject()
                // Compared as canonical JSON text (sorted keys): equal text, equal value.
                #expect(try canonicalJSON(element) == canonicalJSON(shown), "export and show differ for \(id)")
                #expect(element["legs"] is [[String: Any]])
            }
            let later = try arbadmin(["export", "--db", scenarios.db, "--format", "json", "--since",
                                      Timestamp.iso8601(SystemClock().nowMilliseconds() + 60_000)])
            #expect(try later.status == 0 && later.jsonArray().isEmpty)
        }

        @Test("export --format csv: RFC 4180, one record per leg with its opportunity's columns")
        func exportCSV() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let histories = try readStore(scenarios.db) { store in try (1...5).map { try #require(try store.history(of: $0)) } }
            let output = try arbadmin(["export", "--db", scenarios.db, "--format", "csv"])
            #expect(output.status == 0, "\(output.summary)")
            #expect(output.stdout.contains("\r\n"))
            let records = parseCSV(output.stdout)
            let header = try #require(records.first)
            #expect(header == ExportReport.csvHeader)
            let rows = records.dropFirst()
            #expect(rows.count == histories.reduce(0) { $0 + $1.legs.count })
            #expect(rows.allSatisfy { $0.count == header.count })
            func column(_ name: String, _ row: [String]) -> String { row[header.firstIndex(of: name)!] }
            for history in histories {
                for leg in history.legs {
                    let row = try #require(rows.first { column("client_order_id", $0) == leg.clientOrderID })
                    #expect(column("opportunity_id", row) == "\(history.opportunity.id)")
                    // Reasons hold commas and the quoting keeps them whole.
                    #expect(column("state_reason", row) == history.opportunity.stateReason)
                    #expect(column("filled_quantity", row) == leg.filledQuantity.description)
                    #expect(column("fees_usd", row) == leg.fees.decimalString)
                    #expect(column("trade_ids", row) == history.fills.filter { $0.legID == leg.id }.map(\.tradeID).joined(separator: " "))
                }
            }
            #expect(histories.contains { $0.opportunity.stateReason.contains(",") })
        }
    }
}

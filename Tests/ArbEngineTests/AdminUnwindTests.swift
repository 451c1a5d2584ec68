import ArbTestSupport
import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

extension AdminCLITests {
    @Suite("unwind: an operator's unwind of a Closed(one_sided) exposure")
    struct OperatorUnwind {
        /// A database where the demo (unwinding off, orders filled whole or refused, half and half)
        /// left one-sided closes for the operator; and the config the operator's commands use, the
        /// same but with every order filled whole, so the unwind orders fill at their limit.
        static func traded(_ directory: TemporaryDirectory) throws -> (config: String, db: String, id: OpportunityID) {
            func config(_ name: String, full: Int, reject: Int) throws -> String {
                try writeConfig(directory, name: name, [
                    (TraderConfig.demoUnwindSection, #""unwind": {"policy": "off", "max_attempts": 3, "retry_ms": 10}"#),
                    (#""full_fill_percent": 66,"#, "\"full_fill_percent\": \(full),"), (#""partial_fill_percent": 12,"#, #""partial_fill_percent": 0,"#),
                    (#""rest_percent": 12,"#, #""rest_percent": 0,"#), (#""reject_percent": 6,"#, "\"reject_percent\": \(reject),"),
                    (#""ambiguous_submit_percent": 4,"#, #""ambiguous_submit_percent": 0,"#),
                ])
            }
            let trading = try config("trading.json", full: 50, reject: 50)
            let operating = try config("config.json", full: 100, reject: 0)
            let db = directory.path("arb.db")
            // The demo trades on the wall clock: a loaded machine may need another run for a one-sided close.
            var ids: [OpportunityID] = []
            var outputs: [String] = []
            for seed in 3...8 where ids.isEmpty {
                let run = try runProduct("arb", ["run", "--config", trading, "--db", db, "--duration", "2", "--seed", "\(seed)",
                                                 "--log-level", "error"])
                #expect(run.status == 0, "\(run.stderr)")
                outputs.append(run.stdout)
                ids = try readStore(db) { store in
                    try store.connection.prepare("SELECT id FROM opportunities WHERE outcome = 'one_sided' ORDER BY id").query { $0.int64(0) }
                }
            }
            let id = try #require(ids.first, "no one-sided opportunity: \(outputs.joined(separator: "\n"))")
            #expect(try readStore(db) { try $0.unwindOrders(of: id) }.isEmpty, "unwinding was off, yet it unwound")
            return (operating, db, id)
        }

        static func paperFiles(_ directory: TemporaryDirectory) -> [String: String] {
            ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")]
        }

        @Test("complete: reopened with the note (logged, alerted), orders at the bound, Closed(completed), out of list --one-sided; §8 holds; a second unwind is refused")
        func complete() throws {
            let directory = TemporaryDirectory()
            let (config, db, id) = try Self.traded(directory)
            let listed = try arbadmin(["list", "--one-sided", "--db", db, "--json"])
            #expect(listed.stdout.contains("\"id\":\(id)") || listed.stdout.contains("\"id\": \(id)"), "\(listed.stdout)")

            let note = "polymarket back up: completing within 10 cents"
            let output = try arbadmin(["unwind", "\(id)", "--config", config, "--db", db, "--policy", "complete", "--max-loss", "0.10",
                                       "--note", note])
            #expect(output.status == 0, "\(output.summary)")
            #expect(output.stdout.contains("opportunity \(id): Closed(one_sided) → Unwinding (complete"), "\(output.stdout)")
            #expect(output.stdout.contains("unwind order 1: buy"), "\(output.stdout)")
            #expect(output.stdout.contains("filled"), "\(output.stdout)")
            #expect(output.stdout.contains("Unwinding → Closed(completed): operator unwind: exposed"), "\(output.stdout)")

            let history = try #require(try readStore(db) { try $0.history(of: id) })
            #expect(history.opportunity.state == .closed(.completed))
            let reopened = try #require(history.transitions.first { $0.to == .unwinding })
            #expect(reopened.from == .closed(.oneSided) && reopened.reason == "operator: \(note)")
            #expect(history.alerts.contains { $0.kind == "operator_note" && $0.text.contains(note) })
            #expect(history.alerts.contains { $0.kind == "unwind_closed" && $0.text.contains("unwind completed") })
            // Every order at the other leg's venue, IOC at its bound, within the budget the operator set.
            let held = try #require(history.legs.max { $0.filledQuantity < $1.filledQuantity })
            let other = try #require(history.legs.min { $0.filledQuantity < $1.filledQuantity })
            let exposed = held.filledQuantity - other.filledQuantity
            #expect(!history.unwindOrders.isEmpty)
            for order in history.unwindOrders {
                #expect(order.intent.venue == other.venue && order.intent.instrument == other.instrument && order.intent.action == .complete)
                #expect(order.intent.limitPrice == order.intent.boundPrice)
                #expect(order.intent.lossBudget == Money(micros: 100_000 * exposed.hundredths / 100))
            }
            let violations = try Invariants.check(databasePath: db, paperFiles: Self.paperFiles(directory),
                                                  options: .init(requireAllClosed: true, sinks: []))
            #expect(violations.isEmpty, "\(violations)")
            let after = try arbadmin(["list", "--one-sided", "--db", db, "--json"])
            #expect(!after.stdout.contains("\"id\":\(id),") && !after.stdout.contains("\"id\": \(id),"), "\(after.stdout)")

            // show --json and export carry the unwind orders.
            let shown = try arbadmin(["show", "\(id)", "--db", db, "--json"])
            #expect(shown.stdout.contains("\"unwind_orders\"") && shown.stdout.contains("\"bound_price\""), "\(shown.stdout)")
            let csv = try arbadmin(["export", "--format", "csv", "--db", db])
            let unwindRecords = csv.stdout.split(separator: "\r\n").filter { $0.hasPrefix("\(id),") && $0.contains(",u1,") }
            #expect(unwindRecords.count == 1 && unwindRecords[0].contains(",\(other.venue),\(other.instrument),"), "\(csv.stdout.suffix(2_000))")

            let again = try arbadmin(["unwind", "\(id)", "--config", config, "--db", db, "--note", "again"])
            #expect(again.status == 1 && again.stderrLines.count == 1, "\(again.summary)")
            #expect(again.stderr.contains("is Closed(completed): only a Closed(one_sided) exposure can be unwound"), "\(again.stderr)")
        }

        @Test("flatten within 0 a contract: the excess sold back at no loss, Closed(flattened); §8 holds")
        func flatten() throws {
            let directory = TemporaryDirectory()
            let (config, db, id) = try Self.traded(directory)
            let output = try arbadmin(["unwind", "\(id)", "--config", config, "--db", db, "--policy", "flatten", "--max-loss", "0",
                                       "--note", "sell it back at cost"])
            #expect(output.status == 0, "\(output.summary)")
            let history = try #require(try readStore(db) { try $0.history(of: id) })
            #expect(history.opportunity.state == .closed(.flattened), "\(output.stdout)")
            let held = try #require(history.legs.max { $0.filledQuantity < $1.filledQuantity })
            #expect(history.unwindOrders.allSatisfy { $0.intent.venue == held.venue && $0.intent.instrument == held.instrument
                && $0.intent.action == .flatten && $0.intent.lossBudget == .zero })
            let violations = try Invariants.check(databasePath: db, paperFiles: Self.paperFiles(directory),
                                                  options: .init(requireAllClosed: true, sinks: []))
            #expect(violations.isEmpty, "\(violations)")
        }

        @Test("refused in one line: an unknown id, bad --policy or --max-loss, an empty note, a live trader's lease; nothing changes")
        func refusals() throws {
            let directory = TemporaryDirectory()
            let (config, db, id) = try Self.traded(directory)
            let cases: [([String], Int32, String)] = [
                (["unwind", "999999", "--note", "x"], 1, "999999"),
                (["unwind", "\(id)", "--policy", "sideways", "--note", "x"], 2, "--policy sideways is not a policy; use complete or flatten"),
                (["unwind", "\(id)", "--max-loss", "1.50", "--note", "x"], 2, "--max-loss 1.50 is not an amount from 0 up to (not including) 1.00"),
                (["unwind", "\(id)", "--note", " "], 2, "--note is empty"),
            ]
            for (arguments, status, message) in cases {
                let output = try arbadmin(arguments + ["--config", config, "--db", db])
                #expect(output.status == status && output.stderrLines.count == 1 && output.stderr.contains(message),
                        "\(arguments): \(output.summary)")
            }
            // A live trader holds the database: refused by name, nothing written.
            let store = try Store(path: db, access: .existing)
            let now = SystemClock().nowMilliseconds()
            let live = LeaseHolder(owner: "arb run", pid: getpid(), host: Trader.hostName(), startedAtMilliseconds: now,
                                   heartbeatAtMilliseconds: now)
            #expect(try store.acquireLease(live, mayTakeOver: { _ in false }) == .acquired)
            let refused = try arbadmin(["unwind", "\(id)", "--config", config, "--db", db, "--note", "x"])
            #expect(refused.status == 1 && refused.stderrLines.count == 1 && refused.stderr.contains("pid \(getpid())")
                    && refused.stderr.contains("stop it first"), "\(refused.summary)")
            try store.releaseLease(pid: getpid(), host: Trader.hostName())
            #expect(try readStore(db) { try $0.state(of: id) } == .closed(.oneSided))
            #expect(try readStore(db) { try $0.unwindOrders(of: id) }.isEmpty)
        }
    }
}

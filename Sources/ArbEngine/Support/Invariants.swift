import Foundation
import OrderStateMachine

/// DESIGN §8's invariants, checked against a trader database and the paper venues' own files.
/// Used by the crash matrix, the soak, the simulator and `arbadmin`; returns every violation
/// found (empty when all hold). Each violation starts with the number of the invariant it breaks
/// (`alert:` for an alert that disagrees with the rows it was committed with); InvariantsTests
/// shows every check failing on a database broken for it.
public enum Invariants {
    public struct Options: Sendable {
        /// Invariant 5 applies only after a recovery with every venue reachable.
        public var requireAllClosed: Bool
        /// Sinks every one-sided alert must have been delivered to (invariant 6).
        public var sinks: [String]

        /// Check only these opportunities (and the venue orders named by their legs); nil: all.
        /// The simulator audits each step this way and everything at the end.
        public var opportunities: Set<OpportunityID>?

        public init(requireAllClosed: Bool, sinks: [String], opportunities: Set<OpportunityID>? = nil) {
            self.requireAllClosed = requireAllClosed
            self.sinks = sinks
            self.opportunities = opportunities
        }

        func includes(_ id: OpportunityID) -> Bool { opportunities?.contains(id) ?? true }
    }

    /// One order as a paper venue's own file records it.
    struct VenueOrderRow {
        var instrument: String
        var side: String
        var price: Int64
        var quantity: Int64
        var filled: Int64
        var status: String
    }

    /// One leg row, with its opportunity's state.
    struct LegRow {
        var opportunityID: OpportunityID
        var leg: String
        var venue: String
        var instrument: String
        var side: String
        var limitPrice: Int64
        var quantity: Int64
        var clientOrderID: String
        var status: String
        var filled: Int64
    }

    /// One row of an opportunity's transition log as stored, read without trusting it.
    struct LoggedTransition {
        var from: String?
        var toName: String
        var outcome: String?
        /// Nil for a name, or a name and outcome, that is no state.
        var to: OpportunityState? { OpportunityState(name: toName, outcome: outcome) }
        /// As a state describes itself: `Filled`, `Closed(hedged)`.
        var stored: String { toName + (outcome.map { "(\($0))" } ?? "") }
    }

    public static func check(databasePath: String, paperFiles: [String: String], options: Options) throws -> [String] {
        let store = try Store(path: databasePath, access: .readOnly)
        // The auditor reads the tables with its own SQL, independent of the Store's queries it checks.
        let db = try Connection(path: databasePath, mode: .readOnly)
        var violations: [String] = []
        let only = options.opportunities.map { " WHERE id IN (\($0.map(String.init).joined(separator: ",")))" } ?? ""
        let onlyLegs = only.replacingOccurrences(of: "WHERE id", with: "WHERE opportunity_id")

        let legs = try db.prepare("""
            SELECT opportunity_id, leg, venue, instrument, side, limit_price, quantity, client_order_id, status,
                   filled_quantity FROM legs\(onlyLegs) ORDER BY opportunity_id, leg
            """).query {
            LegRow(opportunityID: $0.int64(0), leg: $0.text(1), venue: $0.text(2), instrument: $0.text(3),
                   side: $0.text(4), limitPrice: $0.int64(5), quantity: $0.int64(6), clientOrderID: $0.text(7),
                   status: $0.text(8), filled: $0.int64(9))
        }
        let legsByClientID = Dictionary(grouping: legs, by: \.clientOrderID)

        // Every venue's orders, by client order id.
        var venueOrders: [String: [String: VenueOrderRow]] = [:]
        // A venue without client order ids (Polymarket, at the loopback exchange) files each order
        // under its venue order id: such a row is the leg's whose venue order id it is.
        let clientIDByVenueOrderID = try db.prepare(
            "SELECT venue, venue_order_id, client_order_id FROM legs WHERE venue_order_id IS NOT NULL\(onlyLegs.replacingOccurrences(of: "WHERE", with: " AND"))"
        ).query { ("\($0.text(0)) \($0.text(1))", $0.text(2)) }
        let clientIDs = Dictionary(clientIDByVenueOrderID, uniquingKeysWith: { first, _ in first })
        for (venue, path) in paperFiles {
            let paper = try Connection(path: path, mode: .readOnly)
            var orders: [String: VenueOrderRow] = [:]
            let rows = try paper.prepare(
                "SELECT client_order_id, instrument, side, price, quantity, filled_quantity, status FROM paper_orders"
            ).query {
                ($0.text(0), VenueOrderRow(instrument: $0.text(1), side: $0.text(2), price: $0.int64(3),
                                           quantity: $0.int64(4), filled: $0.int64(5), status: $0.text(6)))
            }
            for (key, order) in rows {
                let clientOrderID = legsByClientID[key] == nil ? clientIDs["\(venue) \(key)"] ?? key : key
                orders[clientOrderID] = order
            }
            venueOrders[venue] = orders
        }
        // Unwind orders (issue 14): orders at a venue that are no leg's, each its own row.
        let unwindOrders = try db.prepare("""
            SELECT client_order_id, opportunity_id, venue, instrument, side, limit_price, bound_price, quantity, filled_quantity, status
            FROM unwind_orders\(onlyLegs)
            """).query {
            (clientOrderID: $0.text(0), opportunityID: $0.int64(1), venue: $0.text(2), instrument: $0.text(3), side: $0.text(4),
             limit: $0.int64(5), bound: $0.int64(6), quantity: $0.int64(7), filled: $0.int64(8), status: $0.text(9))
        }
        let unwindByClientID = Dictionary(unwindOrders.map { ($0.clientOrderID, $0) }, uniquingKeysWith: { first, _ in first })
        let ownIDs: Set<String>? = options.opportunities.map { _ in Set(legs.map(\.clientOrderID) + unwindOrders.map(\.clientOrderID)) }

        // 1. Every order at a venue maps to exactly one leg (no orphan orders), and every leg the
        //    database thinks reached a venue is there, with the same filled quantity (6).
        // 9. A client order id names one leg of one opportunity forever: the order the venue holds
        //    under it is the one that leg describes, and the id is the one the leg's opportunity
        //    and name give (a reused id shows as an order that another opportunity's leg sent).
        for (venue, orders) in venueOrders.sorted(by: { $0.key < $1.key }) {
            for (clientOrderID, order) in orders.sorted(by: { $0.key < $1.key })
            where ownIDs?.contains(clientOrderID) ?? true {
                if let unwind = unwindByClientID[clientOrderID] {
                    // An unwind order: the venue holds the order its row describes, with its fills.
                    if unwind.venue != venue || order.instrument != unwind.instrument || order.side != unwind.side
                        || order.price != unwind.limit || (order.status != "rejected" && order.quantity != unwind.quantity) {
                        violations.append("9: \(venue) order \(clientOrderID) is \(order.side) \(order.quantity) \(order.instrument) @ \(order.price), but unwind order \(clientOrderID) of opportunity \(unwind.opportunityID) is \(unwind.side) \(unwind.quantity) \(unwind.instrument) @ \(unwind.limit) at \(unwind.venue)")
                    }
                    if order.filled != unwind.filled {
                        violations.append("6: unwind order \(clientOrderID) filled \(unwind.filled) in the database, \(order.filled) at \(venue)")
                    }
                    continue
                }
                let matching = legsByClientID[clientOrderID] ?? []
                guard matching.count == 1, let leg = matching.first, leg.venue == venue else {
                    violations.append("1: \(venue) order \(clientOrderID) maps to \(matching.count) legs")
                    continue
                }
                if leg.filled != order.filled {
                    violations.append("6: leg \(clientOrderID) filled \(leg.filled) in the database, \(order.filled) at \(venue)")
                }
                if order.status == "rejected" && !["rejected", "unknown", "pending", "not_found"].contains(leg.status) {
                    violations.append("6: \(venue) rejected \(clientOrderID) but the leg says \(leg.status)")
                }
                if order.instrument != leg.instrument || order.side != leg.side || order.price != leg.limitPrice
                    || (order.status != "rejected" && order.quantity != leg.quantity) {
                    violations.append("9: \(venue) order \(clientOrderID) is \(order.side) \(order.quantity) \(order.instrument) @ \(order.price), but opportunity \(leg.opportunityID) leg \(leg.leg) is \(leg.side) \(leg.quantity) \(leg.instrument) @ \(leg.limitPrice)")
                }
            }
        }
        for leg in legs {
            guard let legName = LegName(rawValue: leg.leg) else { continue }
            let expected = store.clientOrderID(opportunity: leg.opportunityID, leg: legName)
            if leg.clientOrderID != expected {
                violations.append("9: opportunity \(leg.opportunityID) leg \(leg.leg) has client order id \(leg.clientOrderID), not \(expected)")
            }
            guard let orders = venueOrders[leg.venue] else { continue }
            if ["open", "partially_filled", "filled", "cancelled"].contains(leg.status), orders[leg.clientOrderID] == nil {
                violations.append("1: leg \(leg.clientOrderID) is \(leg.status) but \(leg.venue) has no such order")
            }
        }

        // 2. One order per leg; client order ids never reused (also constraints in the schema).
        let perLeg = try db.prepare("""
            SELECT opportunity_id, leg, count(*) FROM legs GROUP BY opportunity_id, leg HAVING count(*) > 1
            """).query { "\($0.int64(0))/\($0.text(1))" }
        violations += perLeg.map { "2: opportunity leg \($0) has more than one order" }

        // 3. At most one live opportunity per dedup key.
        let duplicates = try db.prepare("""
            SELECT dedup_key FROM opportunities WHERE state <> 'Closed' GROUP BY dedup_key HAVING count(*) > 1
            """).query { $0.text(0) }
        violations += duplicates.map { "3: more than one live opportunity for \($0)" }

        // 4. Every logged transition legal; the current state is the last logged.
        let opportunities = try db.prepare("SELECT id, state, outcome FROM opportunities\(only) ORDER BY id")
            .query { ($0.int64(0), OpportunityState(name: $0.text(1), outcome: $0.optionalText(2))) }
        let legsByOpportunity = Dictionary(grouping: legs, by: \.opportunityID)
        // Read here, not through `Store.transitions`, which stops the process on a state the schema
        // would not allow (right for trading on it): the auditor reports a corrupt log instead.
        let transitions = try db.prepare("SELECT from_state, to_state, outcome FROM transitions WHERE opportunity_id = ? ORDER BY id")
        for (id, state) in opportunities where options.includes(id) {
            let log = try transitions.query(id) {
                LoggedTransition(from: $0.optionalText(0), toName: $0.text(1), outcome: $0.optionalText(2))
            }
            if log.first?.from != nil || log.first?.to != .detected {
                violations.append("4: opportunity \(id) log does not start at Detected")
            }
            for entry in log where entry.to == nil {
                violations.append("4: opportunity \(id) logged \(entry.stored), which is not a state")
            }
            for (before, entry) in zip(log, log.dropFirst()) {
                if entry.from != before.toName {
                    violations.append("4: opportunity \(id) logged \(entry.from ?? "nothing") → \(entry.stored) after \(before.stored)")
                }
                if let from = before.to, let to = entry.to, !OpportunityMachine.isLegal(from: from, to: to) {
                    violations.append("4: opportunity \(id) logged illegal \(from) → \(to)")
                }
            }
            if log.last?.to != state {
                violations.append("4: opportunity \(id) is \(state.map(String.init(describing:)) ?? "unreadable") but its log ends at \(log.last?.stored ?? "nothing")")
            }
            // 5. After recovery with every venue reachable, nothing is left open.
            if options.requireAllClosed, let state, !state.isTerminal {
                violations.append("5: opportunity \(id) left in \(state)")
            }
            if case .closed(let outcome) = state {
                violations += closedViolations(id, outcome: outcome, legs: legsByOpportunity[id] ?? [], venueOrders: venueOrders)
            }
        }

        // 8. A hedged close stands only on certain fills: none its venue may still undo.
        let unsure = try db.prepare("""
            SELECT DISTINCT o.id FROM opportunities o JOIN fills f ON f.opportunity_id = o.id
            WHERE o.outcome = 'hedged' AND f.provisional = 1
              AND NOT EXISTS (SELECT 1 FROM fill_reversals r WHERE r.fill_id = f.id)\(only.replacingOccurrences(of: "WHERE id", with: " AND o.id"))
            """).query { $0.int64(0) }
        for id in unsure where options.includes(id) {
            violations.append("8: opportunity \(id) closed hedged on a provisional fill")
        }

        // 6. Every one-sided exposure has an alert, delivered to every configured sink.
        let exposed = try db.prepare("""
            SELECT o.id FROM opportunities o JOIN legs a ON a.opportunity_id = o.id AND a.leg = 'a'
            JOIN legs b ON b.opportunity_id = o.id AND b.leg = 'b'
            WHERE a.filled_quantity <> b.filled_quantity AND o.outcome IS NOT 'manual'\(only.replacingOccurrences(of: "WHERE id", with: " AND o.id"))
            """).query { $0.int64(0) }
        for id in exposed where options.includes(id) {
            let alerts = try store.alerts(of: id).filter { $0.kind.hasPrefix("one_sided") }
            if alerts.isEmpty { violations.append("6: one-sided opportunity \(id) has no alert") }
            for alert in alerts {
                for sink in options.sinks where !alert.deliveries.contains(where: { $0.sink == sink && $0.deliveredAtMilliseconds != nil }) {
                    violations.append("6: alert \(alert.key) not delivered to \(sink)")
                }
            }
        }

        violations += try unwindViolations(db, onlyLegs: onlyLegs)
        violations += try alertViolations(db, only: only.replacingOccurrences(of: "WHERE id", with: "WHERE opportunity_id"))
        return violations
    }

    // MARK: - Unwinds stay within their bound (10)

    /// 10. An unwind never takes back more than the exposure it set out to (no unwind order made
    /// exposure larger), that exposure is the legs' difference, and the loss it realised — each
    /// fill against its share of what the held contracts cost, fees included — is within its loss
    /// budget (`max_loss_per_contract` × exposure; each order's own, up to it, as an operator's
    /// unwind may set a new one), give or take a micro-dollar of rounding per fill.
    static func unwindViolations(_ db: Connection, onlyLegs: String) throws -> [String] {
        struct Row {
            var action: String
            var exposure: Int64
            var budget: Int64
            var filled: Int64
            var cost: Int64
            var fees: Int64
        }
        let rows = try db.prepare("""
            SELECT opportunity_id, action, exposure_quantity, loss_budget_micros, filled_quantity, filled_cost_micros, fees_micros
            FROM unwind_orders\(onlyLegs) ORDER BY opportunity_id, attempt
            """).query { ($0.int64(0), Row(action: $0.text(1), exposure: $0.int64(2), budget: $0.int64(3), filled: $0.int64(4),
                                           cost: $0.int64(5), fees: $0.int64(6))) }
        let legSums = try db.prepare("SELECT opportunity_id, filled_quantity, filled_cost_micros, fees_micros FROM legs\(onlyLegs)")
            .query { ($0.int64(0), (filled: $0.int64(1), cost: $0.int64(2), fees: $0.int64(3))) }
        let legsByOpportunity = Dictionary(grouping: legSums, by: \.0).mapValues { $0.map(\.1) }
        let fillsCount = try db.prepare("""
            SELECT u.opportunity_id, count(*) FROM unwind_fills f JOIN unwind_orders u ON u.id = f.unwind_order_id
            WHERE f.reversed_at_ms IS NULL GROUP BY u.opportunity_id
            """).query { ($0.int64(0), $0.int64(1)) }
        let fillsByOpportunity = Dictionary(fillsCount, uniquingKeysWith: +)
        var violations: [String] = []
        for (id, group) in Dictionary(grouping: rows, by: \.0).sorted(by: { $0.key < $1.key }) {
            let orders = group.map(\.1)
            guard let first = orders.first else { continue }
            if orders.contains(where: { $0.exposure != first.exposure }) {
                violations.append("10: opportunity \(id) unwind orders disagree on the exposure")
            }
            let legs = legsByOpportunity[id] ?? []
            guard legs.count == 2 else {
                violations.append("10: opportunity \(id) unwinds without two legs")
                continue
            }
            let (leader, lagger) = legs[0].filled >= legs[1].filled ? (legs[0], legs[1]) : (legs[1], legs[0])
            if leader.filled - lagger.filled != first.exposure {
                violations.append("10: opportunity \(id) unwinds \(first.exposure) but its legs differ by \(leader.filled - lagger.filled)")
                continue
            }
            let unwound = orders.reduce(Int64(0)) { $0 + $1.filled }
            if unwound > first.exposure {
                violations.append("10: opportunity \(id) unwound \(unwound), more than its exposure \(first.exposure)")
            }
            // What the exposed contracts cost, their share of the leading leg's cost and fees.
            let heldCost = (leader.cost + leader.fees) * first.exposure / leader.filled
            // Each order was placed within its own budget (an operator's unwind may set a new
            // one), so what all orders up to it realised is within that budget.
            var realised: Int64 = 0
            let slack = fillsByOpportunity[id] ?? 0
            for order in orders {
                if order.filled > 0 {
                    let share = heldCost * order.filled / first.exposure
                    realised += order.action == "complete"
                        ? share + order.cost + order.fees - order.filled * 10_000
                        : share - (order.cost - order.fees)
                }
                if realised > order.budget + slack {
                    violations.append("10: opportunity \(id) unwind lost \(Money(micros: realised)), more than its budget \(Money(micros: order.budget))")
                    break
                }
            }
        }
        return violations
    }

    // MARK: - Closed means done at the venue (8)

    /// Every order of a `Closed` opportunity (outcome other than `manual`) is final at its venue,
    /// each leg's recorded status is the venue's, and the outcome agrees with the fills.
    static func closedViolations(_ id: OpportunityID, outcome: CloseOutcome, legs: [LegRow],
                                 venueOrders: [String: [String: VenueOrderRow]]) -> [String] {
        guard outcome != .manual else { return [] }
        var violations: [String] = []
        for leg in legs {
            guard let orders = venueOrders[leg.venue] else { continue }
            if let order = orders[leg.clientOrderID] {
                if !["filled", "cancelled", "rejected"].contains(order.status) {
                    violations.append("8: opportunity \(id) is closed \(outcome.rawValue) but \(leg.venue) order \(leg.clientOrderID) is still \(order.status)")
                }
                // A refused order: the venue's file keeps it, but a venue's API need not answer for
                // it (Polymarket answers null), so a recovery that asked finds it not found.
                let refusedUnseen = order.status == "rejected" && leg.status == "not_found"
                if leg.status != order.status && !refusedUnseen {
                    violations.append("8: opportunity \(id) leg \(leg.leg) is recorded \(leg.status) but \(leg.venue) says \(order.status)")
                }
            } else if !["not_found", "rejected"].contains(leg.status) {
                violations.append("8: opportunity \(id) leg \(leg.leg) is recorded \(leg.status) but \(leg.venue) has no such order")
            }
        }
        let filled = legs.map(\.filled)
        let even = Set(filled).count <= 1
        let none = filled.allSatisfy { $0 == 0 }
        let agrees = switch outcome {
        case .hedged: legs.count == 2 && even && !none
        // An unwound exposure: the pair's own legs stayed unequal; the unwind's orders (checked
        // by the loss-bound invariant) took the difference back.
        case .oneSided, .completed, .flattened: legs.count == 2 && !even
        case .noFill, .rejected: none
        case .abandoned: legs.isEmpty || none
        case .manual: true
        }
        if !agrees {
            violations.append("8: opportunity \(id) closed \(outcome.rawValue) with fills \(filled.map { Quantity(hundredths: $0)?.description ?? "\($0)" })")
        }
        return violations
    }

    // MARK: - Alerts say what the rows said

    /// Every alert body is a JSON object, and every one-sided alert's legs agree with the leg
    /// rows as they stood at its commit (`alerts.legs_at_commit`, written by the database).
    static func alertViolations(_ db: Connection, only: String) throws -> [String] {
        var violations: [String] = []
        let rows = try db.prepare("SELECT alert_key, kind, body_json, legs_at_commit FROM alerts\(only) ORDER BY id")
            .query { ($0.text(0), $0.text(1), $0.text(2), $0.optionalText(3)) }
        for (key, kind, bodyText, snapshotText) in rows {
            guard let body = jsonObject(bodyText) else {
                violations.append("alert: \(key) body is not a JSON object: \(bodyText.prefix(80))")
                continue
            }
            guard kind.hasPrefix("one_sided") else { continue }
            guard let snapshotText, let snapshot = try? JSONSerialization.jsonObject(with: Data(snapshotText.utf8)) as? [[String: Any]] else {
                violations.append("alert: \(key) has no snapshot of its legs")
                continue
            }
            for field in ["filled_leg", "unfilled_leg"] {
                guard let leg = body[field] as? [String: Any], let clientOrderID = leg["client_order_id"] as? String,
                      let row = snapshot.first(where: { $0["client_order_id"] as? String == clientOrderID })
                else {
                    violations.append("alert: \(key) \(field) names no leg of its opportunity")
                    continue
                }
                let filled = (row["filled_quantity"] as? Int).flatMap { Quantity(hundredths: Int64($0)) }?.description
                let requested = (row["cancel_requested"] as? Int) == 1
                let result = row["cancel_result"] as? String
                let succeeded: Bool? = result.map { $0 == "cancelled" || $0 == "already_done" }
                if leg["size"] as? String != filled {
                    violations.append("alert: \(key) says \(clientOrderID) filled \(leg["size"] ?? "nil"), its row said \(filled ?? "nil")")
                }
                if leg["cancel_attempted"] as? Bool != requested {
                    violations.append("alert: \(key) says \(clientOrderID) cancel attempted \(leg["cancel_attempted"] ?? "nil"), its row said \(requested)")
                }
                if leg["cancel_succeeded"] as? Bool != succeeded {
                    violations.append("alert: \(key) says \(clientOrderID) cancel succeeded \(leg["cancel_succeeded"] ?? "nil"), its row said \(result ?? "no answer")")
                }
            }
        }
        return violations
    }

    static func jsonObject(_ text: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }
}

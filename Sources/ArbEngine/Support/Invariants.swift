import OrderStateMachine

/// DESIGN §8's invariants, checked against a trader database and the paper venues' own files.
/// Used by the crash matrix, the soak and `arbadmin`; returns every violation found (empty when
/// all hold).
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

    public static func check(databasePath: String, paperFiles: [String: String], options: Options) throws -> [String] {
        let store = try Store(path: databasePath, access: .readOnly)
        let db = store.connection
        var violations: [String] = []

        // 1. Every order at a venue maps to exactly one leg (no orphan orders), and every leg the
        //    database thinks reached a venue is there, with the same filled quantity (6).
        let only = options.opportunities.map { " WHERE id IN (\($0.map(String.init).joined(separator: ",")))" } ?? ""
        let ownIDs: Set<String>? = options.opportunities.map { ids in
            Set(ids.flatMap { id in LegName.allCases.map { store.clientOrderID(opportunity: id, leg: $0) } })
        }
        for (venue, path) in paperFiles.sorted(by: { $0.key < $1.key }) {
            let paper = try Connection(path: path, mode: .readOnly)
            let onlyOrders = ownIDs.map { " WHERE client_order_id IN (\($0.map { "'\($0)'" }.joined(separator: ",")))" } ?? ""
            let orders = try paper.prepare("SELECT client_order_id, filled_quantity, status FROM paper_orders\(onlyOrders)")
                .query { ($0.text(0), $0.int64(1), $0.text(2)) }
            for (clientOrderID, filled, status) in orders {
                let legs = try db.cachedStatement("SELECT venue, filled_quantity, status FROM legs WHERE client_order_id = ?")
                    .query(clientOrderID) { ($0.text(0), $0.int64(1), $0.text(2)) }
                guard legs.count == 1, let leg = legs.first, leg.0 == venue else {
                    violations.append("1: \(venue) order \(clientOrderID) maps to \(legs.count) legs")
                    continue
                }
                if leg.1 != filled {
                    violations.append("6: leg \(clientOrderID) filled \(leg.1) in the database, \(filled) at \(venue)")
                }
                if status == "rejected" && !["rejected", "unknown", "pending", "not_found"].contains(leg.2) {
                    violations.append("6: \(venue) rejected \(clientOrderID) but the leg says \(leg.2)")
                }
            }
            let known = Set(orders.map(\.0))
            let legs = try db.prepare("""
                SELECT l.client_order_id, l.status, l.opportunity_id FROM legs l
                WHERE l.venue = ?\(only.replacingOccurrences(of: "WHERE id", with: "AND l.opportunity_id"))
                """).query(venue) { ($0.text(0), $0.text(1), $0.int64(2)) }
            for (clientOrderID, status, id) in legs
            where options.includes(id) && ["open", "partially_filled", "filled", "cancelled"].contains(status)
                && !known.contains(clientOrderID) {
                violations.append("1: leg \(clientOrderID) is \(status) but \(venue) has no such order")
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
        for (id, state) in opportunities where options.includes(id) {
            let log = try store.transitions(of: id)
            if log.first?.from != nil || log.first?.to != .detected {
                violations.append("4: opportunity \(id) log does not start at Detected")
            }
            for (from, to) in zip(log.map(\.to), log.dropFirst().map(\.to)) where !OpportunityMachine.isLegal(from: from, to: to) {
                violations.append("4: opportunity \(id) logged illegal \(from) → \(to)")
            }
            if log.last?.to != state { violations.append("4: opportunity \(id) is \(String(describing: state)) but its log ends at \(String(describing: log.last?.to))") }
            // 5. After recovery with every venue reachable, nothing is left open.
            if options.requireAllClosed, let state, !state.isTerminal {
                violations.append("5: opportunity \(id) left in \(state)")
            }
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
        return violations
    }
}

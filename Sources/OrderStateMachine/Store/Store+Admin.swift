// MARK: - What `arbadmin` reads and writes: filtered lists, the operator's close and flattened
// mark, fills for positions, counts for status, histories for export.

/// Which opportunities `arbadmin list` and `export` want. Every filter is optional; together
/// they narrow (AND).
public struct OpportunityQuery: Sendable, Hashable {
    /// A stored state name (`OneSided`, `Closed`, …).
    public var state: String?
    public var outcome: CloseOutcome?
    /// Only opportunities whose legs are unequally filled and not yet flattened — the rule of
    /// ``Store/oneSidedOpportunities()``, which this query reuses.
    public var oneSided: Bool
    /// Only opportunities detected at or after this time (Unix milliseconds).
    public var createdSinceMilliseconds: Int64?
    /// At most this many, newest first; nil for all.
    public var limit: Int?
    /// Only opportunities with ids above this one (a run's own, for its summary).
    public var afterID: OpportunityID?

    public init(state: String? = nil, outcome: CloseOutcome? = nil, oneSided: Bool = false,
                createdSinceMilliseconds: Int64? = nil, limit: Int? = nil, afterID: OpportunityID? = nil) {
        precondition(limit.map { $0 > 0 } ?? true, "a query limit must be positive")
        self.state = state
        self.outcome = outcome
        self.oneSided = oneSided
        self.createdSinceMilliseconds = createdSinceMilliseconds
        self.limit = limit
        self.afterID = afterID
    }

    public static let all = OpportunityQuery()
}

/// What one leg has filled so far (the sums the schema's fill trigger keeps).
public struct LegFills: Sendable, Hashable {
    public var filled: Quantity
    /// Σ price × quantity over the leg's fills.
    public var cost: Money
    public var fees: Money

    public init(filled: Quantity, cost: Money, fees: Money) {
        self.filled = filled
        self.cost = cost
        self.fees = fees
    }

    public static let none = LegFills(filled: .zero, cost: .zero, fees: .zero)
}

/// One row of `arbadmin list`: the opportunity and what each leg filled (nil before `InFlight`
/// stored the legs, e.g. an abandoned detection).
public struct OpportunitySummary: Sendable, Hashable {
    public var opportunity: Opportunity
    public var legA: LegFills?
    public var legB: LegFills?
    /// What its unwind orders took back of the exposure (issue 14).
    public var unwound: Quantity

    public init(opportunity: Opportunity, legA: LegFills?, legB: LegFills?, unwound: Quantity = .zero) {
        self.opportunity = opportunity
        self.legA = legA
        self.legB = legB
        self.unwound = unwound
    }
}

/// One recorded fill with what positions need to know about its leg and opportunity.
public struct PositionFill: Sendable, Hashable {
    public var opportunityID: OpportunityID
    public var eventID: String
    public var leg: LegName
    public var venue: String
    public var instrument: String
    /// The event outcome the instrument pays on (the opportunity's `outcome_a` / `outcome_b`).
    public var outcome: String
    public var side: Side
    public var price: Price
    public var quantity: Quantity
    public var fee: Money
    /// The operator marked the opportunity's one-sided exposure as flattened by hand.
    public var flattened: Bool
}

/// Why the operator's close (or flattened mark) was refused. Nothing was written.
public enum OperatorCloseRefusal: Sendable, Hashable {
    /// A closed opportunity is history; only `Closed(one_sided)` may still be marked flattened.
    case terminal(OpportunityState)
    case alreadyFlattened
    /// `--flattened`, but the legs are equally filled: there is no exposure to flatten.
    case nothingToFlatten
}

/// The result of ``Store/closeByOperator(_:expected:reason:flattened:alert:at:)``.
public enum OperatorCloseResult: Sendable, Hashable {
    /// `expected → Closed(manual)`, flattened as asked.
    case closed(from: OpportunityState, flattened: Bool)
    /// A `Closed(one_sided)` opportunity marked flattened; its state is unchanged.
    case markedFlattened
    /// The opportunity was no longer in the state the operator looked at (a trader or a
    /// reconcile moved it first). Nothing was written.
    case stale(current: OpportunityState)
    case refused(OperatorCloseRefusal)
    case notFound(OpportunityID)
}

extension Store {
    // MARK: - Lists

    /// The opportunities `query` selects, newest first, each with its legs' fills, read in one
    /// snapshot.
    public func opportunitySummaries(_ query: OpportunityQuery) throws -> [OpportunitySummary] {
        let read = { () throws -> [OpportunitySummary] in
            // One-sided is Store.oneSidedOpportunities' rule, not a second copy of it: take its
            // ids and let the other filters and the limit apply to them.
            guard query.oneSided else {
                return try self.connection.cachedStatement(Self.summarySQL).query(
                    query.state, query.outcome?.rawValue, query.createdSinceMilliseconds, Int64(query.limit ?? -1), query.afterID,
                    row: Self.decodeSummary)
            }
            // Only the one-sided rows are read (by id, newest first), not every opportunity: the
            // dashboard asks this on each page, beside a trader that is committing.
            var rows: [OpportunitySummary] = []
            for opportunity in try self.oneSidedOpportunities() {
                if let state = query.state, opportunity.state.name != state { continue }
                if let outcome = query.outcome, opportunity.state.outcome != outcome { continue }
                if let since = query.createdSinceMilliseconds, opportunity.createdAtMilliseconds < since { continue }
                if let after = query.afterID, opportunity.id <= after { continue }
                guard let row = try self.connection.cachedStatement(Self.summaryByIDSQL).queryOne(opportunity.id, row: Self.decodeSummary)
                else { continue }
                rows.append(row)
                if let limit = query.limit, rows.count >= limit { break }
            }
            return rows
        }
        return connection.isInTransaction ? try read() : try connection.readTransaction(read)
    }

    /// A leg's fill sums, as each summary row carries them for leg a and then leg b.
    enum LegSumColumn: Int32, Columns {
        case filledQuantity, filledCostMicros, feesMicros
    }

    /// Each opportunity with its legs' fill sums (`decodeSummary` reads a row).
    static let summarySelect = """
        SELECT \(OpportunityColumn.list(table: "o")), \(LegSumColumn.list(table: "a")), \(LegSumColumn.list(table: "b")),
               (SELECT coalesce(sum(u.filled_quantity), 0) FROM unwind_orders u WHERE u.opportunity_id = o.id)
        FROM opportunities o
        LEFT JOIN legs a ON a.id = o.id * 2
        LEFT JOIN legs b ON b.id = o.id * 2 + 1

        """

    static let summarySQL = summarySelect + """
        WHERE (?1 IS NULL OR o.state = ?1) AND (?2 IS NULL OR o.outcome = ?2) AND (?3 IS NULL OR o.created_at_ms >= ?3)
          AND (?5 IS NULL OR o.id > ?5)
        ORDER BY o.id DESC LIMIT ?4
        """

    static let summaryByIDSQL = summarySelect + "WHERE o.id = ?1"

    static func decodeSummary(_ row: Row) -> OpportunitySummary {
        func legFills(at offset: Int32) -> LegFills? {
            typealias C = LegSumColumn
            guard !row.isNull(C.filledQuantity, at: offset) else { return nil }
            return LegFills(filled: storedQuantity(row.int64(C.filledQuantity, at: offset)),
                            cost: Money(micros: row.int64(C.filledCostMicros, at: offset)),
                            fees: Money(micros: row.int64(C.feesMicros, at: offset)))
        }
        return OpportunitySummary(opportunity: decodeOpportunity(row), legA: legFills(at: OpportunityColumn.width),
                                  legB: legFills(at: OpportunityColumn.width + LegSumColumn.width),
                                  unwound: storedQuantity(row.int64(OpportunityColumn.width + 2 * LegSumColumn.width)))
    }

    /// Every stored history `query` selects (export), newest first, in one snapshot.
    public func histories(_ query: OpportunityQuery) throws -> [OpportunityHistory] {
        try connection.readTransaction {
            try opportunitySummaries(query).compactMap { try history(of: $0.opportunity.id) }
        }
    }

    // MARK: - Status

    /// How many opportunities are in each state (closed ones by outcome).
    public func countsByState() throws -> [OpportunityState: Int] {
        let rows = try connection.cachedStatement(
            "SELECT state, outcome, count(*) FROM opportunities GROUP BY state, outcome"
        ).query { (Self.storedState($0.text(0), $0.optionalText(1)), $0.int(2)) }
        return Dictionary(rows, uniquingKeysWith: +)
    }

    // MARK: - Positions

    /// Every recorded fill the venue has not undone, oldest first, with its leg's venue, instrument, side and outcome.
    public func positionFills() throws -> [PositionFill] {
        try connection.cachedStatement("""
            SELECT o.id, o.event_id, l.leg, l.venue, l.instrument,
                   CASE l.leg WHEN 'a' THEN o.outcome_a ELSE o.outcome_b END,
                   l.side, f.price, f.quantity, f.fee_micros, o.flattened
            FROM fills f JOIN legs l ON l.id = f.leg_id JOIN opportunities o ON o.id = f.opportunity_id
            WHERE NOT EXISTS (SELECT 1 FROM fill_reversals r WHERE r.fill_id = f.id)
            ORDER BY f.id
            """
        ).query { row in
            PositionFill(opportunityID: row.int64(0), eventID: row.text(1), leg: Self.storedEnum(row.text(2)),
                         venue: row.text(3), instrument: row.text(4), outcome: row.text(5),
                         side: Self.storedEnum(row.text(6)), price: Price(uncheckedTicks: row.int64(7)),
                         quantity: Self.storedQuantity(row.int64(8)), fee: Money(micros: row.int64(9)),
                         flattened: row.int64(10) != 0)
        }
    }

    // MARK: - The operator's close

    /// `arbadmin close`: in one transaction, a compare-and-set from `expected` (the state the
    /// operator looked at) to `Closed(manual)` with `reason` in the log, or — for a
    /// `Closed(one_sided)` opportunity and `flattened` — the flattened mark; `alert` (the
    /// operator's note as history) is written in the same commit. Anything that does not hold
    /// inside the transaction is returned as a value and nothing is written, so this races
    /// safely with a running trader: a lost race is `.stale`, never a silent overwrite.
    ///
    /// `flattened` requires an exposure: legs unequally filled.
    public func closeByOperator(
        _ id: OpportunityID,
        expected: OpportunityState,
        reason: String,
        flattened: Bool,
        alert: NewAlert?,
        at now: Int64
    ) throws -> OperatorCloseResult {
        try connection.writeTransaction {
            guard let current = try opportunity(id) else { return .notFound(id) }
            guard current.state == expected else { return .stale(current: current.state) }
            switch current.state {
            case .closed(.oneSided) where flattened:
                guard !current.flattened else { return .refused(.alreadyFlattened) }
                try connection.cachedStatement("""
                    UPDATE opportunities SET flattened = 1, updated_at_ms = ?
                    WHERE id = ? AND state = 'Closed' AND outcome = 'one_sided' AND flattened = 0
                    """
                ).execute(now, id)
                precondition(connection.changes == 1, "flattened mark of \(id) changed \(connection.changes) rows")
                if let alert { try writeOperatorAlert(alert, opportunity: id, at: now) }
                return .markedFlattened
            case .closed:
                return .refused(.terminal(current.state))
            default:
                guard case .success(let next) = OpportunityMachine.transition(from: current.state, on: .closedByOperator) else {
                    return .refused(.terminal(current.state))
                }
                if flattened {
                    let filled = try legs(of: id).map(\.filledQuantity)
                    guard filled.count == 2, filled[0] != filled[1] else { return .refused(.nothingToFlatten) }
                }
                // The same compare-and-set as every transition (DESIGN §4); the schema's trigger
                // checks legality again and writes the log row with `reason`.
                try connection.cachedStatement("""
                    UPDATE opportunities SET state = ?, outcome = ?, state_reason = ?, updated_at_ms = ?, flattened = ?
                    WHERE id = ? AND state = ? AND outcome IS ?
                    """
                ).execute(next.name, next.outcome?.rawValue, reason, now, flattened, id, expected.name,
                          expected.outcome?.rawValue)
                precondition(connection.changes == 1, "close of \(id) changed \(connection.changes) rows inside its transaction")
                if let alert { try writeOperatorAlert(alert, opportunity: id, at: now) }
                return .closed(from: current.state, flattened: flattened)
            }
        }
    }

    /// The operator's note as an alert, inside the close's transaction, with a delivery row per
    /// sink this store was opened with (none for `arbadmin`: the next `arb run` adds its sinks'
    /// rows and delivers it, see `ensureDeliveryRows`).
    private func writeOperatorAlert(_ alert: NewAlert, opportunity id: OpportunityID, at now: Int64) throws {
        precondition(connection.isInTransaction, "operator alerts are written inside the close's transaction")
        try connection.cachedStatement("""
            INSERT INTO alerts (alert_key, opportunity_id, kind, severity, text, body_json, created_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_key) DO NOTHING
            """
        ).execute(alert.key, id, alert.kind, alert.severity.rawValue, alert.text, alert.bodyJSON, now)
        guard connection.changes == 1 else { return }
        let alertID = connection.lastInsertRowID
        let delivery = try connection.cachedStatement("INSERT INTO alert_deliveries (alert_id, sink) VALUES (?, ?)")
        for sink in alertSinks where alert.severity.reaches(alertSinkMinimums[sink] ?? .info) { try delivery.execute(alertID, sink) }
    }
}

/// Unwind orders (issue 14): persisted before they are sent, their fills idempotent by trade id
/// and summed by the database, exactly as legs are. Written only inside the Store's transactions
/// (`TransitionChanges.unwindOrders` / `unwindUpdates`, and fills by client order id).
extension Store {
    static let unwindColumns = """
        opportunity_id, attempt, action, venue, instrument, limit_price, bound_price, quantity, client_order_id,
        venue_order_id, status, status_reason, filled_quantity, filled_cost_micros, fees_micros, created_at_ms, updated_at_ms,
        exposure_quantity, loss_budget_micros
        """

    /// An opportunity's unwind orders, by attempt.
    public func unwindOrders(of id: OpportunityID) throws -> [UnwindOrder] {
        try connection.cachedStatement("SELECT \(Self.unwindColumns) FROM unwind_orders WHERE opportunity_id = ? ORDER BY attempt")
            .query(id, row: Self.decodeUnwindOrder)
    }

    /// The unwind order `clientOrderID` names (its `UNIQUE` index), or nil: what a venue adapter
    /// of a later process needs to find an unwind order it did not send itself.
    public func unwindOrder(clientOrderID: String) throws -> UnwindOrder? {
        try connection.cachedStatement("SELECT \(Self.unwindColumns) FROM unwind_orders WHERE client_order_id = ?")
            .queryOne(clientOrderID, row: Self.decodeUnwindOrder)
    }

    static func decodeUnwindOrder(_ row: Row) -> UnwindOrder {
        UnwindOrder(
            opportunityID: row.int64(0),
            intent: UnwindOrderIntent(
                attempt: Int(row.int64(1)), action: UnwindAction(rawValue: row.text(2)) ?? .complete, venue: row.text(3),
                instrument: row.text(4), limitPrice: Price(uncheckedTicks: row.int64(5)), boundPrice: Price(uncheckedTicks: row.int64(6)),
                quantity: Self.storedQuantity(row.int64(7)), exposure: Self.storedQuantity(row.int64(17)),
                lossBudget: Money(micros: row.int64(18)), clientOrderID: row.text(8), venueOrderID: row.optionalText(9)),
            status: LegStatus(rawValue: row.text(10)) ?? .unknown, statusReason: row.optionalText(11),
            filledQuantity: Self.storedQuantity(row.int64(12)), filledCost: Money(micros: row.int64(13)),
            fees: Money(micros: row.int64(14)), createdAtMilliseconds: row.int64(15), updatedAtMilliseconds: row.int64(16))
    }

    func insertUnwindOrder(_ order: UnwindOrderIntent, opportunity id: OpportunityID, at now: Int64) throws {
        try connection.cachedStatement("""
            INSERT INTO unwind_orders (opportunity_id, attempt, action, venue, instrument, side, limit_price, bound_price, quantity,
                exposure_quantity, loss_budget_micros, client_order_id, venue_order_id, created_at_ms, updated_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).execute(id, Int64(order.attempt), order.action.rawValue, order.venue, order.instrument, order.action.side.rawValue,
                  order.limitPrice.ticks, order.boundPrice.ticks, order.quantity.hundredths, order.exposure.hundredths,
                  order.lossBudget.micros, order.clientOrderID, order.venueOrderID, now, now)
    }

    func updateUnwindOrder(_ update: UnwindOrderUpdate, at now: Int64) throws {
        try connection.cachedStatement("""
            UPDATE unwind_orders SET status = coalesce(?, status), status_reason = coalesce(?, status_reason),
                venue_order_id = coalesce(?, venue_order_id), updated_at_ms = ?
            WHERE client_order_id = ?
            """
        ).execute(update.status?.rawValue, update.statusReason, update.venueOrderID, now, update.clientOrderID)
        precondition(connection.changes == 1, "unwind order update for unknown client order id \(update.clientOrderID)")
    }

    func knownUnwindOrder(_ clientOrderID: String) throws -> Bool {
        try connection.cachedStatement("SELECT 1 FROM unwind_orders WHERE client_order_id = ?").queryOne(clientOrderID) { _ in true } ?? false
    }

    /// An unwind order's fill, as `insertFill` treats a leg's: new → recorded, provisional then
    /// certain → confirmed, provisional then failed → reversed (out of the order's sums); a fill
    /// past the order's quantity → exceedsOrder; anything else adds nothing.
    func insertUnwindFill(_ fill: FillReport, at now: Int64) throws -> FillResult {
        if fill.certainty == .failed {
            try connection.cachedStatement("""
                UPDATE unwind_fills SET reversed_at_ms = ?
                WHERE venue = ? AND trade_id = ? AND provisional = 1 AND reversed_at_ms IS NULL
                """).execute(now, fill.venue, fill.tradeID)
            return connection.changes >= 1 ? .reversed : .duplicate
        }
        do {
            try connection.cachedStatement("""
                INSERT INTO unwind_fills (venue, trade_id, unwind_order_id, opportunity_id, price, quantity, fee_micros, filled_at_ms,
                    recorded_at_ms, provisional)
                SELECT ?, ?, id, opportunity_id, ?, ?, ?, ?, ?, ? FROM unwind_orders WHERE client_order_id = ?
                ON CONFLICT (venue, trade_id) DO NOTHING
                """
            ).execute(fill.venue, fill.tradeID, fill.price.ticks, fill.quantity.hundredths, fill.fee.micros, fill.filledAtMilliseconds,
                      now, fill.certainty == .provisional ? 1 : 0, fill.clientOrderID)
        } catch let error as SQLiteError where error.code == .constraintCheck {
            return .exceedsOrder
        }
        if connection.changes >= 1 { return .recorded }
        if fill.certainty == .certain {
            try connection.cachedStatement("""
                UPDATE unwind_fills SET provisional = 0
                WHERE venue = ? AND trade_id = ? AND provisional = 1 AND reversed_at_ms IS NULL
                """).execute(fill.venue, fill.tradeID)
            if connection.changes >= 1 { return .confirmed }
        }
        return .duplicate
    }
}

// MARK: - Markets blocked after too many unwinds (issue 14: no unwind loop)

extension Store {
    static func marketBlockKey(_ eventID: String) -> String { "market_blocked:\(eventID)" }

    /// Why `eventID` is blocked (nil: it is not): set after too many unwinds in a day, cleared
    /// only by `arbadmin resume --market`.
    public func marketBlock(_ eventID: String) throws -> String? {
        try connection.cachedStatement("SELECT value FROM settings WHERE key = ? AND value <> ''")
            .queryOne(Self.marketBlockKey(eventID)) { $0.text(0) }
    }

    /// Every blocked market and why, by event id.
    public func blockedMarkets() throws -> [String: String] {
        let rows = try connection.cachedStatement("SELECT key, value FROM settings WHERE key LIKE 'market_blocked:%' AND value <> ''")
            .query { (String($0.text(0).dropFirst("market_blocked:".count)), $0.text(1)) }
        return Dictionary(rows, uniquingKeysWith: { first, _ in first })
    }

    /// Blocks `eventID` (with an alert in the same commit) or, with `reason` nil, clears it.
    public func setMarketBlock(_ eventID: String, reason: String?, alert: NewAlert? = nil, atMilliseconds now: Int64) throws {
        admissionWrites &+= 1
        try connection.writeTransaction {
            try connection.cachedStatement("""
                INSERT INTO settings (key, value, updated_at_ms) VALUES (?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms
                """).execute(Self.marketBlockKey(eventID), reason ?? "", now)
            if let alert { try insertAlert(alert, opportunity: nil, at: now) }
        }
    }

    /// How many of `eventID`'s opportunities entered `Unwinding` since `since` (ms).
    public func unwinds(eventID: String, since: Int64) throws -> Int {
        try connection.cachedStatement("""
            SELECT count(DISTINCT t.opportunity_id) FROM transitions t JOIN opportunities o ON o.id = t.opportunity_id
            WHERE o.event_id = ? AND t.to_state = 'Unwinding' AND t.at_ms >= ?
            """).queryOne(eventID, since) { Int($0.int64(0)) } ?? 0
    }
}

// MARK: - Reading opportunities, legs, fills, transitions and alerts

extension Store {
    static let opportunityColumns = """
        id, dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b, instrument_b, edge_bps,
        price_a, price_b, quantity, expected_fees_micros, state, outcome, state_reason, flattened, created_at_ms,
        updated_at_ms
        """

    static func decodeOpportunity(_ row: Row) -> Opportunity {
        Opportunity(
            id: row.int64(0),
            dedupKey: row.text(1),
            eventID: row.text(2),
            legA: LegQuote(venue: row.text(3), outcome: row.text(4), instrument: row.text(5),
                           price: Price(uncheckedTicks: row.int64(10))),
            legB: LegQuote(venue: row.text(6), outcome: row.text(7), instrument: row.text(8),
                           price: Price(uncheckedTicks: row.int64(11))),
            edgeBps: row.int64(9),
            quantity: storedQuantity(row.int64(12)),
            expectedFees: Money(micros: row.int64(13)),
            state: storedState(row.text(14), row.optionalText(15)),
            stateReason: row.text(16),
            flattened: row.int64(17) != 0,
            createdAtMilliseconds: row.int64(18),
            updatedAtMilliseconds: row.int64(19))
    }

    static let legColumns = """
        id, opportunity_id, leg, venue, instrument, side, limit_price, quantity, time_in_force, client_order_id,
        venue_order_id, status, status_reason, cancel_requested, cancel_result, filled_quantity,
        filled_cost_micros, fees_micros, updated_at_ms
        """

    static func decodeLeg(_ row: Row) -> Leg {
        Leg(
            id: row.int64(0),
            opportunityID: row.int64(1),
            leg: storedEnum(row.text(2)),
            venue: row.text(3),
            instrument: row.text(4),
            side: storedEnum(row.text(5)),
            limitPrice: Price(uncheckedTicks: row.int64(6)),
            quantity: storedQuantity(row.int64(7)),
            timeInForce: storedEnum(row.text(8)),
            clientOrderID: row.text(9),
            venueOrderID: row.optionalText(10),
            status: storedEnum(row.text(11)),
            statusReason: row.optionalText(12),
            cancelRequested: row.int64(13) != 0,
            cancelResult: row.optionalText(14).map(storedEnum),
            filledQuantity: storedQuantity(row.int64(15)),
            filledCost: Money(micros: row.int64(16)),
            fees: Money(micros: row.int64(17)),
            updatedAtMilliseconds: row.int64(18))
    }

    /// Values the schema's CHECK constraints guarantee; anything else means a corrupt file, and
    /// trading on a corrupt state is worse than stopping.
    static func storedQuantity(_ hundredths: Int64) -> Quantity {
        guard let quantity = Quantity(hundredths: hundredths) else {
            preconditionFailure("negative quantity \(hundredths) in the database")
        }
        return quantity
    }

    static func storedState(_ name: String, _ outcome: String?) -> OpportunityState {
        guard let state = OpportunityState(name: name, outcome: outcome) else {
            preconditionFailure("unknown state \(name)/\(outcome ?? "nil") in the database")
        }
        return state
    }

    static func storedEnum<T: RawRepresentable>(_ text: String) -> T where T.RawValue == String {
        guard let value = T(rawValue: text) else { preconditionFailure("unknown \(T.self) '\(text)' in the database") }
        return value
    }

    public func state(of id: OpportunityID) throws -> OpportunityState? {
        try connection.cachedStatement("SELECT state, outcome FROM opportunities WHERE id = ?")
            .queryOne(id) { Self.storedState($0.text(0), $0.optionalText(1)) }
    }

    public func opportunity(_ id: OpportunityID) throws -> Opportunity? {
        try connection.cachedStatement("SELECT \(Self.opportunityColumns) FROM opportunities WHERE id = ?")
            .queryOne(id, row: Self.decodeOpportunity)
    }

    /// Every non-terminal opportunity, oldest first: the order recovery works in (DESIGN §6).
    public func nonTerminalOpportunities() throws -> [Opportunity] {
        try connection.cachedStatement(
            "SELECT \(Self.opportunityColumns) FROM opportunities WHERE state <> 'Closed' ORDER BY id"
        ).query(row: Self.decodeOpportunity)
    }

    /// Every opportunity whose legs are unequally filled and not yet flattened: `OneSided`,
    /// `CancelAttempted` and `Closed(one_sided)` without the operator's flattened mark.
    public func oneSidedOpportunities() throws -> [Opportunity] {
        try connection.cachedStatement("""
            SELECT \(Self.opportunityColumns) FROM opportunities
            WHERE state IN ('OneSided', 'CancelAttempted') OR (outcome = 'one_sided' AND flattened = 0)
            ORDER BY id DESC
            """
        ).query(row: Self.decodeOpportunity)
    }

    public func legs(of id: OpportunityID) throws -> [Leg] {
        try connection.cachedStatement("SELECT \(Self.legColumns) FROM legs WHERE opportunity_id = ? ORDER BY leg")
            .query(id, row: Self.decodeLeg)
    }

    public func leg(clientOrderID: String) throws -> Leg? {
        try connection.cachedStatement("SELECT \(Self.legColumns) FROM legs WHERE client_order_id = ?")
            .queryOne(clientOrderID, row: Self.decodeLeg)
    }

    public func fills(of id: OpportunityID) throws -> [Fill] {
        try connection.cachedStatement("""
            SELECT id, venue, trade_id, leg_id, opportunity_id, price, quantity, fee_micros, filled_at_ms, recorded_at_ms
            FROM fills WHERE opportunity_id = ? ORDER BY id
            """
        ).query(id) { row in
            Fill(id: row.int64(0), venue: row.text(1), tradeID: row.text(2), legID: row.int64(3),
                 opportunityID: row.int64(4), price: Price(uncheckedTicks: row.int64(5)),
                 quantity: Self.storedQuantity(row.int64(6)), fee: Money(micros: row.int64(7)),
                 filledAtMilliseconds: row.int64(8), recordedAtMilliseconds: row.int64(9))
        }
    }

    public func transitions(of id: OpportunityID) throws -> [TransitionRecord] {
        try connection.cachedStatement("""
            SELECT id, opportunity_id, from_state, to_state, outcome, reason, at_ms FROM transitions
            WHERE opportunity_id = ? ORDER BY id
            """
        ).query(id) { row in
            // The log stores the outcome of the `to` state; a `from` of Closed never occurs.
            TransitionRecord(
                id: row.int64(0), opportunityID: row.int64(1),
                from: row.optionalText(2).map { Self.storedState($0, nil) },
                to: Self.storedState(row.text(3), row.optionalText(4)),
                reason: row.text(5), atMilliseconds: row.int64(6))
        }
    }

    public func alerts(of id: OpportunityID) throws -> [Alert] {
        try alerts(where: "opportunity_id = ?", id)
    }

    func alerts(where condition: String, _ value: Int64) throws -> [Alert] {
        let alerts = try connection.cachedStatement("""
            SELECT id, alert_key, opportunity_id, kind, severity, text, body_json, created_at_ms FROM alerts
            WHERE \(condition) ORDER BY id
            """
        ).query(value) { row in
            Alert(id: row.int64(0), key: row.text(1), opportunityID: row.optionalInt64(2), kind: row.text(3),
                  severity: Self.storedEnum(row.text(4)), text: row.text(5), bodyJSON: row.text(6),
                  createdAtMilliseconds: row.int64(7), deliveries: [])
        }
        let deliveries = try connection.cachedStatement("""
            SELECT sink, attempts, delivered_at_ms, last_error FROM alert_deliveries WHERE alert_id = ? ORDER BY sink
            """)
        return try alerts.map { alert in
            var alert = alert
            alert.deliveries = try deliveries.query(alert.id) { row in
                AlertDelivery(sink: row.text(0), attempts: row.int(1), deliveredAtMilliseconds: row.optionalInt64(2),
                              lastError: row.optionalText(3))
            }
            return alert
        }
    }

    /// The opportunity, its legs, fills, timeline and alerts, read in one snapshot.
    public func history(of id: OpportunityID) throws -> OpportunityHistory? {
        let read = {
            guard let opportunity = try self.opportunity(id) else { return OpportunityHistory?.none }
            return OpportunityHistory(
                opportunity: opportunity, legs: try self.legs(of: id), fills: try self.fills(of: id),
                transitions: try self.transitions(of: id), alerts: try self.alerts(of: id))
        }
        return connection.isInTransaction ? try read() : try connection.readTransaction(read)
    }
}

// MARK: - Reading opportunities, legs, fills, transitions and alerts

extension Store {
    enum OpportunityColumn: Int32, Columns {
        case id, dedupKey, eventID, venueA, outcomeA, instrumentA, venueB, outcomeB, instrumentB, edgeBps, priceA, priceB
        case quantity, expectedFeesMicros, state, outcome, stateReason, flattened, createdAtMs, updatedAtMs
    }

    static let opportunityColumns = OpportunityColumn.list()

    /// An opportunity from a row that starts with ``OpportunityColumn``'s columns.
    static func decodeOpportunity(_ row: Row) -> Opportunity {
        typealias C = OpportunityColumn
        return Opportunity(
            id: row.int64(C.id),
            dedupKey: row.text(C.dedupKey),
            eventID: row.text(C.eventID),
            legA: LegQuote(venue: row.text(C.venueA), outcome: row.text(C.outcomeA), instrument: row.text(C.instrumentA),
                           price: Price(uncheckedTicks: row.int64(C.priceA))),
            legB: LegQuote(venue: row.text(C.venueB), outcome: row.text(C.outcomeB), instrument: row.text(C.instrumentB),
                           price: Price(uncheckedTicks: row.int64(C.priceB))),
            edgeBps: row.int64(C.edgeBps),
            quantity: storedQuantity(row.int64(C.quantity)),
            expectedFees: Money(micros: row.int64(C.expectedFeesMicros)),
            state: storedState(row.text(C.state), row.optionalText(C.outcome)),
            stateReason: row.text(C.stateReason),
            flattened: row.int64(C.flattened) != 0,
            createdAtMilliseconds: row.int64(C.createdAtMs),
            updatedAtMilliseconds: row.int64(C.updatedAtMs))
    }

    enum LegColumn: Int32, Columns {
        case id, opportunityID, leg, venue, instrument, side, limitPrice, quantity, timeInForce, clientOrderID
        case venueOrderID, status, statusReason, cancelRequested, cancelResult, filledQuantity, filledCostMicros
        case feesMicros, updatedAtMs
    }

    static let legColumns = LegColumn.list()

    static func decodeLeg(_ row: Row) -> Leg {
        typealias C = LegColumn
        return Leg(
            id: row.int64(C.id),
            opportunityID: row.int64(C.opportunityID),
            leg: storedEnum(row.text(C.leg)),
            venue: row.text(C.venue),
            instrument: row.text(C.instrument),
            side: storedEnum(row.text(C.side)),
            limitPrice: Price(uncheckedTicks: row.int64(C.limitPrice)),
            quantity: storedQuantity(row.int64(C.quantity)),
            timeInForce: storedEnum(row.text(C.timeInForce)),
            clientOrderID: row.text(C.clientOrderID),
            venueOrderID: row.optionalText(C.venueOrderID),
            status: storedEnum(row.text(C.status)),
            statusReason: row.optionalText(C.statusReason),
            cancelRequested: row.int64(C.cancelRequested) != 0,
            cancelResult: row.optionalText(C.cancelResult).map(storedEnum),
            filledQuantity: storedQuantity(row.int64(C.filledQuantity)),
            filledCost: Money(micros: row.int64(C.filledCostMicros)),
            fees: Money(micros: row.int64(C.feesMicros)),
            updatedAtMilliseconds: row.int64(C.updatedAtMs))
    }

    enum FillColumn: Int32, Columns {
        case id, venue, tradeID, legID, opportunityID, price, quantity, feeMicros, filledAtMs, recordedAtMs, provisional
    }

    static func decodeFill(_ row: Row) -> Fill {
        typealias C = FillColumn
        return Fill(id: row.int64(C.id), venue: row.text(C.venue), tradeID: row.text(C.tradeID), legID: row.int64(C.legID),
                    opportunityID: row.int64(C.opportunityID), price: Price(uncheckedTicks: row.int64(C.price)),
                    quantity: storedQuantity(row.int64(C.quantity)), fee: Money(micros: row.int64(C.feeMicros)),
                    filledAtMilliseconds: row.int64(C.filledAtMs), recordedAtMilliseconds: row.int64(C.recordedAtMs),
                    provisional: row.int64(C.provisional) != 0,
                    reversed: row.int64(FillColumn.width) != 0)
    }

    /// The fills SELECT list and, after it, whether each fill was reversed.
    static let fillSelect = "\(FillColumn.list()), EXISTS (SELECT 1 FROM fill_reversals r WHERE r.fill_id = fills.id)"


    enum TransitionColumn: Int32, Columns {
        case id, opportunityID, fromState, toState, outcome, reason, atMs
    }

    enum AlertColumn: Int32, Columns {
        case id, alertKey, opportunityID, kind, severity, text, bodyJSON, createdAtMs
    }

    static let alertColumns = AlertColumn.list()

    /// An alert without its deliveries (they are rows of their own).
    static func decodeAlert(_ row: Row) -> Alert {
        typealias C = AlertColumn
        return Alert(id: row.int64(C.id), key: row.text(C.alertKey), opportunityID: row.optionalInt64(C.opportunityID),
                     kind: row.text(C.kind), severity: storedEnum(row.text(C.severity)), text: row.text(C.text),
                     bodyJSON: row.text(C.bodyJSON), createdAtMilliseconds: row.int64(C.createdAtMs), deliveries: [])
    }

    enum DeliveryColumn: Int32, Columns {
        case sink, attempts, deliveredAtMs, lastError
    }

    /// A delivery from a row whose ``DeliveryColumn`` columns start at `offset`.
    static func decodeDelivery(_ row: Row, at offset: Int32) -> AlertDelivery {
        typealias C = DeliveryColumn
        return AlertDelivery(sink: row.text(C.sink, at: offset), attempts: row.int(C.attempts, at: offset),
                             deliveredAtMilliseconds: row.optionalInt64(C.deliveredAtMs, at: offset),
                             lastError: row.optionalText(C.lastError, at: offset))
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
            "SELECT \(Self.opportunityColumns) FROM opportunities WHERE id IN (\(Self.liveIDs)) ORDER BY id"
        ).query(row: Self.decodeOpportunity)
    }

    /// Every opportunity whose legs are unequally filled and not yet flattened: `OneSided`,
    /// `CancelAttempted`, `Unwinding` and `Closed(one_sided)` without the operator's flattened mark.
    public func oneSidedOpportunities() throws -> [Opportunity] {
        try connection.cachedStatement("""
            SELECT \(Self.opportunityColumns) FROM opportunities
            WHERE id IN (\(Self.liveIDs) AND state IN ('OneSided', 'CancelAttempted', 'Unwinding') UNION ALL \(Self.exposedClosedIDs))
            ORDER BY id DESC
            """
        ).query(row: Self.decodeOpportunity)
    }

    // The ids of the live rows and of the closed one-sided exposures, each read through its
    // partial index (schema.sql: the insert maintains no index of its own), never by a scan of
    // every opportunity ever recorded.
    static let liveIDs = "SELECT id FROM opportunities INDEXED BY opportunities_live_dedup_key WHERE state <> 'Closed'"
    static let exposedClosedIDs =
        "SELECT id FROM opportunities INDEXED BY opportunities_exposed WHERE outcome = 'one_sided' AND flattened = 0"

    public func legs(of id: OpportunityID) throws -> [Leg] {
        try connection.cachedStatement("SELECT \(Self.legColumns) FROM legs WHERE id IN (?, ?) ORDER BY id")
            .query(Self.legID(opportunity: id, leg: .a), Self.legID(opportunity: id, leg: .b), row: Self.decodeLeg)
    }

    public func leg(clientOrderID: String) throws -> Leg? {
        guard let id = legID(clientOrderID: clientOrderID) else { return nil }
        return try connection.cachedStatement("SELECT \(Self.legColumns) FROM legs WHERE id = ?")
            .queryOne(id, row: Self.decodeLeg)
    }

    public func fills(of id: OpportunityID) throws -> [Fill] {
        try connection.cachedStatement("""
            SELECT \(Self.fillSelect) FROM fills WHERE opportunity_id = ? ORDER BY id
            """
        ).query(id, row: Self.decodeFill)
    }

    public func transitions(of id: OpportunityID) throws -> [TransitionRecord] {
        try connection.cachedStatement("""
            SELECT \(TransitionColumn.list()) FROM transitions WHERE opportunity_id = ? ORDER BY id
            """
        ).query(id) { row in
            typealias C = TransitionColumn
            // The log stores the outcome of the `to` state; the one way out of Closed is from
            // Closed(one_sided) (an operator's unwind, schema v5), so that is what a `from` of
            // Closed was.
            return TransitionRecord(
                id: row.int64(C.id), opportunityID: row.int64(C.opportunityID),
                from: row.optionalText(C.fromState).map { Self.storedState($0, $0 == "Closed" ? CloseOutcome.oneSided.rawValue : nil) },
                to: Self.storedState(row.text(C.toState), row.optionalText(C.outcome)),
                reason: row.text(C.reason), atMilliseconds: row.int64(C.atMs))
        }
    }

    public func alerts(of id: OpportunityID) throws -> [Alert] {
        try readAlerts("SELECT \(Self.alertColumns) FROM alerts WHERE opportunity_id = ? ORDER BY id", id)
    }

    /// The opportunity, its legs, fills, timeline and alerts, read in one snapshot.
    public func history(of id: OpportunityID) throws -> OpportunityHistory? {
        let read = {
            guard let opportunity = try self.opportunity(id) else { return OpportunityHistory?.none }
            return OpportunityHistory(
                opportunity: opportunity, legs: try self.legs(of: id), fills: try self.fills(of: id),
                transitions: try self.transitions(of: id), alerts: try self.alerts(of: id), unwindOrders: try self.unwindOrders(of: id))
        }
        return connection.isInTransaction ? try read() : try connection.readTransaction(read)
    }
}

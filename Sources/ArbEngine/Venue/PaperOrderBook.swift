import Logging
import OrderStateMachine

/// The paper venue's records: the one owner of its SQLite connection, which is not `Sendable`.
///
/// Every method does its SQL synchronously, without a suspension point inside a transaction, so
/// actor reentrancy can never interleave two transactions on the connection.
actor PaperOrderBook {
    let name: String
    let feeModel: FeeModel
    /// Instruments whose market charges another fee than `feeModel` (the config's per-event `fees`).
    let feeByInstrument: [String: FeeModel]
    let fillModel: PaperFillModel
    /// `fillModel.seed ^ runSeed`: every fate, cancel outcome and latency derives from it.
    let seed: UInt64
    let clock: any TradingClock
    private let connection: Connection
    private let continuation: AsyncStream<VenueEvent>.Continuation
    private let logger: Logger
    private var behaviour: PaperBehaviour?
    private let opening: PaperOpeningScript?
    /// Latencies of calls other than submit (whose latency derives from its client order id).
    private var latencyGenerator: SeededGenerator
    /// Pending late fills by client order id, cancelled when the venue goes away (a crash loses
    /// them, as the brief's "market that never traded"). A cancel of the order does not cancel its
    /// timer: the status check inside the fill's own transaction is the one guard, so that guard
    /// is exercised every time rather than only in a rare race.
    private var lateFills: [String: Task<Void, Never>] = [:]

    init(name: String, path: String, fillModel: PaperFillModel, feeModel: FeeModel, feeByInstrument: [String: FeeModel] = [:], seed: UInt64,
         clock: any TradingClock, behaviour: PaperBehaviour?, opening: PaperOpeningScript? = nil, continuation: AsyncStream<VenueEvent>.Continuation) throws {
        self.connection = try PaperVenueFile.open(path: path, venueName: name)
        self.name = name
        self.feeModel = feeModel
        self.feeByInstrument = feeByInstrument
        self.fillModel = fillModel
        self.seed = seed
        self.clock = clock
        self.behaviour = behaviour
        self.opening = opening
        self.continuation = continuation
        self.latencyGenerator = SeededGenerator.derived(seed: seed, name: "\(name)#latency")
        self.logger = Logger(label: "arb.paper.\(name)")
    }

    deinit {
        for task in lateFills.values { task.cancel() }
    }

    func setBehaviour(_ behaviour: PaperBehaviour?) {
        self.behaviour = behaviour
    }

    func nextLatencyMilliseconds() -> Int64 {
        PaperOrderBook.latency(model: fillModel, generator: &latencyGenerator)
    }

    static func latency(model: PaperFillModel, generator: inout SeededGenerator) -> Int64 {
        let span = model.latencyMillisecondsMax - model.latencyMillisecondsMin
        return model.latencyMillisecondsMin + Int64(generator.uniform(below: UInt64(span) + 1))
    }

    private func ensureReachable() throws {
        if behaviour?.unreachable == true {
            throw VenueError.unavailable(reason: "paper venue \(name) is unreachable (scripted)")
        }
    }

    // MARK: - Submit

    /// Books the order and commits it before answering: a venue never acknowledges an order it
    /// has no record of, so whatever the trader hears (an ack, a refusal, or silence), a query
    /// after a crash of either side finds exactly what was accepted.
    func submit(_ prepared: PreparedOrder) throws -> SubmitAck {
        try ensureReachable()
        let request = prepared.request
        let plan = behaviour?.fate(for: request).map(PaperPlan.init)
            ?? opening?.fate(venue: name, clientOrderID: request.clientOrderID).map(PaperPlan.init)
            ?? PaperPlan(drawnFor: request, model: fillModel, seed: seed)
        guard plan.arrives else { throw VenueError.ambiguous(reason: Self.lostAnswer) }
        let now = clock.nowMilliseconds()
        let venueOrderID = PaperVenue.venueOrderID(venue: name, clientOrderID: request.clientOrderID)

        let (order, fills, lateFillAfter): (VenueOrder, [FillReport], Int64?)
        do {
            (order, fills, lateFillAfter) = try connection.writeTransaction {
                if try fetchOrder(request.clientOrderID) != nil {
                    throw VenueError.rejected(reason: "duplicate client_order_id \(request.clientOrderID)")
                }
                let booking = try refusal(of: prepared, venueOrderID: venueOrderID).map(PaperBooking.rejected)
                    ?? PaperBooking(plan: plan, quantity: request.quantity, timeInForce: request.timeInForce)
                try connection.cachedStatement("""
                    INSERT INTO paper_orders (client_order_id, venue_order_id, instrument, side, price, quantity,
                        filled_quantity, status, time_in_force, reason, fate, created_at_ms, updated_at_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(
                        request.clientOrderID, venueOrderID, request.instrument, request.side.rawValue,
                        request.limitPrice.ticks, request.quantity.hundredths, booking.filledAtSubmit.hundredths,
                        booking.status.rawValue, request.timeInForce.rawValue, booking.reason, plan.summary, now, now)
                var fills: [FillReport] = []
                if !booking.filledAtSubmit.isZero {
                    fills.append(try insertFill(request.clientOrderID, instrument: request.instrument, price: request.limitPrice,
                                                quantity: booking.filledAtSubmit, at: now))
                }
                let order = VenueOrder(
                    clientOrderID: request.clientOrderID, venueOrderID: venueOrderID, instrument: request.instrument,
                    side: request.side, limitPrice: request.limitPrice, quantity: request.quantity,
                    filledQuantity: booking.filledAtSubmit, status: booking.status, reason: booking.reason)
                return (order, fills, booking.lateFillAfterMilliseconds)
            }
        } catch let error as SQLiteError where error.isConstraintViolation {
            // A constraint fails before COMMIT, so the transaction rolled back: a definite refusal.
            // Most likely another connection to this file booked the same client order id first
            // (the venue order id is derived from it: either unique index means the same order).
            if error.code == .constraintUnique {
                throw VenueError.rejected(reason: "duplicate client_order_id \(request.clientOrderID)")
            }
            throw VenueError.rejected(reason: "paper venue \(name) refused the order: \(error.message)")
        } catch let error as SQLiteError {
            // The commit may or may not have reached the disk: only a query can tell.
            throw VenueError.ambiguous(reason: "paper venue \(name) storage error: \(error)")
        }

        if order.status == .rejected {
            throw VenueError.rejected(reason: order.reason ?? "rejected")
        }
        publish(fills: fills, order: order)
        if let lateFillAfter {
            scheduleLateFill(request.clientOrderID, afterMilliseconds: lateFillAfter)
        }
        if plan.answerLost {
            throw VenueError.ambiguous(reason: Self.lostAnswer)
        }
        return SubmitAck(order: order, fills: fills)
    }

    /// The same words whether or not the order was placed: nothing in the answer may tell.
    static let lostAnswer = "simulated timeout: the answer to the submit was lost"

    /// What a real venue refuses whatever the fill model says.
    private func refusal(of prepared: PreparedOrder, venueOrderID: String) throws -> String? {
        let request = prepared.request
        if let claimed = prepared.venueOrderID, claimed != venueOrderID {
            return "venue_order_id \(claimed) does not match the order (expected \(venueOrderID))"
        }
        if request.quantity.isZero {
            return "quantity must be positive"
        }
        if request.side == .sell {
            // No short selling: a sell must be covered by contracts held and not already offered,
            // which also keeps every position a non-negative `Quantity`.
            let held = try netPosition(request.instrument)
            let offered = try connection.cachedStatement("""
                SELECT COALESCE(SUM(quantity - filled_quantity), 0) FROM paper_orders
                WHERE instrument = ? AND side = 'sell' AND status IN ('open', 'partially_filled')
                """).queryOne(request.instrument) { $0.int64(0) } ?? 0
            if request.quantity.hundredths > held - offered {
                return "cannot sell \(request.quantity) of \(request.instrument): position not held"
            }
        }
        return nil
    }

    // MARK: - Late fills

    private func scheduleLateFill(_ clientOrderID: String, afterMilliseconds delay: Int64) {
        let clock = self.clock
        lateFills[clientOrderID] = Task(executorPreference: clock.taskExecutor) { [weak self] in
            do {
                try await clock.sleep(milliseconds: delay)
            } catch {
                return  // The venue went away: the fill is lost, as after a crash.
            }
            await self?.applyLateFill(clientOrderID)
        }
    }

    /// Fills the remainder of a resting order, unless it stopped resting meanwhile (cancelled,
    /// or filled): the check and the fill are one transaction, so a cancel that committed first
    /// always wins and a cancelled order never fills.
    func applyLateFill(_ clientOrderID: String) {
        lateFills[clientOrderID] = nil
        let now = clock.nowMilliseconds()
        do {
            let result: (VenueOrder, FillReport)? = try connection.writeTransaction {
                guard var order = try fetchOrder(clientOrderID), !order.status.isFinal else { return nil }
                let fill = try insertFill(clientOrderID, instrument: order.instrument, price: order.limitPrice,
                                          quantity: order.quantity - order.filledQuantity, at: now)
                try connection.cachedStatement("""
                    UPDATE paper_orders SET filled_quantity = quantity, status = 'filled', updated_at_ms = ?
                    WHERE client_order_id = ? AND status IN ('open', 'partially_filled')
                    """).execute(now, clientOrderID)
                precondition(connection.changes == 1, "late fill of \(clientOrderID) changed \(connection.changes) rows")
                order.filledQuantity = order.quantity
                order.status = .filled
                return (order, fill)
            }
            if let (order, fill) = result {
                publish(fills: [fill], order: order)
            }
        } catch {
            logger.error("late fill of \(clientOrderID) lost: \(error)")
        }
    }

    // MARK: - Cancel

    func cancel(clientOrderID: String) throws -> CancelAnswer {
        try ensureReachable()
        let now = clock.nowMilliseconds()
        let answer: CancelAnswer
        do {
            answer = try connection.writeTransaction {
                guard var order = try fetchOrder(clientOrderID) else {
                    throw VenueError.unknownOrder(clientOrderID: clientOrderID)
                }
                if order.status.isFinal { return .alreadyDone(order) }
                // The attempt count is part of the record so a restarted venue draws the next
                // attempt's outcome, not the first one's again.
                let attempt = try connection.cachedStatement("""
                    UPDATE paper_orders SET cancel_attempts = cancel_attempts + 1, updated_at_ms = ?
                    WHERE client_order_id = ? RETURNING cancel_attempts
                    """).queryOne(now, clientOrderID) { $0.int64(0) } ?? 1
                if cancelFails(clientOrderID, attempt: attempt) {
                    return .failed(reason: "paper venue \(name) refused cancel attempt \(attempt) (simulated)")
                }
                let reason = "cancelled on request"
                try connection.cachedStatement("""
                    UPDATE paper_orders SET status = 'cancelled', reason = ?, updated_at_ms = ?
                    WHERE client_order_id = ? AND status IN ('open', 'partially_filled')
                    """).execute(reason, now, clientOrderID)
                precondition(connection.changes == 1, "cancel of \(clientOrderID) changed \(connection.changes) rows")
                order.status = .cancelled
                order.reason = reason
                return .cancelled(order)
            }
        } catch let error as SQLiteError {
            throw VenueError.unavailable(reason: "paper venue \(name) storage error: \(error)")
        }
        if case .cancelled(let order) = answer {
            continuation.yield(.orderUpdate(order))
        }
        return answer
    }

    private func cancelFails(_ clientOrderID: String, attempt: Int64) -> Bool {
        if let behaviour { return behaviour.cancelFails }
        var generator = SeededGenerator.derived(seed: seed, name: "\(clientOrderID)#cancel\(attempt)")
        return Int(generator.uniform(below: 100)) < fillModel.cancelFailPercent
    }

    // MARK: - Queries

    func order(clientOrderID: String) throws -> VenueOrder? {
        try ensureReachable()
        return try reading { try fetchOrder(clientOrderID) }
    }

    func fills(clientOrderID: String) throws -> [FillReport] {
        try ensureReachable()
        return try reading {
            try connection.cachedStatement("""
                SELECT trade_id, client_order_id, price, quantity, fee_micros, filled_at_ms
                FROM paper_fills WHERE client_order_id = ? ORDER BY id
                """).query(clientOrderID) { row in
                    guard let price = Price(ticks: row.int64(2)), let quantity = Quantity(hundredths: row.int64(3)) else {
                        throw VenueError.malformed(reason: "paper_fills row \(row.text(0)) has an invalid price or quantity")
                    }
                    return FillReport(venue: name, tradeID: row.text(0), clientOrderID: row.text(1), price: price,
                                      quantity: quantity, fee: Money(micros: row.int64(4)), filledAtMilliseconds: row.int64(5))
                }
        }
    }

    /// Net filled quantity and its cost (buys add, sells take away) by instrument, omitting
    /// instruments where nothing is held.
    func positions() throws -> [VenuePosition] {
        try ensureReachable()
        return try reading {
            try connection.cachedStatement("""
                SELECT o.instrument,
                       SUM(CASE o.side WHEN 'buy' THEN f.quantity ELSE -f.quantity END),
                       SUM(CASE o.side WHEN 'buy' THEN f.price * f.quantity ELSE -f.price * f.quantity END)
                FROM paper_fills f JOIN paper_orders o USING (client_order_id)
                GROUP BY o.instrument ORDER BY o.instrument
                """).query { row in (row.text(0), row.int64(1), row.int64(2)) }
                .compactMap { instrument, hundredths, cost in
                    guard hundredths != 0 else { return nil }
                    guard let quantity = Quantity(hundredths: hundredths) else {
                        throw VenueError.malformed(reason: "paper position in \(instrument) is short \(-hundredths) hundredths")
                    }
                    return VenuePosition(instrument: instrument, quantity: quantity, cost: Money(micros: cost))
                }
        }
    }

    /// The starting balance, less the cost of buys and the fees, plus the proceeds of sells.
    func balance() throws -> Money {
        try ensureReachable()
        return try reading {
            let spent = try connection.cachedStatement("""
                SELECT COALESCE(SUM(CASE o.side WHEN 'buy' THEN f.price * f.quantity ELSE -f.price * f.quantity END
                                    + f.fee_micros), 0)
                FROM paper_fills f JOIN paper_orders o USING (client_order_id)
                """).queryOne { $0.int64(0) } ?? 0
            return PaperVenue.startingBalance - Money(micros: spent)
        }
    }

    private func reading<T>(_ body: () throws -> T) throws -> T {
        do {
            return try connection.readTransaction(body)
        } catch let error as SQLiteError {
            throw VenueError.unavailable(reason: "paper venue \(name) storage error: \(error)")
        }
    }

    // MARK: - Rows

    private func fetchOrder(_ clientOrderID: String) throws -> VenueOrder? {
        try connection.cachedStatement("""
            SELECT client_order_id, venue_order_id, instrument, side, price, quantity, filled_quantity, status, reason
            FROM paper_orders WHERE client_order_id = ?
            """).queryOne(clientOrderID) { row in
                guard let side = Side(rawValue: row.text(3)), let price = Price(ticks: row.int64(4)),
                      let quantity = Quantity(hundredths: row.int64(5)),
                      let filled = Quantity(hundredths: row.int64(6)),
                      let status = VenueOrderStatus(rawValue: row.text(7))
                else {
                    throw VenueError.malformed(reason: "paper_orders row \(clientOrderID) cannot be read")
                }
                return VenueOrder(clientOrderID: row.text(0), venueOrderID: row.text(1), instrument: row.text(2),
                                  side: side, limitPrice: price, quantity: quantity, filledQuantity: filled,
                                  status: status, reason: row.optionalText(8))
            }
    }

    private func netPosition(_ instrument: String) throws -> Int64 {
        try connection.cachedStatement("""
            SELECT COALESCE(SUM(CASE o.side WHEN 'buy' THEN f.quantity ELSE -f.quantity END), 0)
            FROM paper_fills f JOIN paper_orders o USING (client_order_id) WHERE o.instrument = ?
            """).queryOne(instrument) { $0.int64(0) } ?? 0
    }

    /// Records one fill. Its trade id is the order's client id and the fill's number within the
    /// order: unique as long as client order ids are (the table and DESIGN §8.2 see to that),
    /// so ids never repeat across restarts, nor even if this file were lost and recreated, which
    /// a counter in the file could not promise; and a seeded run reproduces them exactly.
    private func insertFill(_ clientOrderID: String, instrument: String, price: Price, quantity: Quantity, at now: Int64) throws -> FillReport {
        let number = 1 + (try connection.cachedStatement("SELECT COUNT(*) FROM paper_fills WHERE client_order_id = ?")
            .queryOne(clientOrderID) { $0.int64(0) } ?? 0)
        let fill = FillReport(venue: name, tradeID: "\(name)-\(clientOrderID)-F\(number)", clientOrderID: clientOrderID,
                              price: price, quantity: quantity,
                              fee: (feeByInstrument[instrument] ?? feeModel).fee(price: price, quantity: quantity),
                              filledAtMilliseconds: now)
        try connection.cachedStatement("""
            INSERT INTO paper_fills (trade_id, client_order_id, price, quantity, fee_micros, filled_at_ms)
            VALUES (?, ?, ?, ?, ?, ?)
            """).execute(fill.tradeID, clientOrderID, price.ticks, quantity.hundredths, fill.fee.micros, now)
        return fill
    }

    // MARK: - Events

    /// Fills before the order update that reflects them, so a consumer that sees "filled" has
    /// already seen every fill.
    private func publish(fills: [FillReport], order: VenueOrder) {
        for fill in fills { continuation.yield(.fill(fill)) }
        continuation.yield(.orderUpdate(order))
    }
}

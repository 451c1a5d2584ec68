import ArbEngine
import Foundation
import OrderStateMachine
import Synchronization

/// One side of the loopback exchange's order keeping: a paper venue (its matching, seeded fill
/// model and SQLite file, `loopback-<venue>.db`) plus the index a real venue's API needs that the
/// paper venue does not keep by itself: which client order id a venue order id names, and the
/// orders of each market. The index is rebuilt from the file at start, so an exchange restarted
/// on the same directory still knows every order.
///
/// A trade that fails after matching (Polymarket's FAILED) is the exchange's own write to the
/// file: a row in `loopback_failed_trades` (beside, not in, the paper venue's tables) and its
/// order's filled quantity taken back, in one transaction.
final class LoopbackLedger: Sendable {
    struct Entry: Sendable {
        var clientOrderID: String
        var venueOrderID: String
        var instrument: String
        var createdMilliseconds: Int64
        var rejected: Bool
    }

    let venue: PaperVenue
    let counters: LoopbackCounters
    private let writer: Mutex<Connection>
    private let failed: Mutex<Set<String>>
    private let index: Mutex<(byVenueID: [String: Entry], byInstrument: [String: [String]])>

    init(venue: PaperVenue, counters: LoopbackCounters) throws {
        self.venue = venue
        self.counters = counters
        var byVenueID: [String: Entry] = [:]
        var byInstrument: [String: [String]] = [:]
        let file = try Connection(path: venue.path, mode: .readOnly)
        let rows = try file.prepare(
            "SELECT client_order_id, venue_order_id, instrument, created_at_ms, status FROM paper_orders ORDER BY id"
        ).query { Entry(clientOrderID: $0.text(0), venueOrderID: $0.text(1), instrument: $0.text(2), createdMilliseconds: $0.int64(3),
                        rejected: $0.text(4) == "rejected") }
        for entry in rows {
            byVenueID[entry.venueOrderID] = entry
            byInstrument[entry.instrument, default: []].append(entry.venueOrderID)
        }
        index = Mutex((byVenueID, byInstrument))
        let writer = try Connection(path: venue.path, mode: .readWrite)
        try writer.execute("PRAGMA busy_timeout = 5000")
        try writer.execute("""
            CREATE TABLE IF NOT EXISTS loopback_failed_trades (
                trade_id         TEXT    PRIMARY KEY REFERENCES paper_fills (trade_id),
                client_order_id  TEXT    NOT NULL REFERENCES paper_orders (client_order_id),
                quantity         INTEGER NOT NULL CHECK (quantity > 0),
                failed_at_ms     INTEGER NOT NULL
            )
            """)
        failed = Mutex(Set(try writer.prepare("SELECT trade_id FROM loopback_failed_trades").query { $0.text(0) }))
        self.writer = Mutex(writer)
    }

    func hasFailed(tradeID: String) -> Bool { failed.withLock { $0.contains(tradeID) } }

    /// The trade failed after matching: recorded once, and its quantity taken back from its
    /// order (a filled order is then cancelled with what is left; a resting one rests with less).
    func fail(_ fill: FillReport, now: Int64) throws {
        guard !hasFailed(tradeID: fill.tradeID) else { return }
        try writer.withLock { connection in
            try connection.writeTransaction {
                try connection.prepare("INSERT OR IGNORE INTO loopback_failed_trades (trade_id, client_order_id, quantity, failed_at_ms) VALUES (?, ?, ?, ?)")
                    .execute(fill.tradeID, fill.clientOrderID, fill.quantity.hundredths, now)
                guard connection.changes == 1 else { return }
                try connection.prepare("""
                    UPDATE paper_orders SET filled_quantity = filled_quantity - ?1,
                        status = CASE WHEN status IN ('filled', 'cancelled') THEN 'cancelled'
                                      WHEN filled_quantity - ?1 = 0 THEN 'open' ELSE 'partially_filled' END,
                        updated_at_ms = ?2
                    WHERE client_order_id = ?3
                    """).execute(fill.quantity.hundredths, now, fill.clientOrderID)
            }
        }
        failed.withLock { _ = $0.insert(fill.tradeID) }
        counters.add(.failedTrades)
    }

    /// What became of an order sent to the paper venue.
    enum Placement {
        case placed(VenueOrder)
        /// The paper venue lost the answer (its fill model's lost answers), placed or not: the
        /// exchange closes the connection with no answer.
        case lost
        case refused(String)
        /// The client order id (Polymarket: the order hash) was used before.
        case duplicate
    }

    /// Sends `request` to the paper venue and indexes what it placed (a refused order too, as the
    /// file keeps it). `VenueError.unavailable` and the like are thrown.
    func place(_ request: OrderRequest, now: Int64) async throws -> Placement {
        let prepared = venue.prepare(request)
        do {
            let ack = try await venue.submit(prepared)
            note(ack.order, createdMilliseconds: now)
            counters.add(.ordersPlaced)
            return .placed(ack.order)
        } catch VenueError.ambiguous {
            if let placed = try? await venue.order(clientOrderID: request.clientOrderID) {
                note(placed, createdMilliseconds: now)
                counters.add(.ordersPlaced)
            }
            counters.add(.droppedAnswers)
            return .lost
        } catch VenueError.rejected(let reason) {
            if reason.hasPrefix("duplicate client_order_id") { return .duplicate }
            note(VenueOrder(clientOrderID: request.clientOrderID, venueOrderID: prepared.venueOrderID ?? request.clientOrderID,
                            instrument: request.instrument, side: request.side, limitPrice: request.limitPrice, quantity: request.quantity,
                            filledQuantity: .zero, status: .rejected), createdMilliseconds: now)
            return .refused(reason)
        }
    }

    func note(_ order: VenueOrder, createdMilliseconds: Int64) {
        index.withLock { index in
            guard index.byVenueID[order.venueOrderID] == nil else { return }
            index.byVenueID[order.venueOrderID] = Entry(clientOrderID: order.clientOrderID, venueOrderID: order.venueOrderID,
                                                        instrument: order.instrument, createdMilliseconds: createdMilliseconds,
                                                        rejected: order.status == .rejected)
            index.byInstrument[order.instrument, default: []].append(order.venueOrderID)
        }
    }

    func entry(venueOrderID: String) -> Entry? { index.withLock { $0.byVenueID[venueOrderID] } }

    /// The orders of `instruments`, oldest first.
    func entries(instruments: [String]) -> [Entry] {
        index.withLock { index in
            instruments.flatMap { index.byInstrument[$0] ?? [] }.compactMap { index.byVenueID[$0] }
                .sorted { ($0.createdMilliseconds, $0.venueOrderID) < ($1.createdMilliseconds, $1.venueOrderID) }
        }
    }

    /// The order as the paper venue holds it now (nil: unknown, or refused at submit).
    func order(venueOrderID: String) async throws -> (Entry, VenueOrder)? {
        guard let entry = entry(venueOrderID: venueOrderID), !entry.rejected,
              let order = try await venue.order(clientOrderID: entry.clientOrderID) else { return nil }
        return (entry, order)
    }
}

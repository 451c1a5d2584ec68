import ArbEngine
import Foundation
import OrderStateMachine
import Synchronization

/// One side of the loopback exchange's order keeping: a paper venue (its matching, seeded fill
/// model and SQLite file, `loopback-<venue>.db`) plus the index a real venue's API needs that the
/// paper venue does not keep by itself: which client order id a venue order id names, and the
/// orders of each market. The index is rebuilt from the file at start, so an exchange restarted
/// on the same directory still knows every order.
final class LoopbackLedger: Sendable {
    struct Entry: Sendable {
        var clientOrderID: String
        var venueOrderID: String
        var instrument: String
        var createdMilliseconds: Int64
        var rejected: Bool
    }

    let venue: PaperVenue
    private let index: Mutex<(byVenueID: [String: Entry], byInstrument: [String: [String]])>

    init(venue: PaperVenue) throws {
        self.venue = venue
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

import ArbEngine
import OrderStateMachine

/// Everything the page shows, read from the trader database in one snapshot (read-only: in WAL
/// mode the reader never blocks the trader's commits).
struct DashboardSnapshot: Sendable {
    /// One open one-sided exposure, as `list --one-sided` counts it.
    struct Position: Sendable {
        var summary: OpportunitySummary
        var exposure: Exposure
        /// The leading leg's venue, outcome and instrument (what is held).
        var venue: String
        var outcome: String
        var instrument: String
    }

    /// A point of a 24-hour chart: a time and a dollar amount.
    struct Point: Sendable, Hashable {
        var atMilliseconds: Int64
        var value: Money
    }

    var status: StatusReport
    var positions: [Position]
    var recent: [OpportunitySummary]
    var alerts: [Alert]
    /// Cumulative net edge of the hedged pairs closed in the last 24 h, by close time.
    var edge: [Point]
    /// Open one-sided exposure (dollars at risk), by the time each arose, over the last 24 h.
    var exposure: [Point]
    var now: Int64

    static let day: Int64 = 86_400_000

    static func read(_ store: Store, now: Int64, recentLimit: Int = 50, alertLimit: Int = 30) throws -> DashboardSnapshot {
        try store.readSnapshot {
            let status = try StatusReport.read(store, now: now)
            let open = try OpportunityListing.read(store, ListFilters(state: nil, outcome: nil, oneSided: true, since: nil, limit: nil),
                                                   now: now)
            let positions = open.map { summary in
                let exposure = Exposure(summary)
                let quote = exposure.leadingLeg.map { summary.opportunity.quote($0) } ?? summary.opportunity.legA
                return Position(summary: summary, exposure: exposure, venue: quote.venue, outcome: quote.outcome,
                                instrument: quote.instrument)
            }
            let recent = try OpportunityListing.read(store, ListFilters(state: nil, outcome: nil, oneSided: false, since: nil,
                                                                        limit: recentLimit), now: now)
            let alerts = try AlertListing.read(store, undeliveredOnly: false, limit: alertLimit)
            // Only the hedged ones of the last day: the chart needs no other row.
            let lastDay = try store.opportunitySummaries(OpportunityQuery(outcome: .hedged, createdSinceMilliseconds: now - day))
            return DashboardSnapshot(status: status, positions: positions, recent: recent, alerts: alerts,
                                     edge: edgeSeries(lastDay), exposure: exposureSeries(positions, since: now - day), now: now)
        }
    }

    /// Net edge of each hedged pair (each pays $1 whichever outcome wins), summed in close order.
    static func edgeSeries(_ rows: [OpportunitySummary]) -> [Point] {
        var total = Money.zero
        return rows.filter { $0.opportunity.state == .closed(.hedged) }
            .sorted { $0.opportunity.updatedAtMilliseconds < $1.opportunity.updatedAtMilliseconds }
            .map { row in
                let a = row.legA ?? .none
                let b = row.legB ?? .none
                total += Money(micros: a.filled.hundredths * 10_000) - a.cost - b.cost - a.fees - b.fees
                return Point(atMilliseconds: row.opportunity.updatedAtMilliseconds, value: total)
            }
    }

    /// The open exposures summed in the order they arose (those older than `since` at its start).
    static func exposureSeries(_ positions: [Position], since: Int64) -> [Point] {
        var total = Money.zero
        var points: [Point] = []
        for position in positions.sorted(by: { $0.summary.opportunity.createdAtMilliseconds < $1.summary.opportunity.createdAtMilliseconds }) {
            total += position.exposure.atRisk
            points.append(Point(atMilliseconds: max(since, position.summary.opportunity.createdAtMilliseconds), value: total))
        }
        return points
    }
}

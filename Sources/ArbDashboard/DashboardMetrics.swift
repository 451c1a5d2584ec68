import ArbEngine
import OrderStateMachine
import Prometheus

/// `/metrics`: gauges derived from the trader database at each scrape (a fresh registry each
/// time, so a gauge never outlives the row it came from), in Prometheus text format.
enum DashboardMetrics {
    static func text(_ store: Store, now: Int64) throws -> String {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "arb", metricName: name, unitName: unit, helpText: help),
                               labels: labels)
        }
        try store.readSnapshot {
            let status = try StatusReport.read(store, now: now)
            for (state, count) in status.counts {
                gauge("opportunities", "", "Opportunities in the database by state and outcome",
                      [("state", state.name), ("outcome", state.outcome?.rawValue ?? "")]).set(Double(count))
            }
            // Open one-sided exposure per venue (the held leg's), as `list --one-sided` counts it.
            let open = try OpportunityListing.read(store, ListFilters(state: nil, outcome: nil, oneSided: true, since: nil, limit: nil),
                                                   now: now)
            var contracts: [String: Int64] = [:]
            var dollars: [String: Int64] = [:]
            for summary in open {
                let exposure = Exposure(summary)
                let venue = exposure.leadingLeg.map { summary.opportunity.quote($0).venue } ?? summary.opportunity.legA.venue
                contracts[venue, default: 0] += exposure.exposed.hundredths
                dollars[venue, default: 0] += exposure.atRisk.micros
            }
            for venue in Set(contracts.keys).union(["kalshi", "polymarket"]).sorted() {
                gauge("open_exposure", "contracts", "Open one-sided exposure, contracts", [("venue", venue)]).set(Double(contracts[venue] ?? 0) / 100)
                gauge("open_exposure", "usd", "Open one-sided exposure, dollars at risk", [("venue", venue)]).set(Double(dollars[venue] ?? 0) / 1_000_000)
            }
            var pending: [String: Int] = [:]
            for alert in try store.undeliveredAlerts() {
                for delivery in alert.deliveries where delivery.deliveredAtMilliseconds == nil { pending[delivery.sink, default: 0] += 1 }
            }
            for (sink, count) in pending {
                gauge("alerts_pending", "", "Alert deliveries not yet made", [("sink", sink)])
                    .set(Double(count))
            }
            for feed in status.bookFeeds {
                for market in feed.markets {
                    gauge("book_trusted", "", "1 when the trader trusts the market's book",
                          [("venue", feed.venue), ("market", market.market)]).set(Double(market.trusted ? 1 : 0))
                }
            }
            gauge("halted", "", "1 when the trader is halted").set(Double(status.halt.halted ? 1 : 0))
            if let lease = status.lease {
                gauge("lease_age", "seconds", "Seconds since the trader's last lease heartbeat")
                    .set(Double(max(0, now - lease.heartbeatAtMilliseconds)) / 1_000)
            }
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

import Metrics
import OrderStateMachine

/// The trader's live counters, through swift-metrics: no-ops unless `arb run --metrics-listen`
/// bootstrapped a backend (Prometheus) before the trader started. Each is made at its use, so the
/// backend in place then records it; labels never carry an id, a price or a key.
enum TraderMetrics {
    enum CommitKind: String {
        case begin, abandon, advance, record, batch
    }

    /// `arb_transition_commit_seconds{kind}`: one write transaction of the ledger.
    static func commit(_ kind: CommitKind, since started: ContinuousClock.Instant) {
        Metrics.Timer(label: "arb_transition_commit_seconds", dimensions: [("kind", kind.rawValue)])
            .record(duration: ContinuousClock.now - started)
    }

    /// `arb_opportunities_closed_total{outcome}`: closes this process committed.
    static func closed(_ outcome: CloseOutcome) {
        Metrics.Counter(label: "arb_opportunities_closed_total", dimensions: [("outcome", outcome.rawValue)]).increment()
    }

    /// `arb_lease_heartbeat_timestamp_seconds`: the lease's last heartbeat (its age: `time() - this`).
    static func heartbeat(atMilliseconds now: Int64) {
        Metrics.Gauge(label: "arb_lease_heartbeat_timestamp_seconds").record(Double(now) / 1_000)
    }
}

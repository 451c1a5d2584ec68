import OrderStateMachine

/// Somewhere an alert is delivered to (DESIGN §4, alerts go through an outbox). `name` is the
/// `alert_deliveries.sink` the outbox records each delivery under, so it must stay the same across
/// restarts and be unique among a dispatcher's sinks.
///
/// `deliver` returns only once the alert is *had* by the sink (written and synced, or accepted
/// with a 2xx): the dispatcher marks the row delivered right after. It throws on any failure, and
/// the row is retried. A receiver may see an alert twice (a crash between deliver and mark); the
/// stable `key` lets it drop repeats.
public protocol AlertSink: Sendable {
    var name: String { get }
    /// Alerts below this severity are not owed to this sink (no delivery row is written for it).
    var minSeverity: AlertSeverity { get }
    func deliver(_ alert: PendingDelivery) async throws
    /// Releases what the sink holds (connections). Called once, by whoever made the sink, after
    /// the dispatcher is done with it.
    func shutdown() async
}

extension AlertSink {
    public func shutdown() async {}
    public var minSeverity: AlertSeverity { .info }
}

/// Why a sink could not deliver. Descriptions never contain a webhook's secret (see `redactedURL`).
public enum AlertSinkError: Error, Sendable, Equatable, CustomStringConvertible {
    case writeFailed(sink: String, detail: String)
    case invalidURL(redacted: String)
    case httpStatus(Int, redactedURL: String)
    /// 429 with the service's own wait (Discord's `retry_after`, a `Retry-After` header).
    case rateLimited(redactedURL: String, retryAfterMilliseconds: Int64)
    case transport(redactedURL: String, detail: String)

    public var description: String {
        switch self {
        case .writeFailed(let sink, let detail): "\(sink) sink: \(detail)"
        case .invalidURL(let url): "webhook URL \(url) is not an http(s) URL"
        case .httpStatus(let status, let url): "webhook \(url) answered HTTP \(status)"
        case .rateLimited(let url, let wait): "webhook \(url) answered HTTP 429 (retry after \(wait) ms)"
        case .transport(let url, let detail): "webhook \(url) failed: \(detail)"
        }
    }
}

import OrderStateMachine

/// `arbadmin alerts`: the outbox, newest first, with each sink's delivery.
public enum AlertListing {
    public static func read(_ store: Store, undeliveredOnly: Bool, limit: Int?) throws -> [Alert] {
        let alerts = undeliveredOnly ? Array(try store.undeliveredAlerts().reversed()) : try store.allAlerts(limit: limit ?? Int(Int32.max))
        return limit.map { Array(alerts.prefix($0)) } ?? alerts
    }

    public static func table(_ alerts: [Alert], now: Int64) -> [String] {
        guard !alerts.isEmpty else { return ["no alerts"] }
        return AdminText.table(
            ["ID", "AGE", "KIND", "SEVERITY", "OPP", "DELIVERY", "TEXT"],
            alerts.map { alert in
                [
                    "\(alert.id)", AdminText.age(alert.createdAtMilliseconds, now: now), alert.kind, alert.severity.rawValue,
                    alert.opportunityID.map(String.init) ?? "-", deliveryText(alert, now: now),
                    String(alert.text.split(separator: "\n").first ?? ""),
                ]
            },
            alignments: [.right, .right, .left, .left, .right, .left, .left])
    }

    public static func json(_ alerts: [Alert]) -> String {
        AdminText.json(alerts.map(AdminJSON.alert))
    }

    /// `file delivered 3m12s ago; webhook PENDING (3 attempts: HTTP 500)`, or why there is no row.
    public static func deliveryText(_ alert: Alert, now: Int64) -> String {
        guard !alert.deliveries.isEmpty else { return "no sink yet (the next arb run delivers it)" }
        return alert.deliveries.map { delivery in
            if let at = delivery.deliveredAtMilliseconds {
                return "\(delivery.sink) delivered \(AdminText.age(at, now: now))"
            }
            let attempts = delivery.attempts == 1 ? "1 attempt" : "\(delivery.attempts) attempts"
            return "\(delivery.sink) PENDING (\(attempts)\(delivery.lastError.map { ": \($0)" } ?? ""))"
        }.joined(separator: "; ")
    }

    /// One line per sink: what it still owes, its failed attempts, the last error.
    public static func healthLines(_ health: [SinkHealth]) -> [String] {
        health.map { sink in
            "sink \(sink.sink): \(sink.pending) pending" + (sink.failedAttempts > 0 ? ", \(sink.failedAttempts) failed attempts" : "")
                + (sink.lastError.map { ", last error: \(MessageText.singleLine($0))" } ?? "")
        }
    }

    /// The block a person reads in a terminal (the seed's layout): a rule, `ALERT [time]
    /// severity kind`, the alert's own text, a rule.
    public static func block(_ alert: Alert) -> String {
        block(createdAtMilliseconds: alert.createdAtMilliseconds, severity: alert.severity, kind: alert.kind,
              opportunityID: alert.opportunityID, text: alert.text)
    }

    static func block(createdAtMilliseconds: Int64, severity: AlertSeverity, kind: String, opportunityID: Int64?, text: String) -> String {
        let rule = String(repeating: "=", count: 60)
        return "\n" + rule + "\nALERT [" + Timestamp.iso8601(createdAtMilliseconds) + "] " + severity.rawValue.uppercased()
            + " " + kind + (opportunityID.map { " (opportunity \($0))" } ?? "") + "\n" + text + "\n" + rule
    }
}

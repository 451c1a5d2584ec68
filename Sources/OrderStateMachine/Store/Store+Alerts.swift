// MARK: - The alert outbox: what is pending for which sink, and recording each delivery

/// One alert waiting for one sink: everything a sink needs to deliver it, and the row's
/// identity `(alertID, sink)` to record the result against.
public struct PendingDelivery: Sendable, Hashable {
    public var alertID: Int64
    /// The alert's stable key (`alerts.alert_key`): receivers drop repeats by it.
    public var key: String
    public var kind: String
    public var severity: AlertSeverity
    public var text: String
    public var bodyJSON: String
    public var createdAtMilliseconds: Int64
    public var sink: String
    /// Attempts so far, failed ones included.
    public var attempts: Int

    public init(alertID: Int64, key: String, kind: String, severity: AlertSeverity, text: String, bodyJSON: String,
                createdAtMilliseconds: Int64, sink: String, attempts: Int) {
        self.alertID = alertID
        self.key = key
        self.kind = kind
        self.severity = severity
        self.text = text
        self.bodyJSON = bodyJSON
        self.createdAtMilliseconds = createdAtMilliseconds
        self.sink = sink
        self.attempts = attempts
    }
}

extension Store {
    /// `last_error` keeps this many characters: enough to say what failed, bounded whatever a
    /// sink's error text is.
    public static let deliveryErrorLengthMax = 500

    /// Undelivered (alert, sink) rows, oldest alert first, at most `limit` of them.
    ///
    /// Each sink gets a fair share of `limit` (its oldest rows, interleaved round-robin with the
    /// other sinks'): a sink that is down with thousands of rows pending must not starve the
    /// others of their slots in a bounded pass. `sinks` restricts the rows to those sinks (a
    /// dispatcher asks only for the sinks it has); nil means every sink with a pending row.
    public func pendingDeliveries(limit: Int, sinks: [String]? = nil) throws -> [PendingDelivery] {
        precondition(limit >= 0, "negative limit \(limit)")
        guard limit > 0 else { return [] }
        let read = { () throws -> [PendingDelivery] in
            let names = try sinks ?? self.connection.cachedStatement(
                "SELECT DISTINCT sink FROM alert_deliveries WHERE delivered_at_ms IS NULL ORDER BY sink"
            ).query { $0.text(0) }
            // Served by the partial index alert_deliveries_pending (sink, alert_id).
            let statement = try self.connection.cachedStatement("""
                SELECT \(AlertColumn.list(table: "a")), \(DeliveryColumn.list(table: "d"))
                FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
                WHERE d.sink = ? AND d.delivered_at_ms IS NULL ORDER BY d.alert_id LIMIT ?
                """)
            let perSink = try Set(names).sorted().map { sink in
                try statement.query(sink, limit) { row in
                    let alert = Self.decodeAlert(row)
                    let delivery = Self.decodeDelivery(row, at: AlertColumn.width)
                    return PendingDelivery(
                        alertID: alert.id, key: alert.key, kind: alert.kind, severity: alert.severity, text: alert.text,
                        bodyJSON: alert.bodyJSON, createdAtMilliseconds: alert.createdAtMilliseconds, sink: delivery.sink,
                        attempts: delivery.attempts)
                }
            }
            return Self.roundRobin(perSink, limit: limit)
                .sorted { ($0.alertID, $0.sink) < ($1.alertID, $1.sink) }
        }
        return connection.isInTransaction ? try read() : try connection.readTransaction(read)
    }

    /// The first `limit` elements taking one from each list in turn.
    static func roundRobin<T>(_ lists: [[T]], limit: Int) -> [T] {
        var result: [T] = []
        var index = 0
        while result.count < limit {
            let round = lists.compactMap { index < $0.count ? $0[index] : nil }
            guard !round.isEmpty else { break }
            result.append(contentsOf: round.prefix(limit - result.count))
            index += 1
        }
        return result
    }

    /// Records that `sink` has the alert. The attempt counts (attempts + 1); `last_error` is kept
    /// as the story of earlier failures. Returns false (and writes nothing) when the row was
    /// already delivered or does not exist: the first delivery time stays.
    @discardableResult
    public func markDelivered(alertID: Int64, sink: String, atMilliseconds now: Int64) throws -> Bool {
        try connection.writeTransaction {
            try connection.cachedStatement("""
                UPDATE alert_deliveries SET delivered_at_ms = ?, attempts = attempts + 1
                WHERE alert_id = ? AND sink = ? AND delivered_at_ms IS NULL
                """
            ).execute(now, alertID, sink)
            return connection.changes == 1
        }
    }

    /// Records a failed attempt: attempts + 1 and the error. The schema has no column for the
    /// attempt's time, so it is kept in `last_error` (`at_ms=…`) for the operator reading it.
    /// Returns false (and writes nothing) when the row was already delivered or does not exist.
    @discardableResult
    public func markDeliveryFailed(alertID: Int64, sink: String, error: String, atMilliseconds now: Int64) throws -> Bool {
        let text = "at_ms=\(now): \(error)"
        let bounded = text.count > Self.deliveryErrorLengthMax
            ? String(text.prefix(Self.deliveryErrorLengthMax - 1)) + "…" : text
        return try connection.writeTransaction {
            try connection.cachedStatement("""
                UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?
                WHERE alert_id = ? AND sink = ? AND delivered_at_ms IS NULL
                """
            ).execute(bounded, alertID, sink)
            return connection.changes == 1
        }
    }

    /// Gives each of `sinks` a delivery row for every alert that is still *pending*, and for no
    /// other: returns how many rows were added.
    ///
    /// Pending means some sink has not got it yet, or no sink row exists at all (written while no
    /// sink was configured, e.g. by a tool that opened the store without `alertSinks`). An alert
    /// every sink already has is history: a sink added at a restart gets what is still owed, not
    /// a replay of every alert ever raised (a new webhook would otherwise be flooded with old
    /// news, and DESIGN §8 invariant 6 asks for "every configured sink" of alerts that are still live).
    @discardableResult
    public func ensureDeliveryRows(forSinks sinks: [String], minimums: [String: AlertSeverity] = [:]) throws -> Int {
        try connection.writeTransaction {
            // A sink's minimum severity: alerts below it are not owed there.
            let insert = try connection.cachedStatement("""
                INSERT INTO alert_deliveries (alert_id, sink)
                SELECT a.id, ? FROM alerts a
                WHERE (EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.delivered_at_ms IS NULL)
                       OR NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id))
                  AND instr(?, ',' || a.severity || ',') > 0
                ON CONFLICT (alert_id, sink) DO NOTHING
                """)
            var added = 0
            // Inserting for one sink can make an alert "pending" for the next sink's query only
            // if it already was: a new row is itself undelivered. Same set either way.
            for sink in Set(sinks).sorted() {
                let minimum = minimums[sink] ?? .info
                let owed = "," + AlertSeverity.allCases.filter { $0.reaches(minimum) }.map(\.rawValue).joined(separator: ",") + ","
                try insert.execute(sink, owed)
                added += connection.changes
            }
            return added
        }
    }

    /// Every alert that some sink has not got yet (or no sink row at all), oldest first, with its
    /// deliveries.
    public func undeliveredAlerts() throws -> [Alert] {
        try readAlerts("""
            SELECT \(Self.alertColumns) FROM alerts a
            WHERE EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.delivered_at_ms IS NULL)
               OR NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id)
            ORDER BY id
            """)
    }

    /// The `limit` most recent alerts, newest first, with their deliveries.
    public func allAlerts(limit: Int) throws -> [Alert] {
        precondition(limit >= 0, "negative limit \(limit)")
        return try readAlerts("""
            SELECT \(Self.alertColumns) FROM alerts
            ORDER BY id DESC LIMIT ?
            """, limit)
    }

    /// Alerts written after the one with id `id`, oldest first (`arbadmin alerts --follow`).
    public func alerts(afterID id: Int64, limit: Int) throws -> [Alert] {
        try readAlerts("SELECT \(Self.alertColumns) FROM alerts WHERE id > ? ORDER BY id LIMIT ?", id, limit)
    }

    /// Alerts (``AlertColumn``'s columns) and their deliveries, read in one snapshot.
    func readAlerts<each V: SQLBindable>(_ sql: String, _ values: repeat each V) throws -> [Alert] {
        try readSnapshot {
            let alerts = try connection.cachedStatement(sql).query(repeat each values, row: Self.decodeAlert)
            let deliveries = try connection.cachedStatement("""
                SELECT \(DeliveryColumn.list()) FROM alert_deliveries WHERE alert_id = ? ORDER BY sink
                """)
            return try alerts.map { alert in
                var alert = alert
                alert.deliveries = try deliveries.query(alert.id) { Self.decodeDelivery($0, at: 0) }
                return alert
            }
        }
    }
}

/// One sink's standing in the outbox, for `arbadmin alerts`.
public struct SinkHealth: Sendable, Hashable {
    public var sink: String
    public var pending: Int
    /// Failed attempts of the alerts still pending there.
    public var failedAttempts: Int
    public var lastError: String?
}

extension Store {
    /// Per sink: how many alerts it still owes, the failed attempts among them, and the last error.
    public func sinkHealth() throws -> [SinkHealth] {
        try connection.cachedStatement("""
            SELECT d.sink, count(d.delivered_at_ms IS NULL OR NULL), coalesce(sum(CASE WHEN d.delivered_at_ms IS NULL THEN d.attempts END), 0),
                   (SELECT e.last_error FROM alert_deliveries e WHERE e.sink = d.sink AND e.last_error IS NOT NULL
                    AND e.delivered_at_ms IS NULL ORDER BY e.alert_id DESC LIMIT 1)
            FROM alert_deliveries d GROUP BY d.sink ORDER BY d.sink
            """
        ).query { row in
            SinkHealth(sink: row.text(0), pending: row.int(1), failedAttempts: row.int(2), lastError: row.optionalText(3))
        }
    }
}


import OrderStateMachine

/// The alert outbox as the dispatcher sees it: pending (alert, sink) rows and recording what
/// happened to each. A protocol so the dispatcher does not own a `Store` (a non-`Sendable` class
/// tied to one isolation domain) and tests can see every call.
public protocol AlertOutbox: Sendable {
    /// See `Store.ensureDeliveryRows(forSinks:)`: returns the rows added.
    func ensureDeliveryRows(forSinks sinks: [String], minimums: [String: AlertSeverity]) async throws -> Int
    /// Writes an alert of the dispatcher's own (a sink down), owed to `sinks` only.
    func insert(_ alert: NewAlert, sinks: [String], atMilliseconds now: Int64) async throws
    /// Undelivered rows for `sinks`, oldest first, at most `limit`, each sink getting a fair share.
    func pendingDeliveries(limit: Int, sinks: [String]) async throws -> [PendingDelivery]
    func markDelivered(alertID: Int64, sink: String, atMilliseconds now: Int64) async throws
    func markDeliveryFailed(alertID: Int64, sink: String, error: String, atMilliseconds now: Int64) async throws
}

/// The outbox in the trader's database, through a `Store` of its own.
///
/// Why a second connection, when DESIGN §9 has one writer connection per process: the trader's
/// writer lives in the executor's actor, and routing every delivery record through it would put
/// alert I/O bookkeeping in the queue of the trading path. This connection writes only
/// `alert_deliveries` (attempts, delivered time, last error), one short `BEGIN IMMEDIATE` each;
/// WAL lets it read while the executor writes, and the busy timeout makes it wait its turn for
/// the write lock instead of failing. Transitions, legs and fills are never written here, so the
/// compare-and-set rules of §4 are untouched. (A dispatcher could equally be given an outbox
/// backed by the executor's own actor; it depends only on `AlertOutbox`.)
public actor StoreAlertOutbox: AlertOutbox {
    private let store: Store

    /// Opens the existing database at `path` (the trader creates it; an outbox never does).
    public init(path: String, durability: Durability = .full, busyTimeoutMilliseconds: Int32 = 5_000) throws {
        store = try Store(path: path, access: .existing, durability: durability,
                          busyTimeoutMilliseconds: busyTimeoutMilliseconds)
    }

    public func ensureDeliveryRows(forSinks sinks: [String], minimums: [String: AlertSeverity]) throws -> Int {
        try store.ensureDeliveryRows(forSinks: sinks, minimums: minimums)
    }

    public func insert(_ alert: NewAlert, sinks: [String], atMilliseconds now: Int64) throws {
        let (saved, savedMinimums) = (store.alertSinks, store.alertSinkMinimums)
        defer { (store.alertSinks, store.alertSinkMinimums) = (saved, savedMinimums) }
        store.alertSinks = sinks
        store.alertSinkMinimums = [:]
        try store.insertAlert(alert, opportunity: nil, atMilliseconds: now)
    }

    public func pendingDeliveries(limit: Int, sinks: [String]) throws -> [PendingDelivery] {
        try store.pendingDeliveries(limit: limit, sinks: sinks)
    }

    public func markDelivered(alertID: Int64, sink: String, atMilliseconds now: Int64) throws {
        try store.markDelivered(alertID: alertID, sink: sink, atMilliseconds: now)
    }

    public func markDeliveryFailed(alertID: Int64, sink: String, error: String, atMilliseconds now: Int64) throws {
        try store.markDeliveryFailed(alertID: alertID, sink: sink, error: error, atMilliseconds: now)
    }

    /// Every alert some sink has not got yet, with its deliveries (for status and tests).
    public func undeliveredAlerts() throws -> [Alert] {
        try store.undeliveredAlerts()
    }

    /// The `limit` most recent alerts, newest first.
    public func allAlerts(limit: Int) throws -> [Alert] {
        try store.allAlerts(limit: limit)
    }
}

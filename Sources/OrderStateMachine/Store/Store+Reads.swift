/// Reads the trader, the simulator and `arbadmin status` need, named here so that no SQL against
/// the trader's database is written outside the Store.
extension Store {
    /// Runs `body` in one read transaction: everything it reads comes from one snapshot.
    public func readSnapshot<T>(_ body: () throws -> T) throws -> T {
        connection.isInTransaction ? try body() : try connection.readTransaction(body)
    }

    /// Called inside every write transaction just before it commits; a throw rolls the
    /// transaction back and is rethrown (fault injection, the simulator's dead process).
    public var commitHook: (() throws -> Void)? {
        get { connection.willCommit }
        set { connection.willCommit = newValue }
    }

    /// SQLite's `PRAGMA data_version` on this connection: it changes when another connection
    /// commits (a watcher polls it to learn the trader wrote something, reading nothing else).
    public func dataVersion() throws -> Int64 {
        try connection.prepare("PRAGMA data_version").queryOne { $0.int64(0) } ?? 0
    }

    /// Moves every WAL frame into the database file and empties the WAL
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`): the benchmarks start each measurement from here.
    public func checkpoint() throws {
        try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// The highest opportunity id stored (0 for none): what a run's own opportunities come after.
    public func highestOpportunityID() throws -> OpportunityID {
        try connection.cachedStatement("SELECT coalesce(max(id), 0) FROM opportunities").queryOne { $0.int64(0) } ?? 0
    }

    /// Alerts of opportunities above `id`: how many were raised, delivered (per sink), pending.
    public func alertCounts(afterOpportunity id: OpportunityID) throws -> (raised: Int, delivered: Int, pending: Int) {
        try readSnapshot {
            let raised = try connection.cachedStatement("SELECT count(*) FROM alerts WHERE opportunity_id > ?")
                .queryOne(id) { $0.int(0) } ?? 0
            let deliveries = try connection.cachedStatement("""
                SELECT count(d.delivered_at_ms), count(*) - count(d.delivered_at_ms)
                FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id WHERE a.opportunity_id > ?
                """
            ).queryOne(id) { ($0.int(0), $0.int(1)) }
            return (raised, deliveries?.0 ?? 0, deliveries?.1 ?? 0)
        }
    }

    /// What the risk gate restores from at start, in one snapshot: every opportunity still open
    /// or still exposed (closed one-sided, not flattened), with its legs' fills, and how many
    /// closed one-sided since `sinceMilliseconds` (the day's count).
    public func riskState(oneSidedSinceMilliseconds since: Int64) throws -> (open: [OpportunitySummary], oneSidedSince: Int) {
        try readSnapshot {
            let open = try connection.cachedStatement(Self.summarySelect + """
                WHERE o.id IN (\(Self.liveIDs) UNION ALL \(Self.exposedClosedIDs)) ORDER BY o.id
                """
            ).query(row: Self.decodeSummary)
            let count = try connection.cachedStatement(
                "SELECT count(*) FROM opportunities WHERE outcome = 'one_sided' AND updated_at_ms >= ?"
            ).queryOne(since) { $0.int(0) } ?? 0
            return (open, count)
        }
    }
}

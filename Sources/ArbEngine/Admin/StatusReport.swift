import OrderStateMachine

/// `arbadmin status`: is it halted, who is trading, how many opportunities are where, and
/// what has not reached the alert sinks — read in one snapshot.
public struct StatusReport: Sendable {
    public var databasePath: String
    public var databaseID: String
    public var halt: HaltState
    /// Markets blocked after too many unwinds, and why, by event id.
    public var blockedMarkets: [String: String] = [:]
    public var lease: LeaseHolder?
    public var leaseStanding: LeaseStanding?
    public var counts: [OpportunityState: Int]
    /// `list --one-sided`'s count.
    public var oneSided: Int
    public var undeliveredAlerts: Int
    /// The real venues' book feeds as the trader last wrote them, and when (nil: never written).
    public var bookFeeds: [BookFeedStatus] = []
    public var bookStatusAtMilliseconds: Int64?
    public var now: Int64

    public static func read(_ store: Store, now: Int64) throws -> StatusReport {
        try store.readSnapshot {
            let lease = try store.currentLease()
            return StatusReport(
                databasePath: store.path, databaseID: store.databaseID, halt: try store.haltState(),
                blockedMarkets: try store.blockedMarkets(), lease: lease,
                leaseStanding: lease.map { LeaseStanding.of($0, now: now) }, counts: try store.countsByState(),
                oneSided: try store.oneSidedOpportunities().count, undeliveredAlerts: try store.undeliveredAlerts().count,
                bookFeeds: try store.bookStatus().flatMap { VenueBookFeeds.statuses(json: $0.json) } ?? [],
                bookStatusAtMilliseconds: try store.bookStatus()?.atMilliseconds, now: now)
        }
    }

    var total: Int { counts.values.reduce(0, +) }
    var nonTerminal: Int { counts.filter { !$0.key.isTerminal }.values.reduce(0, +) }

    public func text() -> [String] {
        var lines = ["database    \(databasePath) (id \(databaseID))"]
        if halt.halted {
            let since = halt.sinceMilliseconds.map { " since \(Timestamp.iso8601($0)) (\(AdminText.age($0, now: now)))" } ?? ""
            lines.append("halt        HALTED\(since): \(halt.reason ?? "no reason recorded") — `arbadmin resume` to trade again")
        } else {
            lines.append("halt        not halted")
        }
        for (event, reason) in blockedMarkets.sorted(by: { $0.key < $1.key }) {
            lines.append("blocked     market \(event): \(MessageText.singleLine(reason))")
        }
        if let lease, let leaseStanding {
            lines.append("lease       \(LeaseStanding.describe(lease, now: now)) (\(leaseStanding.rawValue))")
        } else {
            lines.append("lease       none: no trader is running")
        }
        let states = OpportunityState.all.compactMap { state in counts[state].map { "\(state) \($0)" } }
        lines.append("opportunities \(total): " + (states.isEmpty ? "none" : states.joined(separator: ", ")))
        lines.append("non-terminal \(nonTerminal)" + (nonTerminal > 0 && lease == nil ? " — no trader is running: `arbadmin reconcile`" : ""))
        lines.append("one-sided   \(oneSided) not flattened" + (oneSided > 0 ? " — `arbadmin list --one-sided`" : ""))
        lines.append("alerts      \(undeliveredAlerts) undelivered" + (undeliveredAlerts > 0 ? " — `arbadmin alerts --undelivered`" : ""))
        if let at = bookStatusAtMilliseconds, !bookFeeds.isEmpty {
            lines.append("books       as the trader last wrote them, \(Timestamp.iso8601(at)) (\(AdminText.age(at, now: now)))"
                + (lease == nil ? " — no trader is running now" : ""))
            for feed in bookFeeds {
                lines.append("  \(feed.venue): \(feed.connected ? "connected" : "NOT CONNECTED"), \(feed.counts.messages) messages, "
                    + "\(feed.counts.gaps) gaps, \(feed.counts.resyncs) resyncs, \(feed.counts.unreadable) unreadable")
                for market in feed.markets {
                    let updated = market.updatedAtMilliseconds.map { "last message \(AdminText.duration(max(0, at - $0))) before that" } ?? "no book yet"
                    lines.append("    \(market.market): \(market.trusted ? "trusted" : "UNTRUSTED (not traded)"), \(updated)")
                }
            }
        }
        return lines
    }

    public func json() -> String {
        var counts: [String: Int] = [:]
        for (state, count) in self.counts { counts[state.description] = count }
        let lease: Any = self.lease.map { holder in
            [
                "owner": holder.owner, "pid": Int(holder.pid), "host": holder.host,
                "started_at": Timestamp.iso8601(holder.startedAtMilliseconds),
                "heartbeat_at": Timestamp.iso8601(holder.heartbeatAtMilliseconds),
                "heartbeat_age_ms": now - holder.heartbeatAtMilliseconds,
                "standing": leaseStanding?.rawValue ?? "live",
            ] as [String: Any]
        } ?? AdminJSON.nullable(nil)
        return AdminText.json([
            "database": databasePath,
            "database_id": databaseID,
            "halted": halt.halted,
            "halt_reason": AdminJSON.nullable(halt.reason),
            "halted_since": AdminJSON.nullable(halt.sinceMilliseconds.map(Timestamp.iso8601)),
            "blocked_markets": blockedMarkets,
            "lease": lease,
            "counts": counts,
            "total": total,
            "non_terminal": nonTerminal,
            "one_sided": oneSided,
            "undelivered_alerts": undeliveredAlerts,
            "book_status_at": AdminJSON.nullable(bookStatusAtMilliseconds.map(Timestamp.iso8601)),
            "book_feeds": bookFeeds.map { feed in
                [
                    "venue": feed.venue, "connected": feed.connected, "messages": feed.counts.messages, "gaps": feed.counts.gaps,
                    "resyncs": feed.counts.resyncs, "unreadable": feed.counts.unreadable,
                    "markets": feed.markets.map { market in
                        ["market": market.market, "trusted": market.trusted,
                         "updated_at": AdminJSON.nullable(market.updatedAtMilliseconds.map(Timestamp.iso8601))] as [String: Any]
                    },
                ] as [String: Any]
            },
        ])
    }
}

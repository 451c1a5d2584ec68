import OrderStateMachine

/// Where a runner lease holder stands, by the rules `Store.acquireLease` applies (the same
/// staleness and the same liveness probe as `arb run`).
public enum LeaseStanding: String, Sendable, Hashable {
    /// Its heartbeat is fresh (and, on this host, its process exists): it is trading.
    case live
    /// On this host, and its process is gone (killed, crashed): the lease may be taken over.
    case dead
    /// Its heartbeat is older than `Trader.leaseStaleMilliseconds`, yet it cannot be proven dead
    /// (another host, or its pid is in use): only `--force` takes it over.
    case stale

    public static func of(_ holder: LeaseHolder, now: Int64, host: String = Trader.hostName(),
                          isAlive: (Int32) -> Bool = Trader.processIsAlive) -> LeaseStanding {
        if holder.host == host && !isAlive(holder.pid) { return .dead }
        if now - holder.heartbeatAtMilliseconds > Trader.leaseStaleMilliseconds { return .stale }
        return .live
    }

    /// `arb run pid 4242 on host-1, started 2025-06-01T09:30:00.000Z, heartbeat 0.4s ago`.
    public static func describe(_ holder: LeaseHolder, now: Int64) -> String {
        "\(holder.owner) pid \(holder.pid) on \(holder.host), started \(AdminText.iso8601(holder.startedAtMilliseconds)), heartbeat \(AdminText.age(holder.heartbeatAtMilliseconds, now: now))"
    }
}

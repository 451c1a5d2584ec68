import OrderStateMachine

/// Where a runner lease holder stands, and the one takeover rule `arb run` and `arbadmin
/// reconcile` share: a dead holder's lease is taken over, a stale one only with `--force`, a live
/// one never.
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
        "\(holder.owner) pid \(holder.pid) on \(holder.host), started \(Timestamp.iso8601(holder.startedAtMilliseconds)), heartbeat \(AdminText.age(holder.heartbeatAtMilliseconds, now: now))"
    }

    /// Whether a claimant may take the lease from `holder`.
    public static func mayTakeOver(_ holder: LeaseHolder, now: Int64, force: Bool, host: String = Trader.hostName(),
                                   isAlive: (Int32) -> Bool = Trader.processIsAlive) -> Bool {
        switch of(holder, now: now, host: host, isAlive: isAlive) {
        case .dead: true
        case .stale: force
        case .live: false
        }
    }

    /// Takes the lease for `me` by that rule (the claimant's host is `me.host`), or throws a
    /// ``LeaseRefusal`` that says who holds it and what to do. Returns the holder it took the
    /// lease over from, if any.
    public static func take(_ store: Store, me: LeaseHolder, force: Bool, now: Int64,
                            isAlive: (Int32) -> Bool = Trader.processIsAlive) throws -> LeaseHolder? {
        switch try store.acquireLease(me, mayTakeOver: { mayTakeOver($0, now: now, force: force, host: me.host, isAlive: isAlive) }) {
        case .acquired: return nil
        case .tookOver(let previous): return previous
        case .heldBy(let holder):
            throw LeaseRefusal(path: store.path, holder: holder,
                               standing: of(holder, now: now, host: me.host, isAlive: isAlive), now: now)
        }
    }
}

/// Another process holds the lease and this one may not take it.
public struct LeaseRefusal: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let holder: LeaseHolder
    public let standing: LeaseStanding
    let now: Int64

    public var description: String {
        let who = LeaseStanding.describe(holder, now: now)
        return switch standing {
        case .stale:
            "another trader holds \(path): \(who); its heartbeat is stale, but it cannot be proven dead from here; if that process is gone, run again with --force to take the lease over"
        case .live, .dead:
            "another trader holds \(path): \(who); stop it first (one trader per database)"
        }
    }
}

// MARK: - One trader per database: the runner lease (DESIGN §4)

/// Who holds the runner lease.
public struct LeaseHolder: Sendable, Hashable, CustomStringConvertible {
    public var owner: String
    public var pid: Int32
    public var host: String
    public var startedAtMilliseconds: Int64
    public var heartbeatAtMilliseconds: Int64

    public init(owner: String, pid: Int32, host: String, startedAtMilliseconds: Int64, heartbeatAtMilliseconds: Int64) {
        self.owner = owner
        self.pid = pid
        self.host = host
        self.startedAtMilliseconds = startedAtMilliseconds
        self.heartbeatAtMilliseconds = heartbeatAtMilliseconds
    }

    public var description: String { "\(owner) pid \(pid) on \(host)" }
}

public enum LeaseResult: Sendable, Hashable {
    case acquired
    /// The previous holder was dead or its heartbeat stale.
    case tookOver(previous: LeaseHolder)
    case heldBy(LeaseHolder)
}

extension Store {
    /// Takes the lease for `claimant`, from another holder only if `mayTakeOver` says so (the
    /// rule is the engine's, `LeaseStanding`: the Store only makes the check and the write one
    /// transaction, so two claimants cannot both win).
    public func acquireLease(_ claimant: LeaseHolder, mayTakeOver: (LeaseHolder) -> Bool) throws -> LeaseResult {
        try connection.writeTransaction {
            let current = try currentLease()
            if let current, !(current.pid == claimant.pid && current.host == claimant.host) {
                guard mayTakeOver(current) else { return .heldBy(current) }
            }
            try connection.cachedStatement("""
                INSERT OR REPLACE INTO runner_lease (id, owner, pid, host, started_at_ms, heartbeat_at_ms)
                VALUES (1, ?, ?, ?, ?, ?)
                """
            ).execute(claimant.owner, Int64(claimant.pid), claimant.host, claimant.startedAtMilliseconds,
                      claimant.heartbeatAtMilliseconds)
            if let current, current.pid != claimant.pid || current.host != claimant.host {
                return .tookOver(previous: current)
            }
            return .acquired
        }
    }

    /// Refreshes the heartbeat. False when the lease is no longer ours (someone took it over).
    public func heartbeatLease(pid: Int32, host: String, atMilliseconds now: Int64) throws -> Bool {
        try connection.writeTransaction {
            try connection.cachedStatement("UPDATE runner_lease SET heartbeat_at_ms = ? WHERE pid = ? AND host = ?")
                .execute(now, Int64(pid), host)
            return connection.changes == 1
        }
    }

    public func releaseLease(pid: Int32, host: String) throws {
        try connection.writeTransaction {
            try connection.cachedStatement("DELETE FROM runner_lease WHERE pid = ? AND host = ?").execute(Int64(pid), host)
        }
    }

    public func currentLease() throws -> LeaseHolder? {
        try connection.cachedStatement(
            "SELECT owner, pid, host, started_at_ms, heartbeat_at_ms FROM runner_lease WHERE id = 1"
        ).queryOne { row in
            LeaseHolder(owner: row.text(0), pid: Int32(truncatingIfNeeded: row.int64(1)), host: row.text(2),
                        startedAtMilliseconds: row.int64(3), heartbeatAtMilliseconds: row.int64(4))
        }
    }
}

// MARK: - Settings: the halt flag

public struct HaltState: Sendable, Hashable {
    public var halted: Bool
    public var reason: String?
    public var sinceMilliseconds: Int64?

    public init(halted: Bool, reason: String?, sinceMilliseconds: Int64?) {
        self.halted = halted
        self.reason = reason
        self.sinceMilliseconds = sinceMilliseconds
    }
}

extension Store {
    public func haltState() throws -> HaltState {
        let rows = try connection.cachedStatement(
            "SELECT key, value, updated_at_ms FROM settings WHERE key IN ('halted', 'halt_reason')"
        ).query { ($0.text(0), $0.text(1), $0.int64(2)) }
        let halted = rows.first { $0.0 == "halted" }
        let reason = rows.first { $0.0 == "halt_reason" }
        let isHalted = halted?.1 == "1"
        return HaltState(halted: isHalted, reason: isHalted ? reason?.1 : nil,
                         sinceMilliseconds: isHalted ? halted?.2 : nil)
    }

    /// Why a new opportunity on `eventID` may not start now (nil: it may): the halt flag, then
    /// the market's block. Read inside the begin's transaction, so a halt from any process
    /// counts from the next candidate.
    ///
    /// Held in memory between begins (`AdmissionSnapshot`) and read again from the database only
    /// when it may have changed: another connection committed (`PRAGMA data_version` moved — a
    /// halt or a block by `arbadmin`, or anything else) or this one wrote the flag or a block.
    /// Under the begin's write lock no other connection can commit, so what is used is what the
    /// database holds. It spares the hot begin two reads (about 8 µs at p50 in arb-bench's
    /// detect_to_submit).
    public func admissionRefusal(eventID: String) throws -> String? {
        let version = try connection.cachedStatement("PRAGMA data_version").queryOne { $0.int64(0) }
        let snapshot: AdmissionSnapshot
        if let kept = admissionSnapshot, let version, kept.dataVersion == version, kept.writes == admissionWrites {
            snapshot = kept
        } else {
            snapshot = AdmissionSnapshot(dataVersion: version ?? -1, writes: admissionWrites, halted: try haltState().halted,
                                         blocked: try blockedMarkets())
            admissionSnapshot = version == nil ? nil : snapshot
        }
        if snapshot.halted { return "halted" }
        if let why = snapshot.blocked[eventID] { return "market blocked: \(why)" }
        return nil
    }

    /// The halt flag and the market blocks as read at one `PRAGMA data_version` of this
    /// connection, after `writes` of its own admission writes.
    struct AdmissionSnapshot {
        var dataVersion: Int64
        var writes: UInt64
        var halted: Bool
        var blocked: [String: String]
    }

    /// Persists the halt flag: no new opportunities until `resume`, across restarts.
    public func halt(reason: String, atMilliseconds now: Int64) throws {
        admissionWrites &+= 1
        try connection.writeTransaction {
            let upsert = try connection.cachedStatement("""
                INSERT INTO settings (key, value, updated_at_ms) VALUES (?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms
                """)
            try upsert.execute("halted", "1", now)
            try upsert.execute("halt_reason", reason, now)
        }
    }

    public func resume(atMilliseconds now: Int64) throws {
        admissionWrites &+= 1
        try connection.writeTransaction {
            try connection.cachedStatement("""
                INSERT INTO settings (key, value, updated_at_ms) VALUES ('halted', '0', ?)
                ON CONFLICT (key) DO UPDATE SET value = '0', updated_at_ms = excluded.updated_at_ms
                """
            ).execute(now)
        }
    }

    /// The running trader's book feeds as it last wrote them (`book_status`: a JSON text the
    /// engine writes and reads; the store keeps it opaque), and when.
    public func bookStatus() throws -> (json: String, atMilliseconds: Int64)? {
        try connection.cachedStatement("SELECT value, updated_at_ms FROM settings WHERE key = 'book_status'")
            .query { ($0.text(0), $0.int64(1)) }.first
    }

    public func recordBookStatus(_ json: String, atMilliseconds now: Int64) throws {
        try connection.writeTransaction {
            try connection.cachedStatement("""
                INSERT INTO settings (key, value, updated_at_ms) VALUES ('book_status', ?, ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms
                """
            ).execute(json, now)
        }
    }
}

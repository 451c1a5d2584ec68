import ArbKit
import Synchronization

/// Kalshi's signature covers `timestamp + METHOD + path`, not the body (VENUES.md), so a create's
/// headers can be made as soon as the order is prepared. `prepare` runs inside the intent
/// commit's transaction (DESIGN §4); the RSA-PSS signature (about 210 µs, and a blinding refresh
/// every 32nd) is started there on another thread and is usually done when the commit returns.
/// Nothing is sent here: only `submit`, called after the commit, sends — with these headers when
/// they are fresh, else with headers signed then.
///
/// Better still, headers signed before any order exists (the signature names none): a *spare*,
/// kept fresh by the venue (`KalshiVenue.startChecks` starts the refresher, and each create
/// re-signs one after its request is out). A `prepare` that finds a fresh spare takes it, and the
/// signature is then off detect → request altogether, not just overlapping the commit — on a
/// two-core machine the commit, the request and a 210 µs RSA signature otherwise share the cores.
final class KalshiPresignedCreates: Sendable {
    /// One create's headers, being signed.
    struct Pending: Sendable {
        var timestampMilliseconds: Int64
        var headers: Task<KalshiSignedHeaders, any Error>
        /// The whole create request written out with these headers (`writeAhead`), once it is.
        var written: Task<PreparedVenueRequest?, Never>? = nil
    }

    /// What `take` hands a submit: the headers, and the request written with them if it was.
    struct Taken: Sendable {
        var headers: KalshiSignedHeaders
        var written: PreparedVenueRequest?
    }

    /// Prepared orders whose submit never came (the commit failed, a duplicate) are dropped once
    /// this many are pending: their headers would be stale anyway.
    static let pendingMax = 256

    private let pending = Mutex<[String: Pending]>([:])
    private let spare = Mutex<Pending?>(nil)

    /// Starts signing `path` for `clientOrderID`'s create with the time `timestampMilliseconds`.
    func start(clientOrderID: String, timestampMilliseconds: Int64, executor: (any TaskExecutor)?,
               sign: @escaping @Sendable () throws -> KalshiSignedHeaders) {
        let work = Task(executorPreference: executor, priority: .high) { try sign() }
        insert(Pending(timestampMilliseconds: timestampMilliseconds, headers: work), for: clientOrderID)
    }

    /// Gives `clientOrderID` the spare headers if they were stamped at most `maxAgeMilliseconds`
    /// before `now`; false: there was no fresh spare (it stays for the refresher to replace).
    func assignSpare(to clientOrderID: String, now: Int64, maxAgeMilliseconds: Int64) -> Bool {
        let taken = spare.withLock { spare -> Pending? in
            guard let entry = spare, now - entry.timestampMilliseconds <= maxAgeMilliseconds else { return nil }
            spare = nil
            return entry
        }
        guard let taken else { return false }
        insert(taken, for: clientOrderID)
        return true
    }

    /// Signs a new spare stamped `now` unless the one kept is younger than `refreshAfterMilliseconds`.
    func refreshSpare(now: Int64, refreshAfterMilliseconds: Int64, executor: (any TaskExecutor)?,
                      sign: @escaping @Sendable () throws -> KalshiSignedHeaders) {
        let replaced = spare.withLock { spare -> Pending? in
            if let entry = spare, now - entry.timestampMilliseconds < refreshAfterMilliseconds { return nil }
            let previous = spare
            spare = Pending(timestampMilliseconds: now, headers: Task(executorPreference: executor, priority: .utility) { try sign() })
            return previous
        }
        replaced?.headers.cancel()
    }

    /// Writes `clientOrderID`'s whole create request with its headers once they are signed, on
    /// another task (beside the intent commit): `submit` then only hands the bytes over.
    func writeAhead(clientOrderID: String, executor: (any TaskExecutor)?,
                    build: @escaping @Sendable (KalshiSignedHeaders) -> PreparedVenueRequest?) {
        pending.withLock { pending in
            guard let headers = pending[clientOrderID]?.headers else { return }
            pending[clientOrderID]?.written = Task(executorPreference: executor, priority: .high) {
                guard let signed = try? await headers.value else { return nil }
                return build(signed)
            }
        }
    }

    /// When the spare was stamped (tests).
    var spareTimestamp: Int64? { spare.withLock { $0?.timestampMilliseconds } }

    private func insert(_ entry: Pending, for clientOrderID: String) {
        let dropped: [Pending] = pending.withLock { pending in
            var dropped: [Pending] = []
            if pending.count >= Self.pendingMax {
                dropped = Array(pending.values)
                pending.removeAll(keepingCapacity: true)
            }
            if let previous = pending.updateValue(entry, forKey: clientOrderID) {
                dropped.append(previous)
            }
            return dropped
        }
        for stale in dropped {
            stale.headers.cancel()
            stale.written?.cancel()
        }
    }

    /// The create's headers signed at prepare, if they were made, are no older than
    /// `maxAgeMilliseconds` at `now()` (read after they are done), and belong to that order;
    /// nil: sign afresh. Each is handed out once.
    func take(clientOrderID: String, maxAgeMilliseconds: Int64, now: () -> Int64) async -> Taken? {
        guard let entry = pending.withLock({ $0.removeValue(forKey: clientOrderID) }) else { return nil }
        guard let headers = try? await entry.headers.value else { return nil }
        let written = await entry.written?.value
        guard now() - entry.timestampMilliseconds <= maxAgeMilliseconds else { return nil }
        return Taken(headers: headers, written: written)
    }

    /// How many creates are signed and not yet sent (tests).
    var count: Int { pending.withLock { $0.count } }
}

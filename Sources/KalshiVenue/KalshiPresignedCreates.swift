import ArbKit
import Synchronization

/// Kalshi's signature covers `timestamp + METHOD + path`, not the body (VENUES.md), so a create's
/// headers can be made as soon as the order is prepared. `prepare` runs inside the intent
/// commit's transaction (DESIGN §4); the RSA-PSS signature (about 210 µs, and a blinding refresh
/// every 32nd) is started there on another thread and is usually done when the commit returns.
/// Nothing is sent here: only `submit`, called after the commit, sends — with these headers when
/// they are fresh, else with headers signed then.
final class KalshiPresignedCreates: Sendable {
    /// One create's headers, being signed.
    struct Pending: Sendable {
        var timestampMilliseconds: Int64
        var headers: Task<KalshiSignedHeaders, any Error>
    }

    /// Prepared orders whose submit never came (the commit failed, a duplicate) are dropped once
    /// this many are pending: their headers would be stale anyway.
    static let pendingMax = 256

    private let pending = Mutex<[String: Pending]>([:])

    /// Starts signing `path` for `clientOrderID`'s create with the time `timestampMilliseconds`.
    func start(clientOrderID: String, timestampMilliseconds: Int64, executor: (any TaskExecutor)?,
               sign: @escaping @Sendable () throws -> KalshiSignedHeaders) {
        let work = Task(executorPreference: executor, priority: .high) { try sign() }
        let dropped: [Pending] = pending.withLock { pending in
            var dropped: [Pending] = []
            if pending.count >= Self.pendingMax {
                dropped = Array(pending.values)
                pending.removeAll(keepingCapacity: true)
            }
            if let previous = pending.updateValue(Pending(timestampMilliseconds: timestampMilliseconds, headers: work),
                                                  forKey: clientOrderID) {
                dropped.append(previous)
            }
            return dropped
        }
        for stale in dropped { stale.headers.cancel() }
    }

    /// The create's headers signed at prepare, if they were made, are no older than
    /// `maxAgeMilliseconds` at `now()` (read after they are done), and belong to that order;
    /// nil: sign afresh. Each is handed out once.
    func take(clientOrderID: String, maxAgeMilliseconds: Int64, now: () -> Int64) async -> KalshiSignedHeaders? {
        guard let entry = pending.withLock({ $0.removeValue(forKey: clientOrderID) }) else { return nil }
        guard let headers = try? await entry.headers.value else { return nil }
        guard now() - entry.timestampMilliseconds <= maxAgeMilliseconds else { return nil }
        return headers
    }

    /// How many creates are signed and not yet sent (tests).
    var count: Int { pending.withLock { $0.count } }
}

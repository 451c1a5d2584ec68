import Logging
import Synchronization

/// Keeps a venue's kept connection open through quiet spells: whenever no request has gone to the
/// venue for `periodMilliseconds`, one light read, so the next order finds the connection open
/// instead of paying a connect and a TLS handshake (`KeptHTTP1Connections` closes connections idle
/// 60 s, and venues' load balancers close their own). Every request the adapter notes
/// (`noteRequest`) restarts the wait, so a busy trader sends none. An unanswered read is one
/// warning until a read is answered again; it changes nothing else. The one rule for both venues.
public final class ConnectionKeepWarm: Sendable {
    /// 0: never.
    public let periodMilliseconds: Int64
    private let clock: any TradingClock
    /// When the last request went out (monotonic ns; 0: none yet).
    private let lastRequest = Mutex<UInt64>(0)
    private let task = Mutex<Task<Void, Never>?>(nil)

    public init(periodMilliseconds: Int64, clock: any TradingClock) {
        self.periodMilliseconds = periodMilliseconds
        self.clock = clock
    }

    deinit { task.withLock { $0?.cancel() } }

    /// A request to the venue is going out now.
    public func noteRequest() {
        let now = clock.monotonicNanoseconds()
        lastRequest.withLock { $0 = now }
    }

    /// Starts the loop (once; nothing when the period is 0). `read` sends the light read and
    /// returns false when its venue is gone (the loop then ends): it should hold the venue weakly.
    public func start(venue name: String, logger: Logger, read: @escaping @Sendable () async throws -> Bool) {
        let period = periodMilliseconds
        guard period > 0 else { return }
        let clock = clock
        task.withLock { task in
            guard task == nil else { return }
            task = Task(executorPreference: clock.taskExecutor, priority: .utility) { [weak self] in
                var failing = false
                while !Task.isCancelled {
                    guard let quiet = self?.quietMilliseconds() else { return }
                    var wait = period - quiet
                    if quiet >= period {
                        wait = period
                        do {
                            guard try await read() else { return }
                            if failing { logger.notice("\(name): the keep-warm read is answered again") }
                            failing = false
                        } catch {
                            if !failing {
                                logger.warning("\(name): the keep-warm read failed (\(error)); the next order may pay a new connection")
                            }
                            failing = true
                        }
                    }
                    do { try await clock.sleep(milliseconds: wait) } catch { return }
                }
            }
        }
    }

    /// Milliseconds since the last noted request (since the clock's origin when none was).
    private func quietMilliseconds() -> Int64 {
        let now = clock.monotonicNanoseconds()
        let last = lastRequest.withLock { $0 }
        return now > last ? Int64((now - last) / 1_000_000) : 0
    }
}

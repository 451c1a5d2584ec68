import OrderStateMachine
import Synchronization

/// A count shared between tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// A sink that counts what the dispatcher delivered through it (`arbadmin reconcile` reports
/// it; the simulator checks it). Everything else goes to the sink it wraps, shutdown included.
final class CountingSink: AlertSink {
    let inner: any AlertSink
    let delivered = Counter()
    var name: String { inner.name }
    var minSeverity: AlertSeverity { inner.minSeverity }

    init(_ inner: any AlertSink) { self.inner = inner }

    func deliver(_ alert: PendingDelivery) async throws {
        try await inner.deliver(alert)
        delivered.add()
    }

    func shutdown() async { await inner.shutdown() }
}

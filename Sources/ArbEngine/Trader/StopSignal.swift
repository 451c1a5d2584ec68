import Synchronization

/// Set by SIGINT/SIGTERM: the trader stops detecting, lets in-flight opportunities finish and
/// exits. A flag rather than task cancellation, so executions are never cut off half way.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func stop() { flag.store(true, ordering: .releasing) }

    public var isStopped: Bool { flag.load(ordering: .acquiring) }
}

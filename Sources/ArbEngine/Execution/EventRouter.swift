import OrderStateMachine
import Synchronization

/// What wakes an executing opportunity: a venue event for one of its legs, or its deadline.
public enum LegSignal: Sendable {
    case venue(VenueEvent)
    case deadline(Int)
}

/// Routes each venue event to the opportunity that owns the order, by client order id. The
/// fill → cancel path goes through here and touches no database.
public final class EventRouter: Sendable {
    private let routes = Mutex<[String: AsyncStream<LegSignal>.Continuation]>([:])
    /// Events for orders no live execution owns (a fill after close, an unknown order): bounded,
    /// and full means the venue's event loop waits, never that an event is dropped.
    public let orphanEvents: OrphanQueue

    public init(orphanCapacity: Int = 10_000) {
        orphanEvents = OrphanQueue(capacity: orphanCapacity)
    }

    /// A stream of the signals for `clientOrderIDs`, registered before anything is sent so no
    /// event can be missed.
    public func register(_ clientOrderIDs: [String]) -> (AsyncStream<LegSignal>, AsyncStream<LegSignal>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: LegSignal.self, bufferingPolicy: .unbounded)
        routes.withLock { routes in
            for id in clientOrderIDs { routes[id] = continuation }
        }
        return (stream, continuation)
    }

    public func unregister(_ clientOrderIDs: [String]) {
        let continuation = routes.withLock { routes in
            clientOrderIDs.compactMap { routes.removeValue(forKey: $0) }.first
        }
        continuation?.finish()
    }

    /// Hands `event` to the execution that owns its order (per-execution streams are unbounded:
    /// an order's events are bounded by its size), else to the orphan queue, waiting for room.
    public func route(_ event: VenueEvent) async {
        let id: String
        switch event {
        case .fill(let fill): id = fill.clientOrderID
        case .orderUpdate(let order): id = order.clientOrderID
        }
        let continuation = routes.withLock { $0[id] }
        if let continuation {
            continuation.yield(.venue(event))
        } else {
            await orphanEvents.send(event)
        }
    }

    public func finish() { orphanEvents.finish() }
}

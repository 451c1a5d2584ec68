import OrderStateMachine
import Synchronization

/// The queue between the venues' event streams and the recorder of fills no execution owns
/// (DESIGN §8 item 11: no queue on a fill's path drops anything). Bounded, with back-pressure:
/// when it holds `capacity` events, `send` suspends the venue's event loop until the recorder has
/// taken one, so a backlog slows the feed down instead of losing the oldest late fill.
public final class OrphanQueue: AsyncSequence, Sendable {
    public typealias Element = VenueEvent

    private struct State {
        var buffer: [VenueEvent] = []
        var head = 0
        var receiver: CheckedContinuation<VenueEvent?, Never>?
        /// Senders waiting for room, each with its event (taken into the buffer when room appears).
        var senders: [(VenueEvent, CheckedContinuation<Void, Never>)] = []
        var finished = false
        var count: Int { buffer.count - head }

        /// Takes the oldest event, and lets the longest-waiting sender's event into the room it
        /// leaves (its continuation is returned, to be resumed outside the lock).
        mutating func take() -> (VenueEvent, CheckedContinuation<Void, Never>?)? {
            guard count > 0 else { return nil }
            let event = buffer[head]
            head += 1
            if head >= 1_024 && head * 2 >= buffer.count {
                buffer.removeFirst(head)
                head = 0
            }
            guard !senders.isEmpty else { return (event, nil) }
            let (waiting, sender) = senders.removeFirst()
            buffer.append(waiting)
            return (event, sender)
        }
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        precondition(capacity > 0, "an orphan queue needs room for at least one event")
        self.capacity = capacity
    }

    /// Queues `event`, waiting for room when the queue is full. After `finish()` the event is
    /// still queued (the recorder drains everything before it ends): nothing accepted is lost.
    public func send(_ event: VenueEvent) async {
        enum Step { case done, resume(CheckedContinuation<VenueEvent?, Never>), wait }
        let step = state.withLock { state -> Step in
            if let receiver = state.receiver {
                state.receiver = nil
                return .resume(receiver)
            }
            if state.count < capacity || state.finished {
                state.buffer.append(event)
                return .done
            }
            return .wait
        }
        switch step {
        case .done: return
        case .resume(let receiver): receiver.resume(returning: event)
        case .wait:
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // Room may have appeared between the two locks.
                    if state.count < capacity || state.finished {
                        state.buffer.append(event)
                        return true
                    }
                    state.senders.append((event, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// No more events will be sent; the recorder drains what is queued, then its loop ends.
    public func finish() {
        let (receiver, senders) = state.withLock { state in
            state.finished = true
            for (event, _) in state.senders { state.buffer.append(event) }
            let senders = state.senders.map(\.1)
            state.senders.removeAll()
            let receiver = state.count == 0 ? state.receiver : nil
            if receiver != nil { state.receiver = nil }
            return (receiver, senders)
        }
        for sender in senders { sender.resume() }
        receiver?.resume(returning: nil)
    }

    var queuedCount: Int { state.withLock { $0.count } }

    /// The next event, waiting for one; nil once finished and drained. One receiver at a time.
    func next() async -> VenueEvent? {
        if let taken = state.withLock({ $0.take() }) { return deliver(taken) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<VenueEvent?, Never>) in
            enum Now { case taken((VenueEvent, CheckedContinuation<Void, Never>?)), end, parked }
            let now = state.withLock { state -> Now in
                if let taken = state.take() { return .taken(taken) }
                if state.finished { return .end }
                precondition(state.receiver == nil, "an orphan queue has one receiver")
                state.receiver = continuation
                return .parked
            }
            switch now {
            case .taken(let taken): continuation.resume(returning: deliver(taken))
            case .end: continuation.resume(returning: nil)
            case .parked: break
            }
        }
    }

    private func deliver(_ taken: (VenueEvent, CheckedContinuation<Void, Never>?)) -> VenueEvent {
        taken.1?.resume()
        return taken.0
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: OrphanQueue
        public mutating func next() async -> VenueEvent? { await queue.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: self) }
}

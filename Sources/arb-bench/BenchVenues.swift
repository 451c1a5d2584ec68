import ArbEngine
import OrderStateMachine
import Synchronization

/// Passes every call to a venue (the paper venue here) and notes, on the monotonic clock, the
/// instant the executor hands it a submit or a cancel — before the venue does any work.
final class TimedVenue: Venue {
    struct Marks: Sendable {
        var submits: [UInt64] = []
        var cancels: [UInt64] = []
    }

    let inner: any Venue
    let marks = Mutex(Marks())

    init(_ inner: any Venue) { self.inner = inner }

    /// Forgets the marks of the previous iteration.
    func reset() { marks.withLock { $0 = Marks() } }

    var name: String { inner.name }
    var feeModel: FeeModel { inner.feeModel }
    var settleWindowMilliseconds: Int64 { inner.settleWindowMilliseconds }
    var events: AsyncStream<VenueEvent> { inner.events }
    func prepare(_ request: OrderRequest) -> PreparedOrder { inner.prepare(request) }

    func submit(_ order: PreparedOrder) async throws -> SubmitAck {
        let now = monotonicNanoseconds()
        marks.withLock { $0.submits.append(now) }
        return try await inner.submit(order)
    }

    func cancel(clientOrderID: String) async throws -> CancelAnswer {
        let now = monotonicNanoseconds()
        marks.withLock { $0.cancels.append(now) }
        return try await inner.cancel(clientOrderID: clientOrderID)
    }

    func order(clientOrderID: String) async throws -> VenueOrder? { try await inner.order(clientOrderID: clientOrderID) }
    func fills(clientOrderID: String) async throws -> [FillReport] { try await inner.fills(clientOrderID: clientOrderID) }
    func positions() async throws -> [VenuePosition] { try await inner.positions() }
    func balance() async throws -> Money { try await inner.balance() }
}

/// A minimal in-memory venue whose fills the benchmark pushes itself, at an instant it notes:
/// every submit rests (open, nothing filled); `pushFill` fills an order completely and yields the
/// fill on `events` exactly as the paper venue's ledger does after its commit.
final class PushVenue: Venue {
    let name: String
    let feeModel: FeeModel = .free
    let settleWindowMilliseconds: Int64 = 0
    let events: AsyncStream<VenueEvent>
    private let continuation: AsyncStream<VenueEvent>.Continuation
    private let orders = Mutex<[String: VenueOrder]>([:])
    private let fillsByOrder = Mutex<[String: [FillReport]]>([:])
    private let fillCount = Mutex(0)
    /// The client order id of the latest submit.
    let lastClientOrderID = Mutex<String?>(nil)

    init(name: String) {
        self.name = name
        (events, continuation) = AsyncStream.makeStream(of: VenueEvent.self, bufferingPolicy: .unbounded)
    }

    deinit { continuation.finish() }

    func prepare(_ request: OrderRequest) -> PreparedOrder { PreparedOrder(request: request, venueOrderID: nil) }

    func submit(_ order: PreparedOrder) async throws -> SubmitAck {
        let request = order.request
        let placed = VenueOrder(clientOrderID: request.clientOrderID, venueOrderID: "\(name)-\(request.clientOrderID)",
                                instrument: request.instrument, side: request.side, limitPrice: request.limitPrice,
                                quantity: request.quantity, filledQuantity: .zero, status: .open)
        orders.withLock { $0[request.clientOrderID] = placed }
        lastClientOrderID.withLock { $0 = request.clientOrderID }
        return SubmitAck(order: placed, fills: [])
    }

    /// Fills `clientOrderID` completely; returns the monotonic instant just before the fill event
    /// was yielded, or nil for an unknown order.
    func pushFill(clientOrderID: String) -> UInt64? {
        let number = fillCount.withLock { count in
            count += 1
            return count
        }
        guard let order = orders.withLock({ orders -> VenueOrder? in
            guard var order = orders[clientOrderID] else { return nil }
            order.filledQuantity = order.quantity
            order.status = .filled
            orders[clientOrderID] = order
            return order
        }) else { return nil }
        let fill = FillReport(venue: name, tradeID: "\(name)-T\(number)", clientOrderID: clientOrderID,
                              price: order.limitPrice, quantity: order.quantity, fee: .zero,
                              filledAtMilliseconds: wallMilliseconds())
        fillsByOrder.withLock { $0[clientOrderID, default: []].append(fill) }
        let now = monotonicNanoseconds()
        continuation.yield(.fill(fill))
        continuation.yield(.orderUpdate(order))
        return now
    }

    func cancel(clientOrderID: String) async throws -> CancelAnswer {
        try orders.withLock { orders in
            guard var order = orders[clientOrderID] else { throw VenueError.unknownOrder(clientOrderID: clientOrderID) }
            if order.status.isFinal { return .alreadyDone(order) }
            order.status = .cancelled
            orders[clientOrderID] = order
            return .cancelled(order)
        }
    }

    func order(clientOrderID: String) async throws -> VenueOrder? { orders.withLock { $0[clientOrderID] } }
    func fills(clientOrderID: String) async throws -> [FillReport] { fillsByOrder.withLock { $0[clientOrderID] ?? [] } }
    func positions() async throws -> [VenuePosition] { [] }
    func balance() async throws -> Money { PaperVenue.startingBalance }
}

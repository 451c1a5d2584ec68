import OrderStateMachine
import Synchronization

/// An order as the executor asks a venue for it.
public struct OrderRequest: Sendable, Hashable {
    public var clientOrderID: String
    public var instrument: String
    public var side: Side
    public var limitPrice: Price
    public var quantity: Quantity
    public var timeInForce: TimeInForce

    public init(clientOrderID: String, instrument: String, side: Side, limitPrice: Price, quantity: Quantity,
                timeInForce: TimeInForce) {
        self.clientOrderID = clientOrderID
        self.instrument = instrument
        self.side = side
        self.limitPrice = limitPrice
        self.quantity = quantity
        self.timeInForce = timeInForce
    }
}

/// An order ready to send, with any id the venue lets us compute before sending (Polymarket's
/// order hash), so it can be persisted as intent before the send (DESIGN §4).
public struct PreparedOrder: Sendable, Hashable {
    public var request: OrderRequest
    public var venueOrderID: String?

    public init(request: OrderRequest, venueOrderID: String?) {
        self.request = request
        self.venueOrderID = venueOrderID
    }
}

/// An order's status at the venue.
public enum VenueOrderStatus: String, Sendable, Hashable, Codable {
    case open
    case partiallyFilled = "partially_filled"
    case filled
    /// Cancelled by us, or the unfilled remainder of an IOC/FOK order killed by the venue.
    case cancelled
    case rejected

    public var isFinal: Bool { self == .filled || self == .cancelled || self == .rejected }

    public var legStatus: LegStatus {
        switch self {
        case .open: .open
        case .partiallyFilled: .partiallyFilled
        case .filled: .filled
        case .cancelled: .cancelled
        case .rejected: .rejected
        }
    }
}

/// What the venue says about one order.
public struct VenueOrder: Sendable, Hashable {
    public var clientOrderID: String
    public var venueOrderID: String
    public var instrument: String
    public var side: Side
    public var limitPrice: Price
    public var quantity: Quantity
    public var filledQuantity: Quantity
    public var status: VenueOrderStatus
    public var reason: String?

    public init(clientOrderID: String, venueOrderID: String, instrument: String, side: Side, limitPrice: Price,
                quantity: Quantity, filledQuantity: Quantity, status: VenueOrderStatus, reason: String? = nil) {
        self.clientOrderID = clientOrderID
        self.venueOrderID = venueOrderID
        self.instrument = instrument
        self.side = side
        self.limitPrice = limitPrice
        self.quantity = quantity
        self.filledQuantity = filledQuantity
        self.status = status
        self.reason = reason
    }
}

/// A venue's answer to a submit: the order as placed, and any fills that happened at once.
public struct SubmitAck: Sendable, Hashable {
    public var order: VenueOrder
    public var fills: [FillReport]

    public init(order: VenueOrder, fills: [FillReport]) {
        self.order = order
        self.fills = fills
    }
}

public enum CancelAnswer: Sendable, Hashable {
    /// The remainder is cancelled; `order` carries the final filled quantity.
    case cancelled(VenueOrder)
    /// The order was already final (filled, cancelled, rejected).
    case alreadyDone(VenueOrder)
    /// The venue refused to cancel (the order may still fill).
    case failed(reason: String)
}

/// Venue failures. Ambiguous is not rejected (DESIGN §4): only `rejected` is a definite refusal.
public enum VenueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A definite refusal with a reason (4xx), including a duplicate client order id (409).
    case rejected(reason: String)
    /// The answer was lost (timeout, disconnect, 5xx): the order may or may not exist.
    case ambiguous(reason: String)
    /// The venue cannot be reached at all.
    case unavailable(reason: String)
    /// The venue answered with something we cannot read.
    case malformed(reason: String)
    /// The venue does not know this order.
    case unknownOrder(clientOrderID: String)

    public var description: String {
        switch self {
        case .rejected(let reason): "rejected: \(reason)"
        case .ambiguous(let reason): "no definite answer: \(reason)"
        case .unavailable(let reason): "unavailable: \(reason)"
        case .malformed(let reason): "malformed answer: \(reason)"
        case .unknownOrder(let id): "unknown order \(id)"
        }
    }
}

/// Something a venue pushes: a fill, or an order's new status.
public enum VenueEvent: Sendable, Hashable {
    case fill(FillReport)
    case orderUpdate(VenueOrder)
}

/// A net position at a venue.
public struct VenuePosition: Sendable, Hashable {
    public var instrument: String
    public var quantity: Quantity
    public var cost: Money

    public init(instrument: String, quantity: Quantity, cost: Money) {
        self.instrument = instrument
        self.quantity = quantity
        self.cost = cost
    }
}

/// One trading venue (DESIGN §7). Nothing above this protocol may know which venue it talks to.
public protocol Venue: AnyObject, Sendable {
    var name: String { get }
    /// How this venue charges takers, for detection and for recording fills.
    var feeModel: FeeModel { get }
    /// After a submit, how long the venue may take to show the order; a "not found" older than
    /// this means the order never arrived.
    var settleWindowMilliseconds: Int64 { get }

    /// Pure: the ids and signature of an order, computed before anything is sent.
    func prepare(_ request: OrderRequest) -> PreparedOrder
    /// Sends the order. Throws `VenueError.rejected` for a definite refusal and `.ambiguous` when
    /// the answer is lost.
    func submit(_ order: PreparedOrder) async throws -> SubmitAck
    /// Cancels by client order id; idempotent.
    func cancel(clientOrderID: String) async throws -> CancelAnswer
    /// The order, or nil when the venue never received it.
    func order(clientOrderID: String) async throws -> VenueOrder?
    /// Every fill of one order.
    func fills(clientOrderID: String) async throws -> [FillReport]
    func positions() async throws -> [VenuePosition]
    func balance() async throws -> Money
    /// Fills and order updates as they happen. One consumer.
    var events: AsyncStream<VenueEvent> { get }
    /// Checks at start that the venue agrees with the config (a market's grid, its fee): the
    /// lines returned are refusals, each naming both values; a venue that cannot be asked logs
    /// a warning and returns none.
    func startChecks() async -> [String]
}

extension Venue {
    public func startChecks() async -> [String] { [] }
}

/// Fills a venue's websocket announces, read back and pushed on the venue's `events`: the one
/// rule both adapters follow. An announcement is not a fill record (no fee, or no certainty the
/// adapter trusts); the venue's REST answer is. Each announcement key (a trade id, or a trade id
/// and its new status) is pushed once; an order this process does not know is left to the
/// executor's reads and recovery; a read that fails is forgotten, so a later announcement retries.
public final class PushedFills: Sendable {
    public enum Outcome: Sendable, Equatable {
        case pushed(Int)
        case repeated
        case unknownOrder
        case unread(String)
    }

    public let events: AsyncStream<VenueEvent>
    private let continuation: AsyncStream<VenueEvent>.Continuation
    private let seen = Mutex<Set<String>>([])

    public init() {
        (events, continuation) = AsyncStream<VenueEvent>.makeStream()
    }

    /// Reads the order `clientOrderID` names with `read` and pushes it as an `orderUpdate` when
    /// this state of it (status and filled quantity) was not pushed before.
    public func announceOrder(clientOrderID: String?, read: (String) async throws -> VenueOrder?) async -> Outcome {
        guard let clientOrderID else { return .unknownOrder }
        let order: VenueOrder?
        do { order = try await read(clientOrderID) } catch { return .unread("\(error)") }
        guard let order else { return .unknownOrder }
        let key = "order \(order.clientOrderID) \(order.status.rawValue) \(order.filledQuantity.hundredths)"
        guard seen.withLock({ $0.insert(key).inserted }) else { return .repeated }
        continuation.yield(.orderUpdate(order))
        return .pushed(1)
    }

    /// Reads `clientOrderID`'s fills with `read` and pushes those of `tradeID`.
    public func announce(key: String, tradeID: String, clientOrderID: String?,
                         read: (String) async throws -> [FillReport]) async -> Outcome {
        guard seen.withLock({ $0.insert(key).inserted }) else { return .repeated }
        guard let clientOrderID else { return .unknownOrder }
        do {
            let fills = try await read(clientOrderID).filter { $0.tradeID == tradeID }
            for fill in fills { continuation.yield(.fill(fill)) }
            return .pushed(fills.count)
        } catch {
            seen.withLock { _ = $0.remove(key) }
            return .unread("\(error)")
        }
    }
}

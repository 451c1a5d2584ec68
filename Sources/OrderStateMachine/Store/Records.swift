public typealias OpportunityID = Int64

/// Which of an opportunity's two legs.
public enum LegName: String, Sendable, Hashable, CaseIterable, Codable {
    case a, b

    public var other: LegName { self == .a ? .b : .a }
}

public enum Side: String, Sendable, Hashable, Codable {
    case buy, sell
}

public enum TimeInForce: String, Sendable, Hashable, Codable, CaseIterable {
    /// Immediate or cancel: fill what is there, cancel the rest.
    case ioc
    /// Fill or kill: all at once or nothing.
    case fok
    /// Good till cancelled: rests until filled or cancelled (the executor cancels at its fill timeout).
    case gtc
}

/// A leg's order status as far as the database knows (schema.sql `legs.status`).
public enum LegStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Intent persisted; the submit has not been answered.
    case pending
    /// The submit's answer was lost (timeout, disconnect, 5xx): only a venue query resolves it.
    case unknown
    case open
    case partiallyFilled = "partially_filled"
    case filled
    case cancelled
    case rejected
    /// The venue says it never received the order.
    case notFound = "not_found"

    /// The order can no longer fill.
    public var isFinal: Bool {
        switch self {
        case .filled, .cancelled, .rejected, .notFound: true
        case .pending, .unknown, .open, .partiallyFilled: false
        }
    }
}

public enum CancelResult: String, Sendable, Hashable, Codable {
    case cancelled
    /// The order was already filled, cancelled or expired.
    case alreadyDone = "already_done"
    case failed
    case unknown
}

/// One side of a detected opportunity: buy YES of `outcome` at `venue`.
public struct LegQuote: Sendable, Hashable, Codable {
    public var venue: String
    public var outcome: String
    public var instrument: String
    public var price: Price

    public init(venue: String, outcome: String, instrument: String, price: Price) {
        self.venue = venue
        self.outcome = outcome
        self.instrument = instrument
        self.price = price
    }
}

/// What the detector found, before it has an id.
public struct NewOpportunity: Sendable, Hashable {
    public var eventID: String
    public var legA: LegQuote
    public var legB: LegQuote
    public var edgeBps: Int64
    public var quantity: Quantity
    public var expectedFees: Money
    public var detectedAtMilliseconds: Int64

    public init(eventID: String, legA: LegQuote, legB: LegQuote, edgeBps: Int64, quantity: Quantity,
                expectedFees: Money, detectedAtMilliseconds: Int64) {
        self.eventID = eventID
        self.legA = legA
        self.legB = legB
        self.edgeBps = edgeBps
        self.quantity = quantity
        self.expectedFees = expectedFees
        self.detectedAtMilliseconds = detectedAtMilliseconds
    }

    /// `event_id|venueA:outcomeA|venueB:outcomeB` (DESIGN §4).
    public var dedupKey: String {
        "\(eventID)|\(legA.venue):\(legA.outcome)|\(legB.venue):\(legB.outcome)"
    }
}

/// A leg's order as persisted before anything is sent (DESIGN §4, intent before side effect).
public struct LegIntent: Sendable, Hashable {
    public var leg: LegName
    public var venue: String
    public var instrument: String
    public var side: Side
    public var limitPrice: Price
    public var quantity: Quantity
    public var timeInForce: TimeInForce
    public var clientOrderID: String
    /// An id the venue lets us compute before sending (Polymarket's order hash), if any.
    public var venueOrderID: String?

    public init(leg: LegName, venue: String, instrument: String, side: Side, limitPrice: Price,
                quantity: Quantity, timeInForce: TimeInForce, clientOrderID: String, venueOrderID: String? = nil) {
        self.leg = leg
        self.venue = venue
        self.instrument = instrument
        self.side = side
        self.limitPrice = limitPrice
        self.quantity = quantity
        self.timeInForce = timeInForce
        self.clientOrderID = clientOrderID
        self.venueOrderID = venueOrderID
    }
}

/// What changed about a leg's order; nil fields stay as they are.
public struct LegUpdate: Sendable, Hashable {
    public var clientOrderID: String
    public var status: LegStatus?
    public var statusReason: String?
    public var venueOrderID: String?
    public var cancelRequested: Bool?
    public var cancelResult: CancelResult?

    public init(clientOrderID: String, status: LegStatus? = nil, statusReason: String? = nil,
                venueOrderID: String? = nil, cancelRequested: Bool? = nil, cancelResult: CancelResult? = nil) {
        self.clientOrderID = clientOrderID
        self.status = status
        self.statusReason = statusReason
        self.venueOrderID = venueOrderID
        self.cancelRequested = cancelRequested
        self.cancelResult = cancelResult
    }
}

/// One execution reported by a venue, identified by the venue's trade id.
/// How sure the venue is of a trade. Most venues' fills are certain at once; Polymarket's are
/// MATCHED first and certain only when CONFIRMED, and a FAILED trade undoes its fill.
public enum FillCertainty: String, Sendable, Hashable, Codable {
    case certain, provisional, failed
}

public struct FillReport: Sendable, Hashable, Codable {
    public var venue: String
    public var tradeID: String
    public var clientOrderID: String
    public var price: Price
    public var quantity: Quantity
    public var fee: Money
    public var filledAtMilliseconds: Int64
    public var certainty: FillCertainty = .certain

    public init(venue: String, tradeID: String, clientOrderID: String, price: Price, quantity: Quantity,
                fee: Money, filledAtMilliseconds: Int64, certainty: FillCertainty = .certain) {
        self.certainty = certainty
        self.venue = venue
        self.tradeID = tradeID
        self.clientOrderID = clientOrderID
        self.price = price
        self.quantity = quantity
        self.fee = fee
        self.filledAtMilliseconds = filledAtMilliseconds
    }
}

public enum AlertSeverity: String, Sendable, Hashable, Codable, CaseIterable {
    case info, warning, critical

    /// Whether an alert of this severity reaches a sink whose minimum is `minimum`.
    public func reaches(_ minimum: AlertSeverity) -> Bool {
        Self.allCases.firstIndex(of: self)! >= Self.allCases.firstIndex(of: minimum)!
    }
}

/// An alert to insert into the outbox in the same transaction as what caused it.
public struct NewAlert: Sendable, Hashable {
    /// Stable across retries and restarts, so receivers can drop repeats.
    public var key: String
    public var kind: String
    public var severity: AlertSeverity
    public var text: String
    public var bodyJSON: String

    public init(key: String, kind: String, severity: AlertSeverity, text: String, bodyJSON: String) {
        self.key = key
        self.kind = kind
        self.severity = severity
        self.text = text
        self.bodyJSON = bodyJSON
    }
}

// MARK: - What the store reads back

public struct Opportunity: Sendable, Hashable {
    public var id: OpportunityID
    public var dedupKey: String
    public var eventID: String
    public var legA: LegQuote
    public var legB: LegQuote
    public var edgeBps: Int64
    public var quantity: Quantity
    public var expectedFees: Money
    public var state: OpportunityState
    public var stateReason: String
    public var flattened: Bool
    public var createdAtMilliseconds: Int64
    public var updatedAtMilliseconds: Int64
}

public struct Leg: Sendable, Hashable {
    public var id: Int64
    public var opportunityID: OpportunityID
    public var leg: LegName
    public var venue: String
    public var instrument: String
    public var side: Side
    public var limitPrice: Price
    public var quantity: Quantity
    public var timeInForce: TimeInForce
    public var clientOrderID: String
    public var venueOrderID: String?
    public var status: LegStatus
    public var statusReason: String?
    public var cancelRequested: Bool
    public var cancelResult: CancelResult?
    public var filledQuantity: Quantity
    public var filledCost: Money
    public var fees: Money
    public var updatedAtMilliseconds: Int64

    /// Quantity that could still fill.
    public var openQuantity: Quantity { status.isFinal ? .zero : quantity - filledQuantity }
}

public struct Fill: Sendable, Hashable {
    public var id: Int64
    public var venue: String
    public var tradeID: String
    public var legID: Int64
    public var opportunityID: OpportunityID
    public var price: Price
    public var quantity: Quantity
    public var fee: Money
    public var filledAtMilliseconds: Int64
    public var recordedAtMilliseconds: Int64
    /// The venue may still undo it.
    public var provisional: Bool = false
    /// The venue undid it (a `fill_reversals` row): it no longer counts in its leg's sums.
    public var reversed: Bool = false
}

public struct TransitionRecord: Sendable, Hashable {
    public var id: Int64
    public var opportunityID: OpportunityID
    /// nil for the row that created the opportunity.
    public var from: OpportunityState?
    public var to: OpportunityState
    public var reason: String
    public var atMilliseconds: Int64
}

public struct AlertDelivery: Sendable, Hashable {
    public var sink: String
    public var attempts: Int
    public var deliveredAtMilliseconds: Int64?
    public var lastError: String?
}

public struct Alert: Sendable, Hashable {
    public var id: Int64
    public var key: String
    public var opportunityID: OpportunityID?
    public var kind: String
    public var severity: AlertSeverity
    public var text: String
    public var bodyJSON: String
    public var createdAtMilliseconds: Int64
    public var deliveries: [AlertDelivery]
}

/// Everything the database knows about one opportunity.
public struct OpportunityHistory: Sendable, Hashable {
    public var opportunity: Opportunity
    public var legs: [Leg]
    public var fills: [Fill]
    public var transitions: [TransitionRecord]
    public var alerts: [Alert]
    /// Its unwind orders (issue 14), by attempt.
    public var unwindOrders: [UnwindOrder] = []
}

// MARK: - Unwinding (issue 14)

/// How an unwind takes an exposure back: buy the missing outcome (`complete`) or sell the
/// excess (`flatten`).
public enum UnwindAction: String, Sendable, Hashable, CaseIterable, Codable {
    case complete, flatten

    /// The side its order takes.
    public var side: Side { self == .complete ? .buy : .sell }
}

/// An unwind order as persisted before it is sent (`unwind_orders`).
public struct UnwindOrderIntent: Sendable, Hashable {
    public var attempt: Int
    public var action: UnwindAction
    public var venue: String
    public var instrument: String
    public var limitPrice: Price
    /// The furthest limit the loss bound allowed for it (the schema refuses a limit past it).
    public var boundPrice: Price
    public var quantity: Quantity
    /// The exposure the unwind set out to take back (the same on every attempt).
    public var exposure: Quantity
    /// The loss the whole unwind may realise: `max_loss_per_contract` × `exposure`.
    public var lossBudget: Money
    public var clientOrderID: String
    public var venueOrderID: String?

    public init(attempt: Int, action: UnwindAction, venue: String, instrument: String, limitPrice: Price, boundPrice: Price,
                quantity: Quantity, exposure: Quantity, lossBudget: Money, clientOrderID: String, venueOrderID: String? = nil) {
        self.exposure = exposure
        self.lossBudget = lossBudget
        self.attempt = attempt
        self.action = action
        self.venue = venue
        self.instrument = instrument
        self.limitPrice = limitPrice
        self.boundPrice = boundPrice
        self.quantity = quantity
        self.clientOrderID = clientOrderID
        self.venueOrderID = venueOrderID
    }
}

/// A change to a persisted unwind order (nil fields are left as they are).
public struct UnwindOrderUpdate: Sendable, Hashable {
    public var clientOrderID: String
    public var status: LegStatus?
    public var statusReason: String?
    public var venueOrderID: String?

    public init(clientOrderID: String, status: LegStatus? = nil, statusReason: String? = nil, venueOrderID: String? = nil) {
        self.clientOrderID = clientOrderID
        self.status = status
        self.statusReason = statusReason
        self.venueOrderID = venueOrderID
    }
}

/// An unwind order as stored, with its fills summed by the database (reversed ones left out).
public struct UnwindOrder: Sendable, Hashable {
    public var opportunityID: OpportunityID
    public var intent: UnwindOrderIntent
    public var status: LegStatus
    public var statusReason: String?
    public var filledQuantity: Quantity
    public var filledCost: Money
    public var fees: Money
    public var createdAtMilliseconds: Int64
    public var updatedAtMilliseconds: Int64
}

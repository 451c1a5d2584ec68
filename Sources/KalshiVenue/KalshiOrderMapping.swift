import ArbKit
import OrderStateMachine

/// A Kalshi instrument as the config names it: `TICKER:yes` or `TICKER:no`.
public struct KalshiInstrument: Sendable, Hashable, CustomStringConvertible {
    public enum Outcome: String, Sendable, Hashable { case yes, no }

    public var ticker: String
    public var outcome: Outcome

    public init(ticker: String, outcome: Outcome) {
        self.ticker = ticker
        self.outcome = outcome
    }

    /// nil unless the text is a non-empty ticker, a colon, and `yes` or `no`.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"),
              let outcome = Outcome(rawValue: String(text[text.index(after: colon)...])) else { return nil }
        let ticker = String(text[..<colon])
        guard !ticker.isEmpty, ticker.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") })
        else { return nil }
        self.init(ticker: ticker, outcome: outcome)
    }

    public var description: String { ticker + ":" + outcome.rawValue }

    public static let expected = "TICKER:yes or TICKER:no (a Kalshi market ticker and the outcome)"
}

/// The side of Kalshi's YES book an order rests on.
public enum KalshiBookSide: String, Sendable, Hashable {
    case bid, ask
}

/// The venue-neutral order (outcome, buy or sell, the outcome's price) on Kalshi's one YES book:
/// buying YES at p bids p; selling YES at p asks p; **buying NO at p asks 1 − p** (whoever buys
/// the YES side at 1 − p takes the other side of our NO); selling NO at p bids 1 − p.
public struct KalshiBookOrder: Sendable, Hashable {
    public var side: KalshiBookSide
    public var yesPrice: Price

    public init(outcome: KalshiInstrument.Outcome, action: Side, price: Price) {
        switch (outcome, action) {
        case (.yes, .buy): self.side = .bid; self.yesPrice = price
        case (.yes, .sell): self.side = .ask; self.yesPrice = price
        case (.no, .buy): self.side = .ask; self.yesPrice = price.complement
        case (.no, .sell): self.side = .bid; self.yesPrice = price.complement
        }
    }

    /// The outcome's own price back from a YES-book price (the inverse of the mapping).
    public static func outcomePrice(yesPrice: Price, outcome: KalshiInstrument.Outcome) -> Price {
        outcome == .yes ? yesPrice : yesPrice.complement
    }
}

/// What the Kalshi adapter cannot send. One line naming the field and what is allowed.
public struct KalshiOrderRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The V2 create body: `POST /portfolio/events/orders`.
public struct KalshiCreateOrderBody: Sendable, Hashable {
    public var ticker: String
    public var side: KalshiBookSide
    /// The YES price as a dollar string with 4 decimals ("0.4500").
    public var price: String
    /// Contracts with 2 decimals ("10.00").
    public var count: String
    public var timeInForce: String
    public var selfTradePrevention: String
    public var clientOrderID: String
    /// Resting orders only: the venue cancels them if it pauses the market.
    public var cancelOrderOnPause: Bool?

    /// The V2 body for a venue-neutral order.
    public init(_ request: OrderRequest, selfTradePrevention: String) throws(KalshiOrderRefusal) {
        guard let instrument = KalshiInstrument(parsing: request.instrument) else {
            throw KalshiOrderRefusal(description: "instrument \"\(request.instrument)\" is not \(KalshiInstrument.expected)")
        }
        guard !request.quantity.isZero else { throw KalshiOrderRefusal(description: "an order of 0 contracts") }
        let book = KalshiBookOrder(outcome: instrument.outcome, action: request.side, price: request.limitPrice)
        self.ticker = instrument.ticker
        self.side = book.side
        self.price = book.yesPrice.description
        self.count = request.quantity.description
        self.timeInForce = Self.timeInForce(request.timeInForce)
        self.selfTradePrevention = selfTradePrevention
        self.clientOrderID = request.clientOrderID
        self.cancelOrderOnPause = request.timeInForce == .gtc ? true : nil
    }

    public static func timeInForce(_ value: TimeInForce) -> String {
        switch value {
        case .ioc: "immediate_or_cancel"
        case .fok: "fill_or_kill"
        case .gtc: "good_till_canceled"
        }
    }

    /// The body as sent: compact JSON, keys in a fixed order.
    public var json: String {
        var members: [(String, String)] = [
            ("ticker", JSONText.quoted(ticker)), ("side", JSONText.quoted(side.rawValue)),
            ("price", JSONText.quoted(price)), ("count", JSONText.quoted(count)),
            ("time_in_force", JSONText.quoted(timeInForce)),
            ("self_trade_prevention_type", JSONText.quoted(selfTradePrevention)),
            ("client_order_id", JSONText.quoted(clientOrderID)),
        ]
        if let cancelOrderOnPause { members.append(("cancel_order_on_pause", cancelOrderOnPause ? "true" : "false")) }
        return "{" + members.map { JSONText.quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
}

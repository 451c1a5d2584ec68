import OrderStateMachine

/// The top of one instrument's book at one venue. Prices are YES prices of the instrument's outcome.
public struct Quote: Sendable, Hashable {
    public var timestampMilliseconds: Int64
    public var venue: String
    public var instrument: String
    public var bid: Price?
    public var bidSize: Quantity
    public var ask: Price?
    public var askSize: Quantity

    public init(timestampMilliseconds: Int64, venue: String, instrument: String, bid: Price?, bidSize: Quantity,
                ask: Price?, askSize: Quantity) {
        self.timestampMilliseconds = timestampMilliseconds
        self.venue = venue
        self.instrument = instrument
        self.bid = bid
        self.bidSize = bidSize
        self.ask = ask
        self.askSize = askSize
    }
}

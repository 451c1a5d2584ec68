import OrderStateMachine
import Synchronization

/// The latest bid and ask the trader saw for each (venue, instrument), for marking an open
/// exposure to market and for unwinding one. A bid is trusted only while it is younger than the trader's `quote_staleness_ms` (the
/// same age past which a quote is not traded on); an older one, or none, gives no mark: a reminder
/// then says so rather than show a price the market may no longer give.
public final class MarkBook: Sendable {
    struct Key: Hashable {
        var venue: String
        var instrument: String
    }

    struct Mark {
        var bid: Price?
        var ask: Price?
        var atMilliseconds: Int64
    }

    public let trustedForMilliseconds: Int64
    private let marks = Mutex<[Key: Mark]>([:])

    public init(trustedForMilliseconds: Int64) {
        self.trustedForMilliseconds = trustedForMilliseconds
    }

    public func record(_ quote: Quote) {
        let key = Key(venue: quote.venue, instrument: quote.instrument)
        marks.withLock { $0[key] = Mark(bid: quote.bid, ask: quote.ask, atMilliseconds: quote.timestampMilliseconds) }
    }

    /// The ask, if one is trusted at `now`.
    public func trustedAsk(venue: String, instrument: String, now: Int64) -> Price? {
        guard let mark = marks.withLock({ $0[Key(venue: venue, instrument: instrument)] }), let ask = mark.ask,
              now - mark.atMilliseconds <= trustedForMilliseconds else { return nil }
        return ask
    }

    /// The bid and its age, if one is trusted at `now`.
    public func trustedBid(venue: String, instrument: String, now: Int64) -> (bid: Price, ageMilliseconds: Int64)? {
        guard let mark = marks.withLock({ $0[Key(venue: venue, instrument: instrument)] }), let bid = mark.bid else { return nil }
        let age = now - mark.atMilliseconds
        return age <= trustedForMilliseconds ? (bid, max(0, age)) : nil
    }
}

/// Policy: what an open exposure would fetch if sold now at a trusted bid, after the sale's fee,
/// against what it cost (`Exposure.atRisk`). Only a bought leg is marked (arb's legs are buys).
public struct ExposureMark: Sendable, Hashable {
    public var venue: String
    public var bid: Price
    public var ageMilliseconds: Int64
    /// Exposed contracts × bid, minus the venue's fee for selling them there.
    public var proceeds: Money
    /// `proceeds − atRisk`: negative is a loss if closed now.
    public var unrealised: Money

    /// - Parameter fee: the fee model of the leading leg's venue for this event's market.
    public init?(exposure: Exposure, legs: [Leg], book: MarkBook, fee: (_ venue: String) -> FeeModel, now: Int64) {
        guard exposure.exposed > .zero, let leading = exposure.leadingLeg, let leg = legs.first(where: { $0.leg == leading }),
              leg.side == .buy, let mark = book.trustedBid(venue: leg.venue, instrument: leg.instrument, now: now) else { return nil }
        venue = leg.venue
        bid = mark.bid
        ageMilliseconds = mark.ageMilliseconds
        let saleFee = fee(leg.venue).fee(price: mark.bid, quantity: exposure.exposed)
        proceeds = Money(price: mark.bid, quantity: exposure.exposed) - saleFee
        unrealised = proceeds - exposure.atRisk
    }
}

import OrderStateMachine

/// A cross-venue pair worth trading, as the detector saw it.
public struct Candidate: Sendable, Hashable {
    public var opportunity: NewOpportunity
    /// The age of the older of the two quotes at detection.
    public var quoteAgeMilliseconds: Int64
    public var isStale: Bool
    /// What both legs cost at the asks, and their fees, for `opportunity.quantity`.
    public var cost: Money
    public var fees: Money
    /// Payout minus cost minus fees, if both legs fill.
    public var netProfit: Money

    public init(opportunity: NewOpportunity, quoteAgeMilliseconds: Int64, isStale: Bool, cost: Money, fees: Money,
                netProfit: Money) {
        self.opportunity = opportunity
        self.quoteAgeMilliseconds = quoteAgeMilliseconds
        self.isStale = isStale
        self.cost = cost
        self.fees = fees
        self.netProfit = netProfit
    }
}

/// Finds, for each event, the best cross-venue "dutch book": buy one outcome at one venue and the
/// other outcome at the other, for less than the $1 the pair pays, net of both venues' fees.
///
/// O(1) work per quote update: a quote changes one of an event's four (venue, outcome) books,
/// and only the one pair that includes it is recomputed. The books live in one flat array
/// allocated up front, so an update allocates nothing.
public struct Detector {
    struct Book {
        var askTicks: Int64 = 0  // 0: no ask
        var askHundredths: Int64 = 0
        var timestampMilliseconds: Int64 = 0
    }

    struct Event {
        var id: String
        var venues: (String, String)
        var outcomes: (String, String)
        /// instruments[venue slot * 2 + outcome slot]
        var instruments: [String]
        var fees: (FeeModel, FeeModel)
    }

    struct InstrumentKey: Hashable {
        var venue: String
        var instrument: String
    }

    private var books: ContiguousArray<Book>
    private let events: [Event]
    private let slotByInstrument: [InstrumentKey: Int]
    private let detection: DetectionConfig
    public private(set) var unknownInstrumentQuotes = 0
    public private(set) var quotesSeen = 0

    /// `venueFees`: each venue's fee model; an event's `fees` override it for that market.
    public init(config: TraderConfig, venueFees: [String: FeeModel]) {
        var events: [Event] = []
        var slots: [InstrumentKey: Int] = [:]
        for (index, pair) in config.events.enumerated() {
            let venues = pair.venueNames
            precondition(venues.count == 2 && pair.outcomes.count == 2, "config validation guarantees 2 venues × 2 outcomes")
            var instruments: [String] = []
            for (venueSlot, venue) in venues.enumerated() {
                for (outcomeSlot, outcome) in pair.outcomes.enumerated() {
                    let instrument = pair.instruments[venue]?[outcome] ?? ""
                    instruments.append(instrument)
                    slots[InstrumentKey(venue: venue, instrument: instrument)] = index * 4 + venueSlot * 2 + outcomeSlot
                }
            }
            let fee0 = pair.fees[venues[0]] ?? venueFees[venues[0]] ?? .free
            let fee1 = pair.fees[venues[1]] ?? venueFees[venues[1]] ?? .free
            events.append(Event(id: pair.eventID, venues: (venues[0], venues[1]),
                                outcomes: (pair.outcomes[0], pair.outcomes[1]), instruments: instruments, fees: (fee0, fee1)))
        }
        self.events = events
        self.slotByInstrument = slots
        self.books = ContiguousArray(repeating: Book(), count: events.count * 4)
        self.detection = config.detection
    }

    /// Whether the detector watches this (venue, instrument).
    public func knows(venue: String, instrument: String) -> Bool {
        slotByInstrument[InstrumentKey(venue: venue, instrument: instrument)] != nil
    }

    /// Applies one quote and returns the pair it completes, if that pair clears the minimum edge
    /// net of fees. Stale pairs are returned marked `isStale` (the executor records and skips them).
    public mutating func update(_ quote: Quote, nowMilliseconds now: Int64) -> Candidate? {
        quotesSeen &+= 1
        guard let slot = slotByInstrument[InstrumentKey(venue: quote.venue, instrument: quote.instrument)] else {
            unknownInstrumentQuotes &+= 1
            return nil
        }
        books[slot] = Book(askTicks: quote.ask?.ticks ?? 0, askHundredths: quote.askSize.hundredths,
                           timestampMilliseconds: quote.timestampMilliseconds)
        // The pair that includes this book: (venue 0, outcome 0) + (venue 1, outcome 1), or
        // (venue 0, outcome 1) + (venue 1, outcome 0). Leg A is always venue 0's.
        let base = slot & ~3
        let within = slot & 3
        let legASlot = base + (within < 2 ? within : 3 - within)
        let legBSlot = base + 3 - (legASlot - base)
        return evaluate(event: slot >> 2, legASlot: legASlot, legBSlot: legBSlot, now: now)
    }

    private func evaluate(event index: Int, legASlot: Int, legBSlot: Int, now: Int64) -> Candidate? {
        let a = books[legASlot]
        let b = books[legBSlot]
        guard a.askTicks > 0, b.askTicks > 0 else { return nil }
        let gross = a.askTicks + b.askTicks
        // Cheap filter first: at or above $1 before fees there is nothing to find.
        guard gross < Price.ticksPerDollar else { return nil }
        let sizeHundredths = min(a.askHundredths, b.askHundredths, detection.maxSize.hundredths)
        guard sizeHundredths >= detection.minSize.hundredths, let size = Quantity(hundredths: sizeHundredths),
              let priceA = Price(ticks: a.askTicks), let priceB = Price(ticks: b.askTicks)
        else { return nil }
        let event = events[index]
        let feeA = event.fees.0.fee(price: priceA, quantity: size)
        let feeB = event.fees.1.fee(price: priceB, quantity: size)
        let payout = sizeHundredths * 10_000  // micros: $1 per contract
        let cost = Money(price: priceA, quantity: size) + Money(price: priceB, quantity: size)
        let fees = feeA + feeB
        let profit = payout - cost.micros - fees.micros
        let edgeBps = profit * 10_000 / payout
        guard edgeBps >= detection.minEdgeBps, profit > 0 else { return nil }
        let outcomeA = (legASlot & 1) == 0 ? event.outcomes.0 : event.outcomes.1
        let outcomeB = (legBSlot & 1) == 0 ? event.outcomes.0 : event.outcomes.1
        let age = now - min(a.timestampMilliseconds, b.timestampMilliseconds)
        let opportunity = NewOpportunity(
            eventID: event.id,
            legA: LegQuote(venue: event.venues.0, outcome: outcomeA, instrument: event.instruments[legASlot & 3], price: priceA),
            legB: LegQuote(venue: event.venues.1, outcome: outcomeB, instrument: event.instruments[legBSlot & 3], price: priceB),
            edgeBps: edgeBps, quantity: size, expectedFees: fees, detectedAtMilliseconds: now)
        return Candidate(opportunity: opportunity, quoteAgeMilliseconds: age,
                         isStale: age > detection.quoteStalenessMilliseconds,
                         cost: cost, fees: fees, netProfit: Money(micros: profit))
    }
}

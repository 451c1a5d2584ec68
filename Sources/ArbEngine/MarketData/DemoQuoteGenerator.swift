import OrderStateMachine

/// A seeded, deterministic stream of synthetic quotes over a config's events, for the demo and
/// the simulator. Pure: time is passed in, randomness comes from one seed, and one seed always
/// gives the same sequence.
///
/// Each event has a fair probability that random-walks; each venue quotes both outcomes around
/// it with its own small bias and spread, so that cross-venue asks sum to more than $1 (no
/// arbitrage). Every few hundred quotes the generator injects one case into one event, cycling
/// through all kinds in a seeded order (so each kind appears once per four cases):
/// - ``InjectedCase/profitable``: cross-venue asks sum to ≤ $0.96 and the edge after both
///   venues' fees is ≥ 300 bps at the quoted size;
/// - ``InjectedCase/marginal``: edge after fees within about ±25 bps of `detection.min_edge_bps`;
/// - ``InjectedCase/feeEaten``: asks sum to less than $1 but fees make the edge negative;
/// - ``InjectedCase/stale``: one venue stops quoting the event for longer than
///   `quote_staleness_ms`, then the other venue quotes a price that crosses the silent venue's
///   old quote (only a detector that ignores staleness would trade it).
/// Case quotes show the same size on both legs (5…`max_size` contracts, at most 60) so the
/// edge is what a detector computes at that size; other quotes show 5…60 contracts.
///
/// Quotes of one event are refreshed once per round of `4 × events` calls; call often enough
/// that a round takes less than the staleness limit. `next` allocates nothing beyond the returned
/// quote (its strings are precomputed); only the start of a case computes fees with the
/// venue fee models.
public struct DemoQuoteGenerator: Sendable {
    public enum InjectedCase: String, Sendable, Hashable, CaseIterable {
        case profitable
        case marginal
        case feeEaten
        case stale
    }

    // MARK: Tuning (prices in ticks of $0.0001)

    /// Fair YES probability stays within this band, so every quote is a valid price.
    static let fairRange: ClosedRange<Int64> = 800...9_200
    /// Largest fair-value move per round.
    static let fairStepMax: Int64 = 8
    /// A venue's half spread; its bias against the fair value is smaller than any two half
    /// spreads together, which is what keeps normal cross-venue asks above $1.
    static let halfSpreadRange: ClosedRange<Int64> = 100...250
    static let biasRange: ClosedRange<Int64> = -40...40
    /// Quotes are on a $0.001 grid.
    static let grid: Int64 = 10
    static let sizeContractsRange: ClosedRange<Int64> = 5...60
    /// Calls between the end of one case and the start of the next.
    static let gapRange: ClosedRange<Int64> = 40...120
    /// How much longer than the staleness limit a stale venue stays silent.
    static let staleMarginMilliseconds: Int64 = 250
    /// A stale case whose clock does not advance is abandoned after this many calls.
    static let staleCallsMax = 200_000
    static let profitableEdgeBpsMin: Int64 = 300
    static let profitableAskSumMax: Int64 = 9_600
    static let marginalSpreadBps: Int64 = 20
    /// Price steps tried when shaping a case (each lowers the ask sum by one grid step).
    static let shapingStepsMax = 1_000

    // MARK: State

    private struct Slot: Sendable {
        let event: Int
        let venue: Int
        let outcome: Int
        let venueName: String
        let instrument: String
        var bid: Price?
        var bidSize: Quantity = .zero
        var ask: Price?
        var askSize: Quantity = .zero
        /// Holds case prices: not re-quoted from the fair value until the case ends.
        var pinned = false
        /// Silent venue of a stale case: not emitted.
        var silent = false
    }

    private struct EventState: Sendable {
        let eventID: String
        var fair: Int64
        var bias: (Int64, Int64)
        var halfSpread: (Int64, Int64)
        let fees: (FeeModel, FeeModel)
    }

    private enum Phase: Sendable {
        case idle(callsLeft: Int64)
        case holding(callsLeft: Int)
        case staleSilence(sinceMilliseconds: Int64, calls: Int)
        case staleCross(callsLeft: Int)
        case restoring
    }

    private var random: SeededGenerator
    private var slots: [Slot]
    private var events: [EventState]
    private let minEdgeBps: Int64
    private let stalenessMilliseconds: Int64
    private let caseSizeRange: ClosedRange<Int64>  // hundredths

    private var phase: Phase
    private var pending: [Int] = []
    private var cursor = -1
    private var lastNow = Int64.min
    private var caseEvent = 0
    private var caseSlotA = 0
    private var caseSlotB = 0
    private var kindOrder = InjectedCase.allCases
    private var kindCursor = 0
    private var kindFailures = 0
    private var counts = [Int](repeating: 0, count: InjectedCase.allCases.count)

    /// The case being shown (including the quotes that undo it), or `nil` when quotes are normal.
    public private(set) var activeCase: InjectedCase?

    /// The event of ``activeCase``.
    public var activeCaseEventID: String? { activeCase == nil ? nil : events[caseEvent].eventID }

    /// How many cases of each kind have started, by ``InjectedCase`` raw value
    /// (`profitable`, `marginal`, `feeEaten`, `stale`).
    public var injectedCases: [String: Int] {
        var result: [String: Int] = [:]
        for (index, kind) in InjectedCase.allCases.enumerated() { result[kind.rawValue] = counts[index] }
        return result
    }

    public init(config: TraderConfig, seed: UInt64) {
        random = SeededGenerator(seed: seed)
        minEdgeBps = config.detection.minEdgeBps
        stalenessMilliseconds = config.detection.quoteStalenessMilliseconds
        let low = max(Self.sizeContractsRange.lowerBound * 100, config.detection.minSize.hundredths)
        let high = min(Self.sizeContractsRange.upperBound * 100, config.detection.maxSize.hundredths)
        caseSizeRange = low <= high ? low...high : config.detection.maxSize.hundredths...config.detection.maxSize.hundredths

        slots = []
        events = []
        for (eventIndex, event) in config.events.enumerated() {
            let venueNames = event.venueNames
            precondition(venueNames.count == 2 && event.outcomes.count == 2, "config validation guarantees a pair")
            let fees = (config.feeModel(event: event, venue: venueNames[0]) ?? .free,
                        config.feeModel(event: event, venue: venueNames[1]) ?? .free)
            let fair = Self.uniform(&random, Self.fairRange)
            events.append(EventState(
                eventID: event.eventID, fair: fair,
                bias: (Self.uniform(&random, Self.biasRange), Self.uniform(&random, Self.biasRange)),
                halfSpread: (Self.uniform(&random, Self.halfSpreadRange), Self.uniform(&random, Self.halfSpreadRange)),
                fees: fees))
            for (venueIndex, venueName) in venueNames.enumerated() {
                for (outcomeIndex, outcome) in event.outcomes.enumerated() {
                    slots.append(Slot(event: eventIndex, venue: venueIndex, outcome: outcomeIndex, venueName: venueName,
                                      instrument: event.instruments[venueName]![outcome]!))
                }
            }
        }
        precondition(!slots.isEmpty, "config validation guarantees at least one event")
        pending.reserveCapacity(8)
        // Let every slot be quoted at least twice before the first case.
        phase = .idle(callsLeft: Int64(2 * slots.count) + Self.uniform(&random, Self.gapRange))
        Self.shuffle(&kindOrder, &random)
        for index in slots.indices { requote(index) }
    }

    /// The next quote, stamped `nowMilliseconds` (a clock that goes backwards is treated as standing still).
    public mutating func next(nowMilliseconds: Int64) -> Quote {
        let now = max(nowMilliseconds, lastNow)
        lastNow = now
        advanceCase(now: now)

        let index: Int
        if !pending.isEmpty {
            index = pending.removeFirst()
        } else {
            index = nextRoundRobinSlot()
        }
        if !slots[index].pinned { requote(index) }
        if case .restoring = phase, pending.isEmpty {
            activeCase = nil
            phase = .idle(callsLeft: Self.uniform(&random, Self.gapRange))
        }
        let slot = slots[index]
        return Quote(timestampMilliseconds: now, venue: slot.venueName, instrument: slot.instrument,
                     bid: slot.bid, bidSize: slot.bidSize, ask: slot.ask, askSize: slot.askSize)
    }

    // MARK: - Normal quoting

    private mutating func nextRoundRobinSlot() -> Int {
        // At most one venue of one event is silent, so a full turn always finds a slot.
        for _ in 0...slots.count {
            cursor = (cursor + 1) % slots.count
            let slot = slots[cursor]
            if slot.venue == 0 && slot.outcome == 0 { stepFair(slot.event) }
            if !slot.silent { return cursor }
        }
        preconditionFailure("every slot is silent")
    }

    private mutating func stepFair(_ event: Int) {
        var fair = events[event].fair + Self.uniform(&random, -Self.fairStepMax...Self.fairStepMax)
        if fair < Self.fairRange.lowerBound { fair = 2 * Self.fairRange.lowerBound - fair }
        if fair > Self.fairRange.upperBound { fair = 2 * Self.fairRange.upperBound - fair }
        events[event].fair = fair
    }

    /// The ask and bid a venue shows for an outcome at the current fair value.
    private func normalPrices(_ index: Int) -> (bid: Int64, ask: Int64) {
        let slot = slots[index]
        let event = events[slot.event]
        let bias = slot.venue == 0 ? event.bias.0 : event.bias.1
        let halfSpread = slot.venue == 0 ? event.halfSpread.0 : event.halfSpread.1
        let center = slot.outcome == 0 ? event.fair + bias : Price.ticksPerDollar - event.fair - bias
        return (Self.roundDown(center - halfSpread), Self.roundUp(center + halfSpread))
    }

    private mutating func requote(_ index: Int) {
        let prices = normalPrices(index)
        setQuote(index, ask: prices.ask, bid: prices.bid,
                 askSize: Self.uniform(&random, Self.sizeContractsRange) * 100,
                 bidSize: Self.uniform(&random, Self.sizeContractsRange) * 100)
    }

    private mutating func setQuote(_ index: Int, ask: Int64, bid: Int64, askSize: Int64, bidSize: Int64) {
        slots[index].ask = Price(ticks: ask)
        slots[index].askSize = Quantity(hundredths: askSize) ?? .zero
        let bidPrice = bid < ask ? Price(ticks: bid) : nil
        slots[index].bid = bidPrice
        slots[index].bidSize = bidPrice == nil ? .zero : (Quantity(hundredths: bidSize) ?? .zero)
    }

    // MARK: - Cases

    private mutating func advanceCase(now: Int64) {
        switch phase {
        case .idle(let callsLeft):
            if callsLeft > 1 {
                phase = .idle(callsLeft: callsLeft - 1)
            } else {
                startCase(now: now)
            }
        case .holding(let callsLeft):
            if callsLeft > 1 {
                phase = .holding(callsLeft: callsLeft - 1)
            } else {
                restore([caseSlotA, caseSlotB])
            }
        case .staleSilence(let since, let calls):
            if now - since > stalenessMilliseconds + Self.staleMarginMilliseconds {
                crossStaleQuote()
            } else if calls >= Self.staleCallsMax {
                // The clock is not moving: the quote never went stale, so crossing it would be a
                // real opportunity mislabelled as stale. Give up on this one.
                restore(silentSlots())
            } else {
                phase = .staleSilence(sinceMilliseconds: since, calls: calls + 1)
            }
        case .staleCross(let callsLeft):
            if callsLeft > 1 {
                phase = .staleCross(callsLeft: callsLeft - 1)
            } else {
                // Withdraw the crossing quote first: were the silent venue re-quoted first, its fresh
                // quote and the crossing one would make a real, fresh opportunity for one call.
                restore([caseSlotB] + silentSlots())
            }
        case .restoring:
            break
        }
    }

    private mutating func startCase(now: Int64) {
        let kind = kindOrder[kindCursor]
        caseEvent = Int(Self.uniform(&random, 0...Int64(events.count - 1)))
        let venueA = Int(Self.uniform(&random, 0...1))
        let outcomeX = Int(Self.uniform(&random, 0...1))
        caseSlotA = caseEvent * 4 + venueA * 2 + outcomeX
        caseSlotB = caseEvent * 4 + (1 - venueA) * 2 + (1 - outcomeX)

        let started: Bool
        switch kind {
        case .stale:
            // Venue A goes silent on this event; its last quote for outcome X is the stale one.
            for index in silentSlotRange() { slots[index].silent = true }
            phase = .staleSilence(sinceMilliseconds: now, calls: 0)
            started = true
        case .profitable, .marginal, .feeEaten:
            started = shapeCrossing(kind)
        }

        if started {
            counts[InjectedCase.allCases.firstIndex(of: kind)!] += 1
            activeCase = kind
            kindFailures = 0
            advanceKind()
        } else {
            // This event's prices cannot show that case right now (e.g. fees too small to eat an
            // edge); try again soon, and move on from a kind that keeps failing.
            kindFailures += 1
            if kindFailures >= 8 {
                kindFailures = 0
                advanceKind()
            }
            phase = .idle(callsLeft: 20)
        }
    }

    private mutating func advanceKind() {
        kindCursor += 1
        if kindCursor == kindOrder.count {
            kindCursor = 0
            Self.shuffle(&kindOrder, &random)
        }
    }

    /// Lowers the asks of slot A (venue A, outcome X) and slot B (the other venue, the other
    /// outcome) from their normal prices until the pair shows the wanted edge after fees.
    private mutating func shapeCrossing(_ kind: InjectedCase) -> Bool {
        let size = Self.roundSize(Self.uniform(&random, caseSizeRange))
        let normalA = normalPrices(caseSlotA).ask
        let normalB = normalPrices(caseSlotB).ask
        let fees = events[caseEvent].fees
        let feeA = slots[caseSlotA].venue == 0 ? fees.0 : fees.1
        let feeB = slots[caseSlotB].venue == 0 ? fees.0 : fees.1

        func asks(_ step: Int) -> (Int64, Int64)? {
            let lowering = Int64(step) * Self.grid
            let lowerA = (lowering / (2 * Self.grid)) * Self.grid
            let a = normalA - lowerA
            let b = normalB - (lowering - lowerA)
            guard a >= Self.grid, b >= Self.grid else { return nil }
            return (a, b)
        }
        func netMicros(_ a: Int64, _ b: Int64) -> Int64 {
            Self.netEdgeMicros(askA: a, askB: b, sizeHundredths: size, feeA: feeA, feeB: feeB)
        }

        var chosen: (Int64, Int64)?
        switch kind {
        case .profitable:
            let target = Self.profitableEdgeBpsMin + Self.uniform(&random, 0...150)
            for step in 0..<Self.shapingStepsMax {
                guard let (a, b) = asks(step) else { break }
                if a + b <= Self.profitableAskSumMax && netMicros(a, b) >= target * size {
                    chosen = (a, b)
                    break
                }
            }
        case .marginal:
            let target = minEdgeBps + Self.uniform(&random, -Self.marginalSpreadBps...Self.marginalSpreadBps)
            for step in 0..<Self.shapingStepsMax {
                guard let (a, b) = asks(step) else { break }
                if a + b < Price.ticksPerDollar && netMicros(a, b) >= target * size {
                    chosen = (a, b)
                    break
                }
            }
        case .feeEaten:
            // The steps whose asks sum below $1 while fees still make the net edge negative.
            var first: Int?
            var count = 0
            for step in 0..<Self.shapingStepsMax {
                guard let (a, b) = asks(step) else { break }
                guard a + b < Price.ticksPerDollar else { continue }
                guard netMicros(a, b) < 0 else { break }
                if first == nil { first = step }
                count += 1
            }
            if let first, count > 0 {
                chosen = asks(first + Int(Self.uniform(&random, 0...Int64(count - 1))))
            }
        case .stale:
            preconditionFailure("stale cases are not shaped here")
        }
        guard let (a, b) = chosen else { return false }
        pin(caseSlotA, ask: a, size: size)
        pin(caseSlotB, ask: b, size: size)
        pending.append(caseSlotA)
        pending.append(caseSlotB)
        // Hold the prices for two rounds so a detector sees both legs live together.
        phase = .holding(callsLeft: 2 * slots.count)
        return true
    }

    /// The silent venue's old quote for outcome X has gone stale; the other venue now quotes the
    /// other outcome so that the pair's asks sum to about $0.95.
    private mutating func crossStaleQuote() {
        let staleAsk = slots[caseSlotA].ask?.ticks ?? normalPrices(caseSlotA).ask
        let target = 9_500 + Self.uniform(&random, 0...10) * Self.grid
        let b = max(Self.grid, Self.roundDown(target - staleAsk))
        pin(caseSlotB, ask: b, size: Self.roundSize(Self.uniform(&random, caseSizeRange)))
        pending.append(caseSlotB)
        phase = .staleCross(callsLeft: 2 * slots.count)
    }

    private mutating func pin(_ index: Int, ask: Int64, size: Int64) {
        let spread = 2 * (slots[index].venue == 0 ? events[caseEvent].halfSpread.0 : events[caseEvent].halfSpread.1)
        setQuote(index, ask: ask, bid: ask - spread, askSize: size, bidSize: size)
        slots[index].pinned = true
    }

    /// Ends the case: the slots go back to normal quotes, emitted next so the book is clean.
    private mutating func restore(_ indices: [Int]) {
        for index in caseEvent * 4..<caseEvent * 4 + 4 {
            slots[index].pinned = false
            slots[index].silent = false
        }
        pending.append(contentsOf: indices)
        phase = .restoring
    }

    private func silentSlotRange() -> Range<Int> {
        let first = caseEvent * 4 + (caseSlotA - caseEvent * 4) / 2 * 2
        return first..<first + 2
    }

    private func silentSlots() -> [Int] {
        Array(silentSlotRange())
    }

    // MARK: - Arithmetic

    /// Payout minus both asks and both fees for `sizeHundredths` contracts, in micro-dollars;
    /// divided by the size in hundredths it is the edge in basis points of the $1 payout.
    static func netEdgeMicros(askA: Int64, askB: Int64, sizeHundredths: Int64, feeA: FeeModel, feeB: FeeModel) -> Int64 {
        let size = Quantity(hundredths: sizeHundredths) ?? .zero
        let payout = sizeHundredths * Price.ticksPerDollar
        let cost = (askA + askB) * sizeHundredths
        let fees = feeA.fee(price: Price(uncheckedTicks: askA), quantity: size).micros
            + feeB.fee(price: Price(uncheckedTicks: askB), quantity: size).micros
        return payout - cost - fees
    }

    private static func roundUp(_ ticks: Int64) -> Int64 {
        let rounded = (ticks + grid - 1) / grid * grid
        return min(max(rounded, grid), Price.ticksPerDollar - grid)
    }

    private static func roundDown(_ ticks: Int64) -> Int64 {
        ticks <= 0 ? 0 : ticks / grid * grid
    }

    /// Case sizes in whole contracts (unless `max_size` is below one contract).
    private static func roundSize(_ hundredths: Int64) -> Int64 {
        hundredths >= 100 ? hundredths / 100 * 100 : hundredths
    }

    /// Uniform in `range` (modulo bias below 2^-50 for these small ranges). Written out rather
    /// than `Int64.random(in:using:)` so a seed reproduces a run across Swift versions.
    private static func uniform(_ random: inout SeededGenerator, _ range: ClosedRange<Int64>) -> Int64 {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int64(random.next() % span)
    }

    private static func shuffle(_ kinds: inout [InjectedCase], _ random: inout SeededGenerator) {
        for index in stride(from: kinds.count - 1, to: 0, by: -1) {
            let other = Int(uniform(&random, 0...Int64(index)))
            kinds.swapAt(index, other)
        }
    }
}

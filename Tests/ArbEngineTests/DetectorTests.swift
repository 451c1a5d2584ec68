import ArbTestSupport
import ArbEngine
import OrderStateMachine
import Testing

@Suite("Detector")
struct DetectorTests {
    static func config(minEdgeBps: Int64 = 50, stalenessMilliseconds: Int64 = 1_000) -> TraderConfig {
        let paper = PaperVenueConfig(stateFile: nil, fillModel: quietModel)
        return TraderConfig(
            databasePath: "arb.db", durability: .full,
            events: [EventPair(eventID: "E", outcomes: ["YES", "NO"],
                               instruments: ["kalshi": ["YES": "K-Y", "NO": "K-N"], "polymarket": ["YES": "P-Y", "NO": "P-N"]])],
            venues: ["kalshi": VenueConfig(kind: .paper, fee: .kalshiTaker, paper: paper),
                     "polymarket": VenueConfig(kind: .paper, fee: .polymarketTaker(rateBps: 300, exponent: 1), paper: paper)],
            detection: DetectionConfig(minEdgeBps: minEdgeBps, minSize: Quantity(contracts: 1), maxSize: Quantity(contracts: 25),
                                       quoteStalenessMilliseconds: stalenessMilliseconds),
            execution: ExecutionConfig(timeInForce: .ioc, fillTimeoutMilliseconds: 100),
            risk: RiskConfig(maxExposurePerEvent: Money(cents: 100_000), maxExposureTotal: Money(cents: 100_000),
                             maxOneSidedClosesPerDay: 3, cooldownMilliseconds: 0, oneSidedCooldownMilliseconds: 0),
            alerts: AlertConfig(console: false, filePath: nil, webhookURL: nil))
    }

    static func detector(_ config: TraderConfig = config()) -> Detector {
        Detector(config: config, venueFees: ["kalshi": .kalshiTaker, "polymarket": .polymarketTaker(rateBps: 300, exponent: 1)])
    }

    static func quote(_ venue: String, _ instrument: String, ask: Int64, contracts: Int64, at time: Int64 = 1_000) -> Quote {
        Quote(timestampMilliseconds: time, venue: venue, instrument: instrument, bid: Price(ticks: ask - 200),
              bidSize: Quantity(contracts: contracts), ask: Price(ticks: ask), askSize: Quantity(contracts: contracts))
    }

    @Test("a cross-venue pair under $1 net of both venues' fees is found, with the worked figures")
    func profitablePair() throws {
        var detector = Self.detector()
        #expect(detector.update(Self.quote("kalshi", "K-Y", ask: 4_500, contracts: 20), nowMilliseconds: 1_000) == nil)
        let candidateFound = detector.update(Self.quote("polymarket", "P-N", ask: 5_000, contracts: 10), nowMilliseconds: 1_000)
        let candidate = try #require(candidateFound)
        // Size: min(20, 10, max 25) = 10. Cost 10 × (0.45 + 0.50) = $9.50.
        // Kalshi: ceil(0.07 × 10 × 0.45 × 0.55 = 0.17325) to the cent = $0.18.
        // Polymarket: 10 × 0.03 × (0.5 × 0.5) = 0.075, floored to 5 decimals = $0.075.
        // Profit: $10 − 9.50 − 0.255 = $0.245 → 245 bps of the $10 payout.
        #expect(candidate.opportunity.quantity == Quantity(contracts: 10))
        #expect(candidate.cost == Money(cents: 950))
        #expect(candidate.fees == Money(micros: 255_000))
        #expect(candidate.netProfit == Money(micros: 245_000))
        #expect(candidate.opportunity.edgeBps == 245)
        #expect(candidate.opportunity.dedupKey == "E|kalshi:YES|polymarket:NO")
        #expect(candidate.opportunity.legA.instrument == "K-Y" && candidate.opportunity.legB.instrument == "P-N")
        #expect(!candidate.isStale)
    }

    @Test("a gross edge that fees eat is not an opportunity")
    func feesEatTheEdge() {
        var detector = Self.detector()
        _ = detector.update(Self.quote("kalshi", "K-Y", ask: 4_900, contracts: 10), nowMilliseconds: 1_000)
        // Asks sum to $0.99 (+100 bps gross) but fees are $0.18 + $0.075 on $10: −155 bps net.
        #expect(detector.update(Self.quote("polymarket", "P-N", ask: 5_000, contracts: 10), nowMilliseconds: 1_000) == nil)
    }

    @Test("the minimum edge is inclusive and applies net of fees", arguments: [(Int64(245), true), (Int64(246), false)])
    func threshold(minEdge: Int64, found: Bool) {
        var detector = Self.detector(Self.config(minEdgeBps: minEdge))
        _ = detector.update(Self.quote("kalshi", "K-Y", ask: 4_500, contracts: 20), nowMilliseconds: 1_000)
        #expect((detector.update(Self.quote("polymarket", "P-N", ask: 5_000, contracts: 10), nowMilliseconds: 1_000) != nil) == found)
    }

    @Test("only opposite outcomes at different venues pair up; the same outcome never does")
    func pairing() throws {
        var detector = Self.detector()
        _ = detector.update(Self.quote("kalshi", "K-Y", ask: 3_000, contracts: 10), nowMilliseconds: 1_000)
        // YES at both venues is not a hedge, however cheap.
        #expect(detector.update(Self.quote("polymarket", "P-Y", ask: 3_000, contracts: 10), nowMilliseconds: 1_000) == nil)
        // Kalshi NO with Polymarket YES is the other pair; leg A stays the Kalshi leg.
        let candidateFound = detector.update(Self.quote("kalshi", "K-N", ask: 6_000, contracts: 10), nowMilliseconds: 1_000)
        let candidate = try #require(candidateFound)
        #expect(candidate.opportunity.dedupKey == "E|kalshi:NO|polymarket:YES")
        #expect(candidate.opportunity.legA.price == Price(ticks: 6_000))
    }

    @Test("an old quote makes the pair stale; unknown instruments and missing asks are ignored")
    func staleAndUnknown() throws {
        var detector = Self.detector(Self.config(stalenessMilliseconds: 500))
        _ = detector.update(Self.quote("kalshi", "K-Y", ask: 4_500, contracts: 10, at: 1_000), nowMilliseconds: 1_000)
        let candidateFound = detector.update(Self.quote("polymarket", "P-N", ask: 5_000, contracts: 10, at: 1_600),
                                                     nowMilliseconds: 1_600)
        let candidate = try #require(candidateFound)
        #expect(candidate.isStale && candidate.quoteAgeMilliseconds == 600)
        #expect(detector.update(Self.quote("polymarket", "P-ZZ", ask: 1_000, contracts: 10), nowMilliseconds: 1_600) == nil)
        #expect(detector.unknownInstrumentQuotes == 1)
        var noAsk = Self.quote("kalshi", "K-Y", ask: 4_500, contracts: 10, at: 1_600)
        noAsk.ask = nil
        #expect(detector.update(noAsk, nowMilliseconds: 1_600) == nil)
    }

    @Test("a size below the minimum is not traded; a large book is capped at the maximum size")
    func sizes() throws {
        var detector = Self.detector()
        _ = detector.update(Self.quote("kalshi", "K-Y", ask: 4_500, contracts: 100), nowMilliseconds: 1_000)
        var small = Self.quote("polymarket", "P-N", ask: 5_000, contracts: 1)
        small.askSize = Quantity(hundredths: 50)!
        #expect(detector.update(small, nowMilliseconds: 1_000) == nil)
        let cappedFound = detector.update(Self.quote("polymarket", "P-N", ask: 5_000, contracts: 80), nowMilliseconds: 1_000)
        let capped = try #require(cappedFound)
        #expect(capped.opportunity.quantity == Quantity(contracts: 25))
    }
}

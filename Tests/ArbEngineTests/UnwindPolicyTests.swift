import ArbEngine
import Foundation
import OrderStateMachine
import Testing

@Suite("Unwind policy: the next order within the loss bound, fees included, or none")
struct UnwindPolicyTests {
    static func dollars(_ text: String) -> Money {
        text.hasPrefix("-") ? Money(micros: -Money(parsingDollars: String(text.dropFirst()))!.micros) : Money(parsingDollars: text)!
    }
    static func price(_ text: String) -> Price { Price(parsing: text)! }

    /// 10 contracts of YES held at 0.45 with no fees ($4.50), a $0.02 per contract bound ($0.20).
    static let held = UnwindPolicy.Exposure(remaining: Quantity(contracts: 10), heldCost: dollars("4.50"), lossBudget: dollars("0.20"))

    static func complete(_ ask: String?, venue: String = "polymarket", instrument: String = "PM-NO", fee: FeeModel = .free,
                         grid: Int64 = 100) -> UnwindPolicy.Candidate {
        .init(action: .complete, venue: venue, instrument: instrument, price: ask.map(price), fee: fee, gridTicks: grid)
    }

    static func flatten(_ bid: String?, fee: FeeModel = .free, grid: Int64 = 100) -> UnwindPolicy.Candidate {
        .init(action: .flatten, venue: "kalshi", instrument: "KX:yes", price: bid.map(price), fee: fee, gridTicks: grid)
    }

    func order(_ decision: UnwindPolicy.Decision, sourceLocation: SourceLocation = #_sourceLocation) -> UnwindPolicy.Order? {
        guard case .place(let order) = decision else {
            Issue.record("no order: \(decision)", sourceLocation: sourceLocation)
            return nil
        }
        return order
    }

    @Test("complete: buy the missing outcome up to the price that keeps the pair's cost ≤ $1 + the bound; attempts step from the ask to the bound; an ask past it gives no order")
    func complete() throws {
        // 4.50 + 10·q − 10 ≤ 0.20 → q ≤ 0.57.
        let first = try #require(order(UnwindPolicy.decide(policy: .complete, exposure: Self.held, candidates: [Self.complete("0.54")],
                                                           attempt: 0, attempts: 4)))
        #expect(first.side == .buy && first.limit == Self.price("0.54") && first.bound == Self.price("0.57"))
        #expect(first.quantity == Quantity(contracts: 10) && first.lossAtLimit == Self.dollars("-0.10"), "4.50 + 5.40 − 10")
        let limits = (0..<4).compactMap { order(UnwindPolicy.decide(policy: .complete, exposure: Self.held, candidates: [Self.complete("0.54")],
                                                                    attempt: $0, attempts: 4))?.limit }
        #expect(limits == ["0.54", "0.55", "0.56", "0.57"].map(Self.price))
        let last = try #require(order(UnwindPolicy.decide(policy: .complete, exposure: Self.held, candidates: [Self.complete("0.54")],
                                                          attempt: 3, attempts: 4)))
        #expect(last.lossAtLimit == Self.dollars("0.20"))
        guard case .noOrder(let why) = UnwindPolicy.decide(policy: .complete, exposure: Self.held, candidates: [Self.complete("0.58")],
                                                           attempt: 0, attempts: 4) else {
            Issue.record("an order past the bound")
            return
        }
        #expect(why.contains("past the bound"), "\(why)")
    }

    @Test("flatten: sell the excess down to the price that loses at most the bound; a bid below it gives no order")
    func flatten() throws {
        // 4.50 − 10·s ≤ 0.20 → s ≥ 0.43.
        let first = try #require(order(UnwindPolicy.decide(policy: .flatten, exposure: Self.held, candidates: [Self.flatten("0.44")],
                                                           attempt: 0, attempts: 2)))
        #expect(first.side == .sell && first.limit == Self.price("0.44") && first.bound == Self.price("0.43")
                && first.lossAtLimit == Self.dollars("0.10"))
        let last = try #require(order(UnwindPolicy.decide(policy: .flatten, exposure: Self.held, candidates: [Self.flatten("0.44")],
                                                          attempt: 1, attempts: 2)))
        #expect(last.limit == Self.price("0.43") && last.lossAtLimit == Self.dollars("0.20"))
        #expect(UnwindPolicy.decide(policy: .flatten, exposure: Self.held, candidates: [Self.flatten("0.42")], attempt: 0, attempts: 2)
                != .place(first))
        if case .place = UnwindPolicy.decide(policy: .flatten, exposure: Self.held, candidates: [Self.flatten("0.42")], attempt: 1, attempts: 2) {
            Issue.record("a sell below the bound")
        }
    }

    @Test("best picks the smaller loss at the books (a tie keeps the hedge), and the cheaper of the other venue and the same venue's opposite outcome; each policy keeps to its side")
    func best() throws {
        // complete at 0.555: loss 0.05; flatten at 0.44: loss 0.10 → complete.
        let cheaperComplete = try #require(order(UnwindPolicy.decide(
            policy: .best, exposure: Self.held, candidates: [Self.complete("0.555", grid: 10), Self.flatten("0.44")], attempt: 0, attempts: 3)))
        #expect(cheaperComplete.action == .complete && cheaperComplete.limit == Self.price("0.555"))
        // flatten at 0.46 gains 0.10 → flatten.
        let cheaperFlatten = try #require(order(UnwindPolicy.decide(
            policy: .best, exposure: Self.held, candidates: [Self.complete("0.555", grid: 10), Self.flatten("0.46")], attempt: 0, attempts: 3)))
        #expect(cheaperFlatten.action == .flatten && cheaperFlatten.lossAtLimit == Self.dollars("-0.10"))
        // A tie: both lose 0.10 → complete.
        let tie = try #require(order(UnwindPolicy.decide(
            policy: .best, exposure: Self.held, candidates: [Self.flatten("0.44"), Self.complete("0.56")], attempt: 0, attempts: 3)))
        #expect(tie.action == .complete)
        // The same venue's NO at 0.55 beats the other venue's at 0.56.
        let sameVenue = try #require(order(UnwindPolicy.decide(
            policy: .complete, exposure: Self.held,
            candidates: [Self.complete("0.56"), Self.complete("0.55", venue: "kalshi", instrument: "KX:no")], attempt: 0, attempts: 3)))
        #expect(sameVenue.venue == "kalshi" && sameVenue.instrument == "KX:no")
        // complete never sells; flatten never buys; off places nothing; nothing left is done.
        let onlyFlatten = UnwindPolicy.decide(policy: .complete, exposure: Self.held, candidates: [Self.flatten("0.46")], attempt: 0, attempts: 3)
        #expect(onlyFlatten == .noOrder("no instrument to unwind on"))
        if case .place(let sold) = UnwindPolicy.decide(policy: .flatten, exposure: Self.held, candidates: [Self.complete("0.50")], attempt: 0, attempts: 3) {
            Issue.record("flatten bought: \(sold)")
        }
        #expect(UnwindPolicy.decide(policy: .off, exposure: Self.held, candidates: [Self.complete("0.50")], attempt: 0, attempts: 3)
                == .noOrder("unwinding is off"))
        let nothing = UnwindPolicy.Exposure(remaining: .zero, heldCost: .zero, lossBudget: Self.dollars("0.20"))
        #expect(UnwindPolicy.decide(policy: .best, exposure: nothing, candidates: [Self.complete("0.50")], attempt: 0, attempts: 3) == .done)
    }

    @Test("fees count against the bound: the bound is the furthest grid price whose loss with both venues' fees fits, and one step further does not")
    func fees() throws {
        let held = Quantity(contracts: 10)
        let heldCost = Money(micros: 4_500 * held.hundredths) + FeeModel.kalshiTaker.fee(price: Self.price("0.45"), quantity: held)
        let exposure = UnwindPolicy.Exposure(remaining: held, heldCost: heldCost, lossBudget: Self.dollars("0.20"))
        let polymarket = FeeModel.polymarketTaker(rateBps: 300, exponent: 1)
        let candidate = Self.complete("0.50", fee: polymarket)
        let placed = try #require(order(UnwindPolicy.decide(policy: .complete, exposure: exposure, candidates: [candidate], attempt: 4, attempts: 5)))
        // By hand: the pair must cost at most 10.20: 4.50 + the Kalshi fee + 10·q + the Polymarket fee on q.
        let cost = { (q: Price) -> Money in heldCost + Money(micros: q.ticks * held.hundredths) + polymarket.fee(price: q, quantity: held) }
        #expect(cost(placed.bound) <= Self.dollars("10.20"), "the bound loses more than allowed")
        let beyond = try #require(Price(ticks: placed.bound.ticks + 100))
        #expect(cost(beyond) > Self.dollars("10.20"), "a further price would also have fit: \(placed.bound)")
        #expect(placed.bound < Self.price("0.57"), "fees did not move the bound: \(placed.bound)")
        #expect(placed.limit == placed.bound && placed.lossAtLimit <= exposure.lossBudget)
        // A budget used up by earlier unwind fills leaves nothing.
        let spent = UnwindPolicy.Exposure(remaining: held, heldCost: heldCost, lossBudget: Self.dollars("-0.01"))
        if case .place(let order) = UnwindPolicy.decide(policy: .best, exposure: spent, candidates: [Self.complete("0.01"), Self.flatten("0.99")],
                                                        attempt: 0, attempts: 5), order.lossAtLimit > spent.lossBudget {
            Issue.record("an order past a spent budget: \(order)")
        }
    }

    @Test("over 600 seeded random books, fees and budgets: every order keeps the loss at its limit within the budget, takes exposure only down, and steps toward the bound")
    func neverPastTheBound() {
        var random = SeededGenerator(seed: 14)
        let fees: [FeeModel] = [.free, .kalshiTaker, .polymarketTaker(rateBps: 300, exponent: 1), .polymarketTaker(rateBps: 1_000, exponent: 2)]
        var placed = 0
        for _ in 0..<600 {
            let remaining = Quantity(hundredths: Int64.random(in: 1...5_000, using: &random))!
            let heldPrice = Int64.random(in: 100...9_900, using: &random)
            let exposure = UnwindPolicy.Exposure(
                remaining: remaining, heldCost: Money(micros: heldPrice * remaining.hundredths + Int64.random(in: 0...50_000, using: &random)),
                lossBudget: Money(micros: Int64.random(in: -10_000...Int64(remaining.hundredths) * 5_000, using: &random)))
            let candidates = (0..<Int.random(in: 1...3, using: &random)).map { index in
                UnwindPolicy.Candidate(action: Bool.random(using: &random) ? .complete : .flatten, venue: "v\(index)", instrument: "i\(index)",
                                       price: Price(ticks: Int64.random(in: 1...9_999, using: &random)),
                                       fee: fees.randomElement(using: &random)!, gridTicks: [1, 10, 100].randomElement(using: &random)!)
            }
            let policy = [UnwindConfig.Policy.complete, .flatten, .best].randomElement(using: &random)!
            let attempts = Int.random(in: 1...6, using: &random)
            var previous: Price?
            for attempt in 0..<attempts {
                guard case .place(let order) = UnwindPolicy.decide(policy: policy, exposure: exposure, candidates: candidates,
                                                                   attempt: attempt, attempts: attempts) else { continue }
                placed += 1
                let candidate = candidates.first { $0.instrument == order.instrument }!
                #expect(order.lossAtLimit <= exposure.lossBudget, "\(order) with \(exposure)")
                #expect(UnwindPolicy.loss(candidate, at: order.limit, exposure) == order.lossAtLimit)
                #expect(order.quantity == exposure.remaining && order.side == (order.action == .complete ? .buy : .sell))
                #expect(policy == .best || (policy == .complete) == (order.action == .complete))
                #expect(order.action == .complete ? order.limit <= order.bound : order.limit >= order.bound)
                if let previous, order.instrument == candidates.first(where: { $0.instrument == order.instrument })?.instrument {
                    #expect(order.action == .complete ? order.limit >= previous || order.limit == order.bound
                            : order.limit <= previous || order.limit == order.bound, "stepped away from the bound")
                }
                previous = order.limit
            }
        }
        #expect(placed > 150, "the random cases placed only \(placed) orders")
    }
}

@Suite("The unwind section of the config")
struct UnwindConfigTests {
    static func config(_ unwind: String?) throws(ConfigError) -> TraderConfig {
        #expect(TraderConfig.demoJSON.contains(TraderConfig.demoUnwindSection + ","))
        let json = TraderConfig.demoJSON.replacingOccurrences(of: TraderConfig.demoUnwindSection + ",",
                                                              with: unwind.map { #""unwind": \#($0),"# } ?? "")
        return try TraderConfig.decode(json: json, source: "test.json")
    }

    @Test("absent: off; given: each field read, the rest defaulted")
    func decoded() throws {
        #expect(TraderConfig.demo().unwind == UnwindConfig(policy: .best, maxLossPerContract: Money(cents: 5), maxAttempts: 3,
                                                           retryMilliseconds: 100, maxUnwindsPerMarketPerDay: 3))
        #expect(try Self.config(nil).unwind == .off)
        let full = try Self.config(#"{"policy": "best", "max_loss_per_contract": "0.03", "max_attempts": 7, "retry_ms": 100, "max_unwinds_per_market_per_day": 2}"#)
        #expect(full.unwind == UnwindConfig(policy: .best, maxLossPerContract: Money(cents: 3), maxAttempts: 7, retryMilliseconds: 100,
                                            maxUnwindsPerMarketPerDay: 2))
        #expect(try Self.config(#"{"policy": "complete"}"#).unwind == UnwindConfig(policy: .complete))
    }

    @Test("bad values are refused in one line naming the field and what is allowed", arguments: [
        (#"{"policy": "sometimes"}"#, #"unwind.policy is "sometimes"; allowed "off", "complete", "flatten" or "best""#),
        (#"{"max_loss_per_contract": "0.02"}"#, "unwind.policy"),
        (#"{"policy": "best", "max_loss_per_contract": "1.50"}"#, "unwind.max_loss_per_contract is $1.50; allowed 0 up to"),
        (#"{"policy": "best", "max_loss_per_contract": "-0.01"}"#, "unwind.max_loss_per_contract"),
        (#"{"policy": "best", "max_attempts": 0}"#, "unwind.max_attempts is 0; allowed 1…20"),
        (#"{"policy": "best", "retry_ms": 5}"#, "unwind.retry_ms is 5; allowed 10…60000"),
        (#"{"policy": "best", "max_unwinds_per_market_per_day": 0}"#, "unwind.max_unwinds_per_market_per_day is 0"),
        (#"{"policy": "best", "max_loss": "0.02"}"#, "unwind.max_loss is not a known key"),
    ])
    func refused(_ unwind: String, _ expected: String) {
        do {
            _ = try Self.config(unwind)
            Issue.record("accepted \(unwind)")
        } catch {
            #expect(error.description.contains(expected) && !error.description.contains("\n"), "\(error.description)")
        }
    }
}

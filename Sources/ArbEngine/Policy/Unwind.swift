import OrderStateMachine

/// How a one-sided exposure is taken back within a loss bound (issue 14): a pure function from
/// the exposure, the books and the fee models to the next order, or none. No I/O and no clock: the
/// executor and recovery call it and do the talking.
///
/// Money is counted over the whole remaining quantity, never per contract, so no rounding can
/// let a loss past the bound:
/// - **complete** buys the missing outcome for the `remaining` contracts at q: the pair pays $1
///   each at settlement, so the loss is `heldCost + q·r + fee(q, r) − r·$1`;
/// - **flatten** sells the `remaining` held contracts at s: the loss is
///   `heldCost − (s·r − fee(s, r))`.
/// An order is placed only at a limit where that loss is at most `lossBudget` (what the bound
/// leaves after earlier unwind fills), whatever the book shows — a book past the bound gives no
/// order. Attempt k of n steps its limit from the book's price toward the bound (the first at
/// the book, the last at the bound), on the instrument's price grid, never past the bound.
public enum UnwindPolicy {
    public typealias Action = UnwindAction

    /// A price the unwind could trade at now: one instrument's ask (to buy) or bid (to sell).
    public struct Candidate: Sendable, Hashable {
        public var action: Action
        public var venue: String
        public var instrument: String
        /// The book's best ask for `complete`, best bid for `flatten`; nil: no such side.
        public var price: Price?
        public var fee: FeeModel
        /// The instrument's price grid in ticks ($0.01 = 100).
        public var gridTicks: Int64

        public init(action: Action, venue: String, instrument: String, price: Price?, fee: FeeModel, gridTicks: Int64 = 100) {
            self.action = action
            self.venue = venue
            self.instrument = instrument
            self.price = price
            self.fee = fee
            self.gridTicks = max(1, gridTicks)
        }
    }

    /// What is left to unwind.
    public struct Exposure: Sendable, Hashable {
        /// Contracts still exposed.
        public var remaining: Quantity
        /// What those contracts cost, their fees included.
        public var heldCost: Money
        /// The loss the bound still allows: `max_loss_per_contract` × the original exposure, less
        /// what earlier unwind fills lost (it may be negative: then nothing more is allowed).
        public var lossBudget: Money

        public init(remaining: Quantity, heldCost: Money, lossBudget: Money) {
            self.remaining = remaining
            self.heldCost = heldCost
            self.lossBudget = lossBudget
        }
    }

    /// One unwind order to place.
    public struct Order: Sendable, Hashable {
        public var action: Action
        public var venue: String
        public var instrument: String
        public var side: Side
        public var limit: Price
        public var quantity: Quantity
        /// The furthest limit the bound allows for this order.
        public var bound: Price
        /// The loss if it fills in full at `limit` (at most the budget).
        public var lossAtLimit: Money
    }

    public enum Decision: Sendable, Hashable {
        case place(Order)
        /// Nothing left to unwind.
        case done
        /// No candidate can trade within the bound now (why, in words).
        case noOrder(String)
    }

    /// The next order for attempt `attempt` (0-based) of `attempts`, choosing among `candidates`
    /// those `policy` allows: `complete` → buys, `flatten` → sells, `best` → both, by the smaller
    /// loss at the book's price (a tie keeps the hedge: complete). `off` places nothing.
    public static func decide(policy: UnwindConfig.Policy, exposure: Exposure, candidates: [Candidate],
                              attempt: Int, attempts: Int) -> Decision {
        guard !exposure.remaining.isZero else { return .done }
        guard policy != .off else { return .noOrder("unwinding is off") }
        let allowed = candidates.filter { candidate in
            switch policy {
            case .complete: candidate.action == .complete
            case .flatten: candidate.action == .flatten
            case .best: true
            case .off: false
            }
        }
        var options: [(order: Order, lossAtBook: Money)] = []
        var reasons: [String] = []
        for candidate in allowed {
            guard let book = candidate.price else {
                reasons.append("\(candidate.venue) \(candidate.instrument): no \(candidate.action == .complete ? "ask" : "bid")")
                continue
            }
            guard let bound = bound(candidate, exposure) else {
                reasons.append("\(candidate.venue) \(candidate.instrument): no price keeps the loss within the bound")
                continue
            }
            let withinBound = candidate.action == .complete ? book <= bound : book >= bound
            guard withinBound else {
                reasons.append("\(candidate.venue) \(candidate.instrument): the book (\(book)) is past the bound (\(bound))")
                continue
            }
            let limit = stepped(from: book, to: bound, attempt: attempt, attempts: attempts, grid: candidate.gridTicks,
                                action: candidate.action)
            let order = Order(action: candidate.action, venue: candidate.venue, instrument: candidate.instrument,
                              side: candidate.action == .complete ? .buy : .sell, limit: limit, quantity: exposure.remaining,
                              bound: bound, lossAtLimit: loss(candidate, at: limit, exposure))
            options.append((order, loss(candidate, at: book, exposure)))
        }
        let best = options.min { lhs, rhs in
            if lhs.lossAtBook != rhs.lossAtBook { return lhs.lossAtBook < rhs.lossAtBook }
            return lhs.order.action == .complete && rhs.order.action == .flatten
        }
        guard let best else { return .noOrder(reasons.isEmpty ? "no instrument to unwind on" : reasons.joined(separator: "; ")) }
        return .place(best.order)
    }

    /// The loss if `candidate` trades the whole remaining exposure at `price`.
    public static func loss(_ candidate: Candidate, at price: Price, _ exposure: Exposure) -> Money {
        let quantity = exposure.remaining
        let notional = Money(micros: price.ticks * quantity.hundredths)  // ticks of $0.0001 × hundredths = micro-dollars
        let fee = candidate.fee.fee(price: price, quantity: quantity)
        switch candidate.action {
        case .complete:
            let payout = Money(micros: quantity.hundredths * 10_000)
            return exposure.heldCost + notional + fee - payout
        case .flatten:
            return exposure.heldCost - (notional - fee)
        }
    }

    /// The furthest price on the grid whose loss is within the budget: the highest buy price for
    /// `complete`, the lowest sell price for `flatten`; nil when none is.
    static func bound(_ candidate: Candidate, _ exposure: Exposure) -> Price? {
        let grid = candidate.gridTicks
        let prices = stride(from: (9_999 / grid) * grid, through: grid, by: -Int(grid)).compactMap { Price(ticks: $0) }
        switch candidate.action {
        case .complete: return prices.first { loss(candidate, at: $0, exposure) <= exposure.lossBudget }
        case .flatten: return prices.reversed().first { loss(candidate, at: $0, exposure) <= exposure.lossBudget }
        }
    }

    /// Attempt k of n: from the book's price toward the bound in equal steps, on the grid, the
    /// first at the book (rounded toward the bound's side only when it is off the grid) and the
    /// last at the bound; never past it.
    static func stepped(from book: Price, to bound: Price, attempt: Int, attempts: Int, grid: Int64, action: Action) -> Price {
        let steps = Int64(max(1, attempts - 1))
        let k = Int64(min(max(0, attempt), attempts - 1))
        let distance = bound.ticks - book.ticks
        let raw = book.ticks + distance * k / steps
        // On the grid, and never past the bound: buys round down, sells round up.
        var ticks = action == .complete ? (raw / grid) * grid : ((raw + grid - 1) / grid) * grid
        ticks = action == .complete ? min(ticks, bound.ticks) : max(ticks, bound.ticks)
        if action == .complete && ticks < book.ticks { ticks = min(bound.ticks, ((book.ticks + grid - 1) / grid) * grid) }
        if action == .flatten && ticks > book.ticks { ticks = max(bound.ticks, (book.ticks / grid) * grid) }
        return Price(ticks: ticks) ?? bound
    }
}

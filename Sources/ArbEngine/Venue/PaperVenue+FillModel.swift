import Synchronization
import OrderStateMachine

// MARK: - Scripting

/// What a scripted paper venue does with an order instead of drawing its fate from the fill model.
public enum PaperFate: Sendable, Hashable {
    /// Filled completely at submit.
    case fill
    /// This much filled at submit (at least the order's quantity: a full fill; zero: as `.rest`).
    /// The remainder follows the time in force: IOC cancels it, FOK cancels the whole order with
    /// nothing filled, GTC leaves it resting.
    case partial(Quantity)
    /// Nothing filled at submit: IOC and FOK are cancelled at once, GTC rests until cancelled.
    case rest
    /// Refused with this reason; the order is recorded as rejected.
    case reject(String)
    /// Placed and filled completely, but the answer is lost: submit throws `.ambiguous`. The worst
    /// case for a trader who took the silence for a refusal.
    case ambiguousPlaced
    /// Placed with nothing filled (then as `.rest`), but the answer is lost.
    case ambiguousPlacedResting
    /// The request never arrived: submit throws `.ambiguous` and the venue records nothing.
    case ambiguousNotPlaced
    /// GTC: rests, then fills completely this long after submit unless cancelled first.
    /// IOC and FOK: as `.rest`.
    case lateFill(afterMilliseconds: Int64)
}

/// A script for a paper venue, for tests and the simulator. What it names overrides the fill
/// model; what it does not name is drawn from the model as usual.
public struct PaperBehaviour: Sendable, Hashable {
    /// Fates by client order id; these win over `fateForInstrument`.
    public var fateForClientOrderID: [String: PaperFate]
    /// Fates by instrument.
    public var fateForInstrument: [String: PaperFate]
    /// Every cancel of a live order fails (true) or succeeds (false); the model's
    /// `cancel_fail_percent` is not drawn while a behaviour is set.
    public var cancelFails: Bool
    /// Every call throws `VenueError.unavailable` (the venue is down). Orders already resting
    /// still late-fill: the exchange is up, only our line to it is not.
    public var unreachable: Bool

    public init(fateForClientOrderID: [String: PaperFate] = [:], fateForInstrument: [String: PaperFate] = [:],
                cancelFails: Bool = false, unreachable: Bool = false) {
        self.fateForClientOrderID = fateForClientOrderID
        self.fateForInstrument = fateForInstrument
        self.cancelFails = cancelFails
        self.unreachable = unreachable
    }

    func fate(for request: OrderRequest) -> PaperFate? {
        fateForClientOrderID[request.clientOrderID] ?? fateForInstrument[request.instrument]
    }
}

// MARK: - Plans

/// What will happen to one order, decided once when it arrives (scripted or drawn), before the
/// order's time in force is applied.
struct PaperPlan: Sendable, Hashable {
    enum AtSubmit: Sendable, Hashable {
        case fill
        case partial(Quantity)
        case rest
        case reject(String)
    }

    var atSubmit: AtSubmit
    /// False: the request is lost on the way in; nothing is recorded.
    var arrives = true
    /// True: the order is processed but the answer is lost (submit throws `.ambiguous`).
    var answerLost = false
    /// For a GTC order left resting: fill the remainder this long after submit.
    var lateFillAfterMilliseconds: Int64?
    /// What was decided, in words, for the `fate` column.
    var summary: String

    init(_ fate: PaperFate) {
        switch fate {
        case .fill: self.init(atSubmit: .fill, summary: "scripted fill")
        case .partial(let quantity): self.init(atSubmit: .partial(quantity), summary: "scripted partial \(quantity)")
        case .rest: self.init(atSubmit: .rest, summary: "scripted rest")
        case .reject(let reason): self.init(atSubmit: .reject(reason), summary: "scripted reject")
        case .ambiguousPlaced:
            self.init(atSubmit: .fill, answerLost: true, summary: "scripted ambiguous, placed and filled")
        case .ambiguousPlacedResting:
            self.init(atSubmit: .rest, answerLost: true, summary: "scripted ambiguous, placed resting")
        case .ambiguousNotPlaced:
            self.init(atSubmit: .rest, arrives: false, answerLost: true, summary: "scripted ambiguous, never arrived")
        case .lateFill(let delay):
            self.init(atSubmit: .rest, lateFillAfterMilliseconds: delay, summary: "scripted late fill after \(delay) ms")
        }
    }

    init(atSubmit: AtSubmit, arrives: Bool = true, answerLost: Bool = false, lateFillAfterMilliseconds: Int64? = nil,
         summary: String) {
        self.atSubmit = atSubmit
        self.arrives = arrives
        self.answerLost = answerLost
        self.lateFillAfterMilliseconds = lateFillAfterMilliseconds
        self.summary = summary
    }

    /// Draws an order's fate from the fill model with a generator derived from (seed, client order
    /// id), so the fate does not depend on which concurrent submit arrives first.
    ///
    /// Every value is drawn, in a fixed sequence, whether or not the fate uses it: a change to
    /// one branch never shifts what the others draw.
    init(drawnFor request: OrderRequest, model: PaperFillModel, seed: UInt64) {
        var generator = SeededGenerator.derived(seed: seed, name: request.clientOrderID)
        let fateRoll = Int(generator.uniform(below: 100))
        let partialDraw = generator.next()
        let ambiguousFills = generator.uniform(below: 2) == 0
        let lateRoll = Int(generator.uniform(below: 100))
        let lateDelayMilliseconds = 1 + Int64(generator.uniform(below: UInt64(max(1, model.lateFillDelayMillisecondsMax))))
        let late = lateRoll < model.lateFillPercent ? lateDelayMilliseconds : nil
        let lateText = late.map { ", late fill after \($0) ms" } ?? ""

        var threshold = model.fullFillPercent
        if fateRoll < threshold {
            self.init(atSubmit: .fill, summary: "drawn fill")
            return
        }
        threshold += model.partialFillPercent
        if fateRoll < threshold {
            if let part = PaperPlan.partialQuantity(of: request.quantity, draw: partialDraw) {
                self.init(atSubmit: .partial(part), lateFillAfterMilliseconds: late, summary: "drawn partial \(part)\(lateText)")
            } else {
                self.init(atSubmit: .rest, lateFillAfterMilliseconds: late, summary: "drawn partial, too small to split: rest\(lateText)")
            }
            return
        }
        threshold += model.restPercent
        if fateRoll < threshold {
            self.init(atSubmit: .rest, lateFillAfterMilliseconds: late, summary: "drawn rest\(lateText)")
            return
        }
        threshold += model.rejectPercent
        if fateRoll < threshold {
            self.init(atSubmit: .reject("paper fill model: simulated refusal"), summary: "drawn reject")
            return
        }
        // ambiguous_submit_percent: the order is placed; the second draw decides whether it filled.
        if ambiguousFills {
            self.init(atSubmit: .fill, answerLost: true, summary: "drawn ambiguous, placed and filled")
        } else {
            self.init(atSubmit: .rest, answerLost: true, lateFillAfterMilliseconds: late,
                      summary: "drawn ambiguous, placed resting\(lateText)")
        }
    }

    /// A part of `quantity` strictly between zero and all of it, from one raw draw. Whole contracts
    /// when the order has more than one (what a real book mostly shows), else hundredths; nil for an
    /// order of 0.01 that cannot be split.
    static func partialQuantity(of quantity: Quantity, draw: UInt64) -> Quantity? {
        let hundredths = quantity.hundredths
        let perContract = Quantity.hundredthsPerContract
        if hundredths > perContract {
            let wholeContractsBelow = (hundredths - 1) / perContract  // ≥ 1, and k·100 < q for k ≤ this
            return Quantity(contracts: 1 + Int64(uniform(draw, below: UInt64(wholeContractsBelow))))
        }
        guard hundredths >= 2 else { return nil }
        return Quantity(hundredths: 1 + Int64(uniform(draw, below: UInt64(hundredths - 1))))
    }

    /// Maps a raw 64-bit draw onto 0..<bound by a full-width multiply (Lemire), deterministic across
    /// Swift versions, unlike `Int.random(in:using:)` whose algorithm the standard library may change.
    static func uniform(_ draw: UInt64, below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        return draw.multipliedFullWidth(by: bound).high
    }
}

extension SeededGenerator {
    /// A value in 0..<bound (see `PaperPlan.uniform`).
    mutating func uniform(below bound: UInt64) -> UInt64 {
        PaperPlan.uniform(next(), below: bound)
    }
}

// MARK: - Time in force

/// An order as the venue books it at submit: the plan with its time in force applied.
struct PaperBooking: Sendable, Hashable {
    var filledAtSubmit: Quantity
    var status: VenueOrderStatus
    var reason: String?
    /// Only for a GTC order with a remainder left resting.
    var lateFillAfterMilliseconds: Int64?

    static func rejected(_ reason: String) -> PaperBooking {
        PaperBooking(filledAtSubmit: .zero, status: .rejected, reason: reason)
    }

    /// IOC kills the unfilled remainder at once; FOK fills all or nothing; GTC leaves the
    /// remainder resting (and late-filling when the plan says so).
    init(plan: PaperPlan, quantity: Quantity, timeInForce: TimeInForce) {
        var filled: Quantity
        switch plan.atSubmit {
        case .reject(let reason):
            self = .rejected(reason)
            return
        case .fill: filled = quantity
        case .partial(let part): filled = min(part, quantity)
        case .rest: filled = .zero
        }
        if filled == quantity {
            self.init(filledAtSubmit: quantity, status: .filled)
            return
        }
        switch timeInForce {
        case .ioc:
            self.init(filledAtSubmit: filled, status: .cancelled,
                      reason: "immediate or cancel: unfilled \(quantity - filled) cancelled by the venue")
        case .fok:
            self.init(filledAtSubmit: .zero, status: .cancelled,
                      reason: "fill or kill: only \(filled) of \(quantity) available, nothing filled")
        case .gtc:
            self.init(filledAtSubmit: filled, status: filled.isZero ? .open : .partiallyFilled,
                      lateFillAfterMilliseconds: plan.lateFillAfterMilliseconds)
        }
    }

    init(filledAtSubmit: Quantity, status: VenueOrderStatus, reason: String? = nil, lateFillAfterMilliseconds: Int64? = nil) {
        self.filledAtSubmit = filledAtSubmit
        self.status = status
        self.reason = reason
        self.lateFillAfterMilliseconds = lateFillAfterMilliseconds
    }
}

// MARK: - The demo's opening

/// The built-in demo's opening move, shared by its paper venues: the first opportunity whose
/// order reaches any of them in this run fills completely at `fillingVenue` and is refused at
/// every other — so every demo run, whatever its seed and pacing, shows a one-sided fill, its
/// alert (and then its close or its unwind). Claimed by opportunity (the client order id without its leg), so both
/// legs get their part whichever venue hears first; later opportunities draw from the model.
public final class PaperOpeningScript: Sendable {
    public let fillingVenue: String
    private let claimed = Mutex<String?>(nil)

    public init(fillingVenue: String) {
        self.fillingVenue = fillingVenue
    }

    func fate(venue: String, clientOrderID: String) -> PaperFate? {
        guard let dash = clientOrderID.lastIndex(of: "-") else { return nil }
        // Only the pair's legs (…-a, …-b) are scripted: an unwind order (…-u<n>) draws from the
        // model like any other, so the opening's exposure may be unwound.
        let suffix = clientOrderID[clientOrderID.index(after: dash)...]
        guard suffix == "a" || suffix == "b" else { return nil }
        let opportunity = String(clientOrderID[..<dash])
        let scripted = claimed.withLock { claimed in
            if claimed == nil { claimed = opportunity }
            return claimed == opportunity
        }
        guard scripted else { return nil }
        return venue == fillingVenue ? .fill : .reject("demo opening: refused, so the run shows a one-sided fill")
    }
}

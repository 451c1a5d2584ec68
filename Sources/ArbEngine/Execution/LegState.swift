import OrderStateMachine

/// One leg as the executor knows it in memory during an execution. The database learns it at
/// each transition (fills, status, cancel results) in the same commit.
struct LegState: Sendable {
    let name: LegName
    let venue: any Venue
    let order: PreparedOrder
    let outcome: String
    var status: LegStatus = .pending
    var reason: String?
    var venueOrderID: String?
    var filled = Quantity.zero
    var cost = Money.zero
    var fees = Money.zero
    /// What the venue last said it filled; more than `filled` means fills are still to fetch.
    var venueFilled = Quantity.zero
    var tradeIDs: Set<String> = []
    /// Trades the venue may still undo (recorded provisional, not yet confirmed or reversed).
    var provisional: Set<String> = []
    /// Trades the venue undid: no longer in `filled` (or never in it, when undone before they
    /// were recorded).
    var reversed: Set<String> = []
    /// Fills known here and not yet committed.
    var unpersisted: [FillReport] = []
    var cancelRequested = false
    var cancelResult: CancelResult?

    init(name: LegName, venue: any Venue, order: PreparedOrder, outcome: String) {
        self.name = name
        self.venue = venue
        self.order = order
        self.outcome = outcome
        self.venueOrderID = order.venueOrderID
    }

    var clientOrderID: String { order.request.clientOrderID }
    var quantity: Quantity { order.request.quantity }
    /// Could still fill: not final at the venue (or not known to be).
    var isLive: Bool { !status.isFinal }
    var isResolved: Bool { status != .pending && status != .unknown }

    /// Applies a fill once (by trade id). False for a replay or a fill past the order's size.
    @discardableResult
    mutating func apply(_ fill: FillReport) -> Bool {
        if tradeIDs.contains(fill.tradeID) {
            // A known trade: only its certainty can move (provisional → certain, or → undone).
            guard provisional.contains(fill.tradeID), fill.certainty != .provisional else { return false }
            provisional.remove(fill.tradeID)
            if fill.certainty == .failed {
                reversed.insert(fill.tradeID)
                filled -= fill.quantity
                cost -= Money(price: fill.price, quantity: fill.quantity)
                fees -= fill.fee
                // The order is done at the venue; what it filled is what is left.
                if status == .filled { status = .cancelled }
                venueFilled = filled
            }
            unpersisted.append(fill)
            return true
        }
        if fill.certainty == .failed {
            // A trade the venue undid before this run recorded it: nothing to take back, but an
            // order read that counted it is that much smaller now, and an order it called filled
            // is done with what is left (as for a recorded trade undone, above).
            guard reversed.insert(fill.tradeID).inserted else { return false }
            venueFilled = max(filled, venueFilled >= fill.quantity ? venueFilled - fill.quantity : .zero)
            if status == .filled, filled < quantity { status = .cancelled }
            return true
        }
        guard filled + fill.quantity <= quantity else { return false }
        tradeIDs.insert(fill.tradeID)
        if fill.certainty == .provisional { provisional.insert(fill.tradeID) }
        filled += fill.quantity
        cost += Money(price: fill.price, quantity: fill.quantity)
        fees += fill.fee
        unpersisted.append(fill)
        precondition(filled <= quantity, "leg \(clientOrderID) filled \(filled) of \(quantity)")
        if filled == quantity { status = .filled } else if status == .open { status = .partiallyFilled }
        return true
    }

    mutating func apply(_ order: VenueOrder) {
        venueOrderID = order.venueOrderID
        venueFilled = max(venueFilled, order.filledQuantity)
        reason = order.reason ?? reason
        // A venue's status may run ahead of its fill messages; `filled` only moves with fills,
        // and the executor fetches what `missingFills` says is missing.
        status = order.status.legStatus
    }

    /// The fills the venue reports that we have not seen.
    var missingFills: Bool { venueFilled > filled }

    /// Some fill of this leg may still be undone by its venue.
    var hasProvisional: Bool { !provisional.isEmpty }

    var update: LegUpdate {
        LegUpdate(clientOrderID: clientOrderID, status: status, statusReason: reason, venueOrderID: venueOrderID,
                  cancelRequested: cancelRequested, cancelResult: cancelResult)
    }

    func alertLeg(limitPrice: Price) -> AlertLeg {
        AlertLeg(clientOrderID: clientOrderID, venue: venue.name, instrument: order.request.instrument, outcome: outcome, side: order.request.side,
                 limitPrice: limitPrice, filled: filled, cost: cost, fees: fees, cancelAttempted: cancelRequested,
                 cancelSucceeded: cancelResult.map(\.tookEffect))
    }
}

import OrderStateMachine

extension UnwindOrderIntent {
    /// An unwind order is immediate-or-cancel: it takes what the book offers within its bound now.
    public static let timeInForce = TimeInForce.ioc

    /// The order as it is sent: the executor's, an operator's unwind, and what a venue adapter of a
    /// later process rebuilds from the row (`LedgerKalshiDirectory`, `LedgerPolymarketDirectory`).
    public var request: OrderRequest {
        OrderRequest(clientOrderID: clientOrderID, instrument: instrument, side: action.side, limitPrice: limitPrice,
                     quantity: quantity, timeInForce: Self.timeInForce)
    }
}

import OrderStateMachine

extension UnwindOrderIntent {
    /// An unwind order is immediate-or-cancel: it takes what the book offers within its bound now.
    public static let timeInForce = TimeInForce.ioc

    /// The order as it is sent — by the executor and by an operator's unwind, which prepare exactly
    /// this — and as a venue adapter of a later process rebuilds it from the row
    /// (`LedgerKalshiDirectory`, `LedgerPolymarketDirectory`). Its side is the action's (the schema
    /// holds the row's side to it).
    public var request: OrderRequest {
        OrderRequest(clientOrderID: clientOrderID, instrument: instrument, side: action.side, limitPrice: limitPrice,
                     quantity: quantity, timeInForce: Self.timeInForce)
    }
}

import OrderStateMachine

/// The alert for a fill no execution owned (a fill after close, an unknown order): recorded in
/// the same transaction as the fill. Venue strings are written through the one JSON writer the
/// alerts share, so a quote or a backslash in a trade id cannot break the body.
public enum LateFillAlert {
    public static let kind = "late_fill"

    public static func make(databaseID: String, fill: FillReport, result: FillResult) -> NewAlert {
        let text = "FILL OUTSIDE AN EXECUTION — \(fill.venue) \(fill.clientOrderID) trade \(fill.tradeID): \(fill.quantity) @ \(fill.price) (\(result)); check `arbadmin positions` and `arbadmin reconcile`"
        let body = JSONValue.members([
            "client_order_id": .string(fill.clientOrderID),
            "price": .string(fill.price.description),
            "quantity": .string(fill.quantity.description),
            "result": .string("\(result)"),
            "trade_id": .string(fill.tradeID),
            "venue": .string(fill.venue),
        ]).compactText
        return NewAlert(key: "arb-\(databaseID)-fill-\(fill.venue)-\(fill.tradeID)", kind: kind, severity: .critical,
                        text: text, bodyJSON: body)
    }
}

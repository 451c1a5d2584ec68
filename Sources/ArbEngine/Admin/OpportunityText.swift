import OrderStateMachine

extension Opportunity {
    /// The quote of one leg as detected.
    public func quote(_ leg: LegName) -> LegQuote { leg == .a ? legA : legB }

    /// `Closed(one_sided)`, plus `, flattened` once the operator marked it.
    public var stateText: String {
        flattened ? "\(state), flattened" : state.description
    }
}

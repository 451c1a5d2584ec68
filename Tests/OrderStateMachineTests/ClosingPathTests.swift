import ArbTestSupport
import OrderStateMachine
import Testing

/// `ClosingPath` walked against `OpportunityMachine`: from every state and every kind of final
/// fills, the steps it returns are each legal in turn and end `Closed` with the outcome the fills
/// give — or it returns nil, and then no close fits (a person decides).
@Suite("Closing path against the machine")
struct ClosingPathTests {
    static let states: [OpportunityState] = [.detected, .inFlight, .legsPlaced, .filled, .oneSided, .cancelAttempted,
                                             .closed(.hedged), .closed(.oneSided)]

    static let facts: [ClosingPath.Facts] = [
        .init(filledA: Quantity(contracts: 5), filledB: Quantity(contracts: 5), bothRejected: false),
        .init(filledA: .zero, filledB: .zero, bothRejected: false),
        .init(filledA: .zero, filledB: .zero, bothRejected: true),
        .init(filledA: Quantity(contracts: 5), filledB: .zero, bothRejected: false),
        .init(filledA: Quantity(contracts: 2), filledB: Quantity(contracts: 7), bothRejected: false),
    ]

    /// What the fills say the outcome must be (DESIGN §8 item 8). Both refused is `rejected` only
    /// straight from InFlight: once a leg was acknowledged, nothing filled is `no_fill`.
    static func outcome(_ facts: ClosingPath.Facts, from state: OpportunityState) -> CloseOutcome {
        if !facts.isEven { return .oneSided }
        if !facts.filledA.isZero { return .hedged }
        return facts.bothRejected && state == .inFlight ? .rejected : .noFill
    }

    @Test("every step legal, ending Closed with the fills' outcome", arguments: states)
    func walk(from state: OpportunityState) throws {
        for facts in Self.facts {
            guard let events = ClosingPath.events(from: state, facts) else {
                // No path only where no close fits: nothing was sent (Detected), already closed,
                // or Filled (equal, non-zero fills recorded) while the venues now say otherwise.
                let hedgedFills = facts.isEven && !facts.filledA.isZero
                let noneFits = state == .detected || state.outcome != nil || (state == .filled && !hedgedFills)
                #expect(noneFits, "no closing path from \(state) with \(facts)")
                continue
            }
            var current = state
            for event in events {
                let next = OpportunityMachine.transition(from: current, on: event)
                guard case .success(let moved) = next else {
                    Issue.record("\(event) is illegal in \(current) (path \(events) from \(state), \(facts))")
                    break
                }
                current = moved
            }
            #expect(current == .closed(Self.outcome(facts, from: state)), "from \(state) with \(facts): \(events) ends in \(current)")
        }
    }

    @Test("provisional fills hold the close: even ones in Filled, unequal ones in CancelAttempted (with their cancel); certain ones close")
    func provisionalHoldsTheClose() {
        let unequal = ClosingPath.Facts(filledA: Quantity(contracts: 5), filledB: .zero, bothRejected: false, provisional: true)
        #expect(ClosingPath.events(from: .legsPlaced, unequal) == [.imbalanced, .cancelSent])
        #expect(ClosingPath.events(from: .oneSided, unequal) == [.cancelSent])
        #expect(ClosingPath.events(from: .cancelAttempted, unequal) == [])
        let even = ClosingPath.Facts(filledA: Quantity(contracts: 5), filledB: Quantity(contracts: 5), bothRejected: false, provisional: true)
        #expect(ClosingPath.events(from: .legsPlaced, even) == [.legsEven])
        var certain = unequal
        certain.provisional = false
        #expect(ClosingPath.events(from: .cancelAttempted, certain) == [.closedExposed])
    }

    @Test("a one-sided exposure always passes through OneSided or CancelAttempted with its cancel")
    func exposureIsNeverClosedDirectly() {
        let facts = Self.facts[3]
        for state in [OpportunityState.inFlight, .legsPlaced, .oneSided] {
            let events = ClosingPath.events(from: state, facts) ?? []
            #expect(events.contains(.cancelSent), "from \(state): \(events)")
            #expect(events.last == .closedExposed)
        }
    }
}

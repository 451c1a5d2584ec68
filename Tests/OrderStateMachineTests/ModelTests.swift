import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

/// An in-memory model of what the Store must hold, built without the code under test: its own
/// transition table (DESIGN §3), its own dedup map, its own fill ledger.
struct StoreModel {
    static let next: [String: OpportunityState] = [
        "Detected|riskGatePassed": .inFlight, "Detected|abandoned": .closed(.abandoned),
        "InFlight|legsAcknowledged": .legsPlaced, "InFlight|imbalanced": .oneSided,
        "InFlight|bothRejected": .closed(.rejected), "InFlight|bothUnfilled": .closed(.noFill),
        "LegsPlaced|legsEven": .filled, "LegsPlaced|imbalanced": .oneSided, "LegsPlaced|fillTimedOut": .cancelAttempted,
        "OneSided|cancelSent": .cancelAttempted, "OneSided|legsEven": .filled,
        "CancelAttempted|legsEven": .filled, "CancelAttempted|closedExposed": .closed(.oneSided),
        "CancelAttempted|closedUnfilled": .closed(.noFill), "Filled|reconciled": .closed(.hedged), "Filled|imbalanced": .oneSided,
        "CancelAttempted|unwindStarted": .unwinding, "Unwinding|unwindCompleted": .closed(.completed),
        "Unwinding|unwindFlattened": .closed(.flattened), "Unwinding|unwindGaveUp": .closed(.oneSided),
    ]

    static func target(_ state: OpportunityState, _ event: OpportunityEvent) -> OpportunityState? {
        if event == .closedByOperator { return state.isTerminal ? nil : .closed(.manual) }
        if state.isTerminal { return nil }
        return next["\(state.name)|\(event.rawValue)"]
    }

    var states: [OpportunityID: OpportunityState] = [:]
    var keys: [OpportunityID: String] = [:]
    var logCount: [OpportunityID: Int] = [:]
    var liveByKey: [String: OpportunityID] = [:]
    var legQuantity: [String: Int64] = [:]
    var legFilled: [String: Int64] = [:]
    var trades: Set<String> = []
    var nextID: OpportunityID = 1
}

@Suite("Store against a model")
struct ModelTests {
    @Test("random operation sequences keep the Store equal to the model", arguments: 0..<12)
    func randomSequences(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("model.db"), durability: .normal)
        var model = StoreModel()
        var random = SeededGenerator(seed: seed)
        let keyPool = (0..<6).map { "EV\($0)" }
        let context = "reproduce with seed \(seed)"

        for step in 0..<300 {
            let now = Int64(step)
            switch Int.random(in: 0..<10, using: &random) {
            case 0...2:
                let key = keyPool.randomElement(using: &random)!
                let begin = Bool.random(using: &random)
                let quantity = Int64.random(in: 1...8, using: &random)
                let new = sampleOpportunity(key, quantity: quantity, at: now)
                let result = begin
                    ? try store.createAndBegin(new, reason: "gate", makeLegs: { sampleLegs(store, $0, quantity: quantity) })
                    : try store.createOpportunity(new)
                if let live = model.liveByKey[new.dedupKey] {
                    #expect(result == .duplicate(existing: live), "\(context), step \(step)")
                } else {
                    let id = model.nextID
                    model.nextID += 1
                    #expect(result == .created(id), "\(context), step \(step)")
                    model.states[id] = begin ? .inFlight : .detected
                    model.logCount[id] = begin ? 2 : 1
                    model.keys[id] = new.dedupKey
                    model.liveByKey[new.dedupKey] = id
                    if begin {
                        for leg in LegName.allCases {
                            let client = store.clientOrderID(opportunity: id, leg: leg)
                            model.legQuantity[client] = quantity * 100
                            model.legFilled[client] = 0
                        }
                    }
                }
            case 3...7:
                guard let id = model.states.keys.sorted().randomElement(using: &random) else { continue }
                let actual = model.states[id]!
                let expected = Int.random(in: 0..<5, using: &random) == 0
                    ? OpportunityState.all.randomElement(using: &random)! : actual
                // An operator's reopening of a closed exposure has its own tests (OperatorUnwindStateTests).
                let event = OpportunityEvent.allCases.filter { $0 != .operatorUnwind }.randomElement(using: &random)!
                let result = try store.transition(id, from: expected, TransitionStep(event, reason: "step \(step)"), at: now)
                if let target = StoreModel.target(expected, event) {
                    if expected == actual {
                        #expect(result == .applied(target), "\(context), step \(step)")
                        model.states[id] = target
                        model.logCount[id, default: 0] += 1
                        if target.isTerminal { model.liveByKey[model.keys[id]!] = nil }
                    } else {
                        #expect(result == .stale(current: actual), "\(context), step \(step)")
                    }
                } else {
                    #expect(result == .illegal(IllegalTransition(from: expected, event: event)), "\(context), step \(step)")
                }
            default:
                guard let client = model.legQuantity.keys.sorted().randomElement(using: &random) else { continue }
                let venue = client.hasSuffix("-a") ? "kalshi" : "polymarket"
                let trade = "T\(Int.random(in: 0..<40, using: &random))"
                let contracts = Int64.random(in: 1...4, using: &random)
                let result = try store.recordFill(FillReport(
                    venue: venue, tradeID: trade, clientOrderID: client, price: Price(ticks: 4_000)!,
                    quantity: Quantity(contracts: contracts), fee: .zero, filledAtMilliseconds: now), at: now)
                if model.trades.contains("\(venue)|\(trade)") {
                    #expect(result == .duplicate, "\(context), step \(step)")
                } else if model.legFilled[client]! + contracts * 100 > model.legQuantity[client]! {
                    #expect(result == .exceedsOrder, "\(context), step \(step)")
                } else {
                    #expect(result == .recorded, "\(context), step \(step)")
                    model.trades.insert("\(venue)|\(trade)")
                    model.legFilled[client]! += contracts * 100
                }
            }
            if step % 50 == 49 { try compare(store, model, context) }
        }
        try compare(store, model, context)
    }

    func compare(_ store: Store, _ model: StoreModel, _ context: String) throws {
        for (id, state) in model.states {
            #expect(try store.state(of: id) == state, "\(context): opportunity \(id)")
            let log = try store.transitions(of: id)
            #expect(log.count == model.logCount[id], "\(context): log of \(id)")
            #expect(log.last?.to == state, "\(context): last logged state of \(id)")
            for (from, to) in zip(log.map(\.to), log.dropFirst().map(\.to)) {
                #expect(OpportunityMachine.isLegal(from: from, to: to), "\(context): logged \(from)->\(to)")
            }
        }
        let live = try store.connection.prepare("SELECT dedup_key, id FROM opportunities WHERE state <> 'Closed'")
            .query { ($0.text(0), $0.int64(1)) }
        #expect(Dictionary(uniqueKeysWithValues: live) == model.liveByKey, "\(context)")
        for (client, filled) in model.legFilled {
            #expect(try store.leg(clientOrderID: client)?.filledQuantity.hundredths == filled, "\(context): \(client)")
        }
    }
}

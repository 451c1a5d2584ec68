// A child process for the cross-process store tests. Not part of the product.
//   arb-store-probe race DB KEYS SEED     create KEYS opportunities in a seeded order; print "created N duplicate M"
//   arb-store-probe crash DB              start a OneSided transition with legs, fills and an alert, SIGKILL before COMMIT
//   arb-store-probe crash-after-commit DB the same transition, SIGKILL right after COMMIT
//   arb-store-probe prepare DB            create one InFlight opportunity (id 1) with both legs
#if canImport(Glibc)
import Glibc
#endif
import OrderStateMachine

func fail(_ message: String) -> Never {
    let line = "arb-store-probe: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func opportunity(key: Int, at now: Int64) -> NewOpportunity {
    NewOpportunity(
        eventID: "EV-\(key)",
        legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "K-\(key)", price: Price(uncheckedTicks: 4_500)),
        legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "P-\(key)", price: Price(uncheckedTicks: 5_000)),
        edgeBps: 300, quantity: Quantity(contracts: 10), expectedFees: Money(micros: 0), detectedAtMilliseconds: now)
}

func legs(_ store: Store, _ id: OpportunityID) -> [LegIntent] {
    [LegIntent(leg: .a, venue: "kalshi", instrument: "K-1", side: .buy, limitPrice: Price(uncheckedTicks: 4_500),
               quantity: Quantity(contracts: 10), timeInForce: .ioc, clientOrderID: store.clientOrderID(opportunity: id, leg: .a)),
     LegIntent(leg: .b, venue: "polymarket", instrument: "P-1", side: .buy, limitPrice: Price(uncheckedTicks: 5_000),
               quantity: Quantity(contracts: 10), timeInForce: .ioc, clientOrderID: store.clientOrderID(opportunity: id, leg: .b))]
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: arb-store-probe race|crash|prepare DB …") }
let path = arguments[2]

do {
    switch arguments[1] {
    case "race":
        guard arguments.count == 5, let keys = Int(arguments[3]), let seed = UInt64(arguments[4]) else {
            fail("usage: arb-store-probe race DB KEYS SEED")
        }
        let store = try Store(path: path, access: .existing, durability: .normal, busyTimeoutMilliseconds: 30_000)
        var generator = SeededGenerator(seed: seed)
        var created = 0
        var duplicate = 0
        for key in (0..<keys).shuffled(using: &generator) {
            switch try store.createOpportunity(opportunity(key: key, at: 1)) {
            case .created: created += 1
            case .duplicate: duplicate += 1
            case .refused(let why): fail("refused: \(why)")
            }
        }
        print("created \(created) duplicate \(duplicate)")
    case "prepare":
        let store = try Store(path: path)
        guard case .created(let id) = try store.createAndBegin(opportunity(key: 1, at: 1), reason: "test", makeLegs: { legs(store, $0) })
        else { fail("duplicate") }
        print("prepared \(id)")
    case "crash", "crash-after-commit":
        let afterCommit = arguments[1] == "crash-after-commit"
        let store = try Store(path: path, access: .existing, alertSinks: ["console", "file"])
        let a = store.clientOrderID(opportunity: 1, leg: .a)
        let b = store.clientOrderID(opportunity: 1, leg: .b)
        if !afterCommit { store.commitHook = { kill(getpid(), SIGKILL) } }
        _ = try store.transition(
            1, from: .inFlight, TransitionStep(.imbalanced, reason: "leg a filled alone"), at: 2,
            changes: TransitionChanges(
                legUpdates: [LegUpdate(clientOrderID: a, status: .filled), LegUpdate(clientOrderID: b, status: .open)],
                fills: [FillReport(venue: "kalshi", tradeID: "T-1", clientOrderID: a, price: Price(uncheckedTicks: 4_500),
                                   quantity: Quantity(contracts: 10), fee: Money(cents: 18), filledAtMilliseconds: 2)],
                alerts: [NewAlert(key: "one-sided-1", kind: "one_sided", severity: .critical, text: "leg a filled alone",
                                  bodyJSON: "{}")]))
        if afterCommit { kill(getpid(), SIGKILL) }
        fail("the process survived its own SIGKILL")
    default:
        fail("unknown command \(arguments[1])")
    }
} catch {
    fail("\(error)")
}

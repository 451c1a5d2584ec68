import ArbTestSupport
import Foundation
import OrderStateMachine

/// A detected opportunity on key `key` with fixed prices.
func sampleOpportunity(_ key: String, quantity: Int64 = 10, at now: Int64 = 1_000) -> NewOpportunity {
    NewOpportunity(
        eventID: key,
        legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "K-\(key)", price: Price(ticks: 4_500)!),
        legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "P-\(key)", price: Price(ticks: 5_000)!),
        edgeBps: 300, quantity: Quantity(contracts: quantity), expectedFees: Money(cents: 36),
        detectedAtMilliseconds: now)
}

func sampleLegs(_ store: Store, _ id: OpportunityID, quantity: Int64 = 10) -> [LegIntent] {
    [
        LegIntent(leg: .a, venue: "kalshi", instrument: "K", side: .buy, limitPrice: Price(ticks: 4_500)!,
                  quantity: Quantity(contracts: quantity), timeInForce: .ioc,
                  clientOrderID: store.clientOrderID(opportunity: id, leg: .a)),
        LegIntent(leg: .b, venue: "polymarket", instrument: "P", side: .buy, limitPrice: Price(ticks: 5_000)!,
                  quantity: Quantity(contracts: quantity), timeInForce: .ioc,
                  clientOrderID: store.clientOrderID(opportunity: id, leg: .b)),
    ]
}

/// The file's bytes, to prove a refused file was left untouched.
func fileContents(_ path: String) -> Data? {
    try? Data(contentsOf: URL(fileURLWithPath: path))
}

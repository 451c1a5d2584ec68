import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

@Suite("One-sided alert")
struct OneSidedAlertTests {
    @Test("the body is valid JSON with exact figures, whatever characters the names hold")
    func bodyParses() throws {
        let filled = AlertLeg(clientOrderID: "arb-0-1-a", venue: "kalshi", instrument: "K\"1\\x", outcome: "line\nbreak\ttab\u{1}", side: .buy,
                              limitPrice: Price(ticks: 4_500)!, filled: Quantity(contracts: 6), cost: Money(cents: 270),
                              fees: Money(cents: 11), cancelAttempted: false, cancelSucceeded: nil)
        let other = AlertLeg(clientOrderID: "arb-0-1-b", venue: "polymarket", instrument: "P-1", outcome: "NO", side: .buy,
                             limitPrice: Price(ticks: 5_000)!, filled: Quantity(contracts: 4), cost: Money(cents: 200),
                             fees: .zero, cancelAttempted: true, cancelSucceeded: true)
        let alert = OneSidedAlert.make(databaseID: "abcd1234", opportunity: 7, eventID: "E \"quoted\"", edgeBps: 123,
                                       legA: filled, legB: other, phase: .closed)
        #expect(alert.key == "arb-abcd1234-7-one_sided_closed")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(alert.bodyJSON.utf8)) as? [String: Any])
        #expect(body["event_id"] as? String == "E \"quoted\"")
        #expect(body["opportunity_id"] as? Int == 7 && body["edge_bps"] as? Int == 123)
        #expect(body["exposure_contracts"] as? String == "2.00")
        // 2 of 6 contracts of $2.70 + $0.11: 2.81 × 2 / 6 = 0.936666… rounded up.
        #expect(body["exposure_usd"] as? String == "0.936667")
        let leg = try #require(body["filled_leg"] as? [String: Any])
        #expect(leg["instrument"] as? String == "K\"1\\x")
        #expect(leg["outcome"] as? String == "line\nbreak\ttab\u{1}")
        #expect(leg["cancel_succeeded"] is NSNull)
        #expect((body["unfilled_leg"] as? [String: Any])?["cancel_succeeded"] as? Bool == true)
    }
}

import ArbTestSupport
import Foundation
import OrderStateMachine
import Testing

@Suite("Store alert outbox")
struct StoreAlertTests {
    let directory = TemporaryDirectory()

    func makeStore(sinks: [String]) throws -> Store {
        try Store(path: directory.path("alerts.db"), durability: .normal, alertSinks: sinks)
    }

    func alert(_ key: String, text: String = "text", body: String = "{}") -> NewAlert {
        NewAlert(key: key, kind: "reconcile", severity: .warning, text: text, bodyJSON: body)
    }

    func pendingPairs(_ store: Store, limit: Int = 100, sinks: [String]? = nil) throws -> [String] {
        try store.pendingDeliveries(limit: limit, sinks: sinks).map { "\($0.key)/\($0.sink)" }
    }

    @Test("an alert raised by a transition is pending for every sink, with its fields, oldest first")
    func pendingAfterTransition() throws {
        let store = try makeStore(sinks: ["console", "file"])
        try store.insertAlert(alert("early", text: "first"), opportunity: nil, atMilliseconds: 5)
        guard case .created(let id) = try store.createAndBegin(sampleOpportunity("EV"), reason: "gate", makeLegs: { sampleLegs(store, $0) })
        else { Issue.record("not created"); return }
        let oneSided = NewAlert(key: "one-sided-\(id)", kind: "one_sided", severity: .critical, text: "leg a alone",
                                bodyJSON: #"{"opportunity":1}"#)
        #expect(try store.transition(id, from: .inFlight, TransitionStep(.imbalanced, reason: "a filled"), at: 7,
                                     changes: TransitionChanges(alerts: [oneSided])) == .applied(.oneSided))

        let pending = try store.pendingDeliveries(limit: 10)
        #expect(pending.map { "\($0.key)/\($0.sink)" } == ["early/console", "early/file", "one-sided-\(id)/console", "one-sided-\(id)/file"])
        let last = try #require(pending.last)
        #expect(last.kind == "one_sided")
        #expect(last.severity == .critical)
        #expect(last.text == "leg a alone")
        #expect(last.bodyJSON == #"{"opportunity":1}"#)
        #expect(last.createdAtMilliseconds == 7)
        #expect(last.attempts == 0)
        #expect(last.alertID == (try store.alerts(of: id)).first?.id)
    }

    @Test("markDelivered takes the row out of pending once; the first delivery time stays")
    func markDelivered() throws {
        let store = try makeStore(sinks: ["console", "file"])
        try store.insertAlert(alert("A"), opportunity: nil, atMilliseconds: 1)
        let row = try #require(try store.pendingDeliveries(limit: 10).first { $0.sink == "file" })
        #expect(try store.markDelivered(alertID: row.alertID, sink: "file", atMilliseconds: 50))
        #expect(try pendingPairs(store) == ["A/console"])
        #expect(try store.markDelivered(alertID: row.alertID, sink: "file", atMilliseconds: 60) == false)
        #expect(try store.markDelivered(alertID: 999, sink: "file", atMilliseconds: 60) == false)
        let delivery = try #require(try store.allAlerts(limit: 1).first?.deliveries.first { $0.sink == "file" })
        #expect(delivery.deliveredAtMilliseconds == 50)
        #expect(delivery.attempts == 1)
    }

    @Test("a failed attempt counts and keeps its error; two failures then a delivery make three attempts")
    func failuresThenDelivery() throws {
        let store = try makeStore(sinks: ["webhook"])
        try store.insertAlert(alert("A"), opportunity: nil, atMilliseconds: 1)
        let id = try #require(try store.pendingDeliveries(limit: 1).first?.alertID)
        #expect(try store.markDeliveryFailed(alertID: id, sink: "webhook", error: "HTTP 500", atMilliseconds: 10))
        #expect(try store.markDeliveryFailed(alertID: id, sink: "webhook", error: "HTTP 502", atMilliseconds: 20))
        let pending = try #require(try store.pendingDeliveries(limit: 1).first)
        #expect(pending.attempts == 2)
        #expect(try store.undeliveredAlerts().first?.deliveries.first?.lastError == "at_ms=20: HTTP 502")

        #expect(try store.markDelivered(alertID: id, sink: "webhook", atMilliseconds: 30))
        #expect(try store.markDeliveryFailed(alertID: id, sink: "webhook", error: "late", atMilliseconds: 40) == false)
        let delivery = try #require(try store.allAlerts(limit: 1).first?.deliveries.first)
        #expect(delivery.attempts == 3)
        #expect(delivery.deliveredAtMilliseconds == 30)
        #expect(delivery.lastError == "at_ms=20: HTTP 502")
        #expect(try store.pendingDeliveries(limit: 10).isEmpty)
        #expect(try store.undeliveredAlerts().isEmpty)
    }

    @Test("a very long error is stored bounded")
    func boundedError() throws {
        let store = try makeStore(sinks: ["webhook"])
        try store.insertAlert(alert("A"), opportunity: nil, atMilliseconds: 1)
        let id = try #require(try store.pendingDeliveries(limit: 1).first?.alertID)
        try store.markDeliveryFailed(alertID: id, sink: "webhook", error: String(repeating: "x", count: 10_000), atMilliseconds: 2)
        let error = try #require(try store.undeliveredAlerts().first?.deliveries.first?.lastError)
        #expect(error.count == Store.deliveryErrorLengthMax)
        #expect(error.hasPrefix("at_ms=2: xxx"))
    }

    @Test("a sink added at restart gets the alerts still pending (or never routed), not the delivered history")
    func ensureDeliveryRows() throws {
        var store: Store? = try makeStore(sinks: ["console"])
        try store!.insertAlert(alert("history"), opportunity: nil, atMilliseconds: 1)
        try store!.insertAlert(alert("pending"), opportunity: nil, atMilliseconds: 2)
        let historyID = try #require(try store!.pendingDeliveries(limit: 10).first { $0.key == "history" }?.alertID)
        try store!.markDelivered(alertID: historyID, sink: "console", atMilliseconds: 3)
        store!.alertSinks = []
        try store!.insertAlert(alert("unrouted"), opportunity: nil, atMilliseconds: 4)
        store = nil

        // Restart with a webhook added.
        let restarted = try makeStore(sinks: ["console", "webhook"])
        #expect(try restarted.ensureDeliveryRows(forSinks: ["console", "webhook"]) == 3)
        #expect(try pendingPairs(restarted) == ["pending/console", "pending/webhook", "unrouted/console", "unrouted/webhook"])
        #expect(try restarted.allAlerts(limit: 10).first { $0.key == "history" }?.deliveries.map(\.sink) == ["console"])
        #expect(try restarted.ensureDeliveryRows(forSinks: ["console", "webhook"]) == 0)
        #expect(try restarted.undeliveredAlerts().map(\.key) == ["pending", "unrouted"])
    }

    @Test("a bounded read gives each sink a fair share, so a sink with a long backlog starves no other")
    func fairShare() throws {
        let store = try makeStore(sinks: ["console", "webhook"])
        for n in 1...6 { try store.insertAlert(alert("A\(n)"), opportunity: nil, atMilliseconds: Int64(n)) }
        // The console has the first five; the webhook has had none (it is down).
        for row in try store.pendingDeliveries(limit: 100, sinks: ["console"]).prefix(5) {
            try store.markDelivered(alertID: row.alertID, sink: "console", atMilliseconds: 10)
        }
        #expect(try pendingPairs(store, limit: 3) == ["A1/webhook", "A2/webhook", "A6/console"])
        #expect(try pendingPairs(store, limit: 2, sinks: ["webhook"]) == ["A1/webhook", "A2/webhook"])
        #expect(try pendingPairs(store, limit: 5, sinks: ["console", "file"]) == ["A6/console"])
        #expect(try store.pendingDeliveries(limit: 0).isEmpty)
    }

    @Test("allAlerts lists the most recent first, with each alert's deliveries")
    func allAlerts() throws {
        let store = try makeStore(sinks: ["console", "file"])
        for n in 1...3 { try store.insertAlert(alert("A\(n)"), opportunity: nil, atMilliseconds: Int64(n)) }
        let alerts = try store.allAlerts(limit: 2)
        #expect(alerts.map(\.key) == ["A3", "A2"])
        #expect(alerts.allSatisfy { $0.deliveries.map(\.sink) == ["console", "file"] })
        #expect(try store.allAlerts(limit: 10).count == 3)
    }
}

import ArbEngine
import ArbTestSupport
import Foundation
import KalshiLoopback
import KalshiVenue
import Logging
import OrderStateMachine
import Synchronization
import Testing

/// One generated key for the whole file (RSA generation is slow-ish); tests that need another
/// make their own.
let kalshiTestKey = try! KalshiTestKey()

/// A loopback Kalshi exchange and an adapter signed with the exchange's key.
final class KalshiHarness: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let exchange: KalshiLoopbackExchange
    let venue: KalshiVenue
    let keyPath: String
    /// The harness's own connections: no kept connection crosses from one test's exchange to
    /// another's (the process-wide transport keys them by host and port, and ports are reused).
    let transport = VenueHTTPTransport()

    init(pageLimit: Int = 200, settleWindowMilliseconds: Int64 = 300, rateLimitBudgetMilliseconds: Int64 = 2_000,
         directory orders: (any KalshiOrderDirectory)? = nil, exchange existing: KalshiLoopbackExchange? = nil,
         clock: any TradingClock = SystemClock(), keepWarmMilliseconds: Int64? = nil) async throws {
        if let existing {
            exchange = existing
        } else {
            exchange = KalshiLoopbackExchange(key: kalshiTestKey)
            try await exchange.start()
        }
        keyPath = directory.path("kalshi.pem")
        try kalshiTestKey.writePrivateKey(to: keyPath)
        var options = KalshiVenue.Options(name: "kalshi", environment: "demo", baseURL: exchange.baseURL,
                                          selfTradePrevention: "taker_at_cross", feeModel: .kalshiTaker)
        options.pageLimit = pageLimit
        options.settleWindowMilliseconds = settleWindowMilliseconds
        options.rateLimitBudgetMilliseconds = rateLimitBudgetMilliseconds
        options.rateLimitBackoffMilliseconds = 5
        if let keepWarmMilliseconds { options.keepWarmMilliseconds = keepWarmMilliseconds }
        var logger = Logger(label: "kalshi-test")
        logger.logLevel = .critical
        venue = KalshiVenue(options: options, signer: KalshiSigner(keyID: "test-key-id", key: try KalshiSigningKey.load(path: keyPath)),
                            transport: transport, directory: orders, clock: clock, logger: logger)
    }

    static func request(_ id: String, _ instrument: String = "KXTEST-26:yes", side: Side = .buy, price: Int64 = 4_500,
                        contracts: Int64 = 10, timeInForce: TimeInForce = .ioc) -> PreparedOrder {
        PreparedOrder(request: OrderRequest(clientOrderID: id, instrument: instrument, side: side,
                                            limitPrice: Price(uncheckedTicks: price), quantity: Quantity(contracts: contracts),
                                            timeInForce: timeInForce), venueOrderID: nil)
    }

    var creates: Int { exchange.requests.filter { $0.method == "POST" }.count }

    /// Every request the exchange saw carried a valid signature.
    var allSigned: Bool { !exchange.requests.isEmpty && exchange.requests.allSatisfy(\.signatureValid) }

    func stop() async {
        await exchange.stop()
        await transport.shutdown()
    }
}

@Suite("Kalshi: the YES-book mapping and signing")
struct KalshiMappingTests {
    @Test("the four outcome × action cases land on the YES book, at the grid's edges too", arguments: [1, 100, 4_500, 9_900, 9_999])
    func yesBook(ticks: Int64) {
        let p = Price(uncheckedTicks: ticks)
        let q = Price(uncheckedTicks: 10_000 - ticks)
        #expect(KalshiBookOrder(outcome: .yes, action: .buy, price: p) == KalshiBookOrder.make(.bid, p))
        #expect(KalshiBookOrder(outcome: .yes, action: .sell, price: p) == KalshiBookOrder.make(.ask, p))
        #expect(KalshiBookOrder(outcome: .no, action: .buy, price: p) == KalshiBookOrder.make(.ask, q))
        #expect(KalshiBookOrder(outcome: .no, action: .sell, price: p) == KalshiBookOrder.make(.bid, q))
        #expect(KalshiBookOrder.outcomePrice(yesPrice: q, outcome: .no) == p)
    }

    @Test("the V2 body: a NO buy is an ask at 1 − p, counts and prices as fixed-point strings, GTC cancels on pause")
    func body() throws {
        let noBuy = try KalshiCreateOrderBody(KalshiHarness.request("c-1", "KXFED-25DEC:no", price: 4_500).request,
                                              selfTradePrevention: "taker_at_cross")
        #expect(noBuy.json == #"{"ticker":"KXFED-25DEC","side":"ask","price":"0.5500","count":"10.00","time_in_force":"immediate_or_cancel","self_trade_prevention_type":"taker_at_cross","client_order_id":"c-1"}"#)
        let gtc = try KalshiCreateOrderBody(KalshiHarness.request("c-2", "KXFED-25DEC:yes", side: .sell, price: 1, timeInForce: .gtc).request,
                                            selfTradePrevention: "maker")
        #expect(gtc.side == .ask && gtc.price == "0.0001" && gtc.timeInForce == "good_till_canceled" && gtc.cancelOrderOnPause == true)
        #expect(throws: KalshiOrderRefusal.self) {
            try KalshiCreateOrderBody(KalshiHarness.request("c-3", "KXFED-25DEC").request, selfTradePrevention: "maker")
        }
    }

    @Test("signatures verify with the public key over timestamp + METHOD + path, without the query")
    func signatures() throws {
        let directory = TemporaryDirectory()
        for format in [KalshiTestKey.Format.pkcs1, .pkcs8] {
            let key = format == .pkcs8 ? kalshiTestKey : try KalshiTestKey(format: .pkcs1)
            let path = directory.path("key-\(format).pem")
            try key.writePrivateKey(to: path)
            let signer = KalshiSigner(keyID: "id", key: try KalshiSigningKey.load(path: path))
            let headers = try signer.headers(timestampMilliseconds: 1_764_600_000_000, method: "GET",
                                             path: "/trade-api/v2/portfolio/orders?ticker=A&cursor=x")
            #expect(key.verifies(signature: headers.signature, message: "1764600000000GET/trade-api/v2/portfolio/orders"))
            #expect(!key.verifies(signature: headers.signature, message: "1764600000001GET/trade-api/v2/portfolio/orders"))
            #expect(!key.verifies(signature: headers.signature, message: "1764600000000GET/trade-api/v2/portfolio/orders?ticker=A&cursor=x"))
        }
    }

    @Test("a key file others can read, a file that is not a key, and a missing file are refused in one line")
    func keyFileRefusals() throws {
        let directory = TemporaryDirectory()
        let open = directory.path("open.pem")
        try kalshiTestKey.writePrivateKey(to: open, mode: 0o644)
        let refusal = try #require(throws: KalshiKeyError.self) { try KalshiSigningKey.load(path: open) }
        #expect(refusal.description.contains("mode 644") && refusal.description.contains("chmod 600"))
        let garbage = directory.path("garbage.pem")
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: garbage))
        chmod(garbage, 0o600)
        let notKey = try #require(throws: KalshiKeyError.self) { try KalshiSigningKey.load(path: garbage) }
        #expect(notKey.description.contains("is not a readable unencrypted PEM private key"))
        let missing = try #require(throws: KalshiKeyError.self) { try KalshiSigningKey.load(path: directory.path("none.pem")) }
        #expect(missing.description.contains("does not exist"))
        for text in [refusal.description, notKey.description] { #expect(!text.contains("PRIVATE KEY-----")) }
    }
}

extension KalshiBookOrder {
    static func make(_ side: KalshiBookSide, _ price: Price) -> KalshiBookOrder {
        var order = KalshiBookOrder(outcome: .yes, action: .buy, price: price)
        order.side = side
        return order
    }
}

@Suite("Kalshi adapter against a loopback exchange", .serialized)
struct KalshiVenueTests {
    @Test("created with fills: derived status, fills paged in with the venue's fee_cost, NO priced as NO")
    func createdWithFills() async throws {
        let harness = try await KalshiHarness(pageLimit: 1)
        defer { Task { await harness.stop() } }
        harness.exchange.script([.fill(hundredths: 400)])
        let ack = try await harness.venue.submit(KalshiHarness.request("c-1", "KXTEST-26:no", price: 4_500, timeInForce: .ioc))
        #expect(ack.order.status == .cancelled && ack.order.filledQuantity == Quantity(contracts: 4))
        let server = try #require(harness.exchange.orders.first)
        #expect(server.side == "ask" && server.yesTicks == 5_500 && ack.order.venueOrderID == server.orderID)
        let fills = try await harness.venue.fills(clientOrderID: "c-1")
        #expect(fills.map(\.quantity) == [Quantity(contracts: 4)])
        #expect(fills.first?.price == Price(uncheckedTicks: 4_500))
        // The exchange's fee, not arb's formula (ceil(0.07 × 4 × 0.45 × 0.55) = $0.07).
        #expect(fills.first?.fee == Money(micros: 400 * 170))
        #expect(fills.map(\.tradeID) == harness.exchange.fills.map(\.tradeID))
        let full = try await harness.venue.submit(KalshiHarness.request("c-2", timeInForce: .fok))
        #expect(full.order.status == .filled)
        #expect(harness.allSigned)
    }

    @Test("paged fills: five fills of one resting order, two per page, all read")
    func pagedFills() async throws {
        let harness = try await KalshiHarness(pageLimit: 2)
        defer { Task { await harness.stop() } }
        harness.exchange.script([.fill(hundredths: 0)])
        let ack = try await harness.venue.submit(KalshiHarness.request("c-1", timeInForce: .gtc))
        #expect(ack.order.status == .open)
        for _ in 0..<5 { harness.exchange.fillResting(clientOrderID: "c-1", hundredths: 100) }
        let fills = try await harness.venue.fills(clientOrderID: "c-1")
        #expect(fills.count == 5 && fills.reduce(Quantity.zero) { $0 + $1.quantity } == Quantity(contracts: 5))
        #expect(Set(fills.map(\.tradeID)).count == 5)
        let order = try await harness.venue.order(clientOrderID: "c-1")
        #expect(order?.status == .partiallyFilled && order?.filledQuantity == Quantity(contracts: 5))
        #expect(harness.exchange.orders.first?.cancelOrderOnPause == true)
    }

    @Test("a fill announced on the fill channel is read back with its fee and pushed once on events; an unknown order's is not")
    func announcedFill() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.fill(hundredths: 0)])
        let ack = try await harness.venue.submit(KalshiHarness.request("c-1", timeInForce: .gtc))
        let orderID = ack.order.venueOrderID
        harness.exchange.fillResting(clientOrderID: "c-1", hundredths: 300)
        let trade = try #require(harness.exchange.fills.last)
        await harness.venue.fillAnnounced(venueOrderID: orderID, tradeID: trade.tradeID)
        await harness.venue.fillAnnounced(venueOrderID: orderID, tradeID: trade.tradeID)
        await harness.venue.fillAnnounced(venueOrderID: "someone-elses", tradeID: "trade-x")
        let pushed = Mutex<[VenueEvent]>([])
        let reading = Task { [events = harness.venue.events] in for await event in events { pushed.withLock { $0.append(event) } } }
        defer { reading.cancel() }
        #expect(await waitUntil(timeoutSeconds: 5) { !pushed.withLock { $0 }.isEmpty })
        try await Task.sleep(for: .milliseconds(300))
        // One: the repeat and the stranger's fill pushed nothing.
        let events = pushed.withLock { $0 }
        try #require(events.count == 1, "\(events)")
        guard case .fill(let fill) = events[0] else {
            Issue.record("not a fill: \(events[0])")
            return
        }
        #expect(fill.clientOrderID == "c-1" && fill.tradeID == trade.tradeID && fill.quantity == Quantity(contracts: 3))
        #expect(fill.fee.micros == trade.feeMicros, "the fee is Kalshi's fee_cost, not arb's formula")
    }

    @Test("an order change announced (user_orders) is read over REST and pushed once per new state; a stranger's order pushes nothing")
    func announcedOrder() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.fill(hundredths: 0)])
        let ack = try await harness.venue.submit(KalshiHarness.request("c-1", timeInForce: .gtc))
        let orderID = ack.order.venueOrderID
        let pushed = Mutex<[VenueEvent]>([])
        let reading = Task { [events = harness.venue.events] in for await event in events { pushed.withLock { $0.append(event) } } }
        defer { reading.cancel() }
        await harness.venue.orderAnnounced(venueOrderID: orderID)
        await harness.venue.orderAnnounced(venueOrderID: orderID)
        await harness.venue.orderAnnounced(venueOrderID: "someone-elses")
        harness.exchange.fillResting(clientOrderID: "c-1", hundredths: 400)
        await harness.venue.orderAnnounced(venueOrderID: orderID)
        #expect(await waitUntil(timeoutSeconds: 5) { pushed.withLock { $0 }.count >= 2 })
        try await Task.sleep(for: .milliseconds(300))
        let orders = pushed.withLock { $0 }.compactMap { event -> VenueOrder? in if case .orderUpdate(let order) = event { order } else { nil } }
        #expect(orders.map(\.status) == [.open, .partiallyFilled] && orders.map(\.filledQuantity) == [.zero, Quantity(contracts: 4)],
                "\(pushed.withLock { $0 })")
        #expect(orders.allSatisfy { $0.clientOrderID == "c-1" && $0.venueOrderID == orderID })
    }

    @Test("a resting order cancels, and a second cancel is alreadyDone with the final fill count")
    func cancelIdempotent() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.fill(hundredths: 300)])
        _ = try await harness.venue.submit(KalshiHarness.request("c-1", timeInForce: .gtc))
        guard case .cancelled(let order) = try await harness.venue.cancel(clientOrderID: "c-1") else {
            Issue.record("the first cancel did not cancel")
            return
        }
        #expect(order.filledQuantity == Quantity(contracts: 3) && order.status == .cancelled)
        #expect(harness.exchange.orders.first?.status == "canceled")
        guard case .alreadyDone(let again) = try await harness.venue.cancel(clientOrderID: "c-1") else {
            Issue.record("the second cancel was not alreadyDone")
            return
        }
        #expect(again.filledQuantity == Quantity(contracts: 3))
    }

    @Test("409 on create: the order exists; the adapter reads it and goes on")
    func duplicate() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        let first = try await harness.venue.submit(KalshiHarness.request("c-1"))
        let second = try await harness.venue.submit(KalshiHarness.request("c-1"))
        #expect(second.order.venueOrderID == first.order.venueOrderID && second.order.status == .filled)
        #expect(harness.exchange.orders.count == 1 && harness.creates == 2)
    }

    @Test("400 off the price grid is a refusal with the venue's reason")
    func offGrid() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        let error = await #expect(throws: VenueError.self) {
            try await harness.venue.submit(KalshiHarness.request("c-1", price: 4_550))
        }
        guard case .rejected(let reason)? = error else { Issue.record("not rejected: \(String(describing: error))"); return }
        #expect(reason.contains("invalid_price"))
        #expect(harness.exchange.orders.isEmpty)
    }

    @Test("401: rejected once, never retried, and the log line names the environment but not the key id")
    func unauthorized() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.unauthorized])
        let error = await #expect(throws: VenueError.self) { try await harness.venue.submit(KalshiHarness.request("c-1")) }
        guard case .rejected(let reason)? = error else { Issue.record("not rejected"); return }
        #expect(reason.contains("demo") && !reason.contains("test-key-id"))
        #expect(harness.creates == 1)
    }

    @Test("429 twice then success: backed off and placed once")
    func rateLimited() async throws {
        // A budget no loaded machine runs out of: this test is about the retries, not the budget.
        let harness = try await KalshiHarness(rateLimitBudgetMilliseconds: 20_000)
        defer { Task { await harness.stop() } }
        harness.exchange.script([.rateLimited(times: 2)])
        let ack = try await harness.venue.submit(KalshiHarness.request("c-1"))
        #expect(ack.order.status == .filled && harness.creates == 3 && harness.exchange.orders.count == 1)
    }

    @Test("429 past the budget: the answer counts as lost, not refused")
    func rateLimitedTooLong() async throws {
        let harness = try await KalshiHarness(rateLimitBudgetMilliseconds: 3_000)  // room for retries when a loaded machine takes ~1 s a request
        defer { Task { await harness.stop() } }
        harness.exchange.script([.rateLimited(times: 1_000)])
        let error = await #expect(throws: VenueError.self) { try await harness.venue.submit(KalshiHarness.request("c-1")) }
        guard case .ambiguous? = error else { Issue.record("not ambiguous: \(String(describing: error))"); return }
        #expect(harness.creates > 1)
    }

    @Test("500: ambiguous, and after the settle window the order was never placed")
    func serverError() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.serverError])
        let error = await #expect(throws: VenueError.self) { try await harness.venue.submit(KalshiHarness.request("c-1")) }
        guard case .ambiguous? = error else { Issue.record("not ambiguous"); return }
        #expect(try await harness.venue.order(clientOrderID: "c-1") == nil)
    }

    @Test("connection reset after the order was placed: ambiguous, then found by listing with its fills")
    func resetAfterPlacing() async throws {
        let harness = try await KalshiHarness(pageLimit: 1)
        defer { Task { await harness.stop() } }
        // Other orders on the ticker first, so the listing has pages to walk.
        _ = try await harness.venue.submit(KalshiHarness.request("other-1"))
        _ = try await harness.venue.submit(KalshiHarness.request("other-2"))
        harness.exchange.script([.resetAfterPlacing(hundredths: 600)])
        let error = await #expect(throws: VenueError.self) {
            try await harness.venue.submit(KalshiHarness.request("c-1", timeInForce: .gtc))
        }
        guard case .ambiguous? = error else { Issue.record("not ambiguous: \(String(describing: error))"); return }
        let order = try #require(try await harness.venue.order(clientOrderID: "c-1"))
        let server = try #require(harness.exchange.orders.first { $0.clientOrderID == "c-1" })
        #expect(order.venueOrderID == server.orderID && order.filledQuantity == Quantity(contracts: 6) && order.status == .partiallyFilled)
        #expect(harness.exchange.requests.contains { $0.uri.contains("/portfolio/orders?") && $0.uri.contains("cursor=") })
        #expect(try await harness.venue.fills(clientOrderID: "c-1").map(\.quantity) == [Quantity(contracts: 6)])
    }

    @Test("connection reset before the order was placed: ambiguous, then not found (never placed)")
    func resetBeforePlacing() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.resetBeforePlacing])
        let error = await #expect(throws: VenueError.self) { try await harness.venue.submit(KalshiHarness.request("c-1")) }
        guard case .ambiguous? = error else { Issue.record("not ambiguous"); return }
        #expect(try await harness.venue.order(clientOrderID: "c-1") == nil)
        #expect(harness.exchange.orders.isEmpty)
    }

    @Test("a new process finds an order through its directory (the database's leg row): by id, or by listing")
    func directory() async throws {
        let first = try await KalshiHarness()
        defer { Task { await first.stop() } }
        first.exchange.script([.fill(hundredths: 0)])
        let placed = try await first.venue.submit(KalshiHarness.request("c-1", timeInForce: .gtc))
        first.exchange.script([.resetAfterPlacing(hundredths: 0)])
        _ = try? await first.venue.submit(KalshiHarness.request("c-2", timeInForce: .gtc))
        let now = SystemClock().nowMilliseconds()
        let known = FixedDirectory(orders: [
            "c-1": KalshiKnownOrder(request: KalshiHarness.request("c-1", timeInForce: .gtc).request,
                                    venueOrderID: placed.order.venueOrderID, sentAtMilliseconds: now),
            "c-2": KalshiKnownOrder(request: KalshiHarness.request("c-2", timeInForce: .gtc).request,
                                    venueOrderID: nil, sentAtMilliseconds: now),
        ])
        let second = try await KalshiHarness(directory: known, exchange: first.exchange)
        #expect(try await second.venue.order(clientOrderID: "c-1")?.venueOrderID == placed.order.venueOrderID)
        let found = try #require(try await second.venue.order(clientOrderID: "c-2"))
        #expect(found.status == .open)
        guard case .cancelled = try await second.venue.cancel(clientOrderID: "c-2") else {
            Issue.record("the found order was not cancelled")
            return
        }
        #expect(first.exchange.orders.map(\.status) == ["resting", "canceled"])
        #expect(try await second.venue.order(clientOrderID: "unknown") == nil)
    }

    @Test("an unwind order a previous process sent is found after a restart: LedgerKalshiDirectory reads it from unwind_orders and the listing finds it")
    func unwindOrderAfterRestart() async throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("arb.db"), durability: .normal)
        let new = NewOpportunity(
            eventID: "EV", legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "KXTEST-26:yes", price: Price(ticks: 4_500)!),
            legB: LegQuote(venue: "paper", outcome: "NO", instrument: "P-1", price: Price(ticks: 5_000)!),
            edgeBps: 300, quantity: Quantity(contracts: 10), expectedFees: .zero, detectedAtMilliseconds: SystemClock().nowMilliseconds())
        guard case .created(let id) = try store.createOpportunity(new) else { Issue.record("not created"); return }
        let path = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent].map { TransitionStep($0, reason: "test") }
        #expect(try store.advance(id, from: .detected, steps: path, at: SystemClock().nowMilliseconds()) == .applied(.cancelAttempted))
        let intent = UnwindOrderIntent(attempt: 1, action: .complete, venue: "kalshi", instrument: "KXTEST-26:yes",
                                       limitPrice: Price(ticks: 4_600)!, boundPrice: Price(ticks: 4_800)!, quantity: Quantity(contracts: 10),
                                       exposure: Quantity(contracts: 10), lossBudget: Money(cents: 200),
                                       clientOrderID: store.clientOrderID(opportunity: id, unwindAttempt: 1))
        // Persisted before it is sent (Kalshi has no venue id until the answer, which the crash lost).
        #expect(try store.transition(id, from: .cancelAttempted, TransitionStep(.unwindStarted, reason: "unwind: complete"),
                                     at: SystemClock().nowMilliseconds(), changes: TransitionChanges(unwindOrders: [intent])) == .applied(.unwinding))
        let ledger = Ledger(store: store)

        let first = try await KalshiHarness()
        defer { Task { await first.stop() } }
        first.exchange.script([.fill(hundredths: 1_000)])
        _ = try await first.venue.submit(PreparedOrder(request: intent.request, venueOrderID: nil))

        // A new process: another adapter over the same exchange, reading the database.
        let second = try await KalshiHarness(directory: LedgerKalshiDirectory(slot: LedgerSlot(ledger)), exchange: first.exchange)
        defer { Task { await second.transport.shutdown() } }
        let order = try #require(try await second.venue.order(clientOrderID: intent.clientOrderID), "the unwind order was not found")
        #expect(order.filledQuantity == Quantity(contracts: 10) && order.venueOrderID == first.exchange.orders.first?.orderID)
        #expect(try await second.venue.fills(clientOrderID: intent.clientOrderID).map(\.quantity) == [Quantity(contracts: 10)])
    }

    @Test("positions and balance read the _fp and _dollars fields")
    func positionsAndBalance() async throws {
        let harness = try await KalshiHarness()
        defer { Task { await harness.stop() } }
        _ = try await harness.venue.submit(KalshiHarness.request("c-1", "KXA:yes", contracts: 3))
        _ = try await harness.venue.submit(KalshiHarness.request("c-2", "KXB:no", contracts: 2))
        let positions = try await harness.venue.positions()
        #expect(positions.map(\.instrument) == ["KXA:yes", "KXB:no"])
        #expect(positions.map(\.quantity) == [Quantity(contracts: 3), Quantity(contracts: 2)])
        harness.exchange.balanceDollars = "1234.5678"
        #expect(try await harness.venue.balance() == Money(micros: 1_234_567_800))
    }
}

struct FixedDirectory: KalshiOrderDirectory {
    let orders: [String: KalshiKnownOrder]
    func knownOrder(clientOrderID: String) async throws -> KalshiKnownOrder? { orders[clientOrderID] }
}

import ArbEngine
import ArbTestSupport
import Foundation
import Logging
import OrderStateMachine
import PolymarketLoopback
import PolymarketVenue
import Synchronization
import Testing

let polymarketTestWallet = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
let polymarketTestCredentials = PolymarketCredentials(apiKey: "11111111-2222-3333-4444-555555555555",
                                                      secret: "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==",
                                                      passphrase: "pass-phrase-1")
let polymarketTokenYes = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
let polymarketTokenNo = "52114319501245915516055106046884209969926127482827954674443846427813813222426"

/// A loopback CLOB and an adapter signed with the exchange's wallet and credentials.
final class PolymarketHarness: @unchecked Sendable {
    let exchange: PolymarketLoopbackExchange
    let venue: PolymarketVenue
    let key: EthereumKey
    /// The harness's own connections: no kept connection crosses from one test's exchange to
    /// another's (the process-wide transport keys them by host and port, and ports are reused).
    let transport = VenueHTTPTransport()

    init(directory: (any PolymarketOrderDirectory)? = nil, exchange existing: PolymarketLoopbackExchange? = nil,
         negRiskNo: Bool = true, heartbeatMilliseconds: Int64 = 5_000, clock: any TradingClock = SystemClock(),
         maxTradePages: Int = 1_000, keepWarmMilliseconds: Int64? = nil) async throws {
        key = try EthereumKey(hex: polymarketTestWallet)
        if let existing {
            exchange = existing
        } else {
            exchange = PolymarketLoopbackExchange(wallet: key.address, credentials: polymarketTestCredentials,
                                                  negRisk: [polymarketTokenYes: false, polymarketTokenNo: negRiskNo])
            try await exchange.start()
        }
        var logger = Logger(label: "polymarket-test")
        logger.logLevel = .critical
        var options = PolymarketVenue.Options(
            name: "polymarket", baseURL: exchange.baseURL, feeModel: .polymarketTaker(rateBps: 300, exponent: 1), signatureType: 0,
            funder: nil, markets: [polymarketTokenYes: PolymarketTokenMarket(tick: .hundredth, negRisk: false),
                                   polymarketTokenNo: PolymarketTokenMarket(tick: .hundredth, negRisk: negRiskNo)])
        options.settleWindowMilliseconds = 200
        options.heartbeatIntervalMilliseconds = heartbeatMilliseconds
        options.maxTradePages = maxTradePages
        if let keepWarmMilliseconds { options.keepWarmMilliseconds = keepWarmMilliseconds }
        venue = try PolymarketVenue(options: options, key: key, credentials: polymarketTestCredentials, transport: transport,
                                    directory: directory, clock: clock, logger: logger)
    }

    func prepare(_ id: String, token: String = polymarketTokenYes, side: Side = .buy, price: Int64 = 4_700, contracts: Int64 = 10,
                 timeInForce: TimeInForce = .ioc) -> PreparedOrder {
        venue.prepare(OrderRequest(clientOrderID: id, instrument: token, side: side, limitPrice: Price(uncheckedTicks: price),
                                   quantity: Quantity(contracts: contracts), timeInForce: timeInForce))
    }

    /// Every request carried a valid L2 HMAC and every posted order recovered to the wallet.
    var allSigned: Bool {
        !exchange.requests.isEmpty && exchange.requests.allSatisfy { $0.hmacValid && $0.orderSignatureValid != false }
    }

    func stopHeartbeats() { venue.stopHeartbeats() }

    func stop() async {
        venue.stopHeartbeats()
        await exchange.stop()
        await transport.shutdown()
    }
}

@Suite("Polymarket adapter against a loopback CLOB", .serialized)
struct PolymarketVenueTests {
    @Test("prepare signs before anything is sent: the hash is the venue's order id, the same for the same order")
    func prepareIsTheHash() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        let prepared = harness.prepare("c-1")
        let hash = try #require(prepared.venueOrderID)
        #expect(hash.hasPrefix("0x") && hash.count == 66)
        #expect(harness.exchange.requests.isEmpty, "prepare sent something")
        let ack = try await harness.venue.submit(prepared)
        #expect(ack.order.venueOrderID == hash && harness.exchange.orders.first?.hash == hash)
        #expect(ack.order.status == .filled && ack.order.filledQuantity == Quantity(contracts: 10))
        #expect(harness.allSigned)
    }

    @Test("the signature made beside the intent commit is the one posted: the exchange recovers the wallet from it over the order's fields, whose hash is the prepared id")
    func signatureBesideTheCommit() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        // Both tokens (one neg-risk: the other exchange's domain), prepared back to back as a
        // begin transaction prepares its legs, then submitted together.
        let prepared = [harness.prepare("c-a", token: polymarketTokenYes), harness.prepare("c-b", token: polymarketTokenNo, price: 5_200)]
        #expect(harness.exchange.requests.isEmpty, "prepare sent something")
        async let first = harness.venue.submit(prepared[0])
        async let second = harness.venue.submit(prepared[1])
        let acks = try await [first, second]
        #expect(acks.map(\.order.venueOrderID) == prepared.map(\.venueOrderID))
        let posts = harness.exchange.requests.filter { $0.method == "POST" }
        #expect(posts.count == 2 && posts.allSatisfy { $0.orderSignatureValid == true && $0.hmacValid })
        #expect(Set(harness.exchange.orders.map(\.hash)) == Set(prepared.compactMap(\.venueOrderID)))
    }

    @Test("the POST /order written beside the intent commit is sent as written while fresh (its L2 timestamp is prepare's); older than 5 s it is signed afresh")
    func requestWrittenAhead() async throws {
        let clock = SettableClock(milliseconds: 1_800_000_000_000)
        let harness = try await PolymarketHarness(clock: clock)
        defer { Task { await harness.stop() } }
        let fresh = harness.prepare("c-fresh")
        clock.set(1_800_000_001_900)
        _ = try await harness.venue.submit(fresh)
        let stale = harness.prepare("c-stale")
        clock.set(1_800_000_008_000)
        _ = try await harness.venue.submit(stale)
        let posts = harness.exchange.requests.filter { $0.method == "POST" && $0.uri == "/order" }
        #expect(posts.map(\.timestamp) == ["1800000000", "1800000008"])
        #expect(posts.allSatisfy { $0.hmacValid && $0.orderSignatureValid == true })
    }

    @Test("matched: fills read from /data/trades page by page, the fee at the trade's rate; a neg-risk token signs for its exchange")
    func matchedWithFills() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.tradesPerPage = 1
        harness.exchange.script([.match(hundredths: 300)], token: polymarketTokenNo)
        let prepared = harness.prepare("c-1", token: polymarketTokenNo, timeInForce: .gtc)
        let ack = try await harness.venue.submit(prepared)
        #expect(ack.order.status == .partiallyFilled && ack.order.filledQuantity == Quantity(contracts: 3))
        harness.exchange.fillResting(hash: prepared.venueOrderID ?? "", hundredths: 200)
        let fills = try await harness.venue.fills(clientOrderID: "c-1")
        #expect(fills.map(\.quantity) == [Quantity(contracts: 3), Quantity(contracts: 2)])
        #expect(fills.allSatisfy { $0.price == Price(uncheckedTicks: 4_700) })
        // 3 × 0.03 × 0.47 × 0.53 = 0.022419 at the trade's 300 bps.
        #expect(fills.first?.fee == FeeModel.polymarketTaker(rateBps: 300, exponent: 1).fee(price: Price(uncheckedTicks: 4_700),
                                                                                             quantity: Quantity(contracts: 3)))
        #expect(harness.allSigned)
    }

    @Test("an order's trades are read from a minute before it was placed (after=, Unix s): an older order's trades on the token are not paged through")
    func tradesReadFromThePlacingTime() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.tradesPerPage = 1
        // An hour-old order on the same token, with three trades.
        harness.exchange.script([.match(hundredths: 100)], token: polymarketTokenNo)
        let old = harness.prepare("c-old", token: polymarketTokenNo, timeInForce: .gtc)
        _ = try await harness.venue.submit(old)
        harness.exchange.fillResting(hash: old.venueOrderID ?? "", hundredths: 100)
        harness.exchange.fillResting(hash: old.venueOrderID ?? "", hundredths: 100)
        harness.exchange.backdateTrades(orderHash: old.venueOrderID ?? "", seconds: 3_600)

        let placed = SystemClock().nowMilliseconds()
        harness.exchange.script([.match(hundredths: 300)], token: polymarketTokenNo)
        let new = harness.prepare("c-new", token: polymarketTokenNo, timeInForce: .gtc)
        _ = try await harness.venue.submit(new)
        harness.exchange.fillResting(hash: new.venueOrderID ?? "", hundredths: 200)
        let readsBefore = harness.exchange.requests.filter { $0.uri.hasPrefix("/data/trades") }.count
        let fills = try await harness.venue.fills(clientOrderID: "c-new")
        #expect(fills.map(\.quantity) == [Quantity(contracts: 3), Quantity(contracts: 2)])
        let reads = harness.exchange.requests.filter { $0.uri.hasPrefix("/data/trades") }.dropFirst(readsBefore)
        #expect(reads.count == 2, "\(reads.count) pages read for the new order's two trades (one a page): the old order's three were paged through")
        let after = try #require(reads.first.flatMap { URLComponents(string: $0.uri)?.queryItems?.first { $0.name == "after" }?.value }
            .flatMap { Int64($0) })
        #expect((placed - 60_000) / 1_000 - 1 ... (placed - 60_000) / 1_000 + 1 ~= after, "after=\(after)")
    }

    @Test("a trade of this order whose size cannot be read fails the read as malformed, never skipped or guessed; another order's is not looked at")
    func unreadableTradeSize() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.match(hundredths: 300)], token: polymarketTokenNo)
        let prepared = harness.prepare("c-1", token: polymarketTokenNo, timeInForce: .gtc)
        _ = try await harness.venue.submit(prepared)
        harness.exchange.tradeSizeText = "three"
        do {
            let fills = try await harness.venue.fills(clientOrderID: "c-1")
            Issue.record("read as \(fills)")
        } catch let error as VenueError {
            guard case .malformed(let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("c-1") && reason.contains("size"), "\(reason)")
        }
        // An order with no trade of its own reads none, whatever the others' say.
        _ = harness.prepare("c-2", token: polymarketTokenNo, timeInForce: .gtc)
        #expect(try await harness.venue.fills(clientOrderID: "c-2").isEmpty)
    }

    @Test("an unwind order a previous process sent is found after a restart: the directory reads it (request, hash, time) from unwind_orders")
    func unwindOrderAfterRestart() async throws {
        let directory = TemporaryDirectory()
        let store = try Store(path: directory.path("arb.db"), durability: .normal)
        let new = NewOpportunity(
            eventID: "EV", legA: LegQuote(venue: "polymarket", outcome: "YES", instrument: polymarketTokenYes, price: Price(ticks: 4_700)!),
            legB: LegQuote(venue: "paper", outcome: "NO", instrument: "P-1", price: Price(ticks: 5_000)!),
            edgeBps: 300, quantity: Quantity(contracts: 10), expectedFees: .zero, detectedAtMilliseconds: SystemClock().nowMilliseconds())
        guard case .created(let id) = try store.createOpportunity(new) else { Issue.record("not created"); return }
        let path = [OpportunityEvent.riskGatePassed, .imbalanced, .cancelSent].map { TransitionStep($0, reason: "test") }
        #expect(try store.advance(id, from: .detected, steps: path, at: SystemClock().nowMilliseconds()) == .applied(.cancelAttempted))
        let clientOrderID = store.clientOrderID(opportunity: id, unwindAttempt: 1)
        let ledger = Ledger(store: store)

        // The first process persists its unwind order (with the hash prepare computed), then sends it.
        let first = try await PolymarketHarness(directory: LedgerPolymarketDirectory(slot: LedgerSlot(ledger)))
        defer { Task { await first.stop() } }
        first.exchange.script([.match(hundredths: 1_000)], token: polymarketTokenNo)
        var intent = UnwindOrderIntent(attempt: 1, action: .complete, venue: "polymarket", instrument: polymarketTokenNo,
                                       limitPrice: Price(ticks: 5_200)!, boundPrice: Price(ticks: 5_400)!, quantity: Quantity(contracts: 10),
                                       exposure: Quantity(contracts: 10), lossBudget: Money(cents: 200),
                                       clientOrderID: clientOrderID)
        let prepared = first.venue.prepare(intent.request)
        intent.venueOrderID = prepared.venueOrderID
        let persisted = intent
        let started = try await ledger.withStore { store in
            try store.transition(id, from: .cancelAttempted, TransitionStep(.unwindStarted, reason: "unwind: complete"),
                                 at: SystemClock().nowMilliseconds(), changes: TransitionChanges(unwindOrders: [persisted]))
        }
        #expect(started == .applied(.unwinding))
        _ = try await first.venue.submit(prepared)

        // A new process: another adapter over the same CLOB and database, which never saw the order.
        let second = try await PolymarketHarness(directory: LedgerPolymarketDirectory(slot: LedgerSlot(ledger)), exchange: first.exchange)
        defer { Task { second.venue.stopHeartbeats(); await second.transport.shutdown() } }
        let order = try #require(try await second.venue.order(clientOrderID: intent.clientOrderID), "the unwind order was not found")
        #expect(order.venueOrderID == prepared.venueOrderID && order.filledQuantity == Quantity(contracts: 10))
        #expect(try await second.venue.fills(clientOrderID: intent.clientOrderID).map(\.quantity) == [Quantity(contracts: 10)])
    }

    @Test("a trades read that would need more pages than the limit fails as unavailable, never answers with part of the fills")
    func tradePagesLimited() async throws {
        let harness = try await PolymarketHarness(maxTradePages: 2)
        defer { Task { await harness.stop() } }
        harness.exchange.tradesPerPage = 1
        harness.exchange.script([.match(hundredths: 100)], token: polymarketTokenNo)
        let prepared = harness.prepare("c-1", token: polymarketTokenNo, timeInForce: .gtc)
        _ = try await harness.venue.submit(prepared)
        harness.exchange.fillResting(hash: prepared.venueOrderID ?? "", hundredths: 100)
        #expect(try await harness.venue.fills(clientOrderID: "c-1").count == 2)
        harness.exchange.fillResting(hash: prepared.venueOrderID ?? "", hundredths: 100)
        await #expect(throws: VenueError.self) { try await harness.venue.fills(clientOrderID: "c-1") }
        do {
            _ = try await harness.venue.fills(clientOrderID: "c-1")
        } catch let error as VenueError {
            guard case .unavailable(let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("more than 2 pages"), "\(reason)")
        }
    }

    @Test("the user channel's trade updates: each status of a trade of this run's order is read back and pushed once, with the certainty the read gives")
    func announcedTrades() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.match(hundredths: 300)], token: polymarketTokenNo)
        let prepared = harness.prepare("c-1", token: polymarketTokenNo, timeInForce: .gtc)
        _ = try await harness.venue.submit(prepared)
        let hash = try #require(prepared.venueOrderID)
        let trade = try #require(harness.exchange.trades.first)
        let pushed = Mutex<[VenueEvent]>([])
        let reading = Task { [events = harness.venue.events] in for await event in events { pushed.withLock { $0.append(event) } } }
        defer { reading.cancel() }
        await harness.venue.tradeAnnounced(orderHash: hash.uppercased(), tradeID: trade.id, status: "MATCHED")
        await harness.venue.tradeAnnounced(orderHash: hash, tradeID: trade.id, status: "MATCHED")
        await harness.venue.tradeAnnounced(orderHash: "0xnotours", tradeID: "t-x", status: "MATCHED")
        #expect(await waitUntil(timeoutSeconds: 5) { pushed.withLock { $0 }.count >= 1 })
        // The loopback CLOB confirms a MATCHED trade once it has been read.
        await harness.venue.tradeAnnounced(orderHash: hash, tradeID: trade.id, status: "CONFIRMED")
        #expect(await waitUntil(timeoutSeconds: 5) { pushed.withLock { $0 }.count >= 2 })
        try await Task.sleep(for: .milliseconds(200))
        let fills = pushed.withLock { $0 }.compactMap { event -> FillReport? in if case .fill(let fill) = event { fill } else { nil } }
        #expect(fills.map(\.certainty) == [.provisional, .certain], "\(fills)")
        #expect(fills.allSatisfy { $0.tradeID == trade.id && $0.clientOrderID == "c-1" && $0.quantity == Quantity(contracts: 3) })
    }

    @Test("a tick size change from the market channel is what the next order is signed with; an unknown tick or token changes nothing")
    func tickChange() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        #expect(harness.venue.currentTick(token: polymarketTokenYes) == .hundredth)
        harness.venue.tickChanged(token: polymarketTokenYes, tick: Price(ticks: 10)!)
        #expect(harness.venue.currentTick(token: polymarketTokenYes) == .thousandth)
        harness.venue.tickChanged(token: polymarketTokenYes, tick: Price(ticks: 7)!)
        harness.venue.tickChanged(token: "999", tick: Price(ticks: 10)!)
        #expect(harness.venue.currentTick(token: polymarketTokenYes) == .thousandth && harness.venue.currentTick(token: "999") == nil)
        // 0.473 is on the new 0.001 grid only: signed, where the config's 0.01 would refuse it.
        let prepared = harness.prepare("c-t", price: 4_730)
        #expect(prepared.venueOrderID != nil, "not signed on the new grid")
        let other = harness.prepare("c-u", token: polymarketTokenNo, price: 4_730)
        #expect(other.venueOrderID == nil, "the other token kept its 0.01 grid")
    }

    @Test("the user channel names our orders in each trade (taker and makers) with its status; pongs and others are not trades")
    func userChannelMessages() {
        var channel = PolymarketUserChannel()
        let text = #"[{"event_type":"trade","id":"t-1","status":"matched","taker_order_id":"0xaa","maker_orders":[{"order_id":"0xbb","matched_amount":"3"}]},{"event_type":"order","id":"0xcc","type":"PLACEMENT"}]"#
        #expect(channel.apply(Array(text.utf8)) == [.orderFilled(venueOrderID: "0xaa", tradeID: "t-1", status: "MATCHED"),
                                                             .orderFilled(venueOrderID: "0xbb", tradeID: "t-1", status: "MATCHED")])
        #expect(channel.apply(Array("PONG".utf8)).isEmpty && channel.counts.messages == 2)
        let spec = PolymarketUserFeedSpec(venue: "polymarket", url: "ws://x/ws/user", credentials: polymarketTestCredentials, markets: ["0x01"])
        #expect(spec.subscribeMessages() == [#"{"auth":{"apiKey":"\#(polymarketTestCredentials.apiKey)","secret":"\#(polymarketTestCredentials.secret)","passphrase":"\#(polymarketTestCredentials.passphrase)"},"markets":["0x01"],"type":"user"}"#])
    }

    @Test("live then matched; a cancel of a matched order is alreadyDone with size_matched; a live one cancels")
    func liveThenMatched() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.live, .live], token: polymarketTokenYes)
        let first = harness.prepare("c-1", timeInForce: .gtc)
        #expect(try await harness.venue.submit(first).order.status == .open)
        harness.exchange.fillResting(hash: first.venueOrderID ?? "", hundredths: 1_000)
        #expect(try await harness.venue.order(clientOrderID: "c-1")?.status == .filled)
        guard case .alreadyDone(let done) = try await harness.venue.cancel(clientOrderID: "c-1") else {
            Issue.record("a matched order's cancel was not alreadyDone")
            return
        }
        #expect(done.filledQuantity == Quantity(contracts: 10))
        _ = try await harness.venue.submit(harness.prepare("c-2", timeInForce: .gtc))
        guard case .cancelled(let cancelled) = try await harness.venue.cancel(clientOrderID: "c-2") else {
            Issue.record("a live order did not cancel")
            return
        }
        #expect(cancelled.filledQuantity == .zero && harness.exchange.orders.last?.status == "CANCELED")
    }

    @Test("delayed is not final: the order is read back; unmatched is killed with nothing filled")
    func delayedAndUnmatched() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.delayed, .unmatched], token: polymarketTokenYes)
        let delayed = try await harness.venue.submit(harness.prepare("c-1"))
        #expect(delayed.order.status == .filled && delayed.order.filledQuantity == Quantity(contracts: 10))
        let unmatched = try await harness.venue.submit(harness.prepare("c-2"))
        #expect(unmatched.order.status == .cancelled && unmatched.order.filledQuantity == .zero)
    }

    @Test("refusals: a FOK that cannot fill, not enough balance — rejected with the venue's words; 425 is unavailable, never a refusal")
    func refusals() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.match(hundredths: 500), .refuse("not enough balance / allowance"), .restarting],
                                token: polymarketTokenYes)
        for (id, tif, expected) in [("c-1", TimeInForce.fok, "FOK orders are fully filled or killed"),
                                    ("c-2", .ioc, "not enough balance / allowance")] {
            let error = await #expect(throws: VenueError.self) { try await harness.venue.submit(harness.prepare(id, timeInForce: tif)) }
            guard case .rejected(let reason)? = error else { Issue.record("\(id) not rejected: \(String(describing: error))"); continue }
            #expect(reason.contains(expected), "\(reason)")
        }
        let restarting = await #expect(throws: VenueError.self) { try await harness.venue.submit(harness.prepare("c-3")) }
        guard case .unavailable? = restarting else { Issue.record("425 was \(String(describing: restarting))"); return }
        #expect(harness.exchange.orders.isEmpty)
    }

    @Test("a lost answer after placement: ambiguous, then found by its hash with its fills; a never-sent hash is not found")
    func lostAnswer() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.script([.resetAfterPlacing], token: polymarketTokenYes)
        let error = await #expect(throws: VenueError.self) { try await harness.venue.submit(harness.prepare("c-1")) }
        guard case .ambiguous? = error else { Issue.record("not ambiguous: \(String(describing: error))"); return }
        let order = try #require(try await harness.venue.order(clientOrderID: "c-1"))
        #expect(order.status == .filled && order.filledQuantity == Quantity(contracts: 10))
        #expect(try await harness.venue.fills(clientOrderID: "c-1").map(\.quantity) == [Quantity(contracts: 10)])
        _ = harness.prepare("c-2")
        #expect(try await harness.venue.order(clientOrderID: "c-2") == nil)
    }

    @Test("fills are provisional until CONFIRMED; a FAILED trade is reported as failed and the order's matched size falls back")
    func provisionalAndFailed() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.autoConfirm = false
        let prepared = harness.prepare("c-1")
        _ = try await harness.venue.submit(prepared)
        #expect(try await harness.venue.fills(clientOrderID: "c-1").map(\.certainty) == [.provisional])
        harness.exchange.failTrade(orderHash: prepared.venueOrderID ?? "")
        #expect(try await harness.venue.fills(clientOrderID: "c-1").map(\.certainty) == [.failed])
        #expect(try await harness.venue.order(clientOrderID: "c-1")?.filledQuantity == .zero)
        harness.exchange.autoConfirm = true
        _ = try await harness.venue.submit(harness.prepare("c-2"))
        #expect(try await harness.venue.fills(clientOrderID: "c-2").map(\.certainty) == [.provisional])
        #expect(try await harness.venue.fills(clientOrderID: "c-2").map(\.certainty) == [.certain])
    }

    @Test("balance and positions from /balance-allowance; wrong credentials are a refusal, never retried")
    func balanceAndCredentials() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        harness.exchange.balanceMicros = 1_234_567_890
        #expect(try await harness.venue.balance() == Money(micros: 1_234_567_890))
        _ = try await harness.venue.submit(harness.prepare("c-1", contracts: 4))
        let positions = try await harness.venue.positions()
        #expect(positions.map(\.instrument) == [polymarketTokenYes] && positions.first?.quantity == Quantity(contracts: 4))
        // A token balance arb cannot read is not a zero position.
        harness.exchange.conditionalBalanceText = "null"
        await #expect(throws: VenueError.malformed(reason: "balance-allowance for token \(polymarketTokenNo): balance is not a non-negative integer string")) {
            try await harness.venue.positions()
        }
        harness.exchange.conditionalBalanceText = nil

        let wrong = PolymarketCredentials(apiKey: polymarketTestCredentials.apiKey, secret: "d3Jvbmctc2VjcmV0",
                                          passphrase: polymarketTestCredentials.passphrase)
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let other = try PolymarketVenue(
            options: .init(name: "polymarket", baseURL: harness.exchange.baseURL, feeModel: .free, signatureType: 0, funder: nil,
                           markets: [polymarketTokenYes: PolymarketTokenMarket(tick: .hundredth, negRisk: false)]),
            key: harness.key, credentials: wrong, directory: nil, clock: SystemClock(), logger: logger)
        let before = harness.exchange.requests.count
        let error = await #expect(throws: VenueError.self) {
            try await other.submit(other.prepare(OrderRequest(clientOrderID: "x", instrument: polymarketTokenYes, side: .buy,
                                                              limitPrice: Price(uncheckedTicks: 4_700), quantity: Quantity(contracts: 1),
                                                              timeInForce: .ioc)))
        }
        guard case .rejected(let reason)? = error else { Issue.record("not rejected"); return }
        #expect(reason.contains("refused the API credentials") && !reason.contains("d3Jvbmc"))
        #expect(harness.exchange.requests.count == before + 1)
    }

    @Test("an off-grid price or an unknown token is refused at submit, and nothing is sent")
    func refusedBeforeSending() async throws {
        let harness = try await PolymarketHarness()
        defer { Task { await harness.stop() } }
        let offGrid = harness.prepare("c-1", price: 4_750)
        #expect(offGrid.venueOrderID == nil)
        await #expect(throws: VenueError.rejected(reason: "price 0.4750 is not on the market's 0.01 grid within [0.01, 1 − 0.01]")) {
            try await harness.venue.submit(offGrid)
        }
        await #expect(throws: VenueError.self) { try await harness.venue.submit(harness.prepare("c-2", token: "999")) }
        #expect(harness.exchange.requests.isEmpty)
    }
}

/// Wall time set by the test; monotonic time and sleeps are the machine's.
final class SettableClock: TradingClock {
    private let now: Mutex<Int64>
    init(milliseconds: Int64) { now = Mutex(milliseconds) }
    func set(_ milliseconds: Int64) { now.withLock { $0 = milliseconds } }
    func nowMilliseconds() -> Int64 { now.withLock { $0 } }
    func monotonicNanoseconds() -> UInt64 { SystemClock().monotonicNanoseconds() }
    func sleep(milliseconds: Int64) async throws { try await SystemClock().sleep(milliseconds: milliseconds) }
}

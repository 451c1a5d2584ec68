import ArbEngine
import Foundation
import LoopbackHTTP
import OrderStateMachine
import PolymarketVenue
import Synchronization

/// Polymarket's CLOB V2 subset arb uses, on the loopback exchange: REST with every request's L2
/// HMAC checked (401 otherwise) and every posted order's EIP-712 signature recovered to the
/// account's wallet (400 otherwise); the market channel (`/ws/market`: a `book` per token at
/// subscribe, then `price_change` with absolute sizes; `PING` answered `PONG`) and the user
/// channel (`/ws/user`: the credentials checked, then `trade` messages, MATCHED at the fill and
/// CONFIRMED a moment later — or FAILED, for the trades the `failed` fault picks, whose fill is
/// then taken back).
///
/// Polymarket has no client order id: the paper venue files each order under its order hash.
final class LoopbackPolymarket: Sendable {
    struct Market: Sendable {
        var conditionID: String
        var tokens: [String]
        var negRisk: Bool
        var tick: String
        var feeRateBps: Int64
    }

    let ledger: LoopbackLedger
    let wallet: String
    let credentials: PolymarketCredentials
    let markets: [String: Market]
    let faults: LoopbackFaults
    let dice: LoopbackDice
    let counters: LoopbackCounters
    let seed: UInt64
    /// A trade is MATCHED this long, then CONFIRMED (or FAILED).
    let confirmAfterMilliseconds: Int64
    private let state = Mutex(State())

    struct Subscriber {
        let connection: LoopbackConnection
        var tokens: Set<String> = []
        var user = false
    }

    struct Book {
        var bid: (price: Int64, size: Int64)?
        var ask: (price: Int64, size: Int64)?
    }

    struct State {
        var subscribers: [ObjectIdentifier: Subscriber] = [:]
        var books: [String: Book] = [:]
        /// Market messages are held back until then (the `silent` fault).
        var silentUntil: Int64 = 0
        var nextSilence: Int64 = 0
    }

    init(ledger: LoopbackLedger, wallet: String, credentials: PolymarketCredentials, markets: [Market], faults: LoopbackFaults,
         seed: UInt64, counters: LoopbackCounters, confirmAfterMilliseconds: Int64 = 300) {
        self.ledger = ledger
        self.wallet = wallet.lowercased()
        self.credentials = credentials
        self.markets = Dictionary(markets.map { ($0.conditionID, $0) }, uniquingKeysWith: { first, _ in first })
        self.faults = faults
        self.dice = LoopbackDice(seed: seed, name: "polymarket faults")
        self.seed = seed
        self.counters = counters
        self.confirmAfterMilliseconds = confirmAfterMilliseconds
    }

    var venue: PaperVenue { ledger.venue }

    private func market(token: String) -> Market? { markets.values.first { $0.tokens.contains(token) } }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    /// Whether the trade fails on chain (the `failed` fault): drawn from the seed and its id, so
    /// every read, and a restarted exchange, agree.
    func failing(_ tradeID: String) -> Bool {
        guard faults.failedTradePercent > 0 else { return false }
        var generator = SeededGenerator.derived(seed: seed, name: "failed \(tradeID)")
        return Int(generator.next() % 100) < faults.failedTradePercent
    }

    /// The trade's status now: MATCHED until `confirmAfterMilliseconds` have passed, then
    /// CONFIRMED or FAILED. A trade the file records as failed stays FAILED whatever this run's
    /// faults: an exchange restarted without the `failed` fault (the wire soak's last restart)
    /// once called such a trade CONFIRMED while its order's matched size stayed taken back, and
    /// recovery, rightly, refused to close an opportunity on those two answers.
    func status(_ fill: FillReport, now: Int64) -> String {
        if ledger.hasFailed(tradeID: fill.tradeID) { return "FAILED" }
        guard now - fill.filledAtMilliseconds >= confirmAfterMilliseconds else { return "MATCHED" }
        return failing(fill.tradeID) ? "FAILED" : "CONFIRMED"
    }

    /// Takes back the fills of `hash` whose trades have failed by now, before anything about the
    /// order is answered.
    func settle(_ hash: String) async throws {
        guard faults.failedTradePercent > 0 else { return }
        let now = Self.now()
        for fill in try await venue.fills(clientOrderID: hash) where status(fill, now: now) == "FAILED" {
            try ledger.fail(fill, now: now)
        }
    }

    func settleAll() async throws {
        guard faults.failedTradePercent > 0 else { return }
        for entry in ledger.entries(instruments: markets.values.flatMap(\.tokens)) where !entry.rejected {
            try await settle(entry.clientOrderID)
        }
    }

    // MARK: - REST

    func answer(_ request: LoopbackRequest) async -> LoopbackAnswer {
        if faults.delayMilliseconds > 0 {
            try? await Task.sleep(for: .milliseconds(dice.upTo(faults.delayMilliseconds)))
        }
        let path = request.path
        guard verifyL2(method: request.method, path: path, headers: request.headers, body: request.bodyText) else {
            counters.add(.refusedSignatures)
            return .respond(401, #"{"error":"Unauthorized/Invalid api key"}"#)
        }
        if dice.roll(faults.serverErrorPercent) {
            counters.add(.serverErrors)
            return .respond(500, #"{"error":"injected server error"}"#)
        }
        do {
            switch (request.method, path) {
            case ("GET", "/version"): return .respond(200, #"{"version":2}"#)
            case ("POST", "/v1/heartbeats"):
                return .respond(200, "{\"heartbeat_id\":\"hb-\(Self.now())\"}")
            case ("POST", "/order"):
                if dice.roll(faults.restartingPercent) {
                    counters.add(.restarting)
                    return .respond(425, #"{"error":"the matching engine is restarting"}"#)
                }
                return try await post(request.body)
            case ("DELETE", "/order"):
                let object = LoopbackText.object(request.body)
                let hash = (object?["orderID"] as? String ?? "").lowercased()
                try await settle(hash)
                return try await cancel(hash)
            case ("GET", let route) where route.hasPrefix("/data/order/"):
                let hash = String(route.dropFirst("/data/order/".count)).lowercased()
                try await settle(hash)
                guard let order = try await venue.order(clientOrderID: hash), order.status != .rejected else { return .respond(200, "null") }
                return .respond(200, orderJSON(order))
            case ("GET", "/data/trades"): return try await trades(request.query)
            case ("GET", let route) where route.hasPrefix("/clob-markets/"):
                guard let market = markets[String(route.dropFirst("/clob-markets/".count))] else {
                    return .respond(404, #"{"error":"market not found"}"#)
                }
                let tokens = market.tokens.map { "{\"t\":\(JSONText.quoted($0))}" }.joined(separator: ",")
                let rate = LoopbackText.ticks(market.feeRateBps)
                return .respond(200, "{\"t\":[\(tokens)],\"mts\":\(market.tick),\"nr\":\(market.negRisk),\"fd\":{\"r\":\(rate),\"e\":1}}")
            case ("GET", "/balance-allowance"):
                try await settleAll()
                if request.query["asset_type"] == "CONDITIONAL" {
                    let token = request.query["token_id"] ?? ""
                    let held = try await venue.positions().filter { $0.instrument == token }.reduce(Int64(0)) { $0 + $1.quantity.hundredths }
                    return .respond(200, "{\"balance\":\"\(max(0, held) * 10_000)\",\"allowances\":{}}")
                }
                let balance = try await venue.balance()
                return .respond(200, "{\"balance\":\"\(balance.micros)\",\"allowances\":{\"\(PolymarketExchange.exchange)\":\"1000000000000000\","
                    + "\"\(PolymarketExchange.negRiskExchange)\":\"1000000000000000\"}}")
            default: return .respond(404, #"{"error":"not found"}"#)
            }
        } catch let error as VenueError {
            return LoopbackKalshi.answer(error)
        } catch {
            return .respond(500, "{\"error\":\(JSONText.quoted("\(error)"))}")
        }
    }

    private func verifyL2(method: String, path: String, headers: [String: String], body: String?) -> Bool {
        guard headers["POLY_ADDRESS"]?.lowercased() == wallet, headers["POLY_API_KEY"] == credentials.apiKey,
              headers["POLY_PASSPHRASE"] == credentials.passphrase, let stamp = headers["POLY_TIMESTAMP"],
              let signature = headers["POLY_SIGNATURE"],
              let expected = try? PolymarketL2.signature(secret: credentials.secret, timestamp: stamp, method: method, path: path, body: body)
        else { return false }
        return signature == expected
    }

    /// The order's EIP-712 digest (its hash) and whether its signature recovers to the wallet.
    private func digest(_ order: [String: Any]) -> (hash: String, signedByWallet: Bool)? {
        guard let salt = order["salt"] as? Int, salt >= 0, let maker = order["maker"] as? String, let signer = order["signer"] as? String,
              let token = order["tokenId"] as? String, let makerAmount = order["makerAmount"] as? String,
              let takerAmount = order["takerAmount"] as? String, let side = order["side"] as? String, ["BUY", "SELL"].contains(side),
              let signatureType = order["signatureType"] as? Int, signatureType >= 0, let timestamp = order["timestamp"] as? String,
              let signature = (order["signature"] as? String).flatMap(Hex.bytes),
              let tokenWord = EIP712.uint256(decimal: token), let makerWord = EIP712.uint256(decimal: makerAmount),
              let takerWord = EIP712.uint256(decimal: takerAmount), let stampWord = EIP712.uint256(decimal: timestamp),
              let makerBytes = Hex.bytes(maker), let signerBytes = Hex.bytes(signer), let market = market(token: token)
        else { return nil }
        let structHash = EIP712.hashStruct(type: PolymarketExchange.orderType, [
            .uint(EIP712.uint256(UInt64(salt))), .address(makerBytes), .address(signerBytes), .uint(tokenWord), .uint(makerWord),
            .uint(takerWord), .uint(EIP712.uint256(side == "BUY" ? 0 : 1)), .uint(EIP712.uint256(UInt64(signatureType))),
            .uint(stampWord), .bytes32([UInt8](repeating: 0, count: 32)), .bytes32([UInt8](repeating: 0, count: 32)),
        ])
        let digest = EIP712.digest(domainSeparator: PolymarketExchange.domainSeparator(negRisk: market.negRisk), structHash: structHash)
        let recovered = EthereumKey.recover(digest: digest, signature: signature)
        return (Hex.string(digest), recovered == signer.lowercased() && recovered == wallet)
    }

    private func post(_ body: [UInt8]) async throws -> LoopbackAnswer {
        guard let object = LoopbackText.object(body), let order = object["order"] as? [String: Any],
              let token = order["tokenId"] as? String, let side = order["side"] as? String,
              let makerAmount = (order["makerAmount"] as? String).flatMap({ Int64($0) }),
              let takerAmount = (order["takerAmount"] as? String).flatMap({ Int64($0) }), makerAmount > 0, takerAmount > 0,
              let orderType = object["orderType"] as? String, object["owner"] as? String == credentials.apiKey,
              let (hash, signed) = digest(order)
        else { return .respond(400, #"{"errorMsg":"invalid order payload"}"#) }
        guard signed else {
            counters.add(.refusedSignatures)
            return .respond(400, #"{"errorMsg":"invalid signature"}"#)
        }
        let timeInForce: TimeInForce
        switch orderType {
        case "GTC", "GTD": timeInForce = .gtc
        case "FOK": timeInForce = .fok
        case "FAK": timeInForce = .ioc
        default: return .respond(400, #"{"errorMsg":"invalid order type"}"#)
        }
        let shares = side == "BUY" ? takerAmount : makerAmount
        let collateral = side == "BUY" ? makerAmount : takerAmount
        guard shares % 10_000 == 0, (collateral * 10_000) % shares == 0,
              let price = Price(ticks: collateral * 10_000 / shares), let quantity = Quantity(hundredths: shares / 10_000) else {
            return .respond(400, #"{"errorMsg":"invalid amounts: the price or size is off the market's grid"}"#)
        }
        let request = OrderRequest(clientOrderID: hash, instrument: token, side: side == "BUY" ? .buy : .sell, limitPrice: price,
                                   quantity: quantity, timeInForce: timeInForce)
        let placed: VenueOrder
        switch try await ledger.place(request, now: Self.now()) {
        case .placed(let order): placed = order
        case .lost: return .reset
        case .duplicate:
            return .respond(200, "{\"success\":false,\"errorMsg\":\"order already exists\",\"orderID\":\(JSONText.quoted(hash))}")
        case .refused(let reason):
            return .respond(200, "{\"success\":false,\"errorMsg\":\(JSONText.quoted(reason)),\"orderID\":\"\",\"status\":\"\"}")
        }
        if dice.roll(faults.dropPercent) {
            counters.add(.droppedAnswers)
            return .reset
        }
        let status = switch placed.status {
        case .open: "live"
        case .cancelled where placed.filledQuantity.isZero: "unmatched"
        default: "matched"
        }
        return .respond(200, "{\"success\":true,\"errorMsg\":\"\",\"orderID\":\(JSONText.quoted(hash)),\"status\":\"\(status)\","
            + "\"makingAmount\":\"\",\"takingAmount\":\"\",\"tradeIDs\":[],\"transactionsHashes\":[]}")
    }

    private func cancel(_ hash: String) async throws -> LoopbackAnswer {
        let answer: CancelAnswer
        do {
            answer = try await venue.cancel(clientOrderID: hash)
        } catch VenueError.unknownOrder {
            return .respond(200, "{\"canceled\":[],\"not_canceled\":{\(JSONText.quoted(hash)):\"order not found\"}}")
        }
        switch answer {
        case .cancelled:
            return .respond(200, "{\"canceled\":[\(JSONText.quoted(hash))],\"not_canceled\":{}}")
        case .alreadyDone:
            return .respond(200, "{\"canceled\":[],\"not_canceled\":{\(JSONText.quoted(hash)):\"order already matched or canceled\"}}")
        case .failed(let reason):
            return .respond(200, "{\"canceled\":[],\"not_canceled\":{\(JSONText.quoted(hash)):\(JSONText.quoted(reason))}}")
        }
    }

    private func trades(_ query: [String: String]) async throws -> LoopbackAnswer {
        let token = query["asset_id"] ?? ""
        // `after` (Unix seconds): only trades matched since then.
        let afterMilliseconds = (query["after"].flatMap { Int64($0) } ?? 0) * 1_000
        let now = Self.now()
        var items: [String] = []
        for entry in ledger.entries(instruments: [token]) where !entry.rejected {
            try await settle(entry.clientOrderID)
            for fill in try await venue.fills(clientOrderID: entry.clientOrderID) where fill.filledAtMilliseconds >= afterMilliseconds {
                items.append(tradeJSON(fill, hash: entry.clientOrderID, token: token, status: status(fill, now: now)))
            }
        }
        let start = query["next_cursor"].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
            .flatMap { Int($0) } ?? 0
        let page = items.dropFirst(max(0, start)).prefix(100)
        let end = max(0, start) + page.count
        let next = end < items.count ? Data("\(end)".utf8).base64EncodedString() : "LTE="
        return .respond(200, "{\"data\":[" + page.joined(separator: ",") + "],\"next_cursor\":\"\(next)\",\"count\":\(page.count)}")
    }

    private func tradeJSON(_ fill: FillReport, hash: String, token: String, status: String) -> String {
        let rate = market(token: token)?.feeRateBps ?? 0
        return "{\"id\":\(JSONText.quoted(fill.tradeID)),\"taker_order_id\":\(JSONText.quoted(hash)),\"asset_id\":\(JSONText.quoted(token)),"
            + "\"side\":\"BUY\",\"size\":\"\(LoopbackText.hundredths(fill.quantity.hundredths))\",\"price\":\"\(LoopbackText.ticks(fill.price.ticks))\","
            + "\"status\":\"\(status)\",\"fee_rate_bps\":\"\(rate)\",\"match_time\":\"\(fill.filledAtMilliseconds / 1_000)\",\"maker_orders\":[]}"
    }

    private func orderJSON(_ order: VenueOrder) -> String {
        let status = switch order.status {
        case .open, .partiallyFilled: "LIVE"
        case .filled: "MATCHED"
        case .cancelled, .rejected: "CANCELED"
        }
        return "{\"id\":\(JSONText.quoted(order.clientOrderID)),\"status\":\"\(status)\",\"asset_id\":\(JSONText.quoted(order.instrument)),"
            + "\"side\":\"\(order.side == .buy ? "BUY" : "SELL")\",\"original_size\":\"\(LoopbackText.hundredths(order.quantity.hundredths))\","
            + "\"size_matched\":\"\(LoopbackText.hundredths(order.filledQuantity.hundredths))\","
            + "\"price\":\"\(LoopbackText.ticks(order.limitPrice.ticks))\",\"associate_trades\":[]}"
    }

    // MARK: - Websockets

    func accepts(path: String) -> Bool { path == "/ws/market" || path == "/ws/user" }

    func connected(_ connection: LoopbackConnection) {
        state.withLock { $0.subscribers[ObjectIdentifier(connection)] = Subscriber(connection: connection, user: connection.path == "/ws/user") }
    }

    func received(_ connection: LoopbackConnection, _ text: String) {
        if text == "PING" {
            connection.send("PONG")
            return
        }
        guard let object = LoopbackText.object(Array(text.utf8)) else { return }
        if connection.path == "/ws/user" {
            let auth = object["auth"] as? [String: Any]
            guard auth?["apiKey"] as? String == credentials.apiKey, auth?["secret"] as? String == credentials.secret,
                  auth?["passphrase"] as? String == credentials.passphrase else {
                counters.add(.refusedSignatures)
                connection.drop()
                return
            }
            return
        }
        let tokens = object["assets_ids"] as? [String] ?? []
        state.withLock { state in
            let key = ObjectIdentifier(connection)
            guard var subscriber = state.subscribers[key] else { return }
            subscriber.tokens.formUnion(tokens)
            state.subscribers[key] = subscriber
            for token in tokens.sorted() {
                connection.send(Self.book(token, state.books[token] ?? Book(), conditionID: market(token: token)?.conditionID ?? ""))
            }
        }
    }

    static func book(_ token: String, _ book: Book, conditionID: String) -> String {
        func levels(_ level: (price: Int64, size: Int64)?) -> String {
            level.map { "[{\"price\":\"\(LoopbackText.ticks($0.price))\",\"size\":\"\(LoopbackText.hundredths($0.size))\"}]" } ?? "[]"
        }
        return "{\"event_type\":\"book\",\"asset_id\":\(JSONText.quoted(token)),\"market\":\(JSONText.quoted(conditionID)),"
            + "\"bids\":\(levels(book.bid)),\"asks\":\(levels(book.ask)),\"timestamp\":\"\(now())\",\"hash\":\"0x0\"}"
    }

    /// A quote from the moving books: the token's bid and ask become its book's only levels,
    /// sent as one `price_change` (absolute sizes; "0" empties a level).
    func quote(_ quote: Quote) {
        let token = quote.instrument
        let now = Self.now()
        state.withLock { state in
            var book = state.books[token] ?? Book()
            var changes: [(price: Int64, size: Int64, side: String)] = []
            func move(_ old: (price: Int64, size: Int64)?, _ new: (price: Int64, size: Int64)?, side: String) {
                if let old, old.price != new?.price { changes.append((old.price, 0, side)) }
                if let new, new.price != old?.price || new.size != old?.size { changes.append((new.price, new.size, side)) }
            }
            let bid = quote.bid.map { (price: $0.ticks, size: quote.bidSize.hundredths) }
            let ask = quote.ask.map { (price: $0.ticks, size: quote.askSize.hundredths) }
            move(book.bid, bid, side: "BUY")
            move(book.ask, ask, side: "SELL")
            book.bid = bid
            book.ask = ask
            state.books[token] = book
            guard !changes.isEmpty else { return }
            if faults.silentMilliseconds > 0 {
                if state.nextSilence == 0 { state.nextSilence = now + 2_000 }
                if now >= state.nextSilence {
                    state.silentUntil = now + faults.silentMilliseconds
                    state.nextSilence = state.silentUntil + 5_000
                    counters.add(.silences)
                }
                if now < state.silentUntil { return }
            }
            let condition = market(token: token)?.conditionID ?? ""
            let items = changes.map {
                "{\"asset_id\":\(JSONText.quoted(token)),\"price\":\"\(LoopbackText.ticks($0.price))\",\"size\":\"\(LoopbackText.hundredths($0.size))\","
                    + "\"side\":\"\($0.side)\",\"hash\":\"0x0\"}"
            }
            let text = "{\"event_type\":\"price_change\",\"market\":\(JSONText.quoted(condition)),\"timestamp\":\"\(now)\","
                + "\"price_changes\":[\(items.joined(separator: ","))]}"
            for key in state.subscribers.keys {
                guard let subscriber = state.subscribers[key] else { continue }
                guard subscriber.connection.isOpen else {
                    state.subscribers[key] = nil
                    continue
                }
                guard !subscriber.user, subscriber.tokens.contains(token) else { continue }
                subscriber.connection.send(text) { [counters] in counters.noteBookFrameFlushed() }
                counters.add(.bookMessages)
            }
        }
    }

    /// A fill of the paper venue, pushed on the user channel: MATCHED now, CONFIRMED later.
    func pushFill(_ fill: FillReport) async {
        guard let token = (try? await venue.order(clientOrderID: fill.clientOrderID))??.instrument else { return }
        push(fill, token: token, status: "MATCHED")
        let delay = confirmAfterMilliseconds
        Task {
            try? await Task.sleep(for: .milliseconds(delay))
            try? await self.settle(fill.clientOrderID)
            self.push(fill, token: token, status: self.status(fill, now: Self.now()))
        }
    }

    private func push(_ fill: FillReport, token: String, status: String) {
        let text = "{\"event_type\":\"trade\"," + String(tradeJSON(fill, hash: fill.clientOrderID, token: token, status: status).dropFirst())
        state.withLock { state in
            for subscriber in state.subscribers.values where subscriber.user && subscriber.connection.isOpen {
                subscriber.connection.send(text)
                counters.add(.pushedFills)
            }
        }
    }
}

import Foundation
import LoopbackHTTP
import PolymarketVenue

/// A Polymarket CLOB V2 on 127.0.0.1: it checks every request's L2 HMAC and every posted order's
/// EIP-712 signature (recovering the signer), keeps its own orders and trades, and answers as
/// VENUES.md documents. What the next orders on a token do is scripted; by default an order
/// matches in full.
public final class PolymarketLoopbackExchange: @unchecked Sendable {
    public enum Behaviour: Sendable, Equatable {
        /// Matched at once for this many shares in hundredths (nil: all); an IOC/FOK remainder is killed, a GTC one rests.
        case match(hundredths: Int64?)
        /// Rests (`live`) with nothing matched.
        case live
        /// `delayed`: the market has a matching delay; matched in full a moment later (on the next read).
        case delayed
        /// `unmatched`: an FAK/FOK with nothing to match.
        case unmatched
        /// `success: false` with this `errorMsg`; nothing placed.
        case refuse(String)
        /// HTTP 425: the matching engine is restarting; nothing placed.
        case restarting
        /// Placed and matched in full, then the connection closes with no answer.
        case resetAfterPlacing
    }

    public struct Order: Sendable, Equatable {
        public var hash: String
        public var tokenID: String
        public var side: String
        public var priceTicks: Int64
        public var sizeHundredths: Int64
        public var matchedHundredths: Int64
        public var status: String
        public var orderType: String
    }

    public struct Trade: Sendable, Equatable {
        public var id: String
        public var orderHash: String
        public var tokenID: String
        public var sizeHundredths: Int64
        public var priceTicks: Int64
        public var status: String
        public var feeRateBps: Int64
        /// When it matched, Unix seconds (the exchange's clock).
        public var matchTimeSeconds: Int64 = Int64(Date().timeIntervalSince1970)
    }

    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var hmacValid: Bool
        /// For `POST /order`: whether the order's signature recovered to its signer and the wallet.
        public var orderSignatureValid: Bool?
        /// The L2 `POLY_TIMESTAMP` (seconds) the request carried.
        public var timestamp: String? = nil
        /// When the exchange read it (monotonic ns).
        public var receivedAtNanoseconds: UInt64 = DispatchTime.now().uptimeNanoseconds
    }

    public let wallet: String
    let credentials: PolymarketCredentials
    /// Token id → neg risk (which exchange contract's domain the order is signed for).
    let negRisk: [String: Bool]
    private let lock = NSLock()
    private var _orders: [Order] = []
    private var _trades: [Trade] = []
    private var _requests: [Request] = []
    private var _script: [String: [Behaviour]] = [:]
    private var server: LoopbackHTTPServer?
    public private(set) var port = 0
    public var balanceMicros: Int64 = 1_000_000_000
    public var allowanceMicros: Int64 = 1_000_000_000_000
    public var feeRateBps: Int64 = 300
    public var tradesPerPage = 2
    /// When set, a token's balance (`asset_type=CONDITIONAL`) is answered as this JSON value.
    public var conditionalBalanceText: String?
    /// When set, every trade's `size` is answered as this text (a venue answer arb cannot read).
    public var tradeSizeText: String?
    /// After a trades read has answered, MATCHED trades move on: FAILED for a token in
    /// `failing`, else CONFIRMED (when `autoConfirm`). So the first read sees them provisional.
    public var autoConfirm = true
    private var failing: Set<String> = []

    /// The token's MATCHED trades fail on chain after the next trades read (a hedged pair goes one-sided).
    public func failTrades(token: String) { lock.withLock { _ = failing.insert(token) } }
    /// The token's MATCHED trades fail on chain just before the next trades read answers: the
    /// order was read back MATCHED, but its trade is FAILED by the time arb reads it.
    public func failTradesBeforeRead(token: String) { lock.withLock { _ = failingBeforeRead.insert(token) } }
    private var failingBeforeRead: Set<String> = []

    public init(wallet: String, credentials: PolymarketCredentials, negRisk: [String: Bool]) {
        self.wallet = wallet.lowercased()
        self.credentials = credentials
        self.negRisk = negRisk
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var orders: [Order] { lock.withLock { _orders } }
    public var trades: [Trade] { lock.withLock { _trades } }
    public var requests: [Request] { lock.withLock { _requests } }

    public func script(_ behaviours: [Behaviour], token: String) { lock.withLock { _script[token, default: []] += behaviours } }

    /// Fills a resting order (someone traded against it).
    public func fillResting(hash: String, hundredths: Int64) {
        lock.withLock {
            guard let index = _orders.firstIndex(where: { $0.hash == hash && $0.status == "LIVE" }) else { return }
            match(index, hundredths: hundredths)
        }
    }

    /// Moves the order's trades' match time `seconds` into the past (an older order's history).
    public func backdateTrades(orderHash: String, seconds: Int64) {
        lock.withLock {
            for index in _trades.indices where _trades[index].orderHash == orderHash { _trades[index].matchTimeSeconds -= seconds }
        }
    }

    /// A trade that was MATCHED goes FAILED on chain: the fill is undone.
    public func failTrade(orderHash: String) {
        lock.withLock {
            for index in _trades.indices where _trades[index].orderHash == orderHash {
                _trades[index].status = "FAILED"
                if let order = _orders.firstIndex(where: { $0.hash == orderHash }) {
                    _orders[order].matchedHundredths -= _trades[index].sizeHundredths
                }
            }
        }
    }

    public func start() async throws {
        let server = try await LoopbackHTTPServer.start { [self] request in
            answer(method: request.method, uri: request.uri, headers: request.headers, body: request.bodyText)
        }
        self.server = server
        port = server.port
    }

    public func stop() async { await server?.stop() }

    func answer(method: String, uri: String, headers: [String: String], body: String?) -> LoopbackAnswer {
        let path = String(uri.prefix { $0 != "?" })
        let query = LoopbackRequest(method: method, uri: uri, headers: [:], body: []).query
        if path == "/auth/api-key" || path == "/auth/derive-api-key" {
            let valid = verifyL1(headers)
            return lock.withLock {
                _requests.append(Request(method: method, uri: uri, hmacValid: valid, orderSignatureValid: nil))
                guard valid else { return .respond(401, #"{"error":"Invalid L1 Request headers"}"#) }
                if method == "POST", apiKeyCreated { return .respond(400, #"{"error":"Could not create api key"}"#) }
                apiKeyCreated = true
                return .respond(200, "{\"apiKey\":\(Self.quoted(credentials.apiKey)),\"secret\":\(Self.quoted(credentials.secret)),"
                    + "\"passphrase\":\(Self.quoted(credentials.passphrase))}")
            }
        }
        let hmacValid = verifyL2(method: method, path: path, headers: headers, body: body)
        var orderSignature: Bool?
        var parsedOrder: [String: Any]?
        if method == "POST", path == "/order", let body,
           let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] {
            parsedOrder = object
            orderSignature = verifyOrder(object)
        }
        return lock.withLock {
            _requests.append(Request(method: method, uri: uri, hmacValid: hmacValid, orderSignatureValid: orderSignature,
                                     timestamp: headers["POLY_TIMESTAMP"]))
            guard hmacValid else { return .respond(401, #"{"error":"Unauthorized/Invalid api key"}"#) }
            switch (method, path) {
            case ("GET", "/version"): return .respond(200, #"{"version":2}"#)
            case ("POST", "/v1/heartbeats"):
                let object = body.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                heartbeatIDs.append(object?["heartbeat_id"] as? String ?? "?")
                lastHeartbeat = Date()
                return .respond(200, "{\"heartbeat_id\":\"hb-\(heartbeatIDs.count)\"}")
            case ("POST", "/order"):
                guard let parsedOrder, orderSignature == true else {
                    return .respond(400, #"{"errorMsg":"invalid signature"}"#)
                }
                return post(parsedOrder)
            case ("DELETE", "/order"):
                let object = body.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                return cancel(object?["orderID"] as? String ?? "")
            case ("GET", let route) where route.hasPrefix("/data/order/"):
                let hash = String(route.dropFirst("/data/order/".count)).lowercased()
                guard let index = _orders.firstIndex(where: { $0.hash == hash }) else { return .respond(200, "null") }
                if _orders[index].status == "DELAYED" {
                    // The delay is over: matched in full.
                    _orders[index].status = "LIVE"
                    match(index, hundredths: _orders[index].sizeHundredths)
                }
                return .respond(200, orderJSON(_orders[index]))
            case ("GET", "/data/trades"): return tradesPage(query)
            case ("GET", let route) where route.hasPrefix("/clob-markets/"):
                guard let answer = clobMarkets[String(route.dropFirst("/clob-markets/".count))] else {
                    return .respond(404, #"{"error":"market not found"}"#)
                }
                return .respond(200, answer)
            case ("GET", "/balance-allowance"):
                if query["asset_type"] == "CONDITIONAL" {
                    if let conditionalBalanceText { return .respond(200, "{\"balance\":\(conditionalBalanceText),\"allowances\":{}}") }
                    let held = _trades.filter { $0.tokenID == query["token_id"] && $0.status != "FAILED" }
                        .reduce(Int64(0)) { total, trade in
                            let side = _orders.first { $0.hash == trade.orderHash }?.side
                            return total + (side == "BUY" ? trade.sizeHundredths : -trade.sizeHundredths)
                        }
                    return .respond(200, "{\"balance\":\"\(max(0, held) * 10_000)\",\"allowances\":{}}")
                }
                return .respond(200, "{\"balance\":\"\(balanceMicros)\",\"allowances\":{\"\(PolymarketExchange.exchange)\":\"\(allowanceMicros)\","
                    + "\"\(PolymarketExchange.negRiskExchange)\":\"\(allowanceMicros)\"}}")
            default: return .respond(404, #"{"error":"not found"}"#)
            }
        }
    }

    /// `GET /clob-markets/{condition_id}` answers by condition id (others: 404).
    public var clobMarkets: [String: String] = [:]

    /// Heartbeats received, in order, with the id each carried.
    public private(set) var heartbeatIDs: [String] = []
    private var lastHeartbeat = Date()

    /// The dead-man switch: when no heartbeat came for `seconds`, every resting order is
    /// cancelled by the venue (as Polymarket does when heartbeats stop). Returns how many.
    @discardableResult
    public func expireHeartbeats(olderThan seconds: Double) -> Int {
        lock.withLock {
            guard Date().timeIntervalSince(lastHeartbeat) >= seconds else { return 0 }
            var count = 0
            for index in _orders.indices where _orders[index].status == "LIVE" {
                _orders[index].status = "CANCELED"
                count += 1
            }
            return count
        }
    }

    /// Whether the wallet credentials were already created (a second create is refused; derive answers).
    public var apiKeyCreated = false

    private func verifyL1(_ headers: [String: String]) -> Bool {
        guard let address = headers["POLY_ADDRESS"], address.lowercased() == wallet, let stamp = headers["POLY_TIMESTAMP"].flatMap({ Int64($0) }),
              let nonce = headers["POLY_NONCE"].flatMap({ UInt64($0) }),
              let signature = headers["POLY_SIGNATURE"].flatMap(Hex.bytes) else { return false }
        let digest = PolymarketL1.digest(address: wallet, timestampSeconds: stamp, nonce: nonce)
        return EthereumKey.recover(digest: digest, signature: signature) == wallet
    }

    private func verifyL2(method: String, path: String, headers: [String: String], body: String?) -> Bool {
        guard headers["POLY_ADDRESS"]?.lowercased() == wallet, headers["POLY_API_KEY"] == credentials.apiKey,
              headers["POLY_PASSPHRASE"] == credentials.passphrase, let stamp = headers["POLY_TIMESTAMP"],
              let signature = headers["POLY_SIGNATURE"],
              let expected = try? PolymarketL2.signature(secret: credentials.secret, timestamp: stamp, method: method,
                                                         path: path, body: body)
        else { return false }
        return signature == expected
    }

    /// Recomputes the V2 order's EIP-712 digest from the posted fields and recovers its signer.
    private func verifyOrder(_ body: [String: Any]) -> Bool {
        guard let order = body["order"] as? [String: Any], let salt = order["salt"] as? Int,
              let maker = order["maker"] as? String, let signer = order["signer"] as? String,
              let token = order["tokenId"] as? String, let makerAmount = order["makerAmount"] as? String,
              let takerAmount = order["takerAmount"] as? String, let side = order["side"] as? String,
              let signatureType = order["signatureType"] as? Int, let timestamp = order["timestamp"] as? String,
              let signature = (order["signature"] as? String).flatMap(Hex.bytes),
              let tokenWord = EIP712.uint256(decimal: token), let makerWord = EIP712.uint256(decimal: makerAmount),
              let takerWord = EIP712.uint256(decimal: takerAmount), let stampWord = EIP712.uint256(decimal: timestamp),
              let makerBytes = Hex.bytes(maker), let signerBytes = Hex.bytes(signer)
        else { return false }
        let structHash = EIP712.hashStruct(type: PolymarketExchange.orderType, [
            .uint(EIP712.uint256(UInt64(salt))), .address(makerBytes), .address(signerBytes), .uint(tokenWord), .uint(makerWord),
            .uint(takerWord), .uint(EIP712.uint256(side == "BUY" ? 0 : 1)), .uint(EIP712.uint256(UInt64(signatureType))),
            .uint(stampWord), .bytes32([UInt8](repeating: 0, count: 32)), .bytes32([UInt8](repeating: 0, count: 32)),
        ])
        let digest = EIP712.digest(domainSeparator: PolymarketExchange.domainSeparator(negRisk: negRisk[token] ?? false),
                                   structHash: structHash)
        let recovered = EthereumKey.recover(digest: digest, signature: signature)
        return recovered == signer.lowercased() && recovered == wallet
    }

    // Called with the lock held.
    private func post(_ body: [String: Any]) -> LoopbackAnswer {
        guard let order = body["order"] as? [String: Any], let token = order["tokenId"] as? String,
              let side = order["side"] as? String, let makerAmount = (order["makerAmount"] as? String).flatMap({ Int64($0) }),
              let takerAmount = (order["takerAmount"] as? String).flatMap({ Int64($0) }), let signature = order["signature"] as? String,
              let orderType = body["orderType"] as? String, body["owner"] as? String == credentials.apiKey
        else { return .respond(400, #"{"errorMsg":"invalid order payload"}"#) }
        let shares = side == "BUY" ? takerAmount : makerAmount
        let collateral = side == "BUY" ? makerAmount : takerAmount
        let sizeHundredths = shares / 10_000
        let priceTicks = shares == 0 ? 0 : collateral * 10_000 / shares
        let hash = orderHash(order, token: token)
        _ = signature
        var queue = _script[token] ?? []
        let behaviour = queue.isEmpty ? Behaviour.match(hundredths: nil) : queue.removeFirst()
        _script[token] = queue
        switch behaviour {
        case .refuse(let message):
            return .respond(200, "{\"success\":false,\"errorMsg\":\(Self.quoted(message)),\"orderID\":\"\",\"status\":\"\"}")
        case .restarting: return .respond(425, #"{"error":"the matching engine is restarting"}"#)
        default: break
        }
        if _orders.contains(where: { $0.hash == hash }) {
            return .respond(200, "{\"success\":false,\"errorMsg\":\"order already exists\",\"orderID\":\"\(hash)\"}")
        }
        _orders.append(Order(hash: hash, tokenID: token, side: side, priceTicks: priceTicks, sizeHundredths: sizeHundredths,
                             matchedHundredths: 0, status: "LIVE", orderType: orderType))
        let index = _orders.count - 1
        var status = "live"
        switch behaviour {
        case .match(let hundredths):
            let amount = min(sizeHundredths, hundredths ?? sizeHundredths)
            if orderType == "FOK" && amount < sizeHundredths {
                _orders.removeLast()
                return .respond(200, #"{"success":false,"errorMsg":"order couldn't be fully filled. FOK orders are fully filled or killed.","orderID":""}"#)
            }
            match(index, hundredths: amount)
            if _orders[index].status == "LIVE", orderType != "GTC" { _orders[index].status = "CANCELED" }
            status = amount > 0 ? "matched" : (orderType == "GTC" ? "live" : "unmatched")
        case .live: status = "live"
        case .delayed:
            _orders[index].status = "DELAYED"
            status = "delayed"
        case .unmatched:
            _orders[index].status = "UNMATCHED"
            status = "unmatched"
        case .resetAfterPlacing:
            match(index, hundredths: sizeHundredths)
            return .reset
        case .refuse, .restarting: break
        }
        return .respond(200, "{\"success\":true,\"errorMsg\":\"\",\"orderID\":\"\(hash)\",\"status\":\"\(status)\","
            + "\"makingAmount\":\"\",\"takingAmount\":\"\",\"tradeIDs\":[],\"transactionsHashes\":[]}")
    }

    private func orderHash(_ order: [String: Any], token: String) -> String {
        guard let salt = order["salt"] as? Int, let maker = order["maker"] as? String, let signer = order["signer"] as? String,
              let makerAmount = (order["makerAmount"] as? String).flatMap({ EIP712.uint256(decimal: $0) }),
              let takerAmount = (order["takerAmount"] as? String).flatMap({ EIP712.uint256(decimal: $0) }),
              let stamp = (order["timestamp"] as? String).flatMap({ EIP712.uint256(decimal: $0) }),
              let tokenWord = EIP712.uint256(decimal: token), let signatureType = order["signatureType"] as? Int
        else { return "" }
        let structHash = EIP712.hashStruct(type: PolymarketExchange.orderType, [
            .uint(EIP712.uint256(UInt64(salt))), .address(Hex.bytes(maker) ?? []), .address(Hex.bytes(signer) ?? []), .uint(tokenWord),
            .uint(makerAmount), .uint(takerAmount), .uint(EIP712.uint256(order["side"] as? String == "BUY" ? 0 : 1)),
            .uint(EIP712.uint256(UInt64(signatureType))), .uint(stamp), .bytes32([UInt8](repeating: 0, count: 32)),
            .bytes32([UInt8](repeating: 0, count: 32)),
        ])
        return Hex.string(EIP712.digest(domainSeparator: PolymarketExchange.domainSeparator(negRisk: negRisk[token] ?? false),
                                        structHash: structHash))
    }

    // Called with the lock held.
    private func match(_ index: Int, hundredths: Int64) {
        let order = _orders[index]
        let amount = min(hundredths, order.sizeHundredths - order.matchedHundredths)
        guard amount > 0 else { return }
        _trades.append(Trade(id: "trade-\(_trades.count + 1)", orderHash: order.hash, tokenID: order.tokenID, sizeHundredths: amount,
                             priceTicks: order.priceTicks, status: "MATCHED", feeRateBps: feeRateBps))
        _orders[index].matchedHundredths += amount
        if _orders[index].matchedHundredths == order.sizeHundredths { _orders[index].status = "MATCHED" }
    }

    private func cancel(_ hash: String) -> LoopbackAnswer {
        let id = hash.lowercased()
        guard let index = _orders.firstIndex(where: { $0.hash == id }) else {
            return .respond(200, "{\"canceled\":[],\"not_canceled\":{\(Self.quoted(hash)):\"order not found\"}}")
        }
        guard _orders[index].status == "LIVE" else {
            return .respond(200, "{\"canceled\":[],\"not_canceled\":{\(Self.quoted(hash)):\"order already matched or canceled\"}}")
        }
        _orders[index].status = "CANCELED"
        return .respond(200, "{\"canceled\":[\(Self.quoted(hash))],\"not_canceled\":{}}")
    }

    // Called with the lock held, after a trades page of `token` was answered.
    private func settleTrades(token: String?) {
        for index in _trades.indices where _trades[index].status == "MATCHED" && (token == nil || _trades[index].tokenID == token) {
            if failing.contains(_trades[index].tokenID) {
                _trades[index].status = "FAILED"
                if let order = _orders.firstIndex(where: { $0.hash == _trades[index].orderHash }) {
                    _orders[order].matchedHundredths -= _trades[index].sizeHundredths
                }
            } else if autoConfirm {
                _trades[index].status = "CONFIRMED"
            }
        }
    }

    private func tradesPage(_ query: [String: String]) -> LoopbackAnswer {
        defer { settleTrades(token: query["asset_id"]) }
        for index in _trades.indices where _trades[index].status == "MATCHED" && failingBeforeRead.contains(_trades[index].tokenID) {
            _trades[index].status = "FAILED"
            if let order = _orders.firstIndex(where: { $0.hash == _trades[index].orderHash }) {
                _orders[order].matchedHundredths -= _trades[index].sizeHundredths
            }
        }
        // `after` (Unix seconds): only trades matched since then.
        let after = query["after"].flatMap { Int64($0) } ?? 0
        let matching = _trades.filter { (query["asset_id"] == nil || $0.tokenID == query["asset_id"]) && $0.matchTimeSeconds >= after }
        let start = query["next_cursor"].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
            .flatMap { Int($0) } ?? 0
        let page = matching.dropFirst(start).prefix(tradesPerPage)
        let end = start + page.count
        let next = end < matching.count ? Data("\(end)".utf8).base64EncodedString() : "LTE="
        let items = page.map { trade in
            "{\"id\":\"\(trade.id)\",\"taker_order_id\":\"\(trade.orderHash)\",\"asset_id\":\(Self.quoted(trade.tokenID)),"
                + "\"size\":\"\(tradeSizeText ?? Self.hundredthsText(trade.sizeHundredths))\",\"price\":\"\(Self.ticksText(trade.priceTicks))\","
                + "\"status\":\"\(trade.status)\",\"fee_rate_bps\":\"\(trade.feeRateBps)\",\"match_time\":\"\(trade.matchTimeSeconds)\",\"maker_orders\":[]}"
        }
        return .respond(200, "{\"data\":[" + items.joined(separator: ",") + "],\"next_cursor\":\"\(next)\",\"count\":\(page.count)}")
    }

    private func orderJSON(_ order: Order) -> String {
        "{\"id\":\"\(order.hash)\",\"status\":\"\(order.status)\",\"asset_id\":\(Self.quoted(order.tokenID)),\"side\":\"\(order.side)\","
            + "\"original_size\":\"\(Self.hundredthsText(order.sizeHundredths))\",\"size_matched\":\"\(Self.hundredthsText(order.matchedHundredths))\","
            + "\"price\":\"\(Self.ticksText(order.priceTicks))\",\"associate_trades\":[]}"
    }

    static func hundredthsText(_ value: Int64) -> String { "\(value / 100)." + String(format: "%02lld", value % 100) }
    static func ticksText(_ value: Int64) -> String { "0." + String(format: "%04lld", value) }
    static func quoted(_ text: String) -> String {
        (try? String(decoding: JSONSerialization.data(withJSONObject: [text]), as: UTF8.self).dropFirst().dropLast())
            .map(String.init) ?? "\"\""
    }
}

import Foundation
import LoopbackHTTP

/// A Kalshi Trade API v2 exchange on 127.0.0.1: it checks every request's signature against the
/// account's public key, keeps its own record of orders and fills, and answers with the bodies
/// VENUES.md documents. What the next creates do is scripted (`script`); by default an order
/// fills in full at once. Tests compare the trader's database with `orders` and `fills`.
public final class KalshiLoopbackExchange: @unchecked Sendable {
    /// What one create does.
    public enum Behaviour: Sendable, Equatable {
        /// Placed; this many contracts fill at once (nil: all), the rest rests (GTC) or is
        /// killed (IOC/FOK).
        case fill(hundredths: Int64?)
        /// 400 with this error code; nothing placed.
        case reject(code: String)
        /// 401: the key is refused.
        case unauthorized
        /// 429 this many times, then the next behaviour.
        case rateLimited(times: Int)
        /// 500; nothing placed.
        case serverError
        /// Placed (filling as `hundredths`), then the connection is closed with no answer.
        case resetAfterPlacing(hundredths: Int64?)
        /// The connection is closed with no answer; nothing placed.
        case resetBeforePlacing
    }

    public struct Order: Sendable, Equatable {
        public var orderID: String
        public var clientOrderID: String
        public var ticker: String
        public var side: String
        /// The YES price in ticks of $0.0001.
        public var yesTicks: Int64
        public var countHundredths: Int64
        public var filledHundredths: Int64
        public var status: String
        public var timeInForce: String
        public var cancelOrderOnPause: Bool
        public var createdMilliseconds: Int64
    }

    public struct Fill: Sendable, Equatable {
        public var tradeID: String
        public var orderID: String
        public var ticker: String
        public var side: String
        public var yesTicks: Int64
        public var countHundredths: Int64
        /// In micro-dollars: deliberately not arb's fee formula, so a test can tell it was recorded.
        public var feeMicros: Int64
        public var createdMilliseconds: Int64
    }

    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var body: String
        public var signatureValid: Bool
        /// `KALSHI-ACCESS-TIMESTAMP` as sent: when the request was signed.
        public var timestampMilliseconds: Int64?
    }

    let key: KalshiTestKey
    let rootPath: String
    private let lock = NSLock()
    private var _orders: [Order] = []
    private var _fills: [Fill] = []
    private var _requests: [Request] = []
    private var _script: [Behaviour] = []
    private var _scriptByTicker: [String: [Behaviour]] = [:]
    private var nextID = 1
    /// Price decimals the market accepts (2: whole cents).
    public var priceDecimals = 2
    public var balanceDollars = "1000.0000"
    /// A late fill: a cancel that arrives for a resting order finds it filled in the meantime.
    public var fillRestingBeforeCancel = false
    private var cancelHook: (@Sendable (String) -> Void)?

    /// Called with the order's client id when a cancel arrives, before it is applied (a test
    /// reads the trader's database at that instant).
    public func onCancel(_ hook: @escaping @Sendable (String) -> Void) { lock.withLock { cancelHook = hook } }

    private var server: LoopbackHTTPServer?
    public private(set) var port = 0

    public init(key: KalshiTestKey, rootPath: String = "/trade-api/v2") {
        self.key = key
        self.rootPath = rootPath
    }

    public var baseURL: String { "http://127.0.0.1:\(port)\(rootPath)" }

    public var orders: [Order] { lock.withLock { _orders } }
    public var fills: [Fill] { lock.withLock { _fills } }
    public var requests: [Request] { lock.withLock { _requests } }

    /// Behaviours for the next creates, in order; when they run out, orders fill in full.
    public func script(_ behaviours: [Behaviour]) { lock.withLock { _script += behaviours } }

    /// Behaviours for the next creates on one ticker (before the shared script).
    public func script(_ behaviours: [Behaviour], ticker: String) { lock.withLock { _scriptByTicker[ticker, default: []] += behaviours } }

    // Called with the lock held.
    private func nextBehaviour(ticker: String) -> Behaviour {
        if var queue = _scriptByTicker[ticker], !queue.isEmpty {
            let next = queue.removeFirst()
            _scriptByTicker[ticker] = queue
            return next
        }
        return _script.isEmpty ? .fill(hundredths: nil) : _script.removeFirst()
    }

    /// A fill of a resting order, as if someone traded against it (for late fills).
    public func fillResting(clientOrderID: String, hundredths: Int64) {
        lock.withLock {
            guard let index = _orders.firstIndex(where: { $0.clientOrderID == clientOrderID && $0.status == "resting" }) else { return }
            fill(index, hundredths: hundredths)
        }
    }

    public func start() async throws {
        let server = try await LoopbackHTTPServer.start { [self] request in
            answer(method: request.method, uri: request.uri, headers: request.headers, body: request.bodyText ?? "")
        }
        self.server = server
        self.port = server.port
    }

    public func stop() async {
        await server?.stop()
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    func answer(method: String, uri: String, headers: [String: String], body: String) -> LoopbackAnswer {
        let path = String(uri.prefix { $0 != "?" })
        let query = LoopbackRequest(method: method, uri: uri, headers: [:], body: []).query
        let signed = verify(method: method, path: path, headers: headers)
        if method == "DELETE", signed {
            let (hook, clientOrderID) = lock.withLock {
                (cancelHook, _orders.first { path.hasSuffix("/" + $0.orderID) }?.clientOrderID)
            }
            if let hook, let clientOrderID { hook(clientOrderID) }
        }
        return lock.withLock {
            _requests.append(Request(method: method, uri: uri, body: body, signatureValid: signed,
                                     timestampMilliseconds: headers["KALSHI-ACCESS-TIMESTAMP"].flatMap { Int64($0) }))
            guard signed else { return .respond(401, #"{"error":{"code":"authentication_error","message":"invalid signature"}}"#) }
            guard path.hasPrefix(rootPath) else { return .respond(404, #"{"error":{"code":"not_found"}}"#) }
            let route = String(path.dropFirst(rootPath.count))
            switch (method, route) {
            case ("POST", "/portfolio/events/orders"): return create(body)
            case ("POST", "/portfolio/orders"): return .respond(410, #"{"error":{"code":"gone","message":"use /portfolio/events/orders"}}"#)
            case ("DELETE", let route) where route.hasPrefix("/portfolio/events/orders/"):
                return cancel(String(route.dropFirst("/portfolio/events/orders/".count)))
            case ("GET", "/portfolio/orders"): return listOrders(query)
            case ("GET", let route) where route.hasPrefix("/portfolio/orders/"):
                let id = String(route.dropFirst("/portfolio/orders/".count))
                guard let order = _orders.first(where: { $0.orderID == id }) else {
                    return .respond(404, #"{"error":{"code":"not_found"}}"#)
                }
                return .respond(200, "{\"order\":" + orderJSON(order) + "}")
            case ("GET", "/portfolio/fills"): return listFills(query)
            case ("GET", "/portfolio/balance"): return .respond(200, "{\"balance\":100000,\"balance_dollars\":\"\(balanceDollars)\"}")
            case ("GET", "/portfolio/positions"): return positions()
            default: return .respond(404, #"{"error":{"code":"not_found"}}"#)
            }
        }
    }

    private func verify(method: String, path: String, headers: [String: String]) -> Bool {
        guard headers["KALSHI-ACCESS-KEY"]?.isEmpty == false, let stamp = headers["KALSHI-ACCESS-TIMESTAMP"],
              Int64(stamp) != nil, let signature = headers["KALSHI-ACCESS-SIGNATURE"] else { return false }
        return key.verifies(signature: signature, message: stamp + method + path)
    }

    // Called with the lock held.
    private func create(_ body: String) -> LoopbackAnswer {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any],
              let ticker = object["ticker"] as? String, let side = object["side"] as? String, ["bid", "ask"].contains(side),
              let priceText = object["price"] as? String, let countText = object["count"] as? String,
              let tif = object["time_in_force"] as? String,
              ["fill_or_kill", "good_till_canceled", "immediate_or_cancel"].contains(tif),
              let stp = object["self_trade_prevention_type"] as? String, ["taker_at_cross", "maker"].contains(stp),
              let clientOrderID = object["client_order_id"] as? String,
              let ticks = Self.fixed(priceText, digits: 4), ticks > 0, ticks < 10_000,
              let count = Self.fixed(countText, digits: 2), count > 0
        else { return .respond(400, #"{"error":{"code":"invalid_parameters","message":"bad order body"}}"#) }
        let behaviour = nextBehaviour(ticker: ticker)
        switch behaviour {
        case .reject(let code): return .respond(400, "{\"error\":{\"code\":\"\(code)\",\"message\":\"refused\"}}")
        case .unauthorized: return .respond(401, #"{"error":{"code":"authentication_error"}}"#)
        case .rateLimited(let times):
            if times > 1 { _scriptByTicker[ticker, default: []].insert(.rateLimited(times: times - 1), at: 0) }
            return .respond(429, #"{"error":"too many requests"}"#)
        case .serverError: return .respond(500, #"{"error":{"code":"internal_server_error"}}"#)
        case .resetBeforePlacing: return .reset
        case .fill, .resetAfterPlacing: break
        }
        if _orders.contains(where: { $0.clientOrderID == clientOrderID }) {
            return .respond(409, #"{"error":{"code":"order_already_exists","message":"client_order_id already used"}}"#)
        }
        if ticks % Int64(pow(10, Double(4 - priceDecimals))) != 0 {
            return .respond(400, #"{"error":{"code":"invalid_price","message":"price is not on the market's price grid"}}"#)
        }
        let order = Order(orderID: "ord-\(nextID)", clientOrderID: clientOrderID, ticker: ticker, side: side, yesTicks: ticks,
                          countHundredths: count, filledHundredths: 0, status: "resting", timeInForce: tif,
                          cancelOrderOnPause: object["cancel_order_on_pause"] as? Bool ?? false,
                          createdMilliseconds: Self.nowMilliseconds())
        nextID += 1
        _orders.append(order)
        let index = _orders.count - 1
        let fillHundredths: Int64? = switch behaviour {
        case .fill(let hundredths), .resetAfterPlacing(let hundredths): hundredths
        default: nil
        }
        let amount = min(count, fillHundredths ?? count)
        if tif == "fill_or_kill" && amount < count {
            _orders[index].status = "canceled"
        } else {
            if amount > 0 { fill(index, hundredths: amount) }
            if tif == "immediate_or_cancel", _orders[index].status == "resting" { _orders[index].status = "canceled" }
        }
        if case .resetAfterPlacing = behaviour { return .reset }
        let placed = _orders[index]
        return .respond(201, "{\"order_id\":\"\(placed.orderID)\",\"client_order_id\":\(Self.quoted(clientOrderID)),"
            + "\"fill_count\":\"\(Self.hundredthsText(placed.filledHundredths))\","
            + "\"remaining_count\":\"\(Self.hundredthsText(placed.status == "resting" ? count - placed.filledHundredths : 0))\","
            + "\"ts_ms\":\(Self.nowMilliseconds())}")
    }

    // Called with the lock held.
    private func fill(_ index: Int, hundredths: Int64) {
        let order = _orders[index]
        let amount = min(hundredths, order.countHundredths - order.filledHundredths)
        guard amount > 0 else { return }
        _fills.append(Fill(tradeID: "trade-\(_fills.count + 1)", orderID: order.orderID, ticker: order.ticker, side: order.side,
                           yesTicks: order.yesTicks, countHundredths: amount, feeMicros: amount * 170,
                           createdMilliseconds: Self.nowMilliseconds()))
        _orders[index].filledHundredths += amount
        if _orders[index].filledHundredths == order.countHundredths { _orders[index].status = "executed" }
    }

    private func cancel(_ orderID: String) -> LoopbackAnswer {
        guard let index = _orders.firstIndex(where: { $0.orderID == orderID }) else {
            return .respond(404, #"{"error":{"code":"not_found"}}"#)
        }
        if fillRestingBeforeCancel, _orders[index].status == "resting" {
            fill(index, hundredths: _orders[index].countHundredths)
        }
        guard _orders[index].status == "resting" else {
            return .respond(404, #"{"error":{"code":"not_found","message":"order is not resting"}}"#)
        }
        _orders[index].status = "canceled"
        let order = _orders[index]
        return .respond(200, "{\"order_id\":\"\(order.orderID)\",\"client_order_id\":\(Self.quoted(order.clientOrderID)),"
            + "\"reduced_by\":\"\(Self.hundredthsText(order.countHundredths - order.filledHundredths))\",\"ts_ms\":\(Self.nowMilliseconds())}")
    }

    private func listOrders(_ query: [String: String]) -> LoopbackAnswer {
        let minSeconds = query["min_ts"].flatMap { Int64($0) } ?? 0
        let matching = _orders.filter {
            (query["ticker"] == nil || $0.ticker == query["ticker"]) && $0.createdMilliseconds / 1_000 >= minSeconds
        }
        return page(matching.map(orderJSON), list: "orders", query: query)
    }

    private func listFills(_ query: [String: String]) -> LoopbackAnswer {
        let matching = _fills.filter { query["order_id"] == nil || $0.orderID == query["order_id"] }
        return page(matching.map(fillJSON), list: "fills", query: query)
    }

    private func positions() -> LoopbackAnswer {
        var net: [String: Int64] = [:]
        for fill in _fills { net[fill.ticker, default: 0] += fill.side == "bid" ? fill.countHundredths : -fill.countHundredths }
        let items = net.keys.sorted().map { ticker in
            let value = net[ticker] ?? 0
            return "{\"ticker\":\(Self.quoted(ticker)),\"position_fp\":\"\(value < 0 ? "-" : "")\(Self.hundredthsText(abs(value)))\"}"
        }
        return page(items, list: "market_positions", query: [:])
    }

    private func page(_ items: [String], list: String, query: [String: String]) -> LoopbackAnswer {
        let limit = max(1, query["limit"].flatMap { Int($0) } ?? 100)
        let start = query["cursor"].flatMap { Int($0) } ?? 0
        let slice = items.dropFirst(start).prefix(limit)
        let next = start + slice.count < items.count ? "\(start + slice.count)" : ""
        return .respond(200, "{\"\(list)\":[" + slice.joined(separator: ",") + "],\"cursor\":\"\(next)\"}")
    }

    private func orderJSON(_ order: Order) -> String {
        "{\"order_id\":\"\(order.orderID)\",\"client_order_id\":\(Self.quoted(order.clientOrderID)),"
            + "\"ticker\":\(Self.quoted(order.ticker)),\"side\":\"\(order.side)\",\"status\":\"\(order.status)\","
            + "\"fill_count_fp\":\"\(Self.hundredthsText(order.filledHundredths))\","
            + "\"remaining_count_fp\":\"\(Self.hundredthsText(order.status == "resting" ? order.countHundredths - order.filledHundredths : 0))\","
            + "\"yes_price_dollars\":\"\(Self.ticksText(order.yesTicks))\",\"no_price_dollars\":\"\(Self.ticksText(10_000 - order.yesTicks))\","
            + "\"created_time\":\"\(Self.rfc3339(order.createdMilliseconds))\"}"
    }

    private func fillJSON(_ fill: Fill) -> String {
        "{\"fill_id\":\"\(fill.tradeID)\",\"trade_id\":\"\(fill.tradeID)\",\"order_id\":\"\(fill.orderID)\","
            + "\"ticker\":\(Self.quoted(fill.ticker)),\"count_fp\":\"\(Self.hundredthsText(fill.countHundredths))\","
            + "\"yes_price_dollars\":\"\(Self.ticksText(fill.yesTicks))\",\"no_price_dollars\":\"\(Self.ticksText(10_000 - fill.yesTicks))\","
            + "\"is_taker\":true,\"fee_cost\":\"\(Self.microsText(fill.feeMicros))\",\"created_time\":\"\(Self.rfc3339(fill.createdMilliseconds))\"}"
    }

    // MARK: - Text

    /// `"0.4500"` → 4500 with digits 4; nil for more decimals or a bad number.
    static func fixed(_ text: String, digits: Int) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]), whole >= 0 else { return nil }
        let fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= digits, fraction.allSatisfy(\.isNumber) else { return nil }
        let padded = fraction + String(repeating: "0", count: digits - fraction.count)
        return whole * Int64(pow(10, Double(digits))) + (Int64(padded) ?? 0)
    }

    static func hundredthsText(_ value: Int64) -> String { "\(value / 100)." + String(format: "%02lld", value % 100) }
    static func ticksText(_ value: Int64) -> String { "0." + String(format: "%04lld", value) }
    static func microsText(_ value: Int64) -> String { "\(value / 1_000_000)." + String(format: "%06lld", value % 1_000_000) }

    static func rfc3339(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1_000))
    }

    static func quoted(_ text: String) -> String {
        (try? String(decoding: JSONSerialization.data(withJSONObject: [text]), as: UTF8.self).dropFirst().dropLast())
            .map(String.init) ?? "\"\""
    }
}

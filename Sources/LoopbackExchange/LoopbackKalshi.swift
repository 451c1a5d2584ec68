import ArbEngine
import Foundation
import KalshiVenue
import LoopbackHTTP
import OrderStateMachine
import Synchronization

/// Kalshi's Trade API v2 subset arb uses, on the loopback exchange: the REST routes under
/// `/trade-api/v2` (each request's RSA-PSS signature checked: 401 when it does not verify) and the
/// websocket at `/trade-api/ws/v2` (handshake signed the same way) with the `orderbook_delta`
/// channel (a snapshot per ticker at subscribe, then deltas carrying `seq`), the `fill` channel and
/// the `user_orders` channel (each order's state as it changes, with its client order id).
///
/// Kalshi has one YES book per market: a YES bid at p is buying YES, an ask at p is buying NO at
/// 1 − p (arb only buys; an ask is never read as selling YES here).
final class LoopbackKalshi: Sendable {
    static let rootPath = "/trade-api/v2"
    static let websocketPath = "/trade-api/ws/v2"

    let ledger: LoopbackLedger
    let key: RSAKeyPair
    let faults: LoopbackFaults
    let dice: LoopbackDice
    let counters: LoopbackCounters
    private let state = Mutex(State())

    struct Subscriber {
        let connection: LoopbackConnection
        var bookSid: Int64?
        var tickers: Set<String> = []
        var seq: Int64 = 0
        var fillSid: Int64?
        var ordersSid: Int64?
        var nextSid: Int64 = 1
    }

    /// One market's resting levels: both sides are bids (YES bids and NO bids), one level each.
    struct Book {
        var yes: (price: Int64, size: Int64)?
        var no: (price: Int64, size: Int64)?
    }

    struct State {
        var subscribers: [ObjectIdentifier: Subscriber] = [:]
        var books: [String: Book] = [:]
    }

    init(ledger: LoopbackLedger, key: RSAKeyPair, faults: LoopbackFaults, seed: UInt64, counters: LoopbackCounters) {
        self.ledger = ledger
        self.key = key
        self.faults = faults
        self.dice = LoopbackDice(seed: seed, name: "kalshi faults")
        self.counters = counters
    }

    var venue: PaperVenue { ledger.venue }

    // MARK: - REST

    func answer(_ request: LoopbackRequest) async -> LoopbackAnswer {
        if faults.delayMilliseconds > 0 {
            try? await Task.sleep(for: .milliseconds(dice.upTo(faults.delayMilliseconds)))
        }
        let path = request.path
        guard verify(method: request.method, path: path, headers: request.headers) else {
            counters.add(.refusedSignatures)
            return .respond(401, #"{"error":{"code":"authentication_error","message":"invalid signature"}}"#)
        }
        guard path.hasPrefix(Self.rootPath) else { return .respond(404, #"{"error":{"code":"not_found"}}"#) }
        if dice.roll(faults.serverErrorPercent) {
            counters.add(.serverErrors)
            return .respond(500, #"{"error":{"code":"internal_server_error","message":"injected"}}"#)
        }
        if dice.roll(faults.rateLimitPercent) {
            counters.add(.rateLimited)
            return .respond(429, #"{"error":"too many requests"}"#)
        }
        let route = String(path.dropFirst(Self.rootPath.count))
        do {
            switch (request.method, route) {
            case ("POST", "/portfolio/events/orders"): return try await create(request.body)
            case ("POST", "/portfolio/orders"):
                return .respond(410, #"{"error":{"code":"gone","message":"use /portfolio/events/orders"}}"#)
            case ("DELETE", let route) where route.hasPrefix("/portfolio/events/orders/"):
                return try await cancel(String(route.dropFirst("/portfolio/events/orders/".count)))
            case ("GET", "/portfolio/orders"): return try await listOrders(request.query)
            case ("GET", let route) where route.hasPrefix("/portfolio/orders/"):
                guard let (entry, order) = try await ledger.order(venueOrderID: String(route.dropFirst("/portfolio/orders/".count))) else {
                    return .respond(404, #"{"error":{"code":"not_found"}}"#)
                }
                return .respond(200, "{\"order\":" + orderJSON(order, entry: entry) + "}")
            case ("GET", "/portfolio/fills"): return try await listFills(request.query)
            case ("GET", "/portfolio/balance"):
                let balance = try await venue.balance()
                return .respond(200, "{\"balance\":\(balance.micros / Money.microsPerCent),\"balance_dollars\":\"\(LoopbackText.micros(balance.micros))\"}")
            case ("GET", "/portfolio/positions"): return try await positions()
            default: return .respond(404, #"{"error":{"code":"not_found"}}"#)
            }
        } catch let error as VenueError {
            return Self.answer(error)
        } catch {
            return .respond(500, "{\"error\":{\"code\":\"internal_server_error\",\"message\":\(JSONText.quoted("\(error)"))}}")
        }
    }

    static func answer(_ error: VenueError) -> LoopbackAnswer {
        switch error {
        case .ambiguous: .reset
        case .unavailable: .respond(503, #"{"error":{"code":"service_unavailable"}}"#)
        case .unknownOrder: .respond(404, #"{"error":{"code":"not_found"}}"#)
        default: .respond(500, "{\"error\":{\"code\":\"internal_server_error\",\"message\":\(JSONText.quoted("\(error)"))}}")
        }
    }

    func verify(method: String, path: String, headers: [String: String]) -> Bool {
        guard headers["KALSHI-ACCESS-KEY"]?.isEmpty == false, let stamp = headers["KALSHI-ACCESS-TIMESTAMP"],
              Int64(stamp) != nil, let signature = headers["KALSHI-ACCESS-SIGNATURE"] else { return false }
        return key.verifies(signature: signature, message: stamp + method + path)
    }

    private func create(_ body: [UInt8]) async throws -> LoopbackAnswer {
        guard let object = LoopbackText.object(body),
              let ticker = object["ticker"] as? String, !ticker.isEmpty, let side = object["side"] as? String, ["bid", "ask"].contains(side),
              let priceText = object["price"] as? String, let countText = object["count"] as? String,
              let tifText = object["time_in_force"] as? String,
              let clientOrderID = object["client_order_id"] as? String, !clientOrderID.isEmpty,
              let yesTicks = LoopbackText.fixed(priceText, digits: 4), yesTicks > 0, yesTicks < 10_000,
              let count = LoopbackText.fixed(countText, digits: 2), count > 0,
              let quantity = Quantity(hundredths: count)
        else { return .respond(400, #"{"error":{"code":"invalid_parameters","message":"bad order body"}}"#) }
        let timeInForce: TimeInForce
        switch tifText {
        case "fill_or_kill": timeInForce = .fok
        case "immediate_or_cancel": timeInForce = .ioc
        case "good_till_canceled": timeInForce = .gtc
        default: return .respond(400, #"{"error":{"code":"invalid_parameters","message":"bad time_in_force"}}"#)
        }
        let outcome = side == "bid" ? "yes" : "no"
        guard let price = Price(ticks: side == "bid" ? yesTicks : 10_000 - yesTicks) else {
            return .respond(400, #"{"error":{"code":"invalid_price"}}"#)
        }
        let request = OrderRequest(clientOrderID: clientOrderID, instrument: "\(ticker):\(outcome)", side: .buy, limitPrice: price,
                                   quantity: quantity, timeInForce: timeInForce)
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        let order: VenueOrder
        switch try await ledger.place(request, now: now) {
        case .placed(let placed): order = placed
        case .lost: return .reset
        case .duplicate:
            return .respond(409, #"{"error":{"code":"order_already_exists","message":"client_order_id already used"}}"#)
        case .refused(let reason):
            return .respond(400, "{\"error\":{\"code\":\"order_rejected\",\"message\":\(JSONText.quoted(reason))}}")
        }
        if dice.roll(faults.dropPercent) {
            counters.add(.droppedAnswers)
            return .reset
        }
        let remaining = order.status.isFinal ? 0 : order.quantity.hundredths - order.filledQuantity.hundredths
        return .respond(201, "{\"order_id\":\(JSONText.quoted(order.venueOrderID)),\"client_order_id\":\(JSONText.quoted(clientOrderID)),"
            + "\"fill_count\":\"\(LoopbackText.hundredths(order.filledQuantity.hundredths))\","
            + "\"remaining_count\":\"\(LoopbackText.hundredths(remaining))\",\"ts_ms\":\(now)}")
    }

    private func cancel(_ venueOrderID: String) async throws -> LoopbackAnswer {
        guard let entry = ledger.entry(venueOrderID: venueOrderID), !entry.rejected else {
            return .respond(404, #"{"error":{"code":"not_found"}}"#)
        }
        switch try await venue.cancel(clientOrderID: entry.clientOrderID) {
        case .cancelled(let order):
            return .respond(200, "{\"order_id\":\(JSONText.quoted(order.venueOrderID)),\"client_order_id\":\(JSONText.quoted(order.clientOrderID)),"
                + "\"reduced_by\":\"\(LoopbackText.hundredths(order.quantity.hundredths - order.filledQuantity.hundredths))\","
                + "\"ts_ms\":\(Int64(Date().timeIntervalSince1970 * 1_000))}")
        case .alreadyDone:
            return .respond(404, #"{"error":{"code":"not_found","message":"order is not resting"}}"#)
        case .failed(let reason):
            return .respond(500, "{\"error\":{\"code\":\"internal_server_error\",\"message\":\(JSONText.quoted(reason))}}")
        }
    }

    private func listOrders(_ query: [String: String]) async throws -> LoopbackAnswer {
        let minMilliseconds = (query["min_ts"].flatMap { Int64($0) } ?? 0) * 1_000
        let entries = ledger.entries(instruments: query["ticker"].map { ["\($0):yes", "\($0):no"] } ?? [])
            .filter { $0.createdMilliseconds >= minMilliseconds && !$0.rejected }
        var items: [String] = []
        for entry in entries {
            if let order = try await venue.order(clientOrderID: entry.clientOrderID) { items.append(orderJSON(order, entry: entry)) }
        }
        return Self.page(items, list: "orders", query: query)
    }

    private func listFills(_ query: [String: String]) async throws -> LoopbackAnswer {
        guard let id = query["order_id"], let entry = ledger.entry(venueOrderID: id), !entry.rejected else {
            return Self.page([], list: "fills", query: query)
        }
        let fills = try await venue.fills(clientOrderID: entry.clientOrderID)
        return Self.page(fills.map { fillJSON($0, venueOrderID: id, instrument: entry.instrument) }, list: "fills", query: query)
    }

    private func positions() async throws -> LoopbackAnswer {
        var net: [String: Int64] = [:]
        for position in try await venue.positions() {
            guard let instrument = KalshiInstrument(parsing: position.instrument) else { continue }
            net[instrument.ticker, default: 0] += instrument.outcome == .yes ? position.quantity.hundredths : -position.quantity.hundredths
        }
        let items = net.keys.sorted().map { "{\"ticker\":\(JSONText.quoted($0)),\"position_fp\":\"\(LoopbackText.hundredths(net[$0] ?? 0))\"}" }
        return Self.page(items, list: "market_positions", query: [:])
    }

    static func page(_ items: [String], list: String, query: [String: String]) -> LoopbackAnswer {
        let limit = max(1, min(1_000, query["limit"].flatMap { Int($0) } ?? 100))
        let start = max(0, query["cursor"].flatMap { Int($0) } ?? 0)
        let slice = items.dropFirst(start).prefix(limit)
        let next = start + slice.count < items.count ? "\(start + slice.count)" : ""
        return .respond(200, "{\"\(list)\":[" + slice.joined(separator: ",") + "],\"cursor\":\"\(next)\"}")
    }

    private func orderJSON(_ order: VenueOrder, entry: LoopbackLedger.Entry) -> String {
        let yes = order.instrument.hasSuffix(":yes")
        let yesTicks = yes ? order.limitPrice.ticks : 10_000 - order.limitPrice.ticks
        let status = switch order.status {
        case .open, .partiallyFilled: "resting"
        case .filled: "executed"
        case .cancelled, .rejected: "canceled"
        }
        let remaining = order.status.isFinal ? 0 : order.quantity.hundredths - order.filledQuantity.hundredths
        let ticker = String(order.instrument.dropLast(yes ? 4 : 3))
        return "{\"order_id\":\(JSONText.quoted(order.venueOrderID)),\"client_order_id\":\(JSONText.quoted(order.clientOrderID)),"
            + "\"ticker\":\(JSONText.quoted(ticker)),\"side\":\"\(yes ? "bid" : "ask")\",\"status\":\"\(status)\","
            + "\"fill_count_fp\":\"\(LoopbackText.hundredths(order.filledQuantity.hundredths))\","
            + "\"remaining_count_fp\":\"\(LoopbackText.hundredths(remaining))\","
            + "\"yes_price_dollars\":\"\(LoopbackText.ticks(yesTicks))\",\"no_price_dollars\":\"\(LoopbackText.ticks(10_000 - yesTicks))\","
            + "\"created_time\":\"\(LoopbackText.rfc3339(entry.createdMilliseconds))\"}"
    }

    private func fillJSON(_ fill: FillReport, venueOrderID: String, instrument: String) -> String {
        let yes = instrument.hasSuffix(":yes")
        let yesTicks = yes ? fill.price.ticks : 10_000 - fill.price.ticks
        let ticker = String(instrument.dropLast(yes ? 4 : 3))
        return "{\"fill_id\":\(JSONText.quoted(fill.tradeID)),\"trade_id\":\(JSONText.quoted(fill.tradeID)),"
            + "\"order_id\":\(JSONText.quoted(venueOrderID)),\"ticker\":\(JSONText.quoted(ticker)),"
            + "\"side\":\"\(yes ? "yes" : "no")\",\"action\":\"buy\",\"count_fp\":\"\(LoopbackText.hundredths(fill.quantity.hundredths))\","
            + "\"yes_price_dollars\":\"\(LoopbackText.ticks(yesTicks))\",\"no_price_dollars\":\"\(LoopbackText.ticks(10_000 - yesTicks))\","
            + "\"is_taker\":true,\"fee_cost\":\"\(LoopbackText.micros(fill.fee.micros))\","
            + "\"created_time\":\"\(LoopbackText.rfc3339(fill.filledAtMilliseconds))\"}"
    }

    // MARK: - Websocket

    func accepts(path: String, headers: [String: String]) -> Bool {
        guard path == Self.websocketPath else { return false }
        let signed = verify(method: "GET", path: path, headers: headers)
        if !signed { counters.add(.refusedSignatures) }
        return signed
    }

    func connected(_ connection: LoopbackConnection) {
        state.withLock { $0.subscribers[ObjectIdentifier(connection)] = Subscriber(connection: connection) }
    }

    func received(_ connection: LoopbackConnection, _ text: String) {
        guard let object = LoopbackText.object(Array(text.utf8)), object["cmd"] as? String == "subscribe",
              let params = object["params"] as? [String: Any], let channels = params["channels"] as? [String] else { return }
        let id = object["id"] as? Int ?? 0
        state.withLock { state in
            let key = ObjectIdentifier(connection)
            guard var subscriber = state.subscribers[key] else { return }
            for channel in channels {
                let sid = subscriber.nextSid
                subscriber.nextSid += 1
                connection.send("{\"type\":\"subscribed\",\"id\":\(id),\"msg\":{\"channel\":\"\(channel)\",\"sid\":\(sid)}}")
                switch channel {
                case "orderbook_delta":
                    subscriber.bookSid = sid
                    subscriber.seq = 0
                    subscriber.tickers = Set(params["market_tickers"] as? [String] ?? [])
                    for ticker in subscriber.tickers.sorted() {
                        subscriber.seq += 1
                        connection.send(Self.snapshot(ticker, book: state.books[ticker] ?? Book(), sid: sid, seq: subscriber.seq))
                    }
                case "fill":
                    subscriber.fillSid = sid
                case "user_orders":
                    subscriber.ordersSid = sid
                default:
                    break
                }
            }
            state.subscribers[key] = subscriber
        }
    }

    static func snapshot(_ ticker: String, book: Book, sid: Int64, seq: Int64) -> String {
        func levels(_ level: (price: Int64, size: Int64)?) -> String {
            level.map { "[[\"\(LoopbackText.ticks($0.price))\",\"\(LoopbackText.hundredths($0.size))\"]]" } ?? "[]"
        }
        return "{\"type\":\"orderbook_snapshot\",\"sid\":\(sid),\"seq\":\(seq),\"msg\":{\"market_ticker\":\(JSONText.quoted(ticker)),"
            + "\"market_id\":\"m\",\"yes_dollars_fp\":\(levels(book.yes)),\"no_dollars_fp\":\(levels(book.no))}}"
    }

    /// A quote from the moving books: a YES ask at a is a NO bid at 1 − a (and the mirror), sent
    /// to every subscriber of the ticker as deltas.
    func quote(_ quote: Quote) {
        guard let instrument = KalshiInstrument(parsing: quote.instrument) else { return }
        let level = quote.ask.map { (price: 10_000 - $0.ticks, size: quote.askSize.hundredths) }
        let ticker = instrument.ticker
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        state.withLock { state in
            var book = state.books[ticker] ?? Book()
            let old = instrument.outcome == .yes ? book.no : book.yes
            if instrument.outcome == .yes { book.no = level } else { book.yes = level }
            state.books[ticker] = book
            // The side that moved: the YES quote's ask rests as a NO bid.
            let side = instrument.outcome == .yes ? "no" : "yes"
            var deltas: [(Int64, Int64)] = []
            if let old, let level, old.price == level.price {
                if old.size != level.size { deltas.append((level.price, level.size - old.size)) }
            } else {
                if let old { deltas.append((old.price, -old.size)) }
                if let level { deltas.append((level.price, level.size)) }
            }
            guard !deltas.isEmpty else { return }
            for key in state.subscribers.keys {
                guard var subscriber = state.subscribers[key] else { continue }
                guard subscriber.connection.isOpen else {
                    state.subscribers[key] = nil
                    continue
                }
                guard let sid = subscriber.bookSid, subscriber.tickers.contains(ticker) else { continue }
                for (price, delta) in deltas {
                    subscriber.seq += 1
                    if dice.roll(faults.gapPercent) {
                        subscriber.seq += 1
                        counters.add(.sequenceGaps)
                    }
                    subscriber.connection.send(
                        "{\"type\":\"orderbook_delta\",\"sid\":\(sid),\"seq\":\(subscriber.seq),\"msg\":{\"market_ticker\":\(JSONText.quoted(ticker)),"
                            + "\"market_id\":\"m\",\"price_dollars\":\"\(LoopbackText.ticks(price))\",\"delta_fp\":\"\(LoopbackText.hundredths(delta))\","
                            + "\"side\":\"\(side)\",\"ts_ms\":\(now)}}") { [counters] in counters.noteBookFrameFlushed() }
                    counters.add(.bookMessages)
                }
                state.subscribers[key] = subscriber
            }
        }
    }

    /// An order of the paper venue that changed, pushed on the `user_orders` channel.
    func pushOrder(_ order: VenueOrder) {
        guard let instrument = KalshiInstrument(parsing: order.instrument) else { return }
        let status = switch order.status {
        case .open, .partiallyFilled: "resting"
        case .filled: "executed"
        case .cancelled, .rejected: "canceled"
        }
        let remaining = order.status.isFinal ? 0 : order.quantity.hundredths - order.filledQuantity.hundredths
        let text = "{\"type\":\"user_order\",\"sid\":%SID%,\"msg\":{\"order_id\":\(JSONText.quoted(order.venueOrderID)),"
            + "\"client_order_id\":\(JSONText.quoted(order.clientOrderID)),\"ticker\":\(JSONText.quoted(instrument.ticker)),"
            + "\"status\":\"\(status)\",\"fill_count_fp\":\"\(LoopbackText.hundredths(order.filledQuantity.hundredths))\","
            + "\"remaining_count_fp\":\"\(LoopbackText.hundredths(remaining))\"}}"
        push(text, on: \.ordersSid, counting: .pushedOrders)
    }

    /// Sends `template` (its `%SID%` replaced) to every open subscriber of one account channel.
    private func push(_ template: String, on channel: KeyPath<Subscriber, Int64?>, counting kind: LoopbackCounters.Kind) {
        state.withLock { state in
            for subscriber in state.subscribers.values {
                guard let sid = subscriber[keyPath: channel], subscriber.connection.isOpen else { continue }
                subscriber.connection.send(template.replacingOccurrences(of: "%SID%", with: "\(sid)"))
                counters.add(kind)
            }
        }
    }

    /// A fill of the paper venue, pushed on the `fill` channel to every subscriber.
    func pushFill(_ fill: FillReport) {
        let venueOrderID = PaperVenue.venueOrderID(venue: venue.name, clientOrderID: fill.clientOrderID)
        let text = "{\"type\":\"fill\",\"sid\":%SID%,\"msg\":{\"trade_id\":\(JSONText.quoted(fill.tradeID)),"
            + "\"order_id\":\(JSONText.quoted(venueOrderID)),\"count_fp\":\"\(LoopbackText.hundredths(fill.quantity.hundredths))\","
            + "\"action\":\"buy\",\"is_taker\":true,\"ts\":\(fill.filledAtMilliseconds / 1_000)}}"
        push(text, on: \.fillSid, counting: .pushedFills)
    }
}

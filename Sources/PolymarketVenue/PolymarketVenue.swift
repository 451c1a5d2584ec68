import ArbKit
import Foundation
import Logging
import OrderStateMachine
import Synchronization

/// The CLOB API credentials (L2): from `POLY_API_KEY` / `POLY_API_SECRET` / `POLY_PASSPHRASE` or
/// the 0600 credentials file. `description` shows none of them.
public struct PolymarketCredentials: Sendable, CustomStringConvertible {
    public var apiKey: String
    public var secret: String
    public var passphrase: String

    public init(apiKey: String, secret: String, passphrase: String) {
        self.apiKey = apiKey
        self.secret = secret
        self.passphrase = passphrase
    }

    public var description: String { "PolymarketCredentials(redacted)" }
}

/// One token's market: its price grid and which exchange contract signs for it.
public struct PolymarketTokenMarket: Sendable, Hashable {
    public var tick: PolymarketTick
    public var negRisk: Bool
    /// The market's condition id, checked against `GET /clob-markets/{condition_id}` at start.
    public var conditionID: String?
    /// The taker fee the config expects for this market.
    public var fee: FeeModel?
    /// Where the config says it (for messages): `events[0].markets.polymarket`.
    public var configPath: String?

    public init(tick: PolymarketTick, negRisk: Bool, conditionID: String? = nil, fee: FeeModel? = nil, configPath: String? = nil) {
        self.tick = tick
        self.negRisk = negRisk
        self.conditionID = conditionID
        self.fee = fee
        self.configPath = configPath
    }
}

/// What the database knows of an order a previous process sent: the request, the order hash
/// persisted with the intent, and when it was placed (Unix ms; nil: not known).
public protocol PolymarketOrderDirectory: Sendable {
    func knownOrder(clientOrderID: String) async throws -> (request: OrderRequest, orderHash: String?, placedAtMilliseconds: Int64?)?
}

/// Polymarket's CLOB V2 behind `Venue` (VENUES.md; DESIGN §4 for the errors). `prepare` signs:
/// the order hash is the venue's order id, persisted with the intent, so a lost submit answer is
/// found by hash.
public final class PolymarketVenue: Venue {
    public struct Options: Sendable {
        public var name: String
        public var baseURL: String
        public var feeModel: FeeModel
        public var signatureType: Int
        /// The proxy or Safe that holds the funds (nil: the wallet itself).
        public var funder: String?
        /// Token id → its market.
        public var markets: [String: PolymarketTokenMarket]
        public var settleWindowMilliseconds: Int64 = 3_000
        public var requestTimeoutMilliseconds: Int64 = 5_000
        /// How long a create keeps retrying 429s before its answer counts as lost.
        public var rateLimitBudgetMilliseconds: Int64 = 2_000
        public var rateLimitBackoffMilliseconds: Int64 = 50
        /// While an order may rest (GTC), the venue's dead-man switch is fed this often; if arb
        /// stops feeding it, the venue cancels the resting orders (recovery finds and records that).
        public var heartbeatIntervalMilliseconds: Int64 = 5_000
        /// After this long with no request to the CLOB, one `GET /version` keeps the kept
        /// connection open, so the next order does not pay a connect and a TLS handshake (0:
        /// never). The heartbeats keep it only while an order rests.
        public var keepWarmMilliseconds: Int64 = 15_000
        /// An order's trades are read from `GET /data/trades` with `after` this long before the
        /// order was placed (clocks differ), so the read does not page through the token's
        /// older history.
        public var tradesSlackMilliseconds: Int64 = 60_000
        /// A trades read that would need more pages than this fails (`unavailable`) rather than
        /// answer with part of the order's fills.
        public var maxTradePages = 1_000
        /// The market channel (`wss://…/ws/market`); nil: no book feed.
        public var websocketURL: String?
        /// A market socket silent this long untrusts its books (it can go quiet while pings answer).
        public var bookSilenceMilliseconds: Int64 = 30_000

        public init(name: String, baseURL: String, feeModel: FeeModel, signatureType: Int, funder: String?,
                    markets: [String: PolymarketTokenMarket]) {
            self.name = name
            self.baseURL = baseURL
            self.feeModel = feeModel
            self.signatureType = signatureType
            self.funder = funder
            self.markets = markets
        }
    }

    public let name: String
    public let feeModel: FeeModel
    public let settleWindowMilliseconds: Int64
    /// Trades of this run's orders as the user channel announces them (`tradeAnnounced`), each
    /// read back from `/data/trades` with the certainty its status gives; the executor also
    /// reads them, and one trade is one record whichever way it came (trade ids).
    public var events: AsyncStream<VenueEvent> { pushed.events }
    private let pushed = PushedFills()

    let options: Options
    let signer: PolymarketOrderSigner
    let credentials: PolymarketCredentials
    let transport: VenueHTTPTransport
    let directory: (any PolymarketOrderDirectory)?
    let clock: any TradingClock
    let logger: Logger

    private struct Known: Sendable {
        var request: OrderRequest
        /// When `prepare` built it (Unix ms, the adapter's clock).
        var placedAtMilliseconds: Int64?
        /// The secp256k1 signature and the `POST /order` body, made off the intent commit's path.
        var signing: Task<SignedBody, Never>?
        var orderHash: String?
        var refusal: String?
    }

    private struct SignedBody: Sendable {
        var order: PolymarketSignedOrder
        var body: String
        /// `POST /order` written out with its L2 headers, and when (ms) its timestamp was taken;
        /// nil when it could not be signed (the submit signs it then, and says why not).
        var request: PreparedVenueRequest?
        var requestSignedAtMilliseconds: Int64
    }

    /// How old a request written ahead may be when it is sent (its L2 timestamp is in seconds).
    static let preparedRequestMaxAgeMilliseconds: Int64 = 5_000

    private let known = Mutex<[String: Known]>([:])
    /// The keep-warm read's loop and the instant of the last request (`startKeepWarm`).
    let keepWarm: ConnectionKeepWarm

    private struct Heartbeat: Sendable {
        /// Orders that may be resting at the venue.
        var resting: Set<String> = []
        var running = false
        var stopped = false
        var lastID = ""
        var sent = 0
    }

    /// Stops feeding the dead-man switch for good (what a process exit does): the venue will
    /// cancel whatever still rests once its heartbeat timeout passes.
    public func stopHeartbeats() {
        heartbeat.withLock { state in
            state.stopped = true
            state.resting.removeAll()
        }
    }

    private let heartbeat = Mutex(Heartbeat())

    /// Heartbeats sent so far (for tests and logs).
    public var heartbeatsSent: Int { heartbeat.withLock { $0.sent } }

    /// The book feed for every configured token over the market channel (nil without its URL).
    public func bookFeedSpec() -> PolymarketBookFeedSpec? {
        options.websocketURL.map {
            PolymarketBookFeedSpec(venue: options.name, url: $0, tokens: options.markets.keys.sorted(),
                                   silenceMilliseconds: options.bookSilenceMilliseconds)
        }
    }

    public init(options: Options, key: EthereumKey, credentials: PolymarketCredentials,
                transport: VenueHTTPTransport = .shared, directory: (any PolymarketOrderDirectory)?,
                clock: any TradingClock, logger: Logger) throws(PolymarketOrderRefusal) {
        self.name = options.name
        self.feeModel = options.feeModel
        self.settleWindowMilliseconds = options.settleWindowMilliseconds
        self.options = options
        self.signer = try PolymarketOrderSigner(key: key, maker: options.funder, signatureType: options.signatureType)
        walletAddress = EthereumKey.checksummed(key.address)
        self.credentials = credentials
        self.transport = transport
        self.directory = directory
        self.clock = clock
        self.logger = logger
        self.keepWarm = ConnectionKeepWarm(periodMilliseconds: options.keepWarmMilliseconds, clock: clock)
    }

    /// Ticks the market channel changed since start (`tick_size_change`), by token: they win over
    /// the config's for signing (an order off the new grid would be refused, or rounded wrong).
    private let ticks = Mutex<[String: PolymarketTick]>([:])

    /// The market channel says `token`'s tick is now `tick` (a price of $0.0001 ticks).
    public func tickChanged(token: String, tick: Price) {
        guard options.markets[token] != nil else { return }
        guard let known = PolymarketTick.allCases.first(where: { $0.priceTicks == tick.ticks }) else {
            logger.error("polymarket token \(token): tick size changed to \(tick), which arb cannot sign for; its orders keep the config's tick")
            return
        }
        ticks.withLock { $0[token] = known }
        logger.notice("polymarket token \(token): tick size is now \(known.rawValue)")
    }

    /// The tick orders for `token` are signed with now.
    public func currentTick(token: String) -> PolymarketTick? {
        ticks.withLock { $0[token] } ?? options.markets[token]?.tick
    }

    /// The user channel (`ws_url` + `/ws/user`) for this venue's markets (nil without a websocket URL).
    public func userFeedSpec() -> PolymarketUserFeedSpec? {
        guard let market = options.websocketURL, market.hasSuffix("/ws/market") else { return nil }
        let conditions = Set(options.markets.values.compactMap(\.conditionID)).sorted()
        return PolymarketUserFeedSpec(venue: options.name + " trades", url: String(market.dropLast("/ws/market".count)) + "/ws/user",
                                      credentials: credentials, markets: conditions)
    }

    /// The user channel says trade `tradeID` of order `orderHash` is now `status`: the order's
    /// trades are read and that one goes to `events` with the certainty the read gives — once per
    /// status. An order this run did not place is left to the executor and recovery.
    public func tradeAnnounced(orderHash: String, tradeID: String, status: String) async {
        let hash = orderHash.lowercased()
        let clientOrderID = known.withLock { $0.first { $0.value.orderHash?.lowercased() == hash }?.key }
        switch await pushed.announce(key: tradeID + "|" + status, tradeID: tradeID, clientOrderID: clientOrderID,
                                     read: { try await fills(clientOrderID: $0) }) {
        case .unknownOrder: logger.debug("polymarket trade \(tradeID) for order \(orderHash), not one of this run's: left to recovery")
        case .unread(let error): logger.warning("polymarket trade \(tradeID) announced (\(status)), but the trades could not be read: \(error)")
        case .pushed, .repeated: break
        }
    }

    /// The wallet's address (`POLY_ADDRESS`), checksummed.
    /// Worked out once (a Keccak): every request's `POLY_ADDRESS`.
    public let walletAddress: String

    // MARK: - Orders

    /// Builds the order and its EIP-712 digest here — the hash is the venue order id, persisted
    /// by the intent commit `prepare` runs inside — and starts its secp256k1 signature and body
    /// on another thread, so they overlap the commit; `submit` awaits them. The salt comes from
    /// the client order id (so it is the same on a retry of prepare), the timestamp from the clock.
    public func prepare(_ request: OrderRequest) -> PreparedOrder {
        // One reading of the clock: the order's timestamp and its request's L2 timestamp.
        let now = clock.nowMilliseconds()
        var entry = Known(request: request, placedAtMilliseconds: now)
        if let market = options.markets[request.instrument] {
            let tick = ticks.withLock { $0[request.instrument] } ?? market.tick
            do {
                let order = try signer.order(tokenID: request.instrument, side: request.side, price: request.limitPrice,
                                             size: request.quantity, tick: tick, negRisk: market.negRisk,
                                             salt: Self.salt(request.clientOrderID), timestampMilliseconds: now)
                let signer = signer
                let owner = credentials.apiKey
                let orderType = Self.orderType(request.timeInForce)
                entry.signing = Task(executorPreference: clock.taskExecutor, priority: .high) { [self] in
                    let signed = signer.signed(order)
                    let body = signed.body(owner: owner, orderType: orderType)
                    return SignedBody(order: signed, body: body, request: try? self.request("POST", "/order", body: body, nowMilliseconds: now),
                                      requestSignedAtMilliseconds: now)
                }
                entry.orderHash = order.orderHash
            } catch {
                entry.refusal = error.description
            }
        } else {
            entry.refusal = "token \(request.instrument) has no market in the config (events[].markets)"
        }
        let finished = entry
        known.withLock { $0[request.clientOrderID] = finished }
        return PreparedOrder(request: request, venueOrderID: entry.orderHash)
    }

    public func submit(_ order: PreparedOrder) async throws -> SubmitAck {
        let ack = try await send(order)
        noteResting(ack.order)
        return ack
    }

    private func send(_ order: PreparedOrder) async throws -> SubmitAck {
        let request = order.request
        guard let entry = known.withLock({ $0[request.clientOrderID] }) else {
            throw VenueError.rejected(reason: "order \(request.clientOrderID) was not prepared by this process")
        }
        if let refusal = entry.refusal { throw VenueError.rejected(reason: refusal) }
        guard let signing = entry.signing else { throw VenueError.rejected(reason: "order \(request.clientOrderID) is not signed") }
        let signedBody = await signing.value
        let signed = signedBody.order
        let body = signedBody.body
        let start = clock.nowMilliseconds()
        var backoff = options.rateLimitBackoffMilliseconds
        // Written beside the intent commit; a retry, or one older than its limit, is signed afresh.
        var ready = signedBody.request.flatMap {
            start - signedBody.requestSignedAtMilliseconds <= Self.preparedRequestMaxAgeMilliseconds ? $0 : nil
        }
        while true {
            let response: VenueHTTPResponse
            do {
                if let request = ready {
                    ready = nil
                    keepWarm.noteRequest()
                    response = try await transport.send(request, timeoutMilliseconds: options.requestTimeoutMilliseconds)
                } else {
                    response = try await send("POST", "/order", body: body)
                }
            } catch {
                throw VenueError.ambiguous(reason: error.description)
            }
            switch response.status {
            case 200, 201:
                return try await placed(response.body, signed: signed, request: request)
            case 401, 403:
                throw keyRefused(response)
            case 425:
                throw VenueError.unavailable(reason: "HTTP 425: the matching engine is restarting (about 90 s); not placed")
            case 429:
                guard clock.nowMilliseconds() - start + backoff <= options.rateLimitBudgetMilliseconds else {
                    throw VenueError.ambiguous(reason: "429 too many requests past the retry budget")
                }
                try await clock.sleep(milliseconds: backoff / 2 + Int64(Self.salt(request.clientOrderID + "\(backoff)") % UInt64(backoff / 2 + 1)))
                backoff = min(backoff * 2, 1_000)
            case 400..<500:
                throw VenueError.rejected(reason: "HTTP \(response.status): \(Self.reason(response.body))")
            default:
                throw VenueError.ambiguous(reason: "HTTP \(response.status): \(Self.reason(response.body))")
            }
        }
    }

    /// A 200 answer: `success` false is a refusal with its `errorMsg`; `live` rests, `matched` and
    /// `delayed` are read back for the matched size, `unmatched` is killed with nothing filled.
    private func placed(_ body: [UInt8], signed: PolymarketSignedOrder, request: OrderRequest) async throws -> SubmitAck {
        guard let answer = PolymarketJSON.object(body) else {
            throw VenueError.ambiguous(reason: "the order answer is not a JSON object: \(PolymarketJSON.excerpt(body))")
        }
        if answer["success"] as? Bool == false {
            throw VenueError.rejected(reason: (answer["errorMsg"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "refused")
        }
        if let id = answer["orderID"] as? String, !id.isEmpty, id.lowercased() != signed.orderHash.lowercased() {
            logger.warning("\(name): the venue's order id \(id) is not the signed hash \(signed.orderHash)")
        }
        let status = (answer["status"] as? String)?.lowercased() ?? ""
        switch status {
        case "unmatched":
            return SubmitAck(order: venueOrder(request, hash: signed.orderHash, filled: .zero, status: .cancelled), fills: [])
        case "live" where request.timeInForce == .gtc:
            return SubmitAck(order: venueOrder(request, hash: signed.orderHash, filled: .zero, status: .open), fills: [])
        default:
            // matched, delayed, or live for an order that may not rest: the order says how much.
            // If it cannot be read now, how much filled is not known: say so (the executor looks
            // the order up by its hash) rather than guess "open, nothing filled".
            if let order = try? await readOrder(signed.orderHash, request: request) { return SubmitAck(order: order, fills: []) }
            throw VenueError.ambiguous(reason: "placed (\(status)) but the order could not be read back yet")
        }
    }

    public func cancel(clientOrderID: String) async throws -> CancelAnswer {
        guard let (request, hash, _) = try await knownOrder(clientOrderID), let hash else {
            throw VenueError.unknownOrder(clientOrderID: clientOrderID)
        }
        let response: VenueHTTPResponse
        do { response = try await send("DELETE", "/order", body: "{\"orderID\":" + JSONText.quoted(hash) + "}") } catch {
            return .failed(reason: "no answer to the cancel: \(error.description)")
        }
        guard response.status == 200, let answer = PolymarketJSON.object(response.body) else {
            if response.status == 401 || response.status == 403 { throw keyRefused(response) }
            return .failed(reason: "HTTP \(response.status): \(Self.reason(response.body))")
        }
        let cancelled = (answer["canceled"] as? [String] ?? []).map { $0.lowercased() }
        let notCancelled = (answer["not_canceled"] as? [String: Any] ?? [:])
        guard let order = try await readOrder(hash, request: request) else {
            throw VenueError.unknownOrder(clientOrderID: clientOrderID)
        }
        noteResting(order)
        if cancelled.contains(hash.lowercased()) { return .cancelled(order) }
        if order.status.isFinal { return .alreadyDone(order) }
        let reason = notCancelled.first { $0.key.lowercased() == hash.lowercased() }.map { "\($0.value)" } ?? "not in the canceled list"
        return .failed(reason: reason)
    }

    public func order(clientOrderID: String) async throws -> VenueOrder? {
        guard let (request, hash, _) = try await knownOrder(clientOrderID), let hash else { return nil }
        let order = try await readOrder(hash, request: request)
        if let order { noteResting(order) }
        return order
    }

    // MARK: - Start checks

    /// Each configured market against `GET /clob-markets/{condition_id}`: its tokens, tick size
    /// (`mts`), neg-risk flag (`nr`) and taker fee (`fd`: rate `r`, exponent `e`). A mismatch is a
    /// refusal naming both values; a market the CLOB does not answer for is logged and trades on
    /// the config's values.
    public func startChecks() async -> [String] {
        // Then the connection is kept open through quiet spells (its first read opens it, if
        // these checks did not).
        defer { startKeepWarm() }
        var refusals: [String] = []
        var byCondition: [String: [(token: String, market: PolymarketTokenMarket)]] = [:]
        for (token, market) in options.markets {
            guard let condition = market.conditionID else { continue }
            byCondition[condition, default: []].append((token, market))
        }
        for condition in byCondition.keys.sorted() {
            let entries = byCondition[condition]!.sorted { $0.token < $1.token }
            let place = entries.first?.market.configPath ?? "market \(condition)"
            let answer: [String: Any]
            do { answer = try await read("/clob-markets/\(condition)", query: []) } catch {
                logger.warning("\(name): cannot check \(place) against the CLOB (\(error)); trading on the config's tick size and fee")
                continue
            }
            let tokens = Set((answer["t"] as? [[String: Any]] ?? []).compactMap { ($0["t"] as? String) ?? ($0["t"] as? NSNumber)?.stringValue })
            for entry in entries where !tokens.contains(entry.token) {
                refusals.append("\(place): token \(entry.token) is not a token of market \(condition) (the CLOB lists \(tokens.sorted().joined(separator: ", ")))")
            }
            guard let market = entries.first?.market else { continue }
            if let tick = answer["mts"].flatMap(Self.decimalText), PolymarketJSON.trimmed(tick, digits: 4) != market.tick.rawValue {
                refusals.append("\(place).tick_size is \(market.tick.rawValue) in the config, \(tick) at the CLOB")
            }
            if let negRisk = answer["nr"] as? Bool, negRisk != market.negRisk {
                refusals.append("\(place).neg_risk is \(market.negRisk) in the config, \(negRisk) at the CLOB")
            }
            if let fees = answer["fd"] as? [String: Any], let rateText = fees["r"].flatMap(Self.decimalText),
               let rateBps = Self.basisPoints(rateText) {
                let exponent = fees["e"].flatMap(Self.decimalText).flatMap { Int(PolymarketJSON.trimmed($0, digits: 0)) } ?? 1
                let venueFee = FeeModel.polymarketTaker(rateBps: rateBps, exponent: exponent)
                let configured = market.fee ?? feeModel
                if configured != venueFee {
                    refusals.append("\(place): the taker fee is \(configured) in the config, rate \(rateBps) bps exponent \(exponent) at the CLOB "
                        + "(set the event's fees.\(name) to {\"polymarket_taker\": {\"rate_bps\": \(rateBps), \"exponent\": \(exponent)}})")
                }
            }
        }
        return refusals
    }

    /// A JSON number or string as its decimal text ("0.01", "0.03"), never through arithmetic.
    static func decimalText(_ value: Any) -> String? {
        if let text = value as? String { return text }
        if let number = value as? NSNumber, !(number is Bool) { return number.stringValue }
        return nil
    }

    /// "0.03" (a fraction) → 300 bps; nil when finer than a basis point.
    static func basisPoints(_ text: String) -> Int64? {
        let trimmed = PolymarketJSON.trimmed(text, digits: 4)
        let parts = trimmed.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = Int64(parts[0]) else { return nil }
        let fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 4, fraction.allSatisfy(\.isNumber) else { return nil }
        return whole * 10_000 + (Int64(fraction + String(repeating: "0", count: 4 - fraction.count)) ?? 0)
    }

    // MARK: - Heartbeats

    /// Keeps the dead-man switch fed while any order may rest: started by the first resting
    /// order, ended when none is left.
    private func noteResting(_ order: VenueOrder) {
        let start: Bool = heartbeat.withLock { state in
            if order.status.isFinal || order.status == .rejected {
                state.resting.remove(order.clientOrderID)
            } else {
                state.resting.insert(order.clientOrderID)
            }
            guard !state.stopped, !state.resting.isEmpty, !state.running else { return false }
            state.running = true
            return true
        }
        guard start else { return }
        Task(executorPreference: clock.taskExecutor) { [weak self] in await self?.feedHeartbeats() }
    }

    private func feedHeartbeats() async {
        while true {
            let id: String? = heartbeat.withLock { state in
                if state.resting.isEmpty || state.stopped { state.running = false; return nil }
                return state.lastID
            }
            guard let id else { return }
            let body = "{\"heartbeat_id\":" + JSONText.quoted(id) + "}"
            do {
                let response = try await send("POST", "/v1/heartbeats", body: body)
                if response.status == 200, let answer = PolymarketJSON.object(response.body) {
                    let next = answer["heartbeat_id"] as? String ?? id
                    heartbeat.withLock { $0.lastID = next; $0.sent += 1 }
                } else {
                    logger.warning("\(name): heartbeat refused (HTTP \(response.status)): \(Self.reason(response.body)); resting orders may be cancelled by the venue")
                }
            } catch {
                logger.warning("\(name): heartbeat not sent (\(error.description)); resting orders may be cancelled by the venue")
            }
            do { try await clock.sleep(milliseconds: options.heartbeatIntervalMilliseconds) } catch {
                heartbeat.withLock { $0.running = false }
                return
            }
        }
    }

    /// `GET /data/trades` for the order's token from a little before it was placed (`after`,
    /// Unix seconds, `tradesSlackMilliseconds` earlier), the order's part of each trade: as taker
    /// the trade's size, as maker its `matched_amount`. Each with its certainty: CONFIRMED is
    /// certain, FAILED undoes the fill, anything else (MATCHED, MINED, RETRYING) is provisional.
    /// An order whose placing time is not known reads the token's whole history.
    public func fills(clientOrderID: String) async throws -> [FillReport] {
        guard let (request, hash, placedAt) = try await knownOrder(clientOrderID), let hash else { return [] }
        var filter = [("asset_id", request.instrument)]
        if let placedAt { filter.append(("after", String(max(0, placedAt - options.tradesSlackMilliseconds) / 1_000))) }
        var fills: [FillReport] = []
        var cursor = "MA=="
        var pages = 0
        while true {
            guard pages < options.maxTradePages else {
                throw VenueError.unavailable(reason: "/data/trades for \(clientOrderID): more than \(options.maxTradePages) pages; its fills are not all known")
            }
            let page = try await read("/data/trades", query: filter + [("next_cursor", cursor)])
            let trades = page["data"] as? [[String: Any]] ?? []
            for trade in trades {
                let status = (trade["status"] as? String ?? "").uppercased()
                // Certain only once CONFIRMED; FAILED undoes the fill (VENUES.md: fills are provisional).
                let certainty: FillCertainty = switch status {
                case "CONFIRMED": .certain
                case "FAILED": .failed
                default: .provisional
                }
                var size: Quantity?
                var price: Price?
                var taker = false
                if (trade["taker_order_id"] as? String)?.lowercased() == hash.lowercased() {
                    size = (trade["size"] as? String).flatMap(PolymarketJSON.quantity)
                    price = (trade["price"] as? String).flatMap(PolymarketJSON.price)
                    taker = true
                } else if let maker = (trade["maker_orders"] as? [[String: Any]])?.first(where: {
                    ($0["order_id"] as? String)?.lowercased() == hash.lowercased()
                }) {
                    size = (maker["matched_amount"] as? String).flatMap(PolymarketJSON.quantity)
                    price = (maker["price"] as? String).flatMap(PolymarketJSON.price)
                } else {
                    continue  // not this order's trade
                }
                // This order's trade: what cannot be read is not skipped (that would under-count
                // the fills), and not guessed.
                guard let id = trade["id"] as? String, !id.isEmpty else {
                    throw VenueError.malformed(reason: "/data/trades: a trade of \(clientOrderID) has no id")
                }
                guard let size, let price else {
                    throw VenueError.malformed(reason: "/data/trades: trade \(id) of \(clientOrderID) has no readable "
                        + (taker ? "size and price" : "matched_amount and price"))
                }
                guard !size.isZero else { continue }
                let rate = (trade["fee_rate_bps"] as? String).flatMap { Int64($0) } ?? (trade["fee_rate_bps"] as? Int).map(Int64.init)
                let fee = taker ? Self.fee(rateBps: rate, model: feeModel, price: price, quantity: size) : .zero
                fills.append(FillReport(venue: name, tradeID: id, clientOrderID: clientOrderID, price: price, quantity: size,
                                        fee: fee, filledAtMilliseconds: PolymarketJSON.seconds(trade["match_time"]).map { $0 * 1_000 }
                                            ?? clock.nowMilliseconds(), certainty: certainty))
            }
            pages += 1
            guard let next = page["next_cursor"] as? String, !next.isEmpty, next != "LTE=" else { break }
            cursor = next
        }
        return fills
    }

    public func positions() async throws -> [VenuePosition] {
        var positions: [VenuePosition] = []
        for token in options.markets.keys.sorted() {
            let answer = try await read("/balance-allowance", query: [("asset_type", "CONDITIONAL"), ("token_id", token),
                                                                      ("signature_type", String(options.signatureType))])
            // A balance that cannot be read is not a zero position: say so.
            guard let micros = (answer["balance"] as? String).flatMap({ Int64($0) }), micros >= 0 else {
                throw VenueError.malformed(reason: "balance-allowance for token \(token): balance is not a non-negative integer string")
            }
            guard micros > 0 else { continue }
            positions.append(VenuePosition(instrument: token, quantity: Quantity(hundredths: micros / 10_000) ?? .zero, cost: .zero))
        }
        return positions
    }

    public func balance() async throws -> Money {
        let answer = try await read("/balance-allowance", query: [("asset_type", "COLLATERAL"),
                                                                  ("signature_type", String(options.signatureType))])
        guard let micros = (answer["balance"] as? String).flatMap({ Int64($0) }) else {
            throw VenueError.malformed(reason: "balance-allowance: balance is not an integer string")
        }
        return Money(micros: micros)
    }

    /// `GET /version` (must be 2), the `Date` header, the collateral balance, and the smallest
    /// allowance of the exchange contracts the configured markets use, for `arbadmin venues check`.
    public func check() async throws -> (version: Int?, balance: Money, allowance: Money?, venueDate: String?) {
        let response: VenueHTTPResponse
        do { response = try await send("GET", "/version", body: nil) } catch { throw VenueError.unavailable(reason: error.description) }
        let version = PolymarketJSON.object(response.body)?["version"] as? Int
        let answer = try await read("/balance-allowance", query: [("asset_type", "COLLATERAL"),
                                                                  ("signature_type", String(options.signatureType))])
        guard let micros = (answer["balance"] as? String).flatMap({ Int64($0) }) else {
            throw VenueError.malformed(reason: "balance-allowance: balance is not an integer string")
        }
        let allowances = (answer["allowances"] as? [String: Any] ?? [:]).reduce(into: [String: Int64]()) { out, item in
            if let value = (item.value as? String).flatMap({ Int64($0) }) { out[item.key.lowercased()] = value }
        }
        let contracts = Set(options.markets.values.map { $0.negRisk ? PolymarketExchange.negRiskExchange : PolymarketExchange.exchange })
        let allowance = contracts.isEmpty ? nil : contracts.map { allowances[$0.lowercased()] ?? 0 }.min().map { Money(micros: $0) }
        return (version, Money(micros: micros), allowance, response.date)
    }

    // MARK: - Reading

    func readOrder(_ hash: String, request: OrderRequest) async throws -> VenueOrder? {
        let response: VenueHTTPResponse
        do { response = try await send("GET", "/data/order/\(hash)", body: nil) } catch {
            throw VenueError.unavailable(reason: error.description)
        }
        if response.status == 404 { return nil }
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 { throw keyRefused(response) }
            throw VenueError.unavailable(reason: "order \(hash): HTTP \(response.status): \(Self.reason(response.body))")
        }
        // The CLOB answers null (or an empty body) for an order it never received.
        guard let object = PolymarketJSON.object(response.body) else {
            let text = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text == "null" || text == "{}" { return nil }
            throw VenueError.unavailable(reason: "order \(hash): not a JSON object: \(PolymarketJSON.excerpt(response.body))")
        }
        guard let matchedText = object["size_matched"] as? String, let matched = PolymarketJSON.quantity(matchedText) else {
            throw VenueError.malformed(reason: "order \(hash): size_matched is missing or not a size")
        }
        guard matched <= request.quantity else {
            throw VenueError.malformed(reason: "order \(hash): size_matched \(matched) is more than the \(request.quantity) ordered")
        }
        let status: VenueOrderStatus
        switch (object["status"] as? String ?? "").uppercased() {
        case "LIVE", "DELAYED": status = matched.isZero ? .open : (matched == request.quantity ? .filled : .partiallyFilled)
        case "MATCHED": status = matched == request.quantity ? .filled : .cancelled
        case "CANCELED", "CANCELLED", "UNMATCHED", "CANCELED_MARKET_RESOLVED": status = matched == request.quantity ? .filled : .cancelled
        case let other: throw VenueError.malformed(reason: "order \(hash): status \"\(other)\" is not one the CLOB documents")
        }
        return venueOrder(request, hash: hash, filled: matched, status: status)
    }

    private func venueOrder(_ request: OrderRequest, hash: String, filled: Quantity, status: VenueOrderStatus) -> VenueOrder {
        VenueOrder(clientOrderID: request.clientOrderID, venueOrderID: hash, instrument: request.instrument, side: request.side,
                   limitPrice: request.limitPrice, quantity: request.quantity, filledQuantity: filled, status: status)
    }

    private func knownOrder(_ clientOrderID: String) async throws -> (OrderRequest, String?, Int64?)? {
        if let entry = known.withLock({ $0[clientOrderID] }) { return (entry.request, entry.orderHash, entry.placedAtMilliseconds) }
        guard let directory else { return nil }
        do {
            return try await directory.knownOrder(clientOrderID: clientOrderID).map { ($0.request, $0.orderHash, $0.placedAtMilliseconds) }
        } catch {
            throw VenueError.unavailable(reason: "cannot read order \(clientOrderID) from the database: \(error)")
        }
    }

    // MARK: - HTTP

    /// A signed request (L2 headers: HMAC over timestamp + METHOD + path + body).
    func send(_ method: String, _ path: String, query: [(String, String)] = [], body: String?) async throws(VenueTransportError)
        -> VenueHTTPResponse {
        let prepared = try request(method, path, query: query, body: body, nowMilliseconds: clock.nowMilliseconds())
        keepWarm.noteRequest()
        return try await transport.send(prepared, timeoutMilliseconds: options.requestTimeoutMilliseconds)
    }

    /// Keeps the kept connection open through quiet spells (`ConnectionKeepWarm`): after
    /// `keepWarmMilliseconds` with no request to the CLOB, one `GET /version` (any answer will do:
    /// it went over the connection). Started by `startChecks`; ends with the venue.
    public func startKeepWarm() {
        keepWarm.start(venue: name, logger: logger) { [weak self] in
            guard let venue = self else { return false }
            _ = try await venue.send("GET", "/version", body: nil)
            return true
        }
    }

    /// A request written out with its L2 headers, signed at `nowMilliseconds`.
    func request(_ method: String, _ path: String, query: [(String, String)] = [], body: String?,
                 nowMilliseconds: Int64) throws(VenueTransportError) -> PreparedVenueRequest {
        let timestamp = String(nowMilliseconds / 1_000)
        let signature: String
        do {
            signature = try PolymarketL2.signature(secret: credentials.secret, timestamp: timestamp, method: method, path: path,
                                                   body: body)
        } catch {
            throw VenueTransportError(description: "cannot sign: \(error.description)")
        }
        var url = options.baseURL
        while url.hasSuffix("/") { url.removeLast() }
        url += path
        if !query.isEmpty {
            url += "?" + query.map { $0.0 + "=" + ($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1) }
                .joined(separator: "&")
        }
        let headers = [("POLY_ADDRESS", walletAddress), ("POLY_SIGNATURE", signature), ("POLY_TIMESTAMP", timestamp),
                       ("POLY_API_KEY", credentials.apiKey), ("POLY_PASSPHRASE", credentials.passphrase)]
        return try transport.prepare(method: method, url: url, headers: headers, body: body)
    }

    func read(_ path: String, query: [(String, String)]) async throws -> [String: Any] {
        let response: VenueHTTPResponse
        do { response = try await send("GET", path, query: query, body: nil) } catch {
            throw VenueError.unavailable(reason: error.description)
        }
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 { throw keyRefused(response) }
            throw VenueError.unavailable(reason: "\(path): HTTP \(response.status): \(Self.reason(response.body))")
        }
        guard let object = PolymarketJSON.object(response.body) else {
            throw VenueError.unavailable(reason: "\(path): not a JSON object: \(PolymarketJSON.excerpt(response.body))")
        }
        return object
    }

    private func keyRefused(_ response: VenueHTTPResponse) -> VenueError {
        logger.critical("\(name): Polymarket refused the API credentials (HTTP \(response.status)): check POLY_API_KEY / POLY_API_SECRET / POLY_PASSPHRASE (or the credentials file) belong to this wallet")
        return VenueError.rejected(reason: "HTTP \(response.status): Polymarket refused the API credentials")
    }

    static func reason(_ body: [UInt8]) -> String {
        if let object = PolymarketJSON.object(body) {
            for key in ["errorMsg", "error", "message"] {
                if let text = object[key] as? String, !text.isEmpty { return text }
            }
        }
        return PolymarketJSON.excerpt(body)
    }

    static func orderType(_ timeInForce: TimeInForce) -> String {
        switch timeInForce {
        case .ioc: "FAK"
        case .fok: "FOK"
        case .gtc: "GTC"
        }
    }

    /// A salt from the client order id: the same on every prepare of one order, under 2^53 (a
    /// JSON number every client reads exactly).
    static func salt(_ clientOrderID: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in clientOrderID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash & ((1 << 53) - 1)
    }

    /// The taker fee of one fill at the trade's own rate (`fee_rate_bps`), else the venue's model.
    static func fee(rateBps: Int64?, model: FeeModel, price: Price, quantity: Quantity) -> Money {
        guard let rateBps else { return model.fee(price: price, quantity: quantity) }
        if case .polymarketTaker(_, let exponent) = model {
            return FeeModel.polymarketTaker(rateBps: rateBps, exponent: exponent).fee(price: price, quantity: quantity)
        }
        return FeeModel.polymarketTaker(rateBps: rateBps, exponent: 1).fee(price: price, quantity: quantity)
    }
}

/// Reading the CLOB's JSON answers: sizes and prices from decimal strings, as fixed point.
enum PolymarketJSON {
    static func object(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    static func excerpt(_ body: [UInt8]) -> String {
        body.isEmpty ? "an empty body" : String(decoding: body.prefix(160), as: UTF8.self) + (body.count > 160 ? "…" : "")
    }

    /// "10", "10.5", "10.000000" → contracts; finer than hundredths → nil (never rounded).
    static func quantity(_ text: String) -> Quantity? {
        Quantity(parsing: trimmed(text, digits: 2))
    }

    static func price(_ text: String) -> Price? {
        Price(parsing: trimmed(text, digits: 4))
    }

    static func trimmed(_ text: String, digits: Int) -> String {
        guard let dot = text.firstIndex(of: ".") else { return text }
        var fraction = text[text.index(after: dot)...]
        while fraction.count > digits, fraction.last == "0" { fraction = fraction.dropLast() }
        return fraction.isEmpty ? String(text[..<dot]) : String(text[..<dot]) + "." + fraction
    }

    static func seconds(_ value: Any?) -> Int64? {
        if let text = value as? String { return Int64(text) }
        if let number = value as? Int { return Int64(number) }
        return nil
    }
}

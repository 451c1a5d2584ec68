import ArbKit
import Logging
import OrderStateMachine
import Synchronization

/// An order arb sent (or meant to send) to Kalshi: what the trader's database knows of it.
/// Kalshi cannot look an order up by client order id, so the venue id from the create answer is
/// kept, and when that answer was lost the order is found by listing the ticker's orders from
/// the time it was sent.
public struct KalshiKnownOrder: Sendable, Hashable {
    public var request: OrderRequest
    public var venueOrderID: String?
    /// When the order was (about to be) sent, Unix ms: the listing starts a little before it.
    public var sentAtMilliseconds: Int64

    public init(request: OrderRequest, venueOrderID: String?, sentAtMilliseconds: Int64) {
        self.request = request
        self.venueOrderID = venueOrderID
        self.sentAtMilliseconds = sentAtMilliseconds
    }
}

/// Where the adapter finds orders a previous process sent (the trader database's leg rows).
public protocol KalshiOrderDirectory: Sendable {
    func knownOrder(clientOrderID: String) async throws -> KalshiKnownOrder?
}

/// Kalshi's Trade API v2 behind `Venue` (VENUES.md, DESIGN §4 for the errors).
public final class KalshiVenue: Venue {
    public struct Options: Sendable {
        public var name: String
        /// `demo` or `prod`: named in the log line when the venue refuses the key.
        public var environment: String
        /// The REST root, e.g. `https://external-api.kalshi.com/trade-api/v2`.
        public var baseURL: String
        public var selfTradePrevention: String
        public var feeModel: FeeModel
        /// After a create, how long a listing may take to show the order.
        public var settleWindowMilliseconds: Int64 = 3_000
        /// One request's time limit.
        public var requestTimeoutMilliseconds: Int64 = 5_000
        /// How long a create keeps retrying 429s (the executor's fill timeout) before the answer
        /// counts as lost.
        public var rateLimitBudgetMilliseconds: Int64 = 2_000
        /// The first 429 back-off; it doubles, with jitter, up to a second.
        public var rateLimitBackoffMilliseconds: Int64 = 50
        /// Page size for lists.
        public var pageLimit: Int = 200
        /// Listing starts this long before the order was sent (clocks differ).
        public var listingSlackMilliseconds: Int64 = 60_000
        /// The websocket root for the book feed (`wss://…/trade-api/ws/v2`); nil: no feed.
        public var websocketURL: String?
        /// A create's headers signed at `prepare` are used by `submit` only if their timestamp is
        /// at most this old when the request goes out; else it signs afresh. Kalshi documents
        /// no tolerance (VENUES.md): one second keeps the header as fresh as a slow signature.
        public var presignedMaxAgeMilliseconds: Int64 = 1_000
        /// After this long with no request to Kalshi, one signed balance read keeps the kept
        /// connection open, so the next order does not pay a connect and a TLS handshake (0: never).
        /// Well under the pool's 60 s idle limit and the idle timeouts load balancers commonly use.
        public var keepWarmMilliseconds: Int64 = 15_000

        public init(name: String, environment: String, baseURL: String, selfTradePrevention: String, feeModel: FeeModel) {
            self.name = name
            self.environment = environment
            self.baseURL = baseURL
            self.selfTradePrevention = selfTradePrevention
            self.feeModel = feeModel
        }
    }

    public let name: String
    public let feeModel: FeeModel
    public let settleWindowMilliseconds: Int64
    /// Fills as Kalshi's `fill` channel announces them (`fillAnnounced`), each read back with its
    /// fee; the executor also reads them through `fills` and `order`, and a fill seen both ways
    /// is one record (trade ids).
    public var events: AsyncStream<VenueEvent> { pushed.events }
    private let pushed = PushedFills()

    let options: Options
    let signer: KalshiSigner
    let transport: VenueHTTPTransport
    let directory: (any KalshiOrderDirectory)?
    let clock: any TradingClock
    let logger: Logger
    /// The path of the REST root (`/trade-api/v2`): every signed path starts with it.
    let rootPath: String
    private let known = Mutex<[String: KalshiKnownOrder]>([:])
    /// Create headers signed at `prepare`, awaiting their `submit`.
    let presigned = KalshiPresignedCreates()
    static let createPath = "/portfolio/events/orders"

    /// The book feed for `tickers` over this venue's websocket and key (nil without a websocket URL).
    public func bookFeedSpec(tickers: [String]) -> KalshiBookFeedSpec? {
        options.websocketURL.map { KalshiBookFeedSpec(venue: options.name, url: $0, tickers: tickers, signer: signer) }
    }

    public init(options: Options, signer: KalshiSigner, transport: VenueHTTPTransport = .shared,
                directory: (any KalshiOrderDirectory)?, clock: any TradingClock, logger: Logger) {
        self.name = options.name
        self.feeModel = options.feeModel
        self.settleWindowMilliseconds = options.settleWindowMilliseconds
        self.options = options
        self.signer = signer
        self.transport = transport
        self.directory = directory
        self.clock = clock
        self.logger = logger
        self.keepWarm = ConnectionKeepWarm(periodMilliseconds: options.keepWarmMilliseconds, clock: clock)
        var root = options.baseURL
        while root.hasSuffix("/") { root.removeLast() }
        self.rootPath = VenueHTTPTransport.pathOnly(root) == "/" ? "" : VenueHTTPTransport.pathOnly(root)
    }

    /// The `fill` channel said `venueOrderID` filled: its fills are read (with the fee Kalshi
    /// charged) and each one not pushed before goes to `events`. An order this process does not
    /// know (placed by an earlier run) is left to the executor's reads and recovery.
    public func fillAnnounced(venueOrderID: String, tradeID: String) async {
        let clientOrderID = known.withLock { $0.values.first { $0.venueOrderID == venueOrderID }?.request.clientOrderID }
        switch await pushed.announce(key: tradeID, tradeID: tradeID, clientOrderID: clientOrderID, read: { try await fills(clientOrderID: $0) }) {
        case .unknownOrder: logger.debug("kalshi fill \(tradeID) for order \(venueOrderID), not one of this run's: left to recovery")
        case .unread(let error): logger.warning("kalshi fill \(tradeID) announced, but its fills could not be read: \(error)")
        case .pushed, .repeated: break
        }
    }

    /// The `user_orders` channel said `venueOrderID` changed: the order is read over REST and,
    /// when its status or filled quantity is new, goes to `events` as an `orderUpdate`. An order
    /// this process does not know is left to the executor's reads and recovery.
    public func orderAnnounced(venueOrderID: String) async {
        let clientOrderID = known.withLock { $0.values.first { $0.venueOrderID == venueOrderID }?.request.clientOrderID }
        switch await pushed.announceOrder(clientOrderID: clientOrderID, read: { try await order(clientOrderID: $0) }) {
        case .unknownOrder: logger.debug("kalshi order \(venueOrderID) changed, not one of this run's: left to recovery")
        case .unread(let error): logger.warning("kalshi order \(venueOrderID) changed, but it could not be read: \(error)")
        case .pushed, .repeated: break
        }
    }

    // MARK: - Orders

    /// Starts signing the create's headers (the signature does not cover the body) on another
    /// thread, stamped now: `prepare` runs inside the intent commit, so the signature overlaps
    /// the commit's flush. Nothing is sent until `submit`.
    public func prepare(_ request: OrderRequest) -> PreparedOrder {
        let timestamp = clock.nowMilliseconds()
        // A spare signed ahead, if fresh (at most half the age limit, leaving the other half for
        // the commit and the send): no signature on this path at all.
        if !presigned.assignSpare(to: request.clientOrderID, now: timestamp,
                                  maxAgeMilliseconds: options.presignedMaxAgeMilliseconds / 2) {
            let signer = signer
            let path = rootPath + Self.createPath
            presigned.start(clientOrderID: request.clientOrderID, timestampMilliseconds: timestamp, executor: clock.taskExecutor) {
                try signer.headers(timestampMilliseconds: timestamp, method: "POST", path: path)
            }
        }
        // The request as it will be sent, written beside the commit; a body the venue would
        // refuse is left for `submit` to refuse.
        let (transport, url, selfTradePrevention) = (transport, createURL, options.selfTradePrevention)
        presigned.writeAhead(clientOrderID: request.clientOrderID, executor: clock.taskExecutor) { headers in
            guard let body = try? KalshiCreateOrderBody(request, selfTradePrevention: selfTradePrevention) else { return nil }
            return try? transport.prepare(method: "POST", url: url, headers: headers.pairs, body: body.json)
        }
        return PreparedOrder(request: request, venueOrderID: nil)
    }

    /// Signs a new spare create header if the one kept is a quarter of the age limit old (or
    /// taken): called by the refresher and after each create's request is out, never on a path
    /// to a request.
    func refreshSpare() {
        let (signer, path, now) = (signer, rootPath + Self.createPath, clock.nowMilliseconds())
        presigned.refreshSpare(now: now, refreshAfterMilliseconds: options.presignedMaxAgeMilliseconds / 4,
                               executor: clock.taskExecutor) {
            try signer.headers(timestampMilliseconds: now, method: "POST", path: path)
        }
    }

    /// When the spare create header kept now was stamped (nil: none yet).
    public var spareStampMilliseconds: Int64? { presigned.spareTimestamp }

    /// Keeps a fresh spare while the venue lives (started by `startChecks`, so by the trader).
    private let spareRefresher = Mutex<Task<Void, Never>?>(nil)
    /// The keep-warm read's loop and the instant of the last request (`startKeepWarm`).
    let keepWarm: ConnectionKeepWarm

    deinit {
        spareRefresher.withLock { $0?.cancel() }
    }

    /// Keeps the kept connection open through quiet spells (`ConnectionKeepWarm`): after
    /// `keepWarmMilliseconds` with no request to Kalshi, one signed balance read. Started by
    /// `startChecks`; ends with the venue.
    public func startKeepWarm() {
        keepWarm.start(venue: name, logger: logger) { [weak self] in
            guard let venue = self else { return false }
            _ = try await venue.balance()
            return true
        }
    }

    public func submit(_ order: PreparedOrder) async throws -> SubmitAck {
        let request = order.request
        let body: KalshiCreateOrderBody
        do {
            body = try KalshiCreateOrderBody(request, selfTradePrevention: options.selfTradePrevention)
        } catch {
            throw VenueError.rejected(reason: error.description)
        }
        let sentAt = clock.nowMilliseconds()
        remember(KalshiKnownOrder(request: request, venueOrderID: nil, sentAtMilliseconds: sentAt))
        let json = body.json
        // The headers `prepare` started, when fresh; a retry signs afresh.
        let taken = await presigned.take(clientOrderID: request.clientOrderID,
                                         maxAgeMilliseconds: options.presignedMaxAgeMilliseconds, now: { clock.nowMilliseconds() })
        var signed = taken?.headers
        var written = taken?.written
        var backoff = options.rateLimitBackoffMilliseconds
        var attempt = 0
        while true {
            attempt += 1
            let response: VenueHTTPResponse
            let headers = signed
            let ready = written
            signed = nil
            written = nil
            do {
                if let ready {
                    keepWarm.noteRequest()
                    response = try await transport.send(ready, timeoutMilliseconds: options.requestTimeoutMilliseconds)
                } else {
                    response = try await send("POST", Self.createPath, body: json, signed: headers)
                }
            } catch {
                refreshSpare()
                throw VenueError.ambiguous(reason: error.description)
            }
            refreshSpare()  // the request is out: the next create's header, off its path
            switch response.status {
            case 200, 201:
                do {
                    return SubmitAck(order: try created(response.body, request: request), fills: [])
                } catch {
                    throw VenueError.ambiguous(reason: "the create answer did not parse: \(error)")
                }
            case 409:
                // The client order id exists: a resend after a lost answer. Read the order.
                logger.notice("\(name): create \(request.clientOrderID) answered 409; looking the order up")
                if let existing = try? await lookUp(request.clientOrderID) {
                    return SubmitAck(order: existing, fills: [])
                }
                throw VenueError.ambiguous(reason: "409: the client order id exists but the order could not be read")
            case 401, 403:
                throw keyRefused(response)
            case 429:
                let elapsed = clock.nowMilliseconds() - sentAt
                guard elapsed + backoff <= options.rateLimitBudgetMilliseconds else {
                    throw VenueError.ambiguous(reason: "429 too many requests for \(elapsed) ms (\(attempt) tries)")
                }
                try await clock.sleep(milliseconds: jittered(backoff, key: request.clientOrderID, attempt: attempt))
                backoff = min(backoff * 2, 1_000)
            case 400..<500:
                throw VenueError.rejected(reason: "HTTP \(response.status): \(Self.reason(response.body))")
            default:
                throw VenueError.ambiguous(reason: "HTTP \(response.status): \(Self.reason(response.body))")
            }
        }
    }

    public func cancel(clientOrderID: String) async throws -> CancelAnswer {
        guard let known = try await knownOrder(clientOrderID) else { throw VenueError.unknownOrder(clientOrderID: clientOrderID) }
        guard let venueOrderID = try await venueOrderID(of: known) else {
            throw VenueError.unknownOrder(clientOrderID: clientOrderID)
        }
        let response: VenueHTTPResponse
        do {
            response = try await send("DELETE", "/portfolio/events/orders/\(venueOrderID)", body: nil)
        } catch {
            return .failed(reason: "no answer to the cancel: \(error.description)")
        }
        switch response.status {
        case 200, 201, 204:
            guard let order = try? await readOrder(venueOrderID, known: known) else {
                // Cancelled, but the final fill count is not known yet: the order read failed.
                return .failed(reason: "cancel accepted but the order could not be read back")
            }
            return .cancelled(order)
        case 401, 403:
            throw keyRefused(response)
        case 400, 404, 409, 422:
            // Already executed or cancelled (or never cancellable): the order says which.
            let order = try await readOrder(venueOrderID, known: known)
            if order.status.isFinal { return .alreadyDone(order) }
            return .failed(reason: "HTTP \(response.status): \(Self.reason(response.body))")
        default:
            return .failed(reason: "HTTP \(response.status): \(Self.reason(response.body))")
        }
    }

    public func order(clientOrderID: String) async throws -> VenueOrder? {
        guard let known = try await knownOrder(clientOrderID) else { return nil }
        if let venueOrderID = known.venueOrderID { return try await readOrder(venueOrderID, known: known) }
        return try await lookUp(clientOrderID)
    }

    public func fills(clientOrderID: String) async throws -> [FillReport] {
        guard let known = try await knownOrder(clientOrderID), let venueOrderID = try await venueOrderID(of: known) else {
            return []
        }
        guard let instrument = KalshiInstrument(parsing: known.request.instrument) else {
            throw VenueError.malformed(reason: "instrument \(known.request.instrument) is not \(KalshiInstrument.expected)")
        }
        var fills: [FillReport] = []
        try await forEachPage("/portfolio/fills", query: [("order_id", venueOrderID)], list: "fills") { item in
            fills.append(try fill(item, clientOrderID: clientOrderID, outcome: instrument.outcome))
        }
        return fills
    }

    public func positions() async throws -> [VenuePosition] {
        var positions: [VenuePosition] = []
        try await forEachPage("/portfolio/positions", query: [], list: "market_positions") { item in
            let ticker = try item.string("ticker")
            let hundredths = try item.signedHundredths("position_fp")
            guard hundredths != 0 else { return }
            let outcome: KalshiInstrument.Outcome = hundredths > 0 ? .yes : .no
            let cost = item.fields["market_exposure_dollars"] == nil ? Money.zero : try item.money("market_exposure_dollars")
            positions.append(VenuePosition(instrument: KalshiInstrument(ticker: ticker, outcome: outcome).description,
                                           quantity: Quantity(hundredths: abs(hundredths)) ?? .zero, cost: cost))
        }
        return positions
    }

    public func balance() async throws -> Money {
        let object = try await read("/portfolio/balance", query: [], what: "the balance")
        do { return try object.money("balance_dollars") } catch { throw VenueError.malformed(reason: "\(error)") }
    }

    /// Starts the spare's refresher (once): every quarter of the age limit it re-signs the spare
    /// if that old, so even the first create after a quiet spell finds one. It holds the venue
    /// weakly and ends with it (`deinit` cancels it). About four RSA signatures a second at the
    /// default one-second limit: a millisecond of CPU per second.
    public func startSpareRefresher() {
        let period = max(1, options.presignedMaxAgeMilliseconds / 4)
        let clock = clock
        spareRefresher.withLock { task in
            guard task == nil else { return }
            task = Task(executorPreference: clock.taskExecutor, priority: .utility) { [weak self] in
                while !Task.isCancelled {
                    do {
                        guard let venue = self else { return }
                        venue.refreshSpare()
                    }  // the venue is not held across the sleep
                    do { try await clock.sleep(milliseconds: period) } catch { return }
                }
            }
        }
    }

    /// Before the first order: one signed `GET /portfolio/balance`, so that order finds a kept-alive
    /// connection instead of paying the connect (and TLS) on the critical path, and a refused key
    /// shows at start; then the keep-warm loop keeps that connection open through quiet spells.
    /// Nothing here refuses to trade: an unanswered read is a warning.
    public func startChecks() async -> [String] {
        startSpareRefresher()
        defer { startKeepWarm() }
        do { _ = try await balance() } catch {
            logger.warning("\(name): the balance could not be read at start (\(error)); the first order opens the connection")
        }
        return []
    }

    /// The venue's `Date` header and the balance, for `arbadmin venues check`.
    public func check() async throws -> (balance: Money, venueDate: String?) {
        let response: VenueHTTPResponse
        do { response = try await send("GET", "/portfolio/balance", body: nil) } catch {
            throw VenueError.unavailable(reason: error.description)
        }
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 { throw keyRefused(response) }
            throw VenueError.unavailable(reason: "HTTP \(response.status): \(Self.reason(response.body))")
        }
        do {
            return (try KalshiObject(body: response.body, what: "the balance").money("balance_dollars"), response.date)
        } catch {
            throw VenueError.malformed(reason: "\(error)")
        }
    }

    // MARK: - Reading orders

    /// The order from a create answer: it has no status, so derive one from the counts and the
    /// time in force (an IOC's or FOK's remainder is final: killed).
    func created(_ body: [UInt8], request: OrderRequest) throws -> VenueOrder {
        let whole = try KalshiObject(body: body, what: "the create answer")
        let object = (whole.fields["order"] as? [String: Any]).map { KalshiObject($0, what: "the create answer") } ?? whole
        let venueOrderID = try object.string("order_id")
        let filled = try object.optionalQuantity("fill_count_fp") ?? object.quantity("fill_count")
        let remaining = try object.optionalQuantity("remaining_count_fp") ?? object.quantity("remaining_count")
        guard filled <= request.quantity else {
            throw object.failure("fill_count", "is \(filled), more than the \(request.quantity) ordered")
        }
        let status: VenueOrderStatus
        if filled == request.quantity {
            status = .filled
        } else if request.timeInForce != .gtc || remaining.isZero {
            status = .cancelled
        } else {
            status = filled.isZero ? .open : .partiallyFilled
        }
        remember(venueOrderID: venueOrderID, for: request.clientOrderID)
        return venueOrder(request, venueOrderID: venueOrderID, filled: filled, status: status)
    }

    /// `GET /portfolio/orders/{id}`.
    func readOrder(_ venueOrderID: String, known: KalshiKnownOrder) async throws -> VenueOrder {
        let object = try await read("/portfolio/orders/\(venueOrderID)", query: [], what: "order \(venueOrderID)")
        let order = (object.fields["order"] as? [String: Any]).map { KalshiObject($0, what: "order \(venueOrderID)") } ?? object
        do { return try listed(order, known: known) } catch { throw VenueError.malformed(reason: "\(error)") }
    }

    /// An order object of a read or a listing (`status` is `resting`, `canceled` or `executed`).
    func listed(_ object: KalshiObject, known: KalshiKnownOrder) throws -> VenueOrder {
        let venueOrderID = try object.string("order_id")
        let filled = try object.optionalQuantity("fill_count_fp") ?? object.quantity("fill_count")
        guard filled <= known.request.quantity else {
            throw object.failure("fill_count_fp", "is \(filled), more than the \(known.request.quantity) ordered")
        }
        let text = try object.string("status")
        let status: VenueOrderStatus
        switch text {
        case "executed": status = filled == known.request.quantity ? .filled : .cancelled
        case "canceled", "cancelled": status = filled == known.request.quantity ? .filled : .cancelled
        case "resting", "pending": status = filled.isZero ? .open : .partiallyFilled
        default: throw object.failure("status", "is \"\(text)\"; Kalshi documents resting, canceled and executed")
        }
        remember(venueOrderID: venueOrderID, for: known.request.clientOrderID)
        return venueOrder(known.request, venueOrderID: venueOrderID, filled: filled, status: status)
    }

    /// The order whose create answer was lost: list the ticker's orders from (a little before)
    /// the send, page by page, and match the client order id. nil: not there (yet).
    func lookUp(_ clientOrderID: String) async throws -> VenueOrder? {
        guard let known = try await knownOrder(clientOrderID) else { return nil }
        guard let instrument = KalshiInstrument(parsing: known.request.instrument) else { return nil }
        let from = max(0, known.sentAtMilliseconds - options.listingSlackMilliseconds) / 1_000
        var found: VenueOrder?
        try await forEachPage("/portfolio/orders", query: [("ticker", instrument.ticker), ("min_ts", String(from))],
                              list: "orders") { item in
            guard found == nil, item.optionalString("client_order_id") == clientOrderID else { return }
            found = try listed(item, known: known)
        }
        return found
    }

    private func venueOrderID(of known: KalshiKnownOrder) async throws -> String? {
        if let id = known.venueOrderID { return id }
        return try await lookUp(known.request.clientOrderID)?.venueOrderID
    }

    func fill(_ item: KalshiObject, clientOrderID: String, outcome: KalshiInstrument.Outcome) throws -> FillReport {
        let tradeID = try item.optionalString("trade_id") ?? item.string("fill_id")
        let price: Price
        if outcome == .no, item.fields["no_price_dollars"] != nil {
            price = try item.price("no_price_dollars")
        } else {
            price = KalshiBookOrder.outcomePrice(yesPrice: try item.price("yes_price_dollars"), outcome: outcome)
        }
        let quantity = try item.optionalQuantity("count_fp") ?? item.quantity("count")
        guard !quantity.isZero else { throw item.failure("count_fp", "is 0") }
        return FillReport(venue: name, tradeID: tradeID, clientOrderID: clientOrderID, price: price, quantity: quantity,
                          fee: try item.money("fee_cost"),
                          filledAtMilliseconds: item.timeMilliseconds("ts_ms", "created_time") ?? clock.nowMilliseconds())
    }

    private func venueOrder(_ request: OrderRequest, venueOrderID: String, filled: Quantity, status: VenueOrderStatus) -> VenueOrder {
        VenueOrder(clientOrderID: request.clientOrderID, venueOrderID: venueOrderID, instrument: request.instrument,
                   side: request.side, limitPrice: request.limitPrice, quantity: request.quantity,
                   filledQuantity: filled, status: status)
    }

    // MARK: - What the adapter knows

    private func remember(_ order: KalshiKnownOrder) {
        known.withLock { $0[order.request.clientOrderID] = order }
    }

    private func remember(venueOrderID: String, for clientOrderID: String) {
        known.withLock { $0[clientOrderID]?.venueOrderID = venueOrderID }
    }

    private func knownOrder(_ clientOrderID: String) async throws -> KalshiKnownOrder? {
        if let order = known.withLock({ $0[clientOrderID] }) { return order }
        guard let directory else { return nil }
        let order: KalshiKnownOrder?
        do { order = try await directory.knownOrder(clientOrderID: clientOrderID) } catch {
            throw VenueError.unavailable(reason: "cannot read order \(clientOrderID) from the database: \(error)")
        }
        if let order { known.withLock { $0[clientOrderID] = $0[clientOrderID] ?? order } }
        return order
    }

    // MARK: - HTTP

    /// The URL of a create (`POST /portfolio/events/orders`).
    var createURL: String { url(Self.createPath, query: []) }

    func url(_ path: String, query: [(String, String)]) -> String {
        var url = options.baseURL
        while url.hasSuffix("/") { url.removeLast() }
        url += path
        if !query.isEmpty { url += "?" + query.map { $0.0 + "=" + Self.percentEncoded($0.1) }.joined(separator: "&") }
        return url
    }

    /// One signed request; `signed`: headers already made for this method and path.
    func send(_ method: String, _ path: String, query: [(String, String)] = [], body: String?,
              signed: KalshiSignedHeaders? = nil) async throws(VenueTransportError) -> VenueHTTPResponse {
        let fullPath = rootPath + path
        let headers: KalshiSignedHeaders
        if let signed {
            headers = signed
        } else {
            do {
                headers = try signer.headers(timestampMilliseconds: clock.nowMilliseconds(), method: method, path: fullPath)
            } catch {
                throw VenueTransportError(description: error.description)
            }
        }
        keepWarm.noteRequest()
        return try await transport.send(method: method, url: url(path, query: query), headers: headers.pairs, body: body,
                                        timeoutMilliseconds: options.requestTimeoutMilliseconds)
    }

    /// A GET that must answer 200 with a JSON object; anything else is `unavailable` (a read
    /// never guesses).
    func read(_ path: String, query: [(String, String)], what: String) async throws -> KalshiObject {
        let response: VenueHTTPResponse
        do { response = try await send("GET", path, query: query, body: nil) } catch {
            throw VenueError.unavailable(reason: error.description)
        }
        switch response.status {
        case 200: break
        case 401, 403: throw keyRefused(response)
        default: throw VenueError.unavailable(reason: "\(what): HTTP \(response.status): \(Self.reason(response.body))")
        }
        do { return try KalshiObject(body: response.body, what: what) } catch {
            throw VenueError.unavailable(reason: "\(error)")
        }
    }

    /// Every item of a paged list, following `cursor` until it is empty.
    func forEachPage(_ path: String, query: [(String, String)], list: String,
                     _ body: (KalshiObject) throws -> Void) async throws {
        var cursor: String?
        var pages = 0
        repeat {
            var pageQuery = query + [("limit", String(options.pageLimit))]
            if let cursor { pageQuery.append(("cursor", cursor)) }
            let page = try await read(path, query: pageQuery, what: "\(path) page \(pages + 1)")
            do {
                for item in try page.array(list) { try body(item) }
            } catch let error as VenueError {
                throw error
            } catch {
                throw VenueError.malformed(reason: "\(error)")
            }
            pages += 1
            guard pages < 10_000 else { throw VenueError.malformed(reason: "\(path): more than 10000 pages") }
            cursor = page.cursor
        } while cursor != nil
    }

    /// A refused key: never retried in a loop. The log line names the environment and the key's
    /// source, never the key, its id or a signature.
    private func keyRefused(_ response: VenueHTTPResponse) -> VenueError {
        logger.critical("\(name): Kalshi \(options.environment) refused the API key (HTTP \(response.status)): check that key_id and private_key_file are a \(options.environment) key pair — keys are per environment")
        return VenueError.rejected(reason: "HTTP \(response.status): Kalshi \(options.environment) refused the API key")
    }

    /// The error text of an answer (`{"error": {"code", "message"}}`, `{"error": "…"}` or
    /// `{"message": "…"}`), or an excerpt of the body.
    static func reason(_ body: [UInt8]) -> String {
        guard let object = try? KalshiObject(body: body, what: "the error") else { return KalshiObject.excerpt(body) }
        if let error = object.fields["error"] as? [String: Any] {
            let code = error["code"] as? String
            let message = error["message"] as? String
            let parts = [code, message].compactMap { $0 }
            if !parts.isEmpty { return parts.joined(separator: ": ") }
        }
        if let text = object.fields["error"] as? String { return text }
        if let text = object.fields["message"] as? String { return text }
        return KalshiObject.excerpt(body)
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// A back-off with jitter that differs per order and attempt but is the same on every run
    /// (no global randomness): 50–100 % of `milliseconds`.
    func jittered(_ milliseconds: Int64, key: String, attempt: Int) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 + [UInt8(truncatingIfNeeded: attempt)] {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return milliseconds / 2 + Int64(hash % UInt64(max(1, milliseconds / 2 + 1)))
    }
}

import PolymarketVenue

// The settings of each venue kind other than paper, and how the config writes them. They live
// beside the venues (not in Config/) because each kind's settings change with its adapter; the
// config decodes `kind` and hands the venue's object to the kind's own decoder here.

public enum VenueSettings: Sendable, Hashable {
    case paper(PaperVenueConfig)
    case kalshi(KalshiVenueSettings)
    case polymarket(PolymarketVenueSettings)
}

/// A Polymarket venue: `{"kind": "polymarket", "base_url", "ws_url", "funder", "signature_type",
/// "fee"}`. Instruments are token ids; each event names its market under `markets`. The wallet
/// key and the API credentials never appear in the config.
public struct PolymarketVenueSettings: Sendable, Hashable {
    /// How orders are signed: by the wallet itself, or for a Polymarket proxy or a Safe it controls.
    public enum SignatureType: String, Sendable, Hashable, CaseIterable {
        case eoa, polyProxy = "poly_proxy", gnosisSafe = "gnosis_safe"
    }

    public static let defaultBaseURL = "https://clob.polymarket.com"
    public static let defaultWebsocketURL = "wss://ws-subscriptions-clob.polymarket.com"

    /// `base_url`: the CLOB's REST root.
    public var baseURL: String
    /// `ws_url`: the websocket root (`/ws/market` and `/ws/user` are appended).
    public var websocketURL: String
    /// `signature_type` (required).
    public var signatureType: SignatureType
    /// `funder`: the proxy or Safe address that holds the funds (`0x` and 40 hex digits); for
    /// `eoa` it may be left out (the wallet's own address).
    public var funder: String?
    /// `private_key_file`: a 0600 file holding the wallet key (`0x` and 64 hex digits); absent →
    /// `POLY_PRIVATE_KEY` (the key itself) or `POLY_PRIVATE_KEY_FILE` from the environment.
    public var privateKeyFile: String?
    /// `credentials_file`: a 0600 JSON file `{"api_key","secret","passphrase"}` (what `arbadmin
    /// venues setup polymarket` writes); absent → `POLY_API_KEY`, `POLY_API_SECRET`, `POLY_PASSPHRASE`.
    public var credentialsFile: String?
    /// `book_silence_ms`: a market socket silent this long (pongs do not count) untrusts its books
    /// until fresh ones arrive; default 30,000.
    public var bookSilenceMilliseconds: Int64 = 30_000

    /// The market channel: `ws_url` + `/ws/market`.
    public var marketChannelURL: String {
        var root = websocketURL
        while root.hasSuffix("/") { root.removeLast() }
        return root + "/ws/market"
    }

    public init(baseURL: String? = nil, websocketURL: String? = nil, signatureType: SignatureType, funder: String?,
                privateKeyFile: String? = nil, credentialsFile: String? = nil) {
        self.baseURL = baseURL ?? Self.defaultBaseURL
        self.websocketURL = websocketURL ?? Self.defaultWebsocketURL
        self.signatureType = signatureType
        self.funder = funder
        self.privateKeyFile = privateKeyFile
        self.credentialsFile = credentialsFile
    }

    /// The signature type's number in the order (EOA 0, POLY_PROXY 1, GNOSIS_SAFE 2).
    public var signatureTypeNumber: Int {
        switch signatureType {
        case .eoa: 0
        case .polyProxy: 1
        case .gnosisSafe: 2
        }
    }
}

/// One event's market at Polymarket: `{"condition_id": "0x…", "tick_size": "0.01", "neg_risk": false}`.
public struct PolymarketMarket: Sendable, Hashable {
    /// The price grids Polymarket markets use (the adapter's own, with its amount decimals).
    public typealias TickSize = PolymarketTick

    /// `condition_id`: `0x` and 64 hex digits.
    public var conditionID: String
    public var tickSize: TickSize
    /// `neg_risk`: whether the market settles through the neg-risk exchange (another signing domain).
    public var negRisk: Bool

    public init(conditionID: String, tickSize: TickSize, negRisk: Bool) {
        self.conditionID = conditionID
        self.tickSize = tickSize
        self.negRisk = negRisk
    }
}

/// What a venue's URL says about where it points.
public enum VenueURL {
    /// `127.0.0.1`, `localhost` or `[::1]` (tests, the loopback exchange): no real money there.
    public static func isLoopback(_ url: String) -> Bool {
        guard let separator = url.range(of: "://") else { return false }
        let authority = url[separator.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.hasPrefix("[") ? String(authority.prefix { $0 != "]" }) + "]"
            : String(authority.prefix { $0 != ":" })
        return ["127.0.0.1", "localhost", "[::1]"].contains(host.lowercased())
    }
}

/// A Kalshi venue: `{"kind": "kalshi", "environment": "demo" | "prod", "base_url", "ws_url",
/// "key_id", "private_key_file", "self_trade_prevention", "fee"}`. Instruments are
/// `TICKER:yes` / `TICKER:no`.
public struct KalshiVenueSettings: Sendable, Hashable {
    public enum Environment: String, Sendable, Hashable, CaseIterable {
        case demo, prod
    }

    /// `environment` (required: a config never trades prod by default; `arb run` against prod
    /// also needs `--live`).
    public var environment: Environment
    /// `base_url`: the REST root; default the environment's (`…/trade-api/v2`).
    public var baseURL: String
    /// `ws_url`: the full websocket URL; default the environment's.
    public var websocketURL: String
    /// `key_id`: the API key's id; absent → `KALSHI_API_KEY_ID` from the environment.
    public var keyID: String?
    /// `private_key_file`: the PEM file (mode 0600) of the key; absent →
    /// `KALSHI_PRIVATE_KEY_FILE`. The key itself is never in the config.
    public var privateKeyFile: String?
    /// `self_trade_prevention`: `taker_at_cross` (default) or `maker`.
    public var selfTradePrevention: SelfTradePrevention

    /// What Kalshi does when an order would trade against the same account's resting order.
    public enum SelfTradePrevention: String, Sendable, Hashable, CaseIterable {
        case takerAtCross = "taker_at_cross", maker
    }

    public init(environment: Environment, baseURL: String? = nil, websocketURL: String? = nil, keyID: String? = nil,
                privateKeyFile: String? = nil, selfTradePrevention: SelfTradePrevention = .takerAtCross) {
        self.environment = environment
        self.baseURL = baseURL ?? Self.defaultBaseURL(environment)
        self.websocketURL = websocketURL ?? Self.defaultWebsocketURL(environment)
        self.keyID = keyID
        self.privateKeyFile = privateKeyFile
        self.selfTradePrevention = selfTradePrevention
    }

    public static func defaultBaseURL(_ environment: Environment) -> String {
        switch environment {
        case .demo: "https://external-api.demo.kalshi.co/trade-api/v2"
        case .prod: "https://external-api.kalshi.com/trade-api/v2"
        }
    }

    public static func defaultWebsocketURL(_ environment: Environment) -> String {
        switch environment {
        case .demo: "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
        case .prod: "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
        }
    }
}

extension KalshiVenueSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, fee, environment, baseURL = "base_url", websocketURL = "ws_url", keyID = "key_id"
        case privateKeyFile = "private_key_file", selfTradePrevention = "self_trade_prevention"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            environment: try object.required(.environment, allowed: "\"demo\" or \"prod\" (a config names the "
                + "environment it trades; prod also needs arb run --live)"),
            baseURL: try object.url(.baseURL, schemes: ["https", "http"]),
            websocketURL: try object.url(.websocketURL, schemes: ["wss", "ws"]),
            keyID: object.contains(.keyID) ? try object.identifier(.keyID, forbidden: "", what: "a key id") : nil,
            privateKeyFile: try object.filePath(.privateKeyFile),
            selfTradePrevention: try object.choice(.selfTradePrevention, allowed: "\"taker_at_cross\" or \"maker\"")
                ?? .takerAtCross)
    }
}

extension PolymarketVenueSettings: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, fee, baseURL = "base_url", websocketURL = "ws_url", funder, signatureType = "signature_type"
        case privateKeyFile = "private_key_file", credentialsFile = "credentials_file", bookSilenceMilliseconds = "book_silence_ms"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let signatureType: SignatureType = try object.required(.signatureType,
                                                               allowed: "\"eoa\", \"poly_proxy\" or \"gnosis_safe\"")
        let funder = try object.hex(.funder, digits: 40, what: "an address")
        if funder == nil && signatureType != .eoa {
            throw object.invalid(.funder, nil, allowed: "the \(signatureType.rawValue) address that holds the funds "
                + "(0x and 40 hex digits); only an eoa signer may leave it out")
        }
        self.init(baseURL: try object.url(.baseURL, schemes: ["https", "http"]),
                  websocketURL: try object.url(.websocketURL, schemes: ["wss", "ws"]),
                  signatureType: signatureType, funder: funder, privateKeyFile: try object.filePath(.privateKeyFile),
                  credentialsFile: try object.filePath(.credentialsFile))
        if object.contains(.bookSilenceMilliseconds) {
            bookSilenceMilliseconds = try object.integer(.bookSilenceMilliseconds, in: 1_000...3_600_000,
                                                         unit: "ms a market socket may be silent before its books are untrusted")
        }
    }
}

extension PolymarketMarket: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"condition_id\", \"tick_size\" and \"neg_risk\""
    enum CodingKeys: String, CodingKey, CaseIterable { case conditionID = "condition_id", tickSize = "tick_size", negRisk = "neg_risk" }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        guard let conditionID = try object.hex(.conditionID, digits: 64, what: "a condition id") else {
            throw object.invalid(.conditionID, nil, allowed: "a condition id: 0x and 64 hex digits")
        }
        let ticks = TickSize.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        self.init(conditionID: conditionID, tickSize: try object.required(.tickSize, allowed: "one of \(ticks)"),
                  negRisk: try object.decode(Bool.self, forKey: .negRisk))
    }
}

import KalshiVenue
import OrderStateMachine

/// `arb sign kalshi-order`: the exact create request arb would send for an order, signed, with
/// nothing sent — for comparing with Kalshi's own examples when a signature is refused. One JSON
/// request per input line, one JSON line out:
///
///     {"key_id":"…","key_file":"PATH","timestamp_ms":"1764600000000","order":{"ticker":"…",
///      "outcome":"yes"|"no","action":"buy"|"sell","price":"0.4500","count":"10.00",
///      "time_in_force":"immediate_or_cancel"|"fill_or_kill"|"good_till_canceled","client_order_id":"…"}}
///  →  {"method":"POST","path":"/trade-api/v2/portfolio/events/orders","headers":{…},"body":{…}}
///
/// The output holds the key id and the signature (that is its purpose); the key never.
public struct KalshiOrderSigning {
    /// The path of Kalshi's REST root, as signed (the host is not).
    public static let createPath = "/trade-api/v2/portfolio/events/orders"

    private var keys: [String: KalshiSigningKey] = [:]

    public init() {}

    /// The request for one input line. A bad line's error names the problem in one line.
    public mutating func sign(line: String) throws(KalshiSignRefusal) -> String {
        let value: JSONValue
        do { value = try StrictJSONParser.parse(Array(line.utf8)) } catch {
            throw KalshiSignRefusal(description: "is not JSON: \(error)")
        }
        let request: KalshiSignRequest
        do { request = try JSONTreeDecoding.decode(KalshiSignRequest.self, from: value) } catch {
            throw KalshiSignRefusal(description: (error.path.isEmpty ? "the request" : error.path) + " " + error.detail)
        }
        let key: KalshiSigningKey
        if let loaded = keys[request.keyFile] {
            key = loaded
        } else {
            do { key = try KalshiSigningKey.load(path: request.keyFile) } catch {
                throw KalshiSignRefusal(description: error.description)
            }
            keys[request.keyFile] = key
        }
        let body: KalshiCreateOrderBody
        let headers: KalshiSignedHeaders
        do {
            body = try KalshiCreateOrderBody(request.order, selfTradePrevention: request.selfTradePrevention)
            headers = try KalshiSigner(keyID: request.keyID, key: key)
                .headers(timestampMilliseconds: request.timestampMilliseconds, method: "POST", path: Self.createPath)
        } catch let error as KalshiOrderRefusal {
            throw KalshiSignRefusal(description: "order: " + error.description)
        } catch {
            throw KalshiSignRefusal(description: "\(error)")
        }
        let headerText = headers.pairs.map { JSONText.quoted($0.0) + ":" + JSONText.quoted($0.1) }.joined(separator: ",")
        return "{\"method\":\"POST\",\"path\":" + JSONText.quoted(Self.createPath) + ",\"headers\":{" + headerText
            + "},\"body\":" + body.json + "}"
    }
}

/// Why one line of `arb sign kalshi-order` was refused.
public struct KalshiSignRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
}

struct KalshiSignRequest: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"key_id\", \"key_file\", \"timestamp_ms\" and \"order\""
    var keyID: String
    var keyFile: String
    var timestampMilliseconds: Int64
    var selfTradePrevention: String
    var order: OrderRequest

    enum CodingKeys: String, CodingKey, CaseIterable {
        case keyID = "key_id", keyFile = "key_file", timestampMilliseconds = "timestamp_ms"
        case selfTradePrevention = "self_trade_prevention", order
    }

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        keyID = try object.identifier(.keyID, forbidden: "", what: "a Kalshi API key id")
        guard let keyFile = try object.filePath(.keyFile) else {
            throw object.invalid(.keyFile, nil, allowed: "the path of the PEM private key file")
        }
        self.keyFile = keyFile
        let stamp = try object.raw(.timestampMilliseconds)
        let digits: String? = switch stamp {
        case .string(let text)?: text
        case .number(let text)?: text
        default: nil
        }
        guard let digits, !digits.isEmpty, digits.count <= 15, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let milliseconds = Int64(digits)
        else { throw object.invalid(.timestampMilliseconds, stamp, allowed: "Unix milliseconds as digits, e.g. \"1764600000000\"") }
        timestampMilliseconds = milliseconds
        let prevention: KalshiVenueSettings.SelfTradePrevention =
            try object.choice(.selfTradePrevention, allowed: "\"taker_at_cross\" or \"maker\"") ?? .takerAtCross
        selfTradePrevention = prevention.rawValue
        order = try object.decode(KalshiSignOrder.self, forKey: .order).request
    }
}

/// The venue-neutral order of one sign request.
struct KalshiSignOrder: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"ticker\", \"outcome\", \"action\", \"price\", \"count\", \"time_in_force\" and \"client_order_id\""
    var request: OrderRequest

    enum Outcome: String { case yes, no }
    enum Action: String { case buy, sell }
    enum TimeInForceName: String {
        case immediateOrCancel = "immediate_or_cancel", fillOrKill = "fill_or_kill", goodTillCanceled = "good_till_canceled"
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ticker, outcome, action, price, count, timeInForce = "time_in_force", clientOrderID = "client_order_id"
    }

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let ticker = try object.identifier(.ticker, forbidden: ":/?", what: "a Kalshi market ticker")
        let outcome: Outcome = try object.required(.outcome, allowed: "\"yes\" or \"no\"")
        let action: Action = try object.required(.action, allowed: "\"buy\" or \"sell\"")
        let priceValue = try object.raw(.price)
        guard case .string(let priceText)? = priceValue, let price = Price(parsing: priceText) else {
            throw object.invalid(.price, priceValue, allowed: "the outcome's price as a dollar string, 0.0001…0.9999, e.g. \"0.4500\"")
        }
        let countValue = try object.raw(.count)
        guard case .string(let countText)? = countValue, let count = Quantity(parsing: countText), !count.isZero else {
            throw object.invalid(.count, countValue, allowed: "contracts as a string with at most 2 decimals, e.g. \"10.00\"")
        }
        let timeInForce: TimeInForceName = try object.required(
            .timeInForce, allowed: "\"immediate_or_cancel\", \"fill_or_kill\" or \"good_till_canceled\"")
        let clientOrderID = try object.identifier(.clientOrderID, forbidden: "", what: "a client order id")
        let tif: TimeInForce = switch timeInForce {
        case .immediateOrCancel: .ioc
        case .fillOrKill: .fok
        case .goodTillCanceled: .gtc
        }
        request = OrderRequest(clientOrderID: clientOrderID, instrument: ticker + ":" + outcome.rawValue,
                               side: action == .buy ? .buy : .sell, limitPrice: price, quantity: count, timeInForce: tif)
    }
}

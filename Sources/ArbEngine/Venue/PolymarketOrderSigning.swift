import OrderStateMachine
import PolymarketVenue

/// `arb sign polymarket-order` and `arb sign polymarket-l2`: what arb would send to Polymarket,
/// signed, with nothing sent — to compare with Polymarket's official client. One JSON request
/// per input line, one JSON line out. The wallet key comes in on stdin (never argv) and is
/// never printed.
public struct PolymarketSigning {
    private var keys: [String: EthereumKey] = [:]

    public init() {}

    /// `{"private_key","maker"?,"signature_type","token_id","side","price","size","tick_size",
    /// "neg_risk","salt","timestamp"}` → `{"maker_amount","taker_amount","order_hash","signature","body"}`.
    public mutating func signOrder(line: String) throws(PolymarketSignRefusal) -> String {
        let request: PolymarketSignOrderRequest = try Self.decode(line)
        let key: EthereumKey
        if let known = keys[request.privateKey] {
            key = known
        } else {
            do { key = try EthereumKey(hex: request.privateKey) } catch {
                throw PolymarketSignRefusal(description: "private_key " + error.description)
            }
            keys[request.privateKey] = key
        }
        let signed: PolymarketSignedOrder
        do {
            signed = try PolymarketOrderSigner(key: key, maker: request.maker, signatureType: request.signatureType)
                .sign(tokenID: request.tokenID, side: request.side, price: request.price, size: request.size,
                      tick: request.tick, negRisk: request.negRisk, salt: request.salt,
                      timestampMilliseconds: request.timestampMilliseconds)
        } catch {
            throw PolymarketSignRefusal(description: error.description)
        }
        return "{\"maker_amount\":" + JSONText.quoted(String(signed.amounts.maker)) + ",\"taker_amount\":"
            + JSONText.quoted(String(signed.amounts.taker)) + ",\"order_hash\":" + JSONText.quoted(signed.orderHash)
            + ",\"signature\":" + JSONText.quoted(signed.signature) + ",\"body\":" + signed.body(owner: nil, orderType: request.orderType)
            + "}"
    }

    /// `{"secret","timestamp","method","path","body": "…" | null}` → `{"signature"}`.
    public func signL2(line: String) throws(PolymarketSignRefusal) -> String {
        let request: PolymarketSignL2Request = try Self.decode(line)
        do {
            let signature = try PolymarketL2.signature(secret: request.secret, timestamp: request.timestamp, method: request.method,
                                                       path: request.path, body: request.body)
            return "{\"signature\":" + JSONText.quoted(signature) + "}"
        } catch {
            throw PolymarketSignRefusal(description: "secret: " + error.description)
        }
    }

    static func decode<T: Decodable>(_ line: String) throws(PolymarketSignRefusal) -> T {
        let value: JSONValue
        do { value = try StrictJSONParser.parse(Array(line.utf8)) } catch {
            throw PolymarketSignRefusal(description: "is not JSON: \(error)")
        }
        do { return try JSONTreeDecoding.decode(T.self, from: value) } catch {
            throw PolymarketSignRefusal(description: (error.path.isEmpty ? "the request" : error.path) + " " + error.detail)
        }
    }
}

/// Why one line of `arb sign polymarket-*` was refused.
public struct PolymarketSignRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
}

struct PolymarketSignOrderRequest: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"private_key\", \"signature_type\", \"token_id\", \"side\", \"price\", \"size\", "
        + "\"tick_size\", \"neg_risk\", \"salt\" and \"timestamp\""

    var privateKey: String
    var maker: String?
    var signatureType: Int
    var tokenID: String
    var side: Side
    var price: Price
    var size: Quantity
    var tick: PolymarketTick
    var negRisk: Bool
    var salt: UInt64
    var timestampMilliseconds: Int64
    var orderType: String

    enum SideName: String { case buy = "BUY", sell = "SELL" }
    enum OrderTypeName: String { case gtc = "GTC", gtd = "GTD", fok = "FOK", fak = "FAK" }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case privateKey = "private_key", maker, signatureType = "signature_type", tokenID = "token_id", side, price, size
        case tick = "tick_size", negRisk = "neg_risk", salt, timestamp, orderType = "order_type"
    }

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let keyValue = try object.raw(.privateKey)
        guard case .string(let key)? = keyValue else {
            // The value is never echoed: it may be a key.
            throw object.failure(.privateKey, "is missing or not a string; allowed 0x and 64 hex digits")
        }
        privateKey = key
        maker = try object.hex(.maker, digits: 40, what: "the funder's address")
        signatureType = Int(try object.integer(.signatureType, in: 0...2, unit: "0 EOA, 1 POLY_PROXY, 2 GNOSIS_SAFE"))
        let tokenValue = try object.raw(.tokenID)
        guard case .string(let token)? = tokenValue, EIP712.uint256(decimal: token) != nil else {
            throw object.invalid(.tokenID, tokenValue, allowed: "the token id as a decimal string")
        }
        tokenID = token
        let sideName: SideName = try object.required(.side, allowed: "\"BUY\" or \"SELL\"")
        side = sideName == .buy ? .buy : .sell
        let priceValue = try object.raw(.price)
        guard case .string(let priceText)? = priceValue, let parsed = Price(parsing: priceText) else {
            throw object.invalid(.price, priceValue, allowed: "a price string between 0 and 1, e.g. \"0.47\"")
        }
        price = parsed
        let sizeValue = try object.raw(.size)
        guard case .string(let sizeText)? = sizeValue, let parsedSize = Quantity(parsing: sizeText), !parsedSize.isZero else {
            throw object.invalid(.size, sizeValue, allowed: "shares as a string with at most 2 decimals, e.g. \"277.99\"")
        }
        size = parsedSize
        tick = try object.required(.tick, allowed: PolymarketTick.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        negRisk = try object.decode(Bool.self, forKey: .negRisk)
        salt = UInt64(try object.integer(.salt, in: 0...Int64.max, unit: "the order's salt"))
        let stampValue = try object.raw(.timestamp)
        let stampText: String? = switch stampValue {
        case .string(let text)?: text
        case .number(let text)?: text
        default: nil
        }
        guard let stampText, stampText.count <= 15, !stampText.isEmpty, stampText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let stamp = Int64(stampText) else {
            throw object.invalid(.timestamp, stampValue, allowed: "Unix milliseconds as digits, e.g. \"1760000000000\"")
        }
        timestampMilliseconds = stamp
        let type: OrderTypeName = try object.choice(.orderType, allowed: "\"GTC\", \"GTD\", \"FOK\" or \"FAK\"") ?? .gtc
        orderType = type.rawValue
    }
}

struct PolymarketSignL2Request: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"secret\", \"timestamp\", \"method\", \"path\" and \"body\""

    var secret: String
    var timestamp: String
    var method: String
    var path: String
    var body: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case secret, timestamp, method, path, body }

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        guard case .string(let secret)? = try object.raw(.secret) else {
            throw object.failure(.secret, "is missing or not a string; allowed the API secret (base64url)")
        }
        self.secret = secret
        let stampValue = try object.raw(.timestamp)
        guard case .string(let stamp)? = stampValue, !stamp.isEmpty, stamp.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw object.invalid(.timestamp, stampValue, allowed: "Unix seconds as a digit string")
        }
        timestamp = stamp
        let methodValue = try object.raw(.method)
        guard case .string(let method)? = methodValue, ["GET", "POST", "DELETE", "PUT"].contains(method) else {
            throw object.invalid(.method, methodValue, allowed: "\"GET\", \"POST\", \"DELETE\" or \"PUT\"")
        }
        self.method = method
        let pathValue = try object.raw(.path)
        guard case .string(let path)? = pathValue, path.hasPrefix("/") else {
            throw object.invalid(.path, pathValue, allowed: "the request path, starting with /")
        }
        self.path = path
        switch try object.raw(.body) {
        case .string(let body)?: self.body = body
        case .null?, nil: self.body = nil
        case let other?: throw object.invalid(.body, other, allowed: "the body exactly as sent (a string) or null")
        }
    }
}

import ArbKit
import OrderStateMachine

/// The CLOB's exchange contracts on Polygon (chain 137), V2 (VENUES.md).
public enum PolymarketExchange {
    public static let chainID: UInt64 = 137
    public static let exchange = "0xE111180000d2663C0091e4f400237545B87B996B"
    public static let negRiskExchange = "0xe2222d279d744050d28e00520010520000310F59"
    public static let orderType = "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
        + "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
    public static let zero32 = "0x" + String(repeating: "0", count: 64)

    static let domainSeparators: [Bool: [UInt8]] = [
        false: EIP712.domainSeparator(name: "Polymarket CTF Exchange", version: "2", chainID: chainID,
                                      verifyingContract: Hex.bytes(exchange)),
        true: EIP712.domainSeparator(name: "Polymarket CTF Exchange", version: "2", chainID: chainID,
                                     verifyingContract: Hex.bytes(negRiskExchange)),
    ]

    public static func domainSeparator(negRisk: Bool) -> [UInt8] { domainSeparators[negRisk] ?? [] }
    static let orderTypeHash = Keccak256.hash(orderType)
}

/// A market's price grid and the decimals its amounts take (VENUES.md's table).
public enum PolymarketTick: String, Sendable, Hashable, CaseIterable {
    case tenth = "0.1", hundredth = "0.01", halfHundredth = "0.005", quarterHundredth = "0.0025"
    case thousandth = "0.001", tenThousandth = "0.0001"

    /// The tick in `Price` ticks ($0.0001).
    public var priceTicks: Int64 {
        switch self {
        case .tenth: 1_000
        case .hundredth: 100
        case .halfHundredth: 50
        case .quarterHundredth: 25
        case .thousandth: 10
        case .tenThousandth: 1
        }
    }

    /// Decimals of the pUSD / share amounts (the product of size and price).
    public var amountDecimals: Int {
        switch self {
        case .tenth: 3
        case .hundredth: 4
        case .halfHundredth, .thousandth: 5
        case .quarterHundredth, .tenThousandth: 6
        }
    }
}

/// Why an order cannot be signed: one line naming the field.
public struct PolymarketOrderRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Maker and taker amounts in 6-decimal units.
public struct PolymarketAmounts: Sendable, Hashable {
    public var maker: UInt64
    public var taker: UInt64

    /// A limit order's amounts: BUY pays size × price pUSD for size shares; SELL the reverse. The
    /// product is cut to the tick's amount decimals (rounded up at amount + 4 decimals first, as
    /// the official client does, which is exact arithmetic's no-op).
    public init(side: Side, price: Price, size: Quantity, tick: PolymarketTick) throws(PolymarketOrderRefusal) {
        guard price.ticks % tick.priceTicks == 0, price.ticks >= tick.priceTicks,
              price.ticks <= Price.ticksPerDollar - tick.priceTicks else {
            throw PolymarketOrderRefusal(description: "price \(price) is not on the market's \(tick.rawValue) grid "
                + "within [\(tick.rawValue), 1 − \(tick.rawValue)]")
        }
        guard !size.isZero else { throw PolymarketOrderRefusal(description: "size is 0") }
        let shares = UInt64(size.hundredths) * 10_000  // 2 decimals → 6
        let product = Self.cut(UInt64(size.hundredths) * UInt64(price.ticks), decimals: tick.amountDecimals)
        switch side {
        case .buy: (maker, taker) = (product, shares)
        case .sell: (maker, taker) = (shares, product)
        }
    }

    public static func cutForTesting(_ micros: UInt64, decimals: Int) -> UInt64 { cut(micros, decimals: decimals) }

    /// `micros` (6 decimals) with at most `decimals` decimals: up at decimals + 4, then down.
    static func cut(_ micros: UInt64, decimals: Int) -> UInt64 {
        guard decimals < 6 else { return micros }
        var unit: UInt64 = 1
        for _ in 0..<(6 - decimals) { unit *= 10 }
        return micros / unit * unit
    }
}

/// A signed V2 order: what `prepare` computes before anything is sent.
public struct PolymarketSignedOrder: Sendable, Hashable {
    public var salt: UInt64
    public var maker: String
    public var signer: String
    public var tokenID: String
    public var amounts: PolymarketAmounts
    public var side: Side
    public var signatureType: Int
    public var timestampMilliseconds: Int64
    /// The EIP-712 digest: the venue's order id.
    public var orderHash: String
    public var signature: String

    /// The `order` object of `POST /order`, as the official client writes it.
    public var orderJSON: String {
        let members: [(String, String)] = [
            ("salt", String(salt)), ("maker", JSONText.quoted(maker)), ("signer", JSONText.quoted(signer)),
            ("tokenId", JSONText.quoted(tokenID)), ("makerAmount", JSONText.quoted(String(amounts.maker))),
            ("takerAmount", JSONText.quoted(String(amounts.taker))), ("side", JSONText.quoted(side == .buy ? "BUY" : "SELL")),
            ("expiration", JSONText.quoted("0")), ("signatureType", String(signatureType)),
            ("timestamp", JSONText.quoted(String(timestampMilliseconds))), ("metadata", JSONText.quoted(PolymarketExchange.zero32)),
            ("builder", JSONText.quoted(PolymarketExchange.zero32)), ("signature", JSONText.quoted(signature)),
        ]
        return "{" + members.map { JSONText.quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// The `POST /order` body: `owner` is the API key (nil: left out, as `arb sign` prints it).
    public func body(owner: String?, orderType: String, postOnly: Bool = false) -> String {
        "{\"order\":" + orderJSON + (owner.map { ",\"owner\":" + JSONText.quoted($0) } ?? "")
            + ",\"orderType\":" + JSONText.quoted(orderType) + ",\"deferExec\":false,\"postOnly\":" + (postOnly ? "true" : "false") + "}"
    }
}

/// A V2 order with its EIP-712 digest, not yet signed: all `prepare` needs before the intent
/// commit (the digest is the venue's order id). The secp256k1 signature can follow elsewhere.
public struct PolymarketUnsignedOrder: Sendable, Hashable {
    public var salt: UInt64
    public var tokenID: String
    public var amounts: PolymarketAmounts
    public var side: Side
    public var timestampMilliseconds: Int64
    public var digest: [UInt8]
    /// The digest as hex: the venue's order id.
    public var orderHash: String
}

/// Signs V2 orders for one wallet (EIP-712, secp256k1). `maker` is the funder (the wallet itself,
/// a Polymarket proxy or a Safe); `signer` is the wallet.
public struct PolymarketOrderSigner: Sendable {
    public let key: EthereumKey
    public let maker: String
    public let signatureType: Int
    /// Worked out once: the checksummed signer costs a Keccak, and both addresses' bytes a hex parse.
    let signer: String
    let makerBytes: [UInt8]
    let signerBytes: [UInt8]

    public init(key: EthereumKey, maker: String?, signatureType: Int) throws(PolymarketOrderRefusal) {
        guard (0...2).contains(signatureType) else {
            throw PolymarketOrderRefusal(description: "signature_type \(signatureType) is not 0 (EOA), 1 (POLY_PROXY) or 2 (GNOSIS_SAFE)")
        }
        let funder = maker ?? key.address
        guard let bytes = Hex.bytes(funder), bytes.count == 20 else {
            throw PolymarketOrderRefusal(description: "maker \(funder) is not an address (0x and 40 hex digits)")
        }
        self.key = key
        self.maker = EthereumKey.checksummed(Hex.string(bytes))
        self.signatureType = signatureType
        signer = EthereumKey.checksummed(key.address)
        makerBytes = bytes
        signerBytes = Hex.bytes(signer) ?? []
    }

    public func sign(tokenID: String, side: Side, price: Price, size: Quantity, tick: PolymarketTick, negRisk: Bool,
                     salt: UInt64, timestampMilliseconds: Int64) throws(PolymarketOrderRefusal) -> PolymarketSignedOrder {
        signed(try order(tokenID: tokenID, side: side, price: price, size: size, tick: tick, negRisk: negRisk, salt: salt,
                         timestampMilliseconds: timestampMilliseconds))
    }

    /// The order signed: the recoverable secp256k1 signature of its digest.
    public func signed(_ order: PolymarketUnsignedOrder) -> PolymarketSignedOrder {
        PolymarketSignedOrder(salt: order.salt, maker: maker, signer: signer, tokenID: order.tokenID, amounts: order.amounts,
                              side: order.side, signatureType: signatureType, timestampMilliseconds: order.timestampMilliseconds,
                              orderHash: order.orderHash, signature: Hex.string(key.sign(digest: order.digest)))
    }

    /// The order's amounts, struct hash and digest (two Keccak-256 over the EIP-712 encoding),
    /// without the signature.
    public func order(tokenID: String, side: Side, price: Price, size: Quantity, tick: PolymarketTick, negRisk: Bool,
                      salt: UInt64, timestampMilliseconds: Int64) throws(PolymarketOrderRefusal) -> PolymarketUnsignedOrder {
        guard let token = EIP712.uint256(decimal: tokenID) else {
            throw PolymarketOrderRefusal(description: "token_id \(tokenID) is not a decimal token id")
        }
        guard timestampMilliseconds >= 0 else { throw PolymarketOrderRefusal(description: "timestamp is negative") }
        let amounts = try PolymarketAmounts(side: side, price: price, size: size, tick: tick)
        let structHash = EIP712.hashStruct(typeHash: PolymarketExchange.orderTypeHash, [
            .uint64(salt), .address(makerBytes), .address(signerBytes), .uint(token),
            .uint64(amounts.maker), .uint64(amounts.taker),
            .uint64(side == .buy ? 0 : 1), .uint64(UInt64(signatureType)),
            .uint64(UInt64(timestampMilliseconds)), .zero32, .zero32,
        ])
        let digest = EIP712.digest(domainSeparator: PolymarketExchange.domainSeparator(negRisk: negRisk), structHash: structHash)
        return PolymarketUnsignedOrder(salt: salt, tokenID: tokenID, amounts: amounts, side: side,
                                       timestampMilliseconds: timestampMilliseconds, digest: digest, orderHash: Hex.string(digest))
    }
}

import COpenSSL
import Foundation
import KalshiVenue
import OrderStateMachine
import PolymarketVenue

/// `sign_kalshi` and `sign_polymarket`: one order's signature as the adapters make it, beside the
/// bare library calls in the same run — libcrypto's RSA-PSS over the same message (Kalshi), and
/// libsecp256k1's recoverable sign plus one Keccak-256 (Polymarket). The ratio is what arb's own
/// work around the library costs (message and struct building, EIP-712 hashing, encoding).
enum Signing {
    struct Pair: Sendable {
        var measured: LatencySummary
        var raw: LatencySummary
        var ratio: Double { measured.p99 / raw.p99 }
    }

    struct Result: Sendable {
        var kalshi: Pair
        var polymarket: Pair
    }

    static func run(size: RunSize) throws -> Result {
        let iterations = size.quick ? 200 : 2_000
        // Kalshi: a fresh 2048-bit key, as Kalshi issues.
        // Two loads of one key: libcrypto refreshes an RSA key's blinding every 32 signatures, and
        // with one shared key that slow call would always land on the same side of a pair.
        let pem = try rsaKeyPEM()
        let key = try KalshiSigningKey(pem: Array(pem.utf8))
        let signer = KalshiSigner(keyID: "bench", key: try KalshiSigningKey(pem: Array(pem.utf8)))
        let path = "/trade-api/v2/portfolio/events/orders"
        let message = Array(KalshiSigner.message(timestampMilliseconds: 1_764_600_000_000, method: "POST", path: path).utf8)
        progress("sign_kalshi: \(iterations) signatures and as many bare RSA-PSS calls, interleaved (order alternating)")
        let (kalshi, kalshiRaw) = try interleaved(iterations) { index in
            let headers = try signer.headers(timestampMilliseconds: 1_764_600_000_000 + Int64(index), method: "POST", path: path)
            guard !headers.signature.isEmpty else { throw BenchError("sign_kalshi: an empty signature") }
        } bare: { _ in
            guard try !key.rawSignature(of: message).isEmpty else { throw BenchError("sign_kalshi: an empty signature") }
        }

        let wallet = try EthereumKey(hex: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
        let orders = try PolymarketOrderSigner(key: wallet, maker: nil, signatureType: 0)
        let token = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
        let payload = [UInt8](repeating: 0x19, count: 66)
        progress("sign_polymarket: \(iterations) signed orders and as many bare sign + Keccak calls, interleaved")
        let (polymarket, polymarketRaw) = try interleaved(iterations) { index in
            let order = try orders.sign(tokenID: token, side: .buy, price: Price(ticks: 4_500)!, size: Quantity(contracts: 10),
                                        tick: .hundredth, negRisk: false, salt: UInt64(index) &+ 1,
                                        timestampMilliseconds: 1_764_600_000_000)
            guard !order.signature.isEmpty else { throw BenchError("sign_polymarket: a bad signature") }
        } bare: { _ in
            guard wallet.sign(digest: Keccak256.hash(payload)).count == 65 else { throw BenchError("sign_polymarket: a bad signature") }
        }
        return Result(kalshi: Pair(measured: kalshi.summary(), raw: kalshiRaw.summary()),
                      polymarket: Pair(measured: polymarket.summary(), raw: polymarketRaw.summary()))
    }

    /// `iterations` timed calls of each, after a tenth as many unrecorded, the pair's order
    /// alternating so neither inherits the other's cache state.
    static func interleaved(_ iterations: Int, measured: (Int) throws -> Void, bare: (Int) throws -> Void) throws -> (Samples, Samples) {
        var measuredSamples = Samples(capacity: iterations)
        var bareSamples = Samples(capacity: iterations)
        for index in 0..<(iterations + iterations / 10) {
            var times: [UInt64] = [0, 0]
            for turn in (index % 2 == 0 ? [0, 1] : [1, 0]) {
                let start = monotonicNanoseconds()
                if turn == 0 { try measured(index) } else { try bare(index) }
                times[turn] = monotonicNanoseconds() - start
            }
            if index >= iterations / 10 {
                measuredSamples.append(times[0])
                bareSamples.append(times[1])
            }
        }
        return (measuredSamples, bareSamples)
    }

    /// A new RSA-2048 private key, PKCS#8 PEM.
    static func rsaKeyPEM() throws -> String {
        let context = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil)
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048) == 1,
              EVP_PKEY_keygen(context, &generated) == 1, let generated else { throw BenchError("RSA key generation failed") }
        defer { EVP_PKEY_free(generated) }
        guard let bio = BIO_new(BIO_s_mem()) else { throw BenchError("BIO_new failed") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, generated, nil, nil, 0, nil, nil) == 1 else { throw BenchError("PEM write failed") }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard let pointer, length > 0 else { throw BenchError("PEM read back failed") }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(length)), as: UTF8.self)
    }
}

import ArbKit
import Foundation

/// Polymarket's L1 authentication: the wallet signs an EIP-712 `ClobAuth` message to create or
/// derive its API credentials (`POST /auth/api-key`, `GET /auth/derive-api-key`).
public enum PolymarketL1 {
    public static let message = "This message attests that I control the given wallet"
    static let type = "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
    static let domain = EIP712.domainSeparator(name: "ClobAuthDomain", version: "1", chainID: PolymarketExchange.chainID,
                                               verifyingContract: nil)

    /// The signature (0x, 65 bytes hex) of the `ClobAuth` message for `timestamp` (Unix seconds) and `nonce`.
    public static func signature(key: EthereumKey, timestampSeconds: Int64, nonce: UInt64) -> String {
        Hex.string(key.sign(digest: digest(address: key.address, timestampSeconds: timestampSeconds, nonce: nonce)))
    }

    public static func digest(address: String, timestampSeconds: Int64, nonce: UInt64) -> [UInt8] {
        let structHash = EIP712.hashStruct(type: type, [
            .address(Hex.bytes(address) ?? []), .string(String(timestampSeconds)), .uint(EIP712.uint256(nonce)), .string(message),
        ])
        return EIP712.digest(domainSeparator: domain, structHash: structHash)
    }

    /// `POLY_ADDRESS`, `POLY_SIGNATURE`, `POLY_TIMESTAMP`, `POLY_NONCE`.
    public static func headers(key: EthereumKey, timestampSeconds: Int64, nonce: UInt64) -> [(String, String)] {
        [("POLY_ADDRESS", EthereumKey.checksummed(key.address)),
         ("POLY_SIGNATURE", signature(key: key, timestampSeconds: timestampSeconds, nonce: nonce)),
         ("POLY_TIMESTAMP", String(timestampSeconds)), ("POLY_NONCE", String(nonce))]
    }

    /// Creates the wallet's API credentials, or derives the existing ones when creating is
    /// refused (they exist already): what `arbadmin venues setup polymarket` stores.
    public static func credentials(baseURL: String, key: EthereumKey, nonce: UInt64 = 0, clock: any TradingClock,
                                   transport: VenueHTTPTransport = .shared) async throws -> PolymarketCredentials {
        var root = baseURL
        while root.hasSuffix("/") { root.removeLast() }
        var failures: [String] = []
        for (method, path) in [("POST", "/auth/api-key"), ("GET", "/auth/derive-api-key")] {
            let headers = Self.headers(key: key, timestampSeconds: clock.nowMilliseconds() / 1_000, nonce: nonce)
            let response: VenueHTTPResponse
            do {
                response = try await transport.send(method: method, url: root + path, headers: headers, body: nil,
                                                    timeoutMilliseconds: 10_000)
            } catch {
                throw VenueError.unavailable(reason: error.description)
            }
            if response.status == 200, let object = PolymarketJSON.object(response.body),
               let apiKey = object["apiKey"] as? String, let secret = object["secret"] as? String,
               let passphrase = object["passphrase"] as? String, !apiKey.isEmpty, !secret.isEmpty, !passphrase.isEmpty {
                return PolymarketCredentials(apiKey: apiKey, secret: secret, passphrase: passphrase)
            }
            failures.append("\(method) \(path): HTTP \(response.status): \(PolymarketVenue.reason(response.body))")
        }
        throw VenueError.rejected(reason: failures.joined(separator: "; "))
    }
}

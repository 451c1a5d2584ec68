import CNettle
import Foundation

/// Polymarket's L2 request signature: base64url(HMAC-SHA256(key: base64url-decoded secret,
/// message: timestamp + METHOD + path + body)), the body exactly as sent.
public enum PolymarketL2 {
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func signature(secret: String, timestamp: String, method: String, path: String,
                                 body: String?) throws(Refusal) -> String {
        guard let key = base64URLDecoded(secret), !key.isEmpty else {
            throw Refusal(description: "the API secret is not base64url text")
        }
        let message = Array((timestamp + method + path + (body ?? "")).utf8)
        var context = hmac_sha256_ctx()
        var digest = [UInt8](repeating: 0, count: 32)
        nettle_hmac_sha256_set_key(&context, key.count, key)
        nettle_hmac_sha256_update(&context, message.count, message)
        nettle_hmac_sha256_digest(&context, digest.count, &digest)
        return Data(digest).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// Standard or URL-safe base64, padded or not.
    static func base64URLDecoded(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }
}

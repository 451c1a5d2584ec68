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
        // URL-safe alphabet, padding kept. On bytes: Foundation's `replacingOccurrences` costs
        // several µs a call on Linux, and this runs on every order's send.
        let encoded = Data(digest).base64EncodedData().map { byte in
            byte == UInt8(ascii: "+") ? UInt8(ascii: "-") : byte == UInt8(ascii: "/") ? UInt8(ascii: "_") : byte
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// Standard or URL-safe base64, padded or not.
    static func base64URLDecoded(_ text: String) -> [UInt8]? {
        var standard = text.utf8.map { byte in
            byte == UInt8(ascii: "-") ? UInt8(ascii: "+") : byte == UInt8(ascii: "_") ? UInt8(ascii: "/") : byte
        }
        while standard.count % 4 != 0 { standard.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(standard)).map(Array.init)
    }
}

import ArbKit
import COpenSSL
import Foundation

/// Why a Kalshi key could not be used. The text names the file and the problem; it never holds
/// any part of the key.
public struct KalshiKeyError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// An RSA private key that signs Kalshi requests: RSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes,
/// over `timestamp + METHOD + path` (VENUES.md). The key stays inside libcrypto: nothing here
/// prints, logs or stores it, and `description` says only that it is a key.
public final class KalshiSigningKey: @unchecked Sendable, CustomStringConvertible {
    /// The largest key file read (a 4096-bit PEM is about 3.3 kB).
    static let maxKeyFileBytes = 64 * 1024

    // An EVP_PKEY, read-only after init: OpenSSL allows concurrent signing with one key.
    private let key: OpaquePointer

    /// Loads a PEM key file (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`), refusing one
    /// that group or others can read (as ssh does) or that is not an unencrypted RSA key.
    public static func load(path: String) throws(KalshiKeyError) -> KalshiSigningKey {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.contents(path: path, limit: maxKeyFileBytes, noun: "PEM private key file", secret: true)
        } catch {
            throw KalshiKeyError("the Kalshi key file \(path) \(error.detail)")
        }
        do {
            return try KalshiSigningKey(pem: bytes)
        } catch {
            throw KalshiKeyError("the Kalshi key file \(path) \(error.description)")
        }
    }

    /// A key from PEM text. Errors read "is not …" so callers can prefix the file's name.
    public init(pem: [UInt8]) throws(KalshiKeyError) {
        let loaded: OpaquePointer? = pem.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            // A password callback that refuses: without it libcrypto would prompt on the
            // terminal for an encrypted key.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        ERR_clear_error()
        guard let loaded else {
            throw KalshiKeyError("is not a readable unencrypted PEM private key (PKCS#1 or PKCS#8); "
                + "save the key Kalshi gave you as it was downloaded")
        }
        guard EVP_PKEY_get_base_id(loaded) == EVP_PKEY_RSA else {
            EVP_PKEY_free(loaded)
            throw KalshiKeyError("is not an RSA key; Kalshi API keys are RSA")
        }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    public var description: String { "KalshiSigningKey(RSA, \(EVP_PKEY_get_bits(key)) bits)" }

    /// The RSA-PSS signature of `message`, base64 (PSS is randomized: two signatures of the same
    /// message differ; verify, never compare).
    public func signature(of message: String) throws(KalshiKeyError) -> String {
        Data(try rawSignature(of: Array(message.utf8))).base64EncodedString()
    }

    /// The RSA-PSS signature of `bytes` as libcrypto returns it: the library call itself, with
    /// nothing of Kalshi's around it (arb-bench's baseline for a signed request).
    public func rawSignature(of bytes: [UInt8]) throws(KalshiKeyError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw KalshiKeyError("cannot sign: out of memory") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        var signature = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(key)))
        var length = signature.count
        let signed = EVP_DigestSignInit(context, &keyContext, EVP_sha256(), nil, key) == 1
            && EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 32) == 1
            && EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            && EVP_DigestSign(context, &signature, &length, bytes, bytes.count) == 1
        ERR_clear_error()
        guard signed else { throw KalshiKeyError("cannot sign with the Kalshi key (libcrypto refused)") }
        return Array(signature[0..<length])
    }
}

/// The three headers of a signed request.
public struct KalshiSignedHeaders: Sendable, Hashable {
    public static let keyHeader = "KALSHI-ACCESS-KEY"
    public static let timestampHeader = "KALSHI-ACCESS-TIMESTAMP"
    public static let signatureHeader = "KALSHI-ACCESS-SIGNATURE"

    public var keyID: String
    public var timestampMilliseconds: Int64
    public var signature: String

    /// In the order Kalshi's documentation lists them.
    public var pairs: [(String, String)] {
        [(Self.keyHeader, keyID), (Self.timestampHeader, String(timestampMilliseconds)), (Self.signatureHeader, signature)]
    }
}

/// Signs requests for one key id.
public struct KalshiSigner: Sendable {
    public let keyID: String
    let key: KalshiSigningKey

    public init(keyID: String, key: KalshiSigningKey) {
        self.keyID = keyID
        self.key = key
    }

    /// The message Kalshi verifies: timestamp, method, and the path from the host without its
    /// query string (the body is not signed).
    public static func message(timestampMilliseconds: Int64, method: String, path: String) -> String {
        let bare = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        return String(timestampMilliseconds) + method + bare
    }

    public func headers(timestampMilliseconds: Int64, method: String, path: String) throws(KalshiKeyError) -> KalshiSignedHeaders {
        let message = Self.message(timestampMilliseconds: timestampMilliseconds, method: method, path: path)
        return KalshiSignedHeaders(keyID: keyID, timestampMilliseconds: timestampMilliseconds,
                                   signature: try key.signature(of: message))
    }
}

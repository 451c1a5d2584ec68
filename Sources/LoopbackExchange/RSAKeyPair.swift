import COpenSSL
import Foundation

/// A fresh RSA key pair, the loopback exchange's Kalshi account key (and the tests'): the private
/// half written as a PEM file (mode 0600, PKCS#8 or PKCS#1), the public half kept to verify
/// signatures (RSA-PSS is randomized: verify, never compare bytes).
public final class RSAKeyPair: @unchecked Sendable {
    public enum Format: Sendable { case pkcs8, pkcs1 }

    // An EVP_PKEY holding both halves; only verification uses it.
    private let key: OpaquePointer
    public let privateKeyPEM: String
    public let publicKeyPEM: String

    public init(bits: Int32 = 2048, format: Format = .pkcs8) throws(RSAKeyPairError) {
        let context = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil)
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, bits) == 1,
              EVP_PKEY_keygen(context, &generated) == 1, let generated
        else { throw RSAKeyPairError(description: "RSA key generation failed: \(OpenSSLErrors.drain())") }
        key = generated
        privateKeyPEM = try Self.pem { bio in
            switch format {
            case .pkcs8: PEM_write_bio_PrivateKey(bio, generated, nil, nil, 0, nil, nil)
            case .pkcs1: PEM_write_bio_PrivateKey_traditional(bio, generated, nil, nil, 0, nil, nil)
            }
        }
        publicKeyPEM = try Self.pem { bio in PEM_write_bio_PUBKEY(bio, generated) }
    }

    deinit { EVP_PKEY_free(key) }

    private static func pem(_ write: (OpaquePointer) -> Int32) throws(RSAKeyPairError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw RSAKeyPairError(description: "BIO_new failed") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw RSAKeyPairError(description: "writing a PEM failed: \(OpenSSLErrors.drain())") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(bio, &chunk, Int32(chunk.count))
            if count <= 0 { break }
            bytes += chunk[0..<Int(count)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes the private key to `path` with `mode` (0600 unless a test wants it wrong).
    public func writePrivateKey(to path: String, mode: Int = 0o600) throws {
        _ = FileManager.default.createFile(atPath: path, contents: Data(privateKeyPEM.utf8),
                                       attributes: [.posixPermissions: mode])
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// Whether `signature` (base64) is this key's RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) signature of `message`.
    public func verifies(signature: String, message: String) -> Bool {
        guard let signatureBytes = Data(base64Encoded: signature).map(Array.init) else { return false }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        let bytes = Array(message.utf8)
        let verified = EVP_DigestVerifyInit(context, &keyContext, EVP_sha256(), nil, key) == 1
            && EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 32) == 1
            && EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            && EVP_DigestVerify(context, signatureBytes, signatureBytes.count, bytes, bytes.count) == 1
        ERR_clear_error()
        return verified
    }
}

public struct RSAKeyPairError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

enum OpenSSLErrors {
    /// The queued OpenSSL errors as text (emptying the queue).
    static func drain() -> String {
        var texts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            texts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return texts.isEmpty ? "no detail" : texts.joined(separator: "; ")
    }
}

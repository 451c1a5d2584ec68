import CSecp256k1

/// Why a wallet key or signature could not be used. Never holds any part of the key.
public struct EthereumKeyError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// A secp256k1 private key that signs 32-byte digests as Ethereum clients do: RFC 6979 nonces,
/// low s, 65 bytes r ‖ s ‖ v with v = 27 + recovery id. `description` never shows the key.
public final class EthereumKey: @unchecked Sendable, CustomStringConvertible {
    // Read-only after init; libsecp256k1 contexts are safe for concurrent signing.
    private let secret: [UInt8]
    /// The checksum-free lowercase address, `0x` and 40 hex digits.
    public let address: String

    // Never mutated after creation (no randomization calls): libsecp256k1 allows concurrent use.
    nonisolated(unsafe) static let context: OpaquePointer = {
        guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            fatalError("libsecp256k1: cannot create a context")
        }
        return context
    }()

    /// A key from `0x` and 64 hex digits (the form wallets export).
    public init(hex text: String) throws(EthereumKeyError) {
        guard text.utf8.count == 66 || text.utf8.count == 64, let bytes = Hex.bytes(text), bytes.count == 32 else {
            throw EthereumKeyError(description: "is not a private key: allowed 0x and 64 hex digits")
        }
        guard secp256k1_ec_seckey_verify(Self.context, bytes) == 1 else {
            throw EthereumKeyError(description: "is not a valid secp256k1 private key (zero or past the curve order)")
        }
        secret = bytes
        var publicKey = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(Self.context, &publicKey, bytes) == 1 else {
            throw EthereumKeyError(description: "is not a valid secp256k1 private key")
        }
        address = Self.address(of: publicKey)
    }

    public var description: String { "EthereumKey(\(address))" }

    /// The 65-byte recoverable signature of a 32-byte digest.
    public func sign(digest: [UInt8]) -> [UInt8] {
        precondition(digest.count == 32, "a digest is 32 bytes")
        var signature = secp256k1_ecdsa_recoverable_signature()
        // nil nonce function: libsecp256k1's default, RFC 6979 (the same bytes as Ethereum clients).
        guard secp256k1_ecdsa_sign_recoverable(Self.context, &signature, digest, secret, nil, nil) == 1 else {
            fatalError("libsecp256k1 refused to sign with a verified key")
        }
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryID: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(Self.context, &compact, &recoveryID, &signature)
        return compact + [UInt8(27 + recoveryID)]
    }

    /// The address whose key made `signature` (65 bytes, v 27/28 or 0/1) over `digest`, or nil.
    public static func recover(digest: [UInt8], signature: [UInt8]) -> String? {
        guard digest.count == 32, signature.count == 65 else { return nil }
        let v = Int32(signature[64])
        let recoveryID = v >= 27 ? v - 27 : v
        guard (0...3).contains(recoveryID) else { return nil }
        var parsed = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(context, &parsed, Array(signature[0..<64]), recoveryID) == 1
        else { return nil }
        var publicKey = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context, &publicKey, &parsed, digest) == 1 else { return nil }
        return address(of: publicKey)
    }

    /// keccak256 of the uncompressed public key (without its 0x04 prefix), last 20 bytes.
    static func address(of publicKey: secp256k1_pubkey) -> String {
        var key = publicKey
        var serialized = [UInt8](repeating: 0, count: 65)
        var length = 65
        _ = secp256k1_ec_pubkey_serialize(context, &serialized, &length, &key, UInt32(SECP256K1_EC_UNCOMPRESSED))
        return Hex.string(Array(Keccak256.hash(Array(serialized[1..<65]))[12..<32]))
    }

    /// The EIP-55 mixed-case form of an address (what Polymarket's clients send).
    public static func checksummed(_ address: String) -> String {
        let lower = Hex.string(Hex.bytes(address) ?? [], prefix: false)
        let hash = Hex.string(Keccak256.hash(lower), prefix: false)
        var out = "0x"
        for (character, nibble) in zip(lower, hash) {
            let upper = Int(String(nibble), radix: 16).map { $0 >= 8 } ?? false
            out += upper && character.isLetter ? character.uppercased() : String(character)
        }
        return out
    }
}

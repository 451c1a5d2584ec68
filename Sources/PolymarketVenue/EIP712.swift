/// EIP-712 typed-data hashing, only as far as Polymarket's structs need it: atomic fields
/// (uintN, address, bytes32, string) and already-hashed nested structs.
public enum EIP712 {
    public enum Value: Sendable, Hashable {
        /// An unsigned integer as 32 big-endian bytes.
        case uint([UInt8])
        /// 20 bytes.
        case address([UInt8])
        case bytes32([UInt8])
        /// Encoded as the Keccak-256 of its UTF-8 bytes.
        case string(String)
        /// A nested struct, by its `hashStruct`.
        case structHash([UInt8])
        /// A uint256 that fits 64 bits (written straight into the encoding, no array of its own).
        case uint64(UInt64)
        /// 32 zero bytes.
        case zero32

        /// Appends the field's 32-byte word to `data`.
        func append(to data: inout [UInt8]) {
            switch self {
            case .uint(let bytes), .bytes32(let bytes), .structHash(let bytes): data.append(contentsOf: bytes)
            case .address(let bytes):
                for _ in 0..<12 { data.append(0) }
                data.append(contentsOf: bytes)
            case .string(let text): data.append(contentsOf: Keccak256.hash(text))
            case .uint64(let value):
                for _ in 0..<24 { data.append(0) }
                for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
            case .zero32:
                for _ in 0..<32 { data.append(0) }
            }
        }
    }

    /// `hashStruct(s) = keccak256(typeHash ‖ encodeData(s))`; `type` is the full encoded type
    /// (the primary type, then referenced types in alphabetical order).
    public static func hashStruct(type: String, _ fields: [Value]) -> [UInt8] {
        hashStruct(typeHash: Keccak256.hash(type), fields)
    }

    /// The same with the type's hash worked out once (it is a constant per type).
    public static func hashStruct(typeHash: [UInt8], _ fields: [Value]) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(32 * (fields.count + 1))
        data.append(contentsOf: typeHash)
        for field in fields { field.append(to: &data) }
        return Keccak256.hash(data)
    }

    /// The digest that is signed: `keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))`.
    public static func digest(domainSeparator: [UInt8], structHash: [UInt8]) -> [UInt8] {
        var data: [UInt8] = [0x19, 0x01]
        data.reserveCapacity(2 + domainSeparator.count + structHash.count)
        data.append(contentsOf: domainSeparator)
        data.append(contentsOf: structHash)
        return Keccak256.hash(data)
    }

    /// `EIP712Domain(string name,string version,uint256 chainId[,address verifyingContract])`.
    public static func domainSeparator(name: String, version: String, chainID: UInt64, verifyingContract: [UInt8]?) -> [UInt8] {
        var fields: [Value] = [.string(name), .string(version), .uint(uint256(chainID))]
        var type = "EIP712Domain(string name,string version,uint256 chainId"
        if let verifyingContract {
            fields.append(.address(verifyingContract))
            type += ",address verifyingContract"
        }
        return hashStruct(type: type + ")", fields)
    }

    public static func uint256(_ value: UInt64) -> [UInt8] {
        [UInt8](repeating: 0, count: 24) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * (7 - UInt64($0)))) }
    }

    /// A decimal string as a uint256, or nil (not digits, or 2^256 or more).
    /// Up to 19 digits at a time into four 64-bit limbs (a token id has 77 digits: five steps,
    /// where a byte at a time took 77 × 32 multiplications — a tenth of an order's signing).
    public static func uint256(decimal text: String) -> [UInt8]? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 78 else { return nil }
        // Little-endian limbs.
        var limbs: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        /// limbs × scale + chunk; false when the result needs 257 bits or more.
        func multiplyAdd(_ scale: UInt64, _ chunk: UInt64) -> Bool {
            var carry = chunk
            func step(_ limb: inout UInt64) {
                let (high, low) = limb.multipliedFullWidth(by: scale)
                let (sum, overflow) = low.addingReportingOverflow(carry)
                limb = sum
                carry = high &+ (overflow ? 1 : 0)
            }
            step(&limbs.0)
            step(&limbs.1)
            step(&limbs.2)
            step(&limbs.3)
            return carry == 0
        }
        var chunk: UInt64 = 0
        var scale: UInt64 = 1
        for byte in utf8 {
            guard byte >= 48 && byte <= 57 else { return nil }
            chunk = chunk * 10 + UInt64(byte - 48)
            scale *= 10
            if scale == 10_000_000_000_000_000_000 {
                guard multiplyAdd(scale, chunk) else { return nil }
                chunk = 0
                scale = 1
            }
        }
        if scale > 1 { guard multiplyAdd(scale, chunk) else { return nil } }
        var bytes = [UInt8](repeating: 0, count: 32)
        for (index, limb) in [limbs.3, limbs.2, limbs.1, limbs.0].enumerated() {
            for shift in 0..<8 { bytes[index * 8 + shift] = UInt8(truncatingIfNeeded: limb >> (56 - 8 * UInt64(shift))) }
        }
        return bytes
    }
}

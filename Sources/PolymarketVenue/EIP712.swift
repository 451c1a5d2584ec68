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
    public static func uint256(decimal text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 78, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for digit in text.utf8 {
            var carry = UInt32(digit - 48)
            for index in stride(from: 31, through: 0, by: -1) {
                let value = UInt32(bytes[index]) * 10 + carry
                bytes[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
            if carry != 0 { return nil }
        }
        return bytes
    }
}

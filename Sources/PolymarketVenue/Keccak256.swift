import CNettle

/// Ethereum's Keccak-256: the Keccak sponge (rate 136 bytes) over nettle's Keccak-f[1600]
/// permutation, with the original Keccak padding (0x01 … 0x80). **Not** NIST SHA3-256, which pads
/// with 0x06 and gives other digests.
public enum Keccak256 {
    static let rate = 136

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var state = sha3_state()
        var offset = 0
        while bytes.count - offset >= rate {
            absorb(&state, bytes[offset..<(offset + rate)])
            nettle_sha3_permute(&state)
            offset += rate
        }
        var last = [UInt8](bytes[offset...])
        last.append(0x01)
        last += [UInt8](repeating: 0, count: rate - last.count)
        last[rate - 1] |= 0x80
        absorb(&state, last[...])
        nettle_sha3_permute(&state)
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        withUnsafeBytes(of: &state.a) { lanes in
            // The lanes are little-endian 64-bit words; the digest is their first 32 bytes in order.
            for lane in 0..<4 {
                let word = lanes.load(fromByteOffset: lane * 8, as: UInt64.self).littleEndian
                for byte in 0..<8 { digest.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(byte)))) }
            }
        }
        return digest
    }

    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }

    private static func absorb(_ state: inout sha3_state, _ block: ArraySlice<UInt8>) {
        withUnsafeMutableBytes(of: &state.a) { lanes in
            for lane in 0..<(rate / 8) {
                var word: UInt64 = 0
                for byte in 0..<8 { word |= UInt64(block[block.startIndex + lane * 8 + byte]) << (8 * UInt64(byte)) }
                let current = lanes.load(fromByteOffset: lane * 8, as: UInt64.self).littleEndian
                lanes.storeBytes(of: (current ^ word).littleEndian, toByteOffset: lane * 8, as: UInt64.self)
            }
        }
    }
}

/// Hex text for bytes and back: `0x`-prefixed lowercase out; either case in, `0x` optional.
public enum Hex {
    public static func string(_ bytes: [UInt8], prefix: Bool = true) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2 + 2)
        if prefix { out += [UInt8(ascii: "0"), UInt8(ascii: "x")] }
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func bytes(_ text: String) -> [UInt8]? {
        var utf8 = Array(text.utf8)
        if utf8.count >= 2, utf8[0] == UInt8(ascii: "0"), utf8[1] | 0x20 == UInt8(ascii: "x") { utf8.removeFirst(2) }
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

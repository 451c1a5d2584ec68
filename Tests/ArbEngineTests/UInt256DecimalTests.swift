import OrderStateMachine
import PolymarketVenue
import Testing

/// `EIP712.uint256(decimal:)` reads token ids (77 digits), amounts and timestamps into the words
/// an order's EIP-712 hash is made of — and the loopback CLOB checks orders with the same
/// function, so the end-to-end tests cannot see a wrong word. Checked here against a byte-at-a-time
/// reference and known values.
@Suite("uint256 from decimal text")
struct UInt256DecimalTests {
    /// The schoolbook reference: multiply the 32 bytes by ten and add, digit by digit.
    static func reference(_ text: String) -> [UInt8]? {
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

    @Test("known values, the 2^256 edge, and what is not a decimal")
    func knownValues() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        #expect(EIP712.uint256(decimal: max) == [UInt8](repeating: 0xFF, count: 32))
        #expect(EIP712.uint256(decimal: "115792089237316195423570985008687907853269984665640564039457584007913129639936") == nil)
        #expect(EIP712.uint256(decimal: "999999999999999999999999999999999999999999999999999999999999999999999999999999") == nil)
        #expect(EIP712.uint256(decimal: "1") == [UInt8](repeating: 0, count: 31) + [1])
        #expect(EIP712.uint256(decimal: "18446744073709551616") == [UInt8](repeating: 0, count: 23) + [1] + [UInt8](repeating: 0, count: 8))
        #expect(EIP712.uint256(decimal: "10000000000000000000") == [UInt8](repeating: 0, count: 24) + [0x8A, 0xC7, 0x23, 0x04, 0x89, 0xE8, 0x00, 0x00])
        #expect(EIP712.uint256(decimal: String(repeating: "0", count: 77) + "7") == [UInt8](repeating: 0, count: 31) + [7])
        for bad in ["", "12a", "-1", " 1", String(repeating: "0", count: 79), "1.5"] {
            #expect(EIP712.uint256(decimal: bad) == nil, "\(bad)")
        }
    }

    @Test("agrees with the reference on 20,000 seeded decimals of every length")
    func agreesWithReference() {
        var random = SeededGenerator(seed: 0x256)
        for _ in 0..<20_000 {
            let length = Int.random(in: 1...78, using: &random)
            let text = String((0..<length).map { _ in Character(String(Int.random(in: 0...9, using: &random))) })
            #expect(EIP712.uint256(decimal: text) == Self.reference(text), "\(text)")
        }
    }
}

/// splitmix64: small, fast and seedable, so one seed reproduces a whole run. The one seeded
/// generator of the project: the simulator, the paper venues' fill model, the demo quotes and
/// the tests all draw from it.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for one named thing (an order, an event) derived from a run's seed, so its
    /// fate does not depend on the order in which concurrent tasks happen to ask.
    public static func derived(seed: UInt64, name: String) -> SeededGenerator {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return SeededGenerator(seed: seed ^ hash)
    }
}

/// Venue trading-fee formulas, as pure functions in exact integer arithmetic.
///
/// Notation: `C` is the number of contracts (``Quantity``, hundredths `h`, so `C = h/100`),
/// `P` is the YES price in dollars (``Price``, ticks `t`, so `P = t/10_000`) and
/// `P(1−P) = t(10_000 − t) / 10^8`.
///
/// Each formula is evaluated as one exact fraction `numerator / denominator` and rounded
/// once, the way the venue does. Intermediates can exceed even 128 bits (Polymarket with
/// exponent 4 multiplies `(t(10_000 − t))^4`, up to ~3.9e29, by the quantity and rate), so
/// the numerator is held in a small arbitrary-width unsigned integer rather than `Int128`
/// (which also needs macOS 15, above this package's macOS 14 floor). No `Double` is used.
public enum Fees {
    /// Kalshi taker fee: `ceil_to_cent(0.07 × C × P × (1 − P))` dollars.
    ///
    /// Kalshi's fee schedule rounds the fee of each order *up* to the next whole cent, so
    /// the result is always a whole number of cents (e.g. $0.000693 is charged as $0.01,
    /// and $0.17325 as $0.18). Exact multiples of a cent are not bumped ($0.07 stays $0.07).
    ///
    /// Computed as `ceil(700 × h × t(10_000 − t) / 10^12)` cents.
    ///
    /// - Precondition: the result fits in ``Money`` (`Int64` micro-dollars).
    public static func kalshiTaker(price: Price, quantity: Quantity) -> Money {
        kalshi(rateTenThousandths: 700, price: price, quantity: quantity)
    }

    /// Kalshi maker fee: `ceil_to_cent(0.0175 × C × P × (1 − P))` dollars.
    ///
    /// Same rounding as ``kalshiTaker(price:quantity:)`` (up to the next whole cent, the
    /// venue's documented rounding), with the maker coefficient 0.0175.
    ///
    /// Computed as `ceil(175 × h × t(10_000 − t) / 10^12)` cents.
    ///
    /// - Precondition: the result fits in ``Money`` (`Int64` micro-dollars).
    public static func kalshiMaker(price: Price, quantity: Quantity) -> Money {
        kalshi(rateTenThousandths: 175, price: price, quantity: quantity)
    }

    /// Polymarket taker fee: `floor_to_0.00001(C × rate × (P × (1 − P))^exponent)` dollars,
    /// with `rate = rateBps / 10_000`.
    ///
    /// Polymarket computes the fee with this curve and truncates it to 5 decimal places of
    /// a dollar (the venue's charge granularity), so the result is a whole multiple of
    /// $0.00001 = 10 micro-dollars, rounded *down*; fees below $0.00001 are zero.
    ///
    /// Computed as `floor(h × rateBps × (t(10_000 − t))^exponent / 10^(8·exponent + 1))`
    /// units of $0.00001.
    ///
    /// - Precondition: `rateBps` in `0...10_000`, `exponent` in `0...4` (config validation
    ///   guarantees both), and the result fits in ``Money``.
    public static func polymarketTaker(
        price: Price,
        quantity: Quantity,
        rateBps: Int64,
        exponent: Int
    ) -> Money {
        precondition((0...10_000).contains(rateBps), "Polymarket rateBps \(rateBps) outside 0...10000")
        precondition((0...4).contains(exponent), "Polymarket fee exponent \(exponent) outside 0...4")

        // h/100 × bps/10^4 × (x/10^8)^e dollars, in units of 10^-5 dollars:
        //   h × bps × x^e / 10^(2 + 4 + 8e - 5) = h × bps × x^e / 10^(8e + 1).
        var value = WideUnsigned(UInt64(quantity.hundredths))
        value.multiply(by: UInt32(rateBps))
        let curve = variance(price)
        for _ in 0..<exponent {
            value.multiply(by: curve)
        }
        for _ in 0..<exponent {
            _ = value.divide(by: 100_000_000)
        }
        _ = value.divide(by: 10)  // Remainders dropped: floor.

        let tenMicros = value.int64Value
        let (micros, overflow) = tenMicros.multipliedReportingOverflow(by: 10)
        precondition(!overflow, "Polymarket fee overflows Money")
        return Money(micros: micros)
    }

    /// `t × (10_000 − t)`: `P(1−P)` in units of 10^-8, at most 25_000_000.
    private static func variance(_ price: Price) -> UInt32 {
        UInt32(price.ticks * (Price.ticksPerDollar - price.ticks))
    }

    /// `ceil(rate/10^4 × h/10^2 × x/10^8 × 100)` cents `= ceil(rate × h × x / 10^12)`.
    private static func kalshi(rateTenThousandths: UInt32, price: Price, quantity: Quantity) -> Money {
        var value = WideUnsigned(UInt64(quantity.hundredths))
        value.multiply(by: rateTenThousandths)
        value.multiply(by: variance(price))
        // ceil(a / (b·c)) = floor + 1 exactly when either successive division leaves a remainder.
        let remainder1 = value.divide(by: 100_000_000)
        let remainder2 = value.divide(by: 10_000)
        var cents = value.int64Value
        if remainder1 != 0 || remainder2 != 0 {
            cents += 1
        }
        let (micros, overflow) = cents.multipliedReportingOverflow(by: Money.microsPerCent)
        precondition(!overflow, "Kalshi fee overflows Money")
        return Money(micros: micros)
    }
}

/// How a venue charges for a fill, as configuration data.
public enum FeeModel: Sendable, Hashable, Codable {
    /// ``Fees/kalshiTaker(price:quantity:)``.
    case kalshiTaker
    /// ``Fees/kalshiMaker(price:quantity:)``.
    case kalshiMaker
    /// ``Fees/polymarketTaker(price:quantity:rateBps:exponent:)``.
    case polymarketTaker(rateBps: Int64, exponent: Int)
    /// No fee.
    case free

    /// The fee for a fill of `quantity` contracts at `price` under this model.
    public func fee(price: Price, quantity: Quantity) -> Money {
        switch self {
        case .kalshiTaker:
            return Fees.kalshiTaker(price: price, quantity: quantity)
        case .kalshiMaker:
            return Fees.kalshiMaker(price: price, quantity: quantity)
        case .polymarketTaker(let rateBps, let exponent):
            return Fees.polymarketTaker(price: price, quantity: quantity, rateBps: rateBps, exponent: exponent)
        case .free:
            return .zero
        }
    }
}

/// A minimal non-negative integer of arbitrary width (little-endian 32-bit limbs), with
/// just the operations exact fee arithmetic needs: multiply and divide by a small number.
private struct WideUnsigned {
    private var limbs: [UInt32]

    init(_ value: UInt64) {
        limbs = [UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: value >> 32)]
        trim()
    }

    mutating func multiply(by factor: UInt32) {
        var carry: UInt64 = 0
        for index in limbs.indices {
            // (2^32 − 1)^2 + (2^32 − 1) < 2^64, so this cannot overflow.
            let product = UInt64(limbs[index]) * UInt64(factor) + carry
            limbs[index] = UInt32(truncatingIfNeeded: product)
            carry = product >> 32
        }
        if carry != 0 {
            limbs.append(UInt32(carry))
        }
        trim()
    }

    /// Replaces `self` with `floor(self / divisor)` and returns the remainder.
    mutating func divide(by divisor: UInt32) -> UInt32 {
        precondition(divisor != 0)
        let wideDivisor = UInt64(divisor)
        var remainder: UInt64 = 0
        for index in limbs.indices.reversed() {
            let current = (remainder << 32) | UInt64(limbs[index])
            limbs[index] = UInt32(current / wideDivisor)
            remainder = current % wideDivisor
        }
        trim()
        return UInt32(remainder)
    }

    /// The value as `Int64`. - Precondition: it fits.
    var int64Value: Int64 {
        precondition(limbs.count <= 2, "fee amount overflows Int64")
        var result: UInt64 = 0
        for (index, limb) in limbs.enumerated() {
            result |= UInt64(limb) << (32 * UInt64(index))
        }
        precondition(result <= UInt64(Int64.max), "fee amount overflows Int64")
        return Int64(result)
    }

    private mutating func trim() {
        while let last = limbs.last, last == 0 {
            limbs.removeLast()
        }
    }
}

/// Venue trading-fee formulas, as pure functions in exact integer arithmetic.
///
/// Notation: `C` is the number of contracts (``Quantity``, hundredths `h`, so `C = h/100`),
/// `P` is the YES price in dollars (``Price``, ticks `t`, so `P = t/10_000`) and
/// `P(1−P) = t(10_000 − t) / 10^8`.
///
/// Each formula is evaluated as one exact fraction `numerator / denominator` and rounded
/// once, the way the venue does. No `Double` is used.
///
/// The numerators of the fees the detector computes on every crossing quote — Kalshi's, and
/// Polymarket's with exponent 0…2 — fit in 128 bits (at most `2^63 × 10^4 × (2.5·10^7)^2 <
/// 2^126`), so they are held as a `(high, low)` pair of `UInt64` and divided by the power of ten
/// with the processor's 128 ÷ 64 division: exact, and free of heap allocation. Polymarket's
/// exponents 3 and 4 can exceed even 128 bits (`(t(10_000 − t))^4` alone reaches ~3.9e29), so
/// those use a small arbitrary-width unsigned integer. Both paths compute the same floor or
/// ceiling of the same fraction, so their results are bit-identical.
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
        //   h × bps × x^e / 10^(8e + 1).
        let tenMicros: Int64
        if exponent <= 2 {
            // Below 2^126 (see `Fees`): the products cannot overflow 128 bits.
            var numerator = Wide128(UInt64(quantity.hundredths)).multiplied(by: UInt64(rateBps))
            let curve = UInt64(variance(price))
            for _ in 0..<exponent { numerator = numerator.multiplied(by: curve) }
            tenMicros = numerator.dividedRoundingDown(by: polymarketDivisor(exponent: exponent)).int64Value
        } else {
            tenMicros = polymarketTakerWide(quantity: quantity, rateBps: rateBps, curve: variance(price),
                                            exponent: exponent)
        }
        let (micros, overflow) = tenMicros.multipliedReportingOverflow(by: 10)
        precondition(!overflow, "Polymarket fee overflows Money")
        return Money(micros: micros)
    }

    /// `10^(8e + 1)` for exponent `e` in 0…2.
    private static func polymarketDivisor(exponent: Int) -> UInt64 {
        switch exponent {
        case 0: 10
        case 1: 1_000_000_000
        default: 100_000_000_000_000_000
        }
    }

    /// `floor(h × bps × curve^e / 10^(8e + 1))` for any exponent, in arbitrary width.
    private static func polymarketTakerWide(quantity: Quantity, rateBps: Int64, curve: UInt32, exponent: Int) -> Int64 {
        var value = WideUnsigned(UInt64(quantity.hundredths))
        value.multiply(by: UInt32(rateBps))
        for _ in 0..<exponent {
            value.multiply(by: curve)
        }
        for _ in 0..<exponent {
            _ = value.divide(by: 100_000_000)
        }
        _ = value.divide(by: 10)  // Remainders dropped: floor.
        return value.int64Value
    }

    /// `t × (10_000 − t)`: `P(1−P)` in units of 10^-8, at most 25_000_000.
    private static func variance(_ price: Price) -> UInt32 {
        UInt32(price.ticks * (Price.ticksPerDollar - price.ticks))
    }

    /// `ceil(rate/10^4 × h/10^2 × x/10^8 × 100)` cents `= ceil(rate × h × x / 10^12)`.
    private static func kalshi(rateTenThousandths: UInt32, price: Price, quantity: Quantity) -> Money {
        // rate × x ≤ 700 × 2.5·10^7 < 2^35, so h × rate × x < 2^98: one 64 × 64 → 128 product.
        let numerator = Wide128(UInt64(quantity.hundredths))
            .multiplied(by: UInt64(rateTenThousandths) * UInt64(variance(price)))
        let (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: 1_000_000_000_000)
        var cents = quotient.int64Value
        if remainder != 0 {
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

/// A non-negative integer below 2^128 as two 64-bit halves, with the two operations the fees
/// need, each a single hardware instruction pair: multiply by a 64-bit factor and divide by a
/// 64-bit divisor. A value type on the stack: nothing is allocated.
private struct Wide128 {
    var high: UInt64
    var low: UInt64

    init(_ value: UInt64) {
        high = 0
        low = value
    }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// `self × factor`. - Precondition: the product is below 2^128 (the callers' bounds prove it).
    @inline(__always)
    func multiplied(by factor: UInt64) -> Wide128 {
        let lowProduct = low.multipliedFullWidth(by: factor)
        let highProduct = high.multipliedFullWidth(by: factor)
        let (top, carry) = highProduct.low.addingReportingOverflow(lowProduct.high)
        precondition(highProduct.high == 0 && !carry, "fee numerator exceeds 128 bits")
        return Wide128(high: top, low: lowProduct.low)
    }

    /// `floor(self / divisor)` and the remainder: the high half first, then the processor's
    /// 128 ÷ 64 division of (remainder, low), whose quotient fits because remainder < divisor.
    @inline(__always)
    func quotientAndRemainder(dividingBy divisor: UInt64) -> (quotient: Wide128, remainder: UInt64) {
        let (highQuotient, highRemainder) = high.quotientAndRemainder(dividingBy: divisor)
        let (lowQuotient, remainder) = divisor.dividingFullWidth((high: highRemainder, low: low))
        return (Wide128(high: highQuotient, low: lowQuotient), remainder)
    }

    @inline(__always)
    func dividedRoundingDown(by divisor: UInt64) -> Wide128 { quotientAndRemainder(dividingBy: divisor).quotient }

    /// The value as `Int64`. - Precondition: it fits.
    var int64Value: Int64 {
        precondition(high == 0 && low <= UInt64(Int64.max), "fee amount overflows Int64")
        return Int64(low)
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

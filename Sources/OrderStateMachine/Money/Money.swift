/// A signed dollar amount in fixed-point micro-dollars ($0.000001).
///
/// Micro-dollars make `price × quantity` exact: a price tick is $0.0001 and a quantity
/// step is 0.01 contract, so `ticks × hundredths` is exactly micro-dollars.
/// Money never touches `Double`.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Number of micro-dollars in one dollar.
    public static let microsPerDollar: Int64 = 1_000_000

    /// Number of micro-dollars in one cent.
    public static let microsPerCent: Int64 = 10_000

    /// $0.
    public static let zero = Money(micros: 0)

    /// The signed amount in units of $0.000001.
    public let micros: Int64

    /// Creates an amount of micro-dollars.
    public init(micros: Int64) {
        self.micros = micros
    }

    /// Creates an amount of whole cents; traps on `Int64` overflow.
    public init(cents: Int64) {
        self.micros = cents * Money.microsPerCent
    }

    /// The exact notional `price × quantity`.
    ///
    /// Ticks ($0.0001) × hundredths (0.01 contract) = micro-dollars, with no rounding.
    ///
    /// - Precondition: the product fits in `Int64` (about 9.2e12 dollars).
    public init(price: Price, quantity: Quantity) {
        let (product, overflow) = price.ticks.multipliedReportingOverflow(by: quantity.hundredths)
        precondition(!overflow, "Money overflow: \(price) × \(quantity)")
        self.micros = product
    }

    /// `self × part / whole`, rounded up to the micro-dollar (a cost or a loss is never
    /// understated), exact for any sizes: the product is taken in 128 bits, so a share of a large
    /// leg's cost never overflows. `whole` zero: zero. A result beyond `Int64` (only possible when
    /// `part` exceeds `whole`) saturates. The one rule for a share of an amount: an exposure's
    /// cost at risk, an unwind's held cost and its realised loss.
    public func share(_ part: Quantity, of whole: Quantity) -> Money {
        guard whole.hundredths > 0, part.hundredths > 0, micros != 0 else { return .zero }
        let divisor = UInt64(whole.hundredths)
        let product = micros.magnitude.multipliedFullWidth(by: UInt64(part.hundredths))
        guard product.high < divisor else { return Money(micros: micros > 0 ? .max : .min) }
        let (quotient, remainder) = divisor.dividingFullWidth(product)
        // Up is towards +∞: a positive amount's remainder adds a micro-dollar, a negative one's drops.
        let roundUp: UInt64 = micros > 0 && remainder > 0 ? 1 : 0
        guard quotient < UInt64(Int64.max) else { return Money(micros: micros > 0 ? .max : .min) }
        let value = Int64(quotient + roundUp)
        return Money(micros: micros > 0 ? value : -value)
    }

    /// The amount with all 6 decimals, trailing zeros trimmed down to a minimum of 2,
    /// and a leading `-` for negatives: `"12.345678"`, `"1.50"`, `"-0.25"`.
    public var decimalString: String {
        let sign = micros < 0 ? "-" : ""
        return sign + Money.unsignedDecimal(micros.magnitude)
    }

    /// Like ``decimalString`` with a `$` after any sign: `"$12.345678"`, `"$1.50"`, `"-$0.25"`.
    public var description: String {
        let sign = micros < 0 ? "-" : ""
        return sign + "$" + Money.unsignedDecimal(micros.magnitude)
    }

    private static func unsignedDecimal(_ magnitude: UInt64) -> String {
        let perDollar = UInt64(microsPerDollar)
        let whole = magnitude / perDollar
        var fraction = FixedPointText.zeroPadded(magnitude % perDollar, width: 6)
        while fraction.count > 2 && fraction.hasSuffix("0") {
            fraction.removeLast()
        }
        return "\(whole).\(fraction)"
    }

    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.micros < rhs.micros
    }

    public static func + (lhs: Money, rhs: Money) -> Money {
        Money(micros: lhs.micros + rhs.micros)
    }

    public static func - (lhs: Money, rhs: Money) -> Money {
        Money(micros: lhs.micros - rhs.micros)
    }

    public static prefix func - (operand: Money) -> Money {
        Money(micros: -operand.micros)
    }

    public static func += (lhs: inout Money, rhs: Money) {
        lhs = lhs + rhs
    }

    public static func -= (lhs: inout Money, rhs: Money) {
        lhs = lhs - rhs
    }

    /// Decodes a bare integer number of micro-dollars.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.micros = try container.decode(Int64.self)
    }

    /// Encodes as a bare integer number of micro-dollars.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(micros)
    }
}

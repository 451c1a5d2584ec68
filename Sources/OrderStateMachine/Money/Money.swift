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

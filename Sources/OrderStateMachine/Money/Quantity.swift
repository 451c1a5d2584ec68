/// A non-negative number of contracts, in fixed-point hundredths (0.01-contract steps).
///
/// Money never touches `Double`: parsing, arithmetic and formatting are all integer.
public struct Quantity: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Number of hundredths in one contract.
    public static let hundredthsPerContract: Int64 = 100

    /// No contracts.
    public static let zero = Quantity(uncheckedHundredths: 0)

    /// The quantity in units of 0.01 contract, always `>= 0`.
    public let hundredths: Int64

    /// Creates a quantity from hundredths of a contract, or `nil` if negative.
    public init?(hundredths: Int64) {
        guard hundredths >= 0 else { return nil }
        self.hundredths = hundredths
    }

    /// Creates a quantity of whole contracts.
    ///
    /// - Precondition: `contracts >= 0` and `contracts * 100` fits in `Int64`.
    public init(contracts: Int64) {
        precondition(contracts >= 0, "Quantity contracts \(contracts) is negative")
        let (value, overflow) = contracts.multipliedReportingOverflow(by: Quantity.hundredthsPerContract)
        precondition(!overflow, "Quantity contracts \(contracts) overflows Int64 hundredths")
        self.hundredths = value
    }

    private init(uncheckedHundredths: Int64) {
        self.hundredths = uncheckedHundredths
    }

    /// Parses a decimal number of contracts such as `"12"`, `"12.5"` or `"0.01"`.
    ///
    /// Accepts ASCII digits with at most one `.` and at most 2 decimals. Rejects signs,
    /// exponents, whitespace, a trailing `.` with no decimals, and values that overflow.
    public init?(parsing text: String) {
        guard let value = FixedPointText.parseUnsigned(text, fractionDigits: 2) else { return nil }
        self.hundredths = value
    }

    /// Whether this is zero contracts.
    public var isZero: Bool { hundredths == 0 }

    /// Contracts with exactly 2 decimals, e.g. `"12.50"`.
    public var description: String {
        let whole = hundredths / Quantity.hundredthsPerContract
        let fraction = hundredths % Quantity.hundredthsPerContract
        return "\(whole)." + FixedPointText.zeroPadded(UInt64(fraction), width: 2)
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool {
        lhs.hundredths < rhs.hundredths
    }

    /// Sum of two quantities; traps on `Int64` overflow.
    public static func + (lhs: Quantity, rhs: Quantity) -> Quantity {
        Quantity(uncheckedHundredths: lhs.hundredths + rhs.hundredths)
    }

    /// Difference of two quantities.
    ///
    /// - Precondition: `lhs >= rhs`. Taking away more contracts than you have is a
    ///   programmer error.
    public static func - (lhs: Quantity, rhs: Quantity) -> Quantity {
        precondition(lhs >= rhs, "Quantity subtraction \(lhs) - \(rhs) would be negative")
        return Quantity(uncheckedHundredths: lhs.hundredths - rhs.hundredths)
    }

    public static func += (lhs: inout Quantity, rhs: Quantity) {
        lhs = lhs + rhs
    }

    public static func -= (lhs: inout Quantity, rhs: Quantity) {
        lhs = lhs - rhs
    }

    /// Decodes a bare integer number of hundredths; rejects negative values.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(Int64.self)
        guard let quantity = Quantity(hundredths: raw) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "Quantity hundredths \(raw) is negative; allowed range is "
                    + "0...\(Int64.max) (units of 0.01 contract)"
            )
        }
        self = quantity
    }

    /// Encodes as a bare integer number of hundredths.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hundredths)
    }
}

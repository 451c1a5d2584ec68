/// A YES price of a binary contract, in fixed-point ticks of $0.0001.
///
/// A binary contract pays $1 if it resolves YES and $0 otherwise, so a price is a
/// dollar amount strictly between 0 and 1: `0 < ticks < 10_000`. Prices of exactly 0
/// or 1 cannot trade and are rejected. The NO price of the same contract is
/// ``complement``.
///
/// Money never touches `Double`: parsing, arithmetic and formatting are all integer.
public struct Price: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Number of ticks in one dollar (one tick is $0.0001).
    public static let ticksPerDollar: Int64 = 10_000

    /// The valid tick values: the open interval (0, 1) dollars.
    public static let validTicks: ClosedRange<Int64> = 1...(ticksPerDollar - 1)

    /// The price in units of $0.0001, always in `1...9_999`.
    public let ticks: Int64

    /// Creates a price from ticks, or returns `nil` unless `0 < ticks < 10_000`.
    public init?(ticks: Int64) {
        guard Price.validTicks.contains(ticks) else { return nil }
        self.ticks = ticks
    }

    /// Creates a price from ticks that the caller knows are valid.
    ///
    /// - Precondition: `0 < uncheckedTicks < 10_000`. Violating it is a programmer error.
    public init(uncheckedTicks: Int64) {
        precondition(
            Price.validTicks.contains(uncheckedTicks),
            "Price ticks \(uncheckedTicks) outside \(Price.validTicks)"
        )
        self.ticks = uncheckedTicks
    }

    /// Parses decimal dollars such as `"0.45"`, `"0.4512"` or `".5"`.
    ///
    /// Accepts ASCII digits with at most one `.` and at most 4 decimals. Rejects signs,
    /// exponents, whitespace, a trailing `.` with no decimals, and any value outside the
    /// open interval (0, 1). Returns `nil` on any rejection.
    public init?(parsing text: String) {
        guard let ticks = FixedPointText.parseUnsigned(text, fractionDigits: 4),
              let price = Price(ticks: ticks)
        else { return nil }
        self = price
    }

    /// The price of the opposite side: `1 − P`.
    public var complement: Price {
        Price(uncheckedTicks: Price.ticksPerDollar - ticks)
    }

    /// Dollars with exactly 4 decimals, e.g. `"0.4500"`.
    public var description: String {
        "0." + FixedPointText.zeroPadded(UInt64(ticks), width: 4)
    }

    public static func < (lhs: Price, rhs: Price) -> Bool {
        lhs.ticks < rhs.ticks
    }

    /// Decodes a bare integer number of ticks; rejects values outside `1...9999`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(Int64.self)
        guard let price = Price(ticks: raw) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "Price ticks \(raw) out of range; allowed range is "
                    + "\(Price.validTicks.lowerBound)...\(Price.validTicks.upperBound) "
                    + "(units of $0.0001, exclusive of $0 and $1)"
            )
        }
        self = price
    }

    /// Encodes as a bare integer number of ticks.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(ticks)
    }
}

/// Integer-only decimal text helpers shared by the money types.
public enum FixedPointText {
    /// Parses an unsigned decimal string into an integer scaled by `10^fractionDigits`.
    static func parseUnsigned(_ text: String, fractionDigits: Int) -> Int64? {
        parseUnsigned(bytes: text.utf8, fractionDigits: fractionDigits)
    }

    /// The one grammar of money text, over its UTF-8 bytes (a `String`'s, or a message's bytes
    /// read without building one): `digits? ( "." digits )?` with at least one digit overall, at
    /// least one digit after a `.` if present, and at most `fractionDigits` digits after it. Only
    /// ASCII `0`–`9` count as digits. Returns `nil` on syntax errors or Int64 overflow.
    @inlinable
    public static func parseUnsigned<Bytes: Sequence>(bytes: Bytes, fractionDigits: Int) -> Int64? where Bytes.Element == UInt8 {
        let zero = UInt8(ascii: "0")
        let nine = UInt8(ascii: "9")
        let dot = UInt8(ascii: ".")

        var value: Int64 = 0
        var integerDigitCount = 0
        var fractionDigitCount = 0
        var sawDot = false

        for byte in bytes {
            if byte == dot {
                guard !sawDot else { return nil }
                sawDot = true
                continue
            }
            guard byte >= zero && byte <= nine else { return nil }
            if sawDot {
                fractionDigitCount += 1
                guard fractionDigitCount <= fractionDigits else { return nil }
            } else {
                integerDigitCount += 1
            }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (added, o2) = shifted.addingReportingOverflow(Int64(byte &- zero))
            guard !o1 && !o2 else { return nil }
            value = added
        }

        guard integerDigitCount + fractionDigitCount > 0 else { return nil }
        if sawDot && fractionDigitCount == 0 { return nil }

        // Scale up the missing fraction digits, e.g. "0.5" with 4 digits -> 5 * 10^3.
        for _ in fractionDigitCount..<fractionDigits {
            let (scaled, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = scaled
        }
        return value
    }

    /// Decimal digits of `value`, left-padded with zeros to at least `width` characters.
    static func zeroPadded(_ value: UInt64, width: Int) -> String {
        let digits = String(value)
        guard digits.count < width else { return digits }
        return String(repeating: "0", count: width - digits.count) + digits
    }
}

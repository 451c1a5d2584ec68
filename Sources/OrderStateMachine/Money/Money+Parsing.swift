extension Money {
    /// Parses a non-negative decimal number of dollars such as `"250"`, `"250.00"`,
    /// `"250.000001"` or `".5"` exactly into micro-dollars.
    ///
    /// Grammar (the same as `Price(parsing:)` and `Quantity(parsing:)`): ASCII digits with at
    /// most one `.`, at least one digit after a `.`, at most 6 decimals. Rejects signs,
    /// exponents, whitespace, separators and amounts beyond `Int64` micro-dollars; returns `nil`
    /// on any rejection. No `Double` is involved.
    public init?(parsingDollars text: String) {
        var micros: Int64 = 0
        var digitCount = 0
        var fractionDigitCount = 0
        var sawDot = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard !sawDot else { return nil }
                sawDot = true
                continue
            }
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            digitCount += 1
            if sawDot {
                fractionDigitCount += 1
                guard fractionDigitCount <= 6 else { return nil }
            }
            let (shifted, overflow1) = micros.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1 && !overflow2 else { return nil }
            micros = added
        }
        guard digitCount > 0 else { return nil }
        if sawDot && fractionDigitCount == 0 { return nil }
        for _ in fractionDigitCount..<6 {
            let (scaled, overflow) = micros.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            micros = scaled
        }
        self.init(micros: micros)
    }
}

/// Why a market-data line was skipped. Raw values are stable snake_case names for logs and summaries.
public enum QuoteSkipReason: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Not a JSON object (syntax error, invalid UTF-8, nesting deeper than 32, an array, …).
    case notJSON = "not_json"
    /// Longer than ``QuoteFileReader/maxLineBytes``; skipped without being held in memory.
    case lineTooLong = "line_too_long"
    /// The same key twice in one line: which one is meant is anyone's guess.
    case duplicateField = "duplicate_field"
    /// `ts_ms`, `venue`, `instrument`, `bid`, `ask`, or the size of a side that has a price.
    case missingField = "missing_field"
    /// `ts_ms` not an integer in 0…253402300799999 (year 9999).
    case badTimestamp = "bad_timestamp"
    /// `venue` or `instrument` not a non-empty string.
    case badIdentifier = "bad_identifier"
    /// A price that is not a decimal 0 < p < 1 with at most 4 decimals (0, 1, negative, NaN, 1e400, …).
    case badPrice = "bad_price"
    /// A size that is not a decimal ≥ 0 with at most 2 decimals, or beyond ``QuoteLineDecoder/sizeMax``.
    case badSize = "bad_size"
    /// Bid ≥ ask on one book: no venue shows that, so the line is corrupt.
    case crossedBook = "crossed_book"
    /// A venue outside the known set.
    case unknownVenue = "unknown_venue"
    /// An instrument the venue's known set does not hold.
    case unknownInstrument = "unknown_instrument"
    /// Earlier than the previous accepted line: replay must not run time backwards.
    case timestampBackwards = "timestamp_backwards"

    public var description: String { rawValue }
}

/// One skipped line: where, why, and the offending detail (one line of text).
public struct QuoteLineDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// 1-based line number in the file.
    public var lineNumber: Int
    public var reason: QuoteSkipReason
    /// E.g. `ask is "1.2"; allowed 0 < price < 1 with at most 4 decimals`.
    public var detail: String

    public init(lineNumber: Int, reason: QuoteSkipReason, detail: String) {
        self.lineNumber = lineNumber
        self.reason = reason
        self.detail = detail
    }

    /// `line 17: bad_price: ask is "1.2"; allowed 0 < price < 1 with at most 4 decimals`
    public var description: String { "line \(lineNumber): \(reason.rawValue): \(detail)" }
}

/// Counts over a market-data stream. Blank lines are not counted.
public struct MarketDataStats: Sendable, Hashable, CustomStringConvertible {
    /// Non-blank lines seen.
    public internal(set) var total: Int = 0
    /// Lines that became quotes.
    public internal(set) var accepted: Int = 0
    /// Skipped lines by reason (reasons with no skips are absent).
    public internal(set) var skipped: [QuoteSkipReason: Int] = [:]

    public init() {}

    /// All skipped lines.
    public var skippedTotal: Int { skipped.values.reduce(0, +) }

    /// Skipped lines for one reason (0 if none).
    public func skipped(_ reason: QuoteSkipReason) -> Int { skipped[reason] ?? 0 }

    /// `1200 lines: 1187 accepted, 13 skipped (bad_price 9, timestamp_backwards 4)`
    public var description: String {
        let reasons = QuoteSkipReason.allCases.compactMap { reason in
            skipped[reason].map { "\(reason.rawValue) \($0)" }
        }
        let detail = reasons.isEmpty ? "" : " (" + reasons.joined(separator: ", ") + ")"
        return "\(total) lines: \(accepted) accepted, \(skippedTotal) skipped" + detail
    }
}

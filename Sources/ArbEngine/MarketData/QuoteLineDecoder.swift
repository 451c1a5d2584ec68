import OrderStateMachine

/// Turns JSON lines such as
///
///     {"ts_ms": 1732500000000, "venue": "kalshi", "instrument": "FED-DEC-CUT-YES",
///      "bid": "0.44", "bid_size": "120", "ask": "0.46", "ask_size": "80"}
///
/// into ``Quote``s, exactly (prices and sizes go from their text to fixed point, never through
/// `Double`). A bad line is classified, counted in ``stats`` and returned as a diagnostic; the
/// caller skips it and goes on. Keys other than these are ignored (feeds add fields); a key given
/// twice is refused.
///
/// - `ts_ms`: integer Unix milliseconds, never earlier than the previous accepted line;
/// - `bid`/`ask`: a decimal string or number, 0 < p < 1 with at most 4 decimals, or `null` (no side);
/// - `bid_size`/`ask_size`: contracts ≥ 0 with at most 2 decimals; required when the side has a
///   price, ignored when it is `null` (the side's size is then zero).
public struct QuoteLineDecoder: Sendable {
    /// The largest size accepted on one side of a book (a bound, not a market fact).
    public static let sizeMax = Quantity(contracts: 100_000_000)
    /// `ts_ms` upper bound: 9999-12-31T23:59:59.999Z.
    public static let timestampMaxMilliseconds: Int64 = 253_402_300_799_999

    /// Venue → known instruments; `nil` accepts any venue and instrument.
    public let instrumentsByVenue: [String: Set<String>]?
    public private(set) var stats = MarketDataStats()
    /// The timestamp of the last accepted line.
    public private(set) var lastTimestampMilliseconds: Int64?

    public init(instrumentsByVenue: [String: Set<String>]? = nil) {
        self.instrumentsByVenue = instrumentsByVenue
    }

    public enum LineResult: Sendable, Hashable {
        case quote(Quote)
        case skipped(QuoteLineDiagnostic)
        /// Only whitespace: ignored and not counted.
        case blank
    }

    /// Decodes one line (without its newline; a trailing `\r` is allowed).
    public mutating func decode(line: [UInt8], range: Range<Int>? = nil, lineNumber: Int) -> LineResult {
        let bounds = range ?? line.indices
        guard line[bounds].contains(where: { !StrictJSONParser.isWhitespace($0) }) else { return .blank }
        stats.total += 1
        switch parse(line, bounds) {
        case .success(let quote):
            stats.accepted += 1
            lastTimestampMilliseconds = quote.timestampMilliseconds
            return .quote(quote)
        case .failure(let problem):
            return .skipped(skip(lineNumber: lineNumber, problem.reason, problem.detail))
        }
    }

    /// ``decode(line:range:lineNumber:)`` for a `String`.
    public mutating func decode(line: String, lineNumber: Int) -> LineResult {
        decode(line: Array(line.utf8), lineNumber: lineNumber)
    }

    /// Counts a line that was too long to read (the reader never held it).
    mutating func skipTooLong(lineNumber: Int, limit: Int) -> QuoteLineDiagnostic {
        stats.total += 1
        return skip(lineNumber: lineNumber, .lineTooLong, "is longer than \(limit) bytes; allowed at most \(limit)")
    }

    private mutating func skip(lineNumber: Int, _ reason: QuoteSkipReason, _ detail: String) -> QuoteLineDiagnostic {
        stats.skipped[reason, default: 0] += 1
        return QuoteLineDiagnostic(lineNumber: lineNumber, reason: reason, detail: MessageText.singleLine(detail))
    }

    // MARK: - Parsing

    private struct Problem: Error {
        var reason: QuoteSkipReason
        var detail: String
        init(_ reason: QuoteSkipReason, _ detail: String) {
            self.reason = reason
            self.detail = detail
        }
    }

    private func parse(_ line: [UInt8], _ bounds: Range<Int>) -> Result<Quote, Problem> {
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(line, range: bounds)
        } catch {
            return .failure(Problem(.notJSON, "is not JSON: column \(error.column): \(error.message)"))
        }
        guard case .object(let members) = root else {
            return .failure(Problem(.notJSON, "is \(root.kindName); allowed a JSON object"))
        }
        var seen: Set<String> = []
        for member in members where !seen.insert(member.key).inserted {
            return .failure(Problem(.duplicateField, "has \(MessageText.quoted(member.key)) twice; allowed once"))
        }
        func field(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
        func missing(_ key: String) -> Problem { Problem(.missingField, "has no \"\(key)\"") }

        // Timestamp.
        guard let tsValue = field("ts_ms") else { return .failure(missing("ts_ms")) }
        guard case .number(let tsLiteral) = tsValue, let timestamp = JSONNumber.integer(tsLiteral, as: Int64.self),
              (0...QuoteLineDecoder.timestampMaxMilliseconds).contains(timestamp)
        else {
            return .failure(Problem(.badTimestamp, "ts_ms is \(MessageText.render(tsValue)); allowed integer Unix "
                + "milliseconds 0…\(QuoteLineDecoder.timestampMaxMilliseconds)"))
        }

        // Venue and instrument.
        guard let venueValue = field("venue") else { return .failure(missing("venue")) }
        guard case .string(let venue) = venueValue, !venue.isEmpty else {
            return .failure(Problem(.badIdentifier, "venue is \(MessageText.render(venueValue)); allowed a non-empty string"))
        }
        guard let instrumentValue = field("instrument") else { return .failure(missing("instrument")) }
        guard case .string(let instrument) = instrumentValue, !instrument.isEmpty else {
            return .failure(Problem(.badIdentifier,
                                    "instrument is \(MessageText.render(instrumentValue)); allowed a non-empty string"))
        }
        if let known = instrumentsByVenue {
            guard let instruments = known[venue] else {
                return .failure(Problem(.unknownVenue, "venue is \(MessageText.quoted(venue)); allowed "
                    + known.keys.sorted().joined(separator: ", ")))
            }
            guard instruments.contains(instrument) else {
                return .failure(Problem(.unknownInstrument, "instrument is \(MessageText.quoted(instrument)); allowed "
                    + "an instrument the config names for \(venue)"))
            }
        }

        // Sides.
        let bid: (price: Price?, size: Quantity)
        let ask: (price: Price?, size: Quantity)
        switch side(field, priceKey: "bid", sizeKey: "bid_size") {
        case .success(let value): bid = value
        case .failure(let problem): return .failure(problem)
        }
        switch side(field, priceKey: "ask", sizeKey: "ask_size") {
        case .success(let value): ask = value
        case .failure(let problem): return .failure(problem)
        }
        if let bidPrice = bid.price, let askPrice = ask.price, bidPrice >= askPrice {
            return .failure(Problem(.crossedBook, "bid \(bidPrice) is not below ask \(askPrice); allowed bid < ask"))
        }

        if let last = lastTimestampMilliseconds, timestamp < last {
            return .failure(Problem(.timestampBackwards,
                                    "ts_ms is \(timestamp), before the previous accepted line's \(last); allowed ≥ \(last)"))
        }
        return .success(Quote(timestampMilliseconds: timestamp, venue: venue, instrument: instrument,
                              bid: bid.price, bidSize: bid.size, ask: ask.price, askSize: ask.size))
    }

    private func side(_ field: (String) -> JSONValue?, priceKey: String, sizeKey: String)
        -> Result<(price: Price?, size: Quantity), Problem>
    {
        guard let priceValue = field(priceKey) else {
            return .failure(Problem(.missingField, "has no \"\(priceKey)\" (use null for no \(priceKey))"))
        }
        if priceValue == .null { return .success((nil, .zero)) }
        guard let priceText = decimalText(priceValue), let price = Price(parsing: priceText) else {
            return .failure(Problem(.badPrice, "\(priceKey) is \(MessageText.render(priceValue)); allowed a decimal "
                + "0 < price < 1 with at most 4 decimals, or null"))
        }
        guard let sizeValue = field(sizeKey) else {
            return .failure(Problem(.missingField, "has no \"\(sizeKey)\" for \(priceKey) \(price)"))
        }
        guard let sizeText = decimalText(sizeValue), let size = Quantity(parsing: sizeText),
              size <= QuoteLineDecoder.sizeMax
        else {
            return .failure(Problem(.badSize, "\(sizeKey) is \(MessageText.render(sizeValue)); allowed contracts "
                + "0…\(QuoteLineDecoder.sizeMax.decimalText) with at most 2 decimals"))
        }
        return .success((price, size))
    }

    private func decimalText(_ value: JSONValue) -> String? {
        switch value {
        case .number(let literal): literal
        case .string(let text): text
        default: nil
        }
    }
}

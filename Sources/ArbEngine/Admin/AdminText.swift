import Foundation
import OrderStateMachine

/// How `arbadmin` shows things to people: ages, aligned tables, exact money and quantities, one
/// line per message. Pure functions: the caller passes `now`.
public enum AdminText {
    // MARK: - Times

    /// `"3m12s ago"`, `"45s ago"`, `"2h05m ago"`, `"3d04h ago"`; a time ahead of `now` (another
    /// machine's clock) is `"in 2s"`.
    public static func age(_ milliseconds: Int64, now: Int64) -> String {
        let delta = now - milliseconds
        let text = duration(abs(delta))
        return delta >= 0 ? "\(text) ago" : "in \(text)"
    }

    /// A duration in the largest two units: `"850ms"`, `"12s"`, `"3m12s"`, `"2h05m"`, `"3d04h"`.
    public static func duration(_ milliseconds: Int64) -> String {
        if milliseconds < 1_000 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1_000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3_600 { return "\(seconds / 60)m\(twoDigits(seconds % 60))s" }
        if seconds < 86_400 { return "\(seconds / 3_600)h\(twoDigits(seconds % 3_600 / 60))m" }
        return "\(seconds / 86_400)d\(twoDigits(seconds % 86_400 / 3_600))h"
    }

    private static func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// Parses `--since`: an ISO 8601 time (`2025-06-01T12:00:00Z`, with fractional seconds or an
    /// offset such as `+02:00`), a UTC date (`2025-06-01`), or an age such as `90m`, `2h`, `3d`
    /// back from `now`. Strict: an impossible date or time, or anything left over, is refused.
    public static func parseSince(_ text: String, now: Int64) -> Int64? {
        if let back = parseAge(text) { return now - back }
        return parseISO8601(text)
    }

    /// `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)` → Unix milliseconds (the
    /// fraction truncated to milliseconds, the stored unit). Parsed by hand: Foundation's
    /// formatter accepts a date followed by anything and rolls hour 25 into the next day.
    static func parseISO8601(_ text: String) -> Int64? {
        var rest = Substring(text)
        func number(_ digits: Int) -> Int64? {
            let prefix = rest.prefix(digits)
            guard prefix.count == digits, prefix.allSatisfy(\.isASCII), prefix.allSatisfy(\.isNumber),
                  let value = Int64(prefix) else { return nil }
            rest = rest.dropFirst(digits)
            return value
        }
        func literal(_ character: Character) -> Bool {
            guard rest.first == character else { return false }
            rest = rest.dropFirst()
            return true
        }
        guard let year = number(4), literal("-"), let month = number(2), literal("-"), let day = number(2),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else { return nil }
        let midnight = daysFromCivil(year: year, month: month, day: day) * 86_400_000
        if rest.isEmpty { return midnight }
        guard literal("T"), let hour = number(2), literal(":"), let minute = number(2), literal(":"),
              let second = number(2), hour < 24, minute < 60, second < 60 else { return nil }
        var milliseconds = midnight + hour * 3_600_000 + minute * 60_000 + second * 1_000
        if literal(".") {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard (1...9).contains(digits.count) else { return nil }
            milliseconds += Int64(String(digits.prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0)) ?? 0
            rest = rest.dropFirst(digits.count)
        }
        if literal("Z") { return rest.isEmpty ? milliseconds : nil }
        let sign: Int64 = literal("+") ? 1 : (literal("-") ? -1 : 0)
        guard sign != 0, let offsetHours = number(2), literal(":"), let offsetMinutes = number(2), rest.isEmpty,
              offsetHours < 24, offsetMinutes < 60 else { return nil }
        return milliseconds - sign * (offsetHours * 3_600_000 + offsetMinutes * 60_000)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// `"90m"` → 5 400 000; seconds `s`, minutes `m`, hours `h`, days `d`.
    static func parseAge(_ text: String) -> Int64? {
        guard let unit = text.last, let count = Int64(text.dropLast()), count >= 0, count <= 100_000 else { return nil }
        switch unit {
        case "s": return count * 1_000
        case "m": return count * 60_000
        case "h": return count * 3_600_000
        case "d": return count * 86_400_000
        default: return nil
        }
    }

    // MARK: - Numbers

    /// A signed number of contracts in hundredths: `"12.50"`, `"-2.00"`.
    public static func contracts(_ hundredths: Int64) -> String {
        let magnitude = Quantity(hundredths: Int64(hundredths.magnitude)) ?? .zero
        return hundredths < 0 ? "-\(magnitude)" : magnitude.description
    }

    /// Money with an explicit sign, for profit and loss: `"+$0.42"`, `"-$9.18"`, `"$0.00"`.
    public static func signedMoney(_ money: Money) -> String {
        money.micros > 0 ? "+\(money)" : money.description
    }

    // MARK: - Lines and tables

    /// How a column lines up.
    public enum Alignment: Sendable { case left, right }

    /// An aligned table: a header row, then the rows; columns separated by two spaces; cells
    /// made single-line; trailing spaces trimmed.
    public static func table(_ header: [String], _ rows: [[String]], alignments: [Alignment]) -> [String] {
        precondition(header.count == alignments.count && rows.allSatisfy { $0.count == header.count },
                     "table rows must have one cell per column")
        let cells = ([header] + rows).map { $0.map(MessageText.singleLine) }
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        return cells.map { row in
            var line = ""
            for (column, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                if column > 0 { line += "  " }
                line += alignments[column] == .left ? cell + pad : pad + cell
            }
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    // MARK: - CSV

    /// One CSV record (RFC 4180): fields with a comma, quote, CR or LF are quoted, quotes doubled.
    public static func csvRecord(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
                return field
            }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }

    // MARK: - JSON

    /// JSON text of an object or array built from `[String: Any]`/`[Any]` (see
    /// `JSONValue.from`): keys sorted, indented for people who read it too.
    public static func json(_ value: Any) -> String {
        JSONValue.from(value).prettyText
    }
}

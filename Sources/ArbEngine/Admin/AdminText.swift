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

    /// ISO 8601 in UTC with milliseconds, as in every JSON output: `2025-06-01T12:00:00.000Z`.
    public static func iso8601(_ milliseconds: Int64) -> String { Timestamp.iso8601(milliseconds) }

    /// Parses `--since`: an ISO 8601 time (`2025-06-01T12:00:00Z`, with fractional seconds or an
    /// offset), a UTC date (`2025-06-01`), or an age such as `90m`, `2h`, `3d` back from `now`.
    public static func parseSince(_ text: String, now: Int64) -> Int64? {
        if let back = parseAge(text) { return now - back }
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            formatter.timeZone = TimeZone(identifier: "UTC")
            if let date = formatter.date(from: text) {
                // Whole milliseconds: the stored times' unit. (Time, not money.)
                return Int64((date.timeIntervalSince1970 * 1_000).rounded())
            }
        }
        return nil
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

    /// Replaces line breaks and control characters so a message or a table cell is one line.
    public static func singleLine(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += " "
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    result += "?"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// How a column lines up.
    public enum Alignment: Sendable { case left, right }

    /// An aligned table: a header row, then the rows; columns separated by two spaces; cells
    /// made single-line; trailing spaces trimmed.
    public static func table(_ header: [String], _ rows: [[String]], alignments: [Alignment]) -> [String] {
        precondition(header.count == alignments.count && rows.allSatisfy { $0.count == header.count },
                     "table rows must have one cell per column")
        let cells = ([header] + rows).map { $0.map(singleLine) }
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

    /// JSON text of an object or array built from `[String: Any]`/`[Any]`, keys sorted, slashes
    /// unescaped, indented for people who read it too.
    public static func json(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value,
                                                     options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else {
            preconditionFailure("arbadmin built a value JSONSerialization cannot write")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

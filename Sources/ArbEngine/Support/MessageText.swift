/// The one text escaper for messages: user-supplied text inside an error, an admin table cell or
/// a log line is kept to one line and a bounded length.
public enum MessageText {
    /// The longest value quoted in a message before it is cut with `…`.
    public static let maxQuotedCharacters = 80

    /// Replaces line breaks and other control characters so a message is always one line.
    public static func singleLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isLineBreaking) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if isLineBreaking(scalar) {
                    let digits = String(scalar.value, radix: 16, uppercase: true)
                    result += "\\u" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    private static func isLineBreaking(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    /// `"text"` with `"` and `\` escaped, control characters escaped, cut at ``maxQuotedCharacters``.
    public static func quoted(_ text: String) -> String {
        var body = ""
        var count = 0
        for character in text {
            if count == maxQuotedCharacters {
                body += "…"
                break
            }
            if character == "\"" || character == "\\" { body.append("\\") }
            body.append(character)
            count += 1
        }
        return "\"" + singleLine(body) + "\""
    }

    /// A JSON value as shown in a message: strings quoted, numbers as written, containers by kind.
    static func render(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .number(let literal):
            return literal.count > maxQuotedCharacters ? String(literal.prefix(maxQuotedCharacters)) + "…" : literal
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        case .object: return "an object"
        case .array(let elements):
            let shown = elements.prefix(4).map { element -> String in
                switch element {
                case .object, .array: return element.kindName
                default: return render(element)
                }
            }
            return "[" + shown.joined(separator: ", ") + (elements.count > 4 ? ", …" : "") + "]"
        }
    }
}

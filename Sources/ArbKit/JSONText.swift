/// A JSON string literal, the one escaper for every JSON arb writes (the engine's `JSONValue`
/// and the venue adapters' request bodies).
public enum JSONText {
    /// `value` as a JSON string literal (RFC 8259 §7): quotes, backslashes and control
    /// characters escaped, everything else (including non-ASCII and `/`) as is.
    public static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

import ArbEngine
/// A JSON value with ordered object keys, so the report prints the same way every run.
indirect enum JSON: Sendable {
    case number(Double)
    case integer(Int)
    case bool(Bool)
    case string(String)
    case null
    case array([JSON])
    case object([(String, JSON)])

    /// Pretty-printed with two-space indents.
    func rendered(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        let inner = String(repeating: "  ", count: indent + 1)
        switch self {
        case .number(let value):
            guard value.isFinite else { return "null" }
            // A small non-zero value (allocations per update) keeps every digit: rounding it to
            // 0 would hide it.
            if value != 0, abs(value) < 0.01 { return "\(value)" }
            // Two decimals are all any other figure here can honestly claim.
            let rounded = (value * 100).rounded() / 100
            if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
            return "\(rounded)"
        case .integer(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .string(let value): return Self.quoted(value)
        case .null: return "null"
        case .array(let values):
            if values.isEmpty { return "[]" }
            return "[\n" + values.map { inner + $0.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n\(pad)]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{\n" + members.map { "\(inner)\(Self.quoted($0.0)): \($0.1.rendered(indent: indent + 1))" }
                .joined(separator: ",\n") + "\n\(pad)}"
        }
    }

    static func quoted(_ text: String) -> String { AlertText.jsonString(text) }
}

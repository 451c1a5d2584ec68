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

    /// Pretty-printed with two-space indents, through the engine's one JSON writer.
    func rendered() -> String { value.prettyText }

    private var value: JSONValue {
        switch self {
        case .number(let number): .number(Self.figure(number))
        case .integer(let number): .number(String(number))
        case .bool(let flag): .bool(flag)
        case .string(let text): .string(text)
        case .null: .null
        case .array(let values): .array(values.map(\.value))
        case .object(let members): .object(members.map { JSONMember(key: $0.0, value: $0.1.value) })
        }
    }

    /// A measured figure's text: two decimals are all most figures here can honestly claim; a small
    /// non-zero value (allocations per update) keeps every digit, since rounding it to 0 would hide it.
    private static func figure(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value != 0, abs(value) < 0.01 { return "\(value)" }
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return "\(rounded)"
    }
}

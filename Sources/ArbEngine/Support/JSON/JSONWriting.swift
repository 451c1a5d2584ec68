import Foundation

/// The one JSON writer: alert bodies and alert lines (compact), `arbadmin --json` output
/// (indented, keys sorted) and anything else arb writes as JSON go through ``JSONValue`` here.
/// Numbers are written as their literal text, so money and quantities never pass through `Double`.
extension JSONValue {
    /// No whitespace: one line (alert bodies, JSON-lines files, webhook payloads).
    public var compactText: String {
        var out = ""
        write(to: &out, indent: nil)
        return out
    }

    /// Two-space indents, `"key": value`, for people who read it too.
    public var prettyText: String {
        var out = ""
        write(to: &out, indent: 0)
        return out
    }

    private func write(to out: inout String, indent: Int?) {
        switch self {
        case .string(let text): out += Self.quoted(text)
        case .number(let literal): out += literal
        case .bool(let flag): out += flag ? "true" : "false"
        case .null: out += "null"
        case .array(let elements):
            guard !elements.isEmpty else { return out += "[]" }
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                Self.newline(&out, indent.map { $0 + 1 })
                element.write(to: &out, indent: indent.map { $0 + 1 })
            }
            Self.newline(&out, indent)
            out += "]"
        case .object(let members):
            guard !members.isEmpty else { return out += "{}" }
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                Self.newline(&out, indent.map { $0 + 1 })
                out += Self.quoted(member.key)
                out += indent == nil ? ":" : ": "
                member.value.write(to: &out, indent: indent.map { $0 + 1 })
            }
            Self.newline(&out, indent)
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ indent: Int?) {
        guard let indent else { return }
        out += "\n"
        out += String(repeating: "  ", count: indent)
    }

    /// `value` as a JSON string literal (`JSONText.quoted`, in ArbKit).
    public static func quoted(_ value: String) -> String { JSONText.quoted(value) }

    // MARK: - Building

    /// An object whose members keep the order given.
    static func members(_ members: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(members.map { JSONMember(key: $0.key, value: $0.value) })
    }

    /// An integer, or `null` when absent.
    static func integer<Integer: BinaryInteger>(_ value: Integer?) -> JSONValue {
        value.map { .number(String($0)) } ?? .null
    }

    /// The JSON of a tree of `[String: Any]`, `[Any]`, strings, integers, booleans, `NSNull`,
    /// `nil` and `JSONValue`s (as `arbadmin` builds its output), object keys sorted.
    /// Anything else is a programming error: the output types are ours.
    static func from(_ value: Any) -> JSONValue {
        switch value {
        case let json as JSONValue: return json
        case let text as String: return .string(text)
        case let flag as Bool: return .bool(flag)
        case let number as Int: return .number(String(number))
        case let number as Int64: return .number(String(number))
        case let number as Int32: return .number(String(number))
        case let number as UInt64: return .number(String(number))
        case is NSNull: return .null
        case let array as [Any]: return .array(array.map(from))
        case let object as [String: Any]:
            return .object(object.keys.sorted().map { JSONMember(key: $0, value: from(object[$0]!)) })
        default:
            if case Optional<Any>.none = value { return .null }
            if case Optional<Any>.some(let wrapped) = value { return from(wrapped) }
            preconditionFailure("no JSON for a \(type(of: value))")
        }
    }
}

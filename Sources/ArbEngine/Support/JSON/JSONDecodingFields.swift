/// Reading fields whose rules are the type's own: the raw value for a message, optional keys
/// where `null` is still a value, bounded integers, one of a set of names. Messages read
/// `<path> is <value>; allowed <what>`.
extension Decoder {
    /// `is <value>; allowed <allowed>` at this decoder's path.
    func invalid(_ value: JSONValue, allowed: String) -> JSONDecodingFailure {
        JSONDecodingFailure(path: JSONPath.text(codingPath), detail: "is \(MessageText.render(value)); allowed \(allowed)")
    }
}

extension KeyedDecodingContainer {
    /// The value at `key` as parsed, or `nil` when the key is absent (`null` is a value).
    func raw(_ key: Key) throws -> JSONValue? {
        contains(key) ? try decode(JSONValue.self, forKey: key) : nil
    }

    /// `T` when the key is present (`null` goes to `T`, which may refuse it), else `nil`.
    func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        contains(key) ? try decode(type, forKey: key) : nil
    }

    func failure(_ key: Key, _ detail: String) -> JSONDecodingFailure {
        JSONDecodingFailure(path: JSONPath.text(codingPath + [key]), detail: detail)
    }

    /// `is <value>; allowed <allowed>`, or `is missing; allowed <allowed>`.
    func invalid(_ key: Key, _ value: JSONValue?, allowed: String) -> JSONDecodingFailure {
        failure(key, value.map { "is \(MessageText.render($0)); allowed \(allowed)" } ?? "is missing; allowed \(allowed)")
    }

    /// A JSON integer literal (no fraction, no exponent) within `range`.
    func integer(_ key: Key, in range: ClosedRange<Int64>, unit: String) throws -> Int64 {
        let allowed = "\(range.lowerBound)…\(range.upperBound) (\(unit))"
        let value = try raw(key)
        guard case .number(let literal)? = value, !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            throw invalid(key, value, allowed: "an integer " + allowed)
        }
        guard let parsed = JSONNumber.integer(literal, as: Int64.self), range.contains(parsed) else {
            throw invalid(key, value, allowed: allowed)
        }
        return parsed
    }

    /// One of `T`'s raw values, when the key is present.
    func choice<T: RawRepresentable>(_ key: Key, allowed: String) throws -> T? where T.RawValue == String {
        guard let value = try raw(key) else { return nil }
        guard case .string(let text) = value, let parsed = T(rawValue: text) else {
            throw invalid(key, value, allowed: allowed)
        }
        return parsed
    }

    func required<T: RawRepresentable>(_ key: Key, allowed: String) throws -> T where T.RawValue == String {
        guard let parsed: T = try choice(key, allowed: allowed) else { throw invalid(key, nil, allowed: allowed) }
        return parsed
    }
}

/// Bounds on text fields (TigerBeetle: put a limit on everything).
enum JSONFieldLimits {
    static let identifierLengthMax = 128
    /// File paths and URLs.
    static let textLengthMax = 4_096
}

extension KeyedDecodingContainer {
    /// A non-empty file path without control characters, when the key is present (`null` → `nil` if `nullable`).
    func filePath(_ key: Key, nullable: Bool = false) throws -> String? {
        guard let value = try raw(key) else { return nil }
        if nullable && value == .null { return nil }
        let allowed = "a non-empty file path (at most \(JSONFieldLimits.textLengthMax) bytes, no control characters)"
            + (nullable ? " or null" : "")
        guard case .string(let text) = value, !text.isEmpty, text.utf8.count <= JSONFieldLimits.textLengthMax,
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { throw invalid(key, value, allowed: allowed) }
        return text
    }

    /// `scheme://host…` for one of `schemes`, when the key is present; shown in full in a refusal
    /// (a venue's URL holds no secret).
    func url(_ key: Key, schemes: [String]) throws -> String? {
        guard let value = try raw(key) else { return nil }
        let allowed = schemes.map { "\($0)://" }.joined(separator: " or ") + " URL with a host"
        guard case .string(let text) = value, text.utf8.count <= JSONFieldLimits.textLengthMax,
              !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }),
              let separator = text.range(of: "://"), schemes.contains(text[..<separator.lowerBound].lowercased()),
              !text[separator.upperBound...].prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" }).isEmpty
        else { throw invalid(key, value, allowed: "a " + allowed) }
        return text
    }

    /// `0x` and exactly `digits` hex digits, when the key is present.
    func hex(_ key: Key, digits: Int, what: String) throws -> String? {
        guard let value = try raw(key) else { return nil }
        guard case .string(let text) = value, text.utf8.count == digits + 2, text.hasPrefix("0x"),
              text.utf8.dropFirst(2).allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 102) })
        else { throw invalid(key, value, allowed: "\(what): 0x and \(digits) hex digits") }
        return text
    }

    /// An id (event, instrument): 1…128 characters, no whitespace or control characters, none of `forbidden`.
    func identifier(_ key: Key, forbidden: String, what: String) throws -> String {
        let allowed = "\(what): 1…\(JSONFieldLimits.identifierLengthMax) characters without spaces or control characters"
            + (forbidden.isEmpty ? "" : " or '\(forbidden)'")
        let value = try raw(key)
        guard case .string(let text)? = value, !text.isEmpty, text.count <= JSONFieldLimits.identifierLengthMax,
              !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F
                  || forbidden.unicodeScalars.contains($0) })
        else { throw invalid(key, value, allowed: allowed) }
        return text
    }
}

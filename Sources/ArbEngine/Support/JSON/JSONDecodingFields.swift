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

/// `Decodable` over the strict parser's tree: a type decodes as usual (`init(from:)` with its
/// `CodingKeys`), and the decoder adds what arb's inputs need and Foundation's `JSONDecoder` lacks:
///
/// - every refusal is a ``JSONDecodingFailure`` naming the field by its path
///   (`events[0].instruments.kalshi.YES`) and saying what is wrong and what is allowed;
/// - an object with a key twice is refused, and so is a key its type does not know, when the
///   type's `CodingKeys` are `CaseIterable` (the allowed keys are listed in their order);
/// - a number stays its literal text: a type reads it as a ``JSONValue`` (``JSONDecodingContainers``)
///   and parses it into fixed point itself; `Double` and `Float` are refused outright.
///
/// A type that conforms to ``JSONExpectation`` says what it accepts, and the decoder uses that
/// text for a missing key or a value of the wrong kind.
enum JSONTreeDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(JSONDecodingFailure) -> T {
        do {
            return try T(from: JSONTreeDecoder(value: value, codingPath: [], expected: expectation(of: T.self)))
        } catch let failure as JSONDecodingFailure {
            throw failure
        } catch {
            // Only a type's own init can throw something else; it still gets one line.
            throw JSONDecodingFailure(path: "", detail: "cannot be decoded (\(error)); allowed what the type documents")
        }
    }

    static func expectation<T>(of type: T.Type) -> String? {
        (type as? any JSONExpectation.Type)?.expectedJSON
    }
}

/// What JSON a type accepts, in words for a message: `"ioc", "fok" or "gtc"`.
protocol JSONExpectation {
    static var expectedJSON: String { get }
}

/// A refused value: the field's path (empty for the whole document) and what is wrong, e.g.
/// `is 12000; allowed 0…10000 (basis points of the $1 payout)`.
struct JSONDecodingFailure: Error, Sendable, Equatable {
    var path: String
    var detail: String
}

/// Field paths as messages show them.
enum JSONPath {
    /// `a.b[2].c`; a key that is not a plain word is quoted: `detection["min edge"]`.
    static func text(_ codingPath: [any CodingKey]) -> String {
        codingPath.reduce("") { path, key in
            if let index = key.intValue { return path + "[\(index)]" }
            return member(path, key.stringValue)
        }
    }

    /// `parent.key`, or `parent["odd key"]` when the key is not a plain word.
    static func member(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
        if plain { return parent.isEmpty ? key : parent + "." + key }
        return parent + "[" + MessageText.quoted(key) + "]"
    }
}

/// Any key by its text (object members whose names are data: venue names, outcomes), or an index.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// The parsed value itself is `Decodable` (through this decoder only): how a type reads a number
/// as its literal text, or any value to describe it in a message.
extension JSONValue: Decodable {
    public init(from decoder: any Decoder) throws {
        guard let tree = decoder as? JSONTreeDecoder else {
            throw JSONDecodingFailure(path: JSONPath.text(decoder.codingPath),
                                      detail: "needs arb's JSON decoder; allowed only through JSONTreeDecoding")
        }
        self = tree.value
    }
}

struct JSONTreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    /// What the type being decoded accepts, for a value of the wrong kind.
    let expected: String?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func failure(_ detail: String, at key: (any CodingKey)? = nil) -> JSONDecodingFailure {
        JSONDecodingFailure(path: JSONPath.text(codingPath + (key.map { [$0] } ?? [])), detail: detail)
    }

    func wrongKind(_ fallback: String) -> JSONDecodingFailure {
        failure("is \(MessageText.render(value)); allowed \(expected ?? fallback)")
    }

    func child(_ value: JSONValue, key: any CodingKey, type: Any.Type) -> JSONTreeDecoder {
        JSONTreeDecoder(value: value, codingPath: codingPath + [key], expected: JSONTreeDecoding.expectation(of: type))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw wrongKind("an object") }
        var seen: Set<String> = []
        for member in members where !seen.insert(member.key).inserted {
            throw failure("appears twice; allowed once per object", at: AnyCodingKey(stringValue: member.key))
        }
        if let known = Self.knownKeys(Key.self) {
            for member in members where !known.contains(member.key) {
                throw failure("is not a known key; allowed keys: \(known.joined(separator: ", "))",
                              at: AnyCodingKey(stringValue: member.key))
            }
        }
        return KeyedDecodingContainer(ObjectContainer<Key>(decoder: self, members: members))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw wrongKind("an array") }
        return ArrayContainer(decoder: self, elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { ScalarContainer(decoder: self) }

    /// The names of `Key`'s cases in declaration order, when it lists them.
    static func knownKeys<Key: CodingKey>(_ type: Key.Type) -> [String]? {
        guard let listed = type as? any (CodingKey & CaseIterable).Type else { return nil }
        return names(listed)
    }

    private static func names<Key: CodingKey & CaseIterable>(_ type: Key.Type) -> [String] {
        type.allCases.map(\.stringValue)
    }

    /// A scalar of a standard type. Integers are whole literals that fit; `Double`/`Float` never.
    func scalar<T>(_ type: T.Type) throws -> T {
        switch value {
        case .bool(let flag) where T.self == Bool.self: return flag as! T
        case .string(let text) where T.self == String.self: return text as! T
        case .number(let literal):
            if let integerType = T.self as? any FixedWidthInteger.Type,
               let parsed = JSONNumber.integer(literal, as: integerType) {
                return parsed as! T
            }
        default: break
        }
        if T.self == Double.self || T.self == Float.self {
            throw failure("is read as floating point; allowed only exact decimals (a programming error in the type)")
        }
        let integerRange = (T.self as? any FixedWidthInteger.Type).map { Self.integerRange($0) }
        throw wrongKind(T.self == Bool.self ? "true or false" : T.self == String.self ? "a string" : integerRange ?? "a number")
    }

    private static func integerRange<I: FixedWidthInteger>(_ type: I.Type) -> String { "an integer \(I.min)…\(I.max)" }
}

private struct ObjectContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: JSONTreeDecoder
    let members: [JSONMember]
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { members.contains { $0.key == key.stringValue } }

    private func present(_ key: Key, _ type: Any.Type) throws -> JSONTreeDecoder {
        let expected = JSONTreeDecoding.expectation(of: type)
        guard let member = members.first(where: { $0.key == key.stringValue }) else {
            throw decoder.failure("is missing" + (expected.map { "; allowed " + $0 } ?? ""), at: key)
        }
        return decoder.child(member.value, key: key, type: type)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        members.first { $0.key == key.stringValue }.map { $0.value == .null } ?? true
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: present(key, type)) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try present(key, type).scalar(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try present(key, type).scalar(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try present(key, type).scalar(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try present(key, type).scalar(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try present(key, type).scalar(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try present(key, type).scalar(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try present(key, type).scalar(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try present(key, type).scalar(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try present(key, type).scalar(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try present(key, type).scalar(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try present(key, type).scalar(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try present(key, type).scalar(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try present(key, type).scalar(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try present(key, type).scalar(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey> {
        try present(key, type).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try present(key, [JSONValue].self).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try present(key, JSONValue.self) }
}

private struct ArrayContainer: UnkeyedDecodingContainer {
    let decoder: JSONTreeDecoder
    let elements: [JSONValue]
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next(_ type: Any.Type) throws -> JSONTreeDecoder {
        guard !isAtEnd else {
            throw decoder.failure("has \(elements.count) elements; allowed more (a programming error in the type)")
        }
        defer { currentIndex += 1 }
        return decoder.child(elements[currentIndex], key: AnyCodingKey(intValue: currentIndex), type: type)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next(type)) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type).scalar(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type).scalar(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type).scalar(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type).scalar(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type).scalar(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type).scalar(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type).scalar(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type).scalar(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type).scalar(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type).scalar(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type).scalar(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type).scalar(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type).scalar(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type).scalar(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey> {
        try next(type).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next([JSONValue].self).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next(JSONValue.self) }
}

private struct ScalarContainer: SingleValueDecodingContainer {
    let decoder: JSONTreeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: JSONTreeDecoder(value: decoder.value, codingPath: codingPath,
                                    expected: JSONTreeDecoding.expectation(of: type) ?? decoder.expected))
    }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.scalar(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.scalar(type) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.scalar(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.scalar(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.scalar(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.scalar(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.scalar(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.scalar(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.scalar(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.scalar(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.scalar(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.scalar(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.scalar(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.scalar(type) }
}

/// Integer literals, exactly (no `Double` on the way).
enum JSONNumber {
    /// A JSON integer literal (`-?digits`) as `T`, or `nil` for fractions, exponents and overflow.
    static func integer<T: FixedWidthInteger>(_ literal: String, as type: T.Type = T.self) -> T? {
        var bytes = literal.utf8[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        guard !bytes.isEmpty else { return nil }
        var value: T = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let digit = T(byte - UInt8(ascii: "0"))
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit)
                                             : shifted.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { return nil }
            value = next
        }
        return value
    }
}

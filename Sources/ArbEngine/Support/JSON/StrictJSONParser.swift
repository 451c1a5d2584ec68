/// A parsed JSON value whose numbers stay as their literal text, so a price, a size or a dollar
/// amount goes from the file to a fixed-point type without ever passing through `Double`.
public enum JSONValue: Sendable, Equatable {
    /// Members in file order; duplicates are kept so the caller can name them.
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    /// The number exactly as written, e.g. `"-12"`, `"0.4500"`, `"1e3"` (grammar-checked).
    case number(String)
    case bool(Bool)
    case null

    /// What kind of JSON value this is, for messages: "a string", "an object", …
    var kindName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// Why a text is not JSON, with the 1-based line and column (in bytes) where the parser stopped.
struct JSONSyntaxError: Error, Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case syntax
        /// Arrays and objects nested deeper than ``StrictJSONParser/maxDepth``.
        case tooDeep
    }

    var kind: Kind
    var message: String
    var line: Int
    var column: Int

    /// `line 3, column 7: expected ',' or '}' after an object member`
    var description: String { "line \(line), column \(column): \(message)" }
}

/// A small strict JSON parser (RFC 8259): objects, arrays, strings with escapes (validated UTF-8,
/// surrogate pairs), numbers kept as literal text, `true`/`false`/`null`.
///
/// Why not Foundation: `JSONSerialization`/`JSONDecoder` turn numbers into `Double` (or
/// `NSNumber`, whose text is not the file's text) and recurse once per nesting level, so a file of
/// 100k `[` can overflow the stack. Here nesting is limited to ``maxDepth`` levels, checked
/// before descending, so recursion depth is bounded whatever the input.
struct StrictJSONParser {
    /// Arrays/objects deeper than this are refused (the config needs about 6).
    static let maxDepth = 32

    private let bytes: [UInt8]
    private let start: Int
    private let end: Int
    private var index: Int

    /// Parses `bytes[range]` as one JSON value (surrounding whitespace allowed; a leading UTF-8
    /// byte-order mark is skipped).
    static func parse(_ bytes: [UInt8], range: Range<Int>? = nil) throws(JSONSyntaxError) -> JSONValue {
        var parser = StrictJSONParser(bytes: bytes, range: range ?? bytes.indices)
        return try parser.parseDocument()
    }

    private init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.start = range.lowerBound
        self.end = range.upperBound
        self.index = range.lowerBound
    }

    // MARK: - Grammar

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        if end - index >= 3, bytes[index] == 0xEF, bytes[index + 1] == 0xBB, bytes[index + 2] == 0xBF {
            index += 3
        }
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == end else {
            throw error("unexpected \(describeByte(bytes[index])) after the JSON value")
        }
        return value
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard index < end else { throw error("expected a value, found the end of the input") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        default:
            throw error("expected a value, found \(describeByte(bytes[index]))")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        try checkDepth(depth)
        index += 1  // {
        var members: [JSONMember] = []
        skipWhitespace()
        if index < end, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < end, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a string key, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            guard index < end, bytes[index] == UInt8(ascii: ":") else {
                throw error("expected ':' after the key \"\(key)\", found \(describeCurrent())")
            }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONMember(key: key, value: value))
            skipWhitespace()
            guard index < end else { throw error("expected ',' or '}', found the end of the input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            throw error("expected ',' or '}' after an object member, found \(describeCurrent())")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        try checkDepth(depth)
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < end, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < end else { throw error("expected ',' or ']', found the end of the input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            throw error("expected ',' or ']' after an array element, found \(describeCurrent())")
        }
    }

    private func checkDepth(_ depth: Int) throws(JSONSyntaxError) {
        guard depth <= StrictJSONParser.maxDepth else {
            var failure = error("arrays/objects nest deeper than \(StrictJSONParser.maxDepth) levels")
            failure.kind = .tooDeep
            throw failure
        }
    }

    /// Parses a string starting at its opening quote; leaves `index` after the closing quote.
    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1  // opening quote
        let contentStart = index
        // Fast path: no escapes and plain ASCII, the common case for keys and ids.
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: bytes[contentStart..<index], as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") || byte >= 0x80 { break }
            if byte < 0x20 { throw error("control character \(describeByte(byte)) inside a string (escape it)") }
            index += 1
        }
        index = contentStart
        var scratch: [UInt8] = []
        var rawStart = index
        while true {
            guard index < end else {
                throw error("unterminated string (no closing '\"')")
            }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                try appendValidatedUTF8(bytes[rawStart..<index], to: &scratch, at: rawStart)
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if byte < 0x20 {
                throw error("control character \(describeByte(byte)) inside a string (escape it)")
            }
            if byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            try appendValidatedUTF8(bytes[rawStart..<index], to: &scratch, at: rawStart)
            index += 1  // backslash
            guard index < end else { throw error("unterminated escape at the end of the input") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scratch.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): scratch.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                let scalar = try parseUnicodeEscape()
                scratch.append(contentsOf: String(Character(scalar)).utf8)
            default:
                index -= 1
                throw error("invalid escape '\\\(describeByteBare(escape))' (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
            }
            rawStart = index
        }
    }

    /// After `\u`: four hex digits, and for a high surrogate a following `\uDC00`–`\uDFFF`.
    private mutating func parseUnicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        let first = try parseHex4()
        if (0xD800...0xDBFF).contains(first) {
            guard end - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("a high surrogate \\u\(hex(first)) must be followed by a low surrogate \\uDC00…\\uDFFF")
            }
            index += 2
            let second = try parseHex4()
            guard (0xDC00...0xDFFF).contains(second) else {
                throw error("a high surrogate \\u\(hex(first)) must be followed by a low surrogate, found \\u\(hex(second))")
            }
            let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            // In range by construction: 0x10000…0x10FFFF.
            return Unicode.Scalar(value)!
        }
        guard let scalar = Unicode.Scalar(first) else {
            throw error("lone low surrogate \\u\(hex(first))")
        }
        return scalar
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - index >= 4 else { throw error("\\u needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("\\u needs four hex digits, found \(describeByte(byte))")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    /// Appends raw string bytes, refusing invalid UTF-8 (overlong forms, surrogates, truncation).
    private func appendValidatedUTF8(_ raw: ArraySlice<UInt8>, to scratch: inout [UInt8], at offset: Int) throws(JSONSyntaxError) {
        var iterator = raw.makeIterator()
        var decoder = UTF8()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break decoding
            case .error: throw error("invalid UTF-8 inside a string", at: offset)
            }
        }
        scratch.append(contentsOf: raw)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as written.
    private mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let numberStart = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < end, isDigit(bytes[index]) else {
            throw error("a number needs a digit after '-', found \(describeCurrent())")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < end, isDigit(bytes[index]) {
                throw error("a number may not have a leading zero")
            }
        } else {
            skipDigits()
        }
        if index < end, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < end, isDigit(bytes[index]) else {
                throw error("a number needs a digit after '.', found \(describeCurrent())")
            }
            skipDigits()
        }
        if index < end, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < end, isDigit(bytes[index]) else {
                throw error("a number needs a digit in its exponent, found \(describeCurrent())")
            }
            skipDigits()
        }
        return String(decoding: bytes[numberStart..<index], as: UTF8.self)
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let literalStart = index
        let count = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected -> Bool in
            guard end - literalStart >= count else { return false }
            for offset in 0..<count where bytes[literalStart + offset] != expected[offset] {
                return false
            }
            return true
        }
        guard matches else { throw error("expected a value, found \(describeCurrent())") }
        index += count
    }

    // MARK: - Helpers

    /// JSON's four whitespace bytes (space, tab, line feed, carriage return).
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private mutating func skipWhitespace() {
        while index < end {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func skipDigits() {
        while index < end, isDigit(bytes[index]) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private func describeCurrent() -> String {
        index < end ? describeByte(bytes[index]) : "the end of the input"
    }

    private func describeByte(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(hex(UInt32(byte), width: 2))"
    }

    private func describeByteBare(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return String(Character(Unicode.Scalar(byte))) }
        return "0x\(hex(UInt32(byte), width: 2))"
    }

    private func hex(_ value: UInt32, width: Int = 4) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// An error at `offset` (default: the current index), with its line and column.
    private func error(_ message: String, at offset: Int? = nil) -> JSONSyntaxError {
        let position = min(offset ?? index, end)
        var line = 1
        var lineStart = start
        var cursor = start
        while cursor < position {
            if bytes[cursor] == 0x0A {
                line += 1
                lineStart = cursor + 1
            }
            cursor += 1
        }
        return JSONSyntaxError(kind: .syntax, message: message, line: line, column: position - lineStart + 1)
    }
}

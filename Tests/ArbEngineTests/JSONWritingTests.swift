import Foundation
import Testing
@testable import ArbEngine

@Suite("the one JSON writer")
struct JSONWritingTests {
    @Test("compact and pretty text parse back to the same value, numbers as their literal text")
    func roundTrip() throws {
        let value = JSONValue.members([
            "price": .number("0.4500"),
            "text": .string("a \"quote\", a \\ backslash, a\nnewline, a \u{01} control, é and /"),
            "list": .array([.bool(true), .bool(false), .null, .array([]), .object([])]),
            "nested": .members(["z": .number("-12"), "a": .number("1e3")]),
        ])
        for text in [value.compactText, value.prettyText] {
            #expect(try StrictJSONParser.parse(Array(text.utf8)) == value)
        }
        #expect(!value.compactText.contains("\n"))
        #expect(value.compactText.contains("\"price\":0.4500"))
    }

    @Test("pretty text: two-space indents, members in the order given")
    func prettyShape() {
        let value = JSONValue.members(["b": .array([.number("1"), .string("x")]), "a": .object([])])
        #expect(value.prettyText == "{\n  \"b\": [\n    1,\n    \"x\"\n  ],\n  \"a\": {}\n}")
    }

    @Test("string literals escape quotes, backslashes and every control character")
    func quoting() {
        #expect(JSONValue.quoted("a\"b\\c\td\re\u{1F}") == "\"a\\\"b\\\\c\\td\\re\\u001f\"")
        #expect(JSONValue.quoted("ü/€") == "\"ü/€\"")
    }

    @Test("from [String: Any]: keys sorted, nil and NSNull as null, JSONValue embedded as is")
    func fromAny() {
        let missing: String? = nil
        let tree: [String: Any] = ["z": 1, "a": [true, NSNull(), missing as Any], "m": JSONValue.number("2.50"), "s": "x"]
        #expect(JSONValue.from(tree).compactText == "{\"a\":[true,null,null],\"m\":2.50,\"s\":\"x\",\"z\":1}")
    }
}

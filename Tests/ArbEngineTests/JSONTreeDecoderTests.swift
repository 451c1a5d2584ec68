import Testing
@testable import ArbEngine

/// The decoder behind the config (and whatever else arb reads as JSON): paths, key checks and
/// exact numbers, through `Decodable` types of its own.
@Suite("JSON tree decoder")
struct JSONTreeDecoderTests {
    struct Limits: Decodable, Equatable {
        enum CodingKeys: String, CodingKey, CaseIterable { case small, count, name, flag }
        var small: Int8
        var count: UInt64
        var name: String?
        var flag: Bool
    }

    struct Loose: Decodable {
        var values: [String: [Limits]]
    }

    struct Floating: Decodable {
        var ratio: Double
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws(JSONDecodingFailure) -> T {
        let value = try! StrictJSONParser.parse(Array(text.utf8))
        return try JSONTreeDecoding.decode(type, from: value)
    }

    func failure<T: Decodable>(_ type: T.Type, _ text: String) -> JSONDecodingFailure? {
        do {
            _ = try decode(type, text)
            return nil
        } catch {
            return error
        }
    }

    @Test("integers are read from their literal text, exactly and within their type")
    func integers() throws {
        let limits = try decode(Limits.self, #"{"small": -128, "count": 18446744073709551615, "flag": true}"#)
        #expect(limits == Limits(small: -128, count: .max, name: nil, flag: true))
        #expect(failure(Limits.self, #"{"small": 128, "count": 1, "flag": true}"#)
            == JSONDecodingFailure(path: "small", detail: "is 128; allowed an integer -128…127"))
        #expect(failure(Limits.self, #"{"small": 1.0, "count": 1, "flag": true}"#)?.detail == "is 1.0; allowed an integer -128…127")
        #expect(failure(Limits.self, #"{"small": 1, "count": -1, "flag": true}"#)?.path == "count")
    }

    @Test("a key twice, an unknown key (with the known ones in order) and a missing key are refused by path")
    func keys() {
        #expect(failure(Limits.self, #"{"small": 1, "small": 2, "count": 1, "flag": true}"#)
            == JSONDecodingFailure(path: "small", detail: "appears twice; allowed once per object"))
        #expect(failure(Limits.self, #"{"small": 1, "count": 1, "flag": true, "colour": 1}"#)
            == JSONDecodingFailure(path: "colour", detail: "is not a known key; allowed keys: small, count, name, flag"))
        #expect(failure(Limits.self, #"{"small": 1, "count": 1}"#) == JSONDecodingFailure(path: "flag", detail: "is missing"))
    }

    @Test("paths go through dictionaries and arrays; odd keys are quoted")
    func paths() {
        let text = #"{"values": {"a b": [{"small": 1, "count": 1, "flag": true}, {"small": 1, "count": 1, "flag": "yes"}]}}"#
        #expect(failure(Loose.self, text)
            == JSONDecodingFailure(path: #"values["a b"][1].flag"#, detail: #"is "yes"; allowed true or false"#))
        // Duplicates are refused even where the keys are data (no CodingKeys to check against).
        #expect(failure(Loose.self, #"{"values": {"x": [], "x": []}}"#)?.path == "values.x")
    }

    @Test("floating point is refused: money and sizes never pass through Double")
    func noDouble() {
        #expect(failure(Floating.self, #"{"ratio": 0.5}"#)?.detail.contains("only exact decimals") == true)
    }
}

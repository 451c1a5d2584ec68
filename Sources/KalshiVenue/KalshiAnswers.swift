import ArbKit
import Foundation
import OrderStateMachine

/// An answer field that is missing or not what Kalshi documents.
public struct KalshiAnswerError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// One JSON object of an answer, read field by field.
struct KalshiObject {
    let fields: [String: Any]
    let what: String

    init(_ fields: [String: Any], what: String) {
        self.fields = fields
        self.what = what
    }

    init(body: [UInt8], what: String) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw KalshiAnswerError(description: "\(what) is not a JSON object (\(KalshiObject.excerpt(body)))")
        }
        self.init(object, what: what)
    }

    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(160), as: UTF8.self)
            .map { $0.isNewline ? " " : String($0) }.joined()
        return body.isEmpty ? "an empty body" : (body.count > 160 ? text + "…" : text)
    }

    func failure(_ key: String, _ detail: String) -> KalshiAnswerError {
        KalshiAnswerError(description: "\(what): field \(key) \(detail)")
    }

    func optionalString(_ key: String) -> String? { fields[key] as? String }

    func string(_ key: String) throws -> String {
        guard let value = fields[key] else { throw failure(key, "is missing") }
        guard let text = value as? String, !text.isEmpty else { throw failure(key, "is not a non-empty string") }
        return text
    }

    /// A count: a fixed-point string ("10.00", "-3.00" where `signed`) or a whole JSON number.
    func quantityText(_ key: String) throws -> String {
        guard let value = fields[key] else { throw failure(key, "is missing") }
        if let text = value as? String { return text }
        if let number = value as? NSNumber, !(number is Bool) {
            let text = number.stringValue
            if text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) { return text }
        }
        throw failure(key, "is not a count")
    }

    func quantity(_ key: String) throws -> Quantity {
        let text = try quantityText(key)
        guard let quantity = KalshiNumber.quantity(text) else { throw failure(key, "is \"\(text)\", not a count of contracts") }
        return quantity
    }

    func optionalQuantity(_ key: String) throws -> Quantity? {
        fields[key] == nil || fields[key] is NSNull ? nil : try quantity(key)
    }

    /// A signed count (a position: negative is NO), in hundredths of a contract.
    func signedHundredths(_ key: String) throws -> Int64 {
        var text = try quantityText(key)
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        guard let quantity = KalshiNumber.quantity(text) else { throw failure(key, "is not a count of contracts") }
        return negative ? -quantity.hundredths : quantity.hundredths
    }

    func money(_ key: String) throws -> Money {
        let text = try string(key)
        let negative = text.hasPrefix("-")
        guard let money = Money(parsingDollars: negative ? String(text.dropFirst()) : text) else {
            throw failure(key, "is \"\(text)\", not a dollar amount")
        }
        return negative ? -money : money
    }

    func price(_ key: String) throws -> Price {
        let text = try string(key)
        guard let price = KalshiNumber.price(text) else { throw failure(key, "is \"\(text)\", not a price between 0 and 1") }
        return price
    }

    func array(_ key: String) throws -> [KalshiObject] {
        guard let value = fields[key] else { throw failure(key, "is missing") }
        if value is NSNull { return [] }
        guard let items = value as? [Any] else { throw failure(key, "is not a list") }
        var objects: [KalshiObject] = []
        for (index, item) in items.enumerated() {
            guard let object = item as? [String: Any] else { throw failure(key, "item \(index) is not an object") }
            objects.append(KalshiObject(object, what: "\(what) \(key)[\(index)]"))
        }
        return objects
    }

    /// The next page's cursor: nil when the list is done (absent, null or empty).
    var cursor: String? {
        guard let cursor = fields["cursor"] as? String, !cursor.isEmpty else { return nil }
        return cursor
    }

    /// A time as Unix milliseconds: `ts_ms` / `created_time` in RFC 3339.
    func timeMilliseconds(_ keys: String...) -> Int64? {
        for key in keys {
            if let number = fields[key] as? NSNumber, !(number is Bool) { return number.int64Value }
            if let text = fields[key] as? String, let milliseconds = KalshiNumber.rfc3339Milliseconds(text) { return milliseconds }
        }
        return nil
    }
}

/// Kalshi's fixed-point strings.
enum KalshiNumber {
    /// Trailing zeros past `digits` decimals are dropped ("10.000" is 10.00); anything finer is
    /// refused (nil), never rounded.
    static func trimmed(_ text: String, digits: Int) -> String? {
        guard let dot = text.firstIndex(of: ".") else { return text }
        var fraction = text[text.index(after: dot)...]
        while fraction.count > digits, fraction.last == "0" { fraction = fraction.dropLast() }
        guard fraction.count <= digits else { return nil }
        return fraction.isEmpty ? String(text[..<dot]) : String(text[..<dot]) + "." + fraction
    }

    static func quantity(_ text: String) -> Quantity? {
        trimmed(text, digits: 2).flatMap(Quantity.init(parsing:))
    }

    static func price(_ text: String) -> Price? {
        trimmed(text, digits: 4).flatMap(Price.init(parsing:))
    }

    /// `2026-12-02T10:15:30.123Z` (or with an offset) as Unix milliseconds.
    static func rfc3339Milliseconds(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1_000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970) * 1_000 }
        return nil
    }
}

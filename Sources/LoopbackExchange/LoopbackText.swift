import Foundation
import OrderStateMachine

/// How the loopback exchange writes numbers and strings into the venues' JSON.
public enum LoopbackText {
    /// 1050 → `"10.50"` (contracts or shares, two decimals).
    public static func hundredths(_ value: Int64) -> String {
        (value < 0 ? "-" : "") + "\(abs(value) / 100)." + String(format: "%02lld", abs(value) % 100)
    }

    /// 4500 → `"0.4500"` (a price in ticks of $0.0001).
    public static func ticks(_ value: Int64) -> String { "\(value / 10_000)." + String(format: "%04lld", value % 10_000) }

    /// 1_500_000 → `"1.500000"` (micro-dollars).
    public static func micros(_ value: Int64) -> String { "\(value / 1_000_000)." + String(format: "%06lld", value % 1_000_000) }

    /// RFC 3339 with milliseconds, UTC.
    public static func rfc3339(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1_000))
    }

    /// `"0.4500"` → 4500 with `digits` 4; nil for more decimals, a sign or a bad number.
    public static func fixed(_ text: String, digits: Int) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCII), parts[0].allSatisfy(\.isNumber),
              let whole = Int64(parts[0]) else { return nil }
        let fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= digits, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let padded = fraction + String(repeating: "0", count: digits - fraction.count)
        let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        return product + (Int64(padded) ?? 0)
    }

    static func object(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

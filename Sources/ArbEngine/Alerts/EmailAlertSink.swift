import Foundation
import OrderStateMachine

/// Mails each alert through an SMTP relay (`alerts.email`): plain text in the seed's block layout,
/// `Message-ID` made from the alert's key so a resend after a crash is recognisably the same
/// message. Delivered means the relay answered 250 to the end of DATA. The password (from
/// `ARB_SMTP_PASSWORD`) never appears in an error: server text is scrubbed of it.
public final class EmailAlertSink: AlertSink, CustomStringConvertible {
    public let name = "email"
    public let minSeverity: AlertSeverity
    let config: EmailSinkConfig
    private let client: SMTPClient
    private let secrets: [String]

    public init(config: EmailSinkConfig, password: String?) throws(AlertSinkUnusable) {
        self.config = config
        minSeverity = config.minSeverity
        let host = ProcessInfo.processInfo.hostName
        let helo = !host.isEmpty && host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") })
            ? host : "localhost"
        do {
            client = try SMTPClient(config: config, password: password, heloName: helo)
        } catch {
            throw AlertSinkUnusable(description: "alerts.email.ca_file \(MessageText.quoted(config.caFile ?? "")) cannot be used: \(error); "
                + "give a readable PEM file of the relay's CA certificates")
        }
        secrets = password.map { secret in
            [secret, Data(secret.utf8).base64EncodedString()]
                + (config.username.map { [Data(([0] + Array($0.utf8) + [0] + Array(secret.utf8))).base64EncodedString()] } ?? [])
        } ?? []
    }

    public var description: String { "EmailAlertSink(\(config.host):\(config.port))" }

    public func deliver(_ alert: PendingDelivery) async throws {
        let message = Self.message(alert, from: config.from, to: config.to)
        do {
            _ = try await client.send(from: config.from, to: config.to, message: message)
        } catch {
            var detail = "\(config.host):\(config.port): \(error)"
            for secret in secrets where !secret.isEmpty { detail = detail.replacingOccurrences(of: secret, with: "REDACTED") }
            throw AlertSinkError.writeFailed(sink: name, detail: detail)
        }
    }

    // MARK: - The message

    /// The whole message (RFC 5322): headers, a blank line, the body; `\n` line ends (the
    /// client sends CRLF).
    static func message(_ alert: PendingDelivery, from: String, to: [String]) -> String {
        let opportunity = opportunityID(alert.bodyJSON)
        let firstLine = alert.text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? alert.kind
        let subject = "[arb \(alert.severity.rawValue.uppercased())] " + String(firstLine.prefix(140))
        let body = AlertListing.block(createdAtMilliseconds: alert.createdAtMilliseconds, severity: alert.severity, kind: alert.kind,
                                      opportunityID: opportunity, text: alert.text)
            .trimmingCharacters(in: .newlines) + "\n\nAlert key: \(alert.key)\n(see every alert with: arbadmin alerts)\n"
        let domain = from.split(separator: "@").last.map(String.init) ?? "arb.invalid"
        let ascii = body.unicodeScalars.allSatisfy { $0.isASCII } && body.split(separator: "\n").allSatisfy { $0.utf8.count <= 998 }
        var headers = [
            "Date: " + rfc5322Date(alert.createdAtMilliseconds),
            "From: " + from,
            "To: " + to.joined(separator: ", "),
            "Subject: " + encodedHeader(subject),
            "Message-ID: <" + messageIDLocalPart(alert.key) + "@" + domain + ">",
            "X-Arb-Alert-Key: " + encodedHeader(alert.key),
            "X-Arb-Severity: " + alert.severity.rawValue,
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ]
        let encodedBody: String
        if ascii {
            headers.append("Content-Transfer-Encoding: 7bit")
            encodedBody = body
        } else {
            headers.append("Content-Transfer-Encoding: base64")
            let base64 = Data(body.utf8).base64EncodedString()
            encodedBody = stride(from: 0, to: base64.count, by: 76).map { offset in
                let start = base64.index(base64.startIndex, offsetBy: offset)
                return String(base64[start..<(base64.index(start, offsetBy: 76, limitedBy: base64.endIndex) ?? base64.endIndex)])
            }.joined(separator: "\n") + "\n"
        }
        return headers.joined(separator: "\n") + "\n\n" + encodedBody
    }

    /// The alert's key made safe for a Message-ID (`dot-atom`): anything else becomes `_`, and a
    /// short hash of the key keeps two keys differing only there apart.
    static func messageIDLocalPart(_ key: String) -> String {
        let safe = String(key.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
        var hash: UInt32 = 2_166_136_261  // FNV-1a
        for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "arb-alert." + safe.prefix(120) + "." + String(hash, radix: 16)
    }

    /// RFC 2047 base64 encoded-word when the text is not plain ASCII; newlines never reach a header.
    static func encodedHeader(_ text: String) -> String {
        let single = MessageText.singleLine(text)
        if single.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) { return single }
        return "=?UTF-8?B?" + Data(single.utf8).base64EncodedString() + "?="
    }

    static func rfc5322Date(_ milliseconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    private static func opportunityID(_ bodyJSON: String) -> Int64? {
        guard case .object(let members)? = try? StrictJSONParser.parse(Array(bodyJSON.utf8)),
              case .number(let literal)? = members.first(where: { $0.key == "opportunity_id" })?.value else { return nil }
        return Int64(literal)
    }
}

import Foundation
import OrderStateMachine

/// How an alert looks in each chat service: the text for people, escaped for the service's
/// markup (an instrument named `A_B*C` or `<x>` must not break or restyle the message), cut to the
/// service's length limit with a pointer to the whole alert.
enum ChatAlertFormats {
    static let telegramLimit = 4_096
    static let discordContentLimit = 2_000
    static let discordDescriptionLimit = 4_096
    static let slackSectionLimit = 3_000

    static func headline(_ alert: PendingDelivery) -> String {
        "[\(alert.severity.rawValue.uppercased())] arb \(alert.kind)"
    }

    /// Where the whole alert is, when a service's limit cut it.
    static func pointer(_ alert: PendingDelivery) -> String {
        "… (cut; the whole alert: arbadmin alerts, key \(alert.key))"
    }

    /// `text` cut to `limit` characters (with the pointer) once `wrap` is applied.
    static func fitted(_ text: String, limit: Int, alert: PendingDelivery, wrap: (String) -> String) -> String {
        var body = text
        if wrap(body).count <= limit { return wrap(body) }
        let pointer = Self.pointer(alert)
        while !body.isEmpty, wrap(body + pointer).count > limit {
            body.removeLast(max(1, min(body.count, wrap(body + pointer).count - limit)))
        }
        return wrap(body + pointer)
    }

    // MARK: - Telegram (Bot API sendMessage, parse_mode HTML)

    static func telegramEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func telegram(chatID: String, _ alert: PendingDelivery) -> String {
        // Cut before escaping would break an entity: cut the escaped text, on whole characters
        // of the original (escape each piece as it is kept).
        let head = "<b>" + telegramEscaped(headline(alert)) + "</b>\n"
        let text = fitted(alert.text, limit: telegramLimit, alert: alert) { head + telegramEscaped($0) }
        return JSONValue.object([
            JSONMember(key: "chat_id", value: .string(chatID)),
            JSONMember(key: "text", value: .string(text)),
            JSONMember(key: "parse_mode", value: .string("HTML")),
            JSONMember(key: "disable_web_page_preview", value: .bool(true)),
        ]).compactText
    }

    // MARK: - Discord (webhook with an embed)

    static func discordColour(_ severity: AlertSeverity) -> Int {
        switch severity {
        case .critical: 0xD0_3030
        case .warning: 0xE0_A020
        case .info: 0x30_70D0
        }
    }

    /// Discord markdown: `*`, `_`, `~`, `` ` ``, `|`, `>` and `\` escaped with a backslash.
    static func discordEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\*_~`|>".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    static func discord(_ alert: PendingDelivery) -> String {
        let content = fitted(alert.text, limit: discordContentLimit, alert: alert) { headline(alert) + ": " + discordEscaped($0) }
        let description = fitted(alert.text, limit: discordDescriptionLimit, alert: alert) { discordEscaped($0) }
        return JSONValue.object([
            JSONMember(key: "content", value: .string(content)),
            JSONMember(key: "embeds", value: .array([.object([
                JSONMember(key: "title", value: .string(headline(alert))),
                JSONMember(key: "description", value: .string(description)),
                JSONMember(key: "color", value: .number(String(discordColour(alert.severity)))),
                JSONMember(key: "fields", value: .array([
                    .object([JSONMember(key: "name", value: .string("severity")), JSONMember(key: "value", value: .string(alert.severity.rawValue)),
                             JSONMember(key: "inline", value: .bool(true))]),
                    .object([JSONMember(key: "name", value: .string("alert")), JSONMember(key: "value", value: .string(alert.key)),
                             JSONMember(key: "inline", value: .bool(true))]),
                ])),
            ])])),
            // Never ping anyone from alert text.
            JSONMember(key: "allowed_mentions", value: .object([JSONMember(key: "parse", value: .array([]))])),
        ]).compactText
    }

    // MARK: - Slack (incoming webhook, Block Kit)

    static func slackEscaped(_ text: String) -> String { telegramEscaped(text) }

    static func slack(_ alert: PendingDelivery) -> String {
        let section = fitted(alert.text, limit: slackSectionLimit, alert: alert) { slackEscaped($0) }
        return JSONValue.object([
            JSONMember(key: "text", value: .string(headline(alert) + ": " + slackEscaped(alert.text))),
            JSONMember(key: "blocks", value: .array([
                .object([JSONMember(key: "type", value: .string("header")),
                         JSONMember(key: "text", value: .object([JSONMember(key: "type", value: .string("plain_text")),
                                                                 JSONMember(key: "text", value: .string(headline(alert)))]))]),
                .object([JSONMember(key: "type", value: .string("section")),
                         JSONMember(key: "text", value: .object([JSONMember(key: "type", value: .string("mrkdwn")),
                                                                 JSONMember(key: "text", value: .string(section))]))]),
                .object([JSONMember(key: "type", value: .string("context")),
                         JSONMember(key: "elements", value: .array([.object([
                            JSONMember(key: "type", value: .string("mrkdwn")),
                            JSONMember(key: "text", value: .string("alert " + slackEscaped(alert.key)))])]))]),
            ])),
        ]).compactText
    }
}

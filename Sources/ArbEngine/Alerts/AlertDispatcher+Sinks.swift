extension AlertDispatcher {
    /// The environment variable whose value replaces `alerts.webhook_url`, so a token need not
    /// sit in a config file.
    public static let webhookURLEnvironmentKey = "ARB_WEBHOOK_URL"

    /// The sinks the config asks for, in a fixed order: console, file, webhook, Telegram, Discord,
    /// Slack, email, command.
    ///
    /// - Parameters:
    ///   - alertFilePath: the file sink's path as the caller resolved it (e.g. `alerts.file`
    ///     made absolute beside the database); nil takes `config.filePath` as written. The file
    ///     sink exists only if one of the two is set.
    ///   - environment: a non-empty `ARB_WEBHOOK_URL` replaces `config.webhookURL`.
    ///
    /// The webhook sink holds an HTTP client: call `shutdown()` on every sink when done.
    public static func makeSinks(
        config: AlertConfig, alertFilePath: String?, environment: [String: String]
    ) throws(AlertSinkUnusable) -> [any AlertSink] {
        var sinks: [any AlertSink] = []
        if config.console { sinks.append(ConsoleAlertSink()) }
        if let path = alertFilePath ?? config.filePath { sinks.append(FileAlertSink(path: path)) }
        let fromEnvironment = environment[webhookURLEnvironmentKey].flatMap { $0.isEmpty ? nil : $0 }
        if let url = fromEnvironment ?? config.webhookURL { sinks.append(WebhookAlertSink(url: url)) }
        func secret(_ variable: String, for key: String) throws(AlertSinkUnusable) -> String {
            guard let value = environment[variable], !value.isEmpty else {
                throw AlertSinkUnusable(description: "alerts.\(key) is configured but \(variable) is not set: put the "
                    + "\(key == "telegram" ? "bot token" : "webhook URL") in the environment (never in the config)")
            }
            return value
        }
        if let telegram = config.telegram {
            let token = try secret(telegramTokenEnvironmentKey, for: "telegram")
            var root = telegram.apiURL
            while root.hasSuffix("/") { root.removeLast() }
            let chat = telegram.chatID
            sinks.append(WebhookAlertSink(url: root + "/bot" + token + "/sendMessage", name: "telegram",
                                          redactedURL: root + "/botREDACTED/sendMessage", secrets: [token],
                                          minSeverity: telegram.minSeverity) { ChatAlertFormats.telegram(chatID: chat, $0) })
        }
        if let discord = config.discord {
            let url = try secret(discordURLEnvironmentKey, for: "discord")
            sinks.append(WebhookAlertSink(url: url, name: "discord", minSeverity: discord.minSeverity, payload: ChatAlertFormats.discord))
        }
        if let slack = config.slack {
            let url = try secret(slackURLEnvironmentKey, for: "slack")
            sinks.append(WebhookAlertSink(url: url, name: "slack", minSeverity: slack.minSeverity, payload: ChatAlertFormats.slack))
        }
        if let email = config.email {
            let password = environment[smtpPasswordEnvironmentKey].flatMap { $0.isEmpty ? nil : $0 }
            if email.username != nil && password == nil {
                throw AlertSinkUnusable(description: "alerts.email has a username but \(smtpPasswordEnvironmentKey) is not set: put the "
                    + "SMTP password in the environment (never in the config), or drop the username for a relay without AUTH")
            }
            sinks.append(try EmailAlertSink(config: email, password: email.username == nil ? nil : password))
        }
        if let command = config.command {
            sinks.append(CommandAlertSink(argv: command.argv, timeoutMilliseconds: command.timeoutMilliseconds,
                                          minSeverity: command.minSeverity))
        }
        return sinks
    }

    public static let telegramTokenEnvironmentKey = "TELEGRAM_BOT_TOKEN"
    public static let discordURLEnvironmentKey = "DISCORD_WEBHOOK_URL"
    public static let slackURLEnvironmentKey = "SLACK_WEBHOOK_URL"
    public static let smtpPasswordEnvironmentKey = "ARB_SMTP_PASSWORD"
}

/// A configured alert sink that cannot be made (its secret is missing from the environment).
public struct AlertSinkUnusable: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

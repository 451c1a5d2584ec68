extension AlertDispatcher {
    /// The environment variable whose value replaces `alerts.webhook_url`, so a token need not
    /// sit in a config file.
    public static let webhookURLEnvironmentKey = "ARB_WEBHOOK_URL"

    /// The sinks the config asks for, in a fixed order: console, file, webhook.
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
    ) -> [any AlertSink] {
        var sinks: [any AlertSink] = []
        if config.console { sinks.append(ConsoleAlertSink()) }
        if let path = alertFilePath ?? config.filePath { sinks.append(FileAlertSink(path: path)) }
        let fromEnvironment = environment[webhookURLEnvironmentKey].flatMap { $0.isEmpty ? nil : $0 }
        if let url = fromEnvironment ?? config.webhookURL { sinks.append(WebhookAlertSink(url: url)) }
        return sinks
    }
}

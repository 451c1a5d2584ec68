import AsyncHTTPClient
import Foundation
import OrderStateMachine

/// POSTs each alert as `{"id":…,"kind":…,"severity":…,"text":…}` (JSON) to a webhook (Slack,
/// Discord, a pager). Delivered means a 2xx answer; anything else, a timeout or a redirect is a
/// failure and the row is retried.
///
/// A webhook URL usually *is* the credential (`…/services/T…/B…/SECRET`, `?token=…`), so it is
/// never logged, described or put in an error: only `redactedURL` of it is.
///
/// One `HTTPClient` for the life of the sink (connections are reused); call `shutdown()` once
/// the dispatcher is done with it.
public final class WebhookAlertSink: AlertSink, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public let name: String
    public let minSeverity: AlertSeverity
    /// What may be printed of the URL.
    public let redactedURL: String
    private let url: String
    /// Secrets that must never appear in an error (a bot token inside the URL's path).
    private let secrets: [String]
    private let payload: @Sendable (PendingDelivery) -> String
    private let timeoutMilliseconds: Int64
    private let client: HTTPClient
    /// The webhook's answer body is read up to this many bytes, then dropped.
    static let responseBytesMax = 64 * 1024

    /// - Parameters:
    ///   - name: the sink's name in the outbox (`webhook`, `discord`, `slack`, `telegram`).
    ///   - redactedURL: what may be printed of the URL (default: `redactedURL(url)`).
    ///   - payload: the JSON body for one alert (default: arb's own `{"id","kind","severity","text"}`).
    ///   - timeoutMilliseconds: for the whole request, connect included.
    public init(url: String, name: String = "webhook", redactedURL: String? = nil, secrets: [String] = [],
                minSeverity: AlertSeverity = .info, payload: @escaping @Sendable (PendingDelivery) -> String = WebhookAlertSink.arbPayload,
                timeoutMilliseconds: Int64 = 5_000) {
        precondition(timeoutMilliseconds > 0, "webhook timeout must be positive")
        self.url = url
        self.name = name
        self.minSeverity = minSeverity
        self.redactedURL = redactedURL ?? ArbEngine.redactedURL(url)
        self.secrets = secrets
        self.payload = payload
        self.timeoutMilliseconds = timeoutMilliseconds
        let timeout = HTTPClient.Configuration.Timeout(
            connect: .milliseconds(timeoutMilliseconds), read: .milliseconds(timeoutMilliseconds))
        // No redirects: a 3xx is a failure to look at, not a reason to send the alert elsewhere.
        let configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: timeout)
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public var description: String { "WebhookAlertSink(\(name), \(redactedURL))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["url": redactedURL]) }

    public func deliver(_ alert: PendingDelivery) async throws {
        guard isHTTP(url) else { throw AlertSinkError.invalidURL(redacted: redactedURL) }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "arb/\(ArbEngineVersion.string)")
        request.body = .bytes(Array(payload(alert).utf8))
        let status: Int
        var retryAfter: Int64?
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeoutMilliseconds))
            status = Int(response.status.code)
            // Read the answer (so the connection can be reused); a 429's says how long to wait.
            let body = try await response.body.collect(upTo: Self.responseBytesMax)
            if status == 429 {
                retryAfter = Self.retryAfterMilliseconds(header: response.headers.first(name: "Retry-After"),
                                                         body: Array(body.readableBytesView))
            }
        } catch {
            throw AlertSinkError.transport(redactedURL: redactedURL, detail: scrubbed(String(describing: error)))
        }
        if let retryAfter { throw AlertSinkError.rateLimited(redactedURL: redactedURL, retryAfterMilliseconds: retryAfter) }
        guard (200..<300).contains(status) else { throw AlertSinkError.httpStatus(status, redactedURL: redactedURL) }
    }

    /// `{"id":…,"kind":…,"severity":…,"text":…}`: `text` is what chat webhooks show.
    @Sendable public static func arbPayload(_ alert: PendingDelivery) -> String { payload(for: alert) }

    static func payload(for alert: PendingDelivery) -> String {
        JSONValue.members([
            "id": .string(alert.key),
            "kind": .string(alert.kind),
            "severity": .string(alert.severity.rawValue),
            "text": .string(alert.text),
        ]).compactText
    }

    /// A 429's wait: Discord's body `{"retry_after": 1.5}` (seconds), else a `Retry-After: 2`
    /// header (seconds); nil when neither says. Capped at ten minutes.
    static func retryAfterMilliseconds(header: String?, body: [UInt8]) -> Int64? {
        func milliseconds(_ text: String) -> Int64? {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard let whole = Int64(parts[0]), whole >= 0 else { return nil }
            let fraction = parts.count == 2 ? String(parts[1].prefix(3)) : ""
            guard fraction.allSatisfy(\.isNumber) else { return nil }
            let millis = Int64(fraction + String(repeating: "0", count: 3 - fraction.count)) ?? 0
            return min(whole * 1_000 + millis, 600_000)
        }
        if let json = try? StrictJSONParser.parse(body), case .object(let members) = json,
           let value = members.first(where: { $0.key == "retry_after" })?.value, case .number(let text) = value,
           let wait = milliseconds(text) {
            return wait
        }
        return header.flatMap { milliseconds($0.trimmingCharacters(in: .whitespaces)) }
    }

    public func shutdown() async {
        // A second shutdown throws `alreadyShutdown`: nothing left to release either way.
        try? await client.shutdown()
    }

    private func isHTTP(_ url: String) -> Bool {
        let lower = url.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// An HTTP client error should not contain the URL, but if one ever does, this is the last
    /// line of defence: the URL and its secret-bearing parts are replaced.
    private func scrubbed(_ text: String) -> String {
        var text = text
        let parts = URLParts(url)
        for secret in [url, parts?.afterFirstSegment, parts?.query, parts?.userInfo] + secrets.map(Optional.some) {
            guard let secret, secret.count >= 4 else { continue }
            text = text.replacingOccurrences(of: secret, with: "REDACTED")
        }
        return text
    }
}

/// `scheme://host[:port]/first-path-segment/REDACTED?REDACTED`: what may be printed of a URL that
/// may carry a secret. Userinfo becomes `REDACTED@`; every path segment after the first, the query
/// and the fragment become `REDACTED`. Keeps enough to tell which service and endpoint
/// (`https://hooks.slack.com/services/REDACTED`), nothing that grants access. Something that does
/// not parse as `scheme://…` is all `REDACTED`.
public func redactedURL(_ url: String) -> String {
    guard let parts = URLParts(url) else { return "REDACTED" }
    var out = parts.scheme + "://"
    if parts.userInfo != nil { out += "REDACTED@" }
    out += parts.hostPort
    if let first = parts.firstSegment { out += "/" + first }
    if parts.afterFirstSegment != nil { out += "/REDACTED" }
    if parts.query != nil { out += "?REDACTED" }
    if parts.fragment != nil { out += "#REDACTED" }
    return out
}

/// A URL split the way `redactedURL` needs (RFC 3986 §3), without Foundation's normalisation.
struct URLParts {
    var scheme: String
    var userInfo: String?
    var hostPort: String
    var firstSegment: String?
    /// The path after the first segment (without its leading `/`), if non-empty.
    var afterFirstSegment: String?
    var query: String?
    var fragment: String?

    init?(_ url: String) {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        scheme = String(url[..<schemeEnd.lowerBound])
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            return nil
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        if let question = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: question)...])
            rest = rest[..<question]
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            userInfo = String(authority[..<at])
            authority = authority[authority.index(after: at)...]
        }
        hostPort = String(authority)
        let segments = rest[authorityEnd...].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        firstSegment = segments.first.map(String.init)
        afterFirstSegment = segments.count > 1 ? String(segments[1]) : nil
    }
}

import OrderStateMachine

/// Everything `arb run` is configured with (JSON, snake_case keys). Built only through
/// `TraderConfig.load`/`decode`, which validate every field.
public struct TraderConfig: Sendable, Hashable {
    /// `database`: the trader's SQLite file. Default `arb.db` in the working directory.
    public var databasePath: String
    /// `durability`: `full` (default) or `normal`.
    public var durability: Durability
    /// `events`: the paired markets to watch.
    public var events: [EventPair]
    /// `venues`: by venue name (`kalshi`, `polymarket`).
    public var venues: [String: VenueConfig]
    public var detection: DetectionConfig
    public var execution: ExecutionConfig
    public var risk: RiskConfig
    public var alerts: AlertConfig
    /// `unwind`: what to do with a one-sided exposure (default: nothing — alert and wait).
    public var unwind: UnwindConfig

    public init(databasePath: String, durability: Durability, events: [EventPair], venues: [String: VenueConfig],
                detection: DetectionConfig, execution: ExecutionConfig, risk: RiskConfig, alerts: AlertConfig,
                unwind: UnwindConfig = .off) {
        self.unwind = unwind
        self.databasePath = databasePath
        self.durability = durability
        self.events = events
        self.venues = venues
        self.detection = detection
        self.execution = execution
        self.risk = risk
        self.alerts = alerts
    }
}

extension TraderConfig {
    /// One line per event paired across a real venue whose resolution rules nobody has noted as
    /// checked (`rules_checked_by` / `rules_checked_at`): two markets that look alike can settle
    /// differently, and then the "hedge" is two bets.
    public var pairingWarnings: [String] {
        events.filter { event in
            event.rulesCheckedBy == nil && event.rulesCheckedAt == nil
                && event.venueNames.contains { venues[$0].map { $0.kind != .paper } ?? false }
        }.map { event in
            "event \(event.eventID): nobody has noted checking that \(event.venueNames.joined(separator: " and ")) resolve it "
                + "alike; read both rulebooks, then set rules_checked_by and rules_checked_at on the event"
        }
    }
}

/// One event listed at two venues: for each venue, the instrument (market) of each outcome.
/// Buying outcome X at one venue and the other outcome at the other venue pays exactly $1.
public struct EventPair: Sendable, Hashable {
    /// `event_id`
    public var eventID: String
    /// `outcomes`: exactly two, e.g. `["YES", "NO"]` or `["DEM", "REP"]`.
    public var outcomes: [String]
    /// `instruments`: venue name → outcome → instrument id at that venue. Exactly two venues.
    public var instruments: [String: [String: String]]
    /// `fees` (optional): venue name → fee model overriding the venue's for this market
    /// (Polymarket's rate and exponent are per market).
    public var fees: [String: FeeModel]
    /// `markets` (required for a Polymarket venue): venue name → that venue's market for this event.
    public var markets: [String: PolymarketMarket]
    /// `rules_checked_by` / `rules_checked_at` (optional): who read both venues' resolution rules
    /// and found they settle alike, and when (VENUES.md "Pairing risk"). A pair with a real venue
    /// and neither is warned about at every start.
    public var rulesCheckedBy: String?
    public var rulesCheckedAt: String?

    public init(eventID: String, outcomes: [String], instruments: [String: [String: String]], fees: [String: FeeModel] = [:],
                markets: [String: PolymarketMarket] = [:], rulesCheckedBy: String? = nil, rulesCheckedAt: String? = nil) {
        self.eventID = eventID
        self.outcomes = outcomes
        self.instruments = instruments
        self.fees = fees
        self.markets = markets
        self.rulesCheckedBy = rulesCheckedBy
        self.rulesCheckedAt = rulesCheckedAt
    }

    /// The two venue names, sorted.
    public var venueNames: [String] { instruments.keys.sorted() }
}

public enum VenueKind: String, Sendable, Hashable, Codable {
    /// The built-in paper venue (DESIGN §7).
    case paper
    /// Kalshi's Trade API v2 (its demo or its prod environment).
    case kalshi
    /// Polymarket's CLOB V2 (no demo environment: real money unless pointed at a loopback address).
    case polymarket
}

public struct VenueConfig: Sendable, Hashable {
    /// `fee`: `"kalshi_taker"`, `"kalshi_maker"`, `"free"` or
    /// `{"polymarket_taker": {"rate_bps": 300, "exponent": 1}}`.
    public var fee: FeeModel
    /// What `kind` names, with that kind's own keys.
    public var settings: VenueSettings

    public init(fee: FeeModel, settings: VenueSettings) {
        self.fee = fee
        self.settings = settings
    }

    /// A paper venue.
    public init(kind: VenueKind, fee: FeeModel, paper: PaperVenueConfig) {
        precondition(kind == .paper, "init(kind:fee:paper:) builds a paper venue")
        self.init(fee: fee, settings: .paper(paper))
    }

    /// `kind`: `paper` or `kalshi`.
    public var kind: VenueKind {
        switch settings {
        case .paper: .paper
        case .kalshi: .kalshi
        case .polymarket: .polymarket
        }
    }

    /// Whether orders here are real-money orders (Kalshi's `prod`; Polymarket anywhere but a
    /// loopback address): `arb run` needs `--live`.
    public var tradesRealMoney: Bool {
        switch settings {
        case .paper: false
        case .kalshi(let kalshi): kalshi.environment == .prod
        case .polymarket(let polymarket): !VenueURL.isLoopback(polymarket.baseURL)
        }
    }

    /// The paper venue's settings (`paper`), for kind `paper`.
    public var paper: PaperVenueConfig? {
        get { if case .paper(let paper) = settings { paper } else { nil } }
        set { if let newValue { settings = .paper(newValue) } }
    }
}

public struct PaperVenueConfig: Sendable, Hashable {
    /// `state_file`: the paper venue's own SQLite file. Default `paper-<venue>.db` beside the
    /// trader database; a relative path is resolved beside the trader database.
    public var stateFile: String?
    /// `fill_model`
    public var fillModel: PaperFillModel

    public init(stateFile: String?, fillModel: PaperFillModel) {
        self.stateFile = stateFile
        self.fillModel = fillModel
    }
}

/// How the paper venue treats each order; all percentages are whole numbers 0…100 and the
/// five outcome percentages (`full_fill_percent` … `ambiguous_submit_percent`) add up to 100.
/// Each order's fate is drawn from a generator derived from (seed, client order id), so a run
/// is reproducible whatever order concurrent submits arrive in.
public struct PaperFillModel: Sendable, Hashable {
    /// `full_fill_percent`: filled completely at submit.
    public var fullFillPercent: Int
    /// `partial_fill_percent`: part filled at submit (the rest rests for GTC, is killed for IOC).
    public var partialFillPercent: Int
    /// `rest_percent`: nothing filled at submit.
    public var restPercent: Int
    /// `reject_percent`: refused (like a 4xx with a reason).
    public var rejectPercent: Int
    /// `ambiguous_submit_percent`: placed, but the answer is lost (like a timeout).
    public var ambiguousSubmitPercent: Int
    /// `late_fill_percent`: of the orders left resting, how many fill (fully) later.
    public var lateFillPercent: Int
    /// `cancel_fail_percent`: how many cancels the venue refuses.
    public var cancelFailPercent: Int
    /// `latency_ms_min`, `latency_ms_max`: each call's simulated latency.
    public var latencyMillisecondsMin: Int64
    public var latencyMillisecondsMax: Int64
    /// `late_fill_delay_ms_max`: a late fill happens within this long after submit.
    public var lateFillDelayMillisecondsMax: Int64
    /// `seed`: the venue's own seed (the run's `--seed` is mixed in).
    public var seed: UInt64

    public init(fullFillPercent: Int, partialFillPercent: Int, restPercent: Int, rejectPercent: Int,
                ambiguousSubmitPercent: Int, lateFillPercent: Int, cancelFailPercent: Int,
                latencyMillisecondsMin: Int64, latencyMillisecondsMax: Int64, lateFillDelayMillisecondsMax: Int64,
                seed: UInt64) {
        self.fullFillPercent = fullFillPercent
        self.partialFillPercent = partialFillPercent
        self.restPercent = restPercent
        self.rejectPercent = rejectPercent
        self.ambiguousSubmitPercent = ambiguousSubmitPercent
        self.lateFillPercent = lateFillPercent
        self.cancelFailPercent = cancelFailPercent
        self.latencyMillisecondsMin = latencyMillisecondsMin
        self.latencyMillisecondsMax = latencyMillisecondsMax
        self.lateFillDelayMillisecondsMax = lateFillDelayMillisecondsMax
        self.seed = seed
    }
}

public struct DetectionConfig: Sendable, Hashable {
    /// `min_edge_bps`: minimum edge net of fees, in basis points of the $1 payout, 0…10000.
    public var minEdgeBps: Int64
    /// `min_size` / `max_size`: contracts (decimal strings or numbers, 0.01 steps), 0 < min ≤ max.
    public var minSize: Quantity
    public var maxSize: Quantity
    /// `quote_staleness_ms`: a quote older than this is not traded on.
    public var quoteStalenessMilliseconds: Int64

    public init(minEdgeBps: Int64, minSize: Quantity, maxSize: Quantity, quoteStalenessMilliseconds: Int64) {
        self.minEdgeBps = minEdgeBps
        self.minSize = minSize
        self.maxSize = maxSize
        self.quoteStalenessMilliseconds = quoteStalenessMilliseconds
    }
}

public struct ExecutionConfig: Sendable, Hashable {
    /// `time_in_force`: `ioc`, `fok` or `gtc`.
    public var timeInForce: TimeInForce
    /// `fill_timeout_ms`: how long resting legs may take to fill before their remainders are cancelled.
    public var fillTimeoutMilliseconds: Int64
    /// `settle_timeout_ms`: how long a hedged execution waits for provisional fills (Polymarket's
    /// MATCHED trades) to be confirmed or undone before it alerts and leaves the rest to recovery.
    public var settleTimeoutMilliseconds: Int64
    /// How often the venues are asked about provisional fills meanwhile.
    public var settlePollMilliseconds: Int64

    public static let defaultSettleTimeoutMilliseconds: Int64 = 300_000

    public init(timeInForce: TimeInForce, fillTimeoutMilliseconds: Int64,
                settleTimeoutMilliseconds: Int64 = ExecutionConfig.defaultSettleTimeoutMilliseconds,
                settlePollMilliseconds: Int64 = 1_000) {
        self.timeInForce = timeInForce
        self.fillTimeoutMilliseconds = fillTimeoutMilliseconds
        self.settleTimeoutMilliseconds = settleTimeoutMilliseconds
        self.settlePollMilliseconds = settlePollMilliseconds
    }
}

/// `unwind`: `{"policy", "max_loss_per_contract", "max_attempts", "retry_ms",
/// "max_unwinds_per_market_per_day"}` — how a one-sided exposure is taken back (issue 14).
public struct UnwindConfig: Sendable, Hashable {
    /// `policy`: `off` (the default: alert and wait for a person), `complete` (buy the missing
    /// outcome), `flatten` (sell the excess back) or `best` (whichever the books make cheaper).
    public enum Policy: String, Sendable, Hashable, CaseIterable {
        case off, complete, flatten, best
    }

    public var policy: Policy
    /// `max_loss_per_contract`: the most an unwind may lose per exposed contract, fees included,
    /// in dollars (default "0.02").
    public var maxLossPerContract: Money
    /// `max_attempts`: IOC orders tried before giving up (default 5).
    public var maxAttempts: Int
    /// `retry_ms`: the wait between attempts (default 250).
    public var retryMilliseconds: Int64
    /// `max_unwinds_per_market_per_day`: past it, the market is blocked until `arbadmin resume
    /// --market` (default 3).
    public var maxUnwindsPerMarketPerDay: Int

    public static let off = UnwindConfig(policy: .off)

    public init(policy: Policy, maxLossPerContract: Money = Money(cents: 2), maxAttempts: Int = 5, retryMilliseconds: Int64 = 250,
                maxUnwindsPerMarketPerDay: Int = 3) {
        self.policy = policy
        self.maxLossPerContract = maxLossPerContract
        self.maxAttempts = maxAttempts
        self.retryMilliseconds = retryMilliseconds
        self.maxUnwindsPerMarketPerDay = maxUnwindsPerMarketPerDay
    }
}

public struct RiskConfig: Sendable, Hashable {
    /// `max_exposure_per_event_usd` / `max_exposure_total_usd`: cost of open and one-sided
    /// positions allowed, in dollars (decimal string like "250.00" or a number).
    public var maxExposurePerEvent: Money
    public var maxExposureTotal: Money
    /// `max_one_sided_per_day`: one-sided closes in a UTC day that halt the trader.
    public var maxOneSidedClosesPerDay: Int
    /// `cooldown_ms`: no new opportunity on a dedup key this long after it closed.
    public var cooldownMilliseconds: Int64
    /// `one_sided_cooldown_ms`: longer, after a one-sided close.
    public var oneSidedCooldownMilliseconds: Int64

    public init(maxExposurePerEvent: Money, maxExposureTotal: Money, maxOneSidedClosesPerDay: Int,
                cooldownMilliseconds: Int64, oneSidedCooldownMilliseconds: Int64) {
        self.maxExposurePerEvent = maxExposurePerEvent
        self.maxExposureTotal = maxExposureTotal
        self.maxOneSidedClosesPerDay = maxOneSidedClosesPerDay
        self.cooldownMilliseconds = cooldownMilliseconds
        self.oneSidedCooldownMilliseconds = oneSidedCooldownMilliseconds
    }
}

public struct AlertConfig: Sendable, Hashable {
    /// `console`: print alerts to standard error.
    public var console: Bool
    /// `file`: JSON-lines alert log; default `data/alerts.log` beside the database; `null` turns it off.
    public var filePath: String?
    /// `webhook_url`: HTTP POST of `{"text": …}`; the `ARB_WEBHOOK_URL` environment variable
    /// overrides it so a token need not sit in a file.
    public var webhookURL: String?
    /// `telegram`: `{"chat_id", "api_url", "min_severity"}`; the bot token from `TELEGRAM_BOT_TOKEN`.
    public var telegram: TelegramSinkConfig?
    /// `discord`: `{"min_severity"}`; the webhook URL from `DISCORD_WEBHOOK_URL`.
    public var discord: ChatSinkConfig?
    /// `slack`: `{"min_severity"}`; the webhook URL from `SLACK_WEBHOOK_URL`.
    public var slack: ChatSinkConfig?
    /// `command`: `{"argv", "timeout_ms", "min_severity"}`: the alert JSON on the program's stdin.
    public var command: CommandSinkConfig?
    /// `email`: SMTP (see `EmailSinkConfig`); the password from `ARB_SMTP_PASSWORD`.
    public var email: EmailSinkConfig?
    /// `remind_every_minutes`: a reminder alert this often while a one-sided exposure stays open
    /// (0: none). Default 15.
    public var remindEveryMinutes: Int64 = 15
    /// `sink_down_alert_minutes`: a sink failing this long raises a warning on the others (0: never). Default 10.
    public var sinkDownAlertMinutes: Int64 = 10

    public init(console: Bool, filePath: String?, webhookURL: String?, telegram: TelegramSinkConfig? = nil,
                discord: ChatSinkConfig? = nil, slack: ChatSinkConfig? = nil, command: CommandSinkConfig? = nil,
                email: EmailSinkConfig? = nil) {
        self.console = console
        self.filePath = filePath
        self.webhookURL = webhookURL
        self.telegram = telegram
        self.discord = discord
        self.slack = slack
        self.command = command
        self.email = email
    }
}

/// A Telegram bot's chat: `{"chat_id": "-1001234", "api_url": "https://api.telegram.org", "min_severity": "warning"}`.
public struct TelegramSinkConfig: Sendable, Hashable {
    public static let defaultAPIURL = "https://api.telegram.org"
    public var chatID: String
    public var apiURL: String
    public var minSeverity: AlertSeverity

    public init(chatID: String, apiURL: String = TelegramSinkConfig.defaultAPIURL, minSeverity: AlertSeverity = .info) {
        self.chatID = chatID
        self.apiURL = apiURL
        self.minSeverity = minSeverity
    }
}

/// A chat webhook whose URL (the secret) comes from the environment: `{"min_severity": "critical"}`.
public struct ChatSinkConfig: Sendable, Hashable {
    public var minSeverity: AlertSeverity
    public init(minSeverity: AlertSeverity = .info) { self.minSeverity = minSeverity }
}

/// An SMTP relay: `{"smtp_host", "smtp_port", "tls", "username", "from", "to", "min_severity",
/// "timeout_ms", "ca_file"}`. The password comes only from `ARB_SMTP_PASSWORD`.
public struct EmailSinkConfig: Sendable, Hashable {
    /// How the connection is protected: STARTTLS after the greeting (587), TLS from the first
    /// byte (465), or nothing (25; only to a loopback host: a local relay, tests).
    public enum Security: String, Sendable, Hashable {
        case starttls, tls, none
        var defaultPort: Int { switch self { case .starttls: 587; case .tls: 465; case .none: 25 } }
    }

    public var host: String
    public var port: Int
    public var security: Security
    /// AUTH's user name; nil sends without AUTH (a relay that trusts the sender's address).
    public var username: String?
    public var from: String
    public var to: [String]
    public var minSeverity: AlertSeverity
    public var timeoutMilliseconds: Int64
    /// PEM certificates trusted besides the system's (a private relay's own CA).
    public var caFile: String?

    public init(host: String, port: Int? = nil, security: Security = .starttls, username: String? = nil, from: String,
                to: [String], minSeverity: AlertSeverity = .info, timeoutMilliseconds: Int64 = 30_000, caFile: String? = nil) {
        self.host = host
        self.port = port ?? security.defaultPort
        self.security = security
        self.username = username
        self.from = from
        self.to = to
        self.minSeverity = minSeverity
        self.timeoutMilliseconds = timeoutMilliseconds
        self.caFile = caFile
    }

    /// Hosts a connection without TLS may go to: the message and the password never leave the machine.
    static func isLoopback(_ host: String) -> Bool {
        ["127.0.0.1", "::1", "localhost"].contains(host.lowercased()) || host.hasPrefix("127.")
    }
}

/// A program to hand each alert to: `{"argv": ["/usr/local/bin/page-me"], "timeout_ms": 5000, "min_severity": "critical"}`.
public struct CommandSinkConfig: Sendable, Hashable {
    public var argv: [String]
    public var timeoutMilliseconds: Int64
    public var minSeverity: AlertSeverity

    public init(argv: [String], timeoutMilliseconds: Int64 = 5_000, minSeverity: AlertSeverity = .info) {
        self.argv = argv
        self.timeoutMilliseconds = timeoutMilliseconds
        self.minSeverity = minSeverity
    }
}

import KalshiVenue
import OrderStateMachine

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Entry points

extension TraderConfig {
    /// The largest config file `load` reads (a config is a few kilobytes; this bounds memory).
    public static let maxConfigFileBytes = 4 << 20

    /// Reads and validates the JSON config at `path` (relative to the working directory).
    ///
    /// Every refusal is a ``ConfigError`` whose description is one line naming the file or the
    /// field, the bad value and what is allowed: a missing, unreadable, empty or oversized file,
    /// text that is not JSON (with line and column), nesting deeper than 32 levels, and every
    /// rule listed in ``decode(json:source:)-([UInt8],_)``.
    ///
    /// Secrets come only from the environment or from a file that only its owner can read: a
    /// `alerts.webhook_url` that carries one (anything `redactedURL` would hide: a path after the
    /// first segment, a query, user info) in a file readable by group or others is refused.
    public static func load(path: String) throws(ConfigError) -> TraderConfig {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.contents(path: path, limit: maxConfigFileBytes, noun: "JSON config file")
        } catch {
            throw ConfigError(source: path, field: "", detail: error.detail)
        }
        let config = try decode(json: bytes, source: path)
        if let url = config.alerts.webhookURL, redactedURL(url) != url {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & 0o077 != 0 {
                throw ConfigError(
                    source: path, field: "alerts.webhook_url",
                    detail: "is \(MessageText.quoted(redactedURL(url))), a secret in a file that group or others can read "
                        + "(mode \(String(status.st_mode & 0o777, radix: 8))); allowed only in a file private to its owner "
                        + "(chmod 600 \(path)), or set ARB_WEBHOOK_URL in the environment instead")
            }
        }
        return config
    }

    /// Decodes and validates a config from UTF-8 JSON text. `source` names it in messages.
    ///
    /// Keys are snake_case (see each field's documentation); unknown keys are refused rather than
    /// ignored, so a typo cannot silently leave a limit at a default. Defaults, when a key is absent:
    /// - `database`: `"arb.db"` (relative to the working directory);
    /// - `durability`: `"full"` (a commit that precedes a send must survive power loss);
    /// - `alerts`: the whole section may be absent; `alerts.console`: `true`;
    ///   `alerts.file`: `"data/alerts.log"` beside the database (`null` turns it off);
    ///   `alerts.webhook_url`: none;
    /// - `venues.<name>.paper.state_file`: none, meaning `paper-<name>.db` beside the database;
    /// - `venues.<name>.paper.fill_model.seed`: `0` (the run's `--seed` is mixed in anyway);
    /// - `events[i].fees`: none (each venue's own `fee` applies).
    /// Everything else is required: limits and thresholds that decide money have no silent default.
    public static func decode(json: [UInt8], source: String) throws(ConfigError) -> TraderConfig {
        guard json.contains(where: { !StrictJSONParser.isWhitespace($0) }) else {
            throw ConfigError(source: source, field: "", detail: "is empty; allowed a JSON object (see TraderConfig.demoJSON)")
        }
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(json)
        } catch {
            switch error.kind {
            case .tooDeep:
                throw ConfigError(
                    source: source, field: "",
                    detail: "nests arrays/objects deeper than \(StrictJSONParser.maxDepth) levels at line \(error.line), "
                        + "column \(error.column); allowed at most \(StrictJSONParser.maxDepth)")
            case .syntax:
                throw ConfigError(source: source, field: "", detail: "is not JSON: \(error.description)")
            }
        }
        guard case .object = root else {
            throw ConfigError(source: source, field: "", detail: "holds \(root.kindName) at the top level; allowed a JSON object")
        }
        do {
            let config = try JSONTreeDecoding.decode(TraderConfig.self, from: root)
            try config.validate()
            return config
        } catch {
            throw ConfigError(source: source, field: error.path, detail: error.detail)
        }
    }

    /// ``decode(json:source:)-([UInt8],_)`` for JSON held in a `String`.
    public static func decode(json: String, source: String) throws(ConfigError) -> TraderConfig {
        try decode(json: Array(json.utf8), source: source)
    }
}

// MARK: - Limits

/// Bounds on every number the config holds (TigerBeetle: put a limit on everything).
enum ConfigLimits {
    static let millisecondsMax: Int64 = 86_400_000  // one day
    static let bpsRange: ClosedRange<Int64> = 0...10_000
    static let percentRange: ClosedRange<Int64> = 0...100
    static let contractsMax = Quantity(contracts: 1_000_000)
    static let dollarsMax = Money(micros: 1_000_000_000 * Money.microsPerDollar)
    static let eventsMax = 1_000
    static let venuesMax = 16
    static let oneSidedPerDayMax: Int64 = 1_000_000
}

// MARK: - Sections

// Each section decodes its own fields (a rule about one field sits beside the field); the rules
// that relate fields to each other are all in `validate()` below.

extension TraderConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case database, durability, events, venues, detection, execution, risk, alerts, unwind
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let databasePath = try object.filePath(.database) ?? "arb.db"
        let durability: Durability = try object.choice(.durability, allowed: "\"full\" or \"normal\"") ?? .full

        let venuesAllowed = "an object of venue name → {\"kind\", \"fee\", \"paper\"}"
        guard case .object(let venueMembers)? = try object.raw(.venues) else {
            throw object.invalid(.venues, try object.raw(.venues), allowed: venuesAllowed)
        }
        let byName = try object.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .venues)
        guard (1...ConfigLimits.venuesMax).contains(venueMembers.count) else {
            throw object.failure(.venues, "has \(venueMembers.count) venues; allowed 1…\(ConfigLimits.venuesMax)")
        }
        var venues: [String: VenueConfig] = [:]
        for member in venueMembers {
            guard Self.isVenueName(member.key) else {
                throw object.failure(.venues, "has venue name \(MessageText.quoted(member.key)); allowed lowercase "
                    + "letters, digits, '_' and '-', starting with a letter, at most 32 characters")
            }
            venues[member.key] = try byName.decode(VenueConfig.self, forKey: AnyCodingKey(stringValue: member.key))
        }

        let eventsValue = try object.raw(.events)
        guard case .array(let eventElements)? = eventsValue else {
            throw object.invalid(.events, eventsValue, allowed: "an array of 1…\(ConfigLimits.eventsMax) events")
        }
        guard (1...ConfigLimits.eventsMax).contains(eventElements.count) else {
            throw object.failure(.events, "has \(eventElements.count) events; allowed 1…\(ConfigLimits.eventsMax)")
        }
        self.init(databasePath: databasePath, durability: durability,
                  events: try object.decode([EventPair].self, forKey: .events), venues: venues,
                  detection: try object.decode(DetectionConfig.self, forKey: .detection),
                  execution: try object.decode(ExecutionConfig.self, forKey: .execution),
                  risk: try object.decode(RiskConfig.self, forKey: .risk),
                  alerts: try object.optional(AlertConfig.self, .alerts) ?? AlertConfig.defaults,
                  unwind: try object.optional(UnwindConfig.self, .unwind) ?? .off)
    }

    private static func isVenueName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...32).contains(bytes.count), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

extension VenueConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"kind\", \"fee\" and that kind's keys"
    enum KindKey: String, CodingKey { case kind }
    enum PaperKeys: String, CodingKey, CaseIterable { case kind, fee, paper }
    // The kind decides which keys the rest of the object may have.
    public init(from decoder: any Decoder) throws {
        let kind: VenueKind = try decoder.container(keyedBy: KindKey.self)
            .required(.kind, allowed: "\"paper\", \"kalshi\" or \"polymarket\"")
        switch kind {
        case .paper:
            let object = try decoder.container(keyedBy: PaperKeys.self)
            self.init(fee: try object.decode(ConfigFee.self, forKey: .fee).model,
                      settings: .paper(try object.decode(PaperVenueConfig.self, forKey: .paper)))
        case .kalshi:
            self.init(fee: try decoder.container(keyedBy: KalshiVenueSettings.CodingKeys.self).decode(ConfigFee.self, forKey: .fee).model,
                      settings: .kalshi(try KalshiVenueSettings(from: decoder)))
        case .polymarket:
            self.init(fee: try decoder.container(keyedBy: PolymarketVenueSettings.CodingKeys.self).decode(ConfigFee.self, forKey: .fee).model,
                      settings: .polymarket(try PolymarketVenueSettings(from: decoder)))
        }
    }
}

/// A venue's or a market's fee model as the config writes it.
struct ConfigFee: Decodable, JSONExpectation {
    static let expectedJSON = "\"kalshi_taker\", \"kalshi_maker\", \"free\" or "
        + "{\"polymarket_taker\": {\"rate_bps\": 0…10000, \"exponent\": 0…4}}"
    enum Outer: String, CodingKey, CaseIterable { case polymarketTaker = "polymarket_taker" }
    enum Inner: String, CodingKey, CaseIterable { case rateBps = "rate_bps", exponent }
    let model: FeeModel

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(JSONValue.self)
        switch value {
        case .string("kalshi_taker"): model = .kalshiTaker
        case .string("kalshi_maker"): model = .kalshiMaker
        case .string("free"): model = .free
        case .object(let members) where members.count == 1 && members[0].key == Outer.polymarketTaker.rawValue:
            let inner = try decoder.container(keyedBy: Outer.self).nestedContainer(keyedBy: Inner.self, forKey: .polymarketTaker)
            model = .polymarketTaker(
                rateBps: try inner.integer(.rateBps, in: ConfigLimits.bpsRange, unit: "basis points of the traded notional"),
                exponent: Int(try inner.integer(.exponent, in: 0...4, unit: "power of P(1−P)")))
        default:
            throw decoder.invalid(value, allowed: Self.expectedJSON)
        }
    }
}

extension PaperVenueConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"fill_model\" (and optionally \"state_file\")"
    enum CodingKeys: String, CodingKey, CaseIterable { case stateFile = "state_file", fillModel = "fill_model" }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        self.init(stateFile: try object.filePath(.stateFile, nullable: true),
                  fillModel: try object.decode(PaperFillModel.self, forKey: .fillModel))
    }
}

extension PaperFillModel: Decodable, JSONExpectation {
    static var expectedJSON: String { "an object with " + JSONTreeDecoder.knownKeys(CodingKeys.self)!.joined(separator: ", ") }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case fullFillPercent = "full_fill_percent", partialFillPercent = "partial_fill_percent", restPercent = "rest_percent"
        case rejectPercent = "reject_percent", ambiguousSubmitPercent = "ambiguous_submit_percent"
        case lateFillPercent = "late_fill_percent", cancelFailPercent = "cancel_fail_percent"
        case latencyMillisecondsMin = "latency_ms_min", latencyMillisecondsMax = "latency_ms_max"
        case lateFillDelayMillisecondsMax = "late_fill_delay_ms_max", seed
    }
    /// The five fates of an order at submit; their percentages add up to 100.
    static let outcomeKeys: [CodingKeys] = [.fullFillPercent, .partialFillPercent, .restPercent, .rejectPercent,
                                            .ambiguousSubmitPercent]

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        func percent(_ key: CodingKeys) throws -> Int {
            Int(try object.integer(key, in: ConfigLimits.percentRange, unit: "percent"))
        }
        func milliseconds(_ key: CodingKeys) throws -> Int64 {
            try object.integer(key, in: 0...ConfigLimits.millisecondsMax, unit: "ms")
        }
        self.init(fullFillPercent: try percent(.fullFillPercent), partialFillPercent: try percent(.partialFillPercent),
                  restPercent: try percent(.restPercent), rejectPercent: try percent(.rejectPercent),
                  ambiguousSubmitPercent: try percent(.ambiguousSubmitPercent),
                  lateFillPercent: try percent(.lateFillPercent), cancelFailPercent: try percent(.cancelFailPercent),
                  latencyMillisecondsMin: try milliseconds(.latencyMillisecondsMin),
                  latencyMillisecondsMax: try milliseconds(.latencyMillisecondsMax),
                  lateFillDelayMillisecondsMax: try milliseconds(.lateFillDelayMillisecondsMax),
                  seed: try object.optional(UInt64.self, .seed) ?? 0)
    }

    /// The outcome percentages in ``outcomeKeys`` order.
    var outcomePercents: [Int] { [fullFillPercent, partialFillPercent, restPercent, rejectPercent, ambiguousSubmitPercent] }
}

extension EventPair: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"event_id\", \"outcomes\", \"instruments\""
    enum CodingKeys: String, CodingKey, CaseIterable {
        case eventID = "event_id", outcomes, instruments, fees, markets
        case rulesCheckedBy = "rules_checked_by", rulesCheckedAt = "rules_checked_at"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let eventID = try object.identifier(.eventID, forbidden: "|", what: "an event id")

        // Outcomes: exactly two distinct non-empty strings (they appear in dedup keys, hence no '|' or ':').
        let outcomesValue = try object.raw(.outcomes)
        var outcomes: [String] = []
        if case .array(let elements)? = outcomesValue, elements.count == 2 {
            for case .string(let outcome) in elements where Self.isOutcomeName(outcome) && !outcomes.contains(outcome) {
                outcomes.append(outcome)
            }
        }
        guard outcomes.count == 2 else {
            throw object.invalid(.outcomes, outcomesValue, allowed: "exactly two distinct non-empty strings without "
                + "'|', ':', spaces at either end or control characters, e.g. [\"YES\", \"NO\"]")
        }
        let quotedOutcomes = outcomes.map(MessageText.quoted).joined(separator: ", ")

        // Instruments: venue → outcome → instrument id, for both outcomes (which venues: `validate()`).
        let instrumentsValue = try object.raw(.instruments)
        guard case .object(let venueMembers)? = instrumentsValue else {
            throw object.invalid(.instruments, instrumentsValue, allowed: "an object of two venues → {outcome → instrument id}")
        }
        let byVenue = try object.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .instruments)
        var instruments: [String: [String: String]] = [:]
        for venueMember in venueMembers {
            let venueKey = AnyCodingKey(stringValue: venueMember.key)
            guard case .object(let outcomeMembers) = venueMember.value else {
                throw byVenue.invalid(venueKey, venueMember.value,
                                      allowed: "an object of outcome → instrument id for \(quotedOutcomes)")
            }
            let byOutcome = try byVenue.nestedContainer(keyedBy: AnyCodingKey.self, forKey: venueKey)
            for member in outcomeMembers where !outcomes.contains(member.key) {
                throw byOutcome.failure(AnyCodingKey(stringValue: member.key),
                                        "is not an outcome of this event; allowed \(quotedOutcomes)")
            }
            var ids: [String: String] = [:]
            for outcome in outcomes {
                ids[outcome] = try byOutcome.identifier(AnyCodingKey(stringValue: outcome), forbidden: "",
                                                        what: "an instrument id")
            }
            instruments[venueMember.key] = ids
        }
        guard instruments.count == 2 else {
            let named = instruments.keys.sorted().joined(separator: ", ")
            throw object.failure(.instruments, "names \(instruments.count) venue\(instruments.count == 1 ? "" : "s")"
                + (named.isEmpty ? "" : " (\(named))") + "; allowed exactly two venues, each with both outcomes")
        }

        // Per-market fee overrides (that they name this event's venues: `validate()`).
        let fees = try object.optional([String: ConfigFee].self, .fees)?.mapValues(\.model) ?? [:]
        let markets = try object.optional([String: PolymarketMarket].self, .markets) ?? [:]
        func note(_ key: CodingKeys) throws -> String? {
            guard let value = try object.raw(key) else { return nil }
            guard case .string(let text) = value, !text.isEmpty, text.count <= 200,
                  !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw object.invalid(key, value, allowed: "a note of 1…200 characters without control characters, "
                    + "e.g. \"ana, both rulebooks\" or \"2026-12-01\"")
            }
            return text
        }
        self.init(eventID: eventID, outcomes: outcomes, instruments: instruments, fees: fees, markets: markets,
                  rulesCheckedBy: try note(.rulesCheckedBy), rulesCheckedAt: try note(.rulesCheckedAt))
    }

    private static func isOutcomeName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 64,
              let first = name.unicodeScalars.first, let last = name.unicodeScalars.last,
              !first.properties.isWhitespace, !last.properties.isWhitespace
        else { return false }
        return !name.unicodeScalars.contains { $0 == "|" || $0 == ":" || $0.value < 0x20 || $0.value == 0x7F }
    }
}

extension DetectionConfig: Decodable, JSONExpectation {
    static var expectedJSON: String { "an object with " + JSONTreeDecoder.knownKeys(CodingKeys.self)!.joined(separator: ", ") }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case minEdgeBps = "min_edge_bps", minSize = "min_size", maxSize = "max_size"
        case quoteStalenessMilliseconds = "quote_staleness_ms"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        self.init(minEdgeBps: try object.integer(.minEdgeBps, in: ConfigLimits.bpsRange, unit: "basis points of the $1 payout"),
                  minSize: try object.decode(ConfigDecimal<Quantity>.self, forKey: .minSize).value,
                  maxSize: try object.decode(ConfigDecimal<Quantity>.self, forKey: .maxSize).value,
                  quoteStalenessMilliseconds: try object.integer(.quoteStalenessMilliseconds,
                                                                 in: 1...ConfigLimits.millisecondsMax, unit: "ms"))
    }
}

extension ExecutionConfig: Decodable, JSONExpectation {
    static var expectedJSON: String { "an object with " + JSONTreeDecoder.knownKeys(CodingKeys.self)!.joined(separator: ", ") }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case timeInForce = "time_in_force", fillTimeoutMilliseconds = "fill_timeout_ms"
        case settleTimeoutMilliseconds = "settle_timeout_ms"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let settle = object.contains(.settleTimeoutMilliseconds)
            ? try object.integer(.settleTimeoutMilliseconds, in: 1...ConfigLimits.millisecondsMax, unit: "ms")
            : ExecutionConfig.defaultSettleTimeoutMilliseconds
        self.init(timeInForce: try object.required(.timeInForce, allowed: "\"ioc\", \"fok\" or \"gtc\""),
                  fillTimeoutMilliseconds: try object.integer(.fillTimeoutMilliseconds,
                                                              in: 1...ConfigLimits.millisecondsMax, unit: "ms"),
                  settleTimeoutMilliseconds: settle, settlePollMilliseconds: min(1_000, max(10, settle / 20)))
    }
}

extension RiskConfig: Decodable, JSONExpectation {
    static var expectedJSON: String { "an object with " + JSONTreeDecoder.knownKeys(CodingKeys.self)!.joined(separator: ", ") }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxExposurePerEvent = "max_exposure_per_event_usd", maxExposureTotal = "max_exposure_total_usd"
        case maxOneSidedClosesPerDay = "max_one_sided_per_day", cooldownMilliseconds = "cooldown_ms"
        case oneSidedCooldownMilliseconds = "one_sided_cooldown_ms"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        self.init(maxExposurePerEvent: try object.decode(ConfigDecimal<Money>.self, forKey: .maxExposurePerEvent).value,
                  maxExposureTotal: try object.decode(ConfigDecimal<Money>.self, forKey: .maxExposureTotal).value,
                  maxOneSidedClosesPerDay: Int(try object.integer(.maxOneSidedClosesPerDay, in: 1...ConfigLimits.oneSidedPerDayMax,
                                                                  unit: "one-sided closes per UTC day")),
                  cooldownMilliseconds: try object.integer(.cooldownMilliseconds, in: 0...ConfigLimits.millisecondsMax, unit: "ms"),
                  oneSidedCooldownMilliseconds: try object.integer(.oneSidedCooldownMilliseconds,
                                                                   in: 0...ConfigLimits.millisecondsMax, unit: "ms"))
    }
}

extension UnwindConfig: Decodable, JSONExpectation {
    static var expectedJSON: String { "an object with " + JSONTreeDecoder.knownKeys(CodingKeys.self)!.joined(separator: ", ") }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case policy, maxLossPerContract = "max_loss_per_contract", maxAttempts = "max_attempts", retryMilliseconds = "retry_ms"
        case maxUnwindsPerMarketPerDay = "max_unwinds_per_market_per_day"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = UnwindConfig(policy: .off)
        var loss = defaults.maxLossPerContract
        if object.contains(.maxLossPerContract) {
            loss = try object.decode(ConfigDecimal<Money>.self, forKey: .maxLossPerContract).value
            guard loss >= .zero, loss < Money(cents: 100) else {
                throw object.failure(.maxLossPerContract, "is \(loss); allowed 0 up to (not including) 1.00 dollar per contract")
            }
        }
        self.init(policy: try object.required(.policy, allowed: "\"off\", \"complete\", \"flatten\" or \"best\""),
                  maxLossPerContract: loss,
                  maxAttempts: object.contains(.maxAttempts)
                      ? Int(try object.integer(.maxAttempts, in: 1...20, unit: "orders")) : defaults.maxAttempts,
                  retryMilliseconds: object.contains(.retryMilliseconds)
                      ? try object.integer(.retryMilliseconds, in: 10...60_000, unit: "ms") : defaults.retryMilliseconds,
                  maxUnwindsPerMarketPerDay: object.contains(.maxUnwindsPerMarketPerDay)
                      ? Int(try object.integer(.maxUnwindsPerMarketPerDay, in: 1...1_000, unit: "unwinds per market per UTC day"))
                      : defaults.maxUnwindsPerMarketPerDay)
    }
}

extension AlertConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object"
    enum CodingKeys: String, CodingKey, CaseIterable {
        case console, file, webhookURL = "webhook_url", telegram, discord, slack, email, command
        case remindEveryMinutes = "remind_every_minutes"
        case sinkDownAlertMinutes = "sink_down_alert_minutes"
    }
    /// Default alert log, relative to the database's directory.
    static let defaultAlertFile = "data/alerts.log"
    /// No `alerts` section: console on, the default log file, no webhook.
    static let defaults = AlertConfig(console: true, filePath: defaultAlertFile, webhookURL: nil)

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let file = object.contains(.file) ? try object.filePath(.file, nullable: true) : Self.defaultAlertFile
        var webhook: String?
        if let value = try object.raw(.webhookURL), value != .null {
            webhook = try Self.webhookURL(value, object: object)
        }
        self.init(console: try object.optional(Bool.self, .console) ?? true, filePath: file, webhookURL: webhook,
                  telegram: try object.optional(TelegramSinkConfig.self, .telegram),
                  discord: try object.optional(ChatSinkConfig.self, .discord),
                  slack: try object.optional(ChatSinkConfig.self, .slack),
                  command: try object.optional(CommandSinkConfig.self, .command),
                  email: try object.optional(EmailSinkConfig.self, .email))
        if object.contains(.sinkDownAlertMinutes) {
            sinkDownAlertMinutes = try object.integer(.sinkDownAlertMinutes, in: 0...10_080, unit: "minutes; 0 turns the warning off")
        }
        if object.contains(.remindEveryMinutes) {
            remindEveryMinutes = try object.integer(.remindEveryMinutes, in: 0...10_080, unit: "minutes; 0 turns reminders off")
        }
    }

    /// `http://host…` or `https://host…`. The value may carry a token, so a refusal shows only its scheme.
    private static func webhookURL(_ value: JSONValue, object: KeyedDecodingContainer<CodingKeys>) throws -> String {
        let allowed = "an http:// or https:// URL with a host, or null"
        guard case .string(let text) = value else { throw object.invalid(.webhookURL, value, allowed: allowed) }
        let lower = text.lowercased()
        let rest = lower.hasPrefix("https://") ? text.dropFirst(8) : lower.hasPrefix("http://") ? text.dropFirst(7) : ""
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let clean = !text.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
        guard !host.isEmpty, clean, text.utf8.count <= JSONFieldLimits.textLengthMax else {
            let shown: String
            if let scheme = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false).first,
               scheme.count < text.count, scheme.count <= 16 {
                shown = MessageText.quoted(scheme + "://…")
            } else {
                shown = "a string without an http(s) scheme"
            }
            throw object.failure(.webhookURL, "is \(shown) (the rest is not shown: it may hold a token); allowed \(allowed)")
        }
        return text
    }
}

extension KeyedDecodingContainer {
    /// `min_severity`: `"info"`, `"warning"` or `"critical"` (default info: every alert).
    func minSeverity(_ key: Key) throws -> AlertSeverity {
        try choice(key, allowed: "\"info\", \"warning\" or \"critical\"") ?? .info
    }
}

extension TelegramSinkConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"chat_id\" (and optional \"api_url\", \"min_severity\")"
    enum CodingKeys: String, CodingKey, CaseIterable { case chatID = "chat_id", apiURL = "api_url", minSeverity = "min_severity" }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let chat = try object.raw(.chatID)
        let text: String? = switch chat {
        case .string(let value)?: value
        case .number(let value)?: value
        default: nil
        }
        guard let text, !text.isEmpty, text.count <= 64, text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "@" }) else {
            throw object.invalid(.chatID, chat, allowed: "the chat's id, e.g. \"-1001234567890\" or \"@channelname\"")
        }
        self.init(chatID: text, apiURL: try object.url(.apiURL, schemes: ["https", "http"]) ?? TelegramSinkConfig.defaultAPIURL,
                  minSeverity: try object.minSeverity(.minSeverity))
    }
}

extension ChatSinkConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object, e.g. {\"min_severity\": \"critical\"} (the webhook URL comes from the environment)"
    enum CodingKeys: String, CodingKey, CaseIterable { case minSeverity = "min_severity" }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        self.init(minSeverity: try object.minSeverity(.minSeverity))
    }
}

extension EmailSinkConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"smtp_host\", \"from\" and \"to\" (and optional \"smtp_port\", \"tls\", "
        + "\"username\", \"min_severity\", \"timeout_ms\", \"ca_file\")"
    enum CodingKeys: String, CodingKey, CaseIterable {
        case host = "smtp_host", port = "smtp_port", security = "tls", username, from, to, minSeverity = "min_severity"
        case timeoutMilliseconds = "timeout_ms", caFile = "ca_file"
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let hostValue = try object.raw(.host)
        guard case .string(let host)? = hostValue, !host.isEmpty, host.utf8.count <= 253,
              host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":") }) else {
            throw object.invalid(.host, hostValue, allowed: "the SMTP relay's host name or IP address, e.g. \"smtp.example.com\"")
        }
        let security: Security = try object.choice(.security, allowed: "\"starttls\", \"tls\" or \"none\"") ?? .starttls
        if security == .none && !Self.isLoopback(host) {
            throw object.failure(.security, "is \"none\" for \(MessageText.quoted(host)); allowed only for a loopback smtp_host "
                + "(127.0.0.1, ::1, localhost): use \"starttls\" or \"tls\" so the password and alerts are not sent in clear")
        }
        let port = object.contains(.port) ? Int(try object.integer(.port, in: 1...65_535, unit: "TCP port")) : security.defaultPort
        let username = try object.optional(String.self, .username)
        if let username, username.isEmpty || username.utf8.count > 256 || username.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw object.invalid(.username, .string(username), allowed: "the AUTH user name (1…256 characters, no control characters)")
        }
        let fromValue = try object.raw(.from)
        guard case .string(let from)? = fromValue, Self.isAddress(from) else {
            throw object.invalid(.from, fromValue, allowed: "one address, e.g. \"arb@example.com\"")
        }
        let toValue = try object.raw(.to)
        let toAllowed = "a non-empty list of at most 50 addresses, e.g. [\"me@example.com\"]"
        guard case .array(let items)? = toValue, !items.isEmpty, items.count <= 50 else { throw object.invalid(.to, toValue, allowed: toAllowed) }
        var to: [String] = []
        for item in items {
            guard case .string(let address) = item, Self.isAddress(address) else { throw object.invalid(.to, toValue, allowed: toAllowed) }
            to.append(address)
        }
        let timeout = object.contains(.timeoutMilliseconds)
            ? try object.integer(.timeoutMilliseconds, in: 100...600_000, unit: "ms for the whole delivery") : 30_000
        self.init(host: host, port: port, security: security, username: username, from: from, to: to,
                  minSeverity: try object.minSeverity(.minSeverity), timeoutMilliseconds: timeout,
                  caFile: try object.filePath(.caFile))
    }

    /// `local@domain` with nothing SMTP would misread (no spaces, angle brackets, control characters).
    static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && text.utf8.count <= 254
            && !text.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F || "<>(),;:\"[]\\".unicodeScalars.contains($0) }
    }
}

extension CommandSinkConfig: Decodable, JSONExpectation {
    static let expectedJSON = "an object with \"argv\" (and optional \"timeout_ms\", \"min_severity\")"
    enum CodingKeys: String, CodingKey, CaseIterable { case argv, timeoutMilliseconds = "timeout_ms", minSeverity = "min_severity" }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: CodingKeys.self)
        let value = try object.raw(.argv)
        let allowed = "a non-empty list of strings: the program's absolute path, then its arguments"
        guard case .array(let items)? = value, !items.isEmpty, items.count <= 64 else { throw object.invalid(.argv, value, allowed: allowed) }
        var argv: [String] = []
        for item in items {
            guard case .string(let text) = item, !text.isEmpty, text.utf8.count <= JSONFieldLimits.textLengthMax,
                  !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw object.invalid(.argv, value, allowed: allowed)
            }
            argv.append(text)
        }
        guard argv[0].hasPrefix("/") else { throw object.invalid(.argv, value, allowed: allowed) }
        let timeout = object.contains(.timeoutMilliseconds)
            ? try object.integer(.timeoutMilliseconds, in: 1...600_000, unit: "ms") : 5_000
        self.init(argv: argv, timeoutMilliseconds: timeout, minSeverity: try object.minSeverity(.minSeverity))
    }
}

// MARK: - Rules across fields

extension TraderConfig {
    /// Every rule that relates one field to another: sizes and latencies in order, a fill model's
    /// fates adding up to 100, events naming configured venues, no event id or instrument used
    /// twice, fee overrides only for an event's own venues.
    func validate() throws(JSONDecodingFailure) {
        func fail(_ path: String, _ detail: String) -> JSONDecodingFailure { JSONDecodingFailure(path: path, detail: detail) }
        if detection.minSize > detection.maxSize {
            throw fail("detection.min_size", "is \(detection.minSize.decimalText) (more than detection.max_size "
                + "\(detection.maxSize.decimalText)); allowed 0.01…max_size contracts")
        }
        for name in venues.keys.sorted() {
            guard let model = venues[name]!.paper?.fillModel else { continue }
            let path = JSONPath.member(JSONPath.member("venues", name), "paper") + ".fill_model"
            let sum = model.outcomePercents.reduce(0, +)
            guard sum == 100 else {
                let parts = zip(PaperFillModel.outcomeKeys, model.outcomePercents).map { "\($0.0.rawValue) \($0.1)" }
                throw fail(path, "has outcome percentages summing to \(sum) (\(parts.joined(separator: " + "))); "
                    + "allowed a sum of exactly 100")
            }
            guard model.latencyMillisecondsMin <= model.latencyMillisecondsMax else {
                throw fail(path + ".latency_ms_min", "is \(model.latencyMillisecondsMin) (more than latency_ms_max "
                    + "\(model.latencyMillisecondsMax)); allowed 0…latency_ms_max ms")
            }
        }
        var firstIndexOfEvent: [String: Int] = [:]
        var firstUseOfInstrument: [String: String] = [:]  // "venue\0instrument" → path
        let venueList = venues.keys.sorted().joined(separator: ", ")
        for (index, event) in events.enumerated() {
            let path = "events[\(index)]"
            if let first = firstIndexOfEvent[event.eventID] {
                throw fail(path + ".event_id", "is \(MessageText.quoted(event.eventID)); allowed an id not used by "
                    + "another event (events[\(first)] has it)")
            }
            firstIndexOfEvent[event.eventID] = index
            for venue in event.venueNames {
                let venuePath = JSONPath.member(path + ".instruments", venue)
                guard venues[venue] != nil else {
                    throw fail(venuePath, "names an unknown venue; allowed a venue configured under venues: \(venueList)")
                }
                for outcome in event.outcomes {
                    let instrument = event.instruments[venue]![outcome]!
                    let instrumentPath = JSONPath.member(venuePath, outcome)
                    if venues[venue]?.kind == .kalshi, KalshiInstrument(parsing: instrument) == nil {
                        throw fail(instrumentPath, "is \(MessageText.quoted(instrument)); allowed \(KalshiInstrument.expected), "
                            + "e.g. \"KXFED-25DEC-T4.25:yes\"")
                    }
                    let key = venue + "\u{0}" + instrument
                    if let first = firstUseOfInstrument[key] {
                        throw fail(instrumentPath, "is \(MessageText.quoted(instrument)); allowed an instrument of venue "
                            + "\(venue) used only once (\(first) already has it)")
                    }
                    firstUseOfInstrument[key] = instrumentPath
                }
            }
            for venue in event.fees.keys.sorted() where event.instruments[venue] == nil {
                throw fail(JSONPath.member(path + ".fees", venue),
                           "is not a venue of this event; allowed \(event.venueNames.joined(separator: ", "))")
            }
            let polymarketVenues = event.venueNames.filter { venues[$0]?.kind == .polymarket }
            for venue in event.markets.keys.sorted() where !polymarketVenues.contains(venue) {
                throw fail(JSONPath.member(path + ".markets", venue), "is not a Polymarket venue of this event; allowed "
                    + (polymarketVenues.isEmpty ? "no markets here" : polymarketVenues.joined(separator: ", ")))
            }
            for venue in polymarketVenues where event.markets[venue] == nil {
                throw fail(JSONPath.member(path + ".markets", venue), "is missing; allowed \(PolymarketMarket.expectedJSON) "
                    + "naming this event's market at \(venue)")
            }
        }
    }
}

// MARK: - Field helpers

/// Money and contracts as the config writes them: a JSON number or a decimal string (`250.00`,
/// `"12.5"`), taken from its exact text into fixed point — never through `Double`.
struct ConfigDecimal<Value: ConfigDecimalValue>: Decodable, JSONExpectation {
    static var expectedJSON: String { Value.configAllowed }
    let value: Value

    init(from decoder: any Decoder) throws {
        let json = try decoder.singleValueContainer().decode(JSONValue.self)
        let text: String? = switch json {
        case .number(let literal): literal
        case .string(let text): text
        default: nil
        }
        guard let text, let value = Value(configText: text) else { throw decoder.invalid(json, allowed: Self.expectedJSON) }
        self.value = value
    }
}

protocol ConfigDecimalValue {
    init?(configText: String)
    static var configAllowed: String { get }
}

extension Quantity: ConfigDecimalValue {
    init?(configText text: String) {
        guard let parsed = Quantity(parsing: text), !parsed.isZero, parsed <= ConfigLimits.contractsMax else { return nil }
        self = parsed
    }

    static var configAllowed: String {
        "0.01…\(ConfigLimits.contractsMax.decimalText) contracts with at most 2 decimals, "
            + "as a number or a decimal string like \"12.5\""
    }

    /// Contracts without needless zeros (`"25"`, `"0.5"`), as a user would have typed them.
    var decimalText: String {
        var text = description
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

extension Money: ConfigDecimalValue {
    init?(configText text: String) {
        guard let parsed = Money(parsingDollars: text), parsed > .zero, parsed <= ConfigLimits.dollarsMax else { return nil }
        self = parsed
    }

    static var configAllowed: String {
        "0.000001…\(ConfigLimits.dollarsMax.decimalString) dollars with at most 6 decimals, "
            + "as a number or a decimal string like \"250.00\""
    }
}

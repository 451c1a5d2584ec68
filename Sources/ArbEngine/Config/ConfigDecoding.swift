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
        let bytes = try ConfigFile.contents(path: path, limit: maxConfigFileBytes)
        let config = try decode(json: bytes, source: path)
        if let url = config.alerts.webhookURL, redactedURL(url) != url {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & 0o077 != 0 {
                throw ConfigError(
                    source: path, field: "alerts.webhook_url",
                    detail: "is \(ConfigText.quoted(redactedURL(url))), a secret in a file that group or others can read "
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
        guard json.contains(where: { !ConfigFile.isJSONWhitespace($0) }) else {
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
        return try ConfigDecoder(source: source).trader(root)
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
    static let identifierLengthMax = 128
    static let pathLengthMax = 4_096
}

// MARK: - Decoder

/// Walks the parsed JSON, checking every field and building the config.
struct ConfigDecoder {
    let source: String

    func fail(_ field: String, _ detail: String) -> ConfigError {
        ConfigError(source: source, field: field, detail: detail)
    }

    /// `is <value>; allowed <allowed>` (strings are shown quoted, containers by kind), or
    /// `is missing; allowed <allowed>`.
    func invalid(_ field: String, _ value: JSONValue?, allowed: String) -> ConfigError {
        guard let value else { return fail(field, "is missing; allowed \(allowed)") }
        return fail(field, "is \(ConfigText.render(value)); allowed \(allowed)")
    }

    // MARK: Top level

    func trader(_ root: JSONValue) throws(ConfigError) -> TraderConfig {
        guard case .object = root else {
            throw fail("", "holds \(root.kindName) at the top level; allowed a JSON object")
        }
        let object = try ConfigObject(
            root, path: "", decoder: self,
            keys: ["database", "durability", "events", "venues", "detection", "execution", "risk", "alerts"],
            expected: "an object")

        let databasePath = try object.value("database").map { value throws(ConfigError) in
            try path(value, at: "database")
        } ?? "arb.db"

        let durability: Durability
        if let value = object.value("durability") {
            let allowed = "\"full\" or \"normal\""
            guard case .string(let text) = value, let parsed = Durability(rawValue: text) else {
                throw invalid("durability", value, allowed: allowed)
            }
            durability = parsed
        } else {
            durability = .full
        }

        let venues = try self.venues(object.value("venues"))
        let events = try self.events(object.value("events"), venues: venues)
        let detection = try self.detection(object.value("detection"))
        let execution = try self.execution(object.value("execution"))
        let risk = try self.risk(object.value("risk"))
        let alerts = try self.alerts(object.value("alerts"))
        return TraderConfig(databasePath: databasePath, durability: durability, events: events, venues: venues,
                            detection: detection, execution: execution, risk: risk, alerts: alerts)
    }

    // MARK: Venues

    func venues(_ value: JSONValue?) throws(ConfigError) -> [String: VenueConfig] {
        let allowed = "an object of venue name → {\"kind\", \"fee\", \"paper\"}"
        guard let value, case .object(let members) = value else {
            throw invalid("venues", value, allowed: allowed)
        }
        try ConfigObject.checkDuplicates(members, path: "venues", decoder: self)
        guard (1...ConfigLimits.venuesMax).contains(members.count) else {
            throw fail("venues", "has \(members.count) venues; allowed 1…\(ConfigLimits.venuesMax)")
        }
        var venues: [String: VenueConfig] = [:]
        for member in members {
            guard isVenueName(member.key) else {
                throw fail("venues", "has venue name \(ConfigText.quoted(member.key)); allowed lowercase letters, "
                    + "digits, '_' and '-', starting with a letter, at most 32 characters")
            }
            venues[member.key] = try venue(member.value, at: ConfigPath.member("venues", member.key))
        }
        return venues
    }

    func venue(_ value: JSONValue, at path: String) throws(ConfigError) -> VenueConfig {
        let object = try ConfigObject(value, path: path, decoder: self, keys: ["kind", "fee", "paper"],
                                      expected: "an object with \"kind\", \"fee\" and \"paper\"")
        let kindPath = ConfigPath.member(path, "kind")
        let kindValue = object.value("kind")
        guard let kindValue, case .string(let kindText) = kindValue, let kind = VenueKind(rawValue: kindText) else {
            throw invalid(kindPath, kindValue, allowed: "\"paper\" (the only venue kind so far)")
        }
        let fee = try self.fee(object.value("fee"), at: ConfigPath.member(path, "fee"))
        switch kind {
        case .paper:
            let paper = try self.paper(object.value("paper"), at: ConfigPath.member(path, "paper"))
            return VenueConfig(kind: kind, fee: fee, paper: paper)
        }
    }

    static let feeAllowed = "\"kalshi_taker\", \"kalshi_maker\", \"free\" or "
        + "{\"polymarket_taker\": {\"rate_bps\": 0…10000, \"exponent\": 0…4}}"

    func fee(_ value: JSONValue?, at path: String) throws(ConfigError) -> FeeModel {
        guard let value else { throw invalid(path, nil, allowed: ConfigDecoder.feeAllowed) }
        switch value {
        case .string("kalshi_taker"): return .kalshiTaker
        case .string("kalshi_maker"): return .kalshiMaker
        case .string("free"): return .free
        case .object(let members) where members.count == 1 && members[0].key == "polymarket_taker":
            let innerPath = ConfigPath.member(path, "polymarket_taker")
            let inner = try ConfigObject(members[0].value, path: innerPath, decoder: self,
                                         keys: ["rate_bps", "exponent"],
                                         expected: "{\"rate_bps\": 0…10000, \"exponent\": 0…4}")
            let rate = try integer(inner.value("rate_bps"), at: ConfigPath.member(innerPath, "rate_bps"),
                                   in: ConfigLimits.bpsRange, unit: "basis points of the traded notional")
            let exponent = try integer(inner.value("exponent"), at: ConfigPath.member(innerPath, "exponent"),
                                       in: 0...4, unit: "power of P(1−P)")
            return .polymarketTaker(rateBps: rate, exponent: Int(exponent))
        default:
            throw invalid(path, value, allowed: ConfigDecoder.feeAllowed)
        }
    }

    func paper(_ value: JSONValue?, at path: String) throws(ConfigError) -> PaperVenueConfig {
        guard let value else {
            throw invalid(path, nil, allowed: "an object with \"fill_model\" (and optionally \"state_file\")")
        }
        let object = try ConfigObject(value, path: path, decoder: self, keys: ["state_file", "fill_model"],
                                      expected: "an object with \"fill_model\" (and optionally \"state_file\")")
        var stateFile: String?
        if let stateValue = object.value("state_file"), stateValue != .null {
            stateFile = try self.path(stateValue, at: ConfigPath.member(path, "state_file"))
        }
        let fillModel = try self.fillModel(object.value("fill_model"), at: ConfigPath.member(path, "fill_model"))
        return PaperVenueConfig(stateFile: stateFile, fillModel: fillModel)
    }

    func fillModel(_ value: JSONValue?, at path: String) throws(ConfigError) -> PaperFillModel {
        let outcomeKeys = ["full_fill_percent", "partial_fill_percent", "rest_percent", "reject_percent",
                           "ambiguous_submit_percent"]
        let keys = outcomeKeys + ["late_fill_percent", "cancel_fail_percent", "latency_ms_min", "latency_ms_max",
                                  "late_fill_delay_ms_max", "seed"]
        guard let value else { throw invalid(path, nil, allowed: "an object with \(keys.joined(separator: ", "))") }
        let object = try ConfigObject(value, path: path, decoder: self, keys: keys, expected: "an object")

        func percent(_ key: String) throws(ConfigError) -> Int {
            Int(try integer(object.value(key), at: ConfigPath.member(path, key), in: ConfigLimits.percentRange,
                            unit: "percent"))
        }
        func milliseconds(_ key: String) throws(ConfigError) -> Int64 {
            try integer(object.value(key), at: ConfigPath.member(path, key), in: 0...ConfigLimits.millisecondsMax,
                        unit: "ms")
        }

        let outcomes = try outcomeKeys.map { key throws(ConfigError) in try percent(key) }
        let sum = outcomes.reduce(0, +)
        guard sum == 100 else {
            let parts = zip(outcomeKeys, outcomes).map { "\($0.0) \($0.1)" }.joined(separator: " + ")
            throw fail(path, "has outcome percentages summing to \(sum) (\(parts)); allowed a sum of exactly 100")
        }
        let lateFill = try percent("late_fill_percent")
        let cancelFail = try percent("cancel_fail_percent")
        let latencyMin = try milliseconds("latency_ms_min")
        let latencyMax = try milliseconds("latency_ms_max")
        guard latencyMin <= latencyMax else {
            throw fail(ConfigPath.member(path, "latency_ms_min"),
                       "is \(latencyMin) (more than latency_ms_max \(latencyMax)); allowed 0…latency_ms_max ms")
        }
        let lateFillDelay = try milliseconds("late_fill_delay_ms_max")
        let seed = try object.value("seed").map { seedValue throws(ConfigError) in
            try unsigned(seedValue, at: ConfigPath.member(path, "seed"))
        } ?? 0
        return PaperFillModel(
            fullFillPercent: outcomes[0], partialFillPercent: outcomes[1], restPercent: outcomes[2],
            rejectPercent: outcomes[3], ambiguousSubmitPercent: outcomes[4], lateFillPercent: lateFill,
            cancelFailPercent: cancelFail, latencyMillisecondsMin: latencyMin, latencyMillisecondsMax: latencyMax,
            lateFillDelayMillisecondsMax: lateFillDelay, seed: seed)
    }

    // MARK: Events

    func events(_ value: JSONValue?, venues: [String: VenueConfig]) throws(ConfigError) -> [EventPair] {
        let allowed = "an array of 1…\(ConfigLimits.eventsMax) events"
        guard let value, case .array(let elements) = value else { throw invalid("events", value, allowed: allowed) }
        guard (1...ConfigLimits.eventsMax).contains(elements.count) else {
            throw fail("events", "has \(elements.count) events; allowed 1…\(ConfigLimits.eventsMax)")
        }
        var firstIndexOfEvent: [String: Int] = [:]
        var firstUseOfInstrument: [String: String] = [:]  // "venue\0instrument" → path
        var events: [EventPair] = []
        for (index, element) in elements.enumerated() {
            let path = "events[\(index)]"
            let event = try self.event(element, at: path, venues: venues)
            if let first = firstIndexOfEvent[event.eventID] {
                throw fail(ConfigPath.member(path, "event_id"),
                           "is \(ConfigText.quoted(event.eventID)); allowed an id not used by another event "
                               + "(events[\(first)] has it)")
            }
            firstIndexOfEvent[event.eventID] = index
            for venue in event.venueNames {
                for outcome in event.outcomes {
                    let instrument = event.instruments[venue]![outcome]!
                    let instrumentPath = ConfigPath.member(ConfigPath.member(ConfigPath.member(path, "instruments"), venue), outcome)
                    let key = venue + "\u{0}" + instrument
                    if let first = firstUseOfInstrument[key] {
                        throw fail(instrumentPath, "is \(ConfigText.quoted(instrument)); allowed an instrument of venue "
                            + "\(venue) used only once (\(first) already has it)")
                    }
                    firstUseOfInstrument[key] = instrumentPath
                }
            }
            events.append(event)
        }
        return events
    }

    func event(_ value: JSONValue, at path: String, venues: [String: VenueConfig]) throws(ConfigError) -> EventPair {
        let object = try ConfigObject(value, path: path, decoder: self,
                                      keys: ["event_id", "outcomes", "instruments", "fees"],
                                      expected: "an object with \"event_id\", \"outcomes\", \"instruments\"")
        let eventID = try identifier(object.value("event_id"), at: ConfigPath.member(path, "event_id"),
                                     forbidden: "|", what: "an event id")

        // Outcomes: exactly two distinct non-empty strings (they appear in dedup keys, hence no '|' or ':').
        let outcomesPath = ConfigPath.member(path, "outcomes")
        let outcomesAllowed = "exactly two distinct non-empty strings without '|', ':', spaces at either end "
            + "or control characters, e.g. [\"YES\", \"NO\"]"
        let outcomesValue = object.value("outcomes")
        guard let outcomesValue, case .array(let outcomeValues) = outcomesValue, outcomeValues.count == 2 else {
            throw invalid(outcomesPath, outcomesValue, allowed: outcomesAllowed)
        }
        var outcomes: [String] = []
        for outcomeValue in outcomeValues {
            guard case .string(let outcome) = outcomeValue, isOutcomeName(outcome), !outcomes.contains(outcome) else {
                throw invalid(outcomesPath, outcomesValue, allowed: outcomesAllowed)
            }
            outcomes.append(outcome)
        }
        let quotedOutcomes = outcomes.map(ConfigText.quoted).joined(separator: ", ")
        let venueList = venues.keys.sorted().joined(separator: ", ")

        // Instruments: exactly two configured venues, each naming an instrument for both outcomes.
        let instrumentsPath = ConfigPath.member(path, "instruments")
        let instrumentsValue = object.value("instruments")
        let instrumentsAllowed = "an object of two venues → {outcome → instrument id}"
        guard let instrumentsValue, case .object(let venueMembers) = instrumentsValue else {
            throw invalid(instrumentsPath, instrumentsValue, allowed: instrumentsAllowed)
        }
        try ConfigObject.checkDuplicates(venueMembers, path: instrumentsPath, decoder: self)
        var instruments: [String: [String: String]] = [:]
        for venueMember in venueMembers {
            let venuePath = ConfigPath.member(instrumentsPath, venueMember.key)
            guard venues[venueMember.key] != nil else {
                throw fail(venuePath, "names an unknown venue; allowed a venue configured under venues: \(venueList)")
            }
            let byOutcome = try ConfigObject(venueMember.value, path: venuePath, decoder: self, keys: outcomes,
                                             expected: "an object of outcome → instrument id for \(quotedOutcomes)",
                                             unknownKeyDetail: "is not an outcome of this event; allowed \(quotedOutcomes)")
            var ids: [String: String] = [:]
            for outcome in outcomes {
                ids[outcome] = try identifier(byOutcome.value(outcome), at: ConfigPath.member(venuePath, outcome),
                                              forbidden: "", what: "an instrument id")
            }
            instruments[venueMember.key] = ids
        }
        guard instruments.count == 2 else {
            let named = instruments.keys.sorted().joined(separator: ", ")
            throw fail(instrumentsPath, "names \(instruments.count) venue\(instruments.count == 1 ? "" : "s")"
                + (named.isEmpty ? "" : " (\(named))") + "; allowed exactly two venues, each with both outcomes")
        }

        // Per-market fee overrides, only for this event's venues.
        var fees: [String: FeeModel] = [:]
        if let feesValue = object.value("fees") {
            let feesPath = ConfigPath.member(path, "fees")
            let eventVenues = instruments.keys.sorted()
            let feesObject = try ConfigObject(
                feesValue, path: feesPath, decoder: self, keys: eventVenues,
                expected: "an object of venue → fee",
                unknownKeyDetail: "is not a venue of this event; allowed \(eventVenues.joined(separator: ", "))")
            for venue in eventVenues {
                if let feeValue = feesObject.value(venue) {
                    fees[venue] = try fee(feeValue, at: ConfigPath.member(feesPath, venue))
                }
            }
        }
        return EventPair(eventID: eventID, outcomes: outcomes, instruments: instruments, fees: fees)
    }

    // MARK: Detection, execution, risk, alerts

    func detection(_ value: JSONValue?) throws(ConfigError) -> DetectionConfig {
        let keys = ["min_edge_bps", "min_size", "max_size", "quote_staleness_ms"]
        guard let value else { throw invalid("detection", nil, allowed: "an object with \(keys.joined(separator: ", "))") }
        let object = try ConfigObject(value, path: "detection", decoder: self, keys: keys, expected: "an object")
        let minEdge = try integer(object.value("min_edge_bps"), at: "detection.min_edge_bps", in: ConfigLimits.bpsRange,
                                  unit: "basis points of the $1 payout")
        let minSize = try quantity(object.value("min_size"), at: "detection.min_size")
        let maxSize = try quantity(object.value("max_size"), at: "detection.max_size")
        guard minSize <= maxSize else {
            throw fail("detection.min_size", "is \(minSize.decimalText) (more than detection.max_size "
                + "\(maxSize.decimalText)); allowed 0.01…max_size contracts")
        }
        let staleness = try integer(object.value("quote_staleness_ms"), at: "detection.quote_staleness_ms",
                                    in: 1...ConfigLimits.millisecondsMax, unit: "ms")
        return DetectionConfig(minEdgeBps: minEdge, minSize: minSize, maxSize: maxSize,
                               quoteStalenessMilliseconds: staleness)
    }

    func execution(_ value: JSONValue?) throws(ConfigError) -> ExecutionConfig {
        let keys = ["time_in_force", "fill_timeout_ms"]
        guard let value else { throw invalid("execution", nil, allowed: "an object with \(keys.joined(separator: ", "))") }
        let object = try ConfigObject(value, path: "execution", decoder: self, keys: keys, expected: "an object")
        let tifValue = object.value("time_in_force")
        guard let tifValue, case .string(let tifText) = tifValue, let timeInForce = TimeInForce(rawValue: tifText) else {
            throw invalid("execution.time_in_force", tifValue, allowed: "\"ioc\", \"fok\" or \"gtc\"")
        }
        let timeout = try integer(object.value("fill_timeout_ms"), at: "execution.fill_timeout_ms",
                                  in: 1...ConfigLimits.millisecondsMax, unit: "ms")
        return ExecutionConfig(timeInForce: timeInForce, fillTimeoutMilliseconds: timeout)
    }

    func risk(_ value: JSONValue?) throws(ConfigError) -> RiskConfig {
        let keys = ["max_exposure_per_event_usd", "max_exposure_total_usd", "max_one_sided_per_day", "cooldown_ms",
                    "one_sided_cooldown_ms"]
        guard let value else { throw invalid("risk", nil, allowed: "an object with \(keys.joined(separator: ", "))") }
        let object = try ConfigObject(value, path: "risk", decoder: self, keys: keys, expected: "an object")
        let perEvent = try dollars(object.value("max_exposure_per_event_usd"), at: "risk.max_exposure_per_event_usd")
        let total = try dollars(object.value("max_exposure_total_usd"), at: "risk.max_exposure_total_usd")
        let oneSided = try integer(object.value("max_one_sided_per_day"), at: "risk.max_one_sided_per_day",
                                   in: 1...ConfigLimits.oneSidedPerDayMax, unit: "one-sided closes per UTC day")
        let cooldown = try integer(object.value("cooldown_ms"), at: "risk.cooldown_ms",
                                   in: 0...ConfigLimits.millisecondsMax, unit: "ms")
        let oneSidedCooldown = try integer(object.value("one_sided_cooldown_ms"), at: "risk.one_sided_cooldown_ms",
                                           in: 0...ConfigLimits.millisecondsMax, unit: "ms")
        return RiskConfig(maxExposurePerEvent: perEvent, maxExposureTotal: total,
                          maxOneSidedClosesPerDay: Int(oneSided), cooldownMilliseconds: cooldown,
                          oneSidedCooldownMilliseconds: oneSidedCooldown)
    }

    /// Default alert log, relative to the database's directory.
    static let defaultAlertFile = "data/alerts.log"

    func alerts(_ value: JSONValue?) throws(ConfigError) -> AlertConfig {
        guard let value else {
            return AlertConfig(console: true, filePath: ConfigDecoder.defaultAlertFile, webhookURL: nil)
        }
        let object = try ConfigObject(value, path: "alerts", decoder: self, keys: ["console", "file", "webhook_url"],
                                      expected: "an object")
        var console = true
        if let consoleValue = object.value("console") {
            guard case .bool(let flag) = consoleValue else {
                throw invalid("alerts.console", consoleValue, allowed: "true or false")
            }
            console = flag
        }
        var file: String? = ConfigDecoder.defaultAlertFile
        if let fileValue = object.value("file") {
            file = fileValue == .null ? nil : try path(fileValue, at: "alerts.file", nullable: true)
        }
        var webhook: String?
        if let webhookValue = object.value("webhook_url"), webhookValue != .null {
            webhook = try webhookURL(webhookValue, at: "alerts.webhook_url")
        }
        return AlertConfig(console: console, filePath: file, webhookURL: webhook)
    }

    // MARK: - Scalars

    /// A JSON integer literal (no fraction, no exponent) within `range`.
    func integer(_ value: JSONValue?, at path: String, in range: ClosedRange<Int64>, unit: String) throws(ConfigError) -> Int64 {
        let allowed = "\(range.lowerBound)…\(range.upperBound) (\(unit))"
        guard let value, case .number(let literal) = value else {
            throw invalid(path, value, allowed: "an integer " + allowed)
        }
        let isIntegerLiteral = !literal.contains { $0 == "." || $0 == "e" || $0 == "E" }
        guard isIntegerLiteral else { throw invalid(path, value, allowed: "an integer " + allowed) }
        guard let parsed = ConfigNumber.int64(literal), range.contains(parsed) else {
            throw invalid(path, value, allowed: allowed)
        }
        return parsed
    }

    /// A JSON integer literal 0…UInt64.max.
    func unsigned(_ value: JSONValue, at path: String) throws(ConfigError) -> UInt64 {
        guard case .number(let literal) = value, let parsed = ConfigNumber.uint64(literal) else {
            throw invalid(path, value, allowed: "an integer 0…\(UInt64.max)")
        }
        return parsed
    }

    /// A number of contracts > 0 with at most 2 decimals: a JSON number or a decimal string, parsed
    /// exactly from its text by `Quantity(parsing:)`.
    func quantity(_ value: JSONValue?, at path: String) throws(ConfigError) -> Quantity {
        let allowed = "0.01…\(ConfigLimits.contractsMax.decimalText) contracts with at most 2 decimals, "
            + "as a number or a decimal string like \"12.5\""
        guard let text = decimalText(value), let parsed = Quantity(parsing: text), !parsed.isZero,
              parsed <= ConfigLimits.contractsMax
        else { throw invalid(path, value, allowed: allowed) }
        return parsed
    }

    /// Dollars > 0 with at most 6 decimals: a JSON number or a decimal string, parsed exactly.
    func dollars(_ value: JSONValue?, at path: String) throws(ConfigError) -> Money {
        let allowed = "0.000001…\(ConfigLimits.dollarsMax.decimalString) dollars with at most 6 decimals, "
            + "as a number or a decimal string like \"250.00\""
        guard let text = decimalText(value), let parsed = Money(parsingDollars: text), parsed > .zero,
              parsed <= ConfigLimits.dollarsMax
        else { throw invalid(path, value, allowed: allowed) }
        return parsed
    }

    /// The text of a number literal or a string; `nil` for other kinds.
    private func decimalText(_ value: JSONValue?) -> String? {
        switch value {
        case .number(let literal)?: literal
        case .string(let text)?: text
        default: nil
        }
    }

    /// A non-empty file path without control characters.
    func path(_ value: JSONValue, at path: String, nullable: Bool = false) throws(ConfigError) -> String {
        let allowed = "a non-empty file path (at most \(ConfigLimits.pathLengthMax) bytes, no control characters)"
            + (nullable ? " or null" : "")
        guard case .string(let text) = value, !text.isEmpty, text.utf8.count <= ConfigLimits.pathLengthMax,
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { throw invalid(path, value, allowed: allowed) }
        return text
    }

    /// An id (event, instrument): 1…128 characters, no whitespace or control characters, none of
    /// `forbidden`.
    func identifier(_ value: JSONValue?, at path: String, forbidden: String, what: String) throws(ConfigError) -> String {
        let allowed = "\(what): 1…\(ConfigLimits.identifierLengthMax) characters without spaces or control characters"
            + (forbidden.isEmpty ? "" : " or '\(forbidden)'")
        guard let value, case .string(let text) = value, !text.isEmpty,
              text.count <= ConfigLimits.identifierLengthMax,
              !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F
                  || forbidden.unicodeScalars.contains($0) })
        else { throw invalid(path, value, allowed: allowed) }
        return text
    }

    /// `http://host…` or `https://host…`. The value may carry a token, so a refusal shows only its scheme.
    func webhookURL(_ value: JSONValue, at path: String) throws(ConfigError) -> String {
        let allowed = "an http:// or https:// URL with a host, or null"
        guard case .string(let text) = value else { throw invalid(path, value, allowed: allowed) }
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else {
            rest = ""
        }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let clean = !text.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
        guard !host.isEmpty, clean, text.utf8.count <= ConfigLimits.pathLengthMax else {
            let shown: String
            if let scheme = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false).first,
               scheme.count < text.count, scheme.count <= 16 {
                shown = ConfigText.quoted(scheme + "://…")
            } else {
                shown = "a string without an http(s) scheme"
            }
            throw fail(path, "is \(shown) (the rest is not shown: it may hold a token); allowed \(allowed)")
        }
        return text
    }

    private func isVenueName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...32).contains(bytes.count), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    private func isOutcomeName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 64,
              let first = name.unicodeScalars.first, let last = name.unicodeScalars.last,
              !first.properties.isWhitespace, !last.properties.isWhitespace
        else { return false }
        return !name.unicodeScalars.contains { $0 == "|" || $0 == ":" || $0.value < 0x20 || $0.value == 0x7F }
    }
}

// MARK: - Objects

/// An object whose keys were checked: no duplicates, none outside `keys`.
struct ConfigObject {
    let path: String
    let members: [JSONMember]

    init(_ value: JSONValue, path: String, decoder: ConfigDecoder, keys: [String], expected: String,
         unknownKeyDetail: String? = nil) throws(ConfigError) {
        guard case .object(let members) = value else {
            throw decoder.invalid(path, value, allowed: expected)
        }
        try ConfigObject.checkDuplicates(members, path: path, decoder: decoder)
        for member in members where !keys.contains(member.key) {
            let detail = unknownKeyDetail ?? "is not a known key; allowed keys: \(keys.joined(separator: ", "))"
            throw decoder.fail(ConfigPath.member(path, member.key), detail)
        }
        self.path = path
        self.members = members
    }

    static func checkDuplicates(_ members: [JSONMember], path: String, decoder: ConfigDecoder) throws(ConfigError) {
        var seen: Set<String> = []
        for member in members where !seen.insert(member.key).inserted {
            throw decoder.fail(ConfigPath.member(path, member.key), "appears twice; allowed once per object")
        }
    }

    func value(_ key: String) -> JSONValue? {
        members.first { $0.key == key }?.value
    }
}

// MARK: - Paths and numbers

enum ConfigPath {
    /// `parent.key`, or `parent["odd key"]` when the key is not a plain word.
    static func member(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
        if plain { return parent.isEmpty ? key : parent + "." + key }
        return parent + "[" + ConfigText.quoted(key) + "]"
    }
}

enum ConfigNumber {
    /// A JSON integer literal (`-?digits`) as `Int64`, or `nil` for fractions, exponents and overflow.
    static func int64(_ literal: String) -> Int64? {
        var bytes = literal.utf8[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        guard !bytes.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit)
                                             : shifted.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { return nil }
            value = next
        }
        return value
    }

    /// A JSON integer literal without sign as `UInt64`, or `nil`.
    static func uint64(_ literal: String) -> UInt64? {
        guard !literal.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in literal.utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1 && !overflow2 else { return nil }
            value = next
        }
        return value
    }
}

extension Quantity {
    /// Contracts without needless zeros (`"25"`, `"0.5"`), as a user would have typed them.
    var decimalText: String {
        var text = description
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

// MARK: - File

enum ConfigFile {
    static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// Reads a whole (small) file, refusing a missing, unreadable, non-regular or oversized one.
    static func contents(path: String, limit: Int) throws(ConfigError) -> [UInt8] {
        func failure(_ detail: String) -> ConfigError { ConfigError(source: path, field: "", detail: detail) }
        guard !path.isEmpty else { throw failure("is an empty path; allowed a path to a JSON config file") }
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it is
        // refused below as not a regular file. (Reads of a regular file ignore the flag.)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if descriptor < 0 {
            let code = errno
            switch code {
            case ENOENT: throw failure("does not exist; allowed a path to a JSON config file")
            case EACCES: throw failure("cannot be read (permission denied); allowed a readable JSON config file")
            default: throw failure("cannot be opened (\(errorText(code))); allowed a readable JSON config file")
            }
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw failure("cannot be examined (\(errorText(errno))); allowed a readable JSON config file")
        }
        guard (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) else {
            let kind = (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) ? "a directory" : "not a regular file"
            throw failure("is \(kind); allowed a JSON config file")
        }
        guard status.st_size <= limit else {
            throw failure("is \(status.st_size) bytes; allowed at most \(limit) bytes")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in read(descriptor, buffer.baseAddress, buffer.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot be read (\(errorText(errno))); allowed a readable JSON config file")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else {
                throw failure("is more than \(limit) bytes; allowed at most \(limit) bytes")
            }
        }
        guard !bytes.isEmpty else {
            throw failure("is empty; allowed a JSON object (see TraderConfig.demoJSON)")
        }
        return bytes
    }

    static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
